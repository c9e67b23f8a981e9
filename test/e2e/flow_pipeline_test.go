package e2e

import (
	"bufio"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/plog"

	"github.com/erviz/otelcol-erviz/internal/schema"
)

// articleLogs: an edge router's sampled IPFIX records of one HTTPS conversation (both halves)
// and a GatewaySubnet VNet flow-log tuple, shaped as docs/schema.md says.
func articleLogs() plog.Logs {
	ld := plog.NewLogs()
	edge := ld.ResourceLogs().AppendEmpty()
	edge.Resource().Attributes().PutStr(schema.FlowExporterAddress, "192.0.2.1")
	recs := edge.ScopeLogs().AppendEmpty().LogRecords()
	add := func(lrs plog.LogRecordSlice, typ, src string, sport int64, dst string, dport int64, bytes, pkts int64, extra func(a pcommon.Map)) {
		lr := lrs.AppendEmpty()
		lr.SetTimestamp(pcommon.NewTimestampFromTime(time.Now()))
		a := lr.Attributes()
		a.PutStr(schema.FlowType, typ)
		a.PutStr(schema.SourceAddress, src)
		a.PutInt(schema.SourcePort, sport)
		a.PutStr(schema.DestinationAddress, dst)
		a.PutInt(schema.DestinationPort, dport)
		a.PutStr(schema.NetworkTransport, "tcp")
		a.PutStr(schema.NetworkType, "ipv4")
		a.PutInt(schema.FlowIOBytes, bytes)
		a.PutInt(schema.FlowIOPackets, pkts)
		a.PutStr("e2e.marker", "article")
		if extra != nil {
			extra(a)
		}
	}
	add(recs, schema.FlowTypeIPFIX, "192.168.1.10", 51000, "10.1.0.4", 443, 1500, 2, func(a pcommon.Map) {
		a.PutStr(schema.FlowNextHop, "172.16.100.2")
		a.PutInt(schema.FlowDstAS, 65515)
	})
	add(recs, schema.FlowTypeIPFIX, "10.1.0.4", 443, "192.168.1.10", 51000, 3000, 3, func(a pcommon.Map) {
		a.PutStr(schema.FlowNextHop, "172.16.100.2")
	})
	gw := ld.ResourceLogs().AppendEmpty()
	gw.Resource().Attributes().PutStr(schema.CloudProvider, "azure")
	gw.Resource().Attributes().PutStr(schema.CloudResourceID, "/subscriptions/s/resourceGroups/hub/providers/Microsoft.Network/virtualNetworks/hub/subnets/GatewaySubnet")
	add(gw.ScopeLogs().AppendEmpty().LogRecords(), schema.FlowTypeVNetFlowLog, "192.168.1.10", 52001, "10.1.0.4", 22, 5000, 20, func(a pcommon.Map) {
		a.PutInt(schema.FlowReverseIOBytes, 80000)
		a.PutInt(schema.FlowReverseIOPackets, 70)
		a.PutInt(schema.FlowSamplingRate, 1)
	})
	return ld
}

// promSum adds up every series of a metric in a Prometheus text exposition.
func promSum(body, name string) (float64, bool) {
	var total float64
	found := false
	sc := bufio.NewScanner(strings.NewReader(body))
	for sc.Scan() {
		line := sc.Text()
		if !strings.HasPrefix(line, name+"{") && !strings.HasPrefix(line, name+" ") {
			continue
		}
		f := strings.Fields(line)
		v, err := strconv.ParseFloat(f[len(f)-1], 64)
		if err == nil {
			total += v
			found = true
		}
	}
	return total, found
}

// TestFlowPipeline runs the sampling processor and the flowmetrics connector in the real
// collector on config/local.yaml (with the article's network merged in): OTLP in from this
// process, the file exporter and Prometheus out.
func TestFlowPipeline(t *testing.T) {
	root := repoRoot(t)
	dir := t.TempDir()
	p := newPorts(t)
	args := append([]string{
		"--config=" + filepath.Join(root, "config", "local.yaml"),
		"--config=" + filepath.Join(root, "test", "e2e", "testdata", "article-overlay.yaml"),
	}, p.overrides(true)...)
	c := startCollector(t, "flow-pipeline", dir, p, nil, args...)

	body, err := (&plog.JSONMarshaler{}).MarshalLogs(articleLogs())
	if err != nil {
		t.Fatal(err)
	}
	postOTLP(t, p.HTTP, "logs", body)

	// The tagged records in the file output.
	var out []map[string]any
	eventually(t, 30*time.Second, "3 tagged records in data/out/logs.json", func() bool {
		out = readLogRecords(t, filepath.Join(dir, "data", "out", "logs.json"), "article")
		return len(out) == 3
	}, c.out.String)
	byPort := map[int64]map[string]any{}
	for _, r := range out {
		byPort[r[schema.SourcePort].(int64)] = r
	}
	r1, r2, r7 := byPort[51000], byPort[443], byPort[52001]
	checks := []struct {
		rec  map[string]any
		key  string
		want any
	}{
		{r1, schema.FlowIOBytes, int64(1500 * 4096)},
		{r1, schema.FlowIOBytesSampled, int64(1500)},
		{r1, schema.FlowDirection, "to_azure"},
		{r1, schema.FlowServerPort, int64(443)},
		{r1, schema.FlowService, "https"},
		{r1, schema.FlowLink, "primary"},
		{r1, schema.FlowClass, "data"},
		{r2, schema.FlowDirection, "from_azure"},
		{r2, schema.FlowServerAddress, "10.1.0.4"},
		{r2, schema.FlowClientAddress, "192.168.1.10"},
		{r2, schema.FlowFromAzureIOBytes, int64(3000 * 4096)},
		{r7, schema.FlowToAzureIOBytes, int64(5000)},
		{r7, schema.FlowFromAzureIOBytes, int64(80000)},
		{r7, schema.FlowService, "ssh"},
		// Accounting: the edge exporter counts edge traffic; the GatewaySubnet's record,
		// taken while the edge exported, is a second observation.
		{r1, schema.FlowCounted, true},
		{r2, schema.FlowCounted, true},
		{r7, schema.FlowCounted, false},
		{r1, schema.FlowObservationKind, "edge"},
		{r1, schema.FlowObservationPoint, "192.0.2.1"},
		{r7, schema.FlowObservationKind, "gateway_subnet"},
		{r7, schema.FlowObservationPoint, "/subscriptions/s/resourcegroups/hub/providers/microsoft.network/virtualnetworks/hub/subnets/gatewaysubnet"},
	}
	for _, ck := range checks {
		if ck.rec == nil {
			t.Fatalf("record missing from output: %v", out)
		}
		if got := ck.rec[ck.key]; got != ck.want {
			t.Errorf("%s = %#v, want %#v (record %v)", ck.key, got, ck.want, ck.rec)
		}
	}

	// The connector's sums on the Prometheus endpoint, counted records only: towards Azure
	// 6,144,000, from Azure 12,288,000; the per-observation view: each point's own bytes
	// (the edge 1500*4096 + 3000*4096, the GatewaySubnet 5,000 + 80,000).
	url := "http://127.0.0.1:" + itoa(p.Prometheus) + "/metrics"
	var metrics string
	eventually(t, 30*time.Second, "flowmetrics sums on the Prometheus endpoint", func() bool {
		metrics = httpGet(url)
		to, ok1 := promSum(metrics, "flow_to_azure_io_bytes_total")
		from, ok2 := promSum(metrics, "flow_from_azure_io_bytes_total")
		obs, ok3 := promSum(metrics, "flow_observation_io_bytes_total")
		return ok1 && ok2 && ok3 && to == 6_144_000 && from == 12_288_000 && obs == 4500*4096+85_000
	}, func() string { return metrics + "\n" + c.out.String() })
	if !strings.Contains(metrics, `flow_direction="to_azure"`) || !strings.Contains(metrics, `flow_link="primary"`) {
		t.Errorf("dimensions missing from the Prometheus series:\n%s", metrics)
	}
}

// readLogRecords returns the attributes (resource attributes merged in) of the records in
// a file exporter output that carry e2e.marker=marker (all of them when marker is "").
func readLogRecords(t *testing.T, path, marker string) []map[string]any {
	f, err := os.Open(path)
	if err != nil {
		return nil
	}
	defer f.Close()
	var out []map[string]any
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 1<<20), 64<<20)
	for sc.Scan() {
		ld, err := (&plog.JSONUnmarshaler{}).UnmarshalLogs(sc.Bytes())
		if err != nil {
			t.Fatalf("file exporter line is not OTLP JSON: %v", err)
		}
		for i := 0; i < ld.ResourceLogs().Len(); i++ {
			rl := ld.ResourceLogs().At(i)
			for j := 0; j < rl.ScopeLogs().Len(); j++ {
				lrs := rl.ScopeLogs().At(j).LogRecords()
				for k := 0; k < lrs.Len(); k++ {
					a := lrs.At(k).Attributes().AsRaw()
					if marker != "" && a["e2e.marker"] != marker {
						continue
					}
					for rk, rv := range rl.Resource().Attributes().AsRaw() {
						a[rk] = rv
					}
					out = append(out, a)
				}
			}
		}
	}
	return out
}
