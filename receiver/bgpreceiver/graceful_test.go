package bgpreceiver

import (
	"net/netip"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/consumer/consumertest"
	"go.opentelemetry.io/collector/pdata/plog"
	"go.opentelemetry.io/collector/receiver/receivertest"

	"github.com/erviz/otelcol-erviz/internal/schema"
	"github.com/erviz/otelcol-erviz/pkg/rib"
	"github.com/erviz/otelcol-erviz/receiver/bgpreceiver/internal/bgpconv"
	"github.com/erviz/otelcol-erviz/receiver/bgpreceiver/internal/event"
	"github.com/erviz/otelcol-erviz/receiver/bgpreceiver/internal/metadata"
)

// grHarness drives the RIB goroutine's handle directly: no speaker, no timers waited for.
type grHarness struct {
	t    *testing.T
	r    *bgpReceiver
	sink *consumertest.LogsSink
	peer rib.Peer
	now  time.Time
}

func newGRHarness(t *testing.T) *grHarness {
	cfg := baseConfig()
	r, err := newReceiver(receivertest.NewNopSettings(metadata.Type), cfg)
	require.NoError(t, err)
	h := &grHarness{t: t, r: r, sink: new(consumertest.LogsSink), now: time.Now(),
		peer: rib.Peer{Kind: rib.SourceBGP, Addr: netip.MustParseAddr("192.0.2.9"), ASN: 65009}}
	r.nextLogs = h.sink
	r.queue, r.done = make(chan event.Event, 16), make(chan struct{})
	r.newBatch()
	t.Cleanup(r.stopRestarts)
	return h
}

func (h *grHarness) do(e event.Event) {
	h.now = h.now.Add(time.Second)
	e.Head().Time, e.Head().Peer = h.now, h.peer
	h.r.handle(e)
	h.r.flush()
}

func path(pfx string, path ...uint32) rib.Path {
	return rib.Path{Prefix: netip.MustParsePrefix(pfx), NextHop: netip.MustParseAddr("192.0.2.9"), ASPath: rib.Seq(path...)}
}

func (h *grHarness) announce(paths ...rib.Path) {
	h.do(&event.Update{Update: bgpconv.Update{Announced: paths}, Policy: event.PostPolicy})
}

func (h *grHarness) eor(family string) {
	h.do(&event.Update{Update: bgpconv.Update{EndOfRIB: true, EndOfRIBFamily: family}})
}

var v4only = map[string]bool{"ipv4_unicast": true}

func (h *grHarness) gracefulDown() {
	h.do(&event.PeerDown{State: "idle", Reason: "connection-closed", Graceful: event.Graceful{GracefulRestart: true, RestartTime: 30 * time.Second,
		GracefulFamilies: map[string]bool{"ipv4_unicast": false, "ipv6_unicast": false}}})
}

func (h *grHarness) withdrawals(kv ...string) []plog.LogRecord {
	return find(h.sink, append([]string{schema.BGPEvent, schema.BGPEventWithdraw}, kv...)...)
}

func (h *grHarness) timer() {
	g := h.r.restarts[h.peer]
	require.NotNil(h.t, g)
	h.do(&restartTimer{gen: g.gen})
}

func (h *grHarness) setup() {
	h.do(&event.PeerUp{State: "established"})
	h.announce(path("10.1.0.0/24", 65009), path("10.2.0.0/24", 65009), path("2001:db8:9::/48", 65009))
}

// TestGracefulRestartStaleTimer: the peer is back with the Forwarding State bit for IPv4
// only: its IPv6 routes go at once; an IPv4 route announced again with other attributes is
// an announcement; without End-of-RIB, the stale timer sweeps the rest. A timer of an
// earlier generation does nothing.
func TestGracefulRestartStaleTimer(t *testing.T) {
	h := newGRHarness(t)
	h.setup()
	h.gracefulDown()
	assert.Empty(t, h.withdrawals())
	g := h.r.restarts[h.peer]
	require.NotNil(t, g)
	assert.Len(t, g.stale, 3)
	old := g.gen
	assert.Equal(t, 1, h.r.rib.Stats().Prefixes6)

	h.do(&event.PeerUp{State: "established", Graceful: event.Graceful{GracefulRestart: true, RestartTime: 30 * time.Second, GracefulFamilies: v4only}})
	w := h.withdrawals(schema.BGPPrefix, "2001:db8:9::/48", schema.BGPEventReason, "stale")
	assert.Len(t, w, 1, "no Forwarding State for IPv6: withdrawn at the peer up")
	h.announce(path("10.1.0.0/24", 65009, 65100))
	assert.Len(t, find(h.sink, schema.BGPEvent, schema.BGPEventAnnounce, schema.BGPPrefix, "10.1.0.0/24"), 2, "a changed route is announced")
	h.do(&restartTimer{gen: old})
	assert.Len(t, h.withdrawals(), 1, "an earlier timer does nothing")
	h.eor("ipv6_unicast") // no IPv6 route waits: nothing
	assert.Len(t, h.withdrawals(), 1)
	h.timer()
	assert.Len(t, h.withdrawals(schema.BGPPrefix, "10.2.0.0/24", schema.BGPEventReason, "stale"), 1)
	assert.Len(t, h.withdrawals(), 2)
	assert.Nil(t, h.r.restarts[h.peer], "the restart is over")
	assert.Len(t, h.r.rib.Routes(netip.MustParsePrefix("10.1.0.0/24")), 1)
}

// TestGracefulRestartNoCapabilityOnUp: back without the capability, all the stale routes go
// at the peer up; the RIB counted no session down.
func TestGracefulRestartNoCapabilityOnUp(t *testing.T) {
	h := newGRHarness(t)
	h.setup()
	h.gracefulDown()
	h.do(&event.PeerUp{State: "established"})
	assert.Len(t, h.withdrawals(schema.BGPEventReason, "stale"), 3)
	assert.Nil(t, h.r.restarts[h.peer])
	ps, ok := h.r.rib.PeerStats(h.peer)
	require.True(t, ok)
	assert.Zero(t, ps.Downs)
	assert.True(t, ps.Up)
}

// TestGracefulRestartExpires: not back within the restart time, the RIB takes the session
// down: its routes are withdrawn with reason peer_down, and a session down is counted.
func TestGracefulRestartExpires(t *testing.T) {
	h := newGRHarness(t)
	h.setup()
	h.gracefulDown()
	h.timer()
	assert.Len(t, h.withdrawals(schema.BGPEventReason, "peer_down"), 3)
	assert.Nil(t, h.r.restarts[h.peer])
	ps, _ := h.r.rib.PeerStats(h.peer)
	assert.EqualValues(t, 1, ps.Downs)
}

// TestGracefulRestartDownAgain: down with a NOTIFICATION before the End-of-RIB, the stale
// routes go with the others (peer_down); after the End-of-RIB an unchanged route announced
// again made no record.
func TestGracefulRestartDownAgain(t *testing.T) {
	h := newGRHarness(t)
	h.setup()
	h.gracefulDown()
	h.do(&event.PeerUp{State: "established", Graceful: event.Graceful{GracefulRestart: true, GracefulFamilies: map[string]bool{"ipv4_unicast": true, "ipv6_unicast": true}}})
	h.announce(path("10.1.0.0/24", 65009))
	assert.Len(t, find(h.sink, schema.BGPEvent, schema.BGPEventAnnounce, schema.BGPPrefix, "10.1.0.0/24"), 1, "unchanged: no record")
	h.eor("ipv4_unicast")
	assert.Len(t, h.withdrawals(schema.BGPPrefix, "10.2.0.0/24", schema.BGPEventReason, "stale"), 1)
	require.NotNil(t, h.r.restarts[h.peer], "IPv6 still waits")
	h.do(&event.PeerDown{State: "idle", Reason: "notification-received", Notification: event.NotificationOf(6, 4)})
	assert.Nil(t, h.r.restarts[h.peer])
	assert.Len(t, h.withdrawals(schema.BGPEventReason, "peer_down"), 2, "10.1.0.0/24 and the stale IPv6 route")
}
