package ipfixreceiver

import (
	"encoding/binary"
	"encoding/hex"
	"net/netip"
	"strconv"

	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/plog"

	"github.com/erviz/otelcol-erviz/internal/schema"
	"github.com/erviz/otelcol-erviz/pkg/ipfix"
)

// batch accumulates log records grouped by (exporter, protocol, observation domain).
type batch struct {
	logs    plog.Logs
	groups  map[groupKey]group
	records int
	names   *addrNames
	size    int // records per batch, to reserve the first group's slice at once; 0: grow

	// last is the group of the previous record: the records of a message share it, so the
	// map is consulted once per message, not once per record.
	last    group
	lastKey groupKey
}

// group is the log records of one (exporter, protocol, domain) and the exporter's text.
type group struct {
	records  plog.LogRecordSlice
	exporter string
}

type groupKey struct {
	exporter netip.Addr
	flowType ipfix.FlowType
	domain   uint32
}

func newBatch(names *addrNames, size int) *batch {
	return &batch{logs: plog.NewLogs(), groups: map[groupKey]group{}, names: names, size: size}
}

// take returns the accumulated logs and starts a new batch.
func (b *batch) take() (plog.Logs, int) {
	ld, n := b.logs, b.records
	b.logs, b.records = plog.NewLogs(), 0
	clear(b.groups)
	b.last = group{}
	return ld, n
}

// scopeName is the instrumentation scope of the emitted records.
const scopeName = "github.com/erviz/otelcol-erviz/receiver/ipfixreceiver"

func (b *batch) group(r *ipfix.Record) group {
	k := groupKey{r.Exporter, r.FlowType, r.ObservationDomain}
	if b.last.exporter != "" && k == b.lastKey {
		return b.last
	}
	g, ok := b.groups[k]
	if !ok {
		rl := b.logs.ResourceLogs().AppendEmpty()
		ra := rl.Resource().Attributes()
		g.exporter = b.names.get(r.Exporter)
		ra.PutStr(schema.FlowExporterAddress, g.exporter)
		ra.PutInt(schema.FlowObservationDomainID, int64(r.ObservationDomain))
		sl := rl.ScopeLogs().AppendEmpty()
		sl.Scope().SetName(scopeName)
		g.records = sl.LogRecords()
		if len(b.groups) == 0 && b.size > b.records {
			// Usually one exporter fills the batch: one slice of pointers, not ten growths.
			g.records.EnsureCapacity(b.size - b.records)
		}
		b.groups[k] = g
	}
	b.last, b.lastKey = g, k
	return g
}

// add converts one decoded record into a log record (docs/schema.md).
func (b *batch) add(r *ipfix.Record, received pcommon.Timestamp) {
	g := b.group(r)
	lr := g.records.AppendEmpty()
	b.records++
	ts := r.FlowStart
	if ts.IsZero() {
		ts = r.FlowEnd
	}
	if ts.IsZero() {
		ts = r.ExportTime
	}
	if !ts.IsZero() {
		lr.SetTimestamp(pcommon.NewTimestampFromTime(ts))
	}
	lr.SetObservedTimestamp(received)

	a := lr.Attributes()
	a.EnsureCapacity(attrCount(r))
	a.PutStr(schema.FlowType, r.FlowType.String())
	if r.SrcAddr.IsValid() {
		a.PutStr(schema.SourceAddress, b.names.get(r.SrcAddr))
	}
	if r.DstAddr.IsValid() {
		a.PutStr(schema.DestinationAddress, b.names.get(r.DstAddr))
	}
	a.PutInt(schema.SourcePort, int64(r.SrcPort))
	a.PutInt(schema.DestinationPort, int64(r.DstPort))
	a.PutStr(schema.NetworkTransport, schema.Transport(r.Protocol))
	switch {
	case r.SrcAddr.Is4() || r.DstAddr.Is4():
		a.PutStr(schema.NetworkType, schema.NetworkTypeIPv4)
	case r.SrcAddr.Is6() || r.DstAddr.Is6():
		a.PutStr(schema.NetworkType, schema.NetworkTypeIPv6)
	}
	a.PutInt(schema.FlowIOBytes, clampInt(r.Bytes))
	a.PutInt(schema.FlowIOPackets, clampInt(r.Packets))
	if r.ReverseBytes != 0 || r.ReversePackets != 0 {
		a.PutInt(schema.FlowReverseIOBytes, clampInt(r.ReverseBytes))
		a.PutInt(schema.FlowReverseIOPackets, clampInt(r.ReversePackets))
	}
	if !r.FlowStart.IsZero() {
		a.PutInt(schema.FlowStart, r.FlowStart.UnixNano())
	}
	if !r.FlowEnd.IsZero() {
		a.PutInt(schema.FlowEnd, r.FlowEnd.UnixNano())
	}
	a.PutInt(schema.FlowSamplingRate, clampInt(r.SamplingRate))
	a.PutStr(schema.FlowSamplerAddress, g.exporter)
	a.PutInt(schema.FlowSequenceNum, int64(r.SequenceNumber))
	if r.SrcAS != 0 {
		a.PutInt(schema.FlowSrcAS, int64(r.SrcAS))
	}
	if r.DstAS != 0 {
		a.PutInt(schema.FlowDstAS, int64(r.DstAS))
	}
	if r.NextHop.IsValid() && !r.NextHop.IsUnspecified() {
		a.PutStr(schema.FlowNextHop, b.names.get(r.NextHop))
	}
	if r.BGPNextHop.IsValid() && !r.BGPNextHop.IsUnspecified() {
		a.PutStr(schema.FlowBGPNextHop, b.names.get(r.BGPNextHop))
	}
	if r.InIf != 0 {
		a.PutInt(schema.FlowInIf, int64(r.InIf))
	}
	if r.OutIf != 0 {
		a.PutInt(schema.FlowOutIf, int64(r.OutIf))
	}
	if r.Protocol == 6 {
		a.PutInt(schema.FlowTCPFlags, int64(r.TCPFlags))
	}
	if r.ToS != 0 {
		a.PutInt(schema.FlowIPTOS, int64(r.ToS))
	}
	if r.Protocol == 1 || r.Protocol == 58 {
		typ, code := r.ICMPType, r.ICMPCode
		if typ == 0 && code == 0 && r.DstPort != 0 {
			// Exporters that send no ICMP element (pmacct, many NetFlow v9 devices) put
			// type<<8 | code in the destination port, as NetFlow v5 does.
			typ, code = uint8(r.DstPort>>8), uint8(r.DstPort)
		}
		a.PutInt(schema.FlowICMPType, int64(typ))
		a.PutInt(schema.FlowICMPCode, int64(code))
	}
	if r.VLAN != 0 {
		a.PutInt(schema.FlowVLAN, int64(r.VLAN))
	}
	for i := range r.Extra {
		f := &r.Extra[i]
		a.PutStr(extraName(f), hex.EncodeToString(f.Value))
	}
}

// extraName is ipfix.<pen>.<id> (NetFlow v9 options scope fields: ipfix.scope.<id>).
func extraName(f *ipfix.Field) string {
	if f.Scope {
		return "ipfix.scope." + strconv.Itoa(int(f.ID))
	}
	return "ipfix." + strconv.FormatUint(uint64(f.PEN), 10) + "." + strconv.Itoa(int(f.ID))
}

func clampInt(u uint64) int64 {
	if u > 1<<63-1 {
		return 1<<63 - 1
	}
	return int64(u)
}

// addrNames caches the text of addresses: flows repeat the same few thousand addresses, and
// formatting each one again would allocate per record. Bounded: a direct-mapped table of a
// power-of-two size indexed by a hash of the address; a colliding address replaces the entry.
// Cheaper than a map look-up (no generic hashing of the 24-byte netip.Addr, no clearing).
type addrNames struct {
	e    []addrName // allocated at first use: a TCP connection slot never used costs nothing
	size int
}

type addrName struct {
	a netip.Addr
	s string
}

func newAddrNames(max int) *addrNames {
	n := 1
	for n < max {
		n <<= 1
	}
	return &addrNames{size: n}
}

func (n *addrNames) get(a netip.Addr) string {
	b := a.As16()
	h := binary.BigEndian.Uint64(b[:8])*0x9e3779b97f4a7c15 ^ binary.BigEndian.Uint64(b[8:])
	h ^= h >> 33 // fmix64 (MurmurHash3): every bit of the address moves every bit of the index
	h *= 0xff51afd7ed558ccd
	h ^= h >> 33
	if n.e == nil {
		n.e = make([]addrName, n.size)
	}
	e := &n.e[h&uint64(n.size-1)]
	if e.s != "" && e.a == a {
		return e.s
	}
	e.a, e.s = a, a.String()
	return e.s
}
