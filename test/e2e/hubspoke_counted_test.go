package e2e

import (
	"fmt"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/erviz/otelcol-erviz/internal/report"
)

// TestHubSpokeSampleCountedOnce: the hub-and-spoke sample flow logs, where every conversation
// is seen whole at each observation point it crosses (checked here from the blobs): the
// report counts each conversation once. The example: 10.1.0.4 -> 10.2.0.4:1433
// carried 5,093,794 bytes and was seen at the GatewaySubnet (hairpinned), vnet-spoke1,
// vnet-spoke2 and NSG-SPOKE2-DB; summing every observation made it 19.4 MiB.
func TestHubSpokeSampleCountedOnce(t *testing.T) {
	collectorBin(t)
	root := repoRoot(t)
	sample := filepath.Join(root, "receiver", "flowlogreceiver", "testdata", "hubspoke")
	_, tuples := flowLogTruth(t, sample)
	dir := t.TempDir()
	p := newPorts(t)
	c := startCollector(t, "hubspoke", dir, p, []string{"DEMO_DIR=" + dir},
		"--config="+filepath.Join(root, "config", "demo.yaml"),
		fmt.Sprintf("--config=yaml:extensions::health_check::endpoint: 127.0.0.1:%d", p.Health),
		fmt.Sprintf("--config=yaml:service::telemetry::metrics::readers: [{pull: {exporter: {prometheus: {host: 127.0.0.1, port: %d}}}}]", p.Telemetry),
		fmt.Sprintf("--config=yaml:exporters::prometheus::endpoint: 127.0.0.1:%d", p.Prometheus),
		fmt.Sprintf("--config=yaml:receivers::ipfix::endpoint: 127.0.0.1:%d", p.IPFIX),
		"--config=yaml:receivers::bgp::mrt::include: []",
		"--config=yaml:receivers::flowlog::directory: "+sample,
	)
	logs := filepath.Join(dir, "out", "logs.json")
	var r report.Report
	eventually(t, 60*time.Second, "every tuple of the sample", func() bool {
		b := report.NewBuilder(100)
		if f, err := os.Open(logs); err == nil {
			_ = b.ReadJSONLines(f)
			f.Close()
		}
		r = b.Report()
		return r.FlowRecords == tuples
	}, c.out.String)

	want := map[string]int64{
		"10.1.0.4 > 10.2.0.4:1433":     5_093_794,  // seen at four points
		"192.168.10.25 > 10.1.0.4:443": 10_844_542, // the top talker, seen at two
		"192.168.10.31 > 10.1.0.4:443": 8_958_242,
		"10.2.0.4 > 192.168.0.53:53":   5_280,
	}
	for _, tk := range r.TopTalkers {
		k := fmt.Sprintf("%s > %s:%d", tk.Client, tk.Server, tk.ServerPort)
		if w, ok := want[k]; ok {
			if tk.Bytes != w {
				t.Errorf("%s: %d bytes counted, it carried %d", k, tk.Bytes, w)
			}
			delete(want, k)
		}
	}
	for k := range want {
		t.Errorf("no talker %s in %+v", k, r.TopTalkers)
	}
	// Each point still shows what it saw.
	kinds := map[string]int{}
	for _, o := range r.Observations {
		kinds[o.Kind]++
	}
	if kinds["gateway_subnet"] != 1 || kinds["vnet"] != 2 || kinds["nsg"] != 1 {
		t.Errorf("observation points: %+v", r.Observations)
	}
}
