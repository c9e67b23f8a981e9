package ipfixreceiver

import (
	"encoding/hex"
	"net/netip"
	"testing"
	"time"

	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/plog"

	"github.com/erviz/otelcol-erviz/internal/schema"
	"github.com/erviz/otelcol-erviz/pkg/ipfix"
)

// refBatch groups records as batch did before the line-rate work.
type refBatch struct {
	logs   plog.Logs
	groups map[groupKey]plog.LogRecordSlice
	names  refNames
}

type refNames struct{}

func (refNames) get(a netip.Addr) string { return a.String() }

func (ref *refBatch) slice(r *ipfix.Record) plog.LogRecordSlice {
	k := groupKey{r.Exporter, r.FlowType, r.ObservationDomain}
	if s, ok := ref.groups[k]; ok {
		return s
	}
	rl := ref.logs.ResourceLogs().AppendEmpty()
	ra := rl.Resource().Attributes()
	ra.PutStr(schema.FlowExporterAddress, r.Exporter.String())
	ra.PutInt(schema.FlowObservationDomainID, int64(r.ObservationDomain))
	sl := rl.ScopeLogs().AppendEmpty()
	sl.Scope().SetName(scopeName)
	s := sl.LogRecords()
	ref.groups[k] = s
	return s
}

// referenceAdd is batch.add as it was before the line-rate work (commit d200eb5), kept to
// check that the faster conversion emits exactly the same records.
func referenceAdd(ref *refBatch, r *ipfix.Record, received pcommon.Timestamp) {
	lr := ref.slice(r).AppendEmpty()
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
	a.PutStr(schema.FlowType, r.FlowType.String())
	if r.SrcAddr.IsValid() {
		a.PutStr(schema.SourceAddress, ref.names.get(r.SrcAddr))
	}
	if r.DstAddr.IsValid() {
		a.PutStr(schema.DestinationAddress, ref.names.get(r.DstAddr))
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
	a.PutStr(schema.FlowSamplerAddress, ref.names.get(r.Exporter))
	a.PutInt(schema.FlowSequenceNum, int64(r.SequenceNumber))
	if r.SrcAS != 0 {
		a.PutInt(schema.FlowSrcAS, int64(r.SrcAS))
	}
	if r.DstAS != 0 {
		a.PutInt(schema.FlowDstAS, int64(r.DstAS))
	}
	if r.NextHop.IsValid() && !r.NextHop.IsUnspecified() {
		a.PutStr(schema.FlowNextHop, ref.names.get(r.NextHop))
	}
	if r.BGPNextHop.IsValid() && !r.BGPNextHop.IsUnspecified() {
		a.PutStr(schema.FlowBGPNextHop, ref.names.get(r.BGPNextHop))
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

// TestSameRecordsAsBefore: the conversion emits, attribute for attribute and in the same
// order, the records the conversion before the line-rate work emitted, for records of several
// exporters, domains, protocols and families, with and without optional fields.
func TestSameRecordsAsBefore(t *testing.T) {
	exp1, exp2 := netip.MustParseAddr("192.0.2.1"), netip.MustParseAddr("2001:db8::1")
	start := time.Date(2025, 6, 1, 12, 0, 0, 0, time.UTC)
	var recs []ipfix.Record
	for i := range 40 {
		r := ipfix.Record{FlowType: ipfix.FlowTypeIPFIX, Exporter: exp1, ObservationDomain: uint32(i % 3),
			SequenceNumber: uint32(i), SrcAddr: netip.AddrFrom4([4]byte{10, 0, byte(i % 7), byte(i)}),
			DstAddr: netip.MustParseAddr("172.16.0.1"), SrcPort: uint16(40000 + i), DstPort: 443, Protocol: 6,
			Bytes: uint64(1000 + i), Packets: uint64(i), TCPFlags: 0x1b, SamplingRate: uint64(i % 2 * 100)}
		switch i % 5 {
		case 1:
			r.FlowType, r.Exporter = ipfix.FlowTypeNetFlowV9, exp2
			r.SrcAddr, r.DstAddr = netip.MustParseAddr("2001:db8::10"), netip.MustParseAddr("2001:db8::20")
			r.Protocol, r.DstPort, r.ICMPType = 58, 0, 128
		case 2:
			r.FlowStart, r.FlowEnd = start.Add(time.Duration(i)*time.Second), start.Add(time.Minute)
			r.SrcAS, r.DstAS, r.InIf, r.OutIf, r.ToS, r.VLAN = 64512, 65515, 3, 7, 0x10, 100
			r.NextHop, r.BGPNextHop = netip.MustParseAddr("192.168.0.254"), netip.MustParseAddr("192.168.1.1")
			r.ReverseBytes, r.ReversePackets = 77, 1
		case 3:
			r.Protocol, r.DstPort = 1, 3<<8|1
			r.Extra = []ipfix.Field{{PEN: 9, ID: 12232, Value: []byte{1, 2}}, {ID: 1, Scope: true, Value: []byte{0xff}}}
			r.ExportTime = start
		case 4:
			r.SrcAddr, r.DstAddr, r.Protocol = netip.Addr{}, netip.Addr{}, 17
			r.FlowEnd = start
			r.NextHop = netip.IPv4Unspecified()
		}
		recs = append(recs, r)
	}
	received := pcommon.NewTimestampFromTime(start.Add(time.Hour))
	want := &refBatch{logs: plog.NewLogs(), groups: map[groupKey]plog.LogRecordSlice{}}
	got := newBatch(newAddrNames(4), 0) // small: the cache is overwritten while converting
	for i := range recs {
		referenceAdd(want, &recs[i], received)
		got.add(&recs[i], received)
	}
	gl, n := got.take()
	if n != len(recs) {
		t.Fatalf("%d records counted, want %d", n, len(recs))
	}
	var m plog.JSONMarshaler
	wb, err := m.MarshalLogs(want.logs)
	if err != nil {
		t.Fatal(err)
	}
	gb, err := m.MarshalLogs(gl)
	if err != nil {
		t.Fatal(err)
	}
	if string(wb) != string(gb) {
		t.Errorf("records differ from the conversion before:\n got %s\nwant %s", gb, wb)
	}
}
