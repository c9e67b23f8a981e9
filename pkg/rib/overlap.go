package rib

import (
	"fmt"
	"net/netip"

	"github.com/gaissmai/bart"
)

// OverlapConfig configures the overlap analysis.
type OverlapConfig struct {
	Enabled bool
	// Classes scopes the analysis: a pair of prefixes is considered only
	// when at least one of the two has a path of one of these classes (a
	// prefix is in scope while it has such a path). Empty, or every class,
	// means every pair. Listing every class but ClassOther keeps the
	// overlaps that involve Azure, ExpressRoute, VPN, NVA or on-premises
	// space and drops those between two prefixes whose paths are all of
	// class other, such as the more-specifics of an Internet table.
	Classes []Class
	// DefaultRoutes makes a default route (0.0.0.0/0, ::/0) overlap like
	// any other prefix. When false (the default) a default route overlaps
	// nothing: with forced tunnelling, on-premises advertises 0.0.0.0/0
	// over ExpressRoute and contains every VNet prefix, which is a
	// routing choice rather than overlapping address space. A default
	// route can only be the covering prefix of a pair, so this drops the
	// pairs (0/0, Q) and nothing else; MOAS on a default route still
	// applies.
	DefaultRoutes bool
	// Allow lists overlaps to ignore. See OverlapAllow.
	Allow []OverlapAllow
}

// OverlapAllow is an allow-list entry of the overlap analysis. With Other
// unset, a pair of prefixes is ignored when either of them equals or lies
// inside Prefix (so allowing an on-premises summary 10.0.0.0/8 ignores every
// overlap inside it, VNet against VNet included). With Other set, a pair is
// ignored when one prefix lies inside Prefix and the other inside Other.
//
// With Exact, the Prefix side matches only Prefix itself instead of every
// prefix inside it: without Other, a pair is ignored when one of its two
// prefixes is exactly Prefix; with Other, when one is exactly Prefix and
// the other lies inside Other. So {Prefix: 10.0.0.0/8, Exact: true} ignores
// the overlaps of the on-premises summary with every VNet but still reports
// 10.1.0.0/16 against 10.1.128.0/17 of another origin.
type OverlapAllow struct {
	Prefix netip.Prefix
	Other  netip.Prefix
	Exact  bool
}

// allClasses is the class mask of every class.
const allClasses = 1<<NumClasses - 1

// overlapScope returns the class mask of classes (every class when empty).
func overlapScope(classes []Class) (uint8, error) {
	if len(classes) == 0 {
		return allClasses, nil
	}
	var m uint8
	for i, c := range classes {
		if int(c) >= NumClasses {
			return 0, fmt.Errorf("rib: overlap classes[%d]: invalid class %d", i, c)
		}
		m |= 1 << c
	}
	return m, nil
}

// inScope reports whether a prefix with these paths is in the scope of the
// overlap analysis: always when the scope is every class, else when one of
// its paths has a class of the scope (so never for a prefix without paths).
func (r *RIB) inScope(routes []route) bool {
	if r.scopeAll {
		return true
	}
	for _, rt := range routes {
		if r.scopeMask&(1<<rt.attrs.Class) != 0 {
			return true
		}
	}
	return false
}

// scopedConflict is the overlap relation of two prefixes that contain one
// another, the allow list aside: origins conflict and at least one of the
// two is in scope.
func scopedConflict(aO []uint32, aS bool, bO []uint32, bS bool) bool {
	return (aS || bS) && originConflict(aO, bO)
}

type overlapState struct {
	n     int // overlapping prefixes
	start int64
}

// overlapExempt reports whether pfx takes part in no pair of the overlap
// analysis: a default route while DefaultRoutes is off.
func (r *RIB) overlapExempt(pfx netip.Prefix) bool {
	return pfx.Bits() == 0 && !r.cfg.Overlap.DefaultRoutes
}

// pairIgnored reports whether the pair of prefixes p and q (one contains
// the other) is left out of the overlap analysis whatever their origins
// and scopes: one of them is exempt, or an allow entry covers the pair. It
// depends on the two prefixes and the configuration only, so every walk
// that re-evaluates the pair gets the same answer and the counts of
// overlapState.n, and with them the start and resolved events, stay
// paired. It is the one predicate overlapWalk applies; the early returns
// for an exempt prefix (in afterChange and in overlapWalk) skip only pairs
// it would ignore.
func (r *RIB) pairIgnored(p, q netip.Prefix) bool {
	return r.overlapExempt(p) || r.overlapExempt(q) || r.overlapAllowed(p, q)
}

// allowSide reports whether p matches the Prefix side of allow entry a:
// equal to it with Exact, else equal to it or inside it.
func allowSide(a *OverlapAllow, p netip.Prefix) bool {
	if a.Exact {
		return p == a.Prefix
	}
	return prefixWithin(p, a.Prefix)
}

func (r *RIB) overlapAllowed(p, q netip.Prefix) bool {
	for i := range r.allow {
		a := &r.allow[i]
		if !a.Other.IsValid() {
			if allowSide(a, p) || allowSide(a, q) {
				return true
			}
			continue
		}
		if (allowSide(a, p) && prefixWithin(q, a.Other)) ||
			(prefixWithin(p, a.Other) && allowSide(a, q)) {
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

// overlapUpdate is called when the origin set or the scope of pfx changed,
// from (oldO, oldS) to (newO, newS). Each prefix keeps the number of other
// prefixes it conflicts with; the conflict of a pair depends only on the two
// origin sets and scopes, so re-evaluating every pair (pfx, q) keeps every
// count exact. A count leaving zero opens the condition for that prefix, a
// count reaching zero closes it.
//
// The pairs to re-evaluate are those with a prefix q that contains or lies
// inside pfx. When pfx is out of scope before and after, only an in-scope q
// can be in conflict with it, before or after, so the walk is over the
// table of in-scope prefixes, and is skipped when none of them overlaps
// pfx: an Internet prefix costs one descent of that (small) table. An
// exempt prefix (a default route while DefaultRoutes is off) never gets
// here and is never in that table (see afterChange).
func (r *RIB) overlapUpdate(t int64, pfx netip.Prefix, routes []route, oldO, newO []uint32, oldS, newS bool) {
	tbl := &r.table
	if !oldS && !newS {
		if !r.scoped.OverlapsPrefix(pfx) {
			return
		}
		tbl = &r.scoped
	}
	r.overlapWalk(t, tbl, pfx, routes, oldO, newO, oldS, newS)
}

// overlapWalk re-evaluates the pairs of pfx with the prefixes of tbl that
// contain it or lie inside it.
func (r *RIB) overlapWalk(t int64, tbl *bart.Table[*entry], pfx netip.Prefix, routes []route, oldO, newO []uint32, oldS, newS bool) {
	delta := 0
	var newly []netip.Prefix
	visit := func(q netip.Prefix, qe *entry) {
		// An exempt q (a default route) is in no pair: pairIgnored would
		// say so below, this only saves computing its origins.
		if q == pfx || len(qe.routes) == 0 || r.overlapExempt(q) {
			return
		}
		qS := r.inScope(qe.routes)
		if !oldS && !newS && !qS {
			return
		}
		var buf [8]uint32
		qO := r.originSet(qe.routes, buf[:0])
		was, is := scopedConflict(oldO, oldS, qO, qS), scopedConflict(newO, newS, qO, qS)
		if was == is || r.pairIgnored(pfx, q) {
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
	for q, qe := range tbl.Supernets(pfx) {
		visit(q, qe)
	}
	for q, qe := range tbl.Subnets(pfx) {
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
		r.markCondition(pfx, CondOverlap, true)
		r.active.Overlap++
		r.emit(Event{
			Kind: EventOverlap, Phase: PhaseStart, Time: timeOf(t), Start: timeOf(t), Prefix: pfx,
			Peers: r.peersOf(routes), Related: related, Origins: append([]uint32(nil), origins...),
		})
	}
	st.n += d
	if st.n <= 0 {
		delete(r.overlap, pfx)
		r.markCondition(pfx, CondOverlap, false)
		r.active.Overlap--
		r.emit(Event{
			Kind: EventOverlap, Phase: PhaseResolved, Time: timeOf(t), Start: timeOf(st.start),
			Duration: durationNS(t - st.start), Prefix: pfx, Peers: r.peersOf(routes),
		})
	}
}
