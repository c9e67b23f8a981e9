package rib

import (
	"math/rand/v2"
	"net/netip"
	"runtime"
	"sync"
	"testing"
	"time"
)

// A synthetic full table: 1M distinct IPv4 and 200k distinct IPv6
// prefixes, 50k distinct AS paths over 70k ASNs, 1k community lists, from
// one transit peer. Prefix lengths follow roughly the shape of the public
// table (most IPv4 /24, most IPv6 /48).
type synthTable struct {
	prefixes []netip.Prefix
	path     []uint32
	comm     []uint16
	paths    [][]Segment
	comms    [][]Community
}

const (
	synth4 = 1_000_000
	synth6 = 200_000
)

var (
	synthOnce sync.Once
	synth     *synthTable
)

func synthetic() *synthTable {
	synthOnce.Do(func() {
		rng := rand.New(rand.NewPCG(7, 7))
		s := &synthTable{}
		for range 50_000 {
			n := 2 + rng.IntN(6)
			asns := []uint32{64500}
			for range n - 1 {
				asns = append(asns, 1+uint32(rng.IntN(70_000)))
			}
			s.paths = append(s.paths, Seq(asns...))
		}
		for range 1000 {
			var c []Community
			for range rng.IntN(5) {
				c = append(c, Community(rng.Uint32()))
			}
			s.comms = append(s.comms, c)
		}
		seen := make(map[netip.Prefix]struct{}, synth4+synth6)
		add := func(p netip.Prefix) bool {
			if _, dup := seen[p]; dup {
				return false
			}
			seen[p] = struct{}{}
			s.prefixes = append(s.prefixes, p)
			return true
		}
		len4 := []int{24, 24, 24, 24, 24, 24, 24, 24, 23, 22, 22, 21, 20, 19, 18, 16}
		for n := 0; n < synth4; {
			a := netip.AddrFrom4([4]byte{byte(1 + rng.IntN(223)), byte(rng.IntN(256)), byte(rng.IntN(256)), 0})
			if add(netip.PrefixFrom(a, len4[rng.IntN(len(len4))]).Masked()) {
				n++
			}
		}
		len6 := []int{48, 48, 48, 48, 44, 40, 36, 32, 29}
		for n := 0; n < synth6; {
			var b [16]byte
			b[0] = 0x20 | byte(rng.IntN(2))
			for i := 1; i < 6; i++ {
				b[i] = byte(rng.IntN(256))
			}
			if add(netip.PrefixFrom(netip.AddrFrom16(b), len6[rng.IntN(len(len6))]).Masked()) {
				n++
			}
		}
		// Communities follow the path (they mostly depend on the neighbor
		// and the origin), so attribute sets are about as many as paths.
		for range s.prefixes {
			pi := rng.IntN(len(s.paths))
			s.path = append(s.path, uint32(pi))
			s.comm = append(s.comm, uint16(pi%len(s.comms)))
		}
		synth = s
	})
	return synth
}

var transit = Peer{Addr: netip.MustParseAddr("192.0.2.1"), ASN: 64500, Name: "transit"}

func (s *synthTable) load(tb testing.TB, r *RIB, now time.Time) {
	nh := transit.Addr
	for i, p := range s.prefixes {
		err := r.Announce(now, transit, Path{
			Prefix: p, NextHop: nh, ASPath: s.paths[s.path[i]], Communities: s.comms[s.comm[i]],
			LocalPref: 100, HasLocalPref: true,
		})
		if err != nil {
			tb.Fatal(err)
		}
	}
}

func heapInUse() uint64 {
	runtime.GC()
	runtime.GC()
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	return ms.HeapAlloc
}

func allOff(c *Config) {
	c.Overlap.Enabled, c.Redundancy.Enabled, c.Flap.Enabled = false, false, false
	c.AdjacencyFlap.Enabled, c.MOAS.Enabled, c.OriginChange.Enabled, c.PrefixCount.Enabled = false, false, false, false
}

// scopeAzure scopes the overlap analysis as the receiver does by default:
// every class but other. The synthetic table is class other but for the
// few hundred prefixes whose random AS path contains 12076 (expressroute)
// or ends in 65515-65520 (azure).
func scopeAzure(c *Config) {
	c.Overlap.Classes = []Class{ClassExpressRoute, ClassAzure, ClassVPN, ClassNVA, ClassOnPrem}
}

// BenchmarkAnnounce ingests the synthetic full table into an empty RIB per
// iteration (run it with -benchtime=1x or 3x) and reports the ingest rate
// and the heap held by the loaded RIB per route.
func BenchmarkAnnounce(b *testing.B) {
	s := synthetic()
	for _, bc := range []struct {
		name string
		edit func(*Config)
	}{
		{"analyses=off", allOff},
		{"analyses=off,limits=on", func(c *Config) {
			allOff(c)
			c.MaxPaths, c.PeerPathLimit = 3_000_000, func(Peer) int { return 2_000_000 }
		}},
		{"analyses=on", func(*Config) {}},
		{"analyses=on,overlap=off", func(c *Config) { c.Overlap.Enabled = false }},
		{"analyses=on,overlap=scoped", scopeAzure},
	} {
		b.Run(bc.name, func(b *testing.B) {
			b.ReportAllocs()
			var events, overlaps int
			cfg := DefaultConfig()
			bc.edit(&cfg)
			cfg.OnEvent = func(e Event) {
				events++
				if e.Kind == EventOverlap && e.Phase == PhaseStart {
					overlaps++
				}
			}
			var bytesPerRoute float64
			var active Active
			var st Stats
			b.ResetTimer()
			for range b.N {
				b.StopTimer()
				base := heapInUse()
				r, err := New(cfg)
				if err != nil {
					b.Fatal(err)
				}
				b.StartTimer()
				s.load(b, r, t0)
				b.StopTimer()
				st = r.Stats()
				bytesPerRoute = float64(heapInUse()-base) / float64(st.Paths)
				active = r.Active()
				runtime.KeepAlive(r)
				b.StartTimer()
			}
			b.StopTimer()
			b.ReportMetric(float64(len(s.prefixes))*float64(b.N)/b.Elapsed().Seconds(), "routes/s")
			b.ReportMetric(bytesPerRoute, "B/route")
			b.ReportMetric(float64(st.Prefixes()), "prefixes")
			b.ReportMetric(float64(st.Intern.Attrs), "attrsets")
			b.ReportMetric(float64(overlaps)/float64(b.N), "overlaps")
			b.Logf("%s: %+v; intern %+v; active %+v; %d events; paths by class %v", bc.name, st.Prefixes(), st.Intern, active, events/b.N, st.PathsByClass)
		})
	}
}

// BenchmarkReannounce is the cost of the overlap analysis for an
// announcement that changes the origin of a prefix of the loaded full
// table (every other analysis off): each op re-announces one of 4096
// random table prefixes with one of two AS paths, alternately, so that its
// origin changes every time and the overlap analysis runs. "all" considers
// every class (the whole table is walked around the prefix), "scoped" every
// class but other (only the table of in-scope prefixes is looked at, for
// an out-of-scope prefix).
func BenchmarkReannounce(b *testing.B) {
	s := synthetic()
	for _, bc := range []struct {
		name string
		edit func(*Config)
	}{
		{"overlap=off", func(c *Config) { allOff(c) }},
		{"overlap=all", func(c *Config) { allOff(c); c.Overlap.Enabled = true }},
		{"overlap=scoped", func(c *Config) { allOff(c); c.Overlap.Enabled = true; scopeAzure(c) }},
	} {
		b.Run(bc.name, func(b *testing.B) {
			var events int
			cfg := DefaultConfig()
			bc.edit(&cfg)
			cfg.OnEvent = func(Event) { events++ }
			r, err := New(cfg)
			if err != nil {
				b.Fatal(err)
			}
			s.load(b, r, t0)
			rng := rand.New(rand.NewPCG(5, 6))
			pfxs := make([]netip.Prefix, 4096)
			for i := range pfxs {
				pfxs[i] = s.prefixes[rng.IntN(len(s.prefixes))]
			}
			// Two paths of other origins, class other, and their attribute
			// sets interned once before the timer starts.
			paths := [2][]Segment{Seq(64500, 64999, 64601), Seq(64500, 64999, 64602)}
			p := Path{NextHop: transit.Addr, LocalPref: 100, HasLocalPref: true}
			ann := func(i int) {
				p.Prefix, p.ASPath = pfxs[i&(len(pfxs)-1)], paths[(i>>12)&1]
				if err := r.Announce(t0, transit, p); err != nil {
					b.Fatal(err)
				}
			}
			for i := range 2 * len(pfxs) {
				ann(i)
			}
			events = 0
			b.ReportAllocs()
			i := 2 * len(pfxs)
			for b.Loop() {
				ann(i)
				i++
			}
			b.ReportMetric(float64(events)/float64(i-2*len(pfxs)), "events/op")
		})
	}
}

var (
	loadedOnce sync.Once
	loaded     *RIB
)

func loadedRIB(b *testing.B) *RIB {
	loadedOnce.Do(func() {
		cfg := DefaultConfig()
		allOff(&cfg)
		r, err := New(cfg)
		if err != nil {
			b.Fatal(err)
		}
		synthetic().load(b, r, t0)
		loaded = r
	})
	return loaded
}

// lookupAddrs returns addresses inside random table prefixes of a family.
func lookupAddrs(v6 bool) []netip.Addr {
	s := synthetic()
	rng := rand.New(rand.NewPCG(1, 2))
	var out []netip.Addr
	for len(out) < 1<<16 {
		p := s.prefixes[rng.IntN(len(s.prefixes))]
		if p.Addr().Is6() != v6 {
			continue
		}
		b := p.Addr().AsSlice()
		b[len(b)-1] |= byte(rng.IntN(256)) // stays inside: prefixes are at most /48 or /24
		a, _ := netip.AddrFromSlice(b)
		out = append(out, a)
	}
	return out
}

// BenchmarkLookup is the longest-prefix match of an address, returning the
// matched prefix and its routes, on the loaded full table: "reuse" appends
// the routes to a reused buffer (AppendLongestMatch), "alloc" returns a new
// slice (LongestMatch).
func BenchmarkLookup(b *testing.B) {
	r := loadedRIB(b)
	for _, fam := range []struct {
		name string
		v6   bool
	}{{"ipv4", false}, {"ipv6", true}} {
		addrs := lookupAddrs(fam.v6)
		b.Run(fam.name+"/reuse", func(b *testing.B) {
			b.ReportAllocs()
			miss := 0
			i := 0
			var buf []Route
			for b.Loop() {
				var ok bool
				if _, buf, ok = r.AppendLongestMatch(buf[:0], addrs[i&(len(addrs)-1)]); !ok || len(buf) != 1 {
					miss++
				}
				i++
			}
			if miss > 0 {
				b.Fatalf("%d misses", miss)
			}
		})
		b.Run(fam.name+"/alloc", func(b *testing.B) {
			b.ReportAllocs()
			miss := 0
			i := 0
			for b.Loop() {
				if _, _, ok := r.LongestMatch(addrs[i&(len(addrs)-1)]); !ok {
					miss++
				}
				i++
			}
			if miss > 0 {
				b.Fatalf("%d misses", miss)
			}
		})
	}
}

// BenchmarkOverlap lists the supernets and subnets present for random table
// prefixes, appending to a reused buffer.
func BenchmarkOverlap(b *testing.B) {
	r := loadedRIB(b)
	s := synthetic()
	rng := rand.New(rand.NewPCG(3, 4))
	for _, fam := range []struct {
		name string
		v6   bool
	}{{"ipv4", false}, {"ipv6", true}} {
		var pfxs []netip.Prefix
		for len(pfxs) < 1<<16 {
			p := s.prefixes[rng.IntN(len(s.prefixes))]
			if p.Addr().Is6() == fam.v6 {
				pfxs = append(pfxs, p)
			}
		}
		b.Run(fam.name, func(b *testing.B) {
			b.ReportAllocs()
			var buf []netip.Prefix
			found := 0
			i := 0
			for b.Loop() {
				buf = r.AppendOverlaps(buf[:0], pfxs[i&(len(pfxs)-1)])
				found += len(buf)
				i++
			}
			b.ReportMetric(float64(found)/float64(i), "overlaps/op")
		})
	}
}
