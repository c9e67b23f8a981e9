// Package bgpconv turns GoBGP's wire types (UPDATE messages, path attributes, NLRI) into the
// paths of pkg/rib. Every source of the bgp receiver (the embedded speaker, BMP, MRT) goes
// through it, so a route looks the same whichever way it arrived.
package bgpconv

import (
	"net"
	"net/netip"
	"slices"
	"strconv"
	"strings"

	"github.com/osrg/gobgp/v3/pkg/packet/bgp"

	"github.com/erviz/otelcol-erviz/pkg/rib"
)

// asTrans is AS_TRANS (RFC 6793), the placeholder for a 4-byte ASN on a 2-byte session.
const asTrans = 23456

// Withdrawal is a withdrawn route: prefix and ADD-PATH ID.
type Withdrawal struct {
	Prefix netip.Prefix
	ID     uint32
}

// Update is the content of an UPDATE message restricted to IPv4 and IPv6 unicast.
type Update struct {
	Announced []rib.Path
	Withdrawn []Withdrawal
	// EndOfRIB is set for an empty UPDATE (the IPv4 End-of-RIB marker) or an MP_UNREACH
	// without NLRI.
	EndOfRIB bool
	// EndOfRIBFamily is the family of an End-of-RIB marker (schema spelling: ipv4_unicast,
	// ipv6_unicast, ...).
	EndOfRIBFamily string
}

// Prefix converts an NLRI to a prefix and its ADD-PATH ID; ok is false for anything but
// IPv4/IPv6 unicast.
func Prefix(n bgp.AddrPrefixInterface) (netip.Prefix, uint32, bool) {
	var a netip.Addr
	var length uint8
	switch v := n.(type) {
	case *bgp.IPAddrPrefix:
		ip4 := v.Prefix.To4()
		if ip4 == nil {
			return netip.Prefix{}, 0, false
		}
		a, _ = netip.AddrFromSlice(ip4)
		length = v.Length
	case *bgp.IPv6AddrPrefix:
		ip6 := v.Prefix.To16()
		if ip6 == nil {
			return netip.Prefix{}, 0, false
		}
		a, _ = netip.AddrFromSlice(ip6)
		length = v.Length
	default:
		return netip.Prefix{}, 0, false
	}
	p, err := a.Prefix(int(length))
	if err != nil {
		return netip.Prefix{}, 0, false
	}
	return p, n.PathIdentifier(), true
}

// addr converts a next hop; IPv4-mapped addresses become IPv4.
func addr(ip net.IP) (netip.Addr, bool) {
	a, ok := netip.AddrFromSlice(ip)
	if !ok {
		return netip.Addr{}, false
	}
	return a.Unmap(), true
}

// Attrs fills the attributes of p (next hop, AS path, origin, MED, local preference,
// communities, large communities) from path attributes. The MP_REACH next hop is used
// when the attributes carry one (IPv6, or IPv4 over MP-BGP).
func Attrs(attrs []bgp.PathAttributeInterface, p *rib.Path) {
	var as4 *bgp.PathAttributeAs4Path
	var asPath *bgp.PathAttributeAsPath
	for _, a := range attrs {
		switch v := a.(type) {
		case *bgp.PathAttributeOrigin:
			p.Origin = rib.Origin(v.Value)
		case *bgp.PathAttributeAsPath:
			asPath = v
		case *bgp.PathAttributeAs4Path:
			as4 = v
		case *bgp.PathAttributeNextHop:
			if nh, ok := addr(v.Value); ok && !p.NextHop.IsValid() {
				p.NextHop = nh
			}
		case *bgp.PathAttributeMpReachNLRI:
			if nh, ok := addr(v.Nexthop); ok && !nh.IsUnspecified() {
				p.NextHop = nh
			} else if nh, ok := addr(v.LinkLocalNexthop); ok {
				p.NextHop = nh
			}
		case *bgp.PathAttributeMultiExitDisc:
			p.MED, p.HasMED = v.Value, true
		case *bgp.PathAttributeLocalPref:
			p.LocalPref, p.HasLocalPref = v.Value, true
		case *bgp.PathAttributeCommunities:
			p.Communities = p.Communities[:0]
			for _, c := range v.Value {
				p.Communities = append(p.Communities, rib.Community(c))
			}
		case *bgp.PathAttributeLargeCommunities:
			p.Large = p.Large[:0]
			for _, c := range v.Values {
				p.Large = append(p.Large, rib.LargeCommunity{Global: c.ASN, Local1: c.LocalData1, Local2: c.LocalData2})
			}
		}
	}
	p.ASPath = p.ASPath[:0]
	if asPath != nil {
		for _, seg := range asPath.Value {
			p.ASPath = append(p.ASPath, rib.Segment{Type: rib.SegmentType(seg.GetType()), ASNs: seg.GetAS()})
		}
	}
	if as4 != nil && containsASTrans(p.ASPath) {
		p.ASPath = mergeAS4(p.ASPath, as4)
	}
}

func containsASTrans(segs []rib.Segment) bool {
	for _, s := range segs {
		for _, a := range s.ASNs {
			if a == asTrans {
				return true
			}
		}
	}
	return false
}

// mergeAS4 reconstructs the 4-byte AS path (RFC 6793 section 4.2.3): the leading ASNs of
// AS_PATH that AS4_PATH does not cover, then AS4_PATH.
func mergeAS4(path []rib.Segment, as4 *bgp.PathAttributeAs4Path) []rib.Segment {
	n2, n4 := 0, 0
	for _, s := range path {
		n2 += segLen(s.Type, len(s.ASNs))
	}
	var out4 []rib.Segment
	for _, s := range as4.Value {
		out4 = append(out4, rib.Segment{Type: rib.SegmentType(s.Type), ASNs: append([]uint32(nil), s.AS...)})
		n4 += segLen(rib.SegmentType(s.Type), len(s.AS))
	}
	if n4 > n2 {
		return path // ignore AS4_PATH, as the RFC says
	}
	keep := n2 - n4
	var out []rib.Segment
	for _, s := range path {
		if keep == 0 {
			break
		}
		l := segLen(s.Type, len(s.ASNs))
		if l <= keep {
			out = append(out, s)
			keep -= l
			continue
		}
		out = append(out, rib.Segment{Type: s.Type, ASNs: s.ASNs[:keep]})
		keep = 0
	}
	return append(out, out4...)
}

func segLen(t rib.SegmentType, n int) int {
	switch t {
	case rib.SegmentSet:
		return 1
	case rib.SegmentConfedSequence, rib.SegmentConfedSet:
		return 0
	}
	return n
}

// FromUpdate extracts the IPv4/IPv6 unicast announcements and withdrawals of an UPDATE.
func FromUpdate(u *bgp.BGPUpdate) Update {
	var out Update
	for _, w := range u.WithdrawnRoutes {
		if p, id, ok := Prefix(w); ok {
			out.Withdrawn = append(out.Withdrawn, Withdrawal{Prefix: p, ID: id})
		}
	}
	var base rib.Path
	Attrs(u.PathAttributes, &base)
	// NLRI fields of the message body (IPv4) take the NEXT_HOP attribute's next hop.
	v4 := base
	for _, a := range u.PathAttributes {
		if nh, ok := a.(*bgp.PathAttributeNextHop); ok {
			if h, ok := addr(nh.Value); ok {
				v4.NextHop = h
			}
		}
	}
	for _, n := range u.NLRI {
		if p, id, ok := Prefix(n); ok {
			r := v4
			r.Prefix, r.ID = p, id
			out.Announced = append(out.Announced, r)
		}
	}
	hasMP := false
	for _, a := range u.PathAttributes {
		switch v := a.(type) {
		case *bgp.PathAttributeMpReachNLRI:
			hasMP = true
			for _, n := range v.Value {
				if p, id, ok := Prefix(n); ok {
					r := base
					r.Prefix, r.ID = p, id
					out.Announced = append(out.Announced, r)
				}
			}
		case *bgp.PathAttributeMpUnreachNLRI:
			hasMP = true
			if len(v.Value) == 0 {
				out.EndOfRIB = true
				out.EndOfRIBFamily = FamilyName(bgp.AfiSafiToRouteFamily(v.AFI, v.SAFI))
			}
			for _, n := range v.Value {
				if p, id, ok := Prefix(n); ok {
					out.Withdrawn = append(out.Withdrawn, Withdrawal{Prefix: p, ID: id})
				}
			}
		}
	}
	if !hasMP && len(u.NLRI) == 0 && len(u.WithdrawnRoutes) == 0 && len(u.PathAttributes) == 0 {
		out.EndOfRIB = true
		out.EndOfRIBFamily = FamilyName(bgp.RF_IPv4_UC)
	}
	return out
}

// Session is what the two OPEN messages of a session say.
type Session struct {
	// RouterID is the peer's BGP identifier.
	RouterID netip.Addr
	// HoldTime is the negotiated hold time in seconds (the smaller of the two; 0: no
	// keepalives).
	HoldTime uint16
	// Families both sides announced (IPv4 unicast when neither names any), in the schema's
	// spelling: ipv4_unicast, ipv6_unicast, ipv4_multicast, l3vpn_ipv4_unicast, ...
	Families []string
	// Capabilities the peer announced, by name (multiprotocol, route-refresh, 4-octet-as,
	// graceful-restart, add-path, ...), each once, in the order of its OPEN.
	Capabilities []string
}

// FamilyName spells a route family as the schema does (ipv4_unicast).
func FamilyName(rf bgp.RouteFamily) string {
	return strings.ReplaceAll(rf.String(), "-", "_")
}

func openFamilies(o *bgp.BGPOpen) map[bgp.RouteFamily]bool {
	out := map[bgp.RouteFamily]bool{}
	for _, op := range o.OptParams {
		if pc, ok := op.(*bgp.OptionParameterCapability); ok {
			for _, c := range pc.Capability {
				if mp, ok := c.(*bgp.CapMultiProtocol); ok {
					out[mp.CapValue] = true
				}
			}
		}
	}
	if len(out) == 0 {
		out[bgp.RF_IPv4_UC] = true // RFC 4760: no multiprotocol capability, IPv4 unicast
	}
	return out
}

// capName names a capability code: GoBGP's name, extended-message (RFC 8654), else
// unknown-<code>.
func capName(c bgp.BGPCapabilityCode) string {
	if n, ok := bgp.CapNameMap[c]; ok {
		return n
	}
	if c == 6 {
		return "extended-message"
	}
	return "unknown-" + strconv.Itoa(int(c))
}

// SessionOf reads the session from the OPEN the local side sent and the one it received.
func SessionOf(sent, received *bgp.BGPOpen) Session {
	var s Session
	if a, ok := netip.AddrFromSlice(received.ID.To4()); ok {
		s.RouterID = a
	}
	s.HoldTime = min(sent.HoldTime, received.HoldTime)
	ours, theirs := openFamilies(sent), openFamilies(received)
	for rf := range theirs {
		if ours[rf] {
			s.Families = append(s.Families, FamilyName(rf))
		}
	}
	slices.Sort(s.Families)
	seen := map[bgp.BGPCapabilityCode]bool{}
	for _, op := range received.OptParams {
		if pc, ok := op.(*bgp.OptionParameterCapability); ok {
			for _, c := range pc.Capability {
				if !seen[c.Code()] {
					seen[c.Code()] = true
					s.Capabilities = append(s.Capabilities, capName(c.Code()))
				}
			}
		}
	}
	return s
}

// MessageType names a BGP message type as the schema's bgp.message.type does: open, update,
// notification, keepalive, refresh, else type_<n>.
func MessageType(t uint8) string {
	switch t {
	case bgp.BGP_MSG_OPEN:
		return "open"
	case bgp.BGP_MSG_UPDATE:
		return "update"
	case bgp.BGP_MSG_NOTIFICATION:
		return "notification"
	case bgp.BGP_MSG_KEEPALIVE:
		return "keepalive"
	case bgp.BGP_MSG_ROUTE_REFRESH:
		return "refresh"
	}
	return "type_" + strconv.Itoa(int(t))
}
