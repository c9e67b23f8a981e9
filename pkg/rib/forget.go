package rib

import (
	"errors"
	"net/netip"
	"time"
)

// Errors of Announce when a bound of Config is reached.
var (
	ErrPathLimit     = errors.New("rib: route limit reached")
	ErrPeerPathLimit = errors.New("rib: the peer's route limit reached")
	ErrAttrLimit     = errors.New("rib: attribute memory limit reached")
)

// checkAttrBytes refuses a route whose attribute set is new (just interned) while the
// interned AS paths and communities are over Config.MaxAttrBytes; the set is released.
func (r *RIB) checkAttrBytes(a *Attrs) error {
	if r.cfg.MaxAttrBytes <= 0 || r.in.bytes <= r.cfg.MaxAttrBytes || a.refs > 1 {
		return nil
	}
	r.in.releaseAttrs(a)
	return ErrAttrLimit
}

// addPeer gives ps a slot, reusing one of a forgotten peer first, and its path bound.
func (r *RIB) addPeer(ps *peerState) {
	if r.cfg.PeerPathLimit != nil {
		ps.limit = r.cfg.PeerPathLimit(ps.peer)
	}
	if n := len(r.free); n > 0 {
		ps.idx = r.free[n-1]
		r.free = r.free[:n-1]
		r.peers[ps.idx] = ps
	} else {
		ps.idx = uint32(len(r.peers))
		r.peers = append(r.peers, ps)
	}
	r.peerIdx[ps.peer] = ps.idx
}

// checkLimits refuses a new path of ps beyond Config.MaxPaths or the peer's
// bound: two comparisons while below the bounds.
func (r *RIB) checkLimits(ps *peerState, pfx netip.Prefix, id uint32) error {
	var err error
	switch {
	case r.cfg.MaxPaths > 0 && r.paths >= r.cfg.MaxPaths:
		err = ErrPathLimit
	case ps.limit > 0 && ps.routes >= ps.limit:
		err = ErrPeerPathLimit
	default:
		return nil
	}
	// At a bound, a path that replaces one of the peer's is still taken.
	if e, ok := r.table.Get(pfx); ok && e.find(ps.idx, id) >= 0 {
		return nil
	}
	return err
}

// ForgetPeers forgets the peers that have been down for at least idle (and
// at least the adjacency-flap window, so that no flap is missed) and hold no
// path and no open adjacency-flap condition: their state is freed and they
// no longer appear in Peers. An open prefix-count condition of such a peer
// (it lost its routes when it went down) is resolved with the reason
// "forgotten". It returns the forgotten peers, so that callers drop their
// own per-peer state (metric series). The walk is O(peers); call it
// periodically, like Tick.
func (r *RIB) ForgetPeers(now time.Time, idle time.Duration) []Peer {
	t := now.UnixNano()
	if r.cfg.AdjacencyFlap.Enabled {
		idle = max(idle, r.cfg.AdjacencyFlap.Window)
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	var out []Peer
	for i, ps := range r.peers {
		if ps == nil || ps.up || ps.routes > 0 || ps.adjActive || t-ps.since < int64(idle) {
			continue
		}
		if ps.pcActive {
			r.prefixCountResolve(t, ps, "forgotten")
		}
		delete(r.peerIdx, ps.peer)
		r.peers[i] = nil
		r.free = append(r.free, uint32(i))
		out = append(out, ps.peer)
	}
	return out
}

// NumPeers returns the number of peers known (not forgotten).
func (r *RIB) NumPeers() int {
	r.mu.RLock()
	defer r.mu.RUnlock()
	return len(r.peerIdx)
}
