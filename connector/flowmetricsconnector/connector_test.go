package flowmetricsconnector

import (
	"context"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/component"
	"go.opentelemetry.io/collector/component/componenttest"
	"go.opentelemetry.io/collector/confmap"
	"go.opentelemetry.io/collector/confmap/confmaptest"
	"go.opentelemetry.io/collector/consumer/consumertest"
	"go.opentelemetry.io/collector/pdata/plog"
	"go.opentelemetry.io/collector/pdata/pmetric"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/sdk/metric/metricdata"
	"go.opentelemetry.io/otel/sdk/metric/metricdata/metricdatatest"

	"github.com/erviz/otelcol-erviz/connector/flowmetricsconnector/internal/metadata"
	"github.com/erviz/otelcol-erviz/connector/flowmetricsconnector/internal/metadatatest"
	"github.com/erviz/otelcol-erviz/internal/schema"
)

func TestLoadConfig(t *testing.T) {
	cm, err := confmaptest.LoadConf(filepath.Join("testdata", "config.yaml"))
	require.NoError(t, err)
	for name, want := range map[string]*Config{
		"":       createDefaultConfig(),
		"custom": {Interval: 5 * time.Minute, MaxSeries: 50, Dimensions: []string{"flow.direction", "flow.server.port"}, CountedOnly: true, ObservationMetrics: true},
	} {
		cfg := NewFactory().CreateDefaultConfig().(*Config)
		sub, err := cm.Sub(component.NewIDWithName(metadata.Type, name).String())
		require.NoError(t, err)
		require.NoError(t, sub.Unmarshal(cfg))
		assert.Equal(t, want, cfg)
		assert.NoError(t, confmap.Validate(cfg))
	}
	bad := &Config{Interval: time.Millisecond, MaxSeries: 0, Dimensions: []string{"a", "a", ""}}
	err = confmap.Validate(bad)
	require.Error(t, err)
	for _, w := range []string{"interval 1ms is below 1s", "max_series must be at least 1", `"a" is listed twice`, "dimensions[2] is empty"} {
		assert.Contains(t, err.Error(), w)
	}
}

// tagged builds records as the sampling processor leaves them.
type tagged struct {
	exporter, dir, link, class, service string
	bytes, packets, to, from            int64
}

func logsOf(recs ...tagged) plog.Logs {
	ld := plog.NewLogs()
	for _, r := range recs {
		rl := ld.ResourceLogs().AppendEmpty()
		rl.Resource().Attributes().PutStr(schema.FlowExporterAddress, r.exporter)
		a := rl.ScopeLogs().AppendEmpty().LogRecords().AppendEmpty().Attributes()
		a.PutStr(schema.FlowType, schema.FlowTypeIPFIX)
		a.PutStr(schema.FlowDirection, r.dir)
		if r.link != "" {
			a.PutStr(schema.FlowLink, r.link)
		}
		a.PutStr(schema.FlowClass, r.class)
		if r.service != "" {
			a.PutStr(schema.FlowService, r.service)
		}
		a.PutInt(schema.FlowIOBytes, r.bytes)
		a.PutInt(schema.FlowIOPackets, r.packets)
		if r.dir == "to_azure" || r.dir == "from_azure" {
			a.PutInt(schema.FlowToAzureIOBytes, r.to)
			a.PutInt(schema.FlowFromAzureIOBytes, r.from)
		}
	}
	return ld
}

// point finds the data point of a metric with exactly these attributes.
func point(t *testing.T, mds []pmetric.Metrics, name string, attrs map[string]any) (int64, bool) {
	t.Helper()
	var total int64
	found := false
	for _, md := range mds {
		rms := md.ResourceMetrics()
		for i := 0; i < rms.Len(); i++ {
			sms := rms.At(i).ScopeMetrics()
			for j := 0; j < sms.Len(); j++ {
				ms := sms.At(j).Metrics()
				for k := 0; k < ms.Len(); k++ {
					m := ms.At(k)
					if m.Name() != name {
						continue
					}
					require.Equal(t, pmetric.AggregationTemporalityDelta, m.Sum().AggregationTemporality())
					require.True(t, m.Sum().IsMonotonic())
					dps := m.Sum().DataPoints()
					for d := 0; d < dps.Len(); d++ {
						if assert.ObjectsAreEqual(attrs, dps.At(d).Attributes().AsRaw()) {
							total += dps.At(d).IntValue()
							found = true
						}
					}
				}
			}
		}
	}
	return total, found
}

func newTestConnector(t *testing.T, cfg *Config, tt *componenttest.Telemetry) (*flowMetrics, *consumertest.MetricsSink) {
	sink := &consumertest.MetricsSink{}
	conn, err := NewFactory().CreateLogsToMetrics(context.Background(), metadatatest.NewSettings(tt), cfg, sink)
	require.NoError(t, err)
	require.NoError(t, conn.Start(context.Background(), componenttest.NewNopHost()))
	return conn.(*flowMetrics), sink
}

func TestSumsPerDimension(t *testing.T) {
	tt := componenttest.NewTelemetry()
	t.Cleanup(func() { require.NoError(t, tt.Shutdown(context.Background())) })
	cfg := createDefaultConfig()
	cfg.Interval = time.Hour // flushed by Shutdown below
	c, sink := newTestConnector(t, cfg, tt)

	batch := logsOf(
		tagged{"192.0.2.1", "to_azure", "primary", "data", "https", 6_144_000, 8192, 6_144_000, 0},
		tagged{"192.0.2.1", "from_azure", "primary", "data", "https", 12_288_000, 12288, 0, 12_288_000},
		tagged{"192.0.2.1", "to_azure", "primary", "data", "https", 1000, 1, 1000, 0},
		tagged{"192.0.2.1", "azure_internal", "", "data", "ms-sql-s", 3_276_800, 4096, 0, 0},
		tagged{"192.0.2.1", "unknown", "", "control_plane", "bgp", 409_600, 4096, 0, 0},
	)
	bgpEvent := batch.ResourceLogs().AppendEmpty().ScopeLogs().AppendEmpty().LogRecords().AppendEmpty()
	bgpEvent.Attributes().PutStr("bgp.event", "withdraw")
	require.NoError(t, c.ConsumeLogs(context.Background(), batch))
	require.NoError(t, c.Shutdown(context.Background()))

	mds := sink.AllMetrics()
	require.Len(t, mds, 1, "one emission at shutdown")
	https := map[string]any{"flow.direction": "to_azure", "flow.link": "primary", "flow.class": "data", "flow.service": "https", "flow.exporter.address": "192.0.2.1"}
	v, ok := point(t, mds, "flow.io.bytes", https)
	assert.True(t, ok)
	assert.Equal(t, int64(6_145_000), v, "two records of one series add up")
	v, _ = point(t, mds, "flow.to_azure.io.bytes", https)
	assert.Equal(t, int64(6_145_000), v)
	v, _ = point(t, mds, "flow.io.packets", https)
	assert.Equal(t, int64(8193), v)

	from := map[string]any{"flow.direction": "from_azure", "flow.link": "primary", "flow.class": "data", "flow.service": "https", "flow.exporter.address": "192.0.2.1"}
	v, _ = point(t, mds, "flow.from_azure.io.bytes", from)
	assert.Equal(t, int64(12_288_000), v)

	cp := map[string]any{"flow.direction": "unknown", "flow.class": "control_plane", "flow.service": "bgp", "flow.exporter.address": "192.0.2.1"}
	v, ok = point(t, mds, "flow.io.bytes", cp)
	assert.True(t, ok, "absent dimensions (flow.link) are left out of the point")
	assert.Equal(t, int64(409_600), v)
	_, ok = point(t, mds, "flow.to_azure.io.bytes", cp)
	assert.False(t, ok, "no to_azure point for a series whose records carry none")

	metadatatest.AssertEqualConnectorFlowmetricsRecords(t, tt, []metricdata.DataPoint[int64]{
		{Value: 5, Attributes: attribute.NewSet(attribute.String("outcome", "counted"))},
		{Value: 1, Attributes: attribute.NewSet(attribute.String("outcome", "not_flow"))},
	}, metricdatatest.IgnoreTimestamp())
}

func TestSeriesCapAndOverflow(t *testing.T) {
	tt := componenttest.NewTelemetry()
	t.Cleanup(func() { require.NoError(t, tt.Shutdown(context.Background())) })
	cfg := &Config{Interval: time.Hour, MaxSeries: 2, Dimensions: []string{schema.FlowService}}
	c, sink := newTestConnector(t, cfg, tt)
	require.NoError(t, c.ConsumeLogs(context.Background(), logsOf(
		tagged{service: "https", dir: "unknown", bytes: 1},
		tagged{service: "ssh", dir: "unknown", bytes: 2},
		tagged{service: "rdp", dir: "unknown", bytes: 4},
		tagged{service: "smb", dir: "unknown", bytes: 8},
		tagged{service: "https", dir: "unknown", bytes: 16},
	)))
	require.NoError(t, c.Shutdown(context.Background()))
	mds := sink.AllMetrics()
	v, _ := point(t, mds, "flow.io.bytes", map[string]any{"flow.service": "https"})
	assert.Equal(t, int64(17), v)
	v, ok := point(t, mds, "flow.io.bytes", map[string]any{"otel.metric.overflow": true})
	assert.True(t, ok)
	assert.Equal(t, int64(12), v, "rdp and smb went to the overflow series: nothing is lost")
	metadatatest.AssertEqualConnectorFlowmetricsRecords(t, tt, []metricdata.DataPoint[int64]{
		{Value: 3, Attributes: attribute.NewSet(attribute.String("outcome", "counted"))},
		{Value: 2, Attributes: attribute.NewSet(attribute.String("outcome", "overflow"))},
	}, metricdatatest.IgnoreTimestamp())
}

func TestEmitsEveryIntervalAsDeltas(t *testing.T) {
	cfg := &Config{Interval: time.Second, MaxSeries: 10, Dimensions: []string{schema.FlowDirection}}
	c, sink := newTestConnector(t, cfg, componenttest.NewTelemetry())
	require.NoError(t, c.ConsumeLogs(context.Background(), logsOf(tagged{dir: "to_azure", bytes: 100, to: 100})))
	require.Eventually(t, func() bool { return sink.DataPointCount() > 0 }, 10*time.Second, 50*time.Millisecond)
	require.NoError(t, c.ConsumeLogs(context.Background(), logsOf(tagged{dir: "to_azure", bytes: 7, to: 7})))
	require.NoError(t, c.Shutdown(context.Background()))
	mds := sink.AllMetrics()
	require.GreaterOrEqual(t, len(mds), 2)
	first, _ := point(t, mds[:1], "flow.io.bytes", map[string]any{"flow.direction": "to_azure"})
	rest, _ := point(t, mds[1:], "flow.io.bytes", map[string]any{"flow.direction": "to_azure"})
	assert.Equal(t, int64(100), first)
	assert.Equal(t, int64(7), rest, "the second interval carries only its own delta")
	dp := mds[1].ResourceMetrics().At(0).ScopeMetrics().At(0).Metrics().At(0).Sum().DataPoints().At(0)
	prev := mds[0].ResourceMetrics().At(0).ScopeMetrics().At(0).Metrics().At(0).Sum().DataPoints().At(0)
	assert.Equal(t, prev.Timestamp(), dp.StartTimestamp(), "intervals are contiguous")
}

func BenchmarkConsumeLogs(b *testing.B) {
	cfg := createDefaultConfig()
	cfg.Interval = time.Hour
	conn, err := newConnector(metadatatest.NewSettings(componenttest.NewTelemetry()), cfg, &consumertest.MetricsSink{})
	require.NoError(b, err)
	ld := plog.NewLogs()
	rl := ld.ResourceLogs().AppendEmpty()
	rl.Resource().Attributes().PutStr(schema.FlowExporterAddress, "192.0.2.1")
	lrs := rl.ScopeLogs().AppendEmpty().LogRecords()
	src := logsOf(
		tagged{"192.0.2.1", "to_azure", "primary", "data", "https", 1500, 1, 1500, 0},
		tagged{"192.0.2.1", "from_azure", "secondary", "data", "ssh", 3000, 2, 0, 3000},
	)
	for i := 0; i < 1000; i++ {
		src.ResourceLogs().At(i % 2).ScopeLogs().At(0).LogRecords().At(0).CopyTo(lrs.AppendEmpty())
	}
	b.ReportAllocs()
	for b.Loop() {
		_ = conn.ConsumeLogs(context.Background(), ld)
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N)/1000, "ns/record")
}
