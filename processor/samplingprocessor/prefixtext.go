package samplingprocessor

import (
	"encoding/binary"
	"net/netip"
	"sync/atomic"
	"unsafe"
)

// prefixTextSlots is the number of prefix texts a router keeps (a power of two).
const prefixTextSlots = 4096

// prefixTexts caches the text of route prefixes (flow.*.route.prefix): flows ride the same
// few prefixes over and over, and formatting one allocates. It is direct-mapped and bounded
// (one text per slot, replaced on a collision) and lock-free: a slot holds an immutable
// pair, so concurrent batches read and replace it safely. The RIB keeps no text per prefix
// (that would grow every one of its million entries).
type prefixTexts struct {
	slots [prefixTextSlots]atomic.Pointer[prefixText]
}

// prefixText is a prefix and its text, in one allocation (immutable once stored).
type prefixText struct {
	p netip.Prefix
	n uint8
	b [len("ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff/128")]byte
}

func (e *prefixText) text() string { return unsafe.String(&e.b[0], int(e.n)) }

// text is p.String(), without allocating when p is in the cache and with one allocation
// (as formatting it) when it is not.
func (c *prefixTexts) text(p netip.Prefix) string {
	slot := &c.slots[prefixSlot(p)]
	if e := slot.Load(); e != nil && e.p == p {
		return e.text()
	}
	e := &prefixText{p: p}
	e.n = uint8(len(p.AppendTo(e.b[:0])))
	slot.Store(e)
	return e.text()
}

// prefixSlot hashes a prefix to a slot (splitmix64's finalizer over its address and length).
func prefixSlot(p netip.Prefix) uint64 {
	a := p.Addr().As16()
	x := binary.LittleEndian.Uint64(a[:8])*0x9E3779B97F4A7C15 ^ binary.LittleEndian.Uint64(a[8:]) ^ uint64(p.Bits())
	x ^= x >> 30
	x *= 0xBF58476D1CE4E5B9
	x ^= x >> 27
	x *= 0x94D049BB133111EB
	x ^= x >> 31
	return x & (prefixTextSlots - 1)
}
