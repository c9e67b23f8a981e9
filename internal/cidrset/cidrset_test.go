package cidrset

import (
	"net/netip"
	"strings"
	"testing"
)

func TestSet(t *testing.T) {
	s, err := NewSet([]string{"10.1.0.0/16", "192.168.0.0/16", "2001:db8::/32", "203.0.113.7"})
	if err != nil {
		t.Fatal(err)
	}
	in := []string{"10.1.2.3", "192.168.255.255", "2001:db8::1", "203.0.113.7", "::ffff:10.1.0.1"}
	out := []string{"10.2.0.1", "172.16.0.1", "2001:db9::1", "203.0.113.8", "0.0.0.0"}
	for _, a := range in {
		if !s.Contains(netip.MustParseAddr(a)) {
			t.Errorf("%s should be in the set", a)
		}
	}
	for _, a := range out {
		if s.Contains(netip.MustParseAddr(a)) {
			t.Errorf("%s should not be in the set", a)
		}
	}
	if s.Len() != 4 {
		t.Errorf("Len = %d, want 4", s.Len())
	}
	var empty *Set
	if empty.Contains(netip.MustParseAddr("10.0.0.1")) || empty.Len() != 0 {
		t.Error("nil set is not empty")
	}
}

func TestParseErrors(t *testing.T) {
	_, err := NewSet([]string{"10.1.0.0/8", "not-an-ip", "10.0.0.0/33", "10.0.0.0/8"})
	if err == nil {
		t.Fatal("expected an error")
	}
	for _, want := range []string{"host bits", "did you mean 10.0.0.0/8", "not-an-ip", "10.0.0.0/33"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q does not mention %q", err, want)
		}
	}
}

func TestOverlapping(t *testing.T) {
	azure := MustSet("10.0.0.0/8", "172.16.0.0/12")
	onprem := MustSet("192.168.0.0/16", "10.200.0.0/16")
	ov := azure.Overlapping(onprem)
	if len(ov) != 1 || ov[0][0].String() != "10.0.0.0/8" || ov[0][1].String() != "10.200.0.0/16" {
		t.Fatalf("Overlapping = %v", ov)
	}
	if got := MustSet("10.0.0.0/16").Overlapping(MustSet("10.1.0.0/16")); len(got) != 0 {
		t.Fatalf("disjoint sets overlap: %v", got)
	}
}

func TestTableLongestMatch(t *testing.T) {
	var tb Table[int]
	tb.Insert(netip.MustParsePrefix("10.0.0.0/8"), 1)
	tb.Insert(netip.MustParsePrefix("10.1.0.0/16"), 4096)
	if v, ok := tb.Lookup(netip.MustParseAddr("10.1.9.9")); !ok || v != 4096 {
		t.Errorf("10.1.9.9 -> %d %v", v, ok)
	}
	if v, ok := tb.Lookup(netip.MustParseAddr("10.9.9.9")); !ok || v != 1 {
		t.Errorf("10.9.9.9 -> %d %v", v, ok)
	}
	if _, ok := tb.Lookup(netip.MustParseAddr("11.0.0.1")); ok {
		t.Error("11.0.0.1 matched")
	}
	a := netip.MustParseAddr("10.1.2.3")
	if n := testing.AllocsPerRun(100, func() { tb.Lookup(a) }); n != 0 {
		t.Errorf("Lookup allocates %v", n)
	}
}

func BenchmarkSetContains(b *testing.B) {
	var cidrs []string
	for i := 0; i < 256; i++ {
		cidrs = append(cidrs, netip.PrefixFrom(netip.AddrFrom4([4]byte{10, byte(i), 0, 0}), 16).String())
	}
	s := MustSet(cidrs...)
	a := netip.MustParseAddr("10.77.1.2")
	b.ReportAllocs()
	for b.Loop() {
		if !s.Contains(a) {
			b.Fatal("miss")
		}
	}
}
