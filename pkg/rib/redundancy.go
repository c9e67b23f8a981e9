package rib

import (
	"net/netip"
	"slices"
)

// RedundancyConfig configures the lost-redundancy analysis.
type RedundancyConfig struct {
	Enabled bool
	// MinPaths is the number of distinct paths a prefix must keep once it
	// has had them (default 2).
	MinPaths int
}

type redundancyState struct {
	start int64
	prev  int
}

// forwardingHop is the next hop used to tell paths apart: the next hop,
// except that a next hop equal to the address of a peer whose ASN is a
// collapse ASN (a Route Server or gateway instance announcing itself as next
// hop) becomes the zero Addr, so that the instances of one Azure service
// count once.
func (r *RIB) forwardingHop(rt route) netip.Addr {
	nh := rt.attrs.NextHop
	p := &r.peers[rt.peer].peer
	if nh == p.Addr && slices.Contains(r.cfg.CollapseASNs, p.ASN) {
		return netip.Addr{}
	}
	return nh
}

// samePath reports whether two routes are the same path for redundancy and
// flap scoring: they have the same forwarding hop. The peer, the path ID,
// the AS path and the other attributes do not matter: two sessions that
// hand over the same next hop give no forwarding redundancy, and comparing
// AS paths would count two paths for a moment each time a change reaches
// the two Route Server instances a few milliseconds apart.
func (r *RIB) samePath(a, b route) bool {
	return r.forwardingHop(a) == r.forwardingHop(b)
}

// distinctPaths counts the routes that are pairwise not samePath.
func (r *RIB) distinctPaths(routes []route) int {
	n := 0
	for i, a := range routes {
		dup := false
		for _, b := range routes[:i] {
			if r.samePath(a, b) {
				dup = true
				break
			}
		}
		if !dup {
			n++
		}
	}
	return n
}

// redundancyUpdate opens the condition when a change takes a prefix from at
// least MinPaths distinct paths to fewer (but not zero), and closes it when
// the prefix is back at MinPaths or has no path at all.
func (r *RIB) redundancyUpdate(t int64, pfx netip.Prefix, routes []route, before, after int) {
	n := r.cfg.Redundancy.MinPaths
	st := r.redundancy[pfx]
	switch {
	case st == nil && before >= n && after < n && after > 0:
		r.redundancy[pfx] = &redundancyState{start: t, prev: before}
		r.markCondition(pfx, CondRedundancyLost, true)
		r.active.LostRedundancy++
		r.emit(Event{
			Kind: EventLostRedundancy, Phase: PhaseStart, Time: timeOf(t), Start: timeOf(t),
			Prefix: pfx, Peers: r.peersOf(routes), Paths: after, Previous: before,
		})
	case st != nil && (after >= n || after == 0):
		delete(r.redundancy, pfx)
		r.markCondition(pfx, CondRedundancyLost, false)
		r.active.LostRedundancy--
		ev := Event{
			Kind: EventLostRedundancy, Phase: PhaseResolved, Time: timeOf(t), Start: timeOf(st.start),
			Duration: durationNS(t - st.start), Prefix: pfx, Peers: r.peersOf(routes), Paths: after, Previous: st.prev,
		}
		if after == 0 {
			ev.Reason = "withdrawn"
		}
		r.emit(ev)
	}
}
