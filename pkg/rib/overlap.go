package rib

import (
	"net/netip"
)

// OverlapConfig configures the overlap analysis.
type OverlapConfig struct {
	Enabled bool
	// Allow lists overlaps to ignore. See OverlapAllow.
	Allow []OverlapAllow
}

// OverlapAllow is an allow-list entry of the overlap analysis. With Other
// unset, a pair of prefixes is ignored when either of them equals or lies
// inside Prefix (so allowing an on-premises summary 10.0.0.0/8 ignores every
// overlap inside it). With Other set, a pair is ignored when one prefix lies
// inside Prefix and the other inside Other.
type OverlapAllow struct {
	Prefix netip.Prefix
	Other  netip.Prefix
}

type overlapState struct {
	n     int // overlapping prefixes
	start int64
}

func (r *RIB) overlapAllowed(p, q netip.Prefix) bool {
	for _, a := range r.allow {
		if !a.Other.IsValid() {
			if prefixWithin(p, a.Prefix) || prefixWithin(q, a.Prefix) {
				return true
			}
			continue
		}
		if (prefixWithin(p, a.Prefix) && prefixWithin(q, a.Other)) ||
			(prefixWithin(p, a.Other) && prefixWithin(q, a.Prefix)) {
			return true
		}
	}
	return false
}

// originConflict reports whether two prefixes with these origin sets (sorted)
// overlap in the analysis' sense: both have origins and no origin in common.
func originConflict(a, b []uint32) bool {
	if len(a) == 0 || len(b) == 0 {
		return false
	}
	i, j := 0, 0
	for i < len(a) && j < len(b) {
		switch {
		case a[i] == b[j]:
			return false
		case a[i] < b[j]:
			i++
		default:
			j++
		}
	}
	return true
}

// overlapUpdate is called when the origin set of pfx changed from oldO to
// newO. Each prefix keeps the number of other prefixes it conflicts with;
// the conflict of a pair depends only on the two origin sets, so walking the
// supernets and subnets of pfx and re-evaluating each pair keeps every count
// exact. A count leaving zero opens the condition for that prefix, a count
// reaching zero closes it.
func (r *RIB) overlapUpdate(t int64, pfx netip.Prefix, routes []route, oldO, newO []uint32) {
	delta := 0
	var newly []netip.Prefix
	visit := func(q netip.Prefix, qe *entry) {
		if q == pfx || len(qe.routes) == 0 {
			return
		}
		var buf [8]uint32
		qO := r.originSet(qe.routes, buf[:0])
		was, is := originConflict(oldO, qO), originConflict(newO, qO)
		if was == is || r.overlapAllowed(pfx, q) {
			return
		}
		if is {
			delta++
			newly = append(newly, q)
			r.overlapAdd(t, q, qe.routes, qO, 1, []netip.Prefix{pfx})
		} else {
			delta--
			r.overlapAdd(t, q, qe.routes, qO, -1, nil)
		}
	}
	for q, qe := range r.table.Supernets(pfx) {
		visit(q, qe)
	}
	for q, qe := range r.table.Subnets(pfx) {
		visit(q, qe)
	}
	if delta != 0 {
		r.overlapAdd(t, pfx, routes, newO, delta, newly)
	}
}

// overlapAdd changes the overlap count of pfx by d and emits the start or
// resolved event when the count leaves or reaches zero.
func (r *RIB) overlapAdd(t int64, pfx netip.Prefix, routes []route, origins []uint32, d int, related []netip.Prefix) {
	st := r.overlap[pfx]
	if st == nil {
		if d <= 0 {
			return // cannot happen: counts are exact
		}
		st = &overlapState{start: t}
		r.overlap[pfx] = st
		r.active.Overlap++
		r.emit(Event{
			Kind: EventOverlap, Phase: PhaseStart, Time: timeOf(t), Start: timeOf(t), Prefix: pfx,
			Peers: r.peersOf(routes), Related: related, Origins: append([]uint32(nil), origins...),
		})
	}
	st.n += d
	if st.n <= 0 {
		delete(r.overlap, pfx)
		r.active.Overlap--
		r.emit(Event{
			Kind: EventOverlap, Phase: PhaseResolved, Time: timeOf(t), Start: timeOf(st.start),
			Duration: durationNS(t - st.start), Prefix: pfx, Peers: r.peersOf(routes),
		})
	}
}
