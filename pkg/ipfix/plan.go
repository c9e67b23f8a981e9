package ipfix

import (
	"encoding/binary"
	"net/netip"
	"time"
)

// A decode plan is the compiled form of a template: one op per field that
// says where the field lies in the record, how to convert it and which
// Record slot receives it. Plans are built once when a template is
// learned; decoding a data record is then a loop over the ops with no
// map look-up and no allocation.
//
// To add a typed field:
//  1. add the field to Record,
//  2. add a slot constant below and a case in storeUint / storeAddr,
//  3. add rows to ianaFields (or reverseFields) naming the element IDs,
//     the conversion and the priority among elements sharing the slot.

// slot names the destination of a field.
type slot uint8

const (
	slotNone slot = iota
	slotBytes
	slotPackets
	slotRevBytes
	slotRevPackets
	slotProtocol
	slotToS
	slotTCPFlags
	slotSrcPort
	slotDstPort
	slotSrcAddr
	slotDstAddr
	slotNextHop
	slotBGPNextHop
	slotSrcMask
	slotDstMask
	slotInIf
	slotOutIf
	slotSrcAS
	slotDstAS
	slotFlowStart
	slotFlowEnd
	slotICMPType
	slotICMPCode
	slotICMPTypeCode
	slotSamplerID
	slotSelectorID
	slotSamplingInterval
	slotRandomInterval
	slotPktInterval
	slotPktSpace
	slotSampleSize
	slotPopulation
	slotSysInit
	slotMinTTL
	slotMaxTTL
	slotVLAN
	slotCustomerVLAN
	slotDirection
	numSlots
)

// conv is the conversion applied to a field's bytes.
type conv uint8

const (
	convSkip       conv = iota // ignore (paddingOctets)
	convExtra                  // append to Record.Extra
	convUint                   // unsigned integer, 1-8 bytes, big-endian
	convAddr                   // IPv4 (4 bytes) or IPv6 (16 bytes) address
	convSeconds                // dateTimeSeconds
	convMillis                 // dateTimeMilliseconds
	convNTP                    // dateTimeMicro/Nanoseconds (NTP format)
	convDeltaMicro             // flowStart/EndDeltaMicroseconds: µs before export time
	convUptime                 // flowStart/EndSysUpTime, NetFlow v9 FIRST/LAST_SWITCHED
	convTypeCode               // icmpTypeCode: type<<8 | code
	convExtraScope             // NetFlow v9 options scope field, into Extra
)

// varLen is the template field length announcing a variable-length field
// (RFC 7011 section 7). RFC 3954 has no variable-length fields, but some
// NetFlow v9 exporters borrow the IPFIX encoding, so it is honoured for
// both protocols (a fixed 65535-byte NetFlow v9 field could not fit in a
// flowset anyway).
const varLen = 0xFFFF

// fieldDef describes how a known element is decoded.
type fieldDef struct {
	slot slot
	conv conv
	// prio orders elements that share a slot: the highest present in a
	// template wins and the others go to Extra. Address slots accept
	// several elements (IPv4 and IPv6): see op.apply.
	prio uint8
}

// ianaFields maps IANA (PEN 0) element IDs, which NetFlow v9 shares for
// the field types used here, to their decoding.
var ianaFields = map[uint16]fieldDef{
	1:   {slotBytes, convUint, 3},       // octetDeltaCount / IN_BYTES
	85:  {slotBytes, convUint, 2},       // octetTotalCount
	23:  {slotBytes, convUint, 1},       // postOctetDeltaCount / OUT_BYTES
	2:   {slotPackets, convUint, 3},     // packetDeltaCount / IN_PKTS
	86:  {slotPackets, convUint, 2},     // packetTotalCount
	24:  {slotPackets, convUint, 1},     // postPacketDeltaCount / OUT_PKTS
	4:   {slotProtocol, convUint, 1},    // protocolIdentifier
	5:   {slotToS, convUint, 1},         // ipClassOfService
	6:   {slotTCPFlags, convUint, 1},    // tcpControlBits
	7:   {slotSrcPort, convUint, 3},     // sourceTransportPort
	180: {slotSrcPort, convUint, 2},     // udpSourcePort
	182: {slotSrcPort, convUint, 1},     // tcpSourcePort
	11:  {slotDstPort, convUint, 3},     // destinationTransportPort
	181: {slotDstPort, convUint, 2},     // udpDestinationPort
	183: {slotDstPort, convUint, 1},     // tcpDestinationPort
	8:   {slotSrcAddr, convAddr, 1},     // sourceIPv4Address
	27:  {slotSrcAddr, convAddr, 1},     // sourceIPv6Address
	12:  {slotDstAddr, convAddr, 1},     // destinationIPv4Address
	28:  {slotDstAddr, convAddr, 1},     // destinationIPv6Address
	15:  {slotNextHop, convAddr, 1},     // ipNextHopIPv4Address
	62:  {slotNextHop, convAddr, 1},     // ipNextHopIPv6Address
	18:  {slotBGPNextHop, convAddr, 1},  // bgpNextHopIPv4Address
	63:  {slotBGPNextHop, convAddr, 1},  // bgpNextHopIPv6Address
	9:   {slotSrcMask, convUint, 2},     // sourceIPv4PrefixLength
	29:  {slotSrcMask, convUint, 1},     // sourceIPv6PrefixLength
	13:  {slotDstMask, convUint, 2},     // destinationIPv4PrefixLength
	30:  {slotDstMask, convUint, 1},     // destinationIPv6PrefixLength
	10:  {slotInIf, convUint, 1},        // ingressInterface
	14:  {slotOutIf, convUint, 1},       // egressInterface
	16:  {slotSrcAS, convUint, 1},       // bgpSourceAsNumber
	17:  {slotDstAS, convUint, 1},       // bgpDestinationAsNumber
	156: {slotFlowStart, convNTP, 6},    // flowStartNanoseconds
	154: {slotFlowStart, convNTP, 5},    // flowStartMicroseconds
	152: {slotFlowStart, convMillis, 4}, // flowStartMilliseconds
	150: {slotFlowStart, convSeconds, 3},
	158: {slotFlowStart, convDeltaMicro, 2},
	22:  {slotFlowStart, convUptime, 1}, // flowStartSysUpTime / FIRST_SWITCHED
	157: {slotFlowEnd, convNTP, 6},
	155: {slotFlowEnd, convNTP, 5},
	153: {slotFlowEnd, convMillis, 4},
	151: {slotFlowEnd, convSeconds, 3},
	159: {slotFlowEnd, convDeltaMicro, 2},
	21:  {slotFlowEnd, convUptime, 1}, // flowEndSysUpTime / LAST_SWITCHED
	32:  {slotICMPTypeCode, convTypeCode, 2},
	139: {slotICMPTypeCode, convTypeCode, 1},
	176: {slotICMPType, convUint, 2}, // icmpTypeIPv4
	178: {slotICMPType, convUint, 1}, // icmpTypeIPv6
	177: {slotICMPCode, convUint, 2}, // icmpCodeIPv4
	179: {slotICMPCode, convUint, 1}, // icmpCodeIPv6
	34:  {slotSamplingInterval, convUint, 1},
	50:  {slotRandomInterval, convUint, 1},
	305: {slotPktInterval, convUint, 1},
	306: {slotPktSpace, convUint, 1},
	309: {slotSampleSize, convUint, 1},
	310: {slotPopulation, convUint, 1},
	48:  {slotSamplerID, convUint, 1},
	302: {slotSelectorID, convUint, 1},
	160: {slotSysInit, convUint, 1},
	52:  {slotMinTTL, convUint, 1},
	53:  {slotMaxTTL, convUint, 1},
	58:  {slotVLAN, convUint, 2},
	243: {slotVLAN, convUint, 1},
	245: {slotCustomerVLAN, convUint, 1},
	61:  {slotDirection, convUint, 1},
	210: {slotNone, convSkip, 0}, // paddingOctets
}

// reverseFields maps RFC 5103 reverse elements (PEN 29305).
var reverseFields = map[uint16]fieldDef{
	1:  {slotRevBytes, convUint, 3},
	85: {slotRevBytes, convUint, 2},
	23: {slotRevBytes, convUint, 1},
	2:  {slotRevPackets, convUint, 3},
	86: {slotRevPackets, convUint, 2},
	24: {slotRevPackets, convUint, 1},
}

// templateField is one field specifier of a template.
type templateField struct {
	pen    uint32
	id     uint16
	length uint16
	scope  bool // NetFlow v9 options scope field
}

// op is one compiled field.
type op struct {
	off    uint16 // offset in the record (fixed-length plans only)
	length uint16 // encoded length, varLen for variable-length fields
	id     uint16
	slot   slot
	conv   conv
	fast   uint8 // decodeFixed fast path
	pen    uint32
}

// plan flags.
const (
	planStartUptime = 1 << iota // flowStart is sysUpTime-relative
	planEndUptime               // flowEnd is sysUpTime-relative
	planRate                    // carries sampling-rate fields itself
	planSampler                 // carries samplerId
	planSelector                // carries selectorId
	planSysInit                 // carries systemInitTimeMilliseconds

	planUptime = planStartUptime | planEndUptime
)

// plan is a compiled template.
type plan struct {
	ops []op
	// fixed is true when every field has a fixed length: ops then hold
	// absolute offsets, skipped fields are dropped and every record is
	// recLen bytes.
	fixed  bool
	recLen int // fixed: record length; variable: minimum record length
	flags  uint8
}

// lengthOK tells whether a field of the given encoded length can use conv.
func lengthOK(c conv, n uint16) bool {
	switch c {
	case convSkip, convExtra, convExtraScope:
		return true
	case convUint, convSeconds, convMillis, convDeltaMicro, convUptime:
		return n >= 1 && n <= 8
	case convAddr:
		return n == 4 || n == 16
	case convNTP:
		return n == 8
	case convTypeCode:
		return n == 2
	}
	return false
}

// compile builds the decode plan of a template.
func compile(fields []templateField) plan {
	ops := make([]op, len(fields))
	best := [numSlots]int{} // slot -> index+1 of the winning op
	p := plan{fixed: true}
	for i, f := range fields {
		o := op{length: f.length, id: f.id, pen: f.pen, conv: convExtra}
		if f.scope {
			o.conv = convExtraScope
		}
		if f.length == varLen {
			p.fixed = false
			p.recLen++
		} else {
			p.recLen += int(f.length)
		}
		var def fieldDef
		var known bool
		switch {
		case f.scope:
		case f.pen == 0:
			def, known = ianaFields[f.id]
		case f.pen == PENReverse:
			def, known = reverseFields[f.id]
		}
		if known && f.length != varLen && lengthOK(def.conv, f.length) {
			o.slot, o.conv = def.slot, def.conv
			if o.conv != convSkip && o.conv != convAddr {
				if j := best[o.slot]; j != 0 {
					if ianaOrRev(fields[j-1]).prio >= def.prio {
						o.slot, o.conv = slotNone, convExtra
					} else {
						ops[j-1].slot, ops[j-1].conv = slotNone, convExtra
						best[o.slot] = i + 1
					}
				} else {
					best[o.slot] = i + 1
				}
			}
		}
		ops[i] = o
	}
	for _, o := range ops {
		switch {
		case o.conv == convUptime && o.slot == slotFlowStart:
			p.flags |= planStartUptime
		case o.conv == convUptime:
			p.flags |= planEndUptime
		case o.slot == slotSamplingInterval || o.slot == slotRandomInterval ||
			o.slot == slotPktInterval || o.slot == slotSampleSize:
			p.flags |= planRate
		case o.slot == slotSamplerID:
			p.flags |= planSampler
		case o.slot == slotSelectorID:
			p.flags |= planSelector
		case o.slot == slotSysInit:
			p.flags |= planSysInit
		}
	}
	if p.fixed {
		off := 0
		kept := ops[:0]
		for _, o := range ops {
			o.off = uint16(off)
			off += int(o.length)
			if o.conv != convSkip {
				o.fast = fastPath(&o)
				kept = append(kept, o)
			}
		}
		ops = kept
	}
	p.ops = ops
	return p
}

func ianaOrRev(f templateField) fieldDef {
	if f.pen == PENReverse {
		return reverseFields[f.id]
	}
	return ianaFields[f.id]
}

// msgContext is the per-message state a record's derived fields need.
type msgContext struct {
	flowType   FlowType
	exportSecs uint32
	sysUptime  uint32 // NetFlow v9 header, ms
	// exportMs is the export time in ms since the epoch.
	exportMs int64
}

// readUint decodes a big-endian unsigned integer of 1 to 8 bytes
// (reduced-size encoding).
func readUint(b []byte) uint64 {
	switch len(b) {
	case 1:
		return uint64(b[0])
	case 2:
		return uint64(binary.BigEndian.Uint16(b))
	case 4:
		return uint64(binary.BigEndian.Uint32(b))
	case 8:
		return binary.BigEndian.Uint64(b)
	}
	var v uint64
	for _, c := range b {
		v = v<<8 | uint64(c)
	}
	return v
}

// ntpEpochOffset is the number of seconds from 1900 to 1970.
const ntpEpochOffset = 2208988800

// ntpTime converts a 64-bit NTP timestamp (RFC 7011 section 6.1.9).
// Seconds with the top bit clear are taken to be in NTP era 1 (from 2036).
func ntpTime(v uint64, micro bool) time.Time {
	sec := int64(v >> 32)
	frac := v & 0xFFFFFFFF
	if micro {
		frac &^= 0x7FF // the 11 low bits are not significant
	}
	if sec < 0x80000000 {
		sec += 1 << 32
	}
	return time.Unix(sec-ntpEpochOffset, int64((frac*1e9+1<<31)>>32)).UTC()
}

// apply decodes one field into r.
func (o *op) apply(r *Record, b []byte, m *msgContext) {
	switch o.conv {
	case convUint:
		storeUint(r, o.slot, readUint(b))
	case convAddr:
		var a netip.Addr
		if len(b) == 4 {
			a = netip.AddrFrom4([4]byte(b))
		} else {
			a = netip.AddrFrom16([16]byte(b))
		}
		storeAddr(r, o.slot, a)
	case convExtra:
		r.Extra = append(r.Extra, Field{PEN: o.pen, ID: o.id, Value: b})
	case convExtraScope:
		r.Extra = append(r.Extra, Field{ID: o.id, Scope: true, Value: b})
	case convMillis:
		storeTime(r, o.slot, time.UnixMilli(int64(readUint(b))).UTC())
	case convSeconds:
		storeTime(r, o.slot, time.Unix(int64(readUint(b)), 0).UTC())
	case convNTP:
		storeTime(r, o.slot, ntpTime(binary.BigEndian.Uint64(b), o.id == 154 || o.id == 155))
	case convDeltaMicro:
		storeTime(r, o.slot, time.UnixMicro(m.exportMs*1000-int64(readUint(b))).UTC())
	case convUptime:
		v := uint32(readUint(b))
		if o.slot == slotFlowStart {
			r.raw.startUptime = v
		} else {
			r.raw.endUptime = v
		}
	case convTypeCode:
		r.ICMPType, r.ICMPCode = b[0], b[1]
	}
}

func storeTime(r *Record, s slot, t time.Time) {
	if s == slotFlowStart {
		r.FlowStart = t
	} else {
		r.FlowEnd = t
	}
}

// storeAddr stores an address. A template may carry both the IPv4 and the
// IPv6 element for one slot; an all-zero address never replaces one
// already stored, so the one actually filled in wins.
func storeAddr(r *Record, s slot, a netip.Addr) {
	var p *netip.Addr
	switch s {
	case slotSrcAddr:
		p = &r.SrcAddr
	case slotDstAddr:
		p = &r.DstAddr
	case slotNextHop:
		p = &r.NextHop
	case slotBGPNextHop:
		p = &r.BGPNextHop
	default:
		return
	}
	if !p.IsValid() || !a.IsUnspecified() {
		*p = a
	}
}

func storeUint(r *Record, s slot, v uint64) {
	switch s {
	case slotBytes:
		r.Bytes = v
	case slotPackets:
		r.Packets = v
	case slotRevBytes:
		r.ReverseBytes = v
	case slotRevPackets:
		r.ReversePackets = v
	case slotProtocol:
		r.Protocol = uint8(v)
	case slotToS:
		r.ToS = uint8(v)
	case slotTCPFlags:
		r.TCPFlags = uint16(v)
	case slotSrcPort:
		r.SrcPort = uint16(v)
	case slotDstPort:
		r.DstPort = uint16(v)
	case slotSrcMask:
		r.SrcMask = uint8(v)
	case slotDstMask:
		r.DstMask = uint8(v)
	case slotInIf:
		r.InIf = uint32(v)
	case slotOutIf:
		r.OutIf = uint32(v)
	case slotSrcAS:
		r.SrcAS = uint32(v)
	case slotDstAS:
		r.DstAS = uint32(v)
	case slotICMPType:
		r.ICMPType = uint8(v)
	case slotICMPCode:
		r.ICMPCode = uint8(v)
	case slotSamplerID:
		r.SamplerID = v
	case slotSelectorID:
		r.SelectorID = v
	case slotSamplingInterval:
		r.raw.samplingInterval = v
	case slotRandomInterval:
		r.raw.randomInterval = v
	case slotPktInterval:
		r.raw.pktInterval = v
	case slotPktSpace:
		r.raw.pktSpace = v
	case slotSampleSize:
		r.raw.sampleSize = v
	case slotPopulation:
		r.raw.population = v
	case slotSysInit:
		r.raw.sysInitMs = v
	case slotMinTTL:
		r.MinTTL = uint8(v)
	case slotMaxTTL:
		r.MaxTTL = uint8(v)
	case slotVLAN:
		r.VLAN = uint16(v)
	case slotCustomerVLAN:
		r.CustomerVLAN = uint16(v)
	case slotDirection:
		r.Direction = uint8(v)
	}
}

// decodeFixed decodes one record of a fixed-length plan. rec must be
// exactly p.recLen bytes. The most common conversions are handled inline;
// the others go through op.apply.
func (p *plan) decodeFixed(r *Record, rec []byte, m *msgContext) {
	for i := range p.ops {
		o := &p.ops[i]
		b := rec[o.off:]
		switch o.fast {
		case fastU8:
			storeUint(r, o.slot, uint64(b[0]))
		case fastU16:
			storeUint(r, o.slot, uint64(binary.BigEndian.Uint16(b)))
		case fastU32:
			storeUint(r, o.slot, uint64(binary.BigEndian.Uint32(b)))
		case fastU64:
			storeUint(r, o.slot, binary.BigEndian.Uint64(b))
		case fastAddr4:
			storeAddr(r, o.slot, netip.AddrFrom4([4]byte(b[:4])))
		case fastMillis8:
			storeTime(r, o.slot, time.UnixMilli(int64(binary.BigEndian.Uint64(b))).UTC())
		default:
			o.apply(r, b[:o.length], m)
		}
	}
}

// fast paths of decodeFixed.
const (
	fastNone uint8 = iota
	fastU8
	fastU16
	fastU32
	fastU64
	fastAddr4
	fastMillis8
)

// fastPath returns the decodeFixed fast path of an op.
func fastPath(o *op) uint8 {
	switch {
	case o.conv == convUint && o.length == 1:
		return fastU8
	case o.conv == convUint && o.length == 2:
		return fastU16
	case o.conv == convUint && o.length == 4:
		return fastU32
	case o.conv == convUint && o.length == 8:
		return fastU64
	case o.conv == convAddr && o.length == 4:
		return fastAddr4
	case o.conv == convMillis && o.length == 8:
		return fastMillis8
	}
	return fastNone
}

// decodeVar decodes one record of a variable-length plan from the start
// of data and returns its length, or -1 when the record runs past data.
func (p *plan) decodeVar(r *Record, data []byte, m *msgContext) int {
	cur := 0
	for i := range p.ops {
		o := &p.ops[i]
		n := int(o.length)
		if o.length == varLen {
			if cur >= len(data) {
				return -1
			}
			n = int(data[cur])
			cur++
			if n == 255 {
				if cur+2 > len(data) {
					return -1
				}
				n = int(binary.BigEndian.Uint16(data[cur:]))
				cur += 2
			}
		}
		if n > len(data)-cur {
			return -1
		}
		if o.conv != convSkip {
			o.apply(r, data[cur:cur+n], m)
		}
		cur += n
	}
	return cur
}
