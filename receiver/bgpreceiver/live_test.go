package bgpreceiver

import (
	"bytes"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/component"
	"go.opentelemetry.io/collector/consumer/consumertest"
	"go.opentelemetry.io/collector/pdata/plog"
	"go.opentelemetry.io/collector/receiver/receivertest"

	"github.com/erviz/otelcol-erviz/internal/schema"
	"github.com/erviz/otelcol-erviz/internal/testutil"
	"github.com/erviz/otelcol-erviz/receiver/bgpreceiver/internal/metadata"
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
	cfg.CollectionInterval = time.Second
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
	// The overlapping prefixes are both class other (no rule names 65001 or 65010), out of
	// the default overlap scope: every class here.
	cfg.Analyses.Overlap.Classes = nil
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
	announces := func() int { return len(find(logs, schema.BGPEvent, schema.BGPEventAnnounce)) }
	// Every round waits for the routes too: a session restarted before its routes reached the
	// RIB would withdraw none of them.
	eventually(t, 30*time.Second, "first sessions", func() bool {
		return ups() == len(addrs) && announces() == 50*len(addrs) && allEstablished()
	})

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
		u0, w0, a0 := ups(), withdrawals(), announces()
		b.ctl("restart", `"collector*"`)
		deadline := time.Now().Add(60 * time.Second)
		for !(ups() == u0+len(addrs) && withdrawals() == w0+50*len(addrs) && announces() == a0+50*len(addrs) && allEstablished()) {
			if time.Now().After(deadline) {
				t.Fatalf("flap round %d: %d of %d sessions up again, %d of %d withdrawals, %d of %d announcements; BIRD:\n%s",
					i, ups()-u0, len(addrs), withdrawals()-w0, 50*len(addrs), announces()-a0, 50*len(addrs), b.ctl("show", "protocols"))
			}
			time.Sleep(50 * time.Millisecond)
		}
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

// TestLiveFRR peers with FRR's bgpd (IPv4 and IPv6 unicast over one IPv4 session): the routes
// of both families with their attributes, and the session going down with FRR's NOTIFICATION
// when bgpd stops.
func TestLiveFRR(t *testing.T) {
	testutil.NeedBinary(t, "bgpd")
	port := testutil.FreeTCPPort(t, "127.0.0.13")
	stop := startFRRStoppable(t, "127.0.0.13", port, `router bgp 65003
 bgp router-id 127.0.0.13
 no bgp ebgp-requires-policy
 no bgp network import-check
 neighbor 127.0.0.1 remote-as 65000
 neighbor 127.0.0.1 ebgp-multihop 2
 neighbor 127.0.0.1 passive
 neighbor 127.0.0.1 timers 3 9
 address-family ipv4 unicast
  network 10.70.0.0/16 route-map er
  network 10.71.0.0/16
 exit-address-family
 address-family ipv6 unicast
  neighbor 127.0.0.1 activate
  network 2001:db8:70::/48
 exit-address-family
!
route-map er permit 10
 set as-path prepend 12076
 set community 65003:70
 set metric 70
!
`)
	cfg := baseConfig()
	pc := peerConfig("127.0.0.13", port, 65003, "frr-edge")
	pc.Families = []string{"ipv4_unicast", "ipv6_unicast"}
	pc.HoldTime = 30 * time.Second // FRR proposes 9 s: the smaller one is negotiated
	cfg.Peers = []PeerConfig{pc}
	set := receivertest.NewNopSettings(metadata.Type)
	set.ID = component.MustNewIDWithName("bgp", "frr")
	logs, metrics := startReceiverWith(t, cfg, set)

	eventually(t, 60*time.Second, "the session and the routes of both families", func() bool {
		return upCount(logs, "127.0.0.13") == 1 &&
			len(find(logs, schema.BGPEvent, schema.BGPEventAnnounce, schema.BGPPrefix, "10.70.0.0/16")) == 1 &&
			len(find(logs, schema.BGPEvent, schema.BGPEventAnnounce, schema.BGPPrefix, "10.71.0.0/16")) == 1 &&
			len(find(logs, schema.BGPEvent, schema.BGPEventAnnounce, schema.BGPPrefix, "2001:db8:70::/48")) == 1
	})
	// The receiver instance names the resource of its logs and metrics.
	res, ok := logs.AllLogs()[0].ResourceLogs().At(0).Resource().Attributes().Get(schema.BGPReceiver)
	assert.True(t, ok)
	assert.Equal(t, "bgp/frr", res.AsString())
	// The peer up says what the OPENs negotiated.
	up := find(logs, schema.BGPEvent, schema.BGPEventPeerUp, schema.BGPPeerAddress, "127.0.0.13")[0]
	assert.Equal(t, "127.0.0.13", str(up, schema.BGPPeerRouterID))
	hold, _ := intAttr(up, schema.BGPHoldTime)
	assert.EqualValues(t, 9, hold)
	assert.Equal(t, `["ipv4_unicast","ipv6_unicast"]`, str(up, schema.BGPFamilies))
	assert.Contains(t, str(up, schema.BGPPeerCapabilities), `"4-octet-as"`)
	assert.Contains(t, str(up, schema.BGPPeerCapabilities), `"route-refresh"`)
	er := find(logs, schema.BGPEvent, schema.BGPEventAnnounce, schema.BGPPrefix, "10.70.0.0/16")[0]
	assert.Equal(t, "65003 12076", str(er, schema.BGPASPath))
	assert.Equal(t, "expressroute", str(er, schema.BGPRouteClass))
	assert.Equal(t, `["65003:70"]`, str(er, schema.BGPCommunities))
	med, _ := intAttr(er, schema.BGPMED)
	assert.EqualValues(t, 70, med)
	assert.Equal(t, "127.0.0.13", str(er, schema.BGPNextHop))
	assert.Equal(t, "frr-edge", str(er, schema.BGPPeerName))
	v6 := find(logs, schema.BGPEvent, schema.BGPEventAnnounce, schema.BGPPrefix, "2001:db8:70::/48")[0]
	assert.Equal(t, "ipv6_unicast", str(v6, schema.BGPFamily))
	assert.Equal(t, "65003", str(v6, schema.BGPASPath))
	eventually(t, 10*time.Second, "prefixes of both families in the metrics", func() bool {
		v4, _ := metricValue(metrics, "bgp.rib.prefixes", map[string]string{"bgp.family": "ipv4_unicast"})
		v6, _ := metricValue(metrics, "bgp.rib.prefixes", map[string]string{"bgp.family": "ipv6_unicast"})
		return v4 == 2 && v6 == 1
	})
	mres, ok := metrics.AllMetrics()[0].ResourceMetrics().At(0).Resource().Attributes().Get(schema.BGPReceiver)
	assert.True(t, ok)
	assert.Equal(t, "bgp/frr", mres.AsString())

	stop()
	eventually(t, 20*time.Second, "peer down when bgpd stops", func() bool {
		return len(find(logs, schema.BGPEvent, schema.BGPEventPeerDown, schema.BGPPeerAddress, "127.0.0.13")) == 1
	})
	down := find(logs, schema.BGPEvent, schema.BGPEventPeerDown, schema.BGPPeerAddress, "127.0.0.13")[0]
	assert.Contains(t, str(down, schema.BGPDownReason), "notification-received code 6(cease)")
	eventually(t, 10*time.Second, "the three routes withdrawn with the session", func() bool {
		return len(find(logs, schema.BGPEvent, schema.BGPEventWithdraw, schema.BGPPeerAddress, "127.0.0.13", schema.BGPEventReason, "peer_down")) == 3
	})
}

// TestExaBGPFlaps: exabgp connects to the receiver's listening port (a passive peer) and a
// script flaps a prefix through exabgp's API (withdraw and re-announce, then a change of
// attributes): the flap condition opens with its score once the penalties pass the
// threshold, and resolves when the score has decayed below the reuse level.
func TestExaBGPFlaps(t *testing.T) {
	exa := testutil.NeedBinary(t, "exabgp")
	python := testutil.NeedBinary(t, "python3")
	listen := testutil.FreeTCPPort(t, "127.0.0.1")
	dir := t.TempDir()
	script := filepath.Join(dir, "flap.py")
	require.NoError(t, os.WriteFile(script, []byte(`import sys, time
def say(line):
    sys.stdout.write(line + "\n"); sys.stdout.flush()
time.sleep(2)
say("announce route 10.80.0.0/24 next-hop 192.0.2.14")
say("announce route 10.81.0.0/24 next-hop 192.0.2.14")
time.sleep(1)
for i in range(3):
    say("withdraw route 10.80.0.0/24 next-hop 192.0.2.14")
    time.sleep(0.3)
    say("announce route 10.80.0.0/24 next-hop 192.0.2.14")
    time.sleep(0.3)
say("announce route 10.80.0.0/24 next-hop 192.0.2.14 med 10")
while True:
    time.sleep(1)
`), 0o644))
	conf := filepath.Join(dir, "exabgp.conf")
	require.NoError(t, os.WriteFile(conf, []byte(fmt.Sprintf(`process flapper {
  run %s %s;
  encoder text;
}
neighbor 127.0.0.1 {
  router-id 127.0.0.14;
  local-address 127.0.0.14;
  local-as 65014;
  peer-as 65000;
  connect %d;
  hold-time 30;
  api { processes [ flapper ]; }
}
`, python, script, listen)), 0o644))

	cfg := baseConfig()
	cfg.ListenAddress = "127.0.0.1"
	cfg.ListenPort = int32(listen)
	pc := peerConfig("127.0.0.14", 0, 65014, "exabgp")
	pc.Port, pc.LocalAddress, pc.Passive = 0, "", true
	cfg.Peers = []PeerConfig{pc}
	// Seconds instead of the 15-minute half-life, so that the resolution comes in the test.
	cfg.Analyses.Flap.HalfLife = 3 * time.Second
	logs, _ := startReceiver(t, cfg)

	cmd := exec.Command(exa, conf)
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), "exabgp.daemon.user=root", "exabgp.daemon.daemonize=false",
		"exabgp.api.cli=false", "exabgp.log.destination=stderr", "exabgp.tcp.bind=", "exabgp.tcp.port=0")
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	// exabgp and its API process in a group of their own, killed together; WaitDelay stops
	// Wait from waiting on the output pipe a leftover child would hold.
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	cmd.WaitDelay = 2 * time.Second
	require.NoError(t, cmd.Start())
	t.Cleanup(func() {
		_ = syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
		_ = cmd.Wait()
		if t.Failed() {
			t.Logf("exabgp output:\n%s", out.String())
		}
	})

	eventually(t, 30*time.Second, "the flap condition of 10.80.0.0/24", func() bool {
		return len(find(logs, schema.BGPEvent, schema.BGPEventFlap, schema.BGPEventPhase, "start", schema.BGPPrefix, "10.80.0.0/24")) == 1
	})
	start := find(logs, schema.BGPEvent, schema.BGPEventFlap, schema.BGPEventPhase, "start", schema.BGPPrefix, "10.80.0.0/24")[0]
	score, _ := start.Attributes().Get(schema.BGPFlapScore)
	assert.GreaterOrEqual(t, score.Double(), 2000.0, "the score crossed the suppress threshold")
	assert.Empty(t, find(logs, schema.BGPEvent, schema.BGPEventFlap, schema.BGPPrefix, "10.81.0.0/24"), "the stable prefix does not flap")
	eventually(t, 30*time.Second, "the flap condition resolved once the score decayed", func() bool {
		return len(find(logs, schema.BGPEvent, schema.BGPEventFlap, schema.BGPEventPhase, "resolved", schema.BGPPrefix, "10.80.0.0/24")) == 1
	})
	// Every withdrawal and announcement of the script was an event: 3 withdrawals, 1 + 3 + 1
	// announcements of the flapping prefix.
	assert.Len(t, find(logs, schema.BGPEvent, schema.BGPEventWithdraw, schema.BGPPrefix, "10.80.0.0/24"), 3)
	assert.Len(t, find(logs, schema.BGPEvent, schema.BGPEventAnnounce, schema.BGPPrefix, "10.80.0.0/24"), 5)
	med := find(logs, schema.BGPEvent, schema.BGPEventAnnounce, schema.BGPPrefix, "10.80.0.0/24")
	v, _ := intAttr(med[len(med)-1], schema.BGPMED)
	assert.EqualValues(t, 10, v)
	assert.Equal(t, "exabgp", str(med[0], schema.BGPPeerName), "the passive peer's configured name")
}

// TestAddPathBIRD: BIRD holds two paths for one prefix (two static protocols) and sends both
// (add paths tx); the receiver asks for them (add_path). Both reach the RIB as routes of
// their own with their path IDs, and when BIRD loses one, its withdrawal names that path:
// the backup path of a single session becomes visible, and so does its loss.
func TestAddPathBIRD(t *testing.T) {
	port := testutil.FreeTCPPort(t, "127.0.0.15")
	b := startBird(t, "127.0.0.15", fmt.Sprintf(`protocol static main1 { ipv4; route 10.77.0.0/16 blackhole; }
protocol static backup1 { ipv4; route 10.77.0.0/16 blackhole { preference = 50; }; }
protocol bgp collector {
  local 127.0.0.15 port %d as 65015;
  neighbor 127.0.0.1 as 65000;
  passive on;
  multihop;
  hold time 9;
  connect delay time 1;
  ipv4 {
    import none;
    add paths tx;
    next hop address 192.0.2.51;
    export filter { if proto = "backup1" then { bgp_path.prepend(65099); bgp_next_hop = 192.0.2.52; } accept; };
  };
}
`, port))
	cfg := baseConfig()
	pc := peerConfig("127.0.0.15", port, 65015, "rr")
	pc.AddPath = true
	cfg.Peers = []PeerConfig{pc}
	logs, _ := startReceiver(t, cfg)
	ann := func() []plog.LogRecord {
		return find(logs, schema.BGPEvent, schema.BGPEventAnnounce, schema.BGPPrefix, "10.77.0.0/16")
	}
	eventually(t, 60*time.Second, "both paths of 10.77.0.0/16", func() bool { return len(ann()) == 2 })
	ids := map[int64]string{}
	for _, a := range ann() {
		id, ok := intAttr(a, schema.BGPPathID)
		require.True(t, ok, "an ADD-PATH route carries its path ID")
		ids[id] = str(a, schema.BGPASPath) + " via " + str(a, schema.BGPNextHop)
	}
	require.Len(t, ids, 2, "two distinct path IDs: %v", ids)
	var backupID int64
	for id, p := range ids {
		if strings.HasPrefix(p, "65015 65099") {
			backupID = id
		}
	}
	require.NotZero(t, backupID, "the backup path (65015 65099): %v", ids)

	b.ctl("disable", "backup1")
	eventually(t, 30*time.Second, "the backup path withdrawn", func() bool {
		return len(find(logs, schema.BGPEvent, schema.BGPEventWithdraw, schema.BGPPrefix, "10.77.0.0/16")) == 1
	})
	w := find(logs, schema.BGPEvent, schema.BGPEventWithdraw, schema.BGPPrefix, "10.77.0.0/16")[0]
	id, _ := intAttr(w, schema.BGPPathID)
	assert.Equal(t, backupID, id, "the withdrawal names the backup path")
	eventually(t, 10*time.Second, "lost redundancy of 10.77.0.0/16 (two next hops, now one)", func() bool {
		return len(find(logs, schema.BGPEvent, schema.BGPEventLostRedundancy, schema.BGPEventPhase, "start", schema.BGPPrefix, "10.77.0.0/16")) == 1
	})
	b.ctl("enable", "backup1")
	eventually(t, 30*time.Second, "redundancy back when the backup returns", func() bool {
		return len(find(logs, schema.BGPEvent, schema.BGPEventLostRedundancy, schema.BGPEventPhase, "resolved", schema.BGPPrefix, "10.77.0.0/16")) == 1
	})
}

// TestLiveBIRDIPv6 peers with BIRD over IPv6 (::1) with TCP-MD5: the session and an IPv6
// route with its next hop; the IPv6 paths of the socket options (MD5 key, hop limit) run.
func TestLiveBIRDIPv6(t *testing.T) {
	port := testutil.FreeTCPPort(t, "::1")
	startBird(t, "192.0.2.16", fmt.Sprintf(`protocol static s6 { ipv6; route 2001:db8:16::/48 blackhole; }
protocol bgp collector {
  local ::1 port %d as 65016;
  neighbor ::1 as 65000;
  passive on;
  multihop;
  hold time 9;
  password "v6-secret";
  ipv6 {
    import none;
    next hop address 2001:db8::16;
    export all;
  };
}
`, port))
	cfg := baseConfig()
	pc := PeerConfig{Address: "::1", Port: uint16(port), ASN: 65016, Name: "v6", LocalAddress: "::1",
		ConnectRetry: time.Second, HoldTime: 9 * time.Second, Password: "v6-secret", MultihopTTL: 2}
	cfg.Peers = []PeerConfig{pc}
	logs, _ := startReceiver(t, cfg)
	eventually(t, 30*time.Second, "the IPv6 session and route", func() bool {
		return upCount(logs, "::1") == 1 &&
			len(find(logs, schema.BGPEvent, schema.BGPEventAnnounce, schema.BGPPrefix, "2001:db8:16::/48")) == 1
	})
	a := find(logs, schema.BGPEvent, schema.BGPEventAnnounce, schema.BGPPrefix, "2001:db8:16::/48")[0]
	assert.Equal(t, "ipv6_unicast", str(a, schema.BGPFamily))
	assert.Equal(t, "2001:db8::16", str(a, schema.BGPNextHop))
	up := find(logs, schema.BGPEvent, schema.BGPEventPeerUp, schema.BGPPeerAddress, "::1")[0]
	assert.Equal(t, `["ipv6_unicast"]`, str(up, schema.BGPFamilies))
}

// TestGracefulRestartBIRD: BIRD with graceful restart on is killed (no NOTIFICATION) and
// started again in graceful restart recovery (-R, the Forwarding State bit set) without one
// of its routes: its routes are kept across the restart (no withdrawal, no second
// announcement of the route it announces again unchanged), and the route it no longer has
// is withdrawn as stale after its End-of-RIB. Killed again and left down beyond its restart
// time, its routes are withdrawn as with any session down.
func TestGracefulRestartBIRD(t *testing.T) {
	port := testutil.FreeTCPPort(t, "127.0.0.17")
	conf := func(routes ...string) string {
		var b strings.Builder
		b.WriteString("protocol static statics { ipv4;\n")
		for _, r := range routes {
			fmt.Fprintf(&b, "route %s blackhole;\n", r)
		}
		b.WriteString("}\n")
		b.WriteString(birdPeer("127.0.0.17", port, 65017, "192.0.2.17", "graceful restart on;\n  graceful restart time 8;", ""))
		return b.String()
	}
	b := startBird(t, "127.0.0.17", conf("10.81.0.0/24", "10.81.1.0/24"))
	cfg := baseConfig()
	pc := peerConfig("127.0.0.17", port, 65017, "gr")
	pc.GracefulRestart = true
	cfg.Peers = []PeerConfig{pc}
	logs, _ := startReceiver(t, cfg)
	ann := func(p string) int {
		return len(find(logs, schema.BGPEvent, schema.BGPEventAnnounce, schema.BGPPrefix, p))
	}
	withdrawals := func(kv ...string) []plog.LogRecord {
		return find(logs, append([]string{schema.BGPEvent, schema.BGPEventWithdraw}, kv...)...)
	}
	eventually(t, 30*time.Second, "both routes", func() bool { return ann("10.81.0.0/24") == 1 && ann("10.81.1.0/24") == 1 })
	up := find(logs, schema.BGPEvent, schema.BGPEventPeerUp)[0]
	assert.Contains(t, str(up, schema.BGPPeerCapabilities), "graceful-restart")

	b.Kill()
	eventually(t, 15*time.Second, "the graceful peer down", func() bool {
		return len(find(logs, schema.BGPEvent, schema.BGPEventPeerDown)) == 1
	})
	down := find(logs, schema.BGPEvent, schema.BGPEventPeerDown)[0]
	gr, ok := down.Attributes().Get(schema.BGPGracefulRestart)
	require.True(t, ok, "bgp.graceful_restart on the peer down: %s", down.Body().AsString())
	assert.True(t, gr.Bool())
	assert.Equal(t, "connection-closed", str(down, schema.BGPDownReason))
	assert.Empty(t, withdrawals(), "the routes are kept as stale")

	b.Start(conf("10.81.0.0/24"), "-R")
	eventually(t, 30*time.Second, "the stale route withdrawn after End-of-RIB", func() bool {
		return len(withdrawals(schema.BGPPrefix, "10.81.1.0/24")) == 1
	})
	ups := find(logs, schema.BGPEvent, schema.BGPEventPeerUp)
	require.Len(t, ups, 2)
	gr, ok = ups[1].Attributes().Get(schema.BGPGracefulRestart)
	assert.True(t, ok && gr.Bool(), "the peer up ends a graceful restart")
	assert.Equal(t, "stale", str(withdrawals(schema.BGPPrefix, "10.81.1.0/24")[0], schema.BGPEventReason))
	time.Sleep(time.Second)
	assert.Empty(t, withdrawals(schema.BGPPrefix, "10.81.0.0/24"), "the route announced again is kept")
	assert.Equal(t, 1, ann("10.81.0.0/24"), "announced again unchanged: no new announcement")
	assert.Empty(t, find(logs, schema.BGPEvent, schema.BGPEventFlap), "no flap")

	// Killed again and not back within its restart time (8 s).
	b.Kill()
	eventually(t, 15*time.Second, "the second graceful peer down", func() bool {
		return len(find(logs, schema.BGPEvent, schema.BGPEventPeerDown)) == 2
	})
	time.Sleep(5 * time.Second)
	assert.Empty(t, withdrawals(schema.BGPPrefix, "10.81.0.0/24"), "kept during the restart time")
	eventually(t, 15*time.Second, "the routes withdrawn at the end of the restart time", func() bool {
		return len(withdrawals(schema.BGPPrefix, "10.81.0.0/24")) == 1
	})
	assert.Equal(t, "peer_down", str(withdrawals(schema.BGPPrefix, "10.81.0.0/24")[0], schema.BGPEventReason))
}
