package e2e

import (
	"encoding/json"
	"fmt"
	"math"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/erviz/otelcol-erviz/internal/report"
	"github.com/erviz/otelcol-erviz/internal/testutil"
)

// TestOneCaptureTwoSources: one capture seen by two kinds of source at once. softflowd
// exports the demo traffic (100 times as many packets) as the two edge routers, sampling 1 in
// 10 packets; the VNet flow logs of the GatewaySubnet and the spokes and the NSG flow logs of
// spoke 2 are made from the same packets (demo/gen/traffic.py), unsampled. The counted
// records per direction equal the capture's truth within sampling error; the per-observation
// view shows each source's own total: each flow log's exactly, the edge's as sampled.
func TestOneCaptureTwoSources(t *testing.T) {
	demoSide := func(a string) string {
		ip := netip.MustParseAddr(a)
		for _, p := range []string{"10.0.0.0/16", "10.1.0.0/16", "10.2.0.0/16"} {
			if netip.MustParsePrefix(p).Contains(ip) {
				return "azure"
			}
		}
		if netip.MustParsePrefix("192.168.0.0/16").Contains(ip) {
			return "onprem"
		}
		return "other"
	}
	collectorBin(t)
	softflowd := testutil.NeedBinary(t, "softflowd")
	softflowctl := testutil.NeedBinary(t, "softflowctl")
	python := testutil.NeedBinary(t, "python3")
	root := repoRoot(t)
	dir := t.TempDir()
	tmp := t.TempDir()
	const repeat, rate = 100, 10
	gen := exec.Command(python, filepath.Join(root, "demo", "gen", "traffic.py"), fmt.Sprint(repeat))
	gen.Dir = tmp
	if out, err := gen.CombinedOutput(); err != nil {
		t.Fatalf("traffic.py: %v\n%s", err, out)
	}
	raw, err := os.ReadFile(filepath.Join(tmp, "truth.json"))
	if err != nil {
		t.Fatal(err)
	}
	var truth demoTruth
	var flows struct {
		Conversations []struct {
			Client, Server string
			ForwardBytes   float64 `json:"forward_bytes"`
			ForwardPackets float64 `json:"forward_packets"`
			ReverseBytes   float64 `json:"reverse_bytes"`
			ReversePackets float64 `json:"reverse_packets"`
		}
	}
	if err := json.Unmarshal(raw, &truth); err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(raw, &flows); err != nil {
		t.Fatal(err)
	}
	if err := os.MkdirAll(filepath.Join(dir, "flowlogs"), 0o755); err != nil {
		t.Fatal(err)
	}

	p := newPorts(t)
	c := startCollector(t, "two-sources", dir, p, []string{"DEMO_DIR=" + dir},
		"--config="+filepath.Join(root, "config", "demo.yaml"),
		fmt.Sprintf("--config=yaml:extensions::health_check::endpoint: 127.0.0.1:%d", p.Health),
		fmt.Sprintf("--config=yaml:service::telemetry::metrics::readers: [{pull: {exporter: {prometheus: {host: 127.0.0.1, port: %d}}}}]", p.Telemetry),
		fmt.Sprintf("--config=yaml:exporters::prometheus::endpoint: 127.0.0.1:%d", p.Prometheus),
		fmt.Sprintf("--config=yaml:receivers::ipfix::endpoint: 127.0.0.1:%d", p.IPFIX),
		// The demo's MRT log: its routes place each side (direction.from_routes, no prefix list).
		"--config=yaml:receivers::bgp::mrt::include: ["+filepath.Join(root, "demo", "data", "*.mrt")+"]",
		// The demo's configuration says its edge routers export every packet; these sample.
		fmt.Sprintf("--config=yaml:processors::sampling::rescale::rates: [{exporters: [127.0.0.11/32, 127.0.0.12/32], rate: %d}]", rate),
	)
	logs := filepath.Join(dir, "out", "logs.json")
	current := func() report.Report {
		b := report.NewBuilder(100)
		if f, err := os.Open(logs); err == nil {
			_ = b.ReadJSONLines(f)
			f.Close()
		}
		return b.Report()
	}
	var now report.Report
	diag := func() string { return fmt.Sprintf("%+v\n%s", now.DirectionTotals, c.out) }

	// The edge routers export first (IPFIX is real time) ...
	for i, edge := range []string{"primary", "secondary"} {
		relay := udpRelay(t, fmt.Sprintf("127.0.0.1%d", i+1), p.IPFIX)
		runSoftflowd(t, softflowd, softflowctl, filepath.Join(tmp, edge+".pcap"), relay, tmp, "-s", fmt.Sprint(rate))
	}
	eventually(t, 60*time.Second, "the edge routers' 12 flow records", func() bool { now = current(); return now.FlowRecords == 12 }, diag)
	// ... the flow logs of the same packets land minutes later.
	flowLogs := filepath.Join(tmp, "flowlogs")
	_, tuples := flowLogTruth(t, flowLogs)
	if err := exec.Command("cp", "-r", flowLogs+"/.", filepath.Join(dir, "flowlogs")).Run(); err != nil {
		t.Fatal(err)
	}
	eventually(t, 60*time.Second, "every flow-log tuple", func() bool { now = current(); return now.FlowRecords == 12+tuples }, diag)
	if err := c.stop(); err != nil {
		t.Fatalf("collector stop: %v\n%s", err, c.out)
	}
	now = current()

	// Counted, per direction: the capture's truth within sampling error. Sampling 1 in N
	// packets of a flow direction of n packets of s bytes picks about n/N of them; counting
	// each pick as N packets errs with a standard deviation of N*s*sqrt(n*p*(1-p)), p = 1/N
	// (the generator orders each conversation's packets at random, so every Nth packet is a
	// random pick). The tolerance is 4 standard deviations of the direction's sum.
	variance := map[string]float64{}
	dirOf := func(src, dst string) string {
		switch s, d := demoSide(src), demoSide(dst); {
		case s == "onprem" && d == "azure":
			return "to_azure"
		case s == "azure" && d == "onprem":
			return "from_azure"
		case s == "azure" && d == "azure":
			return "azure_internal"
		}
		return "unknown"
	}
	pr := 1.0 / rate
	for _, cv := range flows.Conversations {
		for _, f := range []struct {
			n, b     float64
			src, dst string
		}{{cv.ForwardPackets, cv.ForwardBytes, cv.Client, cv.Server}, {cv.ReversePackets, cv.ReverseBytes, cv.Server, cv.Client}} {
			if f.n > 0 {
				size := f.b / f.n
				variance[dirOf(f.src, f.dst)] += rate * rate * size * size * f.n * pr * (1 - pr)
			}
		}
	}
	for _, k := range []string{"to_azure", "from_azure", "azure_internal", "unknown"} {
		want, got := float64(truth.Directions[k]), float64(now.DirectionTotals[k])
		tol := 4 * math.Sqrt(variance[k])
		if tol == 0 || math.Abs(got-want) > tol {
			t.Errorf("counted %s = %.0f bytes, the capture carried %.0f: off by %.0f, tolerance (4 sigma) %.0f", k, got, want, got-want, tol)
		} else {
			t.Logf("counted %s = %.0f bytes, the capture carried %.0f: off by %+.0f (%.2f sigma)", k, got, want, got-want, (got-want)/math.Sqrt(variance[k]))
		}
	}
	if now.DirectionTotals["onprem_internal"] != 0 {
		t.Errorf("onprem_internal = %d", now.DirectionTotals["onprem_internal"])
	}

	// Per observation point: each source's own total.
	perResource := flowLogBytesPerResource(t, flowLogs)
	var edgeSeen, edgeCounted int64
	for _, o := range now.Observations {
		switch {
		case o.Kind == "edge":
			edgeSeen += o.Bytes
			edgeCounted += o.CountedBytes
		case strings.HasPrefix(o.Point, "/subscriptions/"):
			found := false
			for id, b := range perResource {
				if strings.ToLower(id) == o.Point {
					found = true
					if o.Bytes != b {
						t.Errorf("%s saw %d bytes, its flow logs hold %d", o.Point, o.Bytes, b)
					}
				}
			}
			if !found || o.CountedBytes != 0 {
				t.Errorf("observation point %+v (flow logs: %v)", o, perResource)
			}
		default:
			t.Errorf("unexpected observation point %+v", o)
		}
	}
	var total int64
	for _, v := range truth.Directions {
		total += v
	}
	var all float64
	for _, v := range variance {
		all += v
	}
	if edgeCounted != edgeSeen || math.Abs(float64(edgeSeen-total)) > 4*math.Sqrt(all) {
		t.Errorf("edge observation points saw %d bytes (%d counted), the capture carried %d", edgeSeen, edgeCounted, total)
	}
	if gw := perResource["/subscriptions/6f1c2a4e-8b3d-4c7a-9e21-5d0b7a3c9f10/resourceGroups/rg-network/providers/Microsoft.Network/virtualNetworks/vnet-hub/subnets/GatewaySubnet"]; gw == 0 {
		t.Errorf("no GatewaySubnet flow log among %v", perResource)
	}
}
