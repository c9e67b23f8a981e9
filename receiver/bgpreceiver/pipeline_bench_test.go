package bgpreceiver

import (
	"net/netip"
	"testing"
	"time"

	"go.opentelemetry.io/collector/consumer/consumertest"
	"go.opentelemetry.io/collector/receiver/receivertest"

	"github.com/erviz/otelcol-erviz/pkg/rib"
	"github.com/erviz/otelcol-erviz/receiver/bgpreceiver/internal/bgpconv"
	"github.com/erviz/otelcol-erviz/receiver/bgpreceiver/internal/event"
	"github.com/erviz/otelcol-erviz/receiver/bgpreceiver/internal/metadata"
)

// BenchmarkHandleUpdate: one UPDATE of a speaker's session (one announcement of a new
// prefix, 3-AS path) through the RIB goroutine's step: the RIB, the announce record, the
// batch (sent to a sink every maxBatch records).
func BenchmarkHandleUpdate(b *testing.B) {
	r, err := newReceiver(receivertest.NewNopSettings(metadata.Type), createDefaultConfig())
	if err != nil {
		b.Fatal(err)
	}
	sink := new(consumertest.LogsSink)
	r.nextLogs = sink
	r.newBatch()
	peer := rib.Peer{Kind: rib.SourceBGP, Addr: netip.MustParseAddr("192.0.2.9"), ASN: 65009}
	nh := netip.MustParseAddr("192.0.2.9")
	path := rib.Seq(65009, 65100, 65200)
	t0 := time.Now()
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		pfx := netip.PrefixFrom(netip.AddrFrom4([4]byte{10, byte(i >> 16), byte(i >> 8), 0}), 24)
		r.handle(&event.Update{Header: event.Header{Time: t0, Peer: peer}, Policy: event.PostPolicy,
			Update: bgpconv.Update{Announced: []rib.Path{{Prefix: pfx, NextHop: nh, ASPath: path}}}})
		if i%maxBatch == 0 {
			sink.Reset()
		}
	}
}
