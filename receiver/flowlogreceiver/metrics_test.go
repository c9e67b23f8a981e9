package flowlogreceiver

import (
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/pmetric"

	"github.com/erviz/otelcol-erviz/internal/schema"
	"github.com/erviz/otelcol-erviz/receiver/flowlogreceiver/internal/metadata"
)

// TestStatsMetricsShape: the flowlog.* metrics keep the names, units, kinds and attributes
// the README, docs/operations.md and the Grafana dashboard rely on, one resource per target
// resource (none for problems tied to no resource).
func TestStatsMetricsShape(t *testing.T) {
	start := time.Date(2025, 6, 2, 9, 0, 0, 0, time.UTC)
	now := start.Add(10 * time.Minute)
	s := newStats()
	s.chunk("c/a", 1000, &chunkResult{Resource: testTarget, Tuples: 7, Newest: now.Add(-90 * time.Second), Errors: map[string]int{errKindMalformed: 2}})
	s.chunk("c/b", 500, &chunkResult{Resource: testTarget, Tuples: 3})
	s.error("", errKindList)
	mb := metadata.NewMetricsBuilder(metadata.NewDefaultMetricsBuilderConfig(), receiverSettings(), metadata.WithStartTime(pcommon.NewTimestampFromTime(start)))
	md := s.metrics(mb, now)

	require.Equal(t, 2, md.ResourceMetrics().Len())
	type kind struct {
		typ  pmetric.MetricType
		unit string
	}
	want := map[string]kind{
		schema.FlowLogTuples:    {pmetric.MetricTypeSum, "{tuple}"},
		schema.FlowLogBytesRead: {pmetric.MetricTypeSum, "By"},
		schema.FlowLogBlobs:     {pmetric.MetricTypeGauge, "{blob}"},
		schema.FlowLogLag:       {pmetric.MetricTypeGauge, "s"},
		schema.FlowLogErrors:    {pmetric.MetricTypeSum, "{error}"},
	}
	for i := 0; i < md.ResourceMetrics().Len(); i++ {
		rm := md.ResourceMetrics().At(i)
		attrs := rm.Resource().Attributes().AsRaw()
		assert.Equal(t, schema.CloudProviderAzure, attrs[schema.CloudProvider])
		sm := rm.ScopeMetrics().At(0)
		assert.Equal(t, scopeName, sm.Scope().Name())
		got := map[string]pmetric.Metric{}
		for j := 0; j < sm.Metrics().Len(); j++ {
			m := sm.Metrics().At(j)
			got[m.Name()] = m
			k, ok := want[m.Name()]
			require.True(t, ok, "unexpected metric %s", m.Name())
			assert.Equal(t, k.typ, m.Type(), m.Name())
			assert.Equal(t, k.unit, m.Unit(), m.Name())
			if m.Type() == pmetric.MetricTypeSum {
				assert.True(t, m.Sum().IsMonotonic(), m.Name())
				assert.Equal(t, pmetric.AggregationTemporalityCumulative, m.Sum().AggregationTemporality(), m.Name())
				assert.Equal(t, pcommon.NewTimestampFromTime(start), m.Sum().DataPoints().At(0).StartTimestamp(), m.Name())
			}
		}
		if attrs[schema.CloudResourceID] == nil {
			// Problems tied to no resource: the listing failure.
			require.Contains(t, got, schema.FlowLogErrors)
			dp := got[schema.FlowLogErrors].Sum().DataPoints().At(0)
			assert.Equal(t, errKindList, dp.Attributes().AsRaw()[schema.ErrorType])
			assert.Equal(t, int64(1), dp.IntValue())
			assert.NotContains(t, got, schema.FlowLogLag, "no tuple read for it")
			continue
		}
		assert.Equal(t, testTarget, attrs[schema.CloudResourceID])
		assert.Equal(t, int64(10), got[schema.FlowLogTuples].Sum().DataPoints().At(0).IntValue())
		assert.Equal(t, int64(1500), got[schema.FlowLogBytesRead].Sum().DataPoints().At(0).IntValue())
		assert.Equal(t, int64(2), got[schema.FlowLogBlobs].Gauge().DataPoints().At(0).IntValue())
		assert.InDelta(t, 90.0, got[schema.FlowLogLag].Gauge().DataPoints().At(0).DoubleValue(), 1e-9)
		dp := got[schema.FlowLogErrors].Sum().DataPoints().At(0)
		assert.Equal(t, errKindMalformed, dp.Attributes().AsRaw()[schema.ErrorType])
		assert.Equal(t, int64(2), dp.IntValue())
	}
}

// TestStatsMetricsDisabled: a metric turned off in the configuration is not sent.
func TestStatsMetricsDisabled(t *testing.T) {
	cfg := createDefaultConfig().(*Config)
	cfg.Metrics.FlowlogLag.Enabled = false
	s := newStats()
	now := time.Now()
	s.chunk("c/a", 10, &chunkResult{Resource: testTarget, Tuples: 1, Newest: now})
	md := s.metrics(metadata.NewMetricsBuilder(cfg.MetricsBuilderConfig, receiverSettings()), now)
	_, found := metricTotal(md, schema.FlowLogLag)
	assert.False(t, found)
	tuples, _ := metricTotal(md, schema.FlowLogTuples)
	assert.Equal(t, 1.0, tuples)
}
