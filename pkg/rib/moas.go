package rib

import (
	"net/netip"
	"slices"
)

// MOASConfig configures the multiple-origin (MOAS) analysis.
type MOASConfig struct {
	Enabled bool
}

// OriginChangeConfig configures the origin-change events.
type OriginChangeConfig struct {
	Enabled bool
}

type moasState struct {
	start int64
}

// moasUpdate opens the condition when a prefix has two or more origin ASNs
// and closes it when it is back to one (or none).
func (r *RIB) moasUpdate(t int64, pfx netip.Prefix, routes []route, origins []uint32) {
	st := r.moas[pfx]
	switch {
	case st == nil && len(origins) > 1:
		r.moas[pfx] = &moasState{start: t}
		r.active.MOAS++
		r.emit(Event{
			Kind: EventMOAS, Phase: PhaseStart, Time: timeOf(t), Start: timeOf(t), Prefix: pfx,
			Peers: r.peersOf(routes), Origins: slices.Clone(origins),
		})
	case st != nil && len(origins) <= 1:
		delete(r.moas, pfx)
		r.active.MOAS--
		ev := Event{
			Kind: EventMOAS, Phase: PhaseResolved, Time: timeOf(t), Start: timeOf(st.start),
			Duration: durationNS(t - st.start), Prefix: pfx, Peers: r.peersOf(routes), Origins: slices.Clone(origins),
		}
		if len(origins) == 0 {
			ev.Reason = "withdrawn"
		}
		r.emit(ev)
	}
}

// originChange emits EventOriginChange when routes[i], which replaced old,
// has a different known origin than old had, unless another route of the
// prefix already carries the new origin (the echo of the same change from a
// second Route Server instance, or the prefix converging on an origin it
// already had).
func (r *RIB) originChange(t int64, pfx netip.Prefix, routes []route, i int, old route) {
	was, is := r.originOf(old), r.originOf(routes[i])
	if was == is || was == 0 || is == 0 {
		return
	}
	for j, rt := range routes {
		if j != i && r.originOf(rt) == is {
			return
		}
	}
	r.emit(Event{
		Kind: EventOriginChange, Phase: PhaseInstant, Time: timeOf(t), Prefix: pfx,
		Peer: r.peers[routes[i].peer].peer, Peers: r.peersOf(routes), Origins: []uint32{was, is},
	})
}
