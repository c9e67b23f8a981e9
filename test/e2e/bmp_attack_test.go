package e2e

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/osrg/gobgp/v3/pkg/packet/bgp"
	"github.com/osrg/gobgp/v3/pkg/packet/bmp"
)

// bmpMessages is a peer up and one route of peer, as a router's BMP session sends them.
func bmpMessages(t *testing.T, peer string, asn uint32, prefix string) []byte {
	t.Helper()
	hdr := *bmp.NewBMPPeerHeader(bmp.BMP_PEER_TYPE_GLOBAL, 0, 0, peer, asn, "192.0.2.50", 0)
	open := bgp.NewBGPOpenMessage(uint16(asn), 90, "192.0.2.50", nil)
	up, err := bmp.NewBMPPeerUpNotification(hdr, "127.0.0.1", 179, 40000, open, open).Serialize()
	if err != nil {
		t.Fatal(err)
	}
	u := bgp.NewBGPUpdateMessage(nil, []bgp.PathAttributeInterface{
		bgp.NewPathAttributeOrigin(0),
		bgp.NewPathAttributeAsPath([]bgp.AsPathParamInterface{bgp.NewAs4PathParam(bgp.BGP_ASPATH_ATTR_TYPE_SEQ, []uint32{asn, 65077})}),
		bgp.NewPathAttributeNextHop("192.0.2.50"),
	}, []*bgp.IPAddrPrefix{bgp.NewIPAddrPrefix(16, prefix)})
	route, err := bmp.NewBMPRouteMonitoring(hdr, u).Serialize()
	if err != nil {
		t.Fatal(err)
	}
	return append(up, route...)
}

// procStatus returns a field of /proc/<pid>/status in kB.
func procStatus(t *testing.T, pid int, field string) int64 {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		t.Fatal(err)
	}
	m := regexp.MustCompile(`(?m)^` + field + `:\s+(\d+) kB`).FindSubmatch(b)
	if m == nil {
		t.Fatalf("no %s in /proc/%d/status", field, pid)
	}
	n, _ := strconv.ParseInt(string(m[1]), 10, 64)
	return n
}

func openFDs(pid int) int {
	es, _ := os.ReadDir(fmt.Sprintf("/proc/%d/fd", pid))
	return len(es)
}

// TestBMPAttack runs config/local.yaml (bmp.allowed widened to 127.0.0.0/28: the router and
// 14 misbehaving allowed hosts) under the BMP attack of the issue, scaled to one machine:
// 1,500 connections each with a 1 MiB message pending (60 from allowed hosts, the others from
// outside the allow-list) and 3,000 idle connections from outside it. Asserted: the health
// check answers throughout, peak RSS stays under 600 MB, the process keeps few descriptors, a
// router connecting during the attack is served (its route reaches data/out/logs.json), and
// the refusals are in the collector's telemetry (otelcol_receiver_bgp_limited).
//
// With bmp.allowed empty (any host), the same attack takes every connection slot: the memory
// and descriptors stay bounded and the health check answers, but a router can only get a
// slot once the stalled sessions time out (bmp.idle_timeout), which is why the
// documentation says to set bmp.allowed.
func TestBMPAttack(t *testing.T) {
	t.Run("allow-list", func(t *testing.T) { bmpAttack(t, "[127.0.0.0/28]") })
	t.Run("no allow-list", func(t *testing.T) { bmpAttack(t, "[]") })
}

func bmpAttack(t *testing.T, allowed string) {
	root := repoRoot(t)
	dir := t.TempDir()
	p := newPorts(t)
	args := append([]string{"--config=" + filepath.Join(root, "config", "local.yaml")}, p.overrides(true)...)
	args = append(args, "--config=yaml:receivers::bgp::bmp::allowed: "+allowed)
	withList := allowed != "[]"
	c := startCollector(t, "local", dir, p, nil, args...)
	pid := c.cmd.Process.Pid
	endpoint := fmt.Sprintf("127.0.0.1:%d", p.BMP)

	// The health check, polled throughout.
	var healthFailures, healthChecks atomic.Int64
	stopHealth := make(chan struct{})
	var hw sync.WaitGroup
	hw.Add(1)
	go func() {
		defer hw.Done()
		hc := http.Client{Timeout: 5 * time.Second, Transport: &http.Transport{DisableKeepAlives: true}}
		for {
			select {
			case <-stopHealth:
				return
			case <-time.After(20 * time.Millisecond):
			}
			healthChecks.Add(1)
			resp, err := hc.Get(c.health)
			if err != nil || resp.StatusCode != http.StatusOK {
				healthFailures.Add(1)
			}
			if resp != nil {
				resp.Body.Close()
			}
		}
	}()

	pending := make([]byte, 6+64<<10)
	pending[0] = 3
	binary.BigEndian.PutUint32(pending[1:5], 1<<20)
	var conns []net.Conn
	var mu sync.Mutex
	var wg sync.WaitGroup
	var outside atomic.Int64
	attack := func(src string, payload []byte) {
		defer wg.Done()
		d := net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP(src)}, Timeout: 10 * time.Second}
		conn, err := d.Dial("tcp", endpoint)
		if err != nil {
			return
		}
		if !strings.HasPrefix(src, "127.0.0.") {
			outside.Add(1)
		}
		if payload != nil {
			_, _ = conn.Write(payload)
		}
		mu.Lock()
		conns = append(conns, conn)
		mu.Unlock()
	}
	for i := 0; i < 1500; i++ {
		src := fmt.Sprintf("127.0.%d.%d", 1+i/250, 1+i%250)
		if i < 60 {
			src = fmt.Sprintf("127.0.0.%d", 2+i%14)
		}
		wg.Add(1)
		go attack(src, pending)
	}
	for i := 0; i < 3000; i++ {
		wg.Add(1)
		go attack(fmt.Sprintf("127.0.%d.%d", 10+i/250, 1+i%250), nil)
	}
	wg.Wait()
	// With every attack connection opened (the allowed ones holding their slots), the health
	// check answers.
	if body := httpGet(c.health); body == "" {
		t.Errorf("no health check answer with the attack connections open\n%s", c.out)
	}
	defer func() {
		for _, conn := range conns {
			conn.Close()
		}
	}()

	tel := "http://127.0.0.1:" + itoa(p.Telemetry) + "/metrics"
	limited := func(reason string) int64 {
		re := regexp.MustCompile(`otelcol_receiver_bgp_limited[^{]*\{[^}]*bgp_limit_reason="` + reason + `"[^}]*\} (\d+)`)
		var n int64
		for _, m := range re.FindAllStringSubmatch(httpGet(tel), -1) {
			v, _ := strconv.ParseInt(m[1], 10, 64)
			n += v
		}
		return n
	}
	if withList {
		// A router connects during the attack.
		d := net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP("127.0.0.1")}}
		router, err := d.Dial("tcp", endpoint)
		if err != nil {
			t.Fatal(err)
		}
		defer router.Close()
		if _, err := router.Write(bmpMessages(t, "192.0.2.60", 65060, "10.78.0.0")); err != nil {
			t.Fatal(err)
		}
		logs := filepath.Join(dir, "data", "out", "logs.json")
		eventually(t, 30*time.Second, "the router's route in data/out/logs.json", func() bool {
			b, _ := os.ReadFile(logs)
			return bytes.Contains(b, []byte("10.78.0.0/16"))
		}, c.out.String)
		eventually(t, 30*time.Second, "the refusals in the collector's telemetry", func() bool {
			return limited("not_allowed") == outside.Load() && limited("source_full") >= 4
		}, func() string { return httpGet(tel) })
	} else {
		// 4,500 connections, 64 slots: the others are refused (listener or source full).
		eventually(t, 30*time.Second, "the refusals in the collector's telemetry", func() bool {
			return limited("listener_full")+limited("source_full") >= outside.Load()+60-64
		}, func() string { return httpGet(tel) })
	}

	close(stopHealth)
	hw.Wait()
	hwm := procStatus(t, pid, "VmHWM")
	fds := openFDs(pid)
	t.Logf("%d attack connections from 127.0.1.0 and up; peak RSS %d MB; %d descriptors open; health check failed %d of %d times",
		outside.Load(), hwm>>10, fds, healthFailures.Load(), healthChecks.Load())
	if outside.Load() < 4000 {
		t.Errorf("only %d attack connections opened", outside.Load())
	}
	if healthFailures.Load() > 0 || healthChecks.Load() == 0 {
		t.Errorf("health check failed %d of %d times", healthFailures.Load(), healthChecks.Load())
	}
	if hwm > 600<<10 {
		t.Errorf("peak RSS %d MB, over 600 MB", hwm>>10)
	}
	// 56 stalled sessions of allowed hosts, the router, the pipelines' own: a few hundred at most.
	if fds > 500 {
		t.Errorf("%d descriptors open", fds)
	}
}

// TestBMPManyPeersPrometheus: 5,000 BMP peers (five routers of 1,000) reach the Prometheus
// endpoint of config/local.yaml as bgp_peer_state_ratio series, with metrics_interval 2s. (Before,
// their per-peer data points took a core for minutes and no bgp_* series came out.)
func TestBMPManyPeersPrometheus(t *testing.T) {
	root := repoRoot(t)
	dir := t.TempDir()
	p := newPorts(t)
	args := append([]string{"--config=" + filepath.Join(root, "config", "local.yaml")}, p.overrides(true)...)
	args = append(args, "--config=yaml:receivers::bgp::bmp::allowed: [127.0.0.0/28]", "--config=yaml:receivers::bgp::collection_interval: 2s")
	c := startCollector(t, "local", dir, p, nil, args...)
	endpoint := fmt.Sprintf("127.0.0.1:%d", p.BMP)
	for r := 1; r <= 5; r++ {
		d := net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP(fmt.Sprintf("127.0.0.%d", r))}}
		conn, err := d.Dial("tcp", endpoint)
		if err != nil {
			t.Fatal(err)
		}
		defer conn.Close()
		var b bytes.Buffer
		for i := 0; i < 1000; i++ {
			n := (r-1)*1000 + i
			b.Write(bmpMessages(t, fmt.Sprintf("10.%d.%d.%d", 200+n>>16, n>>8&255, n&255), uint32(64512+i), fmt.Sprintf("172.%d.%d.0", 16+n>>8, n&255)))
		}
		if _, err := conn.Write(b.Bytes()); err != nil {
			t.Fatal(err)
		}
	}
	metrics := "http://127.0.0.1:" + itoa(p.Prometheus) + "/metrics"
	up := regexp.MustCompile(`(?m)^bgp_peer_state_ratio\{[^}]*bgp_source="bmp"[^}]*\} 1$`)
	var last int
	eventually(t, 60*time.Second, "5,000 bgp_peer_state_ratio series of BMP peers", func() bool {
		last = len(up.FindAllStringIndex(httpGet(metrics), -1))
		return last == 5000
	}, func() string { return fmt.Sprintf("%d series; %s", last, c.out) })
}
