package rib

import (
	"net/netip"
	"strings"
)

// Condition is a set of open conditions of a prefix that concern the traffic
// riding it.
type Condition uint8

const (
	// CondRedundancyLost: the prefix is in an open lost-redundancy condition
	// (it had at least MinPaths distinct paths and has fewer now).
	CondRedundancyLost Condition = 1 << iota
	// CondOverlap: the prefix is in an open overlap condition.
	CondOverlap
)

// Match is the best path of the most specific prefix that contains an
// address, as returned by [RIB.Lookup]. Every field is a value or points to
// interned, immutable data: a Match stays valid after the RIB changes, it
// just describes the route as it was at the look-up.
type Match struct {
	// Prefix is the longest-match prefix.
	Prefix netip.Prefix
	// Attrs are the best path's attributes (interned, shared, immutable).
	Attrs *Attrs
	// Peer is the peer the best path was learned from, and PeerLabel its
	// label: the configured name, else the neighbor address (with the
	// router for BMP, "router/address").
	Peer      Peer
	PeerLabel string
	// PathID is the best path's ADD-PATH ID.
	PathID uint32
	// OriginASN is the best path's origin AS (see Route.OriginASN).
	OriginASN uint32
	// Paths is the number of paths of the prefix (all peers).
	Paths int
	// Conditions are the open conditions of the prefix.
	Conditions Condition
}

// Class is the best path's route class.
func (m *Match) Class() Class { return m.Attrs.Class }

// NextHop is the best path's BGP next hop.
func (m *Match) NextHop() netip.Addr { return m.Attrs.NextHop }

// ASPathText is the best path's AS path as text (see ASPath.String), without
// allocating after its first use for a given path.
func (m *Match) ASPathText() string { return m.Attrs.ASPath.Text() }

// NextHopText is the best path's BGP next hop as text ("" when it has none),
// without allocating after its first use for a given attribute set.
func (m *Match) NextHopText() string { return m.Attrs.NextHopText() }

// NextHopText is NextHop.String() ("" for no next hop), computed once per
// interned attribute set and then shared, as ASPath.Text.
func (a *Attrs) NextHopText() string {
	if !a.NextHop.IsValid() {
		return ""
	}
	if s := a.nextHopText.Load(); s != nil {
		return *s
	}
	s := a.NextHop.String()
	a.nextHopText.Store(&s) // concurrent first calls store equal strings
	return s
}

// Text is String, computed once per interned path and then shared: a
// look-up that reports the AS path of a flow does not format it again.
func (a *ASPath) Text() string {
	if s := a.text.Load(); s != nil {
		return *s
	}
	s := a.String()
	a.text.Store(&s) // concurrent first calls store equal strings
	return s
}

// peerLabel is the label of a peer in look-up results.
func peerLabel(p Peer) string {
	if p.Name != "" {
		return p.Name
	}
	if p.Router.IsValid() && p.Kind == SourceBMP {
		var b strings.Builder
		b.WriteString(p.Router.String())
		b.WriteByte('/')
		b.WriteString(p.Addr.String())
		return b.String()
	}
	return p.Addr.String()
}

// Lookup finds the most specific prefix that contains addr and fills m with
// its best path. It reports false, leaving m unchanged, when no prefix
// contains addr. It allocates nothing and holds the RIB's shared lock only
// for the trie descent and the choice among the prefix's paths: a change
// (Announce, Withdraw) holds the exclusive lock for one path, so a look-up
// waits at most for one change. The answer is that of the RIB at the
// instant of the call: there is no cache to go stale.
//
// The best path is chosen among the prefix's paths by the steps of RFC 4271
// 9.1.2.2 that the paths carry: the highest LOCAL_PREF (100 when absent),
// the shortest AS path, the lowest ORIGIN, the lowest MED among paths from
// the same neighbor AS, then the lowest peer address and path ID so that the
// choice is stable. The RIB holds the paths as its peers announced them: a
// router's own preference (a LOCAL_PREF set by its import policy) is seen
// only through BMP post-policy monitoring or iBGP.
func (r *RIB) Lookup(addr netip.Addr, m *Match) bool {
	addr = addr.Unmap()
	if !addr.IsValid() {
		return false
	}
	r.mu.RLock()
	pfx, e, ok := r.table.LookupPrefixLPM(netip.PrefixFrom(addr, addr.BitLen()))
	if !ok || len(e.routes) == 0 {
		r.mu.RUnlock()
		return false
	}
	best := e.routes[0]
	for _, rt := range e.routes[1:] {
		if r.better(rt, best) {
			best = rt
		}
	}
	ps := r.peers[best.peer]
	*m = Match{
		Prefix:     pfx,
		Attrs:      best.attrs,
		Peer:       ps.peer,
		PeerLabel:  ps.label,
		PathID:     best.id,
		OriginASN:  r.originOf(best),
		Paths:      len(e.routes),
		Conditions: e.cond,
	}
	r.mu.RUnlock()
	return true
}

// markCondition records in the entry of pfx that condition c opened or closed, so that a
// look-up reads it without a map access. A prefix whose entry is gone (its last path
// withdrawn) has no open condition.
func (r *RIB) markCondition(pfx netip.Prefix, c Condition, open bool) {
	e, ok := r.table.Get(pfx)
	if !ok {
		return
	}
	if open {
		e.cond |= c
	} else {
		e.cond &^= c
	}
}

func localPref(a *Attrs) uint32 {
	if a.HasLocalPref {
		return a.LocalPref
	}
	return 100
}

// neighborAS is the first AS of the path (the neighbor that announced it),
// or the peer's ASN for an empty path.
func (r *RIB) neighborAS(rt route) uint32 {
	for _, s := range rt.attrs.ASPath.Segments {
		if s.Type == SegmentSequence && len(s.ASNs) > 0 {
			return s.ASNs[0]
		}
	}
	return r.peers[rt.peer].peer.ASN
}

// better reports whether path a is preferred over path b (see Lookup).
func (r *RIB) better(a, b route) bool {
	x, y := a.attrs, b.attrs
	if lx, ly := localPref(x), localPref(y); lx != ly {
		return lx > ly
	}
	if lx, ly := x.ASPath.Length, y.ASPath.Length; lx != ly {
		return lx < ly
	}
	if x.Origin != y.Origin {
		return x.Origin < y.Origin
	}
	if x.HasMED && y.HasMED && x.MED != y.MED && r.neighborAS(a) == r.neighborAS(b) {
		return x.MED < y.MED
	}
	if c := r.peers[a.peer].peer.Addr.Compare(r.peers[b.peer].peer.Addr); c != 0 {
		return c < 0
	}
	if a.peer != b.peer {
		return a.peer < b.peer
	}
	return a.id < b.id
}
