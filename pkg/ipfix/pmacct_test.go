package ipfix

import (
	"testing"
)

// The captures in testdata/pmacct are pmacctd 1.7.7 (nfprobe plugin) exports
// of testdata/softflowd/traffic.pcap (see gen.sh there).

// pmacctFlows are the flows of traffic.pcap as pmacct exports them: like
// NetFlow v5, pmacct puts an ICMP flow's type and code in the destination
// port (type<<8 | code) and sends no ICMP type element.
func pmacctFlows() map[flowKey]flowTotals {
	m := expectedFlows()
	icmp := flowKey{addr("10.0.0.4"), addr("10.0.0.5"), 0, 0, 1}
	w := m[icmp]
	delete(m, icmp)
	w.icmpType = 0
	icmp.dport = 8 << 8
	m[icmp] = w
	return m
}

func TestPmacctCaptures(t *testing.T) {
	want := pmacctFlows()
	for _, c := range []struct {
		name string
		ft   FlowType
	}{
		{"v10", FlowTypeIPFIX},
		{"v9", FlowTypeNetFlowV9},
	} {
		t.Run(c.name, func(t *testing.T) {
			got, n, st := decodeCapture(t, "pmacct/"+c.name)
			checkCapture(t, got, n, st, want, c.ft, 0, func(k flowKey, g, w flowTotals) {
				// pmacct exports flowStart/EndMilliseconds (152/153) in both
				// protocols, and no sampling: the rate is unknown (0).
				if g.packets != w.packets || g.bytes != w.bytes || g.revPackets != 0 || g.revBytes != 0 ||
					g.rate != 0 || g.icmpType != w.icmpType || !g.start.Equal(w.start) || !g.end.Equal(w.end) {
					t.Errorf("flow %v: got %+v, want %+v", k, g, w)
				}
			})
		})
	}
}

func TestPmacctSampled(t *testing.T) {
	// sampling_rate 4: pmacctd keeps one packet after a random skip of 1..7,
	// marks records with samplerId 1 and sends one options record for
	// sampler 1 with samplerMode 2 (random) and samplerRandomInterval 4.
	want := pmacctFlows()
	got, n, st := decodeCapture(t, "pmacct/v10_sampled")
	var packets, bytes uint64
	for k, g := range got {
		w, ok := want[k]
		if !ok {
			t.Errorf("flow %v is not in the capture", k)
			continue
		}
		packets += g.packets
		bytes += g.bytes
		if g.rate != 4 || g.packets == 0 || g.packets > w.packets || g.bytes != g.packets*(w.bytes/w.packets) {
			t.Errorf("flow %v: got %+v, capture has %+v", k, g, w)
		}
	}
	// This capture's draw: 160 of the 630 packets.
	if n != 122 || packets != 160 || bytes != 12895 {
		t.Errorf("%d records, %d packets, %d bytes; want 122, 160, 12895", n, packets, bytes)
	}
	if st.Records != 122 || st.OptionsRecords != 1 || st.SamplingRate != 4 ||
		st.SequenceGaps+st.SequenceOutOfOrder+st.SequenceResets != 0 {
		t.Errorf("stats %+v", st)
	}
}
