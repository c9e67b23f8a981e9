package flowrollupconnector

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/component/componenttest"
	"go.opentelemetry.io/collector/consumer/consumertest"
	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/plog"
	"go.opentelemetry.io/otel/sdk/metric/metricdata"

	"github.com/erviz/otelcol-erviz/connector/flowrollupconnector/internal/metadatatest"
)

var t0 = time.Date(2026, 11, 22, 5, 10, 0, 0, time.UTC)

func flows(n, sources int) plog.Logs {
	ld := plog.NewLogs()
	rl := ld.ResourceLogs().AppendEmpty()
	rl.Resource().Attributes().PutStr("flow.exporter.address", "192.0.2.1")
	sl := rl.ScopeLogs().AppendEmpty()
	for i := range n {
		lr := sl.LogRecords().AppendEmpty()
		lr.SetTimestamp(pcommon.NewTimestampFromTime(t0.Add(time.Duration(i) * time.Millisecond)))
		_ = lr.Attributes().FromRaw(map[string]any{
			"flow.type": "ipfix", "source.address": fmt.Sprintf("192.168.1.%d", i%sources), "source.port": 40000 + i,
			"destination.address": "10.1.0.4", "destination.port": 443, "flow.server.port": 443,
			"network.transport": "tcp", "flow.direction": "to_azure", "flow.observation.point": "edge-a",
			"flow.counted": true, "flow.io.bytes": 1000, "flow.io.packets": 2,
		})
	}
	sl.LogRecords().AppendEmpty().Attributes().PutStr("bgp.event", "bgp.peer.up")
	return ld
}

func TestRollupOnShutdown(t *testing.T) {
	tt := componenttest.NewTelemetry()
	defer func() { require.NoError(t, tt.Shutdown(context.Background())) }()
	sink := &consumertest.LogsSink{}
	cfg := createDefaultConfig()
	cfg.Interval = time.Hour // the test flushes through Shutdown, not the ticker
	cfg.MaxSeries = 3
	c, err := NewFactory().CreateLogsToLogs(context.Background(), metadatatest.NewSettings(tt), cfg, sink)
	require.NoError(t, err)
	require.NoError(t, c.Start(context.Background(), componenttest.NewNopHost()))
	require.NoError(t, c.ConsumeLogs(context.Background(), flows(1000, 5)))
	require.NoError(t, c.Shutdown(context.Background()))

	require.Len(t, sink.AllLogs(), 1)
	lrs := sink.AllLogs()[0].ResourceLogs().At(0).ScopeLogs().At(0).LogRecords()
	require.Equal(t, 4, lrs.Len(), "3 series and the overflow row")
	var bytes, flowsN int64
	for _, lr := range lrs.All() {
		a := lr.Attributes().AsRaw()
		bytes += a["flow.io.bytes"].(int64)
		flowsN += a["flow.rollup.flows"].(int64)
		require.EqualValues(t, 3600, a["flow.rollup.interval"])
		if a["flow.rollup.overflow"] == nil {
			require.Equal(t, "edge-a", a["flow.observation.point"])
			require.Equal(t, true, a["flow.counted"])
			require.EqualValues(t, 443, a["flow.server.port"])
			require.Equal(t, t0.Truncate(time.Hour), lr.Timestamp().AsTime())
			require.EqualValues(t, 200, a["flow.rollup.flows"])
		}
	}
	require.EqualValues(t, 1000*1000, bytes, "no byte lost, overflow included")
	require.EqualValues(t, 1000, flowsN)
	counts := map[string]int64{}
	m, err := tt.GetMetric("otelcol_connector_flowrollup_records")
	require.NoError(t, err)
	for _, dp := range m.Data.(metricdata.Sum[int64]).DataPoints {
		v, _ := dp.Attributes.Value("outcome")
		counts[v.AsString()] += dp.Value
	}
	require.Equal(t, map[string]int64{"counted": 600, "overflow": 400, "not_flow": 1}, counts)
}
