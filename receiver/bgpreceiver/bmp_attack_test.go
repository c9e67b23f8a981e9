package bgpreceiver

import (
	"bytes"
	"context"
	"encoding/binary"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/netip"
	"runtime"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/osrg/gobgp/v3/pkg/packet/bgp"
	"github.com/osrg/gobgp/v3/pkg/packet/bmp"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/component/componenttest"
	"go.opentelemetry.io/collector/pdata/pmetric"
	"go.opentelemetry.io/otel/sdk/metric/metricdata"

	"github.com/erviz/otelcol-erviz/internal/schema"
	"github.com/erviz/otelcol-erviz/internal/testutil"
	bmpsrc "github.com/erviz/otelcol-erviz/receiver/bgpreceiver/internal/bmp"
	"github.com/erviz/otelcol-erviz/receiver/bgpreceiver/internal/metadatatest"
)

// limitedCounts sums otelcol_receiver_bgp_limited by reason.
func limitedCounts(t *testing.T, tt *componenttest.Telemetry) map[string]int64 {
	t.Helper()
	out := map[string]int64{}
	m, err := tt.GetMetric("otelcol_receiver_bgp_limited")
	if err != nil {
		return out
	}
	for _, dp := range m.Data.(metricdata.Sum[int64]).DataPoints {
		r, _ := dp.Attributes.Value(schema.BGPLimitReason)
		out[r.AsString()] += dp.Value
	}
	return out
}

// dialFrom opens a TCP connection to addr from the loopback address src (127.0.0.0/8 stands
// in for the addresses of an attacker's hosts).
func dialFrom(src, addr string) (net.Conn, error) {
	d := net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP(src)}, Timeout: 10 * time.Second}
	return d.Dial("tcp", addr)
}

// pendingHeader is a BMP common header announcing a route monitoring message of n bytes, and
// the first bytes of its body: a message the sender never finishes.
func pendingHeader(n int, body int) []byte {
	b := make([]byte, 6+body)
	b[0] = 3
	binary.BigEndian.PutUint32(b[1:5], uint32(n))
	b[5] = 0
	return b
}

// heapWatch samples the heap in use until stopped and returns the peak.
func heapWatch() (stop func() uint64) {
	var peak atomic.Uint64
	done := make(chan struct{})
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		var ms runtime.MemStats
		for {
			runtime.ReadMemStats(&ms)
			if ms.HeapInuse > peak.Load() {
				peak.Store(ms.HeapInuse)
			}
			select {
			case <-done:
				return
			case <-time.After(50 * time.Millisecond):
			}
		}
	}()
	return func() uint64 { close(done); wg.Wait(); return peak.Load() }
}

// TestBMPConnectionFlood reproduces the attack of 1,500 BMP connections each with a pending
// 1 MiB message and thousands of idle ones: connections from outside bmp.allowed are refused
// at accept, before they take a slot; those from allowed addresses are capped per source and
// per listener and closed when idle; the heap stays bounded, another listener of the process
// (standing in for the health check) answers throughout, a legitimate router is served during
// the attack, and every refusal is counted in otelcol_receiver_bgp_limited.
func TestBMPConnectionFlood(t *testing.T) {
	tt := componenttest.NewTelemetry()
	t.Cleanup(func() { require.NoError(t, tt.Shutdown(context.Background())) })
	port := testutil.FreeTCPPort(t, "127.0.0.1")
	cfg := createDefaultConfig()
	cfg.BMP.Endpoint = fmt.Sprintf("127.0.0.1:%d", port)
	cfg.BMP.Allowed = []string{"127.0.0.0/28"} // the routers; the attackers are 127.0.1.0 and up
	cfg.BMP.IdleTimeout = 2 * time.Second
	logs, _ := startReceiverWith(t, cfg, metadatatest.NewSettings(tt))

	health := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { _, _ = io.WriteString(w, "ok") })}
	hl, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	go func() { _ = health.Serve(hl) }()
	t.Cleanup(func() { _ = health.Close() })
	healthy := func() bool {
		c := http.Client{Timeout: 5 * time.Second, Transport: &http.Transport{DisableKeepAlives: true}}
		resp, err := c.Get("http://" + hl.Addr().String())
		if err != nil {
			return false
		}
		_ = resp.Body.Close()
		return resp.StatusCode == 200
	}
	require.True(t, healthy())

	var m0 runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&m0)
	peak := heapWatch()

	var conns []net.Conn
	var mu sync.Mutex
	var wg sync.WaitGroup
	var outside atomic.Int64
	attack := func(src string, payload []byte) {
		defer wg.Done()
		c, err := dialFrom(src, cfg.BMP.Endpoint)
		if err != nil {
			return
		}
		if !bytes.HasPrefix([]byte(src), []byte("127.0.0.")) {
			outside.Add(1)
		}
		if payload != nil {
			_, _ = c.Write(payload)
		}
		mu.Lock()
		conns = append(conns, c)
		mu.Unlock()
	}
	pending := pendingHeader(1<<20, 64<<10)
	// 1,500 connections with 1 MiB pending: 1,440 from outside the allow-list, 60 from the
	// 14 allowed addresses besides the router's (at most 4 each are taken).
	for i := 0; i < 1500; i++ {
		src := fmt.Sprintf("127.0.%d.%d", 1+i/250, 1+i%250)
		if i < 60 {
			src = fmt.Sprintf("127.0.0.%d", 2+i%14)
		}
		wg.Add(1)
		go attack(src, pending)
	}
	// 3,000 idle connections from outside the allow-list.
	for i := 0; i < 3000; i++ {
		wg.Add(1)
		go attack(fmt.Sprintf("127.0.%d.%d", 10+i/250, 1+i%250), nil)
	}
	wg.Wait()
	t.Cleanup(func() {
		for _, c := range conns {
			_ = c.Close()
		}
	})
	assert.True(t, healthy(), "another listener of the process answers during the attack")

	// A legitimate router connects during the attack.
	router, err := dialFrom("127.0.0.1", cfg.BMP.Endpoint)
	require.NoError(t, err)
	defer router.Close()
	var stream bytes.Buffer
	stream.Write(bmpPeerUp(t, "192.0.2.60", 65060))
	stream.Write(bmpRoute(t, "192.0.2.60", 65060, "10.78.0.0/16"))
	_, err = router.Write(stream.Bytes())
	require.NoError(t, err)
	eventually(t, 20*time.Second, "the legitimate router's route", func() bool {
		return len(find(logs, schema.BGPEvent, schema.BGPEventAnnounce, schema.BGPPrefix, "10.78.0.0/16")) == 1
	})
	// Every connection from outside the allow-list is refused at accept.
	eventually(t, 20*time.Second, "refusals at accept", func() bool { return limitedCounts(t, tt)["not_allowed"] == outside.Load() })
	// The stalled connections of allowed addresses are closed once idle.
	eventually(t, 20*time.Second, "idle timeouts counted", func() bool { return limitedCounts(t, tt)["idle_timeout"] >= 14 })
	p := peak()
	assert.True(t, healthy())

	got := limitedCounts(t, tt)
	t.Logf("refusals %v; peak heap %d MiB (before %d MiB)", got, p>>20, m0.HeapInuse>>20)
	assert.Greater(t, outside.Load(), int64(4000), "most attack connections were opened")
	assert.GreaterOrEqual(t, got["source_full"], int64(4), "connections beyond 4 per allowed source")
	// 1,500 pending messages of 1 MiB held at once would be 1.5 GB; at most 64 slots exist.
	assert.Less(t, p, m0.HeapInuse+200<<20)
}

// bmpPeers writes, on one session, a peer up and one route for n peers of router.
func bmpPeers(t *testing.T, w io.Writer, first, n int) {
	var b bytes.Buffer
	for i := first; i < first+n; i++ {
		peer := fmt.Sprintf("10.%d.%d.%d", 200+i>>16, i>>8&255, i&255)
		b.Write(bmpPeerUp(t, peer, uint32(64512+i%1000)))
		b.Write(bmpRoute(t, peer, uint32(64512+i%1000), fmt.Sprintf("172.%d.%d.0/24", 16+i>>16, i>>8&255)))
		if b.Len() > 256<<10 {
			_, err := w.Write(b.Bytes())
			require.NoError(t, err)
			b.Reset()
		}
	}
	_, err := w.Write(b.Bytes())
	require.NoError(t, err)
}

// peerStateSeries counts the bgp.peer.state data points of source bmp that are 1 in md.
func peerStateSeries(md pmetric.Metrics) int {
	n := 0
	for i := 0; i < md.ResourceMetrics().Len(); i++ {
		sms := md.ResourceMetrics().At(i).ScopeMetrics()
		for j := 0; j < sms.Len(); j++ {
			ms := sms.At(j).Metrics()
			for k := 0; k < ms.Len(); k++ {
				if m := ms.At(k); m.Name() == "bgp.peer.state" {
					for l := 0; l < m.Gauge().DataPoints().Len(); l++ {
						dp := m.Gauge().DataPoints().At(l)
						if v, _ := dp.Attributes().Get(schema.BGPSource); v.Str() == "bmp" && dp.IntValue() == 1 {
							n++
						}
					}
				}
			}
		}
	}
	return n
}

// TestBMPManyPeers: 5,000 distinct BMP peers from five routers (1,000 each, the default
// bound per router) are all in the metrics, emitted within a 2 s interval; a 1,001st peer
// of one router is refused and counted.
func TestBMPManyPeers(t *testing.T) {
	tt := componenttest.NewTelemetry()
	t.Cleanup(func() { require.NoError(t, tt.Shutdown(context.Background())) })
	port := testutil.FreeTCPPort(t, "127.0.0.1")
	cfg := createDefaultConfig()
	cfg.BMP.Endpoint = fmt.Sprintf("127.0.0.1:%d", port)
	cfg.CollectionInterval = 2 * time.Second
	logs, metrics := startReceiverWith(t, cfg, metadatatest.NewSettings(tt))
	for r := 1; r <= 5; r++ {
		c, err := dialFrom(fmt.Sprintf("127.0.0.%d", r), cfg.BMP.Endpoint)
		require.NoError(t, err)
		defer c.Close()
		n := 1000
		if r == 1 {
			n = 1001
		}
		bmpPeers(t, c, (r-1)*1001, n)
	}
	eventually(t, 30*time.Second, "5,000 peer ups", func() bool {
		return len(find(logs, schema.BGPEvent, schema.BGPEventPeerUp)) == 5000
	})
	before := len(metrics.AllMetrics())
	eventually(t, 30*time.Second, "metrics of the 5,000 peers", func() bool {
		all := metrics.AllMetrics()
		for _, md := range all[min(before, len(all)):] {
			if peerStateSeries(md) == 5000 {
				return true
			}
		}
		return false
	})
	got := limitedCounts(t, tt)
	assert.Equal(t, int64(2), got[limitBMPPeersPerRouter], "the 1,001st peer's peer up and route: %v", got)
	v, ok := metricValue(metrics, "bgp.rib.paths", map[string]string{schema.BGPFamily: "ipv4_unicast", schema.BGPRouteClass: "other"})
	assert.True(t, ok)
	assert.Equal(t, int64(5000), v)
}

// TestBMPPrefixLimit: a BMP peer announcing more routes than bmp.max_prefixes keeps the first
// ones; the others are refused and counted, another peer is not affected, and a withdrawal
// makes room again.
func TestBMPPrefixLimit(t *testing.T) {
	tt := componenttest.NewTelemetry()
	t.Cleanup(func() { require.NoError(t, tt.Shutdown(context.Background())) })
	port := testutil.FreeTCPPort(t, "127.0.0.1")
	cfg := createDefaultConfig()
	cfg.BMP.Endpoint = fmt.Sprintf("127.0.0.1:%d", port)
	cfg.BMP.MaxPrefixes = 100
	cfg.CollectionInterval = time.Second
	logs, metrics := startReceiverWith(t, cfg, metadatatest.NewSettings(tt))
	c, err := net.Dial("tcp", cfg.BMP.Endpoint)
	require.NoError(t, err)
	defer c.Close()
	var b bytes.Buffer
	b.Write(bmpPeerUp(t, "192.0.2.60", 65060))
	b.Write(bmpPeerUp(t, "192.0.2.61", 65061))
	for i := 0; i < 150; i++ {
		b.Write(bmpRoute(t, "192.0.2.60", 65060, fmt.Sprintf("10.%d.%d.0/24", i>>8, i&255)))
	}
	b.Write(bmpRoute(t, "192.0.2.61", 65061, "10.200.0.0/16"))
	_, err = c.Write(b.Bytes())
	require.NoError(t, err)
	eventually(t, 20*time.Second, "the other peer's route", func() bool {
		return len(find(logs, schema.BGPEvent, schema.BGPEventAnnounce, schema.BGPPrefix, "10.200.0.0/16")) == 1
	})
	assert.Len(t, find(logs, schema.BGPEvent, schema.BGPEventAnnounce, schema.BGPPeerAddress, "192.0.2.60"), 100)
	assert.Equal(t, int64(50), limitedCounts(t, tt)[limitBMPPrefixes])
	eventually(t, 10*time.Second, "bgp.peer.prefixes at the bound", func() bool {
		v, ok := metricValue(metrics, "bgp.peer.prefixes", map[string]string{schema.BGPPeerAddress: "192.0.2.60", schema.BGPFamily: "ipv4_unicast", schema.BGPRouteClass: "other"})
		return ok && v == 100
	})
	// Withdrawing one makes room for one more.
	w, err := bmpWithdraw("192.0.2.60", 65060, "10.0.0.0/24")
	require.NoError(t, err)
	_, err = c.Write(append(w, bmpRoute(t, "192.0.2.60", 65060, "10.1.0.0/24")...))
	require.NoError(t, err)
	eventually(t, 10*time.Second, "the route taken after the withdrawal", func() bool {
		return len(find(logs, schema.BGPEvent, schema.BGPEventAnnounce, schema.BGPPrefix, "10.1.0.0/24")) == 1
	})
}

// bmpWithdraw is a route monitoring message withdrawing prefix.
func bmpWithdraw(peer string, asn uint32, prefix string) ([]byte, error) {
	p := netip.MustParsePrefix(prefix)
	u := bgp.NewBGPUpdateMessage([]*bgp.IPAddrPrefix{bgp.NewIPAddrPrefix(uint8(p.Bits()), p.Addr().String())}, nil, nil)
	m := bmp.NewBMPRouteMonitoring(*bmp.NewBMPPeerHeader(bmp.BMP_PEER_TYPE_GLOBAL, 0, 0, peer, asn, "192.0.2.50", 0), u)
	return m.Serialize()
}

// bmpLongPathRoute is a route monitoring message of prefix with an AS path of n ASNs unlike
// any other (seeded by i).
func bmpLongPathRoute(t *testing.T, peer string, asn uint32, prefix string, i, n int) []byte {
	t.Helper()
	var segs []bgp.AsPathParamInterface
	path := []uint32{asn}
	for j := 1; j < n; j++ {
		path = append(path, uint32(100000+i*n+j))
	}
	for len(path) > 0 {
		k := min(len(path), 255)
		segs = append(segs, bgp.NewAs4PathParam(bgp.BGP_ASPATH_ATTR_TYPE_SEQ, path[:k]))
		path = path[k:]
	}
	p := netip.MustParsePrefix(prefix)
	u := bgp.NewBGPUpdateMessage(nil, []bgp.PathAttributeInterface{
		bgp.NewPathAttributeOrigin(0), bgp.NewPathAttributeAsPath(segs), bgp.NewPathAttributeNextHop("192.0.2.50"),
	}, []*bgp.IPAddrPrefix{bgp.NewIPAddrPrefix(uint8(p.Bits()), p.Addr().String())})
	b, err := bmp.NewBMPRouteMonitoring(*bmp.NewBMPPeerHeader(bmp.BMP_PEER_TYPE_GLOBAL, 0, 0, peer, asn, "192.0.2.50", 0), u).Serialize()
	require.NoError(t, err)
	return b
}

// TestBMPLongPathsBounded: the attack of routes each with its own 900-ASN path (the issue's
// 1M prefixes with 1,000-ASN paths took 4 GB) is bounded by max_attribute_bytes, whatever the
// route bounds: beyond it the routes are refused and counted.
func TestBMPLongPathsBounded(t *testing.T) {
	tt := componenttest.NewTelemetry()
	t.Cleanup(func() { require.NoError(t, tt.Shutdown(context.Background())) })
	port := testutil.FreeTCPPort(t, "127.0.0.1")
	cfg := createDefaultConfig()
	cfg.BMP.Endpoint = fmt.Sprintf("127.0.0.1:%d", port)
	cfg.MaxAttributeBytes = 2 << 20
	cfg.CollectionInterval = time.Second
	logs, metrics := startReceiverWith(t, cfg, metadatatest.NewSettings(tt))
	c, err := net.Dial("tcp", cfg.BMP.Endpoint)
	require.NoError(t, err)
	defer c.Close()
	var b bytes.Buffer
	b.Write(bmpPeerUp(t, "192.0.2.60", 65060))
	for i := 0; i < 1000; i++ {
		b.Write(bmpLongPathRoute(t, "192.0.2.60", 65060, fmt.Sprintf("10.%d.%d.0/24", i>>8, i&255), i, 900))
	}
	b.Write(bmpRoute(t, "192.0.2.60", 65060, "10.250.0.0/16")) // a short path still fits
	_, err = c.Write(b.Bytes())
	require.NoError(t, err)
	eventually(t, 30*time.Second, "the route after the long ones", func() bool {
		return len(find(logs, schema.BGPEvent, schema.BGPEventAnnounce, schema.BGPPrefix, "10.250.0.0/16")) == 1
	})
	taken := len(find(logs, schema.BGPEvent, schema.BGPEventAnnounce)) - 1
	refused := limitedCounts(t, tt)[limitAttributeBytes]
	t.Logf("%d long-path routes taken, %d refused", taken, refused)
	// 900 ASNs take about 7.2 KB interned: about 290 fit in 2 MiB.
	assert.InDelta(t, 290, taken, 40)
	assert.Equal(t, int64(1000-taken), refused)
	eventually(t, 10*time.Second, "bgp.rib.paths", func() bool {
		v, ok := metricValue(metrics, "bgp.rib.paths", map[string]string{schema.BGPFamily: "ipv4_unicast", schema.BGPRouteClass: "other"})
		return ok && v == int64(taken+1)
	})
}

// TestReadBMPGrowsWithData: a message announced as 1 MiB of which 100 bytes arrive holds a
// buffer of what arrived (at most 64 KiB), not of what was announced; whole messages of any
// length up to the bound still read.
func TestReadBMPGrowsWithData(t *testing.T) {
	buf, err := bmpsrc.Read(bytes.NewReader(pendingHeader(1<<20, 100)), nil)
	require.ErrorIs(t, err, io.ErrUnexpectedEOF)
	assert.LessOrEqual(t, cap(buf), 64<<10)
	for _, n := range []int{6, 4096, 70 << 10, 1 << 20} {
		msg := pendingHeader(n, n-6)
		for i := 6; i < n; i++ {
			msg[i] = byte(i)
		}
		got, err := bmpsrc.Read(bytes.NewReader(msg), nil)
		require.NoError(t, err)
		require.Equal(t, msg, got, "message of %d bytes", n)
	}
}
