package rib

import (
	"fmt"
	"net/netip"
	"strconv"
	"strings"
	"sync/atomic"
)

// SourceKind says how a peer's routes reach the collector.
type SourceKind uint8

const (
	// SourceBGP is a direct BGP session between the collector and the peer.
	SourceBGP SourceKind = iota
	// SourceBMP is a peer of a router monitored over BMP (RFC 7854); the
	// peer is identified by the (router, peer address) pair.
	SourceBMP
	// SourceMRT is a peer found in an MRT dump or message log (RFC 6396).
	SourceMRT
)

func (k SourceKind) String() string {
	switch k {
	case SourceBGP:
		return "bgp"
	case SourceBMP:
		return "bmp"
	case SourceMRT:
		return "mrt"
	}
	return "source(" + strconv.Itoa(int(k)) + ")"
}

// Peer identifies the source of a set of routes. It is a comparable value
// and is used as a map key: two Peers are the same peer exactly when all of
// their fields are equal, so a receiver must keep Name stable for a session.
type Peer struct {
	Kind SourceKind
	// Router is the monitored router for BMP (the router that has the
	// session with Addr) and the collector or file for MRT. It is the zero
	// Addr for direct BGP sessions.
	Router netip.Addr
	// Addr is the neighbor address of the BGP session.
	Addr netip.Addr
	// ASN is the neighbor's autonomous system number.
	ASN uint32
	// Name is a free-form label (for example the configured neighbor name).
	Name string
}

func (p Peer) String() string {
	var b strings.Builder
	b.WriteString(p.Kind.String())
	b.WriteByte(':')
	if p.Router.IsValid() {
		b.WriteString(p.Router.String())
		b.WriteByte('/')
	}
	b.WriteString(p.Addr.String())
	b.WriteString(" AS")
	b.WriteString(strconv.FormatUint(uint64(p.ASN), 10))
	if p.Name != "" {
		b.WriteString(" (")
		b.WriteString(p.Name)
		b.WriteByte(')')
	}
	return b.String()
}

// Family is an address family.
type Family uint8

const (
	IPv4 Family = iota
	IPv6
)

// NumFamilies is the number of address families counted by the RIB.
const NumFamilies = 2

func (f Family) String() string {
	if f == IPv4 {
		return "ipv4"
	}
	return "ipv6"
}

// FamilyOf returns the address family of a prefix.
func FamilyOf(p netip.Prefix) Family {
	if p.Addr().Is4() {
		return IPv4
	}
	return IPv6
}

// Origin is the BGP ORIGIN attribute, with its wire values.
type Origin uint8

const (
	OriginIGP        Origin = 0
	OriginEGP        Origin = 1
	OriginIncomplete Origin = 2
)

func (o Origin) String() string {
	switch o {
	case OriginIGP:
		return "igp"
	case OriginEGP:
		return "egp"
	case OriginIncomplete:
		return "incomplete"
	}
	return "origin(" + strconv.Itoa(int(o)) + ")"
}

// SegmentType is the type of an AS_PATH segment, with its wire values.
type SegmentType uint8

const (
	SegmentSet            SegmentType = 1
	SegmentSequence       SegmentType = 2
	SegmentConfedSequence SegmentType = 3
	SegmentConfedSet      SegmentType = 4
)

// Segment is one AS_PATH segment.
type Segment struct {
	Type SegmentType
	ASNs []uint32
}

// Seq builds an AS path made of a single AS_SEQUENCE segment; a convenience
// for callers and tests.
func Seq(asns ...uint32) []Segment {
	if len(asns) == 0 {
		return nil
	}
	return []Segment{{Type: SegmentSequence, ASNs: asns}}
}

// Community is a standard community (RFC 1997), high 16 bits the ASN.
type Community uint32

func (c Community) String() string {
	return strconv.FormatUint(uint64(c>>16), 10) + ":" + strconv.FormatUint(uint64(c&0xffff), 10)
}

// LargeCommunity is a large community (RFC 8092).
type LargeCommunity struct {
	Global, Local1, Local2 uint32
}

func (c LargeCommunity) String() string {
	return fmt.Sprintf("%d:%d:%d", c.Global, c.Local1, c.Local2)
}

// Path is one announced route as handed to [RIB.Announce]. The RIB copies
// what it keeps: the caller may reuse the slices after the call.
type Path struct {
	Prefix netip.Prefix
	// ID is the ADD-PATH path identifier (RFC 7911), 0 without ADD-PATH.
	// A peer has at most one path per (prefix, ID).
	ID           uint32
	NextHop      netip.Addr
	ASPath       []Segment
	Origin       Origin
	MED          uint32
	HasMED       bool
	LocalPref    uint32
	HasLocalPref bool
	Communities  []Community
	Large        []LargeCommunity
}

// ASPath is an interned, immutable AS path shared by every route that
// carries it. Its fields must not be modified.
type ASPath struct {
	Segments []Segment
	// OriginASN is the origin AS of the path: the last ASN of the last
	// non-confederation segment when it is an AS_SEQUENCE, the only member
	// when it is an AS_SET of one ASN, and 0 (unknown) when it is an AS_SET
	// of several ASNs (an aggregate) or the path is empty.
	OriginASN uint32
	// Length is the path length used by best-path selection (RFC 4271
	// 9.1.2.2): one per ASN of an AS_SEQUENCE, one per AS_SET, nothing for
	// confederation segments.
	Length int

	key  string
	refs int32

	// Memo of the last classification, valid when the rules do not look
	// at prefixes (the class then depends on the path and the peer ASN).
	memoPeer  uint32
	memoClass Class
	memoOK    bool

	// text caches String for look-ups (see Text).
	text atomic.Pointer[string]
}

// Contains reports whether asn appears anywhere in the path (sets included).
func (a *ASPath) Contains(asn uint32) bool {
	for _, s := range a.Segments {
		for _, x := range s.ASNs {
			if x == asn {
				return true
			}
		}
	}
	return false
}

// String formats the path the usual way: sequences space separated, sets in
// braces, confederation segments in parentheses.
func (a *ASPath) String() string {
	var b strings.Builder
	for i, s := range a.Segments {
		if i > 0 {
			b.WriteByte(' ')
		}
		open, sep, closing := "", " ", ""
		switch s.Type {
		case SegmentSet:
			open, sep, closing = "{", ",", "}"
		case SegmentConfedSequence:
			open, closing = "(", ")"
		case SegmentConfedSet:
			open, sep, closing = "[", ",", "]"
		}
		b.WriteString(open)
		for j, x := range s.ASNs {
			if j > 0 {
				b.WriteString(sep)
			}
			b.WriteString(strconv.FormatUint(uint64(x), 10))
		}
		b.WriteString(closing)
	}
	return b.String()
}

func originASN(segs []Segment) uint32 {
	for i := len(segs) - 1; i >= 0; i-- {
		s := segs[i]
		if s.Type == SegmentConfedSequence || s.Type == SegmentConfedSet || len(s.ASNs) == 0 {
			continue
		}
		if s.Type == SegmentSet {
			if len(s.ASNs) == 1 {
				return s.ASNs[0]
			}
			return 0
		}
		return s.ASNs[len(s.ASNs)-1]
	}
	return 0
}

func pathLength(segs []Segment) int {
	n := 0
	for _, s := range segs {
		switch s.Type {
		case SegmentSequence:
			n += len(s.ASNs)
		case SegmentSet:
			n++
		}
	}
	return n
}

// Communities is an interned, immutable list of standard communities.
type Communities struct {
	Values []Community
	key    string
	refs   int32
}

// LargeCommunities is an interned, immutable list of large communities.
type LargeCommunities struct {
	Values []LargeCommunity
	key    string
	refs   int32
}

// Attrs is an interned, immutable set of path attributes shared by every
// route that carries it (a full table has far fewer distinct attribute sets
// than routes). Its fields must not be modified.
type Attrs struct {
	NextHop      netip.Addr
	ASPath       *ASPath
	Origin       Origin
	HasMED       bool
	HasLocalPref bool
	Class        Class
	MED          uint32
	LocalPref    uint32
	Communities  *Communities      // nil when the route has none
	Large        *LargeCommunities // nil when the route has none
	refs         int32
	// nextHopText caches NextHop's text for look-ups (see NextHopText).
	nextHopText atomic.Pointer[string]
}

// CommunityValues returns the standard communities (nil when none). The
// slice is shared and must not be modified.
func (a *Attrs) CommunityValues() []Community {
	if a.Communities == nil {
		return nil
	}
	return a.Communities.Values
}

// LargeValues returns the large communities (nil when none). The slice is
// shared and must not be modified.
func (a *Attrs) LargeValues() []LargeCommunity {
	if a.Large == nil {
		return nil
	}
	return a.Large.Values
}

// sameExceptNextHop reports whether two attribute sets differ at most in
// their next hop (and the class derived from it).
func sameExceptNextHop(a, b *Attrs) bool {
	return a.ASPath == b.ASPath && a.Origin == b.Origin && a.HasMED == b.HasMED &&
		a.MED == b.MED && a.HasLocalPref == b.HasLocalPref && a.LocalPref == b.LocalPref &&
		a.Communities == b.Communities && a.Large == b.Large
}

// Route is one path of the RIB as returned by look-ups.
type Route struct {
	Peer   Peer
	Prefix netip.Prefix
	ID     uint32
	Attrs  *Attrs
}

// OriginASN is the route's origin AS: the AS path's origin, or the peer's
// ASN when the path is empty (a route originated inside the neighbor AS,
// as seen on iBGP).
func (r Route) OriginASN() uint32 {
	if len(r.Attrs.ASPath.Segments) == 0 {
		return r.Peer.ASN
	}
	return r.Attrs.ASPath.OriginASN
}
