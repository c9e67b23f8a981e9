package loganalyticsexporter

import (
	"context"
	"fmt"
	"net/http"
	"path/filepath"
	"testing"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/policy"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/component/componenttest"
	"go.opentelemetry.io/collector/config/configoptional"
	"go.opentelemetry.io/collector/exporter"
	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/plog"
	"go.opentelemetry.io/otel/sdk/metric/metricdata"
	"go.uber.org/zap"
	"go.uber.org/zap/zaptest/observer"

	"github.com/erviz/otelcol-erviz/exporter/loganalyticsexporter/internal/metadatatest"
	"github.com/erviz/otelcol-erviz/internal/lafake"
	"github.com/erviz/otelcol-erviz/pkg/loganalytics"
)

type staticToken string

func (s staticToken) GetToken(context.Context, policy.TokenRequestOptions) (azcore.AccessToken, error) {
	return azcore.AccessToken{Token: string(s), ExpiresOn: time.Now().Add(time.Hour)}, nil
}

var (
	flowsStream      = loganalytics.Tables[loganalytics.KindFlows].Stream
	routingStream    = loganalytics.Tables[loganalytics.KindRouting].Stream
	conditionsStream = loganalytics.Tables[loganalytics.KindRoutingConditions].Stream
)

func startFake(t *testing.T) *lafake.Server {
	t.Helper()
	decl, err := lafake.LoadDeclarations(filepath.Join("..", "..", loganalytics.TemplatePath))
	require.NoError(t, err)
	f := lafake.Start(decl)
	t.Cleanup(f.Close)
	t.Cleanup(func() {
		for _, p := range f.Problems() {
			t.Errorf("contract violation seen by the fake: %s", p)
		}
	})
	return f
}

type harness struct {
	exp  exporter.Logs
	tt   *componenttest.Telemetry
	logs *observer.ObservedLogs
}

func newHarness(t *testing.T, f *lafake.Server, edit func(*Config)) *harness {
	t.Helper()
	cfg := createDefaultConfig()
	cfg.Endpoint = f.URL
	cfg.DCRImmutableID = f.RuleID
	cfg.QueueSettings = configoptional.None[exporterhelperQueue]() // synchronous: ConsumeLogs returns after the retries
	cfg.BackOffConfig.InitialInterval = 10 * time.Millisecond
	cfg.BackOffConfig.MaxInterval = 50 * time.Millisecond
	cfg.BackOffConfig.MaxElapsedTime = time.Minute
	if edit != nil {
		edit(cfg)
	}
	require.NoError(t, cfg.Validate())
	tt := componenttest.NewTelemetry()
	t.Cleanup(func() { require.NoError(t, tt.Shutdown(context.Background())) })
	core, logs := observer.New(zap.InfoLevel)
	set := metadatatest.NewSettings(tt)
	set.Logger = zap.New(core)
	fac := newFactory(&options{credential: staticToken(f.Token), transport: f.Client()})
	exp, err := fac.CreateLogs(context.Background(), set, cfg)
	require.NoError(t, err)
	require.NoError(t, exp.Start(context.Background(), componenttest.NewNopHost()))
	t.Cleanup(func() { require.NoError(t, exp.Shutdown(context.Background())) })
	return &harness{exp: exp, tt: tt, logs: logs}
}

// sum returns the sum of a counter's points whose attributes include attrs.
func (h *harness) sum(t *testing.T, name string, attrs map[string]string) int64 {
	t.Helper()
	m, err := h.tt.GetMetric(name)
	if err != nil {
		return 0
	}
	var n int64
	for _, dp := range m.Data.(metricdata.Sum[int64]).DataPoints {
		ok := true
		for k, v := range attrs {
			got, has := dp.Attributes.Value(attributeKey(k))
			ok = ok && has && got.String() == v
		}
		if ok {
			n += dp.Value
		}
	}
	return n
}

var t0 = time.Date(2026, 11, 22, 5, 10, 0, 0, time.UTC)

// testLogs returns nFlows flow records (source port 10000+i), two routing events and a condition.
func testLogs(nFlows int) plog.Logs {
	ld := plog.NewLogs()
	rl := ld.ResourceLogs().AppendEmpty()
	rl.Resource().Attributes().PutStr("flow.exporter.address", "127.0.0.2")
	sl := rl.ScopeLogs().AppendEmpty()
	for i := range nFlows {
		lr := sl.LogRecords().AppendEmpty()
		lr.SetTimestamp(pcommon.NewTimestampFromTime(t0.Add(time.Duration(i) * time.Millisecond)))
		_ = lr.Attributes().FromRaw(map[string]any{
			"flow.type": "ipfix", "source.address": "192.168.1.10", "source.port": 10000 + i,
			"destination.address": "10.1.0.4", "destination.port": 443, "network.transport": "tcp",
			"network.type": "ipv4", "flow.io.bytes": 1500 * 4096, "flow.io.packets": 4096,
			"flow.sampling_rate": 4096, "flow.direction": "to_azure", "flow.server.port": 443,
			"flow.service": "https", "flow.src_as": 65001, "flow.dst_as": 65515, "flow.hairpin": false,
			"flow.start": t0.UnixNano(), "flow.end": t0.Add(time.Second).UnixNano(),
			"flow.observation.point": "edge-a", "flow.counted": true, "vendor.extra": "kept in Attributes",
		})
	}
	bl := ld.ResourceLogs().AppendEmpty()
	bl.Resource().Attributes().PutStr("bgp.receiver", "bgp")
	bs := bl.ScopeLogs().AppendEmpty()
	for _, ev := range []map[string]any{
		{"bgp.event": "bgp.peer.up", "bgp.source": "bgp", "bgp.peer.address": "127.0.0.2", "bgp.peer.asn": 65001, "bgp.session.state": "established"},
		{"bgp.event": "bgp.route.announce", "bgp.source": "bgp", "bgp.peer.address": "127.0.0.2", "bgp.peer.asn": 65001,
			"bgp.prefix": "192.168.50.0/24", "bgp.family": "ipv4_unicast", "bgp.as_path": "65001 12076 65020",
			"bgp.as_path.length": 3, "bgp.origin_asn": 65020, "bgp.communities": []any{"65001:100"}, "bgp.route.class": "expressroute", "bgp.post_policy": true},
		{"bgp.event": "bgp.redundancy.lost", "bgp.event.phase": "start", "bgp.source": "bgp", "bgp.prefix": "10.9.0.0/24",
			"bgp.event.start": "2026-11-22T05:10:02.113Z", "bgp.peers": []any{"127.0.0.2 AS65001 (edge-a)"}, "bgp.paths": 1, "bgp.paths.previous": 2},
	} {
		lr := bs.LogRecords().AppendEmpty()
		lr.SetTimestamp(pcommon.NewTimestampFromTime(t0))
		lr.Body().SetStr(fmt.Sprint(ev["bgp.event"]))
		_ = lr.Attributes().FromRaw(ev)
	}
	return ld
}

func ports(rows []map[string]any) map[string]int {
	seen := map[string]int{}
	for _, r := range rows {
		seen[fmt.Sprint(r["SrcPort"])]++
	}
	return seen
}

// TestDelivers: every record becomes one row of its stream, with typed columns the fake checked
// against the generated declarations, gzip-compressed, within the size limit.
func TestDelivers(t *testing.T) {
	f := startFake(t)
	h := newHarness(t, f, func(c *Config) { c.MaxRequestBytes = 64 << 10 })
	require.NoError(t, h.exp.ConsumeLogs(context.Background(), testLogs(500)))
	rows := f.Rows(flowsStream)
	require.Len(t, rows, 500)
	require.Len(t, ports(rows), 500, "each flow exactly once")
	r := rows[0]
	require.Equal(t, "2026-11-22T05:10:00Z", r["TimeGenerated"])
	require.Equal(t, "6144000", fmt.Sprint(r["Bytes"]))
	require.Equal(t, "6", fmt.Sprint(r["Protocol"]))
	require.Equal(t, "edge-a", r["ObservationPoint"])
	require.Equal(t, "kept in Attributes", r["Attributes"].(map[string]any)["vendor.extra"])
	require.Len(t, f.Rows(routingStream), 2)
	cond := f.Rows(conditionsStream)
	require.Len(t, cond, 1)
	require.Equal(t, "start", cond[0]["Phase"])
	require.Equal(t, "2026-11-22T05:10:02.113Z", cond[0]["StartTime"])
	flowCalls := 0
	for _, c := range f.Calls() {
		require.Equal(t, http.StatusNoContent, c.Status, c.Message)
		if c.Stream == flowsStream {
			flowCalls++
		}
	}
	require.Greater(t, flowCalls, 1, "500 rows exceed one request of 64 KiB")
	require.EqualValues(t, 500, h.sum(t, "otelcol_exporter_loganalytics_rows_sent", map[string]string{"stream": flowsStream}))
}

// TestRetryAfterStorm: the fake answers 429 with Retry-After: 1 to the first requests of the
// flows stream; the exporter waits as told and resends only what was not accepted.
func TestRetryAfterStorm(t *testing.T) {
	f := startFake(t)
	f.SetFaults(func(stream string, n int) *lafake.Fault {
		switch {
		case stream == flowsStream && n == 2: // the second request of the flows: the first went through
			return &lafake.Fault{Status: http.StatusTooManyRequests, RetryAfter: "1"}
		case stream == flowsStream && n >= 3 && n <= 4:
			return &lafake.Fault{Status: http.StatusServiceUnavailable}
		}
		return nil
	})
	h := newHarness(t, f, func(c *Config) { c.MaxRequestBytes = 64 << 10 })
	require.NoError(t, h.exp.ConsumeLogs(context.Background(), testLogs(500)))
	rows := f.Rows(flowsStream)
	seen := ports(rows)
	require.Len(t, seen, 500, "every flow arrived")
	for p, n := range seen {
		require.Equal(t, 1, n, "source port %s arrived %d times: a retry resent accepted rows", p, n)
	}
	// Retry-After was honoured: the request after the 429 came at least 1 s later.
	var at429 time.Time
	for _, c := range f.Calls() {
		if c.Stream != flowsStream {
			continue
		}
		if c.Status == http.StatusTooManyRequests {
			at429 = c.At
		} else if !at429.IsZero() {
			require.GreaterOrEqual(t, c.At.Sub(at429), time.Second, "Retry-After: 1 not honoured")
			break
		}
	}
	require.False(t, at429.IsZero())
	require.EqualValues(t, 1, h.sum(t, "otelcol_exporter_loganalytics_requests", map[string]string{"stream": flowsStream, "status_code": "429"}))
	require.EqualValues(t, 2, h.sum(t, "otelcol_exporter_loganalytics_requests", map[string]string{"stream": flowsStream, "status_code": "503"}))
	require.Len(t, f.Rows(routingStream), 2)
}

// TestPermanentRejectionCountedAndLogged: a rule whose declaration lags behind the exporter (a
// column of the conditions stream declared with another type) answers 400 with an error body;
// the rows are dropped, counted and logged with the stream and the API's reason, the request is
// not retried, and the other streams are delivered.
func TestPermanentRejectionCountedAndLogged(t *testing.T) {
	f := startFake(t)
	cols := loganalytics.StreamColumns(loganalytics.Tables[loganalytics.KindRoutingConditions])
	var decl []lafake.Column
	for _, c := range cols {
		if c["name"] == "Paths" {
			c["type"] = "string"
		}
		decl = append(decl, lafake.Column{Name: c["name"], Type: c["type"]})
	}
	f.Declare(conditionsStream, decl)
	h := newHarness(t, f, nil)
	require.NoError(t, h.exp.ConsumeLogs(context.Background(), testLogs(10)))
	require.Len(t, f.Rows(flowsStream), 10)
	require.Len(t, f.Rows(routingStream), 2)
	require.Empty(t, f.Rows(conditionsStream))
	n := 0
	for _, c := range f.Calls() {
		if c.Stream == conditionsStream {
			n++
			require.Equal(t, http.StatusBadRequest, c.Status)
		}
	}
	require.Equal(t, 1, n, "a 400 must not be retried")
	require.EqualValues(t, 1, h.sum(t, "otelcol_exporter_loganalytics_rows_dropped", map[string]string{"stream": conditionsStream, "reason": "rejected"}))
	logged := h.logs.FilterMessageSnippet("rejected rows for good").All()
	require.Len(t, logged, 1)
	fields := logged[0].ContextMap()
	require.Equal(t, conditionsStream, fields["stream"])
	require.Contains(t, fmt.Sprint(fields["reason"]), "column Paths (string)")
	require.Equal(t, "InvalidPayload", fields["error_code"])
}

// TestSplitsOn413: an endpoint whose limit is below the configured one answers 413; the
// exporter halves the request until it fits, and everything arrives once.
func TestSplitsOn413(t *testing.T) {
	f := startFake(t)
	f.MaxBytes = 8 << 10
	h := newHarness(t, f, func(c *Config) { c.Compression = "none" })
	require.NoError(t, h.exp.ConsumeLogs(context.Background(), testLogs(200)))
	seen := ports(f.Rows(flowsStream))
	require.Len(t, seen, 200)
	got413 := false
	for _, c := range f.Calls() {
		got413 = got413 || c.Status == http.StatusRequestEntityTooLarge
	}
	require.True(t, got413)
}

// TestNotOursCounted: records that are no flow, rollup or routing event are counted as dropped.
func TestNotOursCounted(t *testing.T) {
	f := startFake(t)
	h := newHarness(t, f, func(c *Config) { c.Streams.RoutingEvents = "" })
	ld := testLogs(1)
	ld.ResourceLogs().At(0).ScopeLogs().At(0).LogRecords().AppendEmpty().Body().SetStr("hello")
	require.NoError(t, h.exp.ConsumeLogs(context.Background(), ld))
	require.EqualValues(t, 1, h.sum(t, "otelcol_exporter_loganalytics_rows_dropped", map[string]string{"reason": "not_erviz_record"}))
	require.EqualValues(t, 2, h.sum(t, "otelcol_exporter_loganalytics_rows_dropped", map[string]string{"reason": "stream_disabled", "stream": "routing_events"}))
	require.Len(t, h.logs.FilterMessageSnippet("records dropped before sending").All(), 2)
	require.Empty(t, f.Rows(routingStream))
}

func TestConfigValidate(t *testing.T) {
	c := createDefaultConfig()
	require.ErrorContains(t, c.Validate(), "endpoint is required")
	c.Endpoint = "http://example.com"
	c.DCRImmutableID = "dcr-1"
	require.ErrorContains(t, c.Validate(), "https://")
	c.Endpoint = "https://x.westeurope-1.ingest.monitor.azure.com"
	require.NoError(t, c.Validate())
	c.MaxRequestBytes = 2_000_000
	require.ErrorContains(t, c.Validate(), "max_request_bytes")
	c.MaxRequestBytes = 1000
	c.Streams = StreamsConfig{}
	require.ErrorContains(t, c.Validate(), "every stream is empty")
	c.Compression = "br"
	require.ErrorContains(t, c.Validate(), "compression")
}

func attributeKey(k string) attributeKeyT { return attributeKeyT(k) }

// BenchmarkExportToFake measures the whole send path (row mapping, JSON, gzip, TLS, the fake's
// decoding and column checks) in rows per second; the fake runs in the same process, so on a
// 2-core machine it takes about half the CPU.
func BenchmarkExportToFake(b *testing.B) {
	decl, err := lafake.LoadDeclarations(filepath.Join("..", "..", loganalytics.TemplatePath))
	require.NoError(b, err)
	f := lafake.Start(decl)
	defer f.Close()
	f.Discard = true
	cfg := createDefaultConfig()
	cfg.Endpoint, cfg.DCRImmutableID = f.URL, f.RuleID
	cfg.QueueSettings = configoptional.None[exporterhelperQueue]()
	tt := componenttest.NewTelemetry()
	defer func() { _ = tt.Shutdown(context.Background()) }()
	set := metadatatest.NewSettings(tt)
	exp, err := newFactory(&options{credential: staticToken(f.Token), transport: f.Client()}).CreateLogs(context.Background(), set, cfg)
	require.NoError(b, err)
	require.NoError(b, exp.Start(context.Background(), componenttest.NewNopHost()))
	defer func() { _ = exp.Shutdown(context.Background()) }()
	ld := testLogs(5000)
	rows := ld.LogRecordCount()
	b.ResetTimer()
	for b.Loop() {
		if err := exp.ConsumeLogs(context.Background(), ld); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(b.N*rows)/b.Elapsed().Seconds(), "rows/s")
	if f.Accepted() != b.N*rows {
		b.Fatalf("accepted %d rows, want %d", f.Accepted(), b.N*rows)
	}
}
