package main

import (
	"math/rand/v2"
	"net/netip"

	"github.com/osrg/gobgp/v3/pkg/packet/bgp"
)

// Sender's identity. The next hops are not loopback addresses: Debian's gobgpd 3.10 rejects
// a loopback next hop.
const (
	senderASN = 64500
	// receiverASN is the ASN of every receiver; no generated path contains it (an eBGP
	// speaker drops a path with its own ASN as a loop).
	receiverASN = 65000
	senderID    = "192.0.2.1"
	nextHop4    = "192.0.2.1"
	nextHop6    = "2001:db8::1"
	// maxMsg keeps every UPDATE below the 4,096-byte limit of RFC 4271.
	maxMsg = 4000
)

// table is a synthetic full table: distinct prefixes, each with one of nSets attribute sets
// (an AS path from a pool, a community list that follows the path, a MED on some).
type table struct {
	v4, v6 []netip.Prefix
	set4   []int // attribute set of each prefix
	set6   []int
	paths  [][]uint32
	comms  [][]uint32
	meds   []int64 // -1: no MED
}

// newTable builds n4 IPv4 and n6 IPv6 distinct prefixes over nPaths AS paths, deterministic
// for a seed. Prefix lengths follow roughly the public table (most IPv4 /24, most IPv6 /48),
// as in pkg/rib's benchmark. About 2% of the paths carry 12076 (ExpressRoute) and end in an
// Azure ASN (65515), 1% end in 65515 without 12076.
func newTable(n4, n6, nPaths int, seed uint64) *table {
	rng := rand.New(rand.NewPCG(seed, seed))
	t := &table{}
	for i := range nPaths {
		n := 2 + rng.IntN(6)
		asns := []uint32{senderASN}
		for len(asns) < n {
			if a := 1 + uint32(rng.IntN(70_000)); a != receiverASN && a != senderASN {
				asns = append(asns, a)
			}
		}
		switch {
		case i%50 == 7:
			asns = append(asns, 12076, 65515)
		case i%100 == 3:
			asns = append(asns, 65515)
		}
		t.paths = append(t.paths, asns)
		med := int64(-1)
		if rng.IntN(3) == 0 {
			med = int64(rng.IntN(1000))
		}
		t.meds = append(t.meds, med)
	}
	// 1,000 community lists of 0-4 communities; a path always carries the same one.
	lists := make([][]uint32, 1000)
	for i := range lists {
		for range rng.IntN(5) {
			lists[i] = append(lists[i], uint32(1+rng.IntN(65534))<<16|uint32(rng.IntN(65536)))
		}
	}
	for i := range nPaths {
		t.comms = append(t.comms, lists[i%len(lists)])
	}
	seen := make(map[netip.Prefix]struct{}, n4+n6)
	len4 := []int{24, 24, 24, 24, 24, 24, 24, 24, 23, 22, 22, 21, 20, 19, 18, 16}
	for len(t.v4) < n4 {
		a := netip.AddrFrom4([4]byte{byte(1 + rng.IntN(223)), byte(rng.IntN(256)), byte(rng.IntN(256)), 0})
		p := netip.PrefixFrom(a, len4[rng.IntN(len(len4))]).Masked()
		if _, dup := seen[p]; dup {
			continue
		}
		seen[p] = struct{}{}
		t.v4 = append(t.v4, p)
		t.set4 = append(t.set4, rng.IntN(nPaths))
	}
	len6 := []int{48, 48, 48, 48, 44, 40, 36, 32, 29}
	for len(t.v6) < n6 {
		var b [16]byte
		b[0] = 0x20 | byte(rng.IntN(2))
		for i := 1; i < 6; i++ {
			b[i] = byte(rng.IntN(256))
		}
		p := netip.PrefixFrom(netip.AddrFrom16(b), len6[rng.IntN(len(len6))]).Masked()
		if _, dup := seen[p]; dup {
			continue
		}
		seen[p] = struct{}{}
		t.v6 = append(t.v6, p)
		t.set6 = append(t.set6, rng.IntN(nPaths))
	}
	return t
}

func (t *table) routes() int { return len(t.v4) + len(t.v6) }

// attrs returns the path attributes of set i (NEXT_HOP or MP_REACH_NLRI added by the caller).
func (t *table) attrs(i int) []bgp.PathAttributeInterface {
	a := []bgp.PathAttributeInterface{
		bgp.NewPathAttributeOrigin(bgp.BGP_ORIGIN_ATTR_TYPE_IGP),
		bgp.NewPathAttributeAsPath([]bgp.AsPathParamInterface{bgp.NewAs4PathParam(bgp.BGP_ASPATH_ATTR_TYPE_SEQ, t.paths[i])}),
	}
	if t.meds[i] >= 0 {
		a = append(a, bgp.NewPathAttributeMultiExitDisc(uint32(t.meds[i])))
	}
	if len(t.comms[i]) > 0 {
		a = append(a, bgp.NewPathAttributeCommunities(t.comms[i]))
	}
	return a
}

// updates serializes the table as UPDATE messages: the prefixes of one attribute set share
// messages (IPv4 in the NLRI field, IPv6 in MP_REACH_NLRI), IPv4 first, then an End-of-RIB
// marker for each family. It returns the concatenated messages and their count.
func (t *table) updates() ([]byte, int, error) {
	var out []byte
	msgs := 0
	emit := func(m *bgp.BGPMessage) error {
		b, err := m.Serialize()
		if err != nil {
			return err
		}
		out = append(out, b...)
		msgs++
		return nil
	}
	group := func(sets []int, n int) [][]int {
		g := make([][]int, n)
		for i, s := range sets {
			g[s] = append(g[s], i)
		}
		return g
	}
	for s, idx := range group(t.set4, len(t.paths)) {
		for len(idx) > 0 {
			base := t.attrs(s)
			size := 23 + 64 + 4*len(t.paths[s]) + 4*len(t.comms[s])
			var nlri []*bgp.IPAddrPrefix
			for len(idx) > 0 && size+5 <= maxMsg {
				p := t.v4[idx[0]]
				nlri = append(nlri, bgp.NewIPAddrPrefix(uint8(p.Bits()), p.Addr().String()))
				size += 1 + (p.Bits()+7)/8
				idx = idx[1:]
			}
			if err := emit(bgp.NewBGPUpdateMessage(nil, append(base, bgp.NewPathAttributeNextHop(nextHop4)), nlri)); err != nil {
				return nil, 0, err
			}
		}
	}
	for s, idx := range group(t.set6, len(t.paths)) {
		for len(idx) > 0 {
			base := t.attrs(s)
			size := 23 + 96 + 4*len(t.paths[s]) + 4*len(t.comms[s])
			var nlri []bgp.AddrPrefixInterface
			for len(idx) > 0 && size+17 <= maxMsg {
				p := t.v6[idx[0]]
				nlri = append(nlri, bgp.NewIPv6AddrPrefix(uint8(p.Bits()), p.Addr().String()))
				size += 1 + (p.Bits()+7)/8
				idx = idx[1:]
			}
			if err := emit(bgp.NewBGPUpdateMessage(nil, append(base, bgp.NewPathAttributeMpReachNLRI(nextHop6, nlri)), nil)); err != nil {
				return nil, 0, err
			}
		}
	}
	// End-of-RIB (RFC 4724): an empty UPDATE for IPv4, an empty MP_UNREACH_NLRI for IPv6.
	if err := emit(bgp.NewEndOfRib(bgp.RF_IPv4_UC)); err != nil {
		return nil, 0, err
	}
	if err := emit(bgp.NewEndOfRib(bgp.RF_IPv6_UC)); err != nil {
		return nil, 0, err
	}
	return out, msgs, nil
}
