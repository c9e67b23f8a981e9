package rib

import (
	"fmt"
	"net/netip"
	"slices"
	"strings"
)

// Class says where a route comes from in a hybrid Azure network.
type Class uint8

const (
	// ClassOther is a route no rule matched (the default default).
	ClassOther Class = iota
	// ClassExpressRoute is a route learned over ExpressRoute: its AS path
	// contains 12076, the Microsoft edge (MSEE).
	ClassExpressRoute
	// ClassAzure is a route originated in Azure (VNet address space,
	// Route Server, gateways): origin ASN 65515-65520, the range Azure
	// reserves.
	ClassAzure
	// ClassVPN is a route learned over a site-to-site VPN.
	ClassVPN
	// ClassNVA is a route originated or re-advertised by a network virtual
	// appliance.
	ClassNVA
	// ClassOnPrem is an on-premises route.
	ClassOnPrem
)

// NumClasses is the number of route classes.
const NumClasses = 6

var classNames = [NumClasses]string{"other", "expressroute", "azure", "vpn", "nva", "onprem"}

func (c Class) String() string {
	if int(c) < len(classNames) {
		return classNames[c]
	}
	return fmt.Sprintf("class(%d)", uint8(c))
}

// ParseClass parses a class name as returned by Class.String.
func ParseClass(s string) (Class, error) {
	for i, n := range classNames {
		if strings.EqualFold(s, n) {
			return Class(i), nil
		}
	}
	return 0, fmt.Errorf("rib: unknown route class %q (want one of %s)", s, strings.Join(classNames[:], ", "))
}

// ClassRule assigns Class to the routes it matches. Every non-empty
// criterion must match (AND); within a criterion any element may match (OR).
// A rule with no criterion matches every route.
type ClassRule struct {
	Class Class
	// OriginASNs matches the route's origin ASN (see Route.OriginASN).
	OriginASNs []uint32
	// PathContains matches when any of these ASNs appears anywhere in the
	// AS path.
	PathContains []uint32
	// PeerASNs matches the ASN of the peer the route was learned from.
	PeerASNs []uint32
	// Prefixes matches a route whose prefix equals or lies inside one of
	// these prefixes.
	Prefixes []netip.Prefix
}

// ClassConfig configures route classification: Rules are tried in order and
// the first match wins; routes no rule matches get Default.
type ClassConfig struct {
	Rules   []ClassRule
	Default Class
}

// DefaultClassConfig returns the default classification:
//
//  1. expressroute: the AS path contains 12076 (Microsoft's edge), so
//     on-premises routes seen from Azure ("65515 12076 65001") and Azure
//     routes seen from on-premises ("12076 ...") are both ExpressRoute.
//  2. azure: the origin ASN is 65515-65520 (VNet address space announced by
//     a gateway or Route Server, path "65515").
//  3. everything else: other.
//
// VPN, NVA and on-premises routes carry no universal marker (a VPN gateway
// also uses 65515, and NVAs use any private ASN), so the vpn, nva and onprem
// classes need rules listing the customer's ASNs or prefixes, for example
// {Class: ClassVPN, OriginASNs: []uint32{65050}} or
// {Class: ClassNVA, PeerASNs: []uint32{65010}}, placed before or after the
// default rules as needed.
func DefaultClassConfig() ClassConfig {
	return ClassConfig{
		Rules: []ClassRule{
			{Class: ClassExpressRoute, PathContains: []uint32{12076}},
			{Class: ClassAzure, OriginASNs: []uint32{65515, 65516, 65517, 65518, 65519, 65520}},
		},
		Default: ClassOther,
	}
}

type classifier struct {
	rules      []ClassRule
	def        Class
	byPrefixes bool // some rule looks at prefixes: no memo
}

func newClassifier(c ClassConfig) (*classifier, error) {
	cl := &classifier{def: c.Default}
	if int(c.Default) >= NumClasses {
		return nil, fmt.Errorf("rib: invalid default class %d", c.Default)
	}
	for i, r := range c.Rules {
		if int(r.Class) >= NumClasses {
			return nil, fmt.Errorf("rib: class rule %d: invalid class %d", i, r.Class)
		}
		r.OriginASNs = slices.Clone(r.OriginASNs)
		r.PathContains = slices.Clone(r.PathContains)
		r.PeerASNs = slices.Clone(r.PeerASNs)
		r.Prefixes = slices.Clone(r.Prefixes)
		for j, p := range r.Prefixes {
			if !p.IsValid() {
				return nil, fmt.Errorf("rib: class rule %d: invalid prefix %v", i, p)
			}
			r.Prefixes[j] = p.Masked()
		}
		cl.rules = append(cl.rules, r)
		if len(r.Prefixes) > 0 {
			cl.byPrefixes = true
		}
	}
	return cl, nil
}

// prefixWithin reports whether p equals or lies inside q.
func prefixWithin(p, q netip.Prefix) bool {
	return q.Bits() <= p.Bits() && q.Addr().BitLen() == p.Addr().BitLen() && q.Contains(p.Addr())
}

func (c *classifier) classify(pfx netip.Prefix, peerASN uint32, path *ASPath) Class {
	if c.byPrefixes {
		return c.eval(pfx, peerASN, path)
	}
	if path.memoOK && path.memoPeer == peerASN {
		return path.memoClass
	}
	cl := c.eval(pfx, peerASN, path)
	path.memoPeer, path.memoClass, path.memoOK = peerASN, cl, true
	return cl
}

func (c *classifier) eval(pfx netip.Prefix, peerASN uint32, path *ASPath) Class {
	origin := path.OriginASN
	if len(path.Segments) == 0 {
		origin = peerASN
	}
	for i := range c.rules {
		r := &c.rules[i]
		if len(r.OriginASNs) > 0 && !slices.Contains(r.OriginASNs, origin) {
			continue
		}
		if len(r.PeerASNs) > 0 && !slices.Contains(r.PeerASNs, peerASN) {
			continue
		}
		if len(r.PathContains) > 0 && !slices.ContainsFunc(r.PathContains, path.Contains) {
			continue
		}
		if len(r.Prefixes) > 0 && !slices.ContainsFunc(r.Prefixes, func(q netip.Prefix) bool { return prefixWithin(pfx, q) }) {
			continue
		}
		return r.Class
	}
	return c.def
}
