package rib

import (
	"fmt"
	"math/rand/v2"
	"net/netip"
	"slices"
	"testing"
	"time"
)

// The property test drives the RIB and a naive model (a map of routes) with
// the same random operations and compares counts, look-ups and the open
// conditions after every operation.

type mkey struct {
	peer Peer
	pfx  netip.Prefix
	id   uint32
}

type mval struct {
	nh   netip.Addr
	path []Segment
}

type naive struct {
	routes map[mkey]mval
}

func naiveOrigin(k mkey, v mval) uint32 {
	if len(v.path) == 0 {
		return k.peer.ASN
	}
	last := v.path[len(v.path)-1]
	if last.Type == SegmentSet {
		if len(last.ASNs) == 1 {
			return last.ASNs[0]
		}
		return 0
	}
	return last.ASNs[len(last.ASNs)-1]
}

func naiveClass(k mkey, v mval) Class {
	for _, s := range v.path {
		if slices.Contains(s.ASNs, 12076) {
			return ClassExpressRoute
		}
	}
	if o := naiveOrigin(k, v); o >= 65515 && o <= 65520 {
		return ClassAzure
	}
	return ClassOther
}

func (m *naive) prefixes() map[netip.Prefix][]mkey {
	out := map[netip.Prefix][]mkey{}
	for k := range m.routes {
		out[k.pfx] = append(out[k.pfx], k)
	}
	return out
}

func (m *naive) origins(keys []mkey) []uint32 {
	var o []uint32
	for _, k := range keys {
		if x := naiveOrigin(k, m.routes[k]); x != 0 && !slices.Contains(o, x) {
			o = append(o, x)
		}
	}
	slices.Sort(o)
	return o
}

func (m *naive) distinct(keys []mkey) int {
	var hops []netip.Addr
	for _, k := range keys {
		nh := m.routes[k].nh
		if k.peer.ASN == 65515 && nh == k.peer.Addr {
			nh = netip.Addr{}
		}
		if !slices.Contains(hops, nh) {
			hops = append(hops, nh)
		}
	}
	return len(hops)
}

func contains(a, b netip.Prefix) bool { // a contains b, a != b
	return a != b && a.Bits() <= b.Bits() && a.Addr().BitLen() == b.Addr().BitLen() && a.Contains(b.Addr())
}

// openConditions tracks start/resolved pairs and checks they alternate.
type openConditions struct {
	t      *testing.T
	open   map[string]Event
	starts map[EventKind]int
}

func condKey(e Event) string {
	if e.Kind == EventAdjacencyFlap || e.Kind == EventPrefixCount {
		return e.Kind.String() + " " + e.Peer.String()
	}
	return e.Kind.String() + " " + e.Prefix.String()
}

func (o *openConditions) add(e Event) {
	switch e.Phase {
	case PhaseStart:
		o.starts[e.Kind]++
		if _, ok := o.open[condKey(e)]; ok {
			o.t.Fatalf("second start without resolution: %+v", e)
		}
		o.open[condKey(e)] = e
	case PhaseResolved:
		s, ok := o.open[condKey(e)]
		if !ok {
			o.t.Fatalf("resolution without start: %+v", e)
		}
		if !e.Start.Equal(s.Time) || e.Duration != e.Time.Sub(s.Time) || e.Duration < 0 {
			o.t.Fatalf("resolution %+v does not match start %+v", e, s)
		}
		delete(o.open, condKey(e))
	}
}

func (o *openConditions) count(k EventKind) int {
	n := 0
	for _, e := range o.open {
		if e.Kind == k {
			n++
		}
	}
	return n
}

// inScope: a prefix with these routes is in the scope of the overlap
// analysis (every prefix with routes when scope is empty).
func (m *naive) inScope(keys []mkey, scope []Class) bool {
	for _, k := range keys {
		if len(scope) == 0 || slices.Contains(scope, naiveClass(k, m.routes[k])) {
			return true
		}
	}
	return false
}

// naiveWithin: x equals a or lies inside it.
func naiveWithin(x, a netip.Prefix) bool { return x == a || contains(a, x) }

// overlapRules is the part of the overlap configuration that depends on
// the two prefixes of a pair only.
type overlapRules struct {
	defaultRoutes bool
	allow         []OverlapAllow
	// seen records, for the coverage check at the end of a run, which
	// rule ignored a conflicting pair ("default", "allow N") and which
	// exact entries kept a conflicting pair of two prefixes inside their
	// Prefix ("kept inside N").
	seen map[string]bool
}

// ignored reports whether the rules leave out the conflicting pair (p, q);
// written from the documentation rather than from the RIB's code.
func (o overlapRules) ignored(p, q netip.Prefix) bool {
	if !o.defaultRoutes && (p.Bits() == 0 || q.Bits() == 0) {
		o.seen["default"] = true
		return true
	}
	for i, a := range o.allow {
		side := func(x netip.Prefix) bool {
			if a.Exact {
				return x == a.Prefix
			}
			return naiveWithin(x, a.Prefix)
		}
		if !a.Other.IsValid() {
			if side(p) || side(q) {
				o.seen[fmt.Sprint("allow ", i)] = true
				return true
			}
		} else if (side(p) && naiveWithin(q, a.Other)) || (side(q) && naiveWithin(p, a.Other)) {
			o.seen[fmt.Sprint("allow ", i)] = true
			return true
		}
	}
	for i, a := range o.allow {
		if a.Exact && naiveWithin(p, a.Prefix) && naiveWithin(q, a.Prefix) {
			o.seen[fmt.Sprint("kept inside ", i)] = true
		}
	}
	return false
}

// propertyAllow: every overlap inside 10.1.2.0/24; the overlaps of the
// summary 10.0.0.0/8 itself (those of 10.1.0.0/16 with 10.1.128.0/17 stay);
// the overlap of 2001:db8::/32 itself with 2001:db8:1:2::/64 only (those of
// 2001:db8:1::/48, inside both, stay).
var propertyAllow = []OverlapAllow{
	{Prefix: mp("10.1.2.0/24")},
	{Prefix: mp("10.0.0.0/8"), Exact: true},
	{Prefix: mp("2001:db8::/32"), Other: mp("2001:db8:1:2::/64"), Exact: true},
}

func TestPropertyAgainstNaiveModel(t *testing.T) {
	// The overlap analysis over every class, then scoped: to Azure space
	// only, and to ExpressRoute and on-premises (no rule gives onprem here);
	// default routes exempt (the default), then overlapping.
	for _, scope := range [][]Class{nil, {ClassAzure}, {ClassExpressRoute, ClassOnPrem}} {
		for _, dr := range []bool{false, true} {
			for seed := uint64(1); seed <= 8; seed++ {
				t.Run(fmt.Sprintf("%v/default_routes=%v/%d", scope, dr, seed), func(t *testing.T) {
					rules := overlapRules{defaultRoutes: dr, allow: propertyAllow, seen: map[string]bool{}}
					propertyRun(t, seed, 1500, scope, rules)
					// Every rule must have decided some pair.
					want := []string{"allow 0", "allow 1", "allow 2", "kept inside 1", "kept inside 2"}
					if !dr {
						want = append(want, "default")
					}
					for _, w := range want {
						if !rules.seen[w] {
							t.Errorf("no conflicting pair decided by %q in the run", w)
						}
					}
				})
			}
		}
	}
}

func propertyRun(t *testing.T, seed uint64, steps int, scope []Class, rules overlapRules) {
	rng := rand.New(rand.NewPCG(seed, 42))
	conds := &openConditions{t: t, open: map[string]Event{}, starts: map[EventKind]int{}}
	cfg := DefaultConfig()
	cfg.OnEvent = conds.add
	cfg.Overlap.Classes = scope
	cfg.Overlap.DefaultRoutes = rules.defaultRoutes
	cfg.Overlap.Allow = rules.allow
	cfg.PrefixCount.MinBaseline = 2
	r, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	m := &naive{routes: map[mkey]mval{}}

	peers := []Peer{rs0, rs1, nva, ce, {Kind: SourceMRT, Addr: ma("2001:db8::1"), ASN: 64500, Name: "mrt"}}
	prefixes := []netip.Prefix{
		mp("0.0.0.0/0"), mp("0.0.0.0/1"), mp("10.0.0.0/8"), mp("10.1.0.0/16"), mp("10.1.128.0/17"), mp("10.1.2.0/24"),
		mp("10.2.0.0/16"), mp("192.168.0.0/16"), mp("192.168.1.0/24"), mp("192.168.1.0/25"),
		mp("2001:db8::/32"), mp("2001:db8:1::/48"), mp("2001:db8:1:2::/64"), mp("::/0"),
	}
	paths := [][]Segment{
		Seq(65515), Seq(65515, 12076, 65001), Seq(65515, 65515, 12076, 65001), Seq(65515, 12076, 65002),
		Seq(65010), Seq(65010, 65020), nil, Seq(12076),
		{{Type: SegmentSequence, ASNs: []uint32{65515}}, {Type: SegmentSet, ASNs: []uint32{65001, 65002}}},
	}
	hops := []netip.Addr{ma("10.1.3.4"), ma("10.1.3.5"), ma("10.0.0.10"), {}}
	now := t0
	addrs := []netip.Addr{ma("10.1.2.3"), ma("10.1.200.1"), ma("10.9.9.9"), ma("192.168.1.200"), ma("192.168.1.1"),
		ma("8.8.8.8"), ma("2001:db8:1:2::1"), ma("2001:db8:9::1"), ma("fe80::1")}

	for step := range steps {
		now = now.Add(time.Duration(rng.IntN(6)) * time.Second)
		pe := peers[rng.IntN(len(peers))]
		pfx := prefixes[rng.IntN(len(prefixes))]
		id := uint32(rng.IntN(2))
		switch op := rng.IntN(100); {
		case op < 60:
			nh := hops[rng.IntN(len(hops))]
			if !nh.IsValid() {
				nh = pe.Addr
			}
			path := paths[rng.IntN(len(paths))]
			p := Path{Prefix: pfx, ID: id, NextHop: nh, ASPath: path, MED: uint32(rng.IntN(2)), HasMED: true}
			if err := r.Announce(now, pe, p); err != nil {
				t.Fatal(err)
			}
			m.routes[mkey{pe, pfx, id}] = mval{nh: nh, path: path}
		case op < 85:
			r.WithdrawPath(now, pe, pfx, id)
			delete(m.routes, mkey{pe, pfx, id})
		case op < 95:
			r.PeerDown(now, pe)
			for k := range m.routes {
				if k.peer == pe {
					delete(m.routes, k)
				}
			}
		default:
			r.Tick(now)
		}
		checkModel(t, step, r, m, conds, addrs, prefixes, scope, rules)
	}

	// The run must have exercised every analysis.
	for _, k := range []EventKind{EventOverlap, EventMOAS, EventLostRedundancy, EventFlap, EventAdjacencyFlap, EventPrefixCount} {
		if conds.starts[k] == 0 {
			t.Errorf("no %v condition opened in %d steps", k, steps)
		}
	}
	t.Logf("conditions opened: %v", conds.starts)

	// Take everything down: nothing may be left behind.
	for _, pe := range peers {
		r.PeerDown(now, pe)
	}
	m.routes = map[mkey]mval{}
	checkModel(t, steps, r, m, conds, addrs, prefixes, scope, rules)
	r.Tick(now.Add(24 * time.Hour))
	if st := r.Stats(); st.Intern != (InternStats{}) || st.Paths != 0 || st.Prefixes() != 0 {
		t.Fatalf("left behind: %+v", st)
	}
	if len(r.overlap)+len(r.redundancy)+len(r.moas)+len(r.flaps)+r.scoped.Size() != 0 {
		t.Fatalf("analysis state left: %d %d %d %d %d", len(r.overlap), len(r.redundancy), len(r.moas), len(r.flaps), r.scoped.Size())
	}
	if a := r.Active(); a.Overlap+a.LostRedundancy+a.MOAS+a.Flap+a.AdjacencyFlap != 0 {
		t.Fatalf("active left: %+v", a)
	}
}

func (r *RIB) entryOf(p netip.Prefix) *entry {
	e, _ := r.table.Get(p)
	return e
}

func checkModel(t *testing.T, step int, r *RIB, m *naive, conds *openConditions, addrs []netip.Addr, prefixes []netip.Prefix, scope []Class, rules overlapRules) {
	t.Helper()
	byPrefix := m.prefixes()
	st := r.Stats()
	var want Stats
	perPeer := map[Peer]*PeerStats{}
	for k, v := range m.routes {
		f, c := FamilyOf(k.pfx), naiveClass(k, v)
		want.PathsByClass[f][c]++
		want.Paths++
		ps := perPeer[k.peer]
		if ps == nil {
			ps = &PeerStats{}
			perPeer[k.peer] = ps
		}
		ps.Routes++
		ps.Counts[f][c]++
	}
	for p := range byPrefix {
		if p.Addr().Is4() {
			want.Prefixes4++
		} else {
			want.Prefixes6++
		}
	}
	if st.Prefixes4 != want.Prefixes4 || st.Prefixes6 != want.Prefixes6 || st.Paths != want.Paths || st.PathsByClass != want.PathsByClass {
		t.Fatalf("step %d: stats %+v, want %+v", step, st, want)
	}
	for _, ps := range r.Peers() {
		w := perPeer[ps.Peer]
		if w == nil {
			w = &PeerStats{}
		}
		if ps.Routes != w.Routes || ps.Counts != w.Counts {
			t.Fatalf("step %d: peer %v: %d %v, want %d %v", step, ps.Peer, ps.Routes, ps.Counts, w.Routes, w.Counts)
		}
	}
	// Longest match.
	for _, a := range addrs {
		var best netip.Prefix
		for p := range byPrefix {
			if p.Contains(a) && (!best.IsValid() || p.Bits() > best.Bits()) {
				best = p
			}
		}
		got, routes, ok := r.LongestMatch(a)
		if ok != best.IsValid() || (ok && (got != best || len(routes) != len(byPrefix[best]))) {
			t.Fatalf("step %d: LongestMatch(%v) = %v %d %v, want %v", step, a, got, len(routes), ok, best)
		}
	}
	// The table of in-scope prefixes (kept only for a scope narrower than
	// every class), which leaves out a default route that overlaps nothing.
	nScoped := 0
	for p, keys := range byPrefix {
		want := len(scope) > 0 && m.inScope(keys, scope) && (rules.defaultRoutes || p.Bits() > 0)
		if want {
			nScoped++
		}
		if e, ok := r.scoped.Get(p); ok != want || (ok && e != r.entryOf(p)) {
			t.Fatalf("step %d: %v in the scoped table: %v, want %v", step, p, ok, want)
		}
	}
	if r.scoped.Size() != nScoped {
		t.Fatalf("step %d: %d scoped prefixes, want %d", step, r.scoped.Size(), nScoped)
	}
	// Overlaps, and the overlap and MOAS conditions.
	for _, p := range prefixes {
		var wantOv []netip.Prefix
		conflict := false
		for q, keys := range byPrefix {
			if contains(q, p) || contains(p, q) {
				wantOv = append(wantOv, q)
				if _, ok := byPrefix[p]; ok && originConflict(m.origins(byPrefix[p]), m.origins(keys)) &&
					(m.inScope(byPrefix[p], scope) || m.inScope(keys, scope)) && !rules.ignored(p, q) {
					conflict = true
				}
			}
		}
		got := r.Overlaps(p)
		slices.SortFunc(wantOv, netip.Prefix.Compare)
		slices.SortFunc(got, netip.Prefix.Compare)
		if !slices.Equal(got, wantOv) {
			t.Fatalf("step %d: Overlaps(%v) = %v, want %v", step, p, got, wantOv)
		}
		if _, open := conds.open["overlap "+p.String()]; open != conflict {
			t.Fatalf("step %d: overlap open for %v = %v, want %v", step, p, open, conflict)
		}
		moas := len(m.origins(byPrefix[p])) > 1
		if _, open := conds.open["moas "+p.String()]; open != moas {
			t.Fatalf("step %d: MOAS open for %v = %v, want %v (%v)", step, p, open, moas, m.origins(byPrefix[p]))
		}
		if _, open := conds.open["lost_redundancy "+p.String()]; open {
			if d := m.distinct(byPrefix[p]); d < 1 || d >= 2 {
				t.Fatalf("step %d: lost redundancy open for %v with %d distinct paths", step, p, d)
			}
		}
	}
	a := r.Active()
	if a.Overlap != conds.count(EventOverlap) || a.MOAS != conds.count(EventMOAS) || a.LostRedundancy != conds.count(EventLostRedundancy) ||
		a.Flap != conds.count(EventFlap) || a.AdjacencyFlap != conds.count(EventAdjacencyFlap) || a.PrefixCount != conds.count(EventPrefixCount) {
		t.Fatalf("step %d: active %+v does not match the open events", step, a)
	}
}
