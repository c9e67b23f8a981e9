package ipfix

import (
	"net/netip"
	"time"
)

// FlowType tells which protocol a record was decoded from.
type FlowType uint8

// Flow types.
const (
	FlowTypeUnknown FlowType = iota
	FlowTypeIPFIX
	FlowTypeNetFlowV9
)

// String returns "ipfix", "netflow_v9" or "unknown".
func (t FlowType) String() string {
	switch t {
	case FlowTypeIPFIX:
		return "ipfix"
	case FlowTypeNetFlowV9:
		return "netflow_v9"
	default:
		return "unknown"
	}
}

// Well-known private enterprise numbers.
const (
	// PENReverse is the enterprise number of RFC 5103 reverse (biflow)
	// information elements.
	PENReverse uint32 = 29305
)

// Field is an information element that has no typed slot in Record, or
// that lost to a preferred element for the same slot (for example
// octetTotalCount when octetDeltaCount is also present).
type Field struct {
	// PEN is the private enterprise number; 0 for IANA elements and for
	// NetFlow v9 field types.
	PEN uint32
	// ID is the element identifier without the enterprise bit.
	ID uint16
	// Scope is true for NetFlow v9 options scope fields, whose IDs are
	// scope types (1 system, 2 interface, 3 line card, 4 cache,
	// 5 template) rather than field types.
	Scope bool
	// Value is the raw encoded value. It references the message buffer
	// passed to Decode and is only valid during the callback: copy it to
	// keep it.
	Value []byte
}

// Record is one decoded data record. Decode reuses a single Record for
// every record it delivers: the callback must not keep the pointer, the
// Extra slice or any Field.Value after it returns (copy what it needs).
//
// Fields absent from the template stay at their zero value. Numeric
// fields hold the decoded value whatever the encoded size (reduced-size
// encoding is undone).
type Record struct {
	// Message header.
	FlowType          FlowType
	Exporter          netip.Addr
	ExportTime        time.Time
	SequenceNumber    uint32
	ObservationDomain uint32 // IPFIX observation domain or NetFlow v9 source ID
	TemplateID        uint16
	// Options is true for options data records (only delivered when
	// Config.EmitOptionsRecords is set).
	Options bool

	// Flow key.
	SrcAddr, DstAddr netip.Addr
	SrcPort, DstPort uint16
	Protocol         uint8

	// Counters. Bytes and Packets come from octetDeltaCount (1) and
	// packetDeltaCount (2), NetFlow v9 IN_BYTES/IN_PKTS, falling back to
	// the total counts (85/86), then to postOctet/postPacketDeltaCount
	// (23/24, NetFlow v9 OUT_BYTES/OUT_PKTS). The reverse counters come
	// from the RFC 5103 reverse elements (PEN 29305) of the same IDs.
	Bytes, Packets               uint64
	ReverseBytes, ReversePackets uint64

	// Flow times, in UTC. Zero when the template has no usable time.
	FlowStart, FlowEnd time.Time

	// SamplingRate is the 1-in-N rate that applies to this record, 0
	// when unknown. Counters are NOT multiplied by it.
	SamplingRate uint64
	// SamplerID is samplerId (48, NetFlow v9 FLOW_SAMPLER_ID) and
	// SelectorID selectorId (302), 0 when absent.
	SamplerID, SelectorID uint64

	// Routing.
	SrcAS, DstAS       uint32
	NextHop            netip.Addr // 15 / 62
	BGPNextHop         netip.Addr // 18 / 63
	InIf, OutIf        uint32     // 10 / 14
	SrcMask, DstMask   uint8      // 9 / 13, 29 / 30
	Direction          uint8      // flowDirection 61: 0 ingress, 1 egress
	VLAN               uint16     // vlanId 58, else dot1qVlanId 243
	CustomerVLAN       uint16     // dot1qCustomerVlanId 245
	TCPFlags           uint16     // tcpControlBits 6
	ToS                uint8      // ipClassOfService 5
	ICMPType, ICMPCode uint8      // 32 / 139 / 176-179
	MinTTL, MaxTTL     uint8      // 52 / 53

	// Extra holds every field without a typed slot, in template order.
	// The slice and the values it references are only valid during the
	// callback.
	Extra []Field

	// Decoding scratch, reset for every record.
	raw rawValues
}

// rawValues holds values that are only inputs to derived fields.
type rawValues struct {
	startUptime, endUptime uint32 // flowStart/EndSysUpTime (22/21), ms
	sysInitMs              uint64 // systemInitTimeMilliseconds (160)
	samplingInterval       uint64 // 34
	randomInterval         uint64 // 50
	pktInterval, pktSpace  uint64 // 305 / 306
	sampleSize, population uint64 // 309 / 310
}

// ExtraField returns the first extra field with the given enterprise
// number and ID.
func (r *Record) ExtraField(pen uint32, id uint16) (Field, bool) {
	for _, f := range r.Extra {
		if f.PEN == pen && f.ID == id && !f.Scope {
			return f, true
		}
	}
	return Field{}, false
}
