package rib

import (
	"math"
	"net/netip"
	"slices"
	"testing"
	"time"
)

var t0 = time.Date(2025, 4, 20, 20, 30, 0, 0, time.UTC)

func at(d time.Duration) time.Time { return t0.Add(d) }

var (
	mp = netip.MustParsePrefix
	ma = netip.MustParseAddr

	// The two Azure Route Server instances of a hub, ASN 65515.
	rs0 = Peer{Addr: ma("10.1.0.4"), ASN: 65515, Name: "rs0"}
	rs1 = Peer{Addr: ma("10.1.0.5"), ASN: 65515, Name: "rs1"}
	// An NVA and an on-premises edge router.
	nva = Peer{Addr: ma("10.0.0.10"), ASN: 65010, Name: "nva"}
	ce  = Peer{Kind: SourceBMP, Router: ma("192.168.255.1"), Addr: ma("192.168.1.2"), ASN: 12076, Name: "msee-primary"}
)

type recorder struct{ events []Event }

func (r *recorder) add(e Event) { r.events = append(r.events, e) }

// take returns and forgets the recorded events of the given kinds (of
// every kind when none is given); other events stay recorded.
func (r *recorder) take(kinds ...EventKind) []Event {
	var out, keep []Event
	for _, e := range r.events {
		if len(kinds) == 0 || slices.Contains(kinds, e.Kind) {
			out = append(out, e)
		} else {
			keep = append(keep, e)
		}
	}
	r.events = keep
	return out
}

// none fails the test if events are left that the test did not check.
func (r *recorder) none(t *testing.T) {
	t.Helper()
	if len(r.events) != 0 {
		t.Fatalf("unchecked events: %+v", r.events)
	}
}

func newRIB(t *testing.T, edit func(*Config)) (*RIB, *recorder) {
	t.Helper()
	rec := &recorder{}
	cfg := DefaultConfig()
	cfg.OnEvent = rec.add
	if edit != nil {
		edit(&cfg)
	}
	r, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return r, rec
}

func announce(t *testing.T, r *RIB, when time.Time, p Peer, prefix string, nh string, path ...uint32) {
	t.Helper()
	if err := r.Announce(when, p, Path{Prefix: mp(prefix), NextHop: ma(nh), ASPath: Seq(path...)}); err != nil {
		t.Fatal(err)
	}
}

func wantEvent(t *testing.T, e Event, kind EventKind, phase Phase, prefix string, when time.Time) {
	t.Helper()
	if e.Kind != kind || e.Phase != phase {
		t.Fatalf("event %v/%v, want %v/%v: %+v", e.Kind, e.Phase, kind, phase, e)
	}
	if prefix != "" && e.Prefix != mp(prefix) {
		t.Fatalf("event prefix %v, want %v", e.Prefix, prefix)
	}
	if !e.Time.Equal(when) {
		t.Fatalf("%v/%v event at %v, want %v", kind, phase, e.Time, when)
	}
}

func peerSet(ps []Peer) []string {
	var s []string
	for _, p := range ps {
		s = append(s, p.Name)
	}
	slices.Sort(s)
	return s
}

// The two Route Server instances announce every VNet prefix, each with
// itself as next hop: one path, not two, so losing one copy is no loss of
// redundancy, and no flap.
func TestRouteServerPairIsOnePath(t *testing.T) {
	r, rec := newRIB(t, nil)
	defer rec.none(t)
	announce(t, r, at(0), rs0, "10.2.0.0/16", "10.1.0.4", 65515)
	announce(t, r, at(0), rs1, "10.2.0.0/16", "10.1.0.5", 65515)
	// Same VNet prefix, both instances with the gateway as next hop.
	announce(t, r, at(0), rs0, "10.3.0.0/16", "10.1.3.4", 65515)
	announce(t, r, at(0), rs1, "10.3.0.0/16", "10.1.3.4", 65515)

	st := r.Stats()
	if st.Prefixes() != 2 || st.Paths != 4 || st.PathsByClass[IPv4][ClassAzure] != 4 {
		t.Fatalf("stats %+v", st)
	}
	r.mu.RLock()
	for _, p := range []string{"10.2.0.0/16", "10.3.0.0/16"} {
		e, _ := r.table.Get(mp(p))
		if n := r.distinctPaths(e.routes); n != 1 {
			t.Errorf("%s: %d distinct paths, want 1", p, n)
		}
	}
	r.mu.RUnlock()

	r.Withdraw(at(time.Minute), rs1, mp("10.2.0.0/16"))
	r.Withdraw(at(time.Minute), rs1, mp("10.3.0.0/16"))
	if evs := rec.take(); len(evs) != 0 {
		t.Fatalf("events after losing one Route Server copy: %+v", evs)
	}
	if a := r.Active(); a != (Active{}) {
		t.Fatalf("active %+v", a)
	}
	if len(r.flaps) != 0 {
		t.Fatalf("flap state for a Route Server copy: %v", r.flaps)
	}
}

// An on-premises prefix learned over the two ExpressRoute links (two paths
// "65515 12076 65001" with the two links' next hops): losing one opens the
// condition, getting it back closes it with its duration.
func TestLostRedundancyExpressRoute(t *testing.T) {
	r, rec := newRIB(t, nil)
	defer rec.none(t)
	const onprem = "192.168.0.0/16"
	announce(t, r, at(0), rs0, onprem, "10.1.3.4", 65515, 12076, 65001)
	announce(t, r, at(0), rs1, onprem, "10.1.3.5", 65515, 12076, 65001)
	if evs := rec.take(); len(evs) != 0 {
		t.Fatalf("events while learning: %+v", evs)
	}
	routes := r.Routes(mp(onprem))
	if len(routes) != 2 || routes[0].Attrs.Class != ClassExpressRoute || routes[0].OriginASN() != 65001 {
		t.Fatalf("routes %+v", routes)
	}

	r.Withdraw(at(time.Minute), rs1, mp(onprem))
	evs := rec.take(EventLostRedundancy)
	if len(evs) != 1 {
		t.Fatalf("want one lost-redundancy event, got %+v", evs)
	}
	wantEvent(t, evs[0], EventLostRedundancy, PhaseStart, onprem, at(time.Minute))
	if evs[0].Paths != 1 || evs[0].Previous != 2 || !slices.Equal(peerSet(evs[0].Peers), []string{"rs0"}) {
		t.Fatalf("start event %+v", evs[0])
	}
	if r.Active().LostRedundancy != 1 {
		t.Fatalf("active %+v", r.Active())
	}

	announce(t, r, at(6*time.Minute), rs1, onprem, "10.1.3.5", 65515, 12076, 65001)
	evs = rec.take(EventLostRedundancy)
	if len(evs) != 1 {
		t.Fatalf("want one resolved event, got %+v", evs)
	}
	wantEvent(t, evs[0], EventLostRedundancy, PhaseResolved, onprem, at(6*time.Minute))
	if !evs[0].Start.Equal(at(time.Minute)) || evs[0].Duration != 5*time.Minute || evs[0].Paths != 2 || evs[0].Reason != "" {
		t.Fatalf("resolved event %+v", evs[0])
	}
	if r.Active().LostRedundancy != 0 || len(r.redundancy) != 0 {
		t.Fatalf("state left: %+v %v", r.Active(), r.redundancy)
	}

	// Losing the last path too ends the condition as "withdrawn".
	r.Withdraw(at(7*time.Minute), rs0, mp(onprem))
	r.Withdraw(at(8*time.Minute), rs1, mp(onprem))
	evs = rec.take(EventLostRedundancy)
	if len(evs) != 2 || evs[1].Phase != PhaseResolved || evs[1].Reason != "withdrawn" || evs[1].Duration != time.Minute {
		t.Fatalf("events %+v", evs)
	}
	// Three distinct paths lost within seven minutes also make it a flapping
	// prefix: 1000 at 1 min, 1000 at 7 min, 1000 at 8 min.
	evs = rec.take(EventFlap)
	if len(evs) != 1 || evs[0].Phase != PhaseStart || !evs[0].Time.Equal(at(8*time.Minute)) {
		t.Fatalf("flap events %+v", evs)
	}
}

// Redundancy through the on-premises edge: two BMP peers (primary and
// secondary MSEE) on one router, with MinPaths 3 and three links.
func TestLostRedundancyMinPaths(t *testing.T) {
	r, rec := newRIB(t, func(c *Config) { c.Redundancy.MinPaths = 3 })
	defer rec.none(t)
	sec := ce
	sec.Addr, sec.Name = ma("192.168.1.6"), "msee-secondary"
	third := ce
	third.Addr, third.Name = ma("192.168.1.10"), "msee-third"
	announce(t, r, at(0), ce, "10.2.0.0/16", "192.168.1.2", 12076)
	announce(t, r, at(0), sec, "10.2.0.0/16", "192.168.1.6", 12076)
	r.PeerDown(at(time.Second), sec) // never had 3: no event
	if evs := rec.take(EventLostRedundancy); len(evs) != 0 {
		t.Fatalf("%+v", evs)
	}
	announce(t, r, at(2*time.Second), sec, "10.2.0.0/16", "192.168.1.6", 12076)
	announce(t, r, at(2*time.Second), third, "10.2.0.0/16", "192.168.1.10", 12076)
	r.PeerDown(at(3*time.Second), third)
	if w := rec.take(EventWithdraw); len(w) != 2 || w[0].Peer != sec || w[1].Peer != third {
		t.Fatalf("withdrawals %+v", w)
	}
	evs := rec.take(EventLostRedundancy)
	if len(evs) != 1 || evs[0].Phase != PhaseStart || evs[0].Paths != 2 || evs[0].Previous != 3 {
		t.Fatalf("%+v", evs)
	}
}

func TestOverlapVNets(t *testing.T) {
	setup := func(r *RIB) {
		// Two VNets behind the circuit, from different origins.
		announce(t, r, at(0), rs0, "10.1.0.0/16", "10.1.3.4", 65515, 12076, 65100)
		announce(t, r, at(time.Second), rs0, "10.1.128.0/17", "10.1.3.4", 65515, 12076, 65200)
		// Unrelated space and a same-origin subnet: no overlap.
		announce(t, r, at(time.Second), rs0, "10.5.0.0/16", "10.1.3.4", 65515, 12076, 65100)
		announce(t, r, at(time.Second), rs0, "10.5.1.0/24", "10.1.3.4", 65515, 12076, 65100)
	}
	r, rec := newRIB(t, nil)
	defer rec.none(t)
	setup(r)
	evs := rec.take(EventOverlap)
	if len(evs) != 2 {
		t.Fatalf("want two overlap starts, got %+v", evs)
	}
	byPrefix := map[netip.Prefix]Event{}
	for _, e := range evs {
		if e.Phase != PhaseStart || !e.Time.Equal(at(time.Second)) {
			t.Fatalf("%+v", e)
		}
		byPrefix[e.Prefix] = e
	}
	if e := byPrefix[mp("10.1.0.0/16")]; !slices.Equal(e.Related, []netip.Prefix{mp("10.1.128.0/17")}) || !slices.Equal(e.Origins, []uint32{65100}) {
		t.Fatalf("/16 event %+v", e)
	}
	if e := byPrefix[mp("10.1.128.0/17")]; !slices.Equal(e.Related, []netip.Prefix{mp("10.1.0.0/16")}) || !slices.Equal(e.Origins, []uint32{65200}) {
		t.Fatalf("/17 event %+v", e)
	}
	if r.Active().Overlap != 2 {
		t.Fatalf("active %+v", r.Active())
	}
	if got := r.Overlaps(mp("10.1.128.0/17")); !slices.Equal(got, []netip.Prefix{mp("10.1.0.0/16")}) {
		t.Fatalf("Overlaps = %v", got)
	}

	// The second VNet goes away: both resolve, with the duration.
	r.Withdraw(at(time.Hour), rs0, mp("10.1.128.0/17"))
	evs = rec.take(EventOverlap)
	if len(evs) != 2 {
		t.Fatalf("want two resolutions, got %+v", evs)
	}
	for _, e := range evs {
		if e.Phase != PhaseResolved || e.Duration != time.Hour-time.Second {
			t.Fatalf("%+v", e)
		}
	}
	if r.Active().Overlap != 0 || len(r.overlap) != 0 {
		t.Fatalf("state left %+v", r.overlap)
	}

	// Allow-listed, as a single prefix or as the pair: nothing.
	for _, allow := range []OverlapAllow{
		{Prefix: mp("10.1.128.0/17")},
		{Prefix: mp("10.0.0.0/8")},
		{Prefix: mp("10.1.128.0/17"), Other: mp("10.1.0.0/16")},
		{Prefix: mp("10.1.0.0/16"), Other: mp("10.1.128.0/18")}, // narrower than the subnet: does not match
	} {
		r, rec := newRIB(t, func(c *Config) { c.Overlap.Allow = []OverlapAllow{allow} })
		setup(r)
		evs := rec.take(EventOverlap)
		want := 0
		if allow.Other == mp("10.1.128.0/18") {
			want = 2
		}
		if len(evs) != want {
			t.Fatalf("allow %+v: %d events, want %d: %+v", allow, len(evs), want, evs)
		}
	}
}

// Forced tunnelling: on-premises advertises a default route over
// ExpressRoute (origin 65001), which contains every VNet prefix (origin
// 65515). By default a default route overlaps nothing; a genuine overlap
// next to it is still reported. With DefaultRoutes it overlaps every VNet.
func TestOverlapDefaultRoute(t *testing.T) {
	tunnel := func(r *RIB) {
		announce(t, r, at(0), rs0, "10.1.0.0/16", "10.1.0.4", 65515)
		announce(t, r, at(0), rs0, "10.2.0.0/16", "10.1.0.4", 65515)
		announce(t, r, at(0), rs0, "fd00:1::/48", "10.1.0.4", 65515)
		announce(t, r, at(time.Second), rs0, "0.0.0.0/0", "10.1.3.4", 65515, 12076, 65001)
		announce(t, r, at(time.Second), rs0, "::/0", "10.1.3.4", 65515, 12076, 65001)
		if cl := r.Routes(mp("0.0.0.0/0"))[0].Attrs.Class; cl != ClassExpressRoute && cl != ClassOnPrem {
			t.Fatalf("default route of class %v, want it in scope", cl)
		}
	}
	for _, sc := range []struct {
		name string
		edit func(*Config)
	}{{"every class", func(*Config) {}}, {"scoped", scoped}} {
		t.Run(sc.name, func(t *testing.T) {
			r, rec := newRIB(t, sc.edit)
			defer rec.none(t)
			tunnel(r)
			if evs := rec.take(EventOverlap); len(evs) != 0 {
				t.Fatalf("default route: want no overlap, got %+v", evs)
			}
			if _, ok := r.scoped.Get(mp("0.0.0.0/0")); ok || len(r.overlap) != 0 {
				t.Fatalf("default route in the scoped table (%v) or overlap state %v", ok, r.overlap)
			}
			// An on-premises more-specific inside a VNet is still an overlap,
			// and the default route is not among its related prefixes.
			announce(t, r, at(2*time.Second), rs0, "10.1.5.0/24", "10.1.3.4", 65515, 12076, 65001)
			evs := rec.take(EventOverlap)
			if len(evs) != 2 {
				t.Fatalf("want the VNet and the /24 to start, got %+v", evs)
			}
			for _, e := range evs {
				wantEvent(t, e, EventOverlap, PhaseStart, "", at(2*time.Second))
				if len(e.Related) != 1 || e.Related[0].Bits() == 0 {
					t.Fatalf("related %v", e.Related)
				}
			}
			// The default route going (and coming back) changes nothing.
			r.Withdraw(at(3*time.Second), rs0, mp("0.0.0.0/0"))
			announce(t, r, at(4*time.Second), rs0, "0.0.0.0/0", "10.1.3.4", 65515, 12076, 65002)
			if evs := rec.take(EventOverlap); len(evs) != 0 {
				t.Fatalf("%+v", evs)
			}
			if n := r.overlap[mp("10.1.0.0/16")].n; n != 1 || r.Active().Overlap != 2 {
				t.Fatalf("count %d, active %+v", n, r.Active())
			}
		})
	}

	// DefaultRoutes: the old behaviour, every VNet overlaps the default
	// route of its family.
	r, rec := newRIB(t, func(c *Config) { c.Overlap.DefaultRoutes = true })
	defer rec.none(t)
	tunnel(r)
	evs := rec.take(EventOverlap)
	related := map[netip.Prefix][]netip.Prefix{}
	for _, e := range evs {
		wantEvent(t, e, EventOverlap, PhaseStart, "", at(time.Second))
		related[e.Prefix] = e.Related
	}
	want := map[netip.Prefix][]netip.Prefix{
		mp("0.0.0.0/0"):   {mp("10.1.0.0/16"), mp("10.2.0.0/16")},
		mp("10.1.0.0/16"): {mp("0.0.0.0/0")},
		mp("10.2.0.0/16"): {mp("0.0.0.0/0")},
		mp("::/0"):        {mp("fd00:1::/48")},
		mp("fd00:1::/48"): {mp("::/0")},
	}
	if len(evs) != len(want) {
		t.Fatalf("want %d starts, got %+v", len(want), evs)
	}
	for p, w := range want {
		if !slices.Equal(related[p], w) {
			t.Fatalf("%v: related %v, want %v", p, related[p], w)
		}
	}
	r.Withdraw(at(time.Hour), rs0, mp("0.0.0.0/0"))
	r.Withdraw(at(time.Hour), rs0, mp("::/0"))
	evs = rec.take(EventOverlap)
	if len(evs) != len(want) {
		t.Fatalf("want %d resolutions, got %+v", len(want), evs)
	}
	for _, e := range evs {
		wantEvent(t, e, EventOverlap, PhaseResolved, "", at(time.Hour))
		if e.Duration != time.Hour-time.Second {
			t.Fatalf("%+v", e)
		}
	}
	if r.Active().Overlap != 0 || len(r.overlap) != 0 {
		t.Fatalf("active %+v, state %v", r.Active(), r.overlap)
	}
}

// An on-premises summary 10.0.0.0/8 (origin 65001) and two VNets inside it
// of different origins, 10.1.0.0/16 and 10.1.128.0/17: an exact allow
// entry for the summary ignores its own overlaps and keeps the VNets'
// (an entry without Exact ignores those too), with Other only the
// summary's overlaps with prefixes inside Other.
func TestOverlapAllowExact(t *testing.T) {
	const s8, s16, s17 = "10.0.0.0/8", "10.1.0.0/16", "10.1.128.0/17"
	setup := func(r *RIB) {
		announce(t, r, at(0), rs0, s8, "10.1.3.4", 65515, 12076, 65001)
		announce(t, r, at(time.Second), rs0, s16, "10.1.3.4", 65515, 12076, 65100)
		announce(t, r, at(2*time.Second), rs0, s17, "10.1.3.4", 65515, 12076, 65200)
	}
	for _, tc := range []struct {
		name  string
		allow []OverlapAllow
		// start events: prefix -> related prefixes (supernets most
		// specific first, then subnets); counts after setup.
		starts map[string][]string
		n      map[string]int
	}{
		{"none", nil,
			map[string][]string{s8: {s16}, s16: {s8}, s17: {s16, s8}}, map[string]int{s8: 2, s16: 2, s17: 2}},
		{"summary", []OverlapAllow{{Prefix: mp(s8)}}, nil, nil},
		{"summary exact", []OverlapAllow{{Prefix: mp(s8), Exact: true}},
			map[string][]string{s16: {s17}, s17: {s16}}, map[string]int{s16: 1, s17: 1}},
		{"summary exact, IPv4-mapped", []OverlapAllow{{Prefix: mp("::ffff:10.0.0.0/104"), Exact: true}},
			map[string][]string{s16: {s17}, s17: {s16}}, map[string]int{s16: 1, s17: 1}},
		{"summary exact, other", []OverlapAllow{{Prefix: mp(s8), Other: mp(s17), Exact: true}},
			map[string][]string{s8: {s16}, s16: {s8}, s17: {s16}}, map[string]int{s8: 1, s16: 2, s17: 1}},
		{"summary, other", []OverlapAllow{{Prefix: mp(s8), Other: mp(s17)}},
			map[string][]string{s8: {s16}, s16: {s8}}, map[string]int{s8: 1, s16: 1}},
		{"vnet exact, other", []OverlapAllow{{Prefix: mp(s17), Other: mp(s8), Exact: true}},
			map[string][]string{s8: {s16}, s16: {s8}}, map[string]int{s8: 1, s16: 1}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r, rec := newRIB(t, func(c *Config) { c.Overlap.Allow = tc.allow })
			defer rec.none(t)
			setup(r)
			evs := rec.take(EventOverlap)
			if len(evs) != len(tc.starts) {
				t.Fatalf("want %d starts, got %+v", len(tc.starts), evs)
			}
			for _, e := range evs {
				wantEvent(t, e, EventOverlap, PhaseStart, "", e.Time)
				w, ok := tc.starts[e.Prefix.String()]
				var want []netip.Prefix
				for _, p := range w {
					want = append(want, mp(p))
				}
				if !ok || !slices.Equal(e.Related, want) {
					t.Fatalf("start %v related %v, want %v", e.Prefix, e.Related, w)
				}
			}
			if len(r.overlap) != len(tc.n) {
				t.Fatalf("overlap state %v, want %v", r.overlap, tc.n)
			}
			for p, n := range tc.n {
				if st := r.overlap[mp(p)]; st == nil || st.n != n {
					t.Fatalf("%v: state %+v, want %d", p, st, n)
				}
			}
			// Everything goes: every start is resolved.
			r.PeerDown(at(time.Hour), rs0)
			rec.take(EventWithdraw)
			if evs := rec.take(EventOverlap); len(evs) != len(tc.starts) {
				t.Fatalf("want %d resolutions, got %+v", len(tc.starts), evs)
			}
			if r.Active().Overlap != 0 || len(r.overlap) != 0 {
				t.Fatalf("active %+v, state %v", r.Active(), r.overlap)
			}
		})
	}
}

// azureScope is the scope of the receiver's default: every class but other.
var azureScope = []Class{ClassExpressRoute, ClassAzure, ClassVPN, ClassNVA, ClassOnPrem}

var (
	// A transit peer with an Internet table (class other) and an
	// on-premises router (class onprem by a rule on its ASN).
	isp    = Peer{Addr: ma("203.0.113.1"), ASN: 64500, Name: "isp"}
	onprem = Peer{Addr: ma("192.168.1.1"), ASN: 65001, Name: "onprem"}
)

func scoped(c *Config) {
	c.Overlap.Classes = azureScope
	c.Classes.Rules = append([]ClassRule{{Class: ClassOnPrem, OriginASNs: []uint32{65001}}}, DefaultClassConfig().Rules...)
}

func TestOverlapScopeInternet(t *testing.T) {
	internet := func(r *RIB) {
		// A covering prefix and a more-specific of another origin, both
		// class other.
		announce(t, r, at(0), isp, "8.0.0.0/12", "203.0.113.1", 64500, 3356)
		announce(t, r, at(time.Second), isp, "8.8.8.0/24", "203.0.113.1", 64500, 3356, 15169)
		r.Withdraw(at(time.Minute), isp, mp("8.8.8.0/24"))
	}
	r, rec := newRIB(t, scoped)
	internet(r)
	if evs := rec.take(EventOverlap); len(evs) != 0 {
		t.Fatalf("class other only: want no overlap, got %+v", evs)
	}
	if r.scoped.Size() != 0 || len(r.overlap) != 0 {
		t.Fatalf("scoped %d, overlap state %v", r.scoped.Size(), r.overlap)
	}
	// Unscoped (the package default), the same table overlaps.
	r, rec = newRIB(t, nil)
	internet(r)
	if evs := rec.take(EventOverlap); len(evs) != 4 {
		t.Fatalf("unscoped: want two starts and two resolutions, got %+v", evs)
	}
	if _, err := New(Config{Overlap: OverlapConfig{Enabled: true, Classes: []Class{ClassAzure, NumClasses}}}); err == nil {
		t.Fatal("invalid class accepted")
	}
}

// An on-premises prefix overlapping a VNet is an overlap, and so is an
// Internet prefix (class other) overlapping either, in either order.
func TestOverlapScopeVNet(t *testing.T) {
	r, rec := newRIB(t, scoped)
	defer rec.none(t)
	announce(t, r, at(0), rs0, "10.1.0.0/16", "10.1.0.4", 65515)
	announce(t, r, at(time.Second), onprem, "10.1.128.0/17", "192.168.1.1", 65001)
	evs := rec.take(EventOverlap)
	if len(evs) != 2 {
		t.Fatalf("want two overlap starts, got %+v", evs)
	}
	for _, e := range evs {
		wantEvent(t, e, EventOverlap, PhaseStart, "", at(time.Second))
	}
	if cl := r.Routes(mp("10.1.128.0/17"))[0].Attrs.Class; cl != ClassOnPrem {
		t.Fatalf("class %v", cl)
	}
	// An out-of-scope supernet arriving later overlaps both in-scope prefixes.
	announce(t, r, at(2*time.Second), isp, "10.0.0.0/8", "203.0.113.1", 64500, 64999)
	evs = rec.take(EventOverlap)
	if len(evs) != 1 {
		t.Fatalf("want one start (the /8), got %+v", evs)
	}
	wantEvent(t, evs[0], EventOverlap, PhaseStart, "10.0.0.0/8", at(2*time.Second))
	if !slices.Equal(evs[0].Related, []netip.Prefix{mp("10.1.0.0/16"), mp("10.1.128.0/17")}) {
		t.Fatalf("related %v", evs[0].Related)
	}
	if r.Active().Overlap != 3 || r.scoped.Size() != 2 {
		t.Fatalf("active %+v, %d scoped", r.Active(), r.scoped.Size())
	}
	// The VNet goes: it resolves, the on-premises prefix still overlaps
	// the /8.
	r.Withdraw(at(time.Minute), rs0, mp("10.1.0.0/16"))
	evs = rec.take(EventOverlap)
	if len(evs) != 1 || r.Active().Overlap != 2 {
		t.Fatalf("%+v, active %+v", evs, r.Active())
	}
	wantEvent(t, evs[0], EventOverlap, PhaseResolved, "10.1.0.0/16", at(time.Minute))
	// The on-premises prefix goes too: it and the /8 resolve, nothing in
	// scope is left.
	r.Withdraw(at(time.Hour), onprem, mp("10.1.128.0/17"))
	evs = rec.take(EventOverlap)
	if len(evs) != 2 {
		t.Fatalf("want the /17 and the /8 resolved, got %+v", evs)
	}
	for _, e := range evs {
		wantEvent(t, e, EventOverlap, PhaseResolved, "", at(time.Hour))
	}
	if r.Active().Overlap != 0 || len(r.overlap) != 0 || r.scoped.Size() != 0 {
		t.Fatalf("active %+v, %d scoped", r.Active(), r.scoped.Size())
	}
}

// A prefix is in scope while one of its paths is: the overlap follows the
// in-scope path (withdrawn, announced again, a class change by replacement,
// a session down) even when the origins stay the same.
func TestOverlapScopeFollowsPaths(t *testing.T) {
	r, rec := newRIB(t, func(c *Config) { scoped(c); c.Redundancy.Enabled = false })
	defer rec.none(t)
	const p, q = "192.168.0.0/16", "192.168.1.0/24"
	pq := func(when time.Time, phase Phase) {
		t.Helper()
		evs := rec.take(EventOverlap)
		if len(evs) != 2 {
			t.Fatalf("want two %v events, got %+v", phase, evs)
		}
		for _, e := range evs {
			wantEvent(t, e, EventOverlap, phase, "", when)
		}
	}
	// Q, then P, from the ISP (class other): nothing.
	announce(t, r, at(0), isp, q, "203.0.113.1", 64500, 64502)
	announce(t, r, at(0), isp, p, "203.0.113.1", 64500, 64501)
	if evs := rec.take(EventOverlap); len(evs) != 0 {
		t.Fatalf("%+v", evs)
	}
	// P learned over ExpressRoute as well (same origin): P is in scope.
	announce(t, r, at(time.Second), rs0, p, "10.1.3.4", 65515, 12076, 64501)
	pq(at(time.Second), PhaseStart)
	// The ExpressRoute path goes: P is out of scope, the overlap resolves.
	r.Withdraw(at(2*time.Second), rs0, mp(p))
	pq(at(2*time.Second), PhaseResolved)
	// The ISP's path of Q changes to one through 12076 (class
	// expressroute, same origin): Q is in scope.
	announce(t, r, at(3*time.Second), isp, q, "203.0.113.1", 64500, 12076, 64502)
	pq(at(3*time.Second), PhaseStart)
	announce(t, r, at(4*time.Second), isp, q, "203.0.113.1", 64500, 64502)
	pq(at(4*time.Second), PhaseResolved)
	// Back over ExpressRoute, then the session goes down.
	announce(t, r, at(5*time.Second), rs0, p, "10.1.3.4", 65515, 12076, 64501)
	pq(at(5*time.Second), PhaseStart)
	r.PeerDown(at(6*time.Second), rs0)
	rec.take(EventWithdraw)
	pq(at(6*time.Second), PhaseResolved)
	if r.Active().Overlap != 0 || len(r.overlap) != 0 || r.scoped.Size() != 0 {
		t.Fatalf("active %+v, %d scoped", r.Active(), r.scoped.Size())
	}
}

func TestFlap(t *testing.T) {
	r, rec := newRIB(t, nil)
	defer rec.none(t)
	const p = "172.16.0.0/24"
	// 10 withdraw/announce cycles within a minute.
	for i := range 10 {
		announce(t, r, at(time.Duration(i)*6*time.Second), nva, p, "10.0.0.10", 65010)
		r.Withdraw(at(time.Duration(i)*6*time.Second+3*time.Second), nva, mp(p))
	}
	announce(t, r, at(time.Minute), nva, p, "10.0.0.10", 65010)
	evs := rec.take(EventFlap)
	if len(evs) != 1 {
		t.Fatalf("want one flap start, got %+v", evs)
	}
	// Two withdrawals 6 s apart decay just below 2000; the third crosses.
	start := at(15 * time.Second)
	wantEvent(t, evs[0], EventFlap, PhaseStart, p, start)
	if evs[0].Score < 2000 || evs[0].Score > 3000 {
		t.Fatalf("score %v", evs[0].Score)
	}
	if r.Active().Flap != 1 {
		t.Fatalf("active %+v", r.Active())
	}
	score := r.flaps[mp(p)].score // at the last withdrawal, 57 s
	if score < 9000 || score > 10000 {
		t.Fatalf("score after 10 flaps %v", score)
	}

	last := at(57 * time.Second)
	r.Tick(at(30 * time.Minute)) // ~2.5k: still flapping
	if evs := rec.take(); len(evs) != 0 {
		t.Fatalf("tick at 30 min: %+v", evs)
	}
	r.Tick(at(2 * time.Hour))
	evs = rec.take()
	if len(evs) != 1 {
		t.Fatalf("tick 2h later: %+v", evs)
	}
	// The event carries the instant the score crossed 750, in closed form.
	end := last.Add(time.Duration(math.Ceil(float64(15*time.Minute) * math.Log2(score/750))))
	wantEvent(t, evs[0], EventFlap, PhaseResolved, p, end)
	if !evs[0].Start.Equal(start) || evs[0].Duration != end.Sub(start) || math.Abs(evs[0].Score-750) > 0.01 {
		t.Fatalf("resolved %+v", evs[0])
	}
	if r.Active().Flap != 0 {
		t.Fatalf("active %+v", r.Active())
	}
	// Nothing more fires, and the idle score is forgotten eventually.
	r.Tick(at(3 * time.Hour))
	if evs := rec.take(); len(evs) != 0 {
		t.Fatalf("%+v", evs)
	}
	r.Tick(at(12 * time.Hour))
	if len(r.flaps) != 0 {
		t.Fatalf("flap state not forgotten: %v", r.flaps)
	}
}

func TestFlapPenalties(t *testing.T) {
	r, _ := newRIB(t, nil)
	const p = "10.9.0.0/16"
	score := func() float64 {
		st := r.flaps[mp(p)]
		if st == nil {
			return 0
		}
		return st.score
	}
	// Both Route Server instances withdraw and re-announce: one path, one
	// penalty.
	announce(t, r, at(0), rs0, p, "10.1.3.4", 65515, 12076, 65001)
	announce(t, r, at(0), rs1, p, "10.1.3.4", 65515, 12076, 65001)
	r.Withdraw(at(0), rs0, mp(p))
	r.Withdraw(at(0), rs1, mp(p))
	if s := score(); s != 1000 {
		t.Fatalf("score %v, want 1000", s)
	}
	announce(t, r, at(0), rs0, p, "10.1.3.4", 65515, 12076, 65001)
	announce(t, r, at(0), rs1, p, "10.1.3.4", 65515, 12076, 65001)
	if s := score(); s != 1000 {
		t.Fatalf("re-announcement: score %v, want 1000", s)
	}
	// A MED change echoed by both instances: 500 once.
	for _, pe := range []Peer{rs0, rs1} {
		if err := r.Announce(at(0), pe, Path{Prefix: mp(p), NextHop: ma("10.1.3.4"), ASPath: Seq(65515, 12076, 65001), MED: 10, HasMED: true}); err != nil {
			t.Fatal(err)
		}
	}
	if s := score(); s != 1500 {
		t.Fatalf("attribute change: score %v, want 1500", s)
	}
	// The same announcement again is no change.
	if err := r.Announce(at(0), rs0, Path{Prefix: mp(p), NextHop: ma("10.1.3.4"), ASPath: Seq(65515, 12076, 65001), MED: 10, HasMED: true}); err != nil {
		t.Fatal(err)
	}
	if s := score(); s != 1500 {
		t.Fatalf("duplicate: score %v, want 1500", s)
	}
	// Half an hour later the score has halved twice.
	r.Withdraw(at(30*time.Minute), rs0, mp(p))
	r.Withdraw(at(30*time.Minute), rs1, mp(p))
	if s := score(); math.Abs(s-(1500.0/4+1000)) > 1e-9 {
		t.Fatalf("decayed score %v", s)
	}
	// A session reset adds nothing.
	announce(t, r, at(31*time.Minute), rs0, "10.10.0.0/16", "10.1.3.4", 65515, 12076, 65001)
	r.PeerDown(at(32*time.Minute), rs0)
	if _, ok := r.flaps[mp("10.10.0.0/16")]; ok {
		t.Fatal("PeerDown added a flap penalty")
	}
}

func TestAdjacencyFlap(t *testing.T) {
	r, rec := newRIB(t, nil) // more than 3 downs in 10 minutes
	defer rec.none(t)
	var downs []time.Time
	for i := range 4 {
		up := at(time.Duration(i) * 2 * time.Minute)
		announce(t, r, up, nva, "172.16.0.0/24", "10.0.0.10", 65010)
		downs = append(downs, up.Add(time.Minute))
		r.PeerDown(downs[i], nva)
	}
	r.PeerDown(at(8*time.Minute), nva) // already down: not counted
	if w := rec.take(EventWithdraw); len(w) != 4 {
		t.Fatalf("withdrawals %+v", w)
	}
	evs := rec.take(EventAdjacencyFlap)
	if len(evs) != 1 {
		t.Fatalf("%+v", evs)
	}
	wantEvent(t, evs[0], EventAdjacencyFlap, PhaseStart, "", downs[3])
	if evs[0].Peer != nva || evs[0].Count != 4 {
		t.Fatalf("%+v", evs[0])
	}
	ps, _ := r.PeerStats(nva)
	if ps.Downs != 4 || ps.Up || ps.Routes != 0 {
		t.Fatalf("peer stats %+v", ps)
	}
	r.Tick(at(10 * time.Minute))
	if evs := rec.take(EventAdjacencyFlap); len(evs) != 0 {
		t.Fatalf("resolved too early: %+v", evs)
	}
	r.Tick(at(time.Hour))
	evs = rec.take(EventAdjacencyFlap)
	if len(evs) != 1 {
		t.Fatalf("%+v", evs)
	}
	end := downs[0].Add(10 * time.Minute)
	wantEvent(t, evs[0], EventAdjacencyFlap, PhaseResolved, "", end)
	if evs[0].Duration != end.Sub(downs[3]) || r.Active().AdjacencyFlap != 0 {
		t.Fatalf("%+v", evs[0])
	}
}

func TestOriginChangeAndMOAS(t *testing.T) {
	r, rec := newRIB(t, nil)
	defer rec.none(t)
	const p = "10.20.0.0/16"
	announce(t, r, at(0), rs0, p, "10.1.3.4", 65515, 12076, 65001)
	announce(t, r, at(0), rs1, p, "10.1.3.4", 65515, 12076, 65001)
	// 65515 prepends do not change the origin.
	announce(t, r, at(time.Second), rs1, p, "10.1.3.4", 65515, 65515, 12076, 65001)
	if evs := rec.take(EventOriginChange, EventMOAS); len(evs) != 0 {
		t.Fatalf("%+v", evs)
	}
	// On-premises moves the prefix to AS 65002; both instances re-advertise.
	announce(t, r, at(time.Minute), rs0, p, "10.1.3.4", 65515, 12076, 65002)
	announce(t, r, at(time.Minute+50*time.Millisecond), rs1, p, "10.1.3.4", 65515, 12076, 65002)
	// One origin change; while the instances disagree for 50 ms the prefix
	// has two origins, which MOAS reports as a short condition.
	evs := rec.take(EventOriginChange, EventMOAS)
	if len(evs) != 3 {
		t.Fatalf("want origin change and a MOAS pair, got %+v", evs)
	}
	wantEvent(t, evs[0], EventOriginChange, PhaseInstant, p, at(time.Minute))
	if !slices.Equal(evs[0].Origins, []uint32{65001, 65002}) || evs[0].Peer != rs0 {
		t.Fatalf("%+v", evs[0])
	}
	wantEvent(t, evs[1], EventMOAS, PhaseStart, p, at(time.Minute))
	wantEvent(t, evs[2], EventMOAS, PhaseResolved, p, at(time.Minute+50*time.Millisecond))
	if evs[2].Duration != 50*time.Millisecond {
		t.Fatalf("%+v", evs[2])
	}

	// MOAS: an NVA announces the same prefix with its own origin.
	announce(t, r, at(2*time.Minute), nva, p, "10.0.0.10", 65010)
	evs = rec.take(EventMOAS)
	if len(evs) != 1 {
		t.Fatalf("%+v", evs)
	}
	wantEvent(t, evs[0], EventMOAS, PhaseStart, p, at(2*time.Minute))
	if !slices.Equal(evs[0].Origins, []uint32{65002, 65010}) || !slices.Equal(peerSet(evs[0].Peers), []string{"nva", "rs0", "rs1"}) {
		t.Fatalf("%+v", evs[0])
	}
	if r.Active().MOAS != 1 {
		t.Fatalf("%+v", r.Active())
	}
	r.Withdraw(at(5*time.Minute), nva, mp(p))
	evs = rec.take(EventMOAS)
	if len(evs) != 1 {
		t.Fatalf("%+v", evs)
	}
	wantEvent(t, evs[0], EventMOAS, PhaseResolved, p, at(5*time.Minute))
	if evs[0].Duration != 3*time.Minute || !slices.Equal(evs[0].Origins, []uint32{65002}) || r.Active().MOAS != 0 {
		t.Fatalf("%+v", evs[0])
	}
	// The NVA was a second forwarding hop while it lasted: its withdrawal
	// is a loss of redundancy too.
	evs = rec.take(EventLostRedundancy)
	if len(evs) != 1 || evs[0].Phase != PhaseStart || evs[0].Paths != 1 || evs[0].Previous != 2 {
		t.Fatalf("%+v", evs)
	}
}

func TestPrefixCountDropOnPeerDown(t *testing.T) {
	r, rec := newRIB(t, nil)
	defer rec.none(t)
	ann := func(when time.Time, n int) {
		for i := range n {
			pfx := netip.PrefixFrom(netip.AddrFrom4([4]byte{10, 100, byte(i), 0}), 24)
			if err := r.Announce(when, nva, Path{Prefix: pfx, NextHop: nva.Addr, ASPath: Seq(65010)}); err != nil {
				t.Fatal(err)
			}
		}
	}
	ann(at(0), 100)
	r.Tick(at(6 * time.Minute)) // baseline: 100
	if evs := rec.take(); len(evs) != 0 {
		t.Fatalf("%+v", evs)
	}
	r.PeerDown(at(7*time.Minute), nva)
	withdrawn := rec.take(EventWithdraw)
	if len(withdrawn) != 100 || withdrawn[0].Peer != nva || !withdrawn[0].Time.Equal(at(7*time.Minute)) {
		t.Fatalf("%d withdrawals: %+v", len(withdrawn), withdrawn[:1])
	}
	evs := rec.take(EventPrefixCount)
	if len(evs) != 1 {
		t.Fatalf("%+v", evs)
	}
	wantEvent(t, evs[0], EventPrefixCount, PhaseStart, "", at(7*time.Minute))
	if evs[0].Peer != nva || evs[0].Count != 0 || evs[0].Previous != 100 {
		t.Fatalf("%+v", evs[0])
	}
	if st := r.Stats(); st.Paths != 0 || st.Prefixes() != 0 || r.Active().PrefixCount != 1 {
		t.Fatalf("%+v %+v", st, r.Active())
	}
	// Back: resolved as soon as the count is within 20% of 100.
	ann(at(8*time.Minute), 100)
	evs = rec.take(EventPrefixCount)
	if len(evs) != 1 {
		t.Fatalf("%+v", evs)
	}
	wantEvent(t, evs[0], EventPrefixCount, PhaseResolved, "", at(8*time.Minute))
	if evs[0].Count != 80 || evs[0].Duration != time.Minute {
		t.Fatalf("%+v", evs[0])
	}
	// A lasting 30% drop is accepted after the rebaseline delay.
	for i := range 30 {
		r.Withdraw(at(20*time.Minute), nva, netip.PrefixFrom(netip.AddrFrom4([4]byte{10, 100, byte(i), 0}), 24))
	}
	if evs := rec.take(EventPrefixCount); len(evs) != 1 || evs[0].Phase != PhaseStart || evs[0].Count != 79 {
		t.Fatalf("%+v", evs)
	}
	r.Tick(at(81 * time.Minute))
	evs = rec.take(EventPrefixCount)
	if len(evs) != 1 || evs[0].Phase != PhaseResolved || evs[0].Reason != "rebaselined" || evs[0].Count != 70 {
		t.Fatalf("%+v", evs)
	}
}

func TestClassification(t *testing.T) {
	vpnPeer := Peer{Addr: ma("10.1.3.10"), ASN: 65515, Name: "vpngw"}
	r, _ := newRIB(t, func(c *Config) {
		c.Classes.Rules = append([]ClassRule{
			{Class: ClassVPN, OriginASNs: []uint32{65050}},
			{Class: ClassNVA, PeerASNs: []uint32{65010}},
			{Class: ClassOnPrem, Prefixes: []netip.Prefix{mp("192.168.0.0/16")}, PathContains: []uint32{65001}},
		}, DefaultClassConfig().Rules...)
	})
	cases := []struct {
		peer   Peer
		prefix string
		path   []uint32
		want   Class
	}{
		{rs0, "172.16.0.0/12", []uint32{65515, 12076, 65001}, ClassExpressRoute},
		{rs0, "10.2.0.0/16", []uint32{65515}, ClassAzure},
		{rs0, "10.3.0.0/16", []uint32{65515, 65517}, ClassAzure},
		{vpnPeer, "10.50.0.0/16", []uint32{65515, 65050}, ClassVPN},
		{nva, "0.0.0.0/0", []uint32{65010}, ClassNVA},
		{vpnPeer, "192.168.10.0/24", []uint32{65515, 65001}, ClassOnPrem},
		{vpnPeer, "203.0.113.0/24", []uint32{65515, 64999}, ClassOther},
	}
	for _, c := range cases {
		announce(t, r, at(0), c.peer, c.prefix, "10.1.3.4", c.path...)
		got := r.Routes(mp(c.prefix))
		if len(got) != 1 || got[0].Attrs.Class != c.want {
			t.Errorf("%s %v: class %v, want %v", c.prefix, c.path, got[0].Attrs.Class, c.want)
		}
	}
	st := r.Stats()
	for c, n := range map[Class]int{ClassExpressRoute: 1, ClassAzure: 2, ClassVPN: 1, ClassNVA: 1, ClassOnPrem: 1, ClassOther: 1} {
		if st.PathsByClass[IPv4][c] != n {
			t.Errorf("class %v: %d paths, want %d", c, st.PathsByClass[IPv4][c], n)
		}
	}
	ps, _ := r.PeerStats(vpnPeer)
	if ps.Counts[IPv4][ClassVPN] != 1 || ps.Counts[IPv4][ClassOnPrem] != 1 || ps.Counts[IPv4][ClassOther] != 1 || ps.Routes != 3 {
		t.Fatalf("%+v", ps)
	}
	// A class change on re-announcement moves the counts.
	announce(t, r, at(time.Second), vpnPeer, "203.0.113.0/24", "10.1.3.4", 65515, 65050)
	ps, _ = r.PeerStats(vpnPeer)
	if ps.Counts[IPv4][ClassVPN] != 2 || ps.Counts[IPv4][ClassOther] != 0 {
		t.Fatalf("%+v", ps)
	}
	if _, err := ParseClass("ExpressRoute"); err != nil {
		t.Fatal(err)
	}
	if _, err := ParseClass("bogus"); err == nil {
		t.Fatal("bogus class parsed")
	}
}

func TestASPath(t *testing.T) {
	r, _ := newRIB(t, nil)
	cases := []struct {
		segs   []Segment
		origin uint32
		length int
		str    string
	}{
		{Seq(65515, 12076, 65001), 65001, 3, "65515 12076 65001"},
		{[]Segment{{SegmentSequence, []uint32{65001}}, {SegmentSet, []uint32{65002, 65003}}}, 0, 2, "65001 {65002,65003}"},
		{[]Segment{{SegmentSequence, []uint32{65001}}, {SegmentSet, []uint32{65002}}}, 65002, 2, "65001 {65002}"},
		{[]Segment{{SegmentConfedSequence, []uint32{64512}}, {SegmentSequence, []uint32{65001}}}, 65001, 1, "(64512) 65001"},
		{[]Segment{{SegmentSequence, []uint32{65001}}, {SegmentConfedSequence, []uint32{64512}}}, 65001, 1, "65001 (64512)"},
		{nil, 0, 0, ""},
	}
	for _, c := range cases {
		a := r.in.path(c.segs)
		if a.OriginASN != c.origin || a.Length != c.length || a.String() != c.str {
			t.Errorf("%v: origin %d length %d %q", c.segs, a.OriginASN, a.Length, a.String())
		}
	}
	// An empty path takes the peer's ASN as origin (iBGP).
	announce(t, r, at(0), nva, "10.0.0.0/8", "10.0.0.10")
	if o := r.Routes(mp("10.0.0.0/8"))[0].OriginASN(); o != 65010 {
		t.Fatalf("origin %d", o)
	}
}

// A full table with few distinct paths keeps few interned objects, and
// withdrawing everything empties the intern tables.
func TestInterning(t *testing.T) {
	r, _ := newRIB(t, nil)
	paths := [][]uint32{{65515, 12076, 65001}, {65515, 12076, 65002}, {65515}}
	comms := []Community{65001<<16 | 100, 12076<<16 | 51000}
	for i := range 3000 {
		pfx := netip.PrefixFrom(netip.AddrFrom4([4]byte{10, byte(i >> 8), byte(i), 0}), 24)
		for _, pe := range []Peer{rs0, rs1} {
			err := r.Announce(at(0), pe, Path{
				Prefix: pfx, NextHop: pe.Addr, ASPath: Seq(paths[i%3]...), Communities: comms,
				Large: []LargeCommunity{{65001, 1, uint32(i % 2)}},
			})
			if err != nil {
				t.Fatal(err)
			}
		}
	}
	st := r.Stats()
	if st.Intern.ASPaths != 3 || st.Intern.Communities != 1 || st.Intern.LargeCommunities != 2 || st.Intern.Attrs != 2*3*2 {
		t.Fatalf("intern %+v", st.Intern)
	}
	rt := r.Routes(mp("10.0.1.0/24"))
	if len(rt) != 2 || rt[0].Attrs.ASPath != rt[1].Attrs.ASPath || &rt[0].Attrs.CommunityValues()[0] != &rt[1].Attrs.CommunityValues()[0] {
		t.Fatal("paths and communities are not shared")
	}
	r.PeerDown(at(time.Second), rs0)
	for i := range 3000 {
		r.Withdraw(at(time.Second), rs1, netip.PrefixFrom(netip.AddrFrom4([4]byte{10, byte(i >> 8), byte(i), 0}), 24))
	}
	if st := r.Stats(); st.Intern != (InternStats{}) || st.Paths != 0 || st.Prefixes() != 0 {
		t.Fatalf("left after withdrawing all: %+v", st)
	}
}

func TestLookups(t *testing.T) {
	r, _ := newRIB(t, nil)
	announce(t, r, at(0), rs0, "10.0.0.0/8", "10.1.3.4", 65515, 12076, 65001)
	announce(t, r, at(0), rs0, "10.1.0.0/16", "10.1.0.4", 65515)
	announce(t, r, at(0), rs1, "10.1.0.0/16", "10.1.0.5", 65515)
	announce(t, r, at(0), rs0, "10.1.2.0/24", "10.1.0.4", 65515)
	announce(t, r, at(0), rs0, "2001:db8::/32", "10.1.0.4", 65515, 12076, 65001)
	for addr, want := range map[string]string{
		"10.1.2.3": "10.1.2.0/24", "10.1.3.3": "10.1.0.0/16", "10.9.9.9": "10.0.0.0/8",
		"::ffff:10.1.2.3": "10.1.2.0/24", "2001:db8::1": "2001:db8::/32", "11.0.0.1": "",
	} {
		p, routes, ok := r.LongestMatch(ma(addr))
		if want == "" {
			if ok {
				t.Errorf("%s matched %v", addr, p)
			}
			continue
		}
		if !ok || p != mp(want) || len(routes) == 0 || routes[0].Prefix != p {
			t.Errorf("%s: %v %v %v, want %s", addr, p, routes, ok, want)
		}
	}
	if _, routes, _ := r.LongestMatch(ma("10.1.3.3")); len(routes) != 2 {
		t.Fatalf("%+v", routes)
	}
	if got := r.Overlaps(mp("10.1.0.0/16")); !slices.Equal(got, []netip.Prefix{mp("10.0.0.0/8"), mp("10.1.2.0/24")}) {
		t.Fatalf("Overlaps = %v", got)
	}
	if got := r.Overlaps(mp("10.1.2.128/25")); !slices.Equal(got, []netip.Prefix{mp("10.0.0.0/8"), mp("10.1.0.0/16"), mp("10.1.2.0/24")}) {
		t.Fatalf("Overlaps = %v", got)
	}
	n := 0
	r.Walk(func(p netip.Prefix, routes []Route) bool { n += len(routes); return true })
	if n != 5 {
		t.Fatalf("walk saw %d routes", n)
	}
	if err := r.Announce(at(0), rs0, Path{}); err != ErrInvalidPrefix {
		t.Fatalf("err %v", err)
	}
}

func TestAnalysesOff(t *testing.T) {
	r, rec := newRIB(t, func(c *Config) {
		c.Overlap.Enabled, c.Redundancy.Enabled, c.Flap.Enabled = false, false, false
		c.AdjacencyFlap.Enabled, c.MOAS.Enabled, c.OriginChange.Enabled, c.PrefixCount.Enabled = false, false, false, false
	})
	defer rec.none(t)
	announce(t, r, at(0), rs0, "192.168.0.0/16", "10.1.3.4", 65515, 12076, 65001)
	announce(t, r, at(0), rs1, "192.168.0.0/16", "10.1.3.5", 65515, 12076, 65001)
	announce(t, r, at(0), nva, "192.168.0.0/16", "10.0.0.10", 65010)
	announce(t, r, at(0), nva, "192.168.128.0/17", "10.0.0.10", 65020)
	for range 5 {
		r.Withdraw(at(time.Second), nva, mp("192.168.128.0/17"))
		announce(t, r, at(time.Second), nva, "192.168.128.0/17", "10.0.0.10", 65020)
	}
	r.PeerDown(at(time.Minute), rs1)
	if evs := rec.take(); len(evs) != 1 || evs[0].Kind != EventWithdraw {
		t.Fatalf("%+v", evs)
	}
	if st := r.Stats(); st.Paths != 3 || st.Prefixes() != 2 || r.Active() != (Active{}) {
		t.Fatalf("%+v", st)
	}
}

// Look-ups run concurrently with changes (run with -race).
func TestConcurrentUse(t *testing.T) {
	r, _ := newRIB(t, nil)
	done := make(chan struct{})
	go func() {
		defer close(done)
		for i := range 2000 {
			pfx := netip.PrefixFrom(netip.AddrFrom4([4]byte{10, byte(i >> 8), byte(i), 0}), 24)
			_ = r.Announce(at(time.Duration(i)*time.Millisecond), rs0, Path{Prefix: pfx, NextHop: rs0.Addr, ASPath: Seq(65515)})
			if i%7 == 0 {
				r.Withdraw(at(time.Duration(i)*time.Millisecond), rs0, pfx)
			}
		}
		r.PeerDown(at(3*time.Second), rs0)
	}()
	var buf []Route
	for {
		select {
		case <-done:
			if st := r.Stats(); st.Paths != 0 {
				t.Fatalf("%+v", st)
			}
			return
		default:
		}
		_, buf, _ = r.AppendLongestMatch(buf[:0], ma("10.3.5.1"))
		for _, rt := range buf {
			_ = rt.Attrs.ASPath.String()
		}
		_ = r.Overlaps(mp("10.0.0.0/8"))
		_ = r.Stats()
		_ = r.Peers()
		_ = r.Active()
	}
}

// AppendPeerPaths lists the paths of one peer (with their ADD-PATH IDs) and nothing of
// other peers, and changes nothing.
func TestAppendPeerPaths(t *testing.T) {
	r, rec := newRIB(t, nil)
	if got := r.AppendPeerPaths(nil, nva); len(got) != 0 {
		t.Fatalf("unknown peer: %v", got)
	}
	announce(t, r, at(0), nva, "10.10.0.0/16", "10.0.0.10", 65010)
	announce(t, r, at(0), rs0, "10.10.0.0/16", "10.1.0.4", 65515)
	announce(t, r, at(0), rs0, "10.20.0.0/16", "10.1.0.4", 65515)
	if err := r.Announce(at(0), nva, Path{Prefix: mp("2001:db8::/32"), ID: 7, NextHop: ma("fe80::1"), ASPath: Seq(65010)}); err != nil {
		t.Fatal(err)
	}
	rec.take()
	got := r.AppendPeerPaths([]PathKey{{Prefix: mp("192.0.2.0/24")}}, nva)
	slices.SortFunc(got, func(a, b PathKey) int { return a.Prefix.Addr().Compare(b.Prefix.Addr()) })
	want := []PathKey{{Prefix: mp("10.10.0.0/16")}, {Prefix: mp("192.0.2.0/24")}, {Prefix: mp("2001:db8::/32"), ID: 7}}
	if !slices.Equal(got, want) {
		t.Fatalf("got %v, want %v", got, want)
	}
	if got := r.AppendPeerPaths(nil, rs0); len(got) != 2 {
		t.Fatalf("rs0: %v", got)
	}
	r.PeerDown(at(time.Second), nva)
	rec.take()
	if got := r.AppendPeerPaths(nil, nva); len(got) != 0 {
		t.Fatalf("after peer down: %v", got)
	}
	rec.none(t)
}
