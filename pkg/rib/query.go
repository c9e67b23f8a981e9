package rib

import (
	"net/netip"
	"slices"
	"time"
)

// The read side of the RIB: look-ups by address and prefix, walks and counts. Each holds
// the shared lock only (see the package doc, Concurrency).

func (r *RIB) routesOf(pfx netip.Prefix, e *entry) []Route {
	return r.appendRoutes(make([]Route, 0, len(e.routes)), pfx, e)
}

func (r *RIB) appendRoutes(dst []Route, pfx netip.Prefix, e *entry) []Route {
	for _, rt := range e.routes {
		dst = append(dst, Route{Peer: r.peers[rt.peer].peer, Prefix: pfx, ID: rt.id, Attrs: rt.attrs})
	}
	return dst
}

// LongestMatch returns the most specific prefix containing addr and its
// paths.
func (r *RIB) LongestMatch(addr netip.Addr) (netip.Prefix, []Route, bool) {
	pfx, routes, ok := r.AppendLongestMatch(nil, addr)
	return pfx, routes, ok
}

// AppendLongestMatch is LongestMatch appending the paths to dst, for callers
// that reuse a buffer (no allocation once dst is large enough).
func (r *RIB) AppendLongestMatch(dst []Route, addr netip.Addr) (netip.Prefix, []Route, bool) {
	addr = addr.Unmap()
	if !addr.IsValid() {
		return netip.Prefix{}, dst, false
	}
	r.mu.RLock()
	pfx, e, ok := r.table.LookupPrefixLPM(netip.PrefixFrom(addr, addr.BitLen()))
	if ok {
		dst = r.appendRoutes(dst, pfx, e)
	}
	r.mu.RUnlock()
	return pfx, dst, ok
}

// Routes returns the paths of exactly prefix (nil when none).
func (r *RIB) Routes(prefix netip.Prefix) []Route {
	pfx, ok := canonical(prefix)
	if !ok {
		return nil
	}
	r.mu.RLock()
	defer r.mu.RUnlock()
	e, ok := r.table.Get(pfx)
	if !ok {
		return nil
	}
	return r.routesOf(pfx, e)
}

// Overlaps returns the prefixes present in the RIB that contain prefix
// (supernets, least specific first) or that it contains (subnets, in
// address order), prefix itself excluded. The cost is proportional to the
// depth of the trie plus the number of results.
func (r *RIB) Overlaps(prefix netip.Prefix) []netip.Prefix {
	return r.AppendOverlaps(nil, prefix)
}

// AppendOverlaps is Overlaps appending to dst, for callers that reuse a
// buffer.
func (r *RIB) AppendOverlaps(dst []netip.Prefix, prefix netip.Prefix) []netip.Prefix {
	pfx, ok := canonical(prefix)
	if !ok {
		return dst
	}
	r.mu.RLock()
	defer r.mu.RUnlock()
	start := len(dst)
	for q := range r.table.Supernets(pfx) {
		if q != pfx {
			dst = append(dst, q)
		}
	}
	slices.Reverse(dst[start:])
	for q := range r.table.Subnets(pfx) {
		if q != pfx {
			dst = append(dst, q)
		}
	}
	return dst
}

// Walk calls fn for every prefix and its paths, in no particular order,
// until fn returns false. The RIB is read-locked during the walk.
func (r *RIB) Walk(fn func(prefix netip.Prefix, routes []Route) bool) {
	r.mu.RLock()
	defer r.mu.RUnlock()
	for pfx, e := range r.table.All() {
		if !fn(pfx, r.routesOf(pfx, e)) {
			return
		}
	}
}

// PathKey names one path of a peer: its prefix and ADD-PATH ID.
type PathKey struct {
	Prefix netip.Prefix
	ID     uint32
}

// AppendPeerPaths appends the keys of every path of peer to dst, in no particular order
// (a walk of the whole table, stopped once all the peer's paths are found). It changes
// nothing.
func (r *RIB) AppendPeerPaths(dst []PathKey, peer Peer) []PathKey {
	r.mu.RLock()
	defer r.mu.RUnlock()
	ps := r.peer(peer, 0, false)
	if ps == nil || ps.routes == 0 {
		return dst
	}
	n := 0
	for pfx, e := range r.table.All() {
		for _, rt := range e.routes {
			if rt.peer == ps.idx {
				dst = append(dst, PathKey{Prefix: pfx, ID: rt.id})
				n++
			}
		}
		if n == ps.routes {
			break
		}
	}
	return dst
}

// Stats are RIB-wide counts.
type Stats struct {
	Prefixes4, Prefixes6 int
	// Paths is the number of paths (routes) over all peers.
	Paths int
	// PathsByClass counts paths per family and class.
	PathsByClass [NumFamilies][NumClasses]int
	Peers        int
	Intern       InternStats
}

// Prefixes is the number of distinct prefixes.
func (s Stats) Prefixes() int { return s.Prefixes4 + s.Prefixes6 }

// Stats returns the RIB-wide counts.
func (r *RIB) Stats() Stats {
	r.mu.RLock()
	defer r.mu.RUnlock()
	return Stats{
		Prefixes4:    r.table.Size4(),
		Prefixes6:    r.table.Size6(),
		Paths:        r.paths,
		PathsByClass: r.byClass,
		Peers:        len(r.peers),
		Intern:       r.in.stats(),
	}
}

// PeerStats are one peer's counts.
type PeerStats struct {
	Peer Peer
	Up   bool
	// Since is the last time the peer went up or down.
	Since time.Time
	// Downs counts session downs (PeerDown calls).
	Downs uint64
	// Routes is the peer's number of paths.
	Routes int
	// Counts is the number of paths per family and class.
	Counts [NumFamilies][NumClasses]int
}

func (r *RIB) peerStats(ps *peerState) PeerStats {
	return PeerStats{Peer: ps.peer, Up: ps.up, Since: timeOf(ps.since), Downs: ps.downs, Routes: ps.routes, Counts: ps.counts}
}

// Peers returns the counts of every peer known (seen and not forgotten,
// see ForgetPeers).
func (r *RIB) Peers() []PeerStats {
	r.mu.RLock()
	defer r.mu.RUnlock()
	out := make([]PeerStats, 0, len(r.peerIdx))
	for _, ps := range r.peers {
		if ps != nil {
			out = append(out, r.peerStats(ps))
		}
	}
	return out
}

// PeerStats returns one peer's counts.
func (r *RIB) PeerStats(peer Peer) (PeerStats, bool) {
	r.mu.RLock()
	defer r.mu.RUnlock()
	ps := r.peer(peer, 0, false)
	if ps == nil {
		return PeerStats{}, false
	}
	return r.peerStats(ps), true
}

// Active returns the number of open conditions per analysis.
func (r *RIB) Active() Active {
	r.mu.RLock()
	defer r.mu.RUnlock()
	return r.active
}
