package e2e

import (
	"encoding/json"
	"fmt"
	"math"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/erviz/otelcol-erviz/internal/report"
	"github.com/erviz/otelcol-erviz/internal/testutil"
)

// promAPI queries a Prometheus server's HTTP API.
type promAPI struct {
	t    *testing.T
	base string
}

type promSample struct {
	Metric map[string]string `json:"metric"`
	Value  [2]any            `json:"value"`
	Values [][2]any          `json:"values"`
}

// query evaluates expr at time at (zero: now); it returns the result and the API's error.
func (p promAPI) query(expr string, at time.Time) ([]promSample, error) {
	q := url.Values{"query": {expr}}
	if !at.IsZero() {
		q.Set("time", strconv.FormatFloat(float64(at.UnixMilli())/1000, 'f', 3, 64))
	}
	resp, err := http.Get(p.base + "/api/v1/query?" + q.Encode())
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	var body struct {
		Status string `json:"status"`
		Error  string `json:"error"`
		Data   struct {
			Result json.RawMessage `json:"result"`
		} `json:"data"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&body); err != nil {
		return nil, err
	}
	if body.Status != "success" {
		return nil, fmt.Errorf("%s: %s", expr, body.Error)
	}
	var out []promSample
	if err := json.Unmarshal(body.Data.Result, &out); err != nil {
		// a scalar result
		return nil, nil
	}
	return out, nil
}

// scalar returns the single value of expr now, or NaN.
func (p promAPI) scalar(expr string) float64 {
	res, err := p.query(expr, time.Time{})
	if err != nil || len(res) != 1 {
		return math.NaN()
	}
	v, _ := strconv.ParseFloat(res[0].Value[1].(string), 64)
	return v
}

func sampleTime(v any) time.Time {
	f, _ := v.(float64)
	return time.UnixMilli(int64(math.Round(f * 1000)))
}

// startPrometheus runs Debian's prometheus scraping target every second.
func startPrometheus(t *testing.T, target string) promAPI {
	t.Helper()
	bin := testutil.NeedBinary(t, "prometheus")
	dir := t.TempDir()
	cfg := fmt.Sprintf("global:\n  scrape_interval: 1s\n  evaluation_interval: 1s\nscrape_configs:\n  - job_name: otelcol-erviz\n    static_configs:\n      - targets: [%q]\n", target)
	if err := os.WriteFile(filepath.Join(dir, "prometheus.yml"), []byte(cfg), 0o644); err != nil {
		t.Fatal(err)
	}
	port := testutil.FreeTCPPort(t, "127.0.0.1")
	cmd := exec.Command(bin, "--config.file="+filepath.Join(dir, "prometheus.yml"), "--storage.tsdb.path="+filepath.Join(dir, "data"),
		fmt.Sprintf("--web.listen-address=127.0.0.1:%d", port))
	out := &syncBuffer{}
	cmd.Stdout, cmd.Stderr = out, out
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = cmd.Process.Kill(); _ = cmd.Wait() })
	api := promAPI{t: t, base: fmt.Sprintf("http://127.0.0.1:%d", port)}
	eventually(t, 60*time.Second, "prometheus ready", func() bool {
		resp, err := http.Get(api.base + "/-/ready")
		if err != nil {
			return false
		}
		resp.Body.Close()
		return resp.StatusCode == http.StatusOK
	}, out.String)
	return api
}

// TestDashboardOnPrometheus runs the dashboard's PromQL against a real Prometheus scraping
// the collector on the demo pipeline: the demo's traffic (the edge routers' IPFIX, and the
// flow logs of the same packets) goes in, and the direction panel must return the traffic
// the generator sent, in bit/s, counted once. Every other panel's query must evaluate.
func TestDashboardOnPrometheus(t *testing.T) {
	collectorBin(t)
	erviz := need(t, "ERVIZ_BIN", "the erviz command")
	root := repoRoot(t)
	truth := readTruth(t, root)
	dir := t.TempDir()
	if err := os.MkdirAll(filepath.Join(dir, "flowlogs"), 0o755); err != nil {
		t.Fatal(err)
	}
	p := newPorts(t)
	c := startCollector(t, "dashboard-prometheus", dir, p, []string{"DEMO_DIR=" + dir},
		"--config="+filepath.Join(root, "config", "demo.yaml"),
		fmt.Sprintf("--config=yaml:extensions::health_check::endpoint: 127.0.0.1:%d", p.Health),
		fmt.Sprintf("--config=yaml:service::telemetry::metrics::readers: [{pull: {exporter: {prometheus: {host: 127.0.0.1, port: %d}}}}]", p.Telemetry),
		fmt.Sprintf("--config=yaml:exporters::prometheus::endpoint: 127.0.0.1:%d", p.Prometheus),
		fmt.Sprintf("--config=yaml:receivers::ipfix::endpoint: 127.0.0.1:%d", p.IPFIX),
		// The demo's routes (directions come from them): config/demo.yaml's path is relative.
		fmt.Sprintf("--config=yaml:receivers::bgp::mrt::include: [%s]", filepath.Join(root, "demo", "data", "*.mrt")),
		"--config=yaml:connectors::flowmetrics::interval: 1s",
	)
	prom := startPrometheus(t, fmt.Sprintf("127.0.0.1:%d", p.Prometheus))
	diag := func() string { return c.out.String() }
	replay := func() {
		if out, err := exec.Command(erviz, "replay", "-pcap", filepath.Join(root, "demo", "data", "ipfix.pcap"),
			"-to", fmt.Sprintf("127.0.0.1:%d", p.IPFIX)).CombinedOutput(); err != nil {
			t.Fatalf("erviz replay: %v\n%s", err, out)
		}
	}
	to, from := float64(truth.Directions["to_azure"]), float64(truth.Directions["from_azure"])
	totals := func(n float64) func() bool {
		return func() bool {
			return prom.scalar("sum(flow_to_azure_io_bytes_total)") == n*to && prom.scalar("sum(flow_from_azure_io_bytes_total)") == n*from
		}
	}

	// 1. The traffic once, then the flow logs of the same packets: Prometheus holds every
	//    series, counted once (the flow logs add only to the per-observation view).
	replay()
	eventually(t, 60*time.Second, "the demo traffic in Prometheus", totals(1), diag)
	if err := exec.Command("cp", "-r", filepath.Join(root, "demo", "data", "flowlogs")+"/.", filepath.Join(dir, "flowlogs")).Run(); err != nil {
		t.Fatal(err)
	}
	eventually(t, 60*time.Second, "the flow logs' observation points in Prometheus", func() bool {
		return prom.scalar(`count(flow_observation_io_bytes_total{flow_observation_kind=~"gateway_subnet|vnet|nsg"})`) == 4
	}, diag)
	if !totals(1)() {
		t.Fatalf("the flow logs changed the counted sums: to %v, from %v", prom.scalar("sum(flow_to_azure_io_bytes_total)"), prom.scalar("sum(flow_from_azure_io_bytes_total)"))
	}
	// The report of the records so far: its routing sections, to compare with the route panels.
	logs := filepath.Join(dir, "out", "logs.json")
	reportAfter := func(n int64) report.Report {
		var r report.Report
		eventually(t, 60*time.Second, "the records in the file exporter's output", func() bool {
			r = readReport(t, erviz, logs)
			return r.DirectionTotals["to_azure"] == n*truth.Directions["to_azure"] && r.DirectionTotals["from_azure"] == n*truth.Directions["from_azure"]
		}, diag)
		return r
	}
	firstRun := reportRouteBytes(reportAfter(1))

	// 2. A flat stretch, the same traffic again, a flat stretch: the panel's rate over a
	//    window from the first to the last sample is the second run's traffic in bit/s.
	//    (A counter's first sample is not an increase, hence the first run.)
	eventually(t, 30*time.Second, "5 flat samples", func() bool {
		return prom.scalar("min_over_time(sum(flow_to_azure_io_bytes_total)[5s:1s])") == to
	}, diag)
	start := time.Now().Add(-4 * time.Second)
	replay()
	eventually(t, 60*time.Second, "the second run in Prometheus", totals(2), diag)
	eventually(t, 30*time.Second, "5 flat samples after it", func() bool {
		return prom.scalar("min_over_time(sum(flow_to_azure_io_bytes_total)[5s:1s])") == 2*to
	}, diag)
	raw, err := prom.query("flow_to_azure_io_bytes_total[2m]", time.Time{})
	if err != nil || len(raw) == 0 {
		t.Fatalf("samples: %v %v", raw, err)
	}
	var first, last time.Time
	for _, v := range raw[0].Values {
		ts := sampleTime(v[0])
		if ts.Before(start) {
			continue
		}
		if first.IsZero() {
			first = ts
		}
		last = ts
	}
	window := last.Sub(first) + time.Millisecond
	windowArg := strconv.FormatInt(window.Milliseconds(), 10) + "ms"

	exprs := dashboardExprs(t)
	// The route panels return the second run's traffic per route class and at risk.
	checkRoutePanels(t, prom, exprs, window, last, reportRouteBytes(reportAfter(2)).minus(firstRun))
	logSeriesCount(t, prom)
	var direction []string
	for where, e := range exprs {
		if strings.HasPrefix(where, `panel "Direction`) {
			direction = append(direction, e)
		}
	}
	if len(direction) != 2 {
		t.Fatalf("direction panel targets: %v", direction)
	}
	for _, e := range direction {
		q := strings.NewReplacer("$window", windowArg, "$exporter", ".*").Replace(e)
		res, err := prom.query(q, last)
		if err != nil || len(res) != 1 {
			t.Fatalf("%s: %v %v", q, res, err)
		}
		got, _ := strconv.ParseFloat(res[0].Value[1].(string), 64)
		bytes := to
		if strings.Contains(e, "from_azure") {
			bytes = from
		}
		want := bytes * 8 / window.Seconds()
		if math.Abs(got-want) > want*0.005 {
			t.Errorf("%s = %.2f bit/s, the generator sent %.0f bytes in %s = %.2f bit/s", q, got, bytes, window, want)
		} else {
			t.Logf("%s = %.2f bit/s (generator: %.2f bit/s)", q, got, want)
		}
	}
	// Without traffic the direction panel shows 0, not nothing.
	res, err := prom.query(strings.NewReplacer("$window", "1s", "$exporter", "no-such-exporter").Replace(direction[0]), time.Time{})
	if err != nil || len(res) != 1 || res[0].Value[1] != "0" {
		t.Errorf("direction panel without traffic: %v %v", res, err)
	}
	// Every query of the dashboard evaluates.
	for where, e := range exprs {
		if _, err := prom.query(strings.NewReplacer("$window", "1m", "$exporter", ".*").Replace(e), time.Time{}); err != nil {
			t.Errorf("%s: %v", where, err)
		}
	}
}
