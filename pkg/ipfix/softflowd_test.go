package ipfix

import (
	"encoding/binary"
	"fmt"
	"net/netip"
	"os"
	"path/filepath"
	"testing"
	"time"
)

// The captures in testdata/softflowd are softflowd 1.1.0 exports of
// traffic.pcap (see gen_pcap.py for the flows and gen.sh for the runs).

// readDatagrams reads a capture written by testdata/softflowd/capture.py:
// a sequence of (uint16 big-endian length, payload). name is relative to
// testdata, without the .dgrams suffix ("softflowd/v10").
func readDatagrams(t *testing.T, name string) [][]byte {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("testdata", name+".dgrams"))
	if err != nil {
		t.Fatal(err)
	}
	var out [][]byte
	for len(b) > 0 {
		if len(b) < 2 || len(b) < 2+int(binary.BigEndian.Uint16(b)) {
			t.Fatalf("%s: truncated capture", name)
		}
		n := int(binary.BigEndian.Uint16(b))
		out = append(out, b[2:2+n])
		b = b[2+n:]
	}
	return out
}

type flowKey struct {
	src, dst     netip.Addr
	sport, dport uint16
	proto        uint8
}

func (k flowKey) String() string {
	return fmt.Sprintf("%v:%d->%v:%d/%d", k.src, k.sport, k.dst, k.dport, k.proto)
}

type flowTotals struct {
	packets, bytes, revPackets, revBytes uint64
	start, end                           time.Time
	rate                                 uint64
	icmpType                             uint8
}

// expectedFlows returns the unidirectional flows of traffic.pcap.
func expectedFlows() map[flowKey]flowTotals {
	t0 := time.Date(2025, 6, 1, 12, 0, 0, 0, time.UTC)
	at := func(i int) time.Time { return t0.Add(time.Duration(i) * 10 * time.Millisecond) }
	m := map[flowKey]flowTotals{
		// A and A' interleave over packets 0..17. softflowd tracks the
		// conversation as one flow: both records carry its start and end.
		{addr("10.0.0.1"), addr("192.0.2.10"), 40000, 443, 6}:   {packets: 10, bytes: 1000, start: at(0), end: at(17)},
		{addr("192.0.2.10"), addr("10.0.0.1"), 443, 40000, 6}:   {packets: 8, bytes: 12000, start: at(0), end: at(17)},
		{addr("10.0.0.2"), addr("10.0.0.3"), 5353, 53, 17}:      {packets: 5, bytes: 400, start: at(18), end: at(22)},
		{addr("10.0.0.4"), addr("10.0.0.5"), 0, 0, 1}:           {packets: 3, bytes: 252, start: at(23), end: at(25), icmpType: 8},
		{addr("2001:db8::1"), addr("2001:db8::2"), 1234, 80, 6}: {packets: 4, bytes: 480, start: at(26), end: at(29)},
	}
	idx := 30
	for i := range 200 {
		n := i%5 + 1
		m[flowKey{netip.AddrFrom4([4]byte{10, 1, 0, byte(i)}), addr("10.2.0.1"), uint16(10000 + i), 53, 17}] =
			flowTotals{packets: uint64(n), bytes: uint64(n * (60 + i%40)), start: at(idx), end: at(idx + n - 1)}
		idx += n
	}
	return m
}

func decodeCapture(t *testing.T, name string) (map[flowKey]flowTotals, int, DomainStats) {
	t.Helper()
	d := NewDecoder(Config{})
	got := map[flowKey]flowTotals{}
	n := 0
	for _, dg := range readDatagrams(t, name) {
		err := d.Decode(netip.MustParseAddr("127.0.0.1"), dg, func(r *Record) {
			n++
			k := flowKey{r.SrcAddr, r.DstAddr, r.SrcPort, r.DstPort, r.Protocol}
			if _, dup := got[k]; dup {
				t.Errorf("%s: flow %v twice", name, k)
			}
			got[k] = flowTotals{r.Packets, r.Bytes, r.ReversePackets, r.ReverseBytes, r.FlowStart, r.FlowEnd, r.SamplingRate, r.ICMPType}
		})
		if err != nil {
			t.Errorf("%s: %v", name, err)
		}
	}
	s := d.Stats()
	if len(s.Domains) != 1 || s.Errors.Total() != 0 {
		t.Fatalf("%s: stats %+v", name, s)
	}
	return got, n, s.Domains[0]
}

func TestSoftflowdCaptures(t *testing.T) {
	want := expectedFlows()
	cases := []struct {
		name  string
		ft    FlowType
		slack time.Duration // time precision of the export
	}{
		{"v10", FlowTypeIPFIX, time.Millisecond},
		{"v10_nano", FlowTypeIPFIX, 2 * time.Microsecond},
		// NetFlow v9 times are relative to a header time in whole seconds.
		{"v9", FlowTypeNetFlowV9, time.Second},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			got, n, st := decodeCapture(t, "softflowd/"+c.name)
			checkCapture(t, got, n, st, want, c.ft, 1, func(k flowKey, g, w flowTotals) {
				if g.packets != w.packets || g.bytes != w.bytes || g.rate != 1 || g.icmpType != w.icmpType {
					t.Errorf("flow %v: got %+v, want %+v", k, g, w)
				}
				if d := g.start.Sub(w.start); d < -c.slack || d > c.slack {
					t.Errorf("flow %v: start %v, want %v", k, g.start, w.start)
				}
				if d := g.end.Sub(w.end); d < -c.slack || d > c.slack {
					t.Errorf("flow %v: end %v, want %v", k, g.end, w.end)
				}
			})
		})
	}
}

// checkCapture checks a decoded capture of traffic.pcap against want: 205 records, every
// flow present (check compares each with its expected totals), 630 packets and 62,232 bytes
// in all, and the domain's stats (flow type, options records carrying rate, no sequence
// trouble). rate 0 means the exporter announces no sampling (no options record).
func checkCapture(t *testing.T, got map[flowKey]flowTotals, n int, st DomainStats, want map[flowKey]flowTotals,
	ft FlowType, rate uint64, check func(k flowKey, g, w flowTotals)) {
	t.Helper()
	if n != 205 || len(got) != len(want) {
		t.Fatalf("%d records, %d flows; want 205", n, len(got))
	}
	var packets, bytes uint64
	for k, w := range want {
		g, ok := got[k]
		if !ok {
			t.Errorf("flow %v missing", k)
			continue
		}
		packets += g.packets
		bytes += g.bytes
		check(k, g, w)
	}
	if packets != 630 || bytes != 62232 {
		t.Errorf("totals: %d packets, %d bytes; want 630, 62232", packets, bytes)
	}
	options := 0
	if rate != 0 {
		options = 1
	}
	if st.FlowType != ft || st.Records != 205 || st.OptionsRecords != uint64(options) || st.SamplingRate != rate ||
		st.SequenceGaps+st.SequenceOutOfOrder+st.SequenceResets != 0 {
		t.Errorf("stats %+v", st)
	}
}

func TestSoftflowdBiflow(t *testing.T) {
	want := expectedFlows()
	got, n, st := decodeCapture(t, "softflowd/v10_bidir")
	if n != 204 {
		t.Fatalf("%d records, want 204", n)
	}
	var packets, bytes uint64
	for _, g := range got {
		packets += g.packets + g.revPackets
		bytes += g.bytes + g.revBytes
	}
	if packets != 630 || bytes != 62232 {
		t.Errorf("totals: %d packets, %d bytes; want 630, 62232", packets, bytes)
	}
	// The TCP conversation is one record with reverse counters, keyed by
	// either direction.
	fwd := flowKey{addr("10.0.0.1"), addr("192.0.2.10"), 40000, 443, 6}
	rev := flowKey{fwd.dst, fwd.src, fwd.dport, fwd.sport, 6}
	g, ok := got[fwd]
	if !ok {
		g, ok = got[rev]
		g.packets, g.revPackets, g.bytes, g.revBytes = g.revPackets, g.packets, g.revBytes, g.bytes
	}
	if !ok || g.packets != want[fwd].packets || g.bytes != want[fwd].bytes ||
		g.revPackets != want[rev].packets || g.revBytes != want[rev].bytes {
		t.Errorf("biflow A: %+v (found %v)", g, ok)
	}
	if st.SequenceGaps+st.SequenceOutOfOrder+st.SequenceResets != 0 {
		t.Errorf("stats %+v", st)
	}
}

func TestSoftflowdSampled(t *testing.T) {
	// -s 2: softflowd keeps one packet in two and announces
	// samplingPacketInterval 1, samplingPacketSpace 1 (rate 2).
	got, n, st := decodeCapture(t, "softflowd/v10_sampled")
	var packets uint64
	for k, g := range got {
		packets += g.packets
		if g.rate != 2 {
			t.Errorf("flow %v: rate %d, want 2", k, g.rate)
		}
	}
	if st.SamplingRate != 2 || n == 0 || n > 205 {
		t.Errorf("%d records, stats %+v", n, st)
	}
	if packets != 315 {
		t.Errorf("%d sampled packets, want 315 (630 / 2)", packets)
	}
	t.Logf("%d records, %d packets", n, packets)
}
