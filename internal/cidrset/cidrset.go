// Package cidrset holds the prefix sets and prefix tables that components build from
// configuration (Azure prefixes, on-premises prefixes, allowed exporters, per-exporter
// sampling rates). Look-ups go through a bart routing table: longest-prefix match in tens
// of nanoseconds, without allocation, whatever the number of prefixes.
package cidrset

import (
	"fmt"
	"net/netip"
	"strings"

	"github.com/gaissmai/bart"
)

// ParsePrefix reads a CIDR ("10.0.0.0/8", "2001:db8::/32") or a single address
// ("192.0.2.1", taken as a /32 or /128). Host bits must be zero, so a typo such as
// 10.1.0.0/8 is reported instead of silently widened. IPv4-mapped IPv6 is unmapped.
func ParsePrefix(s string) (netip.Prefix, error) {
	s = strings.TrimSpace(s)
	if !strings.Contains(s, "/") {
		a, err := netip.ParseAddr(s)
		if err != nil {
			return netip.Prefix{}, fmt.Errorf("%q is neither an address nor a CIDR prefix", s)
		}
		a = a.Unmap()
		return netip.PrefixFrom(a, a.BitLen()), nil
	}
	p, err := netip.ParsePrefix(s)
	if err != nil {
		return netip.Prefix{}, fmt.Errorf("%q is not a CIDR prefix: %w", s, err)
	}
	if p.Masked() != p {
		return netip.Prefix{}, fmt.Errorf("%q has host bits set (did you mean %s?)", s, p.Masked())
	}
	if p.Addr().Is4In6() && p.Bits() >= 96 {
		p = netip.PrefixFrom(p.Addr().Unmap(), p.Bits()-96)
	}
	return p, nil
}

// Set is a set of prefixes. The zero value is an empty set. It is safe for concurrent
// reads once built.
type Set struct {
	t   bart.Lite
	pfx []netip.Prefix
}

// NewSet parses the given prefixes; the error names every entry that is wrong.
func NewSet(cidrs []string) (*Set, error) {
	s := &Set{}
	var bad []string
	for _, c := range cidrs {
		p, err := ParsePrefix(c)
		if err != nil {
			bad = append(bad, err.Error())
			continue
		}
		s.Add(p)
	}
	if len(bad) > 0 {
		return nil, fmt.Errorf("invalid prefixes: %s", strings.Join(bad, "; "))
	}
	return s, nil
}

// MustSet is NewSet for literals known to be valid; it panics on error.
func MustSet(cidrs ...string) *Set {
	s, err := NewSet(cidrs)
	if err != nil {
		panic(err)
	}
	return s
}

// Add inserts a prefix.
func (s *Set) Add(p netip.Prefix) {
	if !s.t.Get(p) {
		s.pfx = append(s.pfx, p)
	}
	s.t.Insert(p)
}

// Contains reports whether an address lies in one of the prefixes. IPv4-mapped IPv6
// addresses match their IPv4 prefixes.
func (s *Set) Contains(a netip.Addr) bool {
	if s == nil || len(s.pfx) == 0 {
		return false
	}
	return s.t.Lookup(a.Unmap())
}

// Len is the number of distinct prefixes.
func (s *Set) Len() int {
	if s == nil {
		return 0
	}
	return len(s.pfx)
}

// Prefixes returns the prefixes in insertion order.
func (s *Set) Prefixes() []netip.Prefix {
	if s == nil {
		return nil
	}
	return append([]netip.Prefix(nil), s.pfx...)
}

// Overlapping returns the pairs (a from s, b from o) where one prefix contains the other,
// for configuration errors such as a prefix listed both as Azure and as on-premises.
func (s *Set) Overlapping(o *Set) [][2]netip.Prefix {
	if s == nil || o == nil {
		return nil
	}
	var out [][2]netip.Prefix
	for _, a := range s.pfx {
		for _, b := range o.pfx {
			if a.Overlaps(b) {
				out = append(out, [2]netip.Prefix{a, b})
			}
		}
	}
	return out
}

// Table maps prefixes to values with longest-prefix-match look-up.
type Table[V any] struct {
	t bart.Table[V]
}

// Insert sets the value of a prefix.
func (t *Table[V]) Insert(p netip.Prefix, v V) { t.t.Insert(p, v) }

// Lookup returns the value of the most specific prefix containing a.
func (t *Table[V]) Lookup(a netip.Addr) (V, bool) {
	if t == nil || t.t.Size() == 0 {
		var zero V
		return zero, false
	}
	return t.t.Lookup(a.Unmap())
}

// Len is the number of prefixes.
func (t *Table[V]) Len() int {
	if t == nil {
		return 0
	}
	return t.t.Size()
}
