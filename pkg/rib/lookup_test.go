package rib

import (
	"math/rand/v2"
	"net/netip"
	"sync"
	"testing"
	"time"
)

// The on-premises edge's view: the VNet 10.1.0.0/16 over ExpressRoute (the
// MSEE, 12076) and over the VPN backup (the Azure VPN gateway, 65515,
// prepended), the on-premises 192.168.0.0/16 from the core.
var (
	msee = Peer{Addr: ma("169.254.0.2"), ASN: 12076, Name: "msee"}
	vpng = Peer{Addr: ma("172.16.0.1"), ASN: 65515, Name: "vpngw"}
	core = Peer{Addr: ma("10.255.0.1"), ASN: 65001}
)

func vpnRules(c *Config) {
	c.Classes.Rules = append([]ClassRule{{Class: ClassVPN, PeerASNs: []uint32{65515}}}, DefaultClassConfig().Rules...)
	c.Classes.Rules = append(c.Classes.Rules, ClassRule{Class: ClassOnPrem, OriginASNs: []uint32{65001}})
}

func mustLookup(t *testing.T, r *RIB, addr string) Match {
	t.Helper()
	var m Match
	if !r.Lookup(ma(addr), &m) {
		t.Fatalf("no route for %s", addr)
	}
	return m
}

func TestLookupBestPath(t *testing.T) {
	r, _ := newRIB(t, vpnRules)
	announce(t, r, at(0), msee, "10.1.0.0/16", "169.254.0.2", 12076, 65515)
	announce(t, r, at(0), vpng, "10.1.0.0/16", "172.16.0.1", 65515, 65515, 65515)
	announce(t, r, at(0), core, "192.168.0.0/16", "10.255.0.1")
	announce(t, r, at(0), core, "192.168.7.0/24", "10.255.0.7", 65001)

	m := mustLookup(t, r, "10.1.2.3")
	if m.Prefix != mp("10.1.0.0/16") || m.Class() != ClassExpressRoute || m.OriginASN != 65515 ||
		m.ASPathText() != "12076 65515" || m.NextHop() != ma("169.254.0.2") || m.PeerLabel != "msee" ||
		m.Peer != msee || m.Paths != 2 || m.Conditions != 0 || m.NextHopText() != "169.254.0.2" {
		t.Fatalf("match %+v", m)
	}
	// Longest match, empty AS path: the origin is the peer's AS, the label its address.
	m = mustLookup(t, r, "192.168.7.9")
	if m.Prefix != mp("192.168.7.0/24") || m.Class() != ClassOnPrem || m.OriginASN != 65001 || m.NextHop() != ma("10.255.0.7") {
		t.Fatalf("match %+v", m)
	}
	m = mustLookup(t, r, "192.168.8.1")
	if m.Prefix != mp("192.168.0.0/16") || m.OriginASN != 65001 || m.ASPathText() != "" || m.PeerLabel != "10.255.0.1" {
		t.Fatalf("match %+v", m)
	}
	if r.Lookup(ma("8.8.8.8"), &m) || r.Lookup(ma("2001:db8::1"), &m) {
		t.Fatal("a route for an address outside every prefix")
	}
	// IPv4-mapped addresses are looked up as IPv4.
	if m = mustLookup(t, r, "::ffff:10.1.0.1"); m.Prefix != mp("10.1.0.0/16") {
		t.Fatalf("mapped: %+v", m)
	}

	// The ExpressRoute path goes: the VPN path is best at once, and the
	// prefix has lost its redundancy.
	r.Withdraw(at(time.Minute), msee, mp("10.1.0.0/16"))
	m = mustLookup(t, r, "10.1.2.3")
	if m.Class() != ClassVPN || m.ASPathText() != "65515 65515 65515" || m.PeerLabel != "vpngw" || m.Conditions != CondRedundancyLost {
		t.Fatalf("after withdrawal: %+v", m)
	}
	// Back: ExpressRoute again, redundancy restored.
	announce(t, r, at(2*time.Minute), msee, "10.1.0.0/16", "169.254.0.2", 12076, 65515)
	if m = mustLookup(t, r, "10.1.2.3"); m.Class() != ClassExpressRoute || m.Conditions != 0 {
		t.Fatalf("after restore: %+v", m)
	}
	// The backup's session goes down: ExpressRoute stays best, redundancy lost.
	r.PeerDown(at(3*time.Minute), vpng)
	if m = mustLookup(t, r, "10.1.2.3"); m.Class() != ClassExpressRoute || m.Paths != 1 || m.Conditions != CondRedundancyLost {
		t.Fatalf("after backup down: %+v", m)
	}
	// A session down removes its routes from look-ups.
	r.PeerDown(at(4*time.Minute), core)
	if r.Lookup(ma("192.168.7.9"), &m) {
		t.Fatalf("route of a down peer: %+v", m)
	}
}

func TestLookupPreference(t *testing.T) {
	r, _ := newRIB(t, nil)
	a := Peer{Addr: ma("10.0.0.1"), ASN: 65001}
	b := Peer{Addr: ma("10.0.0.2"), ASN: 65001}
	pfx := mp("10.9.0.0/16")
	ann := func(p Peer, path Path) {
		t.Helper()
		path.Prefix = pfx
		if err := r.Announce(t0, p, path); err != nil {
			t.Fatal(err)
		}
	}
	best := func() string {
		t.Helper()
		m := mustLookup(t, r, "10.9.0.1")
		return m.NextHop().String()
	}
	// Tie: the lowest peer address.
	ann(a, Path{NextHop: ma("1.0.0.1"), ASPath: Seq(65001)})
	ann(b, Path{NextHop: ma("1.0.0.2"), ASPath: Seq(65001)})
	if got := best(); got != "1.0.0.1" {
		t.Fatalf("tie: %s", got)
	}
	// MED from the same neighbor AS.
	ann(a, Path{NextHop: ma("1.0.0.1"), ASPath: Seq(65001), MED: 20, HasMED: true})
	ann(b, Path{NextHop: ma("1.0.0.2"), ASPath: Seq(65001), MED: 10, HasMED: true})
	if got := best(); got != "1.0.0.2" {
		t.Fatalf("med: %s", got)
	}
	// ORIGIN before MED.
	ann(b, Path{NextHop: ma("1.0.0.2"), ASPath: Seq(65001), MED: 10, HasMED: true, Origin: OriginIncomplete})
	if got := best(); got != "1.0.0.1" {
		t.Fatalf("origin: %s", got)
	}
	// AS path length before ORIGIN.
	ann(a, Path{NextHop: ma("1.0.0.1"), ASPath: Seq(65001, 65002), MED: 20, HasMED: true})
	if got := best(); got != "1.0.0.2" {
		t.Fatalf("path length: %s", got)
	}
	// LOCAL_PREF first.
	ann(a, Path{NextHop: ma("1.0.0.1"), ASPath: Seq(65001, 65002), LocalPref: 200, HasLocalPref: true})
	if got := best(); got != "1.0.0.1" {
		t.Fatalf("local pref: %s", got)
	}
}

func TestLookupOverlapCondition(t *testing.T) {
	r, _ := newRIB(t, nil)
	announce(t, r, at(0), rs0, "10.1.0.0/16", "10.1.0.4", 65515)
	announce(t, r, at(0), nva, "10.1.128.0/17", "10.0.0.10", 65010)
	m := mustLookup(t, r, "10.1.200.1")
	if m.Prefix != mp("10.1.128.0/17") || m.Conditions&CondOverlap == 0 {
		t.Fatalf("overlap: %+v", m)
	}
	if m = mustLookup(t, r, "10.1.1.1"); m.Conditions&CondOverlap == 0 {
		t.Fatalf("overlap (covering): %+v", m)
	}
	r.Withdraw(at(time.Minute), nva, mp("10.1.128.0/17"))
	if m = mustLookup(t, r, "10.1.200.1"); m.Prefix != mp("10.1.0.0/16") || m.Conditions != 0 {
		t.Fatalf("resolved: %+v", m)
	}
}

func TestLookupAllocatesNothing(t *testing.T) {
	r, _ := newRIB(t, vpnRules)
	announce(t, r, at(0), msee, "10.1.0.0/16", "169.254.0.2", 12076, 65515)
	announce(t, r, at(0), vpng, "10.1.0.0/16", "172.16.0.1", 65515, 65515, 65515)
	r.Withdraw(at(time.Minute), vpng, mp("10.1.0.0/16")) // an open condition too
	var m Match
	addr := ma("10.1.2.3")
	r.Lookup(addr, &m)
	m.ASPathText()
	m.NextHopText()
	n := testing.AllocsPerRun(1000, func() {
		if !r.Lookup(addr, &m) || m.ASPathText() == "" || m.NextHopText() != "169.254.0.2" {
			t.Fatal("no route")
		}
	})
	if n != 0 {
		t.Fatalf("%.1f allocations per look-up", n)
	}
}

// Look-ups run beside changes (go test -race): every answer is one of the
// two states the prefix goes through.
func TestLookupConcurrentWithChanges(t *testing.T) {
	r, _ := newRIB(t, vpnRules)
	announce(t, r, at(0), vpng, "10.1.0.0/16", "172.16.0.1", 65515, 65515, 65515)
	var wg sync.WaitGroup
	stop := make(chan struct{})
	wg.Add(1)
	go func() {
		defer wg.Done()
		for i := 0; ; i++ {
			select {
			case <-stop:
				return
			default:
			}
			if i%2 == 0 {
				announce(t, r, at(time.Duration(i)*time.Second), msee, "10.1.0.0/16", "169.254.0.2", 12076, 65515)
			} else {
				r.Withdraw(at(time.Duration(i)*time.Second), msee, mp("10.1.0.0/16"))
			}
		}
	}()
	var m Match
	for range 20000 {
		if !r.Lookup(ma("10.1.2.3"), &m) {
			t.Fatal("no route")
		}
		if c := m.Class(); c != ClassVPN && c != ClassExpressRoute {
			t.Fatalf("class %v", c)
		}
	}
	close(stop)
	wg.Wait()
}

// The condition flags a look-up reads from the trie entries always equal the analyses' open
// conditions, through random announcements, withdrawals and session downs.
func TestLookupConditionFlagsFollowAnalyses(t *testing.T) {
	r, _ := newRIB(t, nil)
	rng := rand.New(rand.NewPCG(3, 4))
	peers := []Peer{rs0, rs1, nva, core, msee}
	prefixes := []string{"10.1.0.0/16", "10.1.128.0/17", "10.1.200.0/24", "10.2.0.0/16", "192.168.0.0/16", "192.168.7.0/24"}
	origins := []uint32{65515, 65001, 65010}
	for i := range 5000 {
		p := peers[rng.IntN(len(peers))]
		pfx := prefixes[rng.IntN(len(prefixes))]
		when := at(time.Duration(i) * time.Second)
		switch rng.IntN(10) {
		case 0:
			r.PeerDown(when, p)
		case 1, 2, 3:
			r.Withdraw(when, p, mp(pfx))
		default:
			nh := []string{"10.9.0.1", "10.9.0.2", "10.9.0.3"}[rng.IntN(3)]
			announce(t, r, when, p, pfx, nh, p.ASN, origins[rng.IntN(len(origins))])
		}
		r.mu.RLock()
		for q, e := range r.table.All() {
			var want Condition
			if _, ok := r.redundancy[q]; ok {
				want |= CondRedundancyLost
			}
			if _, ok := r.overlap[q]; ok {
				want |= CondOverlap
			}
			if e.cond != want {
				r.mu.RUnlock()
				t.Fatalf("step %d: %s flags %b, analyses %b", i, q, e.cond, want)
			}
		}
		for q := range r.redundancy {
			if _, ok := r.table.Get(q); !ok {
				t.Fatalf("step %d: open redundancy condition without entry: %s", i, q)
			}
		}
		r.mu.RUnlock()
	}
	if r.Active().Overlap == 0 && r.Active().LostRedundancy == 0 {
		t.Fatal("no condition was ever open at the end: the test exercises nothing")
	}
}

// A session down larger than one chunk removes every path of the peer, with one withdrawal
// each, while look-ups run beside it (go test -race) and see either path.
func TestPeerDownInChunksBesideLookups(t *testing.T) {
	r, rec := newRIB(t, nil)
	const n = 3*peerDownChunk + 17
	for i := range n {
		pfx := netip.PrefixFrom(netip.AddrFrom4([4]byte{10, byte(i >> 8), byte(i), 0}), 24).String()
		announce(t, r, at(0), rs0, pfx, "10.9.0.1", 65515)
		if i%2 == 0 {
			announce(t, r, at(0), nva, pfx, "10.9.0.2", 65010, 65515)
		}
	}
	rec.take()
	stop := make(chan struct{})
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		var m Match
		for i := 0; ; i++ {
			select {
			case <-stop:
				return
			default:
			}
			if r.Lookup(netip.AddrFrom4([4]byte{10, byte(i % n >> 8), byte(i % n), 1}), &m) && m.Peer != rs0 && m.Peer != nva {
				t.Errorf("look-up: %+v", m)
				return
			}
		}
	}()
	r.PeerDown(at(time.Minute), rs0)
	close(stop)
	wg.Wait()
	if got := len(rec.take(EventWithdraw)); got != n {
		t.Fatalf("%d withdrawals, want %d", got, n)
	}
	st := r.Stats()
	if st.Prefixes() != (n+1)/2 || st.Paths != (n+1)/2 {
		t.Fatalf("stats after the session down: %+v", st)
	}
	if ps, _ := r.PeerStats(rs0); ps.Routes != 0 || ps.Up || ps.Downs != 1 {
		t.Fatalf("peer after its session down: %+v", ps)
	}
	var m Match
	if r.Lookup(ma("10.0.1.1"), &m) { // an odd prefix: rs0 only
		t.Fatalf("route left: %+v", m)
	}
	if !r.Lookup(ma("10.0.0.1"), &m) || m.Peer != nva || m.Conditions != CondRedundancyLost {
		t.Fatalf("even prefix: %+v", m)
	}
}
