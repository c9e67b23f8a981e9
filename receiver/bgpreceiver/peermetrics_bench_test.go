package bgpreceiver

import (
	"fmt"
	"net/netip"
	"testing"
	"time"

	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/receiver/receivertest"

	"github.com/erviz/otelcol-erviz/pkg/rib"
	"github.com/erviz/otelcol-erviz/receiver/bgpreceiver/internal/metadata"
)

// ribWithPeers is a receiver whose RIB has n BMP peers with one route each.
func ribWithPeers(b *testing.B, n int) *bgpReceiver {
	r, err := newReceiver(receivertest.NewNopSettings(metadata.Type), createDefaultConfig())
	if err != nil {
		b.Fatal(err)
	}
	r.mb = metadata.NewMetricsBuilder(r.cfg.MetricsBuilderConfig, r.set)
	now := time.Now()
	for i := 0; i < n; i++ {
		p := rib.Peer{Kind: rib.SourceBMP, Router: netip.MustParseAddr("192.0.2.1"), Addr: netip.AddrFrom4([4]byte{10, 200, byte(i >> 8), byte(i)}), ASN: 65000}
		r.rib.PeerUp(now, p)
		if err := r.rib.Announce(now, p, rib.Path{Prefix: netip.MustParsePrefix(fmt.Sprintf("172.%d.%d.0/24", 16+i>>8, i&255)), NextHop: p.Addr}); err != nil {
			b.Fatal(err)
		}
	}
	return r
}

// BenchmarkPeerMetrics builds the per-peer data points of n BMP peers (14 each).
func BenchmarkPeerMetrics(b *testing.B) {
	for _, n := range []int{500, 1000, 5000} {
		b.Run(fmt.Sprintf("peers=%d", n), func(b *testing.B) {
			r := ribWithPeers(b, n)
			ts := pcommon.NewTimestampFromTime(time.Now())
			b.ResetTimer()
			for range b.N {
				ps := r.newPeerSeries(ts, ts)
				r.recordPeers(ps)
			}
		})
	}
}

// BenchmarkPeerMetricsGenerated records the same data points through the generated
// MetricsBuilder, as the receiver did before: each Record call compares the new data point
// with every one recorded, O(n²).
func BenchmarkPeerMetricsGenerated(b *testing.B) {
	for _, n := range []int{500, 1000} {
		b.Run(fmt.Sprintf("peers=%d", n), func(b *testing.B) {
			r := ribWithPeers(b, n)
			ts := pcommon.NewTimestampFromTime(time.Now())
			b.ResetTimer()
			for range b.N {
				for _, st := range r.rib.Peers() {
					src, router, addr, asn, name := peerAttrs(st.Peer)
					r.mb.RecordBgpPeerStateDataPoint(ts, 1, src, router, addr, asn, name)
					r.mb.RecordBgpPeerFlapsDataPoint(ts, int64(st.Downs), src, router, addr, asn, name)
					for f := range rib.NumFamilies {
						for _, c := range routeClasses {
							r.mb.RecordBgpPeerPrefixesDataPoint(ts, int64(st.Counts[f][c]), src, router, addr, asn, name, familyName(rib.Family(f)), c.String())
						}
					}
				}
				r.mb.Emit()
			}
		})
	}
}
