package samplingprocessor

import (
	"net/netip"
	"testing"
)

func TestPrefixTexts(t *testing.T) {
	var c prefixTexts
	// Many more prefixes than slots, of both families and several lengths, twice over:
	// every text is right whatever the collisions.
	var ps []netip.Prefix
	for i := 0; i < 3*prefixTextSlots; i++ {
		ps = append(ps,
			netip.PrefixFrom(netip.AddrFrom4([4]byte{10, byte(i >> 8), byte(i), 0}), 24),
			netip.PrefixFrom(netip.AddrFrom4([4]byte{10, byte(i >> 8), 0, 0}), 16),
			netip.PrefixFrom(netip.AddrFrom16([16]byte{0x20, 0x01, 0x0d, 0xb8, byte(i >> 8), byte(i)}), 48))
	}
	for round := 0; round < 2; round++ {
		for _, p := range ps {
			if got := c.text(p); got != p.String() {
				t.Fatalf("text(%v) = %q", p, got)
			}
		}
	}
	// The slots spread: a /24 per slot on average for 4096 distinct /24s.
	used := map[uint64]bool{}
	for i := 0; i < prefixTextSlots; i++ {
		used[prefixSlot(netip.PrefixFrom(netip.AddrFrom4([4]byte{10, byte(i >> 8), byte(i), 0}), 24))] = true
	}
	if len(used) < prefixTextSlots/2 {
		t.Errorf("%d prefixes fill only %d of %d slots", prefixTextSlots, len(used), prefixTextSlots)
	}
	// The longest text fits.
	long := netip.MustParsePrefix("ffff:ffff:ffff:ffff:ffff:ffff:ffff:ff00/120")
	if got := c.text(long); got != long.String() {
		t.Errorf("text(%v) = %q", long, got)
	}
	// A new prefix costs one allocation, a cached one none.
	if n := testing.AllocsPerRun(100, func() { c.slots[prefixSlot(long)].Store(nil); _ = c.text(long) }); n != 1 {
		t.Errorf("%.0f allocations for a new prefix", n)
	}
	// A cached prefix costs no allocation.
	p := netip.MustParsePrefix("10.1.0.0/16")
	c.text(p)
	if n := testing.AllocsPerRun(100, func() { _ = c.text(p) }); n != 0 {
		t.Errorf("%.0f allocations for a cached prefix", n)
	}
}
