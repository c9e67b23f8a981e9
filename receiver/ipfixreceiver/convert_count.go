package ipfixreceiver

import "github.com/erviz/otelcol-erviz/pkg/ipfix"

// attrCount is the number of attributes batch.add puts for r, so the attribute slice is
// allocated once at its size (every byte of it is scanned by the garbage collector). It
// follows the conditions of batch.add; a miscount only costs a reallocation.
func attrCount(r *ipfix.Record) int {
	// flow.type, ports, transport, bytes, packets, sampling rate, sampler, sequence.
	n := 9 + len(r.Extra)
	add := func(c bool) {
		if c {
			n++
		}
	}
	add(r.SrcAddr.IsValid())
	add(r.DstAddr.IsValid())
	add(r.SrcAddr.Is4() || r.DstAddr.Is4() || r.SrcAddr.Is6() || r.DstAddr.Is6())
	if r.ReverseBytes != 0 || r.ReversePackets != 0 {
		n += 2
	}
	add(!r.FlowStart.IsZero())
	add(!r.FlowEnd.IsZero())
	add(r.SrcAS != 0)
	add(r.DstAS != 0)
	add(r.NextHop.IsValid() && !r.NextHop.IsUnspecified())
	add(r.BGPNextHop.IsValid() && !r.BGPNextHop.IsUnspecified())
	add(r.InIf != 0)
	add(r.OutIf != 0)
	add(r.Protocol == 6)
	add(r.ToS != 0)
	if r.Protocol == 1 || r.Protocol == 58 {
		n += 2
	}
	add(r.VLAN != 0)
	return n
}
