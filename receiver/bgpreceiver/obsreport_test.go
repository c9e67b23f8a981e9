package bgpreceiver

import (
	"context"
	"errors"
	"net/netip"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/component/componenttest"
	"go.opentelemetry.io/collector/consumer/consumertest"
	"go.opentelemetry.io/otel/sdk/metric/metricdata"

	"github.com/erviz/otelcol-erviz/pkg/rib"
	"github.com/erviz/otelcol-erviz/receiver/bgpreceiver/internal/event"
	"github.com/erviz/otelcol-erviz/receiver/bgpreceiver/internal/metadatatest"
)

// TestFlushRefusedObsreport: a batch the next consumer refuses is counted as refused log
// records in the collector's own receiver telemetry, and an accepted one as accepted.
func TestFlushRefusedObsreport(t *testing.T) {
	tt := componenttest.NewTelemetry()
	t.Cleanup(func() { require.NoError(t, tt.Shutdown(context.Background())) })
	r, err := newReceiver(metadatatest.NewSettings(tt), baseConfig())
	require.NoError(t, err)
	r.newBatch()
	peer := rib.Peer{Kind: rib.SourceBGP, Addr: netip.MustParseAddr("192.0.2.9"), ASN: 65009}
	up := func() {
		r.handle(&event.PeerUp{Header: event.Header{Time: time.Now(), Peer: peer}, State: "established"})
	}

	r.nextLogs = consumertest.NewErr(errors.New("refused"))
	up()
	r.flush()
	assert.EqualValues(t, 1, sumOf(t, tt, "otelcol_receiver_refused_log_records"))

	sink := new(consumertest.LogsSink)
	r.nextLogs = sink
	up()
	up()
	r.flush()
	assert.Equal(t, 2, sink.LogRecordCount())
	assert.EqualValues(t, 2, sumOf(t, tt, "otelcol_receiver_accepted_log_records"))
	assert.EqualValues(t, 1, sumOf(t, tt, "otelcol_receiver_refused_log_records"))
}

func sumOf(t *testing.T, tt *componenttest.Telemetry, name string) int64 {
	t.Helper()
	m, err := tt.GetMetric(name)
	require.NoError(t, err)
	var n int64
	for _, dp := range m.Data.(metricdata.Sum[int64]).DataPoints {
		n += dp.Value
	}
	return n
}
