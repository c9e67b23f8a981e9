package e2e

import (
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/plog"

	"github.com/erviz/otelcol-erviz/internal/lafake"
	"github.com/erviz/otelcol-erviz/pkg/loganalytics"
)

// laFlows returns OTLP JSON of n flow records with source ports from port0 (each record is
// recognisable by its port), 1000 bytes each, and, when withEvents, a routing event and a
// routing condition.
func laFlows(t *testing.T, port0, n int, withEvents bool) []byte {
	t.Helper()
	ld := plog.NewLogs()
	rl := ld.ResourceLogs().AppendEmpty()
	rl.Resource().Attributes().PutStr("flow.exporter.address", "192.0.2.10")
	sl := rl.ScopeLogs().AppendEmpty()
	now := time.Now()
	for i := range n {
		lr := sl.LogRecords().AppendEmpty()
		lr.SetTimestamp(pcommon.NewTimestampFromTime(now))
		_ = lr.Attributes().FromRaw(map[string]any{
			"flow.type": "ipfix", "source.address": "192.168.1.10", "source.port": port0 + i,
			"destination.address": "10.1.0.4", "destination.port": 443, "network.transport": "tcp",
			"network.type": "ipv4", "flow.io.bytes": 1000, "flow.io.packets": 2, "flow.dst_as": 65515,
			"flow.start": now.UnixNano(), "flow.end": now.UnixNano(),
		})
	}
	if withEvents {
		for _, ev := range []map[string]any{
			{"bgp.event": "bgp.peer.down", "bgp.source": "bgp", "bgp.peer.address": "127.0.0.2", "bgp.peer.asn": 65001,
				"bgp.session.state": "idle", "bgp.down.reason": "hold-timer-expired"},
			{"bgp.event": "bgp.redundancy.lost", "bgp.event.phase": "start", "bgp.source": "bgp", "bgp.prefix": "10.9.0.0/24",
				"bgp.event.start": now.UTC().Format(time.RFC3339Nano), "bgp.peers": []any{"127.0.0.2 AS65001 (edge-a)"}, "bgp.paths": 1},
		} {
			lr := sl.LogRecords().AppendEmpty()
			lr.SetTimestamp(pcommon.NewTimestampFromTime(now))
			lr.Body().SetStr(fmt.Sprint(ev["bgp.event"]))
			_ = lr.Attributes().FromRaw(ev)
		}
	}
	b, err := (&plog.JSONMarshaler{}).MarshalLogs(ld)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// TestLogAnalyticsDelivery runs config/log-analytics.yaml against a local Logs Ingestion API
// (internal/lafake, which checks every row against the declarations generated for
// deploy/azure) through a 429 storm, an outage with a collector restart in the middle, and a
// stream whose declaration lags behind (a permanent 400).
func TestLogAnalyticsDelivery(t *testing.T) {
	root := repoRoot(t)
	collectorBin(t) // skip (or fail under CI) before starting anything
	decl, err := lafake.LoadDeclarations(filepath.Join(root, loganalytics.TemplatePath))
	if err != nil {
		t.Fatal(err)
	}
	fake := lafake.Start(decl)
	t.Cleanup(fake.Close)
	var (
		flowsS      = loganalytics.Tables[loganalytics.KindFlows].Stream
		rollupsS    = loganalytics.Tables[loganalytics.KindFlowRollups].Stream
		routingS    = loganalytics.Tables[loganalytics.KindRouting].Stream
		conditionsS = loganalytics.Tables[loganalytics.KindRoutingConditions].Stream
	)
	// The rule's declaration of the conditions stream lags behind: Paths is declared a string.
	var lagging []lafake.Column
	for _, c := range decl[conditionsS] {
		if c.Name == "Paths" {
			c.Type = "string"
		}
		lagging = append(lagging, c)
	}
	fake.Declare(conditionsS, lagging)

	dir := t.TempDir()
	cert := filepath.Join(dir, "fake-ca.pem")
	token := filepath.Join(dir, "token")
	if err := os.WriteFile(cert, fake.CertPEM(), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(token, []byte(fake.Token+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	p := newPorts(t)
	env := []string{
		"STATE_DIR=" + filepath.Join(dir, "state"),
		"FLOWLOG_ACCOUNT_URL=https://127.0.0.1:9",
		"LOGS_INGESTION_ENDPOINT=" + fake.URL,
		"DCR_IMMUTABLE_ID=" + fake.RuleID,
		"SSL_CERT_FILE=" + cert, // the fake's certificate: the exporter still speaks TLS only
	}
	args := append([]string{"--config=" + filepath.Join(root, "config", "log-analytics.yaml"),
		"--config=yaml:exporters::azure_log_analytics::auth::token_file: " + token,
		"--config=yaml:exporters::azure_log_analytics::retry_on_failure::initial_interval: 100ms",
		"--config=yaml:exporters::azure_log_analytics::retry_on_failure::max_interval: 500ms",
		"--config=yaml:connectors::flowrollup::interval: 1s",
		"--config=yaml:processors::batch::timeout: 200ms",
	}, p.overrides(false)...)
	c := startCollector(t, "log-analytics", dir, p, env, args...)
	diag := func() string {
		var b strings.Builder
		for _, call := range fake.Calls() {
			fmt.Fprintf(&b, "%s %s %d rows %d %s\n", call.At.Format("15:04:05.000"), call.Stream, call.Status, call.Rows, call.Message)
		}
		return b.String() + "\nproblems: " + strings.Join(fake.Problems(), "; ") + "\n" + c.out.String()
	}
	portsOf := func() map[string]int {
		m := map[string]int{}
		for _, r := range fake.Rows(flowsS) {
			m[fmt.Sprint(r["SrcPort"])]++
		}
		return m
	}
	allArrived := func(port0, n int) func() bool {
		return func() bool {
			m := portsOf()
			for i := range n {
				if m[fmt.Sprint(port0+i)] == 0 {
					return false
				}
			}
			return true
		}
	}

	// 1. A 429 storm: the first five requests of the flows stream are throttled (Retry-After: 1).
	fake.SetFaults(func(stream string, n int) *lafake.Fault {
		if stream == flowsS && n <= 5 {
			return &lafake.Fault{Status: http.StatusTooManyRequests, RetryAfter: "1"}
		}
		return nil
	})
	postOTLP(t, p.HTTP, "logs", laFlows(t, 10000, 300, true))
	eventually(t, 90*time.Second, "300 flows through the 429 storm", allArrived(10000, 300), diag)
	throttled, gapOK := 0, true
	var last429 time.Time
	for _, call := range fake.Calls() {
		if call.Stream != flowsS {
			continue
		}
		if !last429.IsZero() && call.At.Sub(last429) < time.Second {
			gapOK = false
		}
		last429 = time.Time{}
		if call.Status == http.StatusTooManyRequests {
			throttled++
			last429 = call.At
		}
	}
	if throttled != 5 || !gapOK {
		t.Errorf("%d throttled requests (want 5), Retry-After honoured: %v\n%s", throttled, gapOK, diag())
	}
	eventually(t, 30*time.Second, "the routing event", func() bool { return len(fake.Rows(routingS)) == 1 }, diag)

	// The condition's row does not match the lagging declaration: 400, counted and logged, not retried.
	eventually(t, 30*time.Second, "the rejection counted in the collector's telemetry", func() bool {
		line := regexp.MustCompile(`(?m)^otelcol_exporter_loganalytics_rows_dropped(_total)?\{reason="rejected",stream="` + conditionsS + `"\} 1$`)
		return line.MatchString(httpGet("http://127.0.0.1:" + itoa(p.Telemetry) + "/metrics"))
	}, func() string {
		return diag() + "\n" + httpGet("http://127.0.0.1:"+itoa(p.Telemetry)+"/metrics")
	})
	if !regexp.MustCompile(`rejected rows for good.*"stream": "` + conditionsS + `".*"status": 400.*column Paths`).MatchString(c.out.String()) {
		t.Errorf("the rejection is not logged with the stream and the reason:\n%s", c.out.String())
	}

	// 2. An outage: every request fails with 503 while new flows come in; the collector is
	// stopped mid-queue and started again once the API is back.
	outage := make(chan struct{}, 1)
	fake.SetFaults(func(stream string, n int) *lafake.Fault {
		select {
		case outage <- struct{}{}:
		default:
		}
		return &lafake.Fault{Status: http.StatusServiceUnavailable}
	})
	postOTLP(t, p.HTTP, "logs", laFlows(t, 20000, 300, false))
	select {
	case <-outage:
	case <-time.After(60 * time.Second):
		t.Fatalf("no request during the outage\n%s", diag())
	}
	if err := c.stop(); err != nil {
		t.Fatalf("stop: %v\n%s", err, c.out.String())
	}
	if allArrived(20000, 300)() {
		t.Fatal("the flows of the outage arrived although every request failed")
	}
	fake.SetFaults(nil)
	c2 := startCollector(t, "log-analytics-restarted", dir, p, env, args...)
	diag2 := func() string { return diag() + "\n--- after restart ---\n" + c2.out.String() }
	eventually(t, 90*time.Second, "the 300 flows queued on disk during the outage", allArrived(20000, 300), diag2)

	// Every flow exactly once.
	for port, n := range portsOf() {
		if n != 1 {
			t.Errorf("flow with source port %s arrived %d times", port, n)
		}
	}
	// Rollups: every flow is summed once in some rollup row (the second collector flushes the
	// rest at its stop).
	if err := c2.stop(); err != nil {
		t.Fatal(err)
	}
	c3 := startCollector(t, "log-analytics-drain", dir, p, env, args...)
	eventually(t, 60*time.Second, "rollup rows summing all 600 flows", func() bool {
		var flows, bytes int64
		for _, r := range fake.Rows(rollupsS) {
			var f, b int64
			_, _ = fmt.Sscan(fmt.Sprint(r["Flows"]), &f)
			_, _ = fmt.Sscan(fmt.Sprint(r["Bytes"]), &b)
			flows += f
			bytes += b
		}
		return flows == 600 && bytes == 600*1000
	}, func() string { return diag2() + "\n--- drain ---\n" + c3.out.String() })
	if n := len(fake.Rows(conditionsS)); n != 0 {
		t.Errorf("%d condition rows accepted despite the lagging declaration", n)
	}
	rejections := 0
	for _, call := range fake.Calls() {
		if call.Stream == conditionsS {
			rejections++
		}
	}
	if rejections != 1 {
		t.Errorf("the condition was sent %d times; a 400 must not be retried", rejections)
	}
	if testing.Verbose() {
		t.Log(diag())
	}
	if pr := fake.Problems(); len(pr) > 0 {
		t.Errorf("contract violations: %v", pr)
	}
}

// TestLogAnalyticsRealRecords: the records our receivers really emit (an IPFIX record from an
// independent exporter library, the routing events and conditions the bgp receiver derives
// from the demo's MRT message log) become rows that the local Logs Ingestion API accepts
// against the generated declarations: no 400, every stream fed.
func TestLogAnalyticsRealRecords(t *testing.T) {
	root := repoRoot(t)
	collectorBin(t)
	decl, err := lafake.LoadDeclarations(filepath.Join(root, loganalytics.TemplatePath))
	if err != nil {
		t.Fatal(err)
	}
	fake := lafake.Start(decl)
	t.Cleanup(fake.Close)
	dir := t.TempDir()
	cert, token := filepath.Join(dir, "fake-ca.pem"), filepath.Join(dir, "token")
	if err := os.WriteFile(cert, fake.CertPEM(), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(token, []byte(fake.Token), 0o600); err != nil {
		t.Fatal(err)
	}
	p := newPorts(t)
	env := []string{"STATE_DIR=" + filepath.Join(dir, "state"), "FLOWLOG_ACCOUNT_URL=https://127.0.0.1:9",
		"LOGS_INGESTION_ENDPOINT=" + fake.URL, "DCR_IMMUTABLE_ID=" + fake.RuleID, "SSL_CERT_FILE=" + cert}
	args := append([]string{"--config=" + filepath.Join(root, "config", "log-analytics.yaml"),
		"--config=yaml:exporters::azure_log_analytics::auth::token_file: " + token,
		"--config=yaml:receivers::bgp::mrt::include: [" + filepath.Join(root, "demo", "data", "bgp.mrt") + "]",
		"--config=yaml:receivers::bgp::mrt::poll_interval: 200ms",
		"--config=yaml:connectors::flowrollup::interval: 1s",
		"--config=yaml:processors::batch::timeout: 200ms",
	}, p.overrides(false)...)
	c := startCollector(t, "log-analytics-real", dir, p, env, args...)
	diag := func() string {
		var b strings.Builder
		for _, call := range fake.Calls() {
			fmt.Fprintf(&b, "%s %d rows %d %s\n", call.Stream, call.Status, call.Rows, call.Message)
		}
		return b.String() + "problems: " + strings.Join(fake.Problems(), "; ") + "\n" + c.out.String()
	}
	sendIPFIXRecord(t, p.IPFIX, 7)
	streams := map[string]string{}
	for _, tb := range loganalytics.Tables {
		streams[tb.Key] = tb.Stream
	}
	eventually(t, 60*time.Second, "rows in every stream", func() bool {
		for _, s := range streams {
			if len(fake.Rows(s)) == 0 {
				return false
			}
		}
		return true
	}, diag)
	var flow map[string]any
	for _, r := range fake.Rows(streams["flows"]) {
		if r["SrcAddr"] == "192.168.1.10" {
			flow = r
		}
	}
	if flow == nil || fmt.Sprintf("%v %v %v %v", flow["DstPort"], flow["Protocol"], flow["Bytes"], flow["ExporterAddr"]) != "443 6 1000 127.0.0.1" {
		t.Errorf("the IPFIX record's row: %v", flow)
	}
	events := map[string]bool{}
	for _, r := range fake.Rows(streams["routing_events"]) {
		events[fmt.Sprint(r["Event"])] = true
	}
	if !events["bgp.route.announce"] {
		t.Errorf("no route announcement among the routing rows: %v", events)
	}
	for _, r := range fake.Rows(streams["routing_conditions"]) {
		if r["Phase"] == nil || r["Event"] == nil {
			t.Errorf("condition row without Event or Phase: %v", r)
		}
	}
	for _, call := range fake.Calls() {
		if call.Status != http.StatusNoContent {
			t.Errorf("%s answered %d: %s", call.Stream, call.Status, call.Message)
		}
	}
	if pr := fake.Problems(); len(pr) > 0 {
		t.Errorf("contract violations: %v", pr)
	}
}
