package pcap

import (
	"bytes"
	"net/netip"
	"os"
	"testing"
	"time"
)

func TestRoundTrip(t *testing.T) {
	var buf bytes.Buffer
	w, err := NewWriter(&buf)
	if err != nil {
		t.Fatal(err)
	}
	in := []Datagram{
		{Time: time.Unix(1748779200, 5000).UTC(), Src: netip.MustParseAddrPort("127.0.0.11:40000"), Dst: netip.MustParseAddrPort("127.0.0.1:4739"), Payload: []byte{0, 10, 0, 16}},
		{Time: time.Unix(1748779201, 0).UTC(), Src: netip.MustParseAddrPort("127.0.0.12:40001"), Dst: netip.MustParseAddrPort("127.0.0.1:4739"), Payload: []byte("second")},
	}
	for _, d := range in {
		if err := w.Write(d); err != nil {
			t.Fatal(err)
		}
	}
	out, skipped, err := ReadUDP(&buf)
	if err != nil || skipped != 0 || len(out) != 2 {
		t.Fatalf("read %d datagrams, %d skipped, %v", len(out), skipped, err)
	}
	for i := range in {
		if out[i].Src != in[i].Src || out[i].Dst != in[i].Dst || !bytes.Equal(out[i].Payload, in[i].Payload) || !out[i].Time.Equal(in[i].Time) {
			t.Errorf("datagram %d: %+v, want %+v", i, out[i], in[i])
		}
	}
}

// TestEthernetCapture reads a capture with Ethernet framing written by another program: the
// softflowd test traffic (no UDP to port 4739 in it, but UDP flows to port 53).
func TestEthernetCapture(t *testing.T) {
	f, err := os.Open("../../pkg/ipfix/testdata/softflowd/traffic.pcap")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	out, skipped, err := ReadUDP(f)
	if err != nil {
		t.Fatal(err)
	}
	// traffic.pcap: 5 UDP packets 10.0.0.2 -> 10.0.0.3:53 and 600 in the 200 flows E;
	// the TCP, ICMP and IPv6 TCP packets are skipped.
	if len(out) != 605 || skipped != 25 {
		t.Fatalf("%d UDP datagrams, %d skipped; want 605 and 25", len(out), skipped)
	}
	if out[0].Dst.Port() != 53 {
		t.Errorf("first datagram to %s", out[0].Dst)
	}
}

func FuzzReadUDP(f *testing.F) {
	var buf bytes.Buffer
	w, _ := NewWriter(&buf)
	_ = w.Write(Datagram{Src: netip.MustParseAddrPort("127.0.0.11:1"), Dst: netip.MustParseAddrPort("127.0.0.1:2"), Payload: []byte("x")})
	good := buf.Bytes()
	f.Add(good)
	f.Add(good[:30])
	f.Add(append(append([]byte(nil), good[:24]...), 0xff, 0xff, 0xff, 0xff, 0, 0, 0, 0, 0xff, 0xff, 0xff, 0x7f))
	f.Add([]byte("not a capture at all, not at all"))
	f.Fuzz(func(t *testing.T, data []byte) {
		out, _, _ := ReadUDP(bytes.NewReader(data))
		for _, d := range out {
			if len(d.Payload) > len(data) {
				t.Fatalf("payload of %d bytes from %d", len(d.Payload), len(data))
			}
		}
	})
}
