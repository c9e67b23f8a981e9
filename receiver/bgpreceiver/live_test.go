package bgpreceiver

import (
	"fmt"
	"runtime"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/consumer/consumertest"

	"github.com/erviz/otelcol-erviz/internal/schema"
	"github.com/erviz/otelcol-erviz/internal/testutil"
)

// birdPeer is the BGP protocol of a test BIRD towards the receiver (127.0.0.1, AS 65000):
// BIRD is passive and listens on its own address and port; it imports everything so that
// a route we advertised would show up in "show route protocol collector".
func birdPeer(addr string, port int, asn uint32, nextHop, extra, exportFilter string) string {
	return fmt.Sprintf(`protocol bgp collector {
  local %s port %d as %d;
  neighbor 127.0.0.1 as 65000;
  passive on;
  multihop;
  hold time 9;
  connect delay time 1;
  error wait time 1,2;
  %s
  ipv4 {
    import all;
    next hop address %s;
    export filter { %s accept; };
  };
}
`, addr, port, asn, extra, nextHop, exportFilter)
}

func baseConfig() *Config {
	cfg := createDefaultConfig()
	cfg.ASN = 65000
	cfg.RouterID = "192.0.2.100"
	cfg.MetricsInterval = time.Second
	return cfg
}

func peerConfig(addr string, port int, asn uint32, name string) PeerConfig {
	return PeerConfig{Address: addr, Port: uint16(port), ASN: asn, Name: name, LocalAddress: "127.0.0.1",
		ConnectRetry: time.Second, HoldTime: 9 * time.Second}
}

func upCount(logs *consumertest.LogsSink, addr string) int {
	return len(find(logs, schema.BGPEvent, schema.BGPEventPeerUp, schema.BGPPeerAddress, addr))
}

// TestLiveBIRD peers with two BIRD 2 routers: overlapping prefixes from different origins,
// an ExpressRoute-like path, a prefix with two paths whose backup is removed and restored,
// a peer that goes down with a NOTIFICATION, and proof that nothing is advertised.
func TestLiveBIRD(t *testing.T) {
	pa := testutil.FreeTCPPort(t, "127.0.0.2")
	pb := testutil.FreeTCPPort(t, "127.0.0.3")
	a := startBird(t, "127.0.0.2", `protocol static statics { ipv4;
  route 10.1.0.0/16 blackhole;
  route 10.1.128.0/17 blackhole;
  route 192.168.50.0/24 blackhole;
  route 10.9.0.0/24 blackhole;
}
`+birdPeer("127.0.0.2", pa, 65001, "192.0.2.2", "", `
      if net = 10.1.128.0/17 then bgp_path.prepend(65010);
      if net = 10.9.0.0/24 then bgp_path.prepend(65100);
      if net = 192.168.50.0/24 then {
        bgp_path.prepend(65020); bgp_path.prepend(12076);
        bgp_community.add((65001,100)); bgp_large_community.add((65001,1,2)); bgp_med = 50;
      }`))
	b := startBird(t, "127.0.0.3", `protocol static backup { ipv4; route 10.9.0.0/24 blackhole; }
`+birdPeer("127.0.0.3", pb, 65002, "192.0.2.3", "", `bgp_path.prepend(65100);`))

	cfg := baseConfig()
	cfg.Peers = []PeerConfig{peerConfig("127.0.0.2", pa, 65001, "edge-a"), peerConfig("127.0.0.3", pb, 65002, "edge-b")}
	logs, metrics := startReceiver(t, cfg)

	eventually(t, 30*time.Second, "both sessions up", func() bool {
		return upCount(logs, "127.0.0.2") == 1 && upCount(logs, "127.0.0.3") == 1
	})
	announce := func(prefix, peer string) []string {
		var out []string
		for _, lr := range find(logs, schema.BGPEvent, schema.BGPEventAnnounce, schema.BGPPrefix, prefix, schema.BGPPeerAddress, peer) {
			out = append(out, lr.Body().Str())
		}
		return out
	}
	eventually(t, 20*time.Second, "every route announced", func() bool {
		return len(announce("10.1.0.0/16", "127.0.0.2")) > 0 && len(announce("10.1.128.0/17", "127.0.0.2")) > 0 &&
			len(announce("192.168.50.0/24", "127.0.0.2")) > 0 && len(announce("10.9.0.0/24", "127.0.0.2")) > 0 &&
			len(announce("10.9.0.0/24", "127.0.0.3")) > 0
	})

	// The ExpressRoute-like route, attribute by attribute.
	er := find(logs, schema.BGPEvent, schema.BGPEventAnnounce, schema.BGPPrefix, "192.168.50.0/24")
	require.Len(t, er, 1)
	assert.Equal(t, "65001 12076 65020", str(er[0], schema.BGPASPath))
	assert.Equal(t, "expressroute", str(er[0], schema.BGPRouteClass))
	assert.Equal(t, "192.0.2.2", str(er[0], schema.BGPNextHop))
	assert.Equal(t, "edge-a", str(er[0], schema.BGPPeerName))
	assert.Equal(t, "bgp", str(er[0], schema.BGPSource))
	assert.Equal(t, "igp", str(er[0], schema.BGPOrigin))
	assert.Equal(t, `["65001:100"]`, str(er[0], schema.BGPCommunities))
	assert.Equal(t, `["65001:1:2"]`, str(er[0], schema.BGPLargeCommunities))
	origin, _ := intAttr(er[0], schema.BGPOriginASN)
	assert.EqualValues(t, 65020, origin)
	med, ok := intAttr(er[0], schema.BGPMED)
	assert.True(t, ok)
	assert.EqualValues(t, 50, med)
	asn, _ := intAttr(er[0], schema.BGPPeerASN)
	assert.EqualValues(t, 65001, asn)

	// Overlap: 10.1.0.0/16 (origin 65001) and 10.1.128.0/17 (origin 65010), one condition each.
	eventually(t, 10*time.Second, "overlap start events", func() bool {
		return len(find(logs, schema.BGPEvent, schema.BGPEventOverlap, schema.BGPEventPhase, "start", schema.BGPPrefix, "10.1.128.0/17")) == 1 &&
			len(find(logs, schema.BGPEvent, schema.BGPEventOverlap, schema.BGPEventPhase, "start", schema.BGPPrefix, "10.1.0.0/16")) == 1
	})
	ov := find(logs, schema.BGPEvent, schema.BGPEventOverlap, schema.BGPPrefix, "10.1.128.0/17")[0]
	assert.Equal(t, `["10.1.0.0/16"]`, str(ov, schema.BGPRelatedPrefixes))
	assert.Equal(t, "[65010]", str(ov, schema.BGPOrigins))
	assert.Equal(t, "WARN", ov.SeverityText())

	// Metrics reflect the table.
	eventually(t, 10*time.Second, "metrics of the table", func() bool {
		er, _ := metricValue(metrics, "bgp.peer.prefixes", map[string]string{"bgp.peer.address": "127.0.0.2", "bgp.route.class": "expressroute", "bgp.family": "ipv4_unicast"})
		rp, _ := metricValue(metrics, "bgp.rib.prefixes", map[string]string{"bgp.family": "ipv4_unicast"})
		ov, _ := metricValue(metrics, "bgp.overlaps.active", nil)
		st, _ := metricValue(metrics, "bgp.peer.state", map[string]string{"bgp.peer.address": "127.0.0.3", "bgp.peer.name": "edge-b"})
		paths, _ := metricValue(metrics, "bgp.rib.paths", map[string]string{"bgp.family": "ipv4_unicast", "bgp.route.class": "other"})
		ka, _ := metricValue(metrics, "bgp.peer.messages", map[string]string{"bgp.peer.address": "127.0.0.2", "bgp.message.type": "update", "bgp.message.direction": "received"})
		return er == 1 && rp == 4 && ov == 2 && st == 1 && paths == 4 && ka > 0
	})

	// The backup path disappears: lost redundancy starts, then resolves when it is back.
	b.ctl("disable", "backup")
	eventually(t, 10*time.Second, "withdrawal and lost-redundancy start", func() bool {
		return len(find(logs, schema.BGPEvent, schema.BGPEventWithdraw, schema.BGPPrefix, "10.9.0.0/24", schema.BGPPeerAddress, "127.0.0.3")) == 1 &&
			len(find(logs, schema.BGPEvent, schema.BGPEventLostRedundancy, schema.BGPEventPhase, "start", schema.BGPPrefix, "10.9.0.0/24")) == 1
	})
	lost := find(logs, schema.BGPEvent, schema.BGPEventLostRedundancy, schema.BGPEventPhase, "start")[0]
	paths, _ := intAttr(lost, schema.BGPPaths)
	prev, _ := intAttr(lost, schema.BGPPathsPrevious)
	assert.EqualValues(t, 1, paths)
	assert.EqualValues(t, 2, prev)
	assert.Contains(t, str(lost, schema.BGPPeers), "127.0.0.2")
	eventually(t, 10*time.Second, "bgp.redundancy.lost.active = 1", func() bool {
		v, _ := metricValue(metrics, "bgp.redundancy.lost.active", nil)
		return v == 1
	})
	b.ctl("enable", "backup")
	eventually(t, 10*time.Second, "lost-redundancy resolution", func() bool {
		return len(find(logs, schema.BGPEvent, schema.BGPEventLostRedundancy, schema.BGPEventPhase, "resolved", schema.BGPPrefix, "10.9.0.0/24")) == 1
	})
	res := find(logs, schema.BGPEvent, schema.BGPEventLostRedundancy, schema.BGPEventPhase, "resolved")[0]
	_, hasDuration := res.Attributes().Get(schema.BGPEventDuration)
	assert.True(t, hasDuration)
	assert.Equal(t, str(lost, schema.BGPEventStart) == "", false)
	assert.Equal(t, str(res, schema.BGPEventStart), lost.Timestamp().AsTime().UTC().Format(time.RFC3339Nano), "the resolution points at its start")

	// Nothing was advertised to either router, although B would accept A's routes.
	for _, r := range []*bird{a, b} {
		out := r.ctl("show", "protocols", "all", "collector")
		assert.Regexp(t, `Routes:\s+0 imported`, out)
		assert.NotContains(t, r.ctl("show", "route", "protocol", "collector"), "/")
	}

	// B shuts the session down: a peer-down event with the NOTIFICATION, then B's routes are
	// withdrawn with it.
	b.ctl("disable", "collector")
	eventually(t, 10*time.Second, "peer down", func() bool {
		return len(find(logs, schema.BGPEvent, schema.BGPEventPeerDown, schema.BGPPeerAddress, "127.0.0.3")) == 1
	})
	down := find(logs, schema.BGPEvent, schema.BGPEventPeerDown, schema.BGPPeerAddress, "127.0.0.3")[0]
	assert.Contains(t, str(down, schema.BGPDownReason), "notification-received")
	code, _ := intAttr(down, schema.BGPNotificationCode)
	assert.EqualValues(t, 6, code, "cease")
	eventually(t, 10*time.Second, "implicit withdrawal of B's route", func() bool {
		return len(find(logs, schema.BGPEvent, schema.BGPEventWithdraw, schema.BGPPeerAddress, "127.0.0.3", schema.BGPEventReason, "peer_down")) == 1
	})
	eventually(t, 10*time.Second, "B's session down in the metrics", func() bool {
		st, ok1 := metricValue(metrics, "bgp.peer.state", map[string]string{"bgp.peer.address": "127.0.0.3"})
		fl, ok2 := metricValue(metrics, "bgp.peer.flaps", map[string]string{"bgp.peer.address": "127.0.0.3"})
		return ok1 && ok2 && st == 0 && fl == 1
	})
}

// TestTCPMD5 peers with BIRD using TCP-MD5: a wrong password gives no session, the right one
// an established session with the routes.
func TestTCPMD5(t *testing.T) {
	port := testutil.FreeTCPPort(t, "127.0.0.4")
	b := startBird(t, "127.0.0.4", `protocol static statics { ipv4; route 10.44.0.0/16 blackhole; }
`+birdPeer("127.0.0.4", port, 65004, "192.0.2.4", `password "right-secret";`, ""))

	t.Run("wrong", func(t *testing.T) {
		cfg := baseConfig()
		p := peerConfig("127.0.0.4", port, 65004, "md5")
		p.Password = "wrong-secret"
		cfg.Peers = []PeerConfig{p}
		logs, metrics := startReceiver(t, cfg)
		// The speaker retries every second; give it several attempts.
		eventually(t, 10*time.Second, "several metric intervals", func() bool { return len(metrics.AllMetrics()) >= 4 })
		assert.Zero(t, upCount(logs, "127.0.0.4"))
		assert.False(t, b.established("collector"))
		st, ok := metricValue(metrics, "bgp.peer.state", map[string]string{"bgp.peer.address": "127.0.0.4"})
		assert.True(t, ok)
		assert.Zero(t, st)
	})
	t.Run("right", func(t *testing.T) {
		cfg := baseConfig()
		p := peerConfig("127.0.0.4", port, 65004, "md5")
		p.Password = "right-secret"
		cfg.Peers = []PeerConfig{p}
		logs, _ := startReceiver(t, cfg)
		eventually(t, 30*time.Second, "session and route", func() bool {
			return upCount(logs, "127.0.0.4") == 1 &&
				len(find(logs, schema.BGPEvent, schema.BGPEventAnnounce, schema.BGPPrefix, "10.44.0.0/16")) == 1
		})
		assert.True(t, b.established("collector"))
	})
}

// TestFlappingPeers restarts BIRD's sessions many times: every flap is reported with the
// implicit withdrawal of the routes, the adjacency-flap condition opens, and goroutines and
// heap do not grow over 100 flaps. GoBGP waits 5 s in Idle after every session down, so ten
// peers flap in parallel (ten rounds) to keep the test short.
func TestFlappingPeers(t *testing.T) {
	rounds := 10 // ten peers: 100 flaps
	if testing.Short() {
		rounds = 3
	}
	var addrs []string
	for i := 1; i <= 10; i++ {
		addrs = append(addrs, fmt.Sprintf("127.0.2.%d", i))
	}
	var conf strings.Builder
	conf.WriteString("protocol static statics { ipv4;\n")
	for i := 0; i < 50; i++ {
		fmt.Fprintf(&conf, "route 10.55.%d.0/24 blackhole;\n", i)
	}
	conf.WriteString("}\n")
	cfg := baseConfig()
	for i, a := range addrs {
		port := testutil.FreeTCPPort(t, a)
		asn := uint32(65005 + i)
		// BIRD tells sessions apart by our address: each has its own.
		ours := fmt.Sprintf("127.0.1.%d", 1+i)
		p := strings.Replace(birdPeer(a, port, asn, "192.0.2.5", "", ""), "protocol bgp collector", fmt.Sprintf("protocol bgp collector%d", i), 1)
		p = strings.Replace(p, "hold time 9;", "hold time 60;", 1) // only the restarts take sessions down, even on a loaded machine
		conf.WriteString(strings.Replace(p, "neighbor 127.0.0.1", "neighbor "+ours, 1))
		pc := peerConfig(a, port, asn, fmt.Sprintf("flappy%d", i))
		pc.LocalAddress = ours
		pc.HoldTime = 60 * time.Second
		cfg.Peers = append(cfg.Peers, pc)
	}
	b := startBird(t, addrs[0], conf.String())
	logs, metrics := startReceiver(t, cfg)
	withdrawals := func() int { return len(find(logs, schema.BGPEvent, schema.BGPEventWithdraw)) }
	ups := func() int { return len(find(logs, schema.BGPEvent, schema.BGPEventPeerUp)) }
	allEstablished := func() bool {
		out := b.ctl("show", "protocols")
		return strings.Count(out, "Established") == len(addrs)
	}
	eventually(t, 30*time.Second, "first sessions", func() bool { return ups() == len(addrs) && allEstablished() })

	measure := func() (int, uint64) {
		runtime.GC()
		runtime.GC()
		var ms runtime.MemStats
		runtime.ReadMemStats(&ms)
		return runtime.NumGoroutine(), ms.HeapInuse
	}
	var g0 int
	var h0 uint64
	for i := 1; i <= rounds; i++ {
		u0, w0 := ups(), withdrawals()
		b.ctl("restart", `"collector*"`)
		eventually(t, 30*time.Second, "flap round "+strconv.Itoa(i), func() bool {
			return ups() == u0+len(addrs) && withdrawals() == w0+50*len(addrs) && allEstablished()
		})
		if i == 4 { // the fourth down within the window opens the condition, once per peer
			starts := find(logs, schema.BGPEvent, schema.BGPEventAdjacencyFlap, schema.BGPEventPhase, "start")
			assert.Len(t, starts, len(addrs))
			for _, s := range starts {
				n, _ := intAttr(s, schema.BGPSessionDowns)
				assert.EqualValues(t, 4, n)
			}
		}
		// The sinks keep everything; empty them so that they stay out of the heap comparison.
		logs.Reset()
		metrics.Reset()
		if i == 2 {
			g0, h0 = measure()
			t.Logf("after %d flaps: %d goroutines, heap in use %d KiB", i*len(addrs), g0, h0>>10)
		}
	}
	g1, h1 := measure()
	t.Logf("after %d flaps: %d goroutines, heap in use %d KiB", rounds*len(addrs), g1, h1>>10)
	assert.LessOrEqual(t, g1, g0+2, "goroutines grow with flaps")
	assert.Less(t, h1, h0+4<<20, "heap grows with flaps")

	eventually(t, 10*time.Second, "flap counts in the metrics", func() bool {
		for _, a := range addrs {
			if v, _ := metricValue(metrics, "bgp.peer.flaps", map[string]string{"bgp.peer.address": a}); v != int64(rounds) {
				return false
			}
		}
		return true
	})
	// More than 3 downs within 10 minutes is an adjacency flap.
	open := 0
	if rounds > 3 {
		open = len(addrs)
	}
	eventually(t, 10*time.Second, "adjacency flaps open", func() bool {
		v, ok := metricValue(metrics, "bgp.adjacency_flaps.active", nil)
		return ok && v == int64(open)
	})
}
