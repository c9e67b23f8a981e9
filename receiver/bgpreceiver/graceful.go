package bgpreceiver

import (
	"maps"
	"slices"
	"time"

	"github.com/erviz/otelcol-erviz/pkg/rib"
	"github.com/erviz/otelcol-erviz/receiver/bgpreceiver/internal/event"
)

// staleTime bounds how long the stale routes of a restarted peer wait for its End-of-RIB
// once its session is back (RFC 4724 leaves the value local; 360 s is the usual one).
const staleTime = 360 * time.Second

// Reasons of the withdrawals the receiver makes itself (bgp.event.reason).
const (
	reasonPeerDown = "peer_down"
	reasonStale    = "stale"
)

// restart is the graceful restart (RFC 4724, receiving speaker) of one of the speaker's
// peers: the session went down without NOTIFICATION, the peer's routes are kept as stale.
// Only the RIB goroutine touches it.
type restart struct {
	// stale: the routes of the peer kept at the down and not announced or withdrawn since.
	stale map[rib.PathKey]struct{}
	// down: the session is not back yet (the restart timer runs); else the stale routes wait
	// for the End-of-RIB of the families in waiting (the stale timer runs).
	down    bool
	waiting map[string]bool
	// gen tells the current timer from earlier ones; timer is the running one.
	gen   uint64
	timer *time.Timer
}

// restartTimer: the restart or stale timer of a graceful restart ran out; gen tells the
// current timer from earlier ones.
type restartTimer struct {
	event.Header
	gen uint64
}

// arm starts the restart's timer: after d a restartTimer of this generation is queued.
func (r *bgpReceiver) arm(g *restart, peer rib.Peer, d time.Duration) {
	if g.timer != nil {
		g.timer.Stop()
	}
	g.gen++
	gen := g.gen
	g.timer = time.AfterFunc(d, func() {
		r.enqueue(&restartTimer{Header: event.Header{Time: time.Now(), Peer: peer}, gen: gen})
	})
}

func (r *bgpReceiver) endRestart(peer rib.Peer) {
	if g := r.restarts[peer]; g != nil {
		if g.timer != nil {
			g.timer.Stop()
		}
		delete(r.restarts, peer)
	}
}

// gracefulDown keeps the routes of a peer whose session went down without NOTIFICATION as
// stale, those of the families its capability named; the others are withdrawn now.
func (r *bgpReceiver) gracefulDown(e *event.PeerDown) {
	g := r.restarts[e.Peer]
	if g == nil {
		g = &restart{}
		r.restarts[e.Peer] = g
	}
	g.down, g.waiting = true, nil
	g.stale = map[rib.PathKey]struct{}{}
	for _, k := range r.rib.AppendPeerPaths(nil, e.Peer) {
		if _, ok := e.GracefulFamilies[familyName(rib.FamilyOf(k.Prefix))]; ok {
			g.stale[k] = struct{}{}
		} else {
			r.withdraw(&e.Header, event.PolicyUnknown, k.Prefix, k.ID, reasonPeerDown)
		}
	}
	r.arm(g, e.Peer, e.RestartTime)
}

// restartUp: the session of a restarting peer is back. The stale routes of the families the
// new OPEN does not name with the Forwarding State bit are withdrawn now; the others wait
// for the family's End-of-RIB (at most staleTime).
func (r *bgpReceiver) restartUp(e *event.PeerUp, g *restart) {
	g.down = false
	g.waiting = map[string]bool{}
	for _, k := range r.sortedStale(g) {
		fam := familyName(rib.FamilyOf(k.Prefix))
		if e.GracefulFamilies[fam] {
			g.waiting[fam] = true
			continue
		}
		delete(g.stale, k)
		r.withdraw(&e.Header, event.PolicyUnknown, k.Prefix, k.ID, reasonStale)
	}
	if len(g.stale) == 0 {
		r.endRestart(e.Peer)
		return
	}
	r.arm(g, e.Peer, r.staleTime)
}

// endOfRIB withdraws the stale routes of family that the peer did not announce again.
func (r *bgpReceiver) endOfRIB(e *event.Update, g *restart, family string) {
	if g.down || !g.waiting[family] {
		return
	}
	delete(g.waiting, family)
	for _, k := range r.sortedStale(g) {
		if familyName(rib.FamilyOf(k.Prefix)) == family {
			delete(g.stale, k)
			r.withdraw(&e.Header, e.Policy, k.Prefix, k.ID, reasonStale)
		}
	}
	if len(g.waiting) == 0 || len(g.stale) == 0 {
		r.endRestart(e.Peer)
	}
}

// restartTimer: the peer is not back within its restart time (its routes go as with any
// session down), or its End-of-RIB did not come within staleTime (the stale routes go).
func (r *bgpReceiver) restartTimerRanOut(e *restartTimer) {
	g := r.restarts[e.Peer]
	if g == nil || g.gen != e.gen {
		return
	}
	if g.down {
		r.endRestart(e.Peer)
		r.rib.PeerDown(e.Time, e.Peer)
		return
	}
	for _, k := range r.sortedStale(g) {
		r.withdraw(&e.Header, event.PolicyUnknown, k.Prefix, k.ID, reasonStale)
	}
	r.endRestart(e.Peer)
}

// sortedStale lists the stale routes in a stable order (prefix, then path ID), for
// reproducible event order.
func (r *bgpReceiver) sortedStale(g *restart) []rib.PathKey {
	return slices.SortedFunc(maps.Keys(g.stale), func(a, b rib.PathKey) int {
		if c := a.Prefix.Addr().Compare(b.Prefix.Addr()); c != 0 {
			return c
		}
		if a.Prefix.Bits() != b.Prefix.Bits() {
			return a.Prefix.Bits() - b.Prefix.Bits()
		}
		return int(a.ID) - int(b.ID)
	})
}

// stopRestarts stops the timers once the RIB goroutine ended.
func (r *bgpReceiver) stopRestarts() {
	for p := range r.restarts {
		r.endRestart(p)
	}
}
