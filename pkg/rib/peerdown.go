package rib

import (
	"net/netip"
	"slices"
)

// peerDownChunk is the number of prefixes a session down handles per hold of the exclusive
// lock: look-ups wait for at most one chunk, not for the whole table of the peer.
const peerDownChunk = 32

// removePeer removes every path of ps (PeerDown). It is called with r.mu held and returns
// with it held, but releases it meanwhile: the prefixes holding the peer's paths are found
// under the shared lock, then handled a chunk at a time under the exclusive lock, so that
// look-ups between two chunks go on (they see the peer's paths partly removed). The RIB's
// changes come from one goroutine in the receiver; should another goroutine announce a path
// of the peer meanwhile, a last pass under the exclusive lock removes it too.
func (r *RIB) removePeer(t int64, ps *peerState, peer Peer) {
	r.mu.Unlock()
	r.mu.RLock()
	pfxs := make([]netip.Prefix, 0, ps.routes)
	n := 0
	for pfx, e := range r.table.All() {
		if n >= ps.routes {
			break
		}
		if c := countPeer(e.routes, ps.idx); c > 0 {
			pfxs = append(pfxs, pfx)
			n += c
		}
	}
	r.mu.RUnlock()

	var removed []route
	for len(pfxs) > 0 {
		chunk := pfxs[:min(peerDownChunk, len(pfxs))]
		pfxs = pfxs[len(chunk):]
		r.mu.Lock()
		for _, pfx := range chunk {
			if e, ok := r.table.Get(pfx); ok && r.removePeerPaths(t, ps, peer, pfx, e, &removed) {
				r.table.Delete(pfx)
			}
		}
		r.mu.Unlock()
	}

	r.mu.Lock()
	if ps.routes > 0 {
		var empty []netip.Prefix
		for pfx, e := range r.table.All() {
			if ps.routes == 0 {
				break
			}
			if r.removePeerPaths(t, ps, peer, pfx, e, &removed) {
				empty = append(empty, pfx)
			}
		}
		for _, pfx := range empty {
			r.table.Delete(pfx)
		}
	}
}

func countPeer(routes []route, idx uint32) int {
	c := 0
	for _, rt := range routes {
		if rt.peer == idx {
			c++
		}
	}
	return c
}

// removePeerPaths removes the paths of ps from e, the entry of pfx, emitting a withdrawal
// for each and running the analyses; it reports whether e is left without paths (the
// caller deletes it from the trie).
func (r *RIB) removePeerPaths(t int64, ps *peerState, peer Peer, pfx netip.Prefix, e *entry, removed *[]route) bool {
	if !slices.ContainsFunc(e.routes, func(rt route) bool { return rt.peer == ps.idx }) {
		return false
	}
	var before snapshot
	var buf [8]uint32
	if r.prefixAnalyses {
		before = r.snap(e.routes, buf[:0])
	}
	*removed = (*removed)[:0]
	fam := FamilyOf(pfx)
	e.routes = slices.DeleteFunc(e.routes, func(rt route) bool {
		if rt.peer != ps.idx {
			return false
		}
		*removed = append(*removed, rt)
		return true
	})
	for _, rt := range *removed {
		r.count(ps, fam, rt.attrs.Class, -1)
		r.emit(Event{Kind: EventWithdraw, Phase: PhaseInstant, Time: timeOf(t), Prefix: pfx, Peer: peer, PathID: rt.id})
	}
	if r.prefixAnalyses {
		r.afterChange(t, pfx, e, before, 0)
	}
	for _, rt := range *removed {
		r.in.releaseAttrs(rt.attrs)
	}
	return len(e.routes) == 0
}
