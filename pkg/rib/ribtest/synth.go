// Package ribtest holds pkg/rib's benchmark data for benchmarks of other packages: the
// synthetic full table of pkg/rib's bench_test.go (same generator, same seed).
package ribtest

import (
	"math/rand/v2"
	"net/netip"
	"sync"
	"time"

	"github.com/erviz/otelcol-erviz/pkg/rib"
)

// A synthetic full table: 1M distinct IPv4 and 200k distinct IPv6
// prefixes, 50k distinct AS paths over 70k ASNs, 1k community lists, from
// one transit peer. Prefix lengths follow roughly the shape of the public
// table (most IPv4 /24, most IPv6 /48).
type Table struct {
	Prefixes []netip.Prefix
	path     []uint32
	comm     []uint16
	paths    [][]rib.Segment
	comms    [][]rib.Community
}

// Size4 and Size6 are the numbers of IPv4 and IPv6 prefixes of the table.
const (
	Size4 = 1_000_000
	Size6 = 200_000
)

var (
	once  sync.Once
	synth *Table
)

// Synthetic returns the table (generated once, deterministic).
func Synthetic() *Table {
	once.Do(func() {
		rng := rand.New(rand.NewPCG(7, 7))
		s := &Table{}
		for range 50_000 {
			n := 2 + rng.IntN(6)
			asns := []uint32{64500}
			for range n - 1 {
				asns = append(asns, 1+uint32(rng.IntN(70_000)))
			}
			s.paths = append(s.paths, rib.Seq(asns...))
		}
		for range 1000 {
			var c []rib.Community
			for range rng.IntN(5) {
				c = append(c, rib.Community(rng.Uint32()))
			}
			s.comms = append(s.comms, c)
		}
		seen := make(map[netip.Prefix]struct{}, Size4+Size6)
		add := func(p netip.Prefix) bool {
			if _, dup := seen[p]; dup {
				return false
			}
			seen[p] = struct{}{}
			s.Prefixes = append(s.Prefixes, p)
			return true
		}
		len4 := []int{24, 24, 24, 24, 24, 24, 24, 24, 23, 22, 22, 21, 20, 19, 18, 16}
		for n := 0; n < Size4; {
			a := netip.AddrFrom4([4]byte{byte(1 + rng.IntN(223)), byte(rng.IntN(256)), byte(rng.IntN(256)), 0})
			if add(netip.PrefixFrom(a, len4[rng.IntN(len(len4))]).Masked()) {
				n++
			}
		}
		len6 := []int{48, 48, 48, 48, 44, 40, 36, 32, 29}
		for n := 0; n < Size6; {
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
		for range s.Prefixes {
			pi := rng.IntN(len(s.paths))
			s.path = append(s.path, uint32(pi))
			s.comm = append(s.comm, uint16(pi%len(s.comms)))
		}
		synth = s
	})
	return synth
}

// Transit is the peer the table is learned from.
var Transit = rib.Peer{Addr: netip.MustParseAddr("192.0.2.1"), ASN: 64500, Name: "transit"}

// Load announces the table from Transit into r.
func (s *Table) Load(r *rib.RIB, now time.Time) error {
	nh := Transit.Addr
	for i, p := range s.Prefixes {
		err := r.Announce(now, Transit, rib.Path{
			Prefix: p, NextHop: nh, ASPath: s.paths[s.path[i]], Communities: s.comms[s.comm[i]],
			LocalPref: 100, HasLocalPref: true,
		})
		if err != nil {
			return err
		}
	}
	return nil
}

// Addrs returns n addresses inside random table prefixes of a family (IPv6 when v6).
func (s *Table) Addrs(n int, v6 bool, seed uint64) []netip.Addr {
	rng := rand.New(rand.NewPCG(seed, 2))
	var out []netip.Addr
	for len(out) < n {
		p := s.Prefixes[rng.IntN(len(s.Prefixes))]
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
