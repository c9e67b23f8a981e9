package ipfix

import (
	"bytes"
	"fmt"
	"net/netip"
	"sync"
	"testing"
	"time"
)

const exporterA = "192.0.2.1"

// typicalFields is a common IPv4 template: 5-tuple, counters, times, AS,
// next hop, interfaces and masks; 68 bytes per record.
var typicalFields = []fs{
	{8, 4, 0}, {12, 4, 0}, {7, 2, 0}, {11, 2, 0}, {4, 1, 0}, {6, 1, 0},
	{1, 8, 0}, {2, 8, 0}, {152, 8, 0}, {153, 8, 0}, {16, 4, 0}, {17, 4, 0},
	{15, 4, 0}, {10, 4, 0}, {14, 4, 0}, {9, 1, 0}, {13, 1, 0},
}

var baseMs = uint64(time.Date(2025, 6, 1, 12, 0, 0, 0, time.UTC).UnixMilli())

// writeTypical writes record i of the typical template.
func writeTypical(m *msgBuilder, i int) {
	m.raw(10, 0, byte(i>>8), byte(i)).raw(172, 16, 0, 1).u16(uint16(40000 + i)).u16(443).u8(6).u8(0x1b)
	m.u64(uint64(1000 + i)).u64(uint64(10 + i)).u64(baseMs + uint64(i)).u64(baseMs + 5000 + uint64(i))
	m.u32(64512).u32(65515).raw(192, 168, 0, 254).u32(3).u32(7).u8(24).u8(16)
}

func checkTypical(t *testing.T, r collected, i int) {
	t.Helper()
	want := Record{
		SrcAddr: netip.AddrFrom4([4]byte{10, 0, byte(i >> 8), byte(i)}), DstAddr: addr("172.16.0.1"),
		SrcPort: uint16(40000 + i), DstPort: 443, Protocol: 6, TCPFlags: 0x1b,
		Bytes: uint64(1000 + i), Packets: uint64(10 + i),
		FlowStart: time.UnixMilli(int64(baseMs) + int64(i)).UTC(), FlowEnd: time.UnixMilli(int64(baseMs) + 5000 + int64(i)).UTC(),
		SrcAS: 64512, DstAS: 65515, NextHop: addr("192.168.0.254"), InIf: 3, OutIf: 7, SrcMask: 24, DstMask: 16,
	}
	got := r.Record
	if got.SrcAddr != want.SrcAddr || got.DstAddr != want.DstAddr || got.SrcPort != want.SrcPort ||
		got.DstPort != want.DstPort || got.Protocol != want.Protocol || got.TCPFlags != want.TCPFlags ||
		got.Bytes != want.Bytes || got.Packets != want.Packets || !got.FlowStart.Equal(want.FlowStart) ||
		!got.FlowEnd.Equal(want.FlowEnd) || got.SrcAS != want.SrcAS || got.DstAS != want.DstAS ||
		got.NextHop != want.NextHop || got.InIf != want.InIf || got.OutIf != want.OutIf ||
		got.SrcMask != want.SrcMask || got.DstMask != want.DstMask || len(r.extra) != 0 {
		t.Errorf("record %d:\n got %+v\nwant %+v\nextra %v", i, got, want, r.extra)
	}
}

func TestIPFIXMultipleSetsAndTemplates(t *testing.T) {
	m := newIPFIX(1748779200, 0, 7)
	// One template set with two templates.
	m.set(2).tmpl(256, typicalFields...).
		tmpl(257, fs{27, 16, 0}, fs{28, 16, 0}, fs{7, 2, 0}, fs{11, 2, 0}, fs{4, 1, 0}, fs{1, 4, 0}, fs{2, 4, 0}, fs{62, 16, 0})
	m.set(256)
	writeTypical(m, 0)
	writeTypical(m, 1)
	m.set(257).addr("2001:db8::1").addr("2001:db8::2").u16(53).u16(5353).u8(17).u32(1500).u32(3).addr("fe80::1")
	m.set(256)
	writeTypical(m, 2)
	msg := m.bytes()

	d := NewDecoder(Config{})
	recs := collect(t, d, exporterA, msg)
	if len(recs) != 4 {
		t.Fatalf("got %d records, want 4", len(recs))
	}
	checkTypical(t, recs[0], 0)
	checkTypical(t, recs[1], 1)
	checkTypical(t, recs[3], 2)
	r := recs[2]
	if r.SrcAddr != addr("2001:db8::1") || r.DstAddr != addr("2001:db8::2") || r.SrcPort != 53 ||
		r.DstPort != 5353 || r.Protocol != 17 || r.Bytes != 1500 || r.Packets != 3 || r.NextHop != addr("fe80::1") {
		t.Errorf("IPv6 record: %+v", r.Record)
	}
	for i, r := range recs {
		if r.FlowType != FlowTypeIPFIX || r.ObservationDomain != 7 || r.Exporter != addr(exporterA) ||
			!r.ExportTime.Equal(time.Unix(1748779200, 0)) || r.FlowType.String() != "ipfix" {
			t.Errorf("record %d header: %+v", i, r.Record)
		}
	}
	if recs[2].TemplateID != 257 || recs[3].TemplateID != 256 {
		t.Errorf("template IDs %d %d", recs[2].TemplateID, recs[3].TemplateID)
	}
	st := domainStats(t, d, exporterA, FlowTypeIPFIX, 7)
	if st.Packets != 1 || st.Records != 4 || st.Templates != 2 || st.Errors.Total() != 0 {
		t.Errorf("stats %+v", st)
	}
}

func TestSamplingIntervalOption(t *testing.T) {
	// Options template: scope samplerId (48, 1 byte), samplingInterval (34).
	m := newIPFIX(1748779200, 0, 1)
	m.set(3).optTmpl(300, 1, fs{48, 1, 0}, fs{34, 4, 0}).pad(2) // padding after the record
	m.set(300).u8(5).u32(1000).u8(6).u32(4096)
	m.set(2).tmpl(256, fs{8, 4, 0}, fs{1, 4, 0}, fs{48, 1, 0}).tmpl(257, fs{8, 4, 0}, fs{1, 4, 0})
	m.set(256).addr("10.0.0.1").u32(100).u8(5).addr("10.0.0.2").u32(200).u8(6).addr("10.0.0.3").u32(300).u8(9)
	m.set(257).addr("10.0.0.4").u32(400)
	d := NewDecoder(Config{})
	recs := collect(t, d, exporterA, m.bytes())
	want := []uint64{1000, 4096, 0, 0} // sampler 9 unknown; two samplers and no default
	if len(recs) != len(want) {
		t.Fatalf("got %d records", len(recs))
	}
	for i, w := range want {
		if recs[i].SamplingRate != w {
			t.Errorf("record %d (sampler %d): rate %d, want %d", i, recs[i].SamplerID, recs[i].SamplingRate, w)
		}
	}
	if recs[0].SamplerID != 5 || recs[1].SamplerID != 6 {
		t.Errorf("sampler IDs %d %d", recs[0].SamplerID, recs[1].SamplerID)
	}
	st := domainStats(t, d, exporterA, FlowTypeIPFIX, 1)
	if st.OptionsRecords != 2 || st.Records != 4 || st.SamplingRate != 4096 {
		t.Errorf("stats %+v", st)
	}

	// An options record naming no sampler sets the domain default.
	m = newIPFIX(1748779201, 6, 1)
	m.set(3).optTmpl(301, 1, fs{149, 4, 0}, fs{34, 2, 0})
	m.set(301).u32(1).u16(512)
	m.set(257).addr("10.0.0.4").u32(400)
	m.set(256).addr("10.0.0.3").u32(300).u8(9)
	recs = collect(t, d, exporterA, m.bytes())
	if len(recs) != 2 || recs[0].SamplingRate != 512 || recs[1].SamplingRate != 512 {
		t.Errorf("default rate: %+v", recs)
	}
}

func TestSamplingPacketIntervalSpace(t *testing.T) {
	// softflowd style: selectorId scope with samplingPacketInterval 1 and
	// samplingPacketSpace 4095: rate (1+4095)/1 = 4096.
	m := newIPFIX(1748779200, 0, 0)
	m.set(3).optTmpl(256, 1, fs{302, 8, 0}, fs{305, 4, 0}, fs{306, 4, 0})
	m.set(256).u64(1).u32(1).u32(4095)
	m.set(2).tmpl(257, fs{8, 4, 0}, fs{2, 4, 0})
	m.set(257).addr("10.1.1.1").u32(7)
	d := NewDecoder(Config{})
	recs := collect(t, d, exporterA, m.bytes())
	if len(recs) != 1 || recs[0].SamplingRate != 4096 || recs[0].Packets != 7 {
		t.Fatalf("got %+v", recs)
	}
	// A record carrying its own sampling elements uses them.
	m = newIPFIX(1748779200, 2, 0)
	m.set(2).tmpl(258, fs{8, 4, 0}, fs{305, 4, 0}, fs{306, 4, 0})
	m.set(258).addr("10.1.1.2").u32(3).u32(10) // 13/3 = 4.33 -> 4
	m.set(2).tmpl(259, fs{8, 4, 0}, fs{50, 4, 0})
	m.set(259).addr("10.1.1.3").u32(100)
	recs = collect(t, d, exporterA, m.bytes())
	if len(recs) != 2 || recs[0].SamplingRate != 4 || recs[1].SamplingRate != 100 {
		t.Fatalf("got %+v", recs)
	}
	if st := domainStats(t, d, exporterA, FlowTypeIPFIX, 0); st.SamplingRate != 4096 {
		t.Errorf("domain rate %d", st.SamplingRate)
	}
}

func TestTemplateWithdrawal(t *testing.T) {
	d := NewDecoder(Config{})
	m := newIPFIX(1, 0, 0)
	m.set(2).tmpl(256, fs{1, 4, 0}).tmpl(257, fs{2, 4, 0}).tmpl(258, fs{4, 1, 0})
	m.set(3).optTmpl(259, 1, fs{48, 1, 0}, fs{34, 4, 0})
	collect(t, d, exporterA, m.bytes())
	if st := domainStats(t, d, exporterA, FlowTypeIPFIX, 0); st.Templates != 4 {
		t.Fatalf("templates %d", st.Templates)
	}
	// Withdraw 256 alone.
	m = newIPFIX(2, 0, 0)
	m.set(2).u16(256).u16(0)
	m.set(256).u32(1)
	m.set(257).u32(2)
	recs := collect(t, d, exporterA, m.bytes())
	st := domainStats(t, d, exporterA, FlowTypeIPFIX, 0)
	if len(recs) != 1 || recs[0].Packets != 2 || st.Templates != 3 || st.TemplatesWithdrawn != 1 ||
		st.Errors[ErrMissingTemplate] != 1 {
		t.Fatalf("after withdrawing 256: recs %+v stats %+v", recs, st)
	}
	// Withdraw all data templates (ID 2): the options template stays.
	m = newIPFIX(3, 0, 0)
	m.set(2).u16(2).u16(0)
	collect(t, d, exporterA, m.bytes())
	st = domainStats(t, d, exporterA, FlowTypeIPFIX, 0)
	if st.Templates != 1 || st.TemplatesWithdrawn != 3 {
		t.Fatalf("after withdrawing all: %+v", st)
	}
	// Withdraw all options templates (ID 3 in an options template set).
	m = newIPFIX(4, 0, 0)
	m.set(3).u16(3).u16(0)
	collect(t, d, exporterA, m.bytes())
	if st = domainStats(t, d, exporterA, FlowTypeIPFIX, 0); st.Templates != 0 || st.TemplatesWithdrawn != 4 {
		t.Fatalf("after withdrawing options: %+v", st)
	}
}

func TestReducedSizeEncoding(t *testing.T) {
	m := newIPFIX(1, 0, 0)
	m.set(2).tmpl(256, fs{1, 3, 0}, fs{2, 1, 0}, fs{16, 2, 0}, fs{17, 3, 0}, fs{10, 1, 0}, fs{85, 5, 0},
		fs{6, 2, 0}, fs{152, 6, 0}, fs{7, 1, 0})
	m.set(256).uintN(0x123456, 3).uintN(200, 1).uintN(65000, 2).uintN(4200000, 3).uintN(9, 1).
		uintN(0x0102030405, 5).uintN(0x0112, 2).uintN(baseMs, 6).uintN(80, 1)
	recs := collect(t, NewDecoder(Config{}), exporterA, m.bytes())
	if len(recs) != 1 {
		t.Fatalf("%d records", len(recs))
	}
	r := recs[0]
	if r.Bytes != 0x123456 || r.Packets != 200 || r.SrcAS != 65000 || r.DstAS != 4200000 || r.InIf != 9 ||
		r.TCPFlags != 0x112 || !r.FlowStart.Equal(time.UnixMilli(int64(baseMs))) || r.SrcPort != 80 {
		t.Errorf("got %+v", r.Record)
	}
	// octetTotalCount lost to octetDeltaCount and is kept as extra.
	if len(r.extra) != 1 || r.extra[0].ID != 85 || !bytes.Equal(r.extra[0].Value, []byte{1, 2, 3, 4, 5}) {
		t.Errorf("extra %+v", r.extra)
	}
}

func TestCounterFallbacks(t *testing.T) {
	m := newIPFIX(1, 0, 0)
	m.set(2).tmpl(256, fs{85, 8, 0}, fs{86, 8, 0}).tmpl(257, fs{23, 4, 0}, fs{24, 4, 0}).
		tmpl(258, fs{23, 4, 0}, fs{1, 4, 0})
	m.set(256).u64(5000).u64(50)
	m.set(257).u32(600).u32(6)
	m.set(258).u32(700).u32(800)
	recs := collect(t, NewDecoder(Config{}), exporterA, m.bytes())
	if len(recs) != 3 || recs[0].Bytes != 5000 || recs[0].Packets != 50 || recs[1].Bytes != 600 ||
		recs[1].Packets != 6 || recs[2].Bytes != 800 || len(recs[2].extra) != 1 || recs[2].extra[0].ID != 23 {
		t.Errorf("got %+v", recs)
	}
}

func TestVariableLengthFields(t *testing.T) {
	long := bytes.Repeat([]byte("x"), 300)
	m := newIPFIX(1, 0, 0)
	m.set(2).tmpl(256, fs{8, 4, 0}, fs{82, varLen, 0}, fs{1, 4, 0}, fs{100, varLen, 9}, fs{2, 2, 0})
	m.set(256)
	m.addr("10.0.0.1").varField([]byte("eth0")).u32(11).varField(long).u16(1)
	m.addr("10.0.0.2").varField(nil).u32(22).varField([]byte{0xde, 0xad}).u16(2)
	m.pad(3) // below the minimum record length (4+1+4+1+2): padding
	d := NewDecoder(Config{})
	recs := collect(t, d, exporterA, m.bytes())
	if len(recs) != 2 {
		t.Fatalf("%d records", len(recs))
	}
	r0, r1 := recs[0], recs[1]
	if r0.SrcAddr != addr("10.0.0.1") || r0.Bytes != 11 || r0.Packets != 1 || r1.SrcAddr != addr("10.0.0.2") ||
		r1.Bytes != 22 || r1.Packets != 2 {
		t.Errorf("fixed fields: %+v %+v", r0.Record, r1.Record)
	}
	if len(r0.extra) != 2 || string(r0.extra[0].Value) != "eth0" || r0.extra[0].ID != 82 ||
		!bytes.Equal(r0.extra[1].Value, long) || r0.extra[1].PEN != 9 || r0.extra[1].ID != 100 {
		t.Errorf("extra 0: %+v", r0.extra)
	}
	if len(r1.extra) != 2 || len(r1.extra[0].Value) != 0 || !bytes.Equal(r1.extra[1].Value, []byte{0xde, 0xad}) {
		t.Errorf("extra 1: %+v", r1.extra)
	}
	if st := domainStats(t, d, exporterA, FlowTypeIPFIX, 0); st.Errors.Total() != 0 || st.Records != 2 {
		t.Errorf("stats %+v", st)
	}

	// A variable-length value running past the set is counted.
	m = newIPFIX(1, 1, 0)
	m.set(256).addr("10.0.0.3").u8(255).u16(1000).raw(1, 2, 3, 4, 5, 6, 7, 8)
	recs = collect(t, d, exporterA, m.bytes())
	if st := domainStats(t, d, exporterA, FlowTypeIPFIX, 0); len(recs) != 0 || st.Errors[ErrRecordTruncated] != 1 {
		t.Errorf("truncated varlen: recs %d stats %+v", len(recs), st)
	}
}

func TestPaddingAndEnterpriseAndBiflow(t *testing.T) {
	m := newIPFIX(1, 0, 0)
	m.set(2).tmpl(256, fs{8, 4, 0}, fs{12, 4, 0}, fs{1, 4, 0}, fs{2, 4, 0}, fs{1, 4, PENReverse},
		fs{2, 4, PENReverse}, fs{6, 1, PENReverse}, fs{4242, 2, 6876}, fs{210, 3, 0}).pad(3)
	m.set(256).addr("10.0.0.1").addr("10.0.0.2").u32(100).u32(2).u32(5000).u32(7).u8(0x12).u16(0xbeef).pad(3)
	m.pad(20) // set padding: shorter than one record (30 bytes)
	msg := m.bytes()
	d := NewDecoder(Config{})
	recs := collect(t, d, exporterA, msg)
	if len(recs) != 1 {
		t.Fatalf("%d records", len(recs))
	}
	r := recs[0]
	if r.Bytes != 100 || r.Packets != 2 || r.ReverseBytes != 5000 || r.ReversePackets != 7 {
		t.Errorf("biflow %+v", r.Record)
	}
	if len(r.extra) != 2 || r.extra[0].PEN != PENReverse || r.extra[0].ID != 6 || r.extra[0].Value[0] != 0x12 ||
		r.extra[1].PEN != 6876 || r.extra[1].ID != 4242 || !bytes.Equal(r.extra[1].Value, []byte{0xbe, 0xef}) {
		t.Errorf("extra %+v", r.extra)
	}
	if st := domainStats(t, d, exporterA, FlowTypeIPFIX, 0); st.Errors.Total() != 0 {
		t.Errorf("errors %+v", st.Errors)
	}
}

func TestTimesAndMiscFields(t *testing.T) {
	exportSecs := uint32(1748779200)
	start := time.Date(2025, 6, 1, 11, 59, 0, 123456789, time.UTC)
	ntp := func(t time.Time) uint64 {
		return uint64(t.Unix()+ntpEpochOffset)<<32 | uint64(t.Nanosecond())<<32/1e9
	}
	m := newIPFIX(exportSecs, 0, 0)
	m.set(2).tmpl(256, fs{150, 4, 0}, fs{151, 4, 0}).
		tmpl(257, fs{156, 8, 0}, fs{157, 8, 0}).
		tmpl(258, fs{154, 8, 0}, fs{158, 4, 0}, fs{159, 4, 0}).
		tmpl(259, fs{22, 4, 0}, fs{21, 4, 0}, fs{160, 8, 0}).
		tmpl(260, fs{22, 4, 0}, fs{21, 4, 0}).
		tmpl(261, fs{32, 2, 0}, fs{58, 2, 0}, fs{245, 2, 0}, fs{52, 1, 0}, fs{53, 1, 0}, fs{5, 1, 0}, fs{61, 1, 0},
			fs{18, 4, 0}, fs{29, 1, 0}, fs{30, 1, 0}).
		tmpl(262, fs{178, 1, 0}, fs{179, 1, 0}, fs{243, 2, 0}, fs{63, 16, 0}, fs{302, 8, 0})
	m.set(256).u32(uint32(start.Unix())).u32(exportSecs)
	m.set(257).u64(ntp(start)).u64(ntp(start.Add(time.Second)))
	m.set(258).u64(ntp(start)).u32(2_000_000).u32(500) // start from 154 wins over 158
	m.set(259).u32(1000).u32(61000).u64(baseMs)
	m.set(260).u32(1000).u32(61000) // no systemInitTime known yet
	m.set(261).u16(3<<8 | 1).u16(100).u16(200).u8(3).u8(250).u8(0xb8).u8(1).addr("198.51.100.1").u8(48).u8(64)
	m.set(262).u8(128).u8(0).u16(42).addr("2001:db8::ff").u64(77)
	// systemInitTimeMilliseconds from options data applies afterwards.
	m.set(3).optTmpl(263, 1, fs{144, 4, 0}, fs{160, 8, 0})
	m.set(263).u32(1).u64(baseMs + 10)
	m.set(260).u32(2000).u32(3000)
	recs := collect(t, NewDecoder(Config{}), exporterA, m.bytes())
	if len(recs) != 8 {
		t.Fatalf("%d records", len(recs))
	}
	exp := time.Unix(int64(exportSecs), 0)
	checkTimes := func(i int, s, e time.Time) {
		t.Helper()
		if !recs[i].FlowStart.Equal(s) || !recs[i].FlowEnd.Equal(e) {
			t.Errorf("record %d: start %v end %v, want %v %v", i, recs[i].FlowStart, recs[i].FlowEnd, s, e)
		}
	}
	checkTimes(0, start.Truncate(time.Second), exp)
	checkTimes(1, start, start.Add(time.Second))
	// Microseconds: the 11 low fraction bits are ignored.
	if d := recs[2].FlowStart.Sub(start); d < -time.Microsecond || d > time.Microsecond {
		t.Errorf("micro start %v vs %v", recs[2].FlowStart, start)
	}
	if !recs[2].FlowEnd.Equal(exp.Add(-500 * time.Microsecond)) {
		t.Errorf("delta end %v", recs[2].FlowEnd)
	}
	if len(recs[2].extra) != 1 || recs[2].extra[0].ID != 158 {
		t.Errorf("158 should be extra: %+v", recs[2].extra)
	}
	b := time.UnixMilli(int64(baseMs))
	checkTimes(3, b.Add(time.Second), b.Add(61*time.Second))
	checkTimes(4, time.Time{}, time.Time{})
	r := recs[5]
	if r.ICMPType != 3 || r.ICMPCode != 1 || r.VLAN != 100 || r.CustomerVLAN != 200 || r.MinTTL != 3 ||
		r.MaxTTL != 250 || r.ToS != 0xb8 || r.Direction != 1 || r.BGPNextHop != addr("198.51.100.1") ||
		r.SrcMask != 48 || r.DstMask != 64 {
		t.Errorf("misc %+v", r.Record)
	}
	r = recs[6]
	if r.ICMPType != 128 || r.ICMPCode != 0 || r.VLAN != 42 || r.BGPNextHop != addr("2001:db8::ff") || r.SelectorID != 77 {
		t.Errorf("misc v6 %+v", r.Record)
	}
	checkTimes(7, b.Add(2010*time.Millisecond), b.Add(3010*time.Millisecond))
}

func TestNetFlowV9(t *testing.T) {
	const (
		uptime   = 3_600_000 // 1 h
		unixSecs = 1748779200
	)
	m := newV9(uptime, unixSecs, 100, 5)
	m.set(0).tmpl(256, fs{8, 4, 0}, fs{12, 4, 0}, fs{7, 2, 0}, fs{11, 2, 0}, fs{4, 1, 0}, fs{1, 4, 0},
		fs{2, 4, 0}, fs{22, 4, 0}, fs{21, 4, 0}, fs{48, 1, 0})
	// Options: scope system (1, 4 bytes), SAMPLING_INTERVAL, SAMPLING_ALGORITHM, FLOW_SAMPLER_ID.
	m.set(1).v9OptTmpl(257, []fs{{1, 4, 0}}, []fs{{48, 1, 0}, {34, 4, 0}, {35, 1, 0}}).pad(2)
	m.set(257).record().u32(0).u8(2).u32(100).u8(2).pad(2)
	m.set(256).record().addr("10.0.0.1").addr("10.0.0.2").u16(1234).u16(80).u8(6).u32(4000).u32(4).
		u32(uptime - 60_000).u32(uptime - 1_000).u8(2)
	m.record().addr("10.0.0.3").addr("10.0.0.4").u16(1235).u16(80).u8(6).u32(5000).u32(5).
		u32(uptime + 500).u32(uptime + 1000).u8(3) // times after the header uptime
	m.pad(3)
	d := NewDecoder(Config{EmitOptionsRecords: true})
	recs := collect(t, d, "2001:db8::9", m.bytes())
	if len(recs) != 3 {
		t.Fatalf("%d records", len(recs))
	}
	o := recs[0]
	if !o.Options || o.TemplateID != 257 || len(o.extra) != 2 || !o.extra[0].Scope || o.extra[0].ID != 1 ||
		o.extra[1].ID != 35 || o.SamplerID != 2 {
		t.Errorf("options record %+v extra %+v", o.Record, o.extra)
	}
	exp := time.Unix(unixSecs, 0)
	r := recs[1]
	if r.FlowType != FlowTypeNetFlowV9 || r.ObservationDomain != 5 || r.SequenceNumber != 100 ||
		r.SrcAddr != addr("10.0.0.1") || r.DstPort != 80 || r.Bytes != 4000 || r.Packets != 4 ||
		!r.FlowStart.Equal(exp.Add(-60*time.Second)) || !r.FlowEnd.Equal(exp.Add(-time.Second)) ||
		r.SamplingRate != 100 || r.Exporter != addr("2001:db8::9") {
		t.Errorf("v9 record %+v", r.Record)
	}
	r = recs[2]
	if !r.FlowStart.Equal(exp.Add(500*time.Millisecond)) || r.SamplingRate != 0 {
		t.Errorf("v9 record 2: start %v rate %d", r.FlowStart, r.SamplingRate)
	}

	// sysUptime wrap: FIRST_SWITCHED just before the wrap, header after it.
	m = newV9(1000, unixSecs, 101, 5)
	m.set(256).record().addr("10.0.0.1").addr("10.0.0.2").u16(1).u16(2).u8(17).u32(1).u32(1).
		u32(0xFFFFFFFF - 999).u32(500).u8(2)
	recs = collect(t, d, "2001:db8::9", m.bytes())
	if len(recs) != 1 || !recs[0].FlowStart.Equal(exp.Add(-2*time.Second)) || !recs[0].FlowEnd.Equal(exp.Add(-500*time.Millisecond)) {
		t.Errorf("wrap: %+v", recs)
	}
}

func TestV9AndIPFIXDoNotCollide(t *testing.T) {
	d := NewDecoder(Config{})
	v9 := newV9(1000, 1, 0, 0)
	v9.set(0).tmpl(256, fs{1, 4, 0})
	v9.set(256).record().u32(99)
	ipfix := newIPFIX(1, 0, 0)
	ipfix.set(2).tmpl(256, fs{2, 2, 0}, fs{4, 1, 0})
	ipfix.set(256).u16(7).u8(17)
	recs := collect(t, d, exporterA, v9.bytes(), ipfix.bytes())
	// Data for each again, after both templates are known.
	v9 = newV9(1001, 1, 1, 0)
	v9.set(256).record().u32(98)
	recs = append(recs, collect(t, d, exporterA, v9.bytes())...)
	if len(recs) != 3 || recs[0].Bytes != 99 || recs[1].Packets != 7 || recs[1].Protocol != 17 ||
		recs[2].Bytes != 98 || recs[2].FlowType != FlowTypeNetFlowV9 {
		t.Errorf("got %+v", recs)
	}
	if s := d.Stats(); len(s.Domains) != 2 || s.Templates != 2 {
		t.Errorf("stats %+v", s)
	}
}

func TestSequenceIPFIX(t *testing.T) {
	d := NewDecoder(Config{})
	tm := newIPFIX(1, 0, 0)
	tm.set(2).tmpl(256, fs{1, 4, 0})
	msg := func(seq uint32, n int) []byte {
		m := newIPFIX(1, seq, 0)
		m.set(256)
		for i := range n {
			m.u32(uint32(i))
		}
		return m.bytes()
	}
	collect(t, d, exporterA,
		tm.bytes(),         // seq 0, no data: next 0
		msg(0, 3),          // ok, next 3
		msg(3, 2),          // ok, next 5
		msg(10, 1),         // gap of 5, next 11
		msg(11, 4),         // ok, next 15
		msg(5, 2),          // late (out of order)
		msg(15, 1),         // ok, next 16
		msg(0, 2),          // restart? backwards by 16 (within window): late...
		msg(2, 1),          // ...continued from it: a restart
		msg(3, 1),          // ok, next 4
		msg(0x90000000, 1), // far backwards: reset
		msg(0x90000001, 1), // ok
	)
	st := domainStats(t, d, exporterA, FlowTypeIPFIX, 0)
	if st.SequenceGaps != 1 || st.SequenceLost != 5 || st.SequenceOutOfOrder != 1 || st.SequenceResets != 2 {
		t.Errorf("gaps %d lost %d ooo %d resets %d", st.SequenceGaps, st.SequenceLost, st.SequenceOutOfOrder, st.SequenceResets)
	}
	// Wrap-around is not a gap.
	wrap := func(seq uint32, n int) []byte {
		m := newIPFIX(1, seq, 9)
		m.set(2).tmpl(256, fs{1, 4, 0})
		m.set(256)
		for i := range n {
			m.u32(uint32(i))
		}
		return m.bytes()
	}
	collect(t, d, exporterA, wrap(0xFFFFFFFE, 3), wrap(1, 1), wrap(2, 1))
	if st9 := domainStats(t, d, exporterA, FlowTypeIPFIX, 9); st9.SequenceGaps+st9.SequenceResets+st9.SequenceOutOfOrder != 0 {
		t.Errorf("wrap-around: %+v", st9)
	}
	// A message with a data set that cannot be decoded leaves the next
	// expectation unknown: no false gap.
	m := newIPFIX(1, 2, 0)
	m.set(999).u32(1).u32(2)
	collect(t, d, exporterA, m.bytes(), msg(50, 1), msg(51, 1))
	st2 := domainStats(t, d, exporterA, FlowTypeIPFIX, 0)
	if st2.SequenceGaps != st.SequenceGaps || st2.Errors[ErrMissingTemplate] != 1 {
		t.Errorf("after unknown set: gaps %d (was %d), errors %+v", st2.SequenceGaps, st.SequenceGaps, st2.Errors)
	}
}

func TestSequenceConventions(t *testing.T) {
	d := NewDecoder(Config{})
	tmpl := newIPFIX(1, 0, 0)
	tmpl.set(2).tmpl(256, fs{1, 4, 0})
	tmpl.set(3).optTmpl(257, 1, fs{149, 4, 0}, fs{34, 4, 0})
	// msg writes n flow records and opts options records.
	msg := func(domain, seq uint32, n, opts int) []byte {
		m := newIPFIX(1, seq, domain)
		m.set(256)
		for i := range n {
			m.u32(uint32(i))
		}
		if opts > 0 {
			m.set(257)
			for range opts {
				m.u32(domain).u32(100)
			}
		}
		return m.bytes()
	}
	tmpl1 := bytes.Clone(tmpl.bytes())
	tmpl1[15] = 1 // same templates in domain 1
	// Domain 0, softflowd style: the sequence number includes the
	// message's own flow records and leaves options records out.
	collect(t, d, exporterA, tmpl.bytes(), tmpl1,
		msg(0, 24, 24, 1), msg(0, 56, 32, 0), msg(0, 88, 32, 0), msg(0, 119, 31, 1),
		msg(0, 151, 32, 0), msg(0, 215, 32, 0), // one message of 32 lost
	)
	st := domainStats(t, d, exporterA, FlowTypeIPFIX, 0)
	if st.SequenceGaps != 1 || st.SequenceLost != 32 || st.SequenceOutOfOrder != 0 || st.SequenceResets != 0 {
		t.Errorf("post-increment exporter: %+v", st)
	}
	// Domain 1, RFC exporter: after the convention is confirmed, a lost
	// message of exactly (this message - previous message) records is
	// still a gap, not a change of convention.
	collect(t, d, exporterA,
		msg(1, 0, 10, 0), msg(1, 10, 10, 1), msg(1, 21, 10, 0), msg(1, 31, 10, 0), msg(1, 41, 10, 0),
		// lost: seq 51, 22 records
		msg(1, 73, 32, 0),
	)
	st = domainStats(t, d, exporterA, FlowTypeIPFIX, 1)
	if st.SequenceGaps != 1 || st.SequenceLost != 22 || st.SequenceOutOfOrder != 0 {
		t.Errorf("RFC exporter: %+v", st)
	}
}

func TestSequenceV9(t *testing.T) {
	d := NewDecoder(Config{})
	msg := func(uptime, seq uint32) []byte {
		m := newV9(uptime, 1, seq, 3)
		m.set(0).tmpl(256, fs{1, 4, 0})
		return m.bytes()
	}
	collect(t, d, exporterA,
		msg(100_000, 10), msg(200_000, 11), msg(300_000, 14), // 2 packets lost
		msg(400_000, 15), msg(399_000, 13), // late
		msg(500_000, 16),
		msg(100, 0), // sysUptime went back: restart
		msg(200, 1),
	)
	st := domainStats(t, d, exporterA, FlowTypeNetFlowV9, 3)
	if st.Packets != 8 || st.SequenceGaps != 1 || st.SequenceLost != 2 || st.SequenceOutOfOrder != 1 || st.SequenceResets != 1 {
		t.Errorf("stats %+v", st)
	}
}

func TestMalformed(t *testing.T) {
	d := NewDecoder(Config{})
	good := newIPFIX(1, 0, 0)
	good.set(2).tmpl(256, fs{1, 4, 0})
	collect(t, d, exporterA, good.bytes())

	cases := []struct {
		name   string
		msg    []byte
		global bool
		want   ErrorKind
		recs   int
	}{
		{"empty", nil, true, ErrShortMessage, 0},
		{"short ipfix", []byte{0, 10, 0, 16}, true, ErrShortMessage, 0},
		{"short v9", []byte{0, 9, 0, 1, 0, 0}, true, ErrShortMessage, 0},
		{"version 5", append([]byte{0, 5}, make([]byte, 30)...), true, ErrUnknownVersion, 0},
		{"length past datagram", func() []byte { b := newIPFIX(1, 0, 0).bytes(); b[3] = 200; return b }(), true, ErrMessageLength, 0},
		{"length below header", func() []byte { b := newIPFIX(1, 0, 0).bytes(); b[3] = 8; return b }(), true, ErrMessageLength, 0},
		{"huge set length", func() []byte {
			m := newIPFIX(1, 0, 0)
			m.set(256).u32(5)
			b := m.bytes()
			b[18], b[19] = 0xFF, 0xFF
			return b
		}(), false, ErrSetLength, 0},
		{"set length 2", newIPFIX(1, 0, 0).u16(256).u16(2).u32(0).bytes(), false, ErrSetLength, 0},
		{"trailing bytes", newIPFIX(1, 0, 0).set(256).u32(5).endSetThen().raw(1, 2).bytes(), false, ErrSetLength, 1},
		{"zero-length template", newIPFIX(1, 0, 0).set(2).tmpl(300, fs{1, 0, 0}).bytes(), false, ErrTemplateZeroLength, 0},
		{"template id 5", newIPFIX(1, 0, 0).set(2).tmpl(5, fs{1, 4, 0}).bytes(), false, ErrTemplateID, 0},
		{"template truncated", newIPFIX(1, 0, 0).set(2).u16(300).u16(3).u16(1).u16(4).bytes(), false, ErrTemplateTruncated, 0},
		{"enterprise truncated", newIPFIX(1, 0, 0).set(2).u16(300).u16(1).u16(0x8001).u16(4).u16(0).bytes(), false, ErrTemplateTruncated, 0},
		{"options scope 0", newIPFIX(1, 0, 0).set(3).optTmpl(300, 0, fs{34, 4, 0}).bytes(), false, ErrTemplateScope, 0},
		{"options scope > count", newIPFIX(1, 0, 0).set(3).optTmpl(300, 2, fs{34, 4, 0}).bytes(), false, ErrTemplateScope, 0},
		{"reserved set", newIPFIX(1, 0, 0).set(4).u32(0).set(256).u32(9).bytes(), false, ErrReservedSetID, 1},
		{"missing template then good set", newIPFIX(1, 0, 0).set(400).u32(1).set(256).u32(9).bytes(), false, ErrMissingTemplate, 1},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			before := d.Stats()
			var n int
			err := d.Decode(addr(exporterA), c.msg, func(*Record) { n++ })
			after := d.Stats()
			if err != c.want {
				t.Errorf("err %v, want %v", err, c.want)
			}
			var delta uint64
			if c.global {
				delta = after.Errors[c.want] - before.Errors[c.want]
			} else {
				delta = after.Domains[0].Errors[c.want] - before.Domains[0].Errors[c.want]
			}
			if delta != 1 {
				t.Errorf("%v counted %d times", c.want, delta)
			}
			if n != c.recs {
				t.Errorf("%d records, want %d", n, c.recs)
			}
		})
	}
}

// endSetThen closes the current set so raw bytes can follow outside it.
func (m *msgBuilder) endSetThen() *msgBuilder { m.endSet(); return m }

func TestMalformedV9(t *testing.T) {
	d := NewDecoder(Config{})
	cases := []struct {
		name string
		msg  []byte
		want ErrorKind
	}{
		{"zero-field template", newV9(1, 1, 0, 0).set(0).u16(256).u16(0).bytes(), ErrTemplateZeroFields},
		{"options not multiple of 4", newV9(1, 1, 0, 0).set(1).u16(256).u16(3).u16(4).u32(0).u32(0).bytes(), ErrTemplateScope},
		{"options empty", newV9(1, 1, 0, 0).set(1).u16(256).u16(0).u16(0).bytes(), ErrTemplateZeroFields},
		{"options truncated", newV9(1, 1, 0, 0).set(1).u16(256).u16(4).u16(40).u32(0).bytes(), ErrTemplateTruncated},
		{"template truncated", newV9(1, 1, 0, 0).set(0).u16(256).u16(10).u32(0).bytes(), ErrTemplateTruncated},
		{"reserved flowset", newV9(1, 1, 0, 0).set(0).tmpl(300, fs{1, 4, 0}).set(7).u32(0).bytes(), ErrReservedSetID},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			if err := d.Decode(addr(exporterA), c.msg, nil); err != c.want {
				t.Errorf("err %v, want %v", err, c.want)
			}
		})
	}
}

func TestLimits(t *testing.T) {
	d := NewDecoder(Config{MaxExporters: 2, MaxDomainsPerExporter: 2, MaxTemplatesPerExporter: 3,
		MaxFieldsPerTemplate: 4, MaxRecordsPerSet: 5, MaxSamplersPerDomain: 1})
	// Templates per exporter, across domains.
	m := newIPFIX(1, 0, 0)
	m.set(2).tmpl(256, fs{1, 4, 0}).tmpl(257, fs{1, 4, 0}).tmpl(258, fs{1, 4, 0}).tmpl(259, fs{1, 4, 0})
	m.set(2).tmpl(260, fs{1, 1, 0}, fs{2, 1, 0}, fs{4, 1, 0}, fs{5, 1, 0}, fs{6, 1, 0})
	collect(t, d, exporterA, m.bytes())
	st := domainStats(t, d, exporterA, FlowTypeIPFIX, 0)
	if st.Templates != 3 || st.Errors[ErrTemplateLimit] != 1 || st.Errors[ErrTemplateTooManyFields] != 1 {
		t.Errorf("template limits: %+v", st)
	}
	m = newIPFIX(1, 0, 1)
	m.set(2).tmpl(256, fs{1, 4, 0})
	collect(t, d, exporterA, m.bytes())
	// A domain created by a template that could not be learned is not kept.
	if s := d.Stats(); len(s.Domains) != 1 || s.Total[ErrTemplateLimit] != 2 {
		t.Errorf("template limit across domains: %+v", s)
	}
	// Domains per exporter: room for templates again, then a third domain.
	dd := NewDecoder(Config{MaxDomainsPerExporter: 2})
	for dom := range uint32(3) {
		m = newIPFIX(1, 0, dom)
		m.set(2).tmpl(256, fs{1, 4, 0})
		collect(t, dd, exporterA, m.bytes())
	}
	if s := dd.Stats(); s.Errors[ErrDomainLimit] != 1 || len(s.Domains) != 2 {
		t.Errorf("domain limit: %+v", s)
	}
	// Records per set: 7 records, 5 decoded.
	m = newIPFIX(1, 0, 0)
	m.set(256)
	for i := range 7 {
		m.u32(uint32(i))
	}
	m.set(257).u32(100)
	recs := collect(t, d, exporterA, m.bytes())
	if st = domainStats(t, d, exporterA, FlowTypeIPFIX, 0); len(recs) != 6 || st.Errors[ErrRecordLimit] != 1 || recs[5].Bytes != 100 {
		t.Errorf("record limit: %d records, %+v", len(recs), st)
	}
	// Samplers per domain.
	ds := NewDecoder(Config{MaxSamplersPerDomain: 1})
	m = newIPFIX(1, 0, 1)
	m.set(3).optTmpl(300, 1, fs{48, 1, 0}, fs{34, 4, 0})
	m.set(300).u8(1).u32(10).u8(2).u32(20).u8(1).u32(30)
	collect(t, ds, exporterA, m.bytes())
	if st = domainStats(t, ds, exporterA, FlowTypeIPFIX, 1); st.Errors[ErrSamplerLimit] != 1 || st.SamplingRate != 30 {
		t.Errorf("sampler limit: %+v", st)
	}
	// Exporters.
	tm := newIPFIX(1, 0, 0)
	tm.set(2).tmpl(256, fs{1, 4, 0})
	collect(t, d, "192.0.2.2", tm.bytes())
	collect(t, d, "192.0.2.3", tm.bytes())
	if s := d.Stats(); s.Errors[ErrExporterLimit] != 1 || s.Exporters != 2 {
		t.Errorf("exporter limit: %+v", s)
	}
	// Total templates.
	d = NewDecoder(Config{MaxTemplates: 1})
	m = newIPFIX(1, 0, 0)
	m.set(2).tmpl(256, fs{1, 4, 0}).tmpl(257, fs{1, 4, 0})
	collect(t, d, exporterA, m.bytes())
	if s := d.Stats(); s.Templates != 1 || s.Domains[0].Errors[ErrTemplateLimit] != 1 {
		t.Errorf("total template limit: %+v", s)
	}
	// Template bytes: 4 + 4 per field.
	d = NewDecoder(Config{MaxTemplateBytes: 20})
	m = newIPFIX(1, 0, 0)
	m.set(2).tmpl(256, fs{1, 4, 0}, fs{2, 4, 0}).tmpl(257, fs{1, 4, 0}, fs{2, 4, 0})
	collect(t, d, exporterA, m.bytes())
	if s := d.Stats(); s.Templates != 1 || s.TemplateBytes != 12 || s.Total[ErrTemplateBytesLimit] != 1 {
		t.Errorf("template bytes limit: %+v", s)
	}
}

func TestHeaderOnlyMessagesLeaveNoState(t *testing.T) {
	d := NewDecoder(Config{})
	for src := range 64 {
		for dom := range uint32(16) {
			exp := netip.AddrFrom4([4]byte{127, 1, byte(src), 1}).String()
			collect(t, d, exp, newIPFIX(1, 0, dom).bytes(), newV9(1, 1, 0, dom).bytes())
		}
	}
	s := d.Stats()
	if s.Exporters != 0 || len(s.Domains) != 0 || s.Errors[ErrUnknownDomain] != 64*16*2 {
		t.Fatalf("header-only messages: %d exporters, %d domains, unknown_domain %d",
			s.Exporters, len(s.Domains), s.Errors[ErrUnknownDomain])
	}
}

func TestFairShareEviction(t *testing.T) {
	sh := &Shared{}
	// Two decoders (workers) share one budget of 8 templates.
	d1 := NewDecoder(Config{MaxTemplates: 8, Shared: sh})
	d2 := NewDecoder(Config{MaxTemplates: 8, Shared: sh})
	bomb := newIPFIX(1, 0, 0)
	bomb.set(2)
	for id := range uint16(10) {
		bomb.tmpl(256+id, fs{1, 4, 0})
	}
	collect(t, d1, "127.0.0.66", bomb.bytes())
	if sh.Templates() != 8 || d1.Stats().Total[ErrTemplateLimit] != 2 {
		t.Fatalf("bomb: %d templates held, %+v", sh.Templates(), d1.Stats().Total)
	}
	// A legitimate exporter on the other worker takes the room of the bomb's oldest template,
	// although the bomb sits in another decoder.
	legit := newIPFIX(1, 0, 0)
	legit.set(2).tmpl(256, fs{1, 4, 0}, fs{2, 4, 0})
	legit.set(256).u32(1).u32(2)
	if recs := collect(t, d2, "127.0.0.2", legit.bytes()); len(recs) != 1 || sh.Templates() != 8 {
		t.Fatalf("legitimate exporter on another worker: %d records, %d templates", len(recs), sh.Templates())
	}
	// And so does one on the bomb's worker.
	recs := collect(t, d1, "127.0.0.1", legit.bytes())
	if len(recs) != 1 || recs[0].Packets != 2 || sh.Templates() != 8 {
		t.Fatalf("legitimate exporter after the bomb: %d records, %d templates", len(recs), sh.Templates())
	}
	if st := domainStats(t, d1, "127.0.0.66", FlowTypeIPFIX, 0); st.TemplatesEvicted != 2 || st.Templates != 6 {
		t.Fatalf("bomb's domain: %+v", st)
	}
	// The bomb cannot take it back: it is over its fair share (8 / 2 exporters).
	collect(t, d1, "127.0.0.66", bomb.bytes())
	if recs := collect(t, d1, "127.0.0.1", legit.bytes()); len(recs) != 1 {
		t.Fatal("the bomb pushed the legitimate exporter out")
	}
}

func TestSequenceJumpIsAReset(t *testing.T) {
	d := NewDecoder(Config{MaxSequenceGap: 1000})
	tm := newIPFIX(1, 0, 0)
	tm.set(2).tmpl(256, fs{1, 4, 0})
	msg := func(seq uint32) []byte {
		m := newIPFIX(1, seq, 0)
		m.set(256).u32(1)
		return m.bytes()
	}
	collect(t, d, exporterA, tm.bytes(), msg(0), msg(1), msg(12), msg(1<<30+13), msg(5))
	st := domainStats(t, d, exporterA, FlowTypeIPFIX, 0)
	if st.SequenceGaps != 1 || st.SequenceLost != 10 || st.SequenceResets != 2 {
		t.Fatalf("gaps %d lost %d resets %d, want 1 10 2", st.SequenceGaps, st.SequenceLost, st.SequenceResets)
	}
}

func TestTemplateTTL(t *testing.T) {
	clk := &fakeClock{t: time.Unix(1_700_000_000, 0)}
	d := NewDecoder(Config{TemplateTTL: 10 * time.Minute, Now: clk.now})
	tm := newIPFIX(1, 0, 0)
	tm.set(2).tmpl(256, fs{1, 4, 0})
	data := newIPFIX(1, 0, 0)
	data.set(256).u32(5)
	if recs := collect(t, d, exporterA, tm.bytes(), data.bytes()); len(recs) != 1 {
		t.Fatalf("%d records", len(recs))
	}
	clk.t = clk.t.Add(9 * time.Minute)
	collect(t, d, exporterA, tm.bytes()) // refresh
	clk.t = clk.t.Add(9 * time.Minute)
	if recs := collect(t, d, exporterA, data.bytes()); len(recs) != 1 {
		t.Fatalf("refreshed template expired")
	}
	clk.t = clk.t.Add(11 * time.Minute)
	recs := collect(t, d, exporterA, data.bytes())
	st := domainStats(t, d, exporterA, FlowTypeIPFIX, 0)
	if len(recs) != 0 || st.TemplatesExpired != 1 || st.Templates != 0 || st.Errors[ErrMissingTemplate] != 1 {
		t.Errorf("after TTL: %d records, %+v", len(recs), st)
	}
	// Idle exporters are forgotten by the sweep.
	clk.t = clk.t.Add(time.Hour)
	collect(t, d, "192.0.2.99", tm.bytes())
	if s := d.Stats(); s.Exporters != 1 || s.Domains[0].Exporter != addr("192.0.2.99") {
		t.Errorf("sweep: %+v", s)
	}
}

func TestSnapshotRestore(t *testing.T) {
	clk := &fakeClock{t: time.Unix(1_700_000_000, 0)}
	d := NewDecoder(Config{Now: clk.now})
	m := newIPFIX(1, 0, 3)
	m.set(3).optTmpl(256, 1, fs{302, 4, 0}, fs{305, 4, 0}, fs{306, 4, 0}, fs{160, 8, 0})
	m.set(256).u32(9).u32(1).u32(999).u64(baseMs)
	m.set(2).tmpl(257, fs{8, 4, 0}, fs{1, 4, 0}, fs{22, 4, 0}, fs{302, 4, 0}).
		tmpl(258, fs{8, 4, 0}, fs{82, varLen, 0}, fs{7, 2, 0})
	collect(t, d, exporterA, m.bytes())
	v9 := newV9(1000, 1, 0, 3)
	v9.set(0).tmpl(256, fs{2, 4, 0})
	v9.set(1).v9OptTmpl(257, []fs{{1, 4, 0}}, []fs{{34, 4, 0}})
	v9.set(257).record().u32(0).u32(64)
	collect(t, d, "2001:db8::1", v9.bytes())

	snap := d.Snapshot()
	clk.t = clk.t.Add(5 * time.Minute)
	d2 := NewDecoder(Config{Now: clk.now})
	if err := d2.Restore(snap); err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(snapshotSorted(t, d2.Snapshot()), snapshotSorted(t, snap)) {
		t.Errorf("snapshot of the restored decoder differs")
	}
	m = newIPFIX(2, 0, 3)
	m.set(257).addr("10.9.9.9").u32(1234).u32(5000).u32(9)
	m.set(258).addr("10.9.9.8").varField([]byte("ge-0/0/1")).u16(22)
	recs := collect(t, d2, exporterA, m.bytes())
	v9 = newV9(2000, 1, 1, 3)
	v9.set(256).record().u32(77)
	recs = append(recs, collect(t, d2, "2001:db8::1", v9.bytes())...)
	if len(recs) != 3 {
		t.Fatalf("%d records after restore", len(recs))
	}
	if r := recs[0]; r.Bytes != 1234 || r.SamplingRate != 1000 || !r.FlowStart.Equal(time.UnixMilli(int64(baseMs)+5000)) {
		t.Errorf("restored IPFIX record %+v", r.Record)
	}
	if r := recs[1]; r.SrcPort != 22 || string(r.extra[0].Value) != "ge-0/0/1" {
		t.Errorf("restored varlen record %+v", r)
	}
	if r := recs[2]; r.Packets != 77 || r.SamplingRate != 64 {
		t.Errorf("restored v9 record %+v", r.Record)
	}
	// Templates past the TTL are not restored.
	clk.t = clk.t.Add(time.Hour)
	d3 := NewDecoder(Config{Now: clk.now})
	if err := d3.Restore(snap); err != nil || d3.Stats().Templates != 0 {
		t.Errorf("expired templates restored: %v %+v", err, d3.Stats())
	}
	// Corrupt snapshots are rejected whole.
	for i := 0; i < len(snap); i += 7 {
		if err := d3.Restore(snap[:i]); err == nil {
			t.Fatalf("truncated snapshot (%d bytes) accepted", i)
		}
	}
	bad := bytes.Clone(snap)
	bad[len(snapshotMagic)] = 99
	if err := d3.Restore(bad); err == nil {
		t.Error("wrong format version accepted")
	}
}

// snapshotSorted re-reads a snapshot into a canonical string (map order
// makes the bytes differ between runs).
func snapshotSorted(t *testing.T, b []byte) []byte {
	t.Helper()
	snap, err := parseSnapshot(b, DefaultMaxFieldsPerTemplate)
	if err != nil {
		t.Fatal(err)
	}
	var lines []string
	for _, e := range snap {
		for _, dm := range e.domains {
			lines = append(lines, fmt.Sprintf("%v %v %d %d %d %v", e.addr, dm.key, dm.sysInitMs, dm.defRate, len(dm.samplers), dm.samplers))
			for _, tm := range dm.templates {
				lines = append(lines, fmt.Sprintf("%v %v %v %d %x", e.addr, dm.key, tm.options, tm.refreshed, tm.raw))
			}
		}
	}
	sortStrings(lines)
	var out []byte
	for _, l := range lines {
		out = append(out, l...)
		out = append(out, '\n')
	}
	return out
}

func TestCallbackPanicPropagates(t *testing.T) {
	d := NewDecoder(Config{})
	m := newIPFIX(1, 0, 0)
	m.set(2).tmpl(256, fs{1, 4, 0})
	m.set(256).u32(1)
	func() {
		defer func() {
			if recover() == nil {
				t.Error("callback panic swallowed")
			}
		}()
		d.Decode(addr(exporterA), m.bytes(), func(*Record) { panic("boom") })
	}()
	// The decoder is still usable (its lock was released).
	if recs := collect(t, d, exporterA, m.bytes()); len(recs) != 1 {
		t.Errorf("%d records after panic", len(recs))
	}
	if s := d.Stats(); s.Errors[ErrPanic] != 0 {
		t.Errorf("callback panic counted as decoder panic")
	}
}

func TestZeroAllocsPerRecord(t *testing.T) {
	d := NewDecoder(Config{})
	msgs := benchMessages(20)
	exp := addr(exporterA)
	var n int
	fn := func(r *Record) { n++ }
	for _, m := range msgs {
		d.Decode(exp, m, fn)
	}
	allocs := testing.AllocsPerRun(200, func() {
		if err := d.Decode(exp, msgs[1], fn); err != nil {
			t.Fatal(err)
		}
	})
	if allocs != 0 {
		t.Errorf("%v allocations per message", allocs)
	}
	// With extras, variable-length fields and sampling too.
	m := newIPFIX(1, 0, 0)
	m.set(3).optTmpl(300, 1, fs{48, 1, 0}, fs{34, 4, 0})
	m.set(300).u8(1).u32(100)
	m.set(2).tmpl(256, fs{8, 4, 0}, fs{82, varLen, 0}, fs{48, 1, 0}, fs{999, 4, 0}, fs{1, 4, PENReverse}, fs{22, 4, 0})
	d.Decode(exp, m.bytes(), fn)
	m = newIPFIX(1, 0, 0)
	m.set(256)
	for range 20 {
		m.addr("10.0.0.1").varField([]byte("eth0")).u8(1).u32(5).u32(6).u32(7)
	}
	m.set(300).u8(1).u32(100)
	msg := m.bytes()
	allocs = testing.AllocsPerRun(200, func() { d.Decode(exp, msg, fn) })
	if allocs != 0 {
		t.Errorf("%v allocations per message with extras", allocs)
	}
}

func TestConcurrentUse(t *testing.T) {
	d := NewDecoder(Config{})
	msgs := benchMessages(20)
	var wg sync.WaitGroup
	var mu sync.Mutex
	total := 0
	for g := range 2 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			exp := netip.AddrFrom4([4]byte{192, 0, 2, byte(g)})
			for range 200 {
				for _, m := range msgs {
					d.Decode(exp, m, func(r *Record) {
						mu.Lock()
						total++
						mu.Unlock()
					})
				}
			}
		}()
	}
	wg.Add(1)
	go func() {
		defer wg.Done()
		for range 50 {
			d.Stats()
			if err := NewDecoder(Config{}).Restore(d.Snapshot()); err != nil {
				t.Error(err)
			}
		}
	}()
	wg.Wait()
	s := d.Stats()
	if total != 2*200*20 || len(s.Domains) != 2 || s.Domains[0].Records != 4000 {
		t.Errorf("total %d, stats %+v", total, s)
	}
}

func TestGenerationTracksSavedState(t *testing.T) {
	d := NewDecoder(Config{})
	g0 := d.Generation()
	tmpl := newIPFIX(1748779200, 0, 0)
	tmpl.set(2).tmpl(256, fs{8, 4, 0}, fs{1, 4, 0})
	collect(t, d, exporterA, tmpl.bytes())
	g1 := d.Generation()
	if g1 == g0 {
		t.Fatal("a new template must change the generation")
	}
	collect(t, d, exporterA, tmpl.bytes()) // the same template again: nothing to save
	data := newIPFIX(1748779200, 0, 0)
	data.set(256).addr("10.0.0.1").u32(100)
	collect(t, d, exporterA, data.bytes())
	if d.Generation() != g1 {
		t.Error("a refreshed template or a data record must not change the generation")
	}
	opt := newIPFIX(1748779201, 1, 0)
	opt.set(3).optTmpl(300, 1, fs{48, 1, 0}, fs{34, 4, 0})
	opt.set(300).u8(5).u32(1000)
	collect(t, d, exporterA, opt.bytes())
	g2 := d.Generation()
	if g2 == g1 {
		t.Fatal("an options template and a new sampling rate must change the generation")
	}
	again := newIPFIX(1748779202, 1, 0)
	again.set(300).u8(5).u32(1000)
	collect(t, d, exporterA, again.bytes())
	if d.Generation() != g2 {
		t.Error("the same sampling rate again must not change the generation")
	}
	changed := newIPFIX(1748779203, 1, 0)
	changed.set(300).u8(5).u32(2000)
	collect(t, d, exporterA, changed.bytes())
	if d.Generation() == g2 {
		t.Error("a changed sampling rate must change the generation")
	}
}
