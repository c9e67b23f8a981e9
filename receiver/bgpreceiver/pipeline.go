package bgpreceiver

// The pipeline: the sources' events go through one queue to the RIB goroutine, which
// applies each to the RIB (one step per kind of event) and turns it and what the RIB
// concluded into log records (records.go).

import (
	"net/netip"
	"time"

	"github.com/erviz/otelcol-erviz/pkg/rib"
	"github.com/erviz/otelcol-erviz/receiver/bgpreceiver/internal/event"
)

// enqueue hands an event to the RIB goroutine, waiting for room: a lost routing event would
// leave the RIB wrong until the peer's next session reset, so the sources wait instead (the
// speaker's session reading pauses, a BMP session's TCP window fills, the MRT reader pauses).
func (r *bgpReceiver) enqueue(e event.Event) {
	if r.closing.Load() {
		return
	}
	select {
	case r.queue <- e:
	case <-r.done:
	}
}

func (r *bgpReceiver) runRIB() {
	defer r.wg.Done()
	tick := time.NewTicker(tickInterval)
	defer tick.Stop()
	for {
		select {
		case e := <-r.queue:
			r.handle(e)
			for n := 0; n < 4096; n++ {
				select {
				case e := <-r.queue:
					r.handle(e)
					continue
				default:
				}
				break
			}
			r.flush()
		case now := <-tick.C:
			r.rib.Tick(now)
			r.forgetIdle(now)
			r.drainRIBEvents()
			r.flush()
		case <-r.done:
			for {
				select {
				case e := <-r.queue:
					r.handle(e)
					continue
				default:
				}
				break
			}
			r.flush()
			return
		}
	}
}

// handle applies one event: the step of its kind, then the records of what the RIB
// concluded. The position of a source that keeps one (MRT) is noted, to be committed once
// the batch is delivered.
func (r *bgpReceiver) handle(e event.Event) {
	h := e.Head()
	if m := h.Mark; m != nil && r.mrt != nil {
		r.replaying = m.Replay
		defer func() {
			r.replaying = false
			r.mrt.Handled(m)
		}()
	}
	switch e := e.(type) {
	case *event.PeerUp:
		r.peerUp(e)
	case *event.PeerDown:
		r.peerDown(e)
	case *event.Update:
		r.update(e)
	case *event.Message:
		r.message(e)
	case *event.Stats:
		r.statsRecords(e)
	case *event.Malformed:
		r.countMalformed(sourceName(e.Peer.Kind))
	case *restartTimer:
		r.restartTimerRanOut(e)
	case *routingStep:
		e.fn()
	}
	r.drainRIBEvents()
	if r.records.Len() >= maxBatch {
		r.flush()
	}
}

// peerUp: a session reached Established. During a graceful restart the RIB still has the
// peer up, and PeerUp changes nothing.
func (r *bgpReceiver) peerUp(e *event.PeerUp) {
	r.rib.PeerUp(e.Time, e.Peer)
	g := r.restarts[e.Peer]
	r.peerUpRecord(e, g)
	if g != nil && g.down {
		r.restartUp(e, g)
	}
	r.routingPeerUp(e)
}

// peerDown: a session ended; a graceful restart keeps the peer's routes as stale.
func (r *bgpReceiver) peerDown(e *event.PeerDown) {
	r.peerDownRecord(e)
	if e.GracefulRestart {
		r.gracefulDown(e)
		return
	}
	r.endRestart(e.Peer) // down again before its End-of-RIB: the stale routes go too
	r.rib.PeerDown(e.Time, e.Peer)
}

// update applies one UPDATE: its withdrawals, then its announcements, then its End-of-RIB.
func (r *bgpReceiver) update(e *event.Update) {
	if e.Peer.Kind != rib.SourceBGP && !e.Dump {
		// One UPDATE the router (BMP) or the MRT writer received; the speaker counts
		// its own sessions' messages.
		r.countMessage(e.Peer, "update", "received")
	}
	var g *restart
	if len(r.restarts) > 0 { // no map lookup per UPDATE when no graceful restart runs
		g = r.restarts[e.Peer]
	}
	for _, w := range e.Withdrawn {
		if g != nil {
			delete(g.stale, rib.PathKey{Prefix: w.Prefix.Masked(), ID: w.ID})
		}
		r.withdraw(&e.Header, e.Policy, w.Prefix, w.ID, "")
	}
	for i := range e.Announced {
		refresh := false
		if g != nil {
			k := rib.PathKey{Prefix: e.Announced[i].Prefix.Masked(), ID: e.Announced[i].ID}
			_, refresh = g.stale[k]
			delete(g.stale, k)
		}
		r.announce(e, &e.Announced[i], refresh)
	}
	if g != nil && e.EndOfRIB {
		r.endOfRIB(e, g, e.EndOfRIBFamily)
	}
	if e.EndOfRIB {
		r.routingEndOfRIB(e)
	}
}

// message: an OPEN, NOTIFICATION, KEEPALIVE... The speaker counts its own sessions'.
func (r *bgpReceiver) message(e *event.Message) {
	if e.Peer.Kind != rib.SourceBGP {
		r.countMessage(e.Peer, e.MessageType, e.Direction)
	}
	r.messageRecord(e)
}

// withdraw withdraws a path; reason (bgp.event.reason) is set for the withdrawals the
// receiver makes itself (stale routes after a graceful restart).
func (r *bgpReceiver) withdraw(h *event.Header, pol event.Policy, p netip.Prefix, id uint32, reason string) {
	r.rib.WithdrawPath(h.Time, h.Peer, p, id)
	r.withdrawRecord(h, pol, p, id, reason)
	r.drainRIBEvents()
}

// announce announces a path. refresh: the path is a stale route of a graceful restart
// announced again; with the same attributes it is no change, and no record is emitted.
func (r *bgpReceiver) announce(e *event.Update, p *rib.Path, refresh bool) {
	attrs, same, err := r.rib.AnnounceAttrs(e.Time, e.Peer, *p)
	if err != nil {
		r.routeRefused(e.Peer, p, err)
		return
	}
	if refresh && same {
		return
	}
	r.announceRecord(e, p, attrs)
	r.drainRIBEvents()
}

func (r *bgpReceiver) countMessage(p rib.Peer, typ, dir string) {
	r.msgMu.Lock()
	r.msgCounts[msgKey{peer: p, typ: typ, dir: dir}]++
	r.msgMu.Unlock()
}
