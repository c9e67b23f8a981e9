package bgpreceiver

import (
	"net/netip"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/pmetric"
	"go.opentelemetry.io/collector/receiver/receivertest"

	"github.com/erviz/otelcol-erviz/pkg/rib"
	"github.com/erviz/otelcol-erviz/receiver/bgpreceiver/internal/event"
	"github.com/erviz/otelcol-erviz/receiver/bgpreceiver/internal/metadata"
)

// TestValidateBMPEndpoint: validate catches an endpoint that would only fail at start.
func TestValidateBMPEndpoint(t *testing.T) {
	for _, tc := range []struct {
		endpoint string
		ok       bool
	}{
		{"nonsense", false},
		{"0.0.0.0", false},
		{"0.0.0.0:port", false},
		{"0.0.0.0:70000", false},
		{"router.example:11019", false},
		{"0.0.0.0:11019", true},
		{"[::1]:11019", true},
		{":11019", true},
		{"localhost:11019", true},
	} {
		cfg := createDefaultConfig()
		cfg.BMP.Endpoint = tc.endpoint
		cfg.BMP.Allowed = []string{"127.0.0.1/32", "::1/128"}
		err := cfg.Validate()
		if tc.ok {
			assert.NoError(t, err, tc.endpoint)
		} else {
			assert.ErrorContains(t, err, "bmp.endpoint", tc.endpoint)
		}
	}
	cfg := createDefaultConfig()
	cfg.BMP.MaxPeers = -1
	assert.Error(t, cfg.Validate())
}

// TestPeerMetricAggregation: with attributes disabled, data points of several peers that
// become identical are merged with the metric's aggregation strategy, in one pass.
func TestPeerMetricAggregation(t *testing.T) {
	now := pcommon.NewTimestampFromTime(pcommon.Timestamp(0).AsTime())
	attrs := []string{"bgp.source", "bgp.family"}
	pm := newPeerMetric(true, metadata.AggregationStrategySum, attrs, 7, "bgp.peer.prefixes", "", "{route}", false, now, now)
	for i, addr := range []string{"192.0.2.1", "192.0.2.2", "192.0.2.3"} {
		pm.record(int64(10*(i+1)), seriesKey{src: "bmp", addr: addr, a: "ipv4_unicast", b: "other"}, "bgp.family", "bgp.route.class")
	}
	pm.record(5, seriesKey{src: "bgp", addr: "192.0.2.9", a: "ipv4_unicast", b: "other"}, "bgp.family", "bgp.route.class")
	ms := pmetric.NewMetricSlice()
	pm.moveTo(ms)
	require.Equal(t, 1, ms.Len())
	dps := ms.At(0).Gauge().DataPoints()
	require.Equal(t, 2, dps.Len())
	assert.Equal(t, int64(60), dps.At(0).IntValue())
	assert.Equal(t, map[string]any{"bgp.source": "bmp", "bgp.family": "ipv4_unicast"}, dps.At(0).Attributes().AsRaw())
	assert.Equal(t, int64(5), dps.At(1).IntValue())

	avg := newPeerMetric(true, metadata.AggregationStrategyAvg, []string{"bgp.source"}, 5, "bgp.peer.state", "", "1", false, now, now)
	avg.record(1, seriesKey{src: "bmp", addr: "a"}, "", "")
	avg.record(0, seriesKey{src: "bmp", addr: "b"}, "", "")
	avg.record(1, seriesKey{src: "bmp", addr: "c"}, "", "")
	ms = pmetric.NewMetricSlice()
	avg.moveTo(ms)
	assert.Equal(t, int64(0), ms.At(0).Gauge().DataPoints().At(0).IntValue(), "integer average of 1, 0, 1")
}

// TestForgetPeerSeries: a BMP peer that went down is forgotten after peer_retention (and the
// adjacency-flap window), and its bgp.peer.* series and message counters go with it.
func TestForgetPeerSeries(t *testing.T) {
	cfg := createDefaultConfig()
	cfg.PeerRetention = time.Minute
	r, err := newReceiver(receivertest.NewNopSettings(metadata.Type), cfg)
	require.NoError(t, err)
	r.newBatch() // the RIB goroutine's batch (the receiver is not started)
	peer := rib.Peer{Kind: rib.SourceBMP, Router: netip.MustParseAddr("192.0.2.1"), Addr: netip.MustParseAddr("10.0.0.1"), ASN: 65001}
	t0 := time.Now()
	r.handle(&event.PeerUp{Header: event.Header{Time: t0, Peer: peer}, State: "established"})
	r.handle(&event.Message{Header: event.Header{Time: t0, Peer: peer}, MessageType: "open", Direction: "received"})
	r.handle(&event.PeerDown{Header: event.Header{Time: t0.Add(time.Second), Peer: peer}, State: "down"})
	series := func() int {
		ps := r.newPeerSeries(0, 0)
		r.recordPeers(ps)
		md := pmetric.NewMetrics()
		ps.appendTo(md, pcommon.NewResource())
		return md.DataPointCount()
	}
	require.Equal(t, 1+1+1+12, series(), "state, flaps, one message count, prefixes per family and class")
	r.forgetIdle(t0.Add(5 * time.Minute))
	require.Len(t, r.rib.Peers(), 1, "kept within the adjacency-flap window (10m)")
	r.forgetIdle(t0.Add(11 * time.Minute))
	require.Empty(t, r.rib.Peers())
	require.Empty(t, r.msgCounts)
	require.Zero(t, series())
}
