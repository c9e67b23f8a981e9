package flowmetricsconnector

import (
	"context"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/component/componenttest"
	"go.opentelemetry.io/collector/pdata/plog"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/sdk/metric/metricdata"
	"go.opentelemetry.io/otel/sdk/metric/metricdata/metricdatatest"

	"github.com/erviz/otelcol-erviz/connector/flowmetricsconnector/internal/metadatatest"
	"github.com/erviz/otelcol-erviz/internal/schema"
)

// observed is one conversation's record as seen at one observation point.
func observed(ld plog.Logs, point, kind string, counted *bool, to, from int64) {
	a := ld.ResourceLogs().AppendEmpty().ScopeLogs().AppendEmpty().LogRecords().AppendEmpty().Attributes()
	a.PutStr(schema.FlowType, schema.FlowTypeVNetFlowLog)
	a.PutStr(schema.FlowDirection, schema.FlowDirectionToAzure)
	a.PutInt(schema.FlowIOBytes, to)
	a.PutInt(schema.FlowIOPackets, 1)
	a.PutInt(schema.FlowReverseIOBytes, from)
	a.PutInt(schema.FlowReverseIOPackets, 1)
	a.PutInt(schema.FlowToAzureIOBytes, to)
	a.PutInt(schema.FlowFromAzureIOBytes, from)
	a.PutStr(schema.FlowObservationPoint, point)
	a.PutStr(schema.FlowObservationKind, kind)
	if counted != nil {
		a.PutBool(schema.FlowCounted, *counted)
	}
}

// One conversation (1000 B towards Azure, 3000 B back) seen at the edge, the GatewaySubnet
// and a spoke: the direction sums carry it once, the per-observation view three times.
func TestCountedOnlyAndObservationView(t *testing.T) {
	yes, no := true, false
	batch := func() plog.Logs {
		ld := plog.NewLogs()
		observed(ld, "192.0.2.1/if/1", "edge", &yes, 1000, 3000)
		observed(ld, "/subscriptions/s/.../subnets/gatewaysubnet", "gateway_subnet", &no, 1000, 3000)
		observed(ld, "/subscriptions/s/.../virtualnetworks/vnet-spoke1", "vnet", &no, 1000, 3000)
		return ld
	}
	for _, tc := range []struct {
		countedOnly bool
		want        int64
	}{{true, 1000}, {false, 3000}} {
		tt := componenttest.NewTelemetry()
		cfg := createDefaultConfig()
		cfg.Interval = time.Hour
		cfg.Dimensions = []string{schema.FlowDirection}
		cfg.CountedOnly = tc.countedOnly
		c, sink := newTestConnector(t, cfg, tt)
		require.NoError(t, c.ConsumeLogs(context.Background(), batch()))
		require.NoError(t, c.Shutdown(context.Background()))
		mds := sink.AllMetrics()
		v, _ := point(t, mds, "flow.to_azure.io.bytes", map[string]any{"flow.direction": "to_azure"})
		assert.Equal(t, tc.want, v, "counted_only=%v", tc.countedOnly)
		for _, p := range []struct{ point, kind string }{
			{"192.0.2.1/if/1", "edge"},
			{"/subscriptions/s/.../subnets/gatewaysubnet", "gateway_subnet"},
			{"/subscriptions/s/.../virtualnetworks/vnet-spoke1", "vnet"},
		} {
			v, ok := point(t, mds, "flow.observation.io.bytes", map[string]any{"flow.observation.point": p.point, "flow.observation.kind": p.kind})
			assert.True(t, ok, p.point)
			assert.Equal(t, int64(4000), v, "%s saw 4000 B both ways", p.point)
		}
		if tc.countedOnly {
			metadatatest.AssertEqualConnectorFlowmetricsRecords(t, tt, []metricdata.DataPoint[int64]{
				{Value: 1, Attributes: attribute.NewSet(attribute.String("outcome", "counted"))},
				{Value: 2, Attributes: attribute.NewSet(attribute.String("outcome", "not_counted"))},
			}, metricdatatest.IgnoreTimestamp())
		}
		require.NoError(t, tt.Shutdown(context.Background()))
	}
}

// Records without flow.counted (no sampling processor, or accounting off) are summed.
func TestRecordsWithoutCountedAreSummed(t *testing.T) {
	cfg := createDefaultConfig()
	cfg.Interval = time.Hour
	cfg.Dimensions = []string{schema.FlowDirection}
	cfg.ObservationMetrics = false
	c, sink := newTestConnector(t, cfg, componenttest.NewTelemetry())
	ld := plog.NewLogs()
	observed(ld, "p", "edge", nil, 500, 0)
	require.NoError(t, c.ConsumeLogs(context.Background(), ld))
	require.NoError(t, c.Shutdown(context.Background()))
	v, _ := point(t, sink.AllMetrics(), "flow.to_azure.io.bytes", map[string]any{"flow.direction": "to_azure"})
	assert.Equal(t, int64(500), v)
	_, ok := point(t, sink.AllMetrics(), "flow.observation.io.bytes", map[string]any{"flow.observation.point": "p", "flow.observation.kind": "edge"})
	assert.False(t, ok, "observation_metrics: false emits no per-observation view")
}

// A series idle for an interval continues where its previous point ended, so that
// delta-to-cumulative consumers (the prometheus exporter) keep adding instead of restarting.
func TestIdleSeriesStayContiguous(t *testing.T) {
	cfg := createDefaultConfig()
	cfg.Interval = time.Hour // flushed by hand below
	cfg.Dimensions = []string{schema.FlowDirection}
	c, sink := newTestConnector(t, cfg, componenttest.NewTelemetry())
	yes := true
	batch := func() plog.Logs {
		ld := plog.NewLogs()
		observed(ld, "p", "edge", &yes, 100, 0)
		return ld
	}
	ctx := context.Background()
	require.NoError(t, c.ConsumeLogs(ctx, batch()))
	c.flush(ctx)
	c.flush(ctx) // idle: nothing emitted
	require.NoError(t, c.ConsumeLogs(ctx, batch()))
	c.flush(ctx)
	require.NoError(t, c.Shutdown(ctx))
	mds := sink.AllMetrics()
	require.Len(t, mds, 2)
	for _, name := range []string{"flow.to_azure.io.bytes", "flow.observation.io.bytes"} {
		var ends, starts []int64
		for _, md := range mds {
			ms := md.ResourceMetrics().At(0).ScopeMetrics().At(0).Metrics()
			for i := 0; i < ms.Len(); i++ {
				if ms.At(i).Name() == name {
					dp := ms.At(i).Sum().DataPoints().At(0)
					starts = append(starts, int64(dp.StartTimestamp()))
					ends = append(ends, int64(dp.Timestamp()))
				}
			}
		}
		require.Len(t, starts, 2, name)
		assert.Equal(t, ends[0], starts[1], "%s: the second point starts where the first ended", name)
	}
}
