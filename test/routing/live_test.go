// Package routing tests routing-aware flows end to end, in one process: BIRD announces
// Azure and on-premises routes to the bgp receiver, softflowd exports a capture to the ipfix
// receiver, VNet flow logs with tuples of the same hosts reach the flowlog receiver, and the
// sampling processor (routing.source: the bgp receiver, from_routes, no
// prefix list) tags every record with its routes and places its direction by them.
package routing

import (
	"context"
	"fmt"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/component"
	"go.opentelemetry.io/collector/component/componenttest"
	"go.opentelemetry.io/collector/consumer/consumertest"
	"go.opentelemetry.io/collector/processor/processortest"
	"go.opentelemetry.io/collector/receiver/receivertest"

	"github.com/erviz/otelcol-erviz/internal/pcap"
	"github.com/erviz/otelcol-erviz/internal/schema"
	"github.com/erviz/otelcol-erviz/internal/testutil"
	"github.com/erviz/otelcol-erviz/processor/samplingprocessor"
	"github.com/erviz/otelcol-erviz/receiver/bgpreceiver"
	"github.com/erviz/otelcol-erviz/receiver/flowlogreceiver"
	"github.com/erviz/otelcol-erviz/receiver/ipfixreceiver"
)

// The on-premises edge's view of a hybrid network, from one BIRD daemon with three sessions
// to the collector:
//   - er (127.0.0.2, AS 12076, the MSEE): the VNets 10.1.0.0/16 and 10.2.0.0/16, path
//     "12076 65515";
//   - vpn (127.0.0.3, AS 65515, the VPN gateway): the same VNets, prepended as a backup,
//     path "65515 65515 65515";
//   - core (127.0.0.4, AS 65001): on-premises 192.168.0.0/16, path "65001".
const birdConf = `
protocol static vnets { ipv4; route 10.1.0.0/16 blackhole; route 10.2.0.0/16 blackhole; }
protocol static onprem { ipv4; route 192.168.0.0/16 blackhole; }
%s
%s
%s
`

// birdSession is one BGP protocol; BIRD tells incoming sessions apart by the neighbor's
// address, so the collector's end of each session has its own (collectorAddr).
func birdSession(name, local string, port int, asn uint32, nextHop, filter string) string {
	return fmt.Sprintf(`protocol bgp %s {
  local %s port %d as %d;
  neighbor %s as 65000;
  passive on;
  multihop;
  hold time 9;
  connect delay time 1;
  error wait time 1,2;
  ipv4 {
    import none;
    next hop address %s;
    export filter { %s };
  };
}
`, name, local, port, asn, collectorAddr[local], nextHop, filter)
}

var collectorAddr = map[string]string{"127.0.0.2": "127.0.0.12", "127.0.0.3": "127.0.0.13", "127.0.0.4": "127.0.0.14"}

// flow is one unidirectional flow of the capture and its truth.
type flow struct {
	src, dst  string
	direction string
	dstClass  string
	dstOrigin int64
	dstPath   string
}

var capture = []flow{
	{"192.168.1.10", "10.1.0.4", "to_azure", "expressroute", 65515, "12076 65515"},
	{"10.1.0.4", "192.168.1.10", "from_azure", "onprem", 65001, "65001"},
	{"192.168.7.7", "10.2.0.5", "to_azure", "expressroute", 65515, "12076 65515"},
	{"10.2.0.5", "10.1.0.4", "azure_internal", "expressroute", 65515, "12076 65515"},
	{"192.168.1.10", "192.168.9.9", "onprem_internal", "onprem", 65001, "65001"},
}

// flowLogCapture is the capture's flows as the flow log keys them.
func flowLogCapture() []flow {
	out := make([]flow, len(capture))
	for i, fl := range capture {
		fl.src = "flowlog " + fl.src
		out[i] = fl
	}
	return out
}

// writeCapture writes the flows as UDP datagrams, three per flow.
func writeCapture(t *testing.T) string {
	path := filepath.Join(t.TempDir(), "flows.pcap")
	f, err := os.Create(path)
	require.NoError(t, err)
	w, err := pcap.NewWriter(f)
	require.NoError(t, err)
	ts := time.Now().Add(-time.Minute)
	for i, fl := range capture {
		for j := range 3 {
			require.NoError(t, w.Write(pcap.Datagram{
				Time: ts.Add(time.Duration(i*3+j) * time.Millisecond),
				Src:  netip.AddrPortFrom(netip.MustParseAddr(fl.src), uint16(40000+i)),
				Dst:  netip.AddrPortFrom(netip.MustParseAddr(fl.dst), 443),
				// 100 bytes of payload: the IP length is 128.
				Payload: make([]byte, 100),
			}))
		}
	}
	require.NoError(t, f.Close())
	return path
}

// runSoftflowd exports the capture to addr (softflowd 1.1.0 reading a pcap can block in
// accept() on its control socket; poking it with softflowctl unblocks it).
func runSoftflowd(t *testing.T, capturePath, addr string) {
	t.Helper()
	sfd := testutil.NeedBinary(t, "softflowd")
	ctl := testutil.NeedBinary(t, "softflowctl")
	dir := t.TempDir()
	sock := filepath.Join(dir, "ctl")
	cmd := exec.Command(sfd, "-d", "-r", capturePath, "-n", addr, "-p", filepath.Join(dir, "pid"), "-c", sock, "-v", "10")
	out, err := os.Create(filepath.Join(dir, "out"))
	require.NoError(t, err)
	defer out.Close()
	cmd.Stdout, cmd.Stderr = out, out
	require.NoError(t, cmd.Start())
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	deadline := time.After(60 * time.Second)
	for {
		select {
		case err := <-done:
			if err != nil {
				b, _ := os.ReadFile(filepath.Join(dir, "out"))
				t.Fatalf("softflowd: %v: %s", err, b)
			}
			return
		case <-deadline:
			_ = cmd.Process.Kill()
			<-done
			t.Fatal("softflowd did not finish")
		case <-time.After(300 * time.Millisecond):
			_ = exec.Command(ctl, "-c", sock, "statistics").Run()
		}
	}
}

// pipeline is the bgp receiver, the ipfix receiver and the sampling processor wired as a
// collector wires them: created first, then started processor first.
type pipeline struct {
	sink      *consumertest.LogsSink
	bgpLogs   *consumertest.LogsSink
	ipfixAddr string
	flowLogs  string // the flowlog receiver's directory
	blobs     int
}

func startPipeline(t *testing.T, bgpCfg *bgpreceiver.Config) *pipeline {
	ctx := context.Background()
	p := &pipeline{sink: new(consumertest.LogsSink), bgpLogs: new(consumertest.LogsSink)}

	bgpSet := receivertest.NewNopSettings(component.MustNewType("bgp"))
	bgpSet.ID = component.MustNewIDWithName("bgp", "edge")
	bgpRx, err := bgpreceiver.NewFactory().CreateLogs(ctx, bgpSet, bgpCfg, p.bgpLogs)
	require.NoError(t, err)

	spCfg := samplingprocessor.NewFactory().CreateDefaultConfig().(*samplingprocessor.Config)
	spCfg.Routing.Source = "bgp/edge"
	spCfg.Direction.FromRoutes = true
	spCfg.Routing.ConvergenceTimeout = 0 // only convergence counts: the test checks it
	require.NoError(t, spCfg.Validate())
	sp, err := samplingprocessor.NewFactory().CreateLogs(ctx, processortest.NewNopSettings(component.MustNewType("sampling")), spCfg, p.sink)
	require.NoError(t, err)

	port := testutil.FreeUDPPort(t, "127.0.0.1")
	p.ipfixAddr = fmt.Sprintf("127.0.0.1:%d", port)
	ipCfg := ipfixreceiver.NewFactory().CreateDefaultConfig().(*ipfixreceiver.Config)
	ipCfg.Endpoint = p.ipfixAddr
	ipCfg.BatchTimeout = 50 * time.Millisecond
	ipRx, err := ipfixreceiver.NewFactory().CreateLogs(ctx, receivertest.NewNopSettings(component.MustNewType("ipfix")), ipCfg, sp)
	require.NoError(t, err)

	p.flowLogs = t.TempDir()
	flCfg := flowlogreceiver.NewFactory().CreateDefaultConfig().(*flowlogreceiver.Config)
	flCfg.Directory = p.flowLogs
	flCfg.PollInterval = 100 * time.Millisecond
	flRx, err := flowlogreceiver.NewFactory().CreateLogs(ctx, receivertest.NewNopSettings(component.MustNewType("flowlog")), flCfg, sp)
	require.NoError(t, err)

	host := componenttest.NewNopHost()
	for _, c := range []component.Component{sp, bgpRx, ipRx, flRx} { // processors start before receivers
		require.NoError(t, c.Start(ctx, host))
	}
	t.Cleanup(func() {
		for _, c := range []component.Component{flRx, ipRx, bgpRx, sp} {
			assert.NoError(t, c.Shutdown(ctx))
		}
	})
	return p
}

// writeFlowLog writes a new VNet flow log blob (one NIC, the Network Watcher layout) with
// one tuple per flow of the capture: the initiator as source, bytes both ways.
func (p *pipeline) writeFlowLog(t *testing.T) {
	t.Helper()
	p.blobs++
	mac := fmt.Sprintf("000D3A%06X", p.blobs)
	dir := filepath.Join(p.flowLogs, "insights-logs-flowlogflowevent", "flowLogResourceID=", "SUB_NETWORKWATCHERRG",
		"NETWORKWATCHER_WESTEUROPE_FL-SPOKE1", "y=2026", "m=01", "d=01", "h=00", "m=00", "macAddress="+mac)
	require.NoError(t, os.MkdirAll(dir, 0o755))
	ms := time.Now().UnixMilli()
	var tuples []string
	for i, fl := range capture {
		tuples = append(tuples, fmt.Sprintf(`"%d,%s,%s,%d,443,6,O,C,NX,10,%d,10,2000"`, ms, fl.src, fl.dst, 50000+i, 1000+i))
	}
	blob := fmt.Sprintf(`{"records":[{"time":"%s","flowLogVersion":4,"flowLogGUID":"3c2b1a09-5d6e-4f70-8a9b-0c1d2e3f4a5b",`+
		`"macAddress":"%s","category":"FlowLogFlowEvent","flowLogResourceID":"/SUBSCRIPTIONS/SUB/RESOURCEGROUPS/NETWORKWATCHERRG/PROVIDERS/MICROSOFT.NETWORK/NETWORKWATCHERS/NETWORKWATCHER_WESTEUROPE/FLOWLOGS/FL-SPOKE1",`+
		`"targetResourceID":"/subscriptions/sub/resourceGroups/rg/providers/Microsoft.Network/virtualNetworks/vnet-spoke1","operationName":"FlowLogFlowEvent",`+
		`"flowRecords":{"flows":[{"aclID":"00000000-1111-2222-3333-444444444401","flowGroups":[{"rule":"DefaultRule_AllowVnetOutBound","flowTuples":[%s]}]}]}}]}`,
		time.Now().UTC().Format(time.RFC3339Nano), mac, strings.Join(tuples, ","))
	require.NoError(t, os.WriteFile(filepath.Join(dir, "PT1H.json"), []byte(blob), 0o644))
}

// export runs softflowd over the capture and writes a flow log blob with the same flows, and
// returns the processed records by source and destination address, once one record per flow
// and source has arrived (IPFIX keys as {src, dst}, flow logs as {"flowlog " + src, dst}).
func (p *pipeline) export(t *testing.T, capturePath string) map[[2]string]map[string]any {
	t.Helper()
	p.sink.Reset()
	runSoftflowd(t, capturePath, p.ipfixAddr)
	p.writeFlowLog(t)
	require.Eventually(t, func() bool { return p.sink.LogRecordCount() >= 2*len(capture) }, 30*time.Second, 20*time.Millisecond,
		"records: %d of %d", p.sink.LogRecordCount(), 2*len(capture))
	out := map[[2]string]map[string]any{}
	for _, ld := range p.sink.AllLogs() {
		for i := 0; i < ld.ResourceLogs().Len(); i++ {
			sls := ld.ResourceLogs().At(i).ScopeLogs()
			for j := 0; j < sls.Len(); j++ {
				lrs := sls.At(j).LogRecords()
				for k := 0; k < lrs.Len(); k++ {
					a := lrs.At(k).Attributes().AsRaw()
					src := fmt.Sprint(a[schema.SourceAddress])
					if a[schema.FlowType] == schema.FlowTypeVNetFlowLog {
						src = "flowlog " + src
					}
					out[[2]string{src, fmt.Sprint(a[schema.DestinationAddress])}] = a
				}
			}
		}
	}
	require.Len(t, out, 2*len(capture), "one record per flow and source")
	return out
}

func TestLiveRoutingAwareFlows(t *testing.T) {
	pe, pv, pc := testutil.FreeTCPPort(t, "127.0.0.2"), testutil.FreeTCPPort(t, "127.0.0.3"), testutil.FreeTCPPort(t, "127.0.0.4")
	original := fmt.Sprintf(birdConf,
		birdSession("msee", "127.0.0.2", pe, 12076, "169.254.0.2", `if proto = "vnets" then { bgp_path.prepend(65515); accept; } reject;`),
		birdSession("vpngw", "127.0.0.3", pv, 65515, "172.16.0.1", `if proto = "vnets" then { bgp_path.prepend(65515); bgp_path.prepend(65515); accept; } reject;`),
		birdSession("core", "127.0.0.4", pc, 65001, "10.255.0.1", `if proto = "onprem" then accept; reject;`))
	b := testutil.StartBird(t, "127.0.0.2", original)

	bgpCfg := bgpreceiver.NewFactory().CreateDefaultConfig().(*bgpreceiver.Config)
	bgpCfg.ASN, bgpCfg.RouterID = 65000, "192.0.2.100"
	peer := func(addr string, port int, asn uint32, name string) bgpreceiver.PeerConfig {
		return bgpreceiver.PeerConfig{Address: addr, Port: uint16(port), ASN: asn, Name: name, LocalAddress: collectorAddr[addr],
			ConnectRetry: time.Second, HoldTime: 9 * time.Second}
	}
	bgpCfg.Peers = []bgpreceiver.PeerConfig{peer("127.0.0.2", pe, 12076, "msee"), peer("127.0.0.3", pv, 65515, "vpngw"), peer("127.0.0.4", pc, 65001, "core")}
	// The VPN gateway's routes are vpn, the on-premises origin onprem (before the defaults).
	bgpCfg.Classes = []bgpreceiver.ClassRuleConfig{{Class: "vpn", PeerASNs: []uint32{65515}}, {Class: "onprem", OriginASNs: []uint32{65001}}}
	require.NoError(t, bgpCfg.Validate())

	capturePath := writeCapture(t)
	p := startPipeline(t, bgpCfg)

	// Before convergence nothing is classed from routes: records say pending. (The sessions
	// take at least a second to come up: BIRD's connect delay.)
	recs := p.export(t, capturePath)
	pending := 0
	for k, a := range recs {
		if a[schema.FlowRouteState] != schema.RouteStatePending {
			continue
		}
		pending++
		assert.Equal(t, "unknown", a[schema.FlowDirection], "%v while pending", k)
		assert.NotContains(t, a, schema.FlowDstRouteClass)
	}
	if pending == 0 {
		t.Log("the RIB converged before the first export: the pending phase was not observed")
	}

	// Converged: every configured peer up and its End-of-RIB received.
	require.Eventually(t, func() bool {
		return b.Established("msee") && b.Established("vpngw") && b.Established("core")
	}, 30*time.Second, 50*time.Millisecond, "sessions: %s", b.Ctl("show", "protocols"))
	var last map[[2]string]map[string]any
	require.Eventually(t, func() bool {
		last = p.export(t, capturePath)
		return last[[2]string{"192.168.1.10", "10.1.0.4"}][schema.FlowRouteState] == schema.RouteStateConverged
	}, 30*time.Second, 100*time.Millisecond, "the RIB converges")

	check := func(recs map[[2]string]map[string]any, dstClass10 string) {
		t.Helper()
		for _, fl := range append(capture, flowLogCapture()...) {
			a := recs[[2]string{fl.src, fl.dst}]
			require.NotNil(t, a, "%s -> %s", fl.src, fl.dst)
			assert.Equal(t, fl.direction, a[schema.FlowDirection], "%s -> %s", fl.src, fl.dst)
			wantClass, wantPath := fl.dstClass, fl.dstPath
			if strings.HasPrefix(fl.src, "flowlog ") {
				assert.Equal(t, schema.FlowTypeVNetFlowLog, a[schema.FlowType])
			} else {
				assert.Equal(t, schema.FlowTypeIPFIX, a[schema.FlowType])
			}
			if fl.dst == "10.1.0.4" && dstClass10 == "vpn" {
				wantClass, wantPath = "vpn", "65515 65515 65515"
			}
			assert.Equal(t, wantClass, a[schema.FlowDstRouteClass], "%s -> %s", fl.src, fl.dst)
			assert.Equal(t, fl.dstOrigin, a[schema.FlowDstRouteOriginAS], "%s -> %s", fl.src, fl.dst)
			assert.Equal(t, wantPath, a[schema.FlowDstRouteASPath], "%s -> %s", fl.src, fl.dst)
			assert.Equal(t, fl.dstOrigin, a[schema.FlowDstAS], "%s -> %s: flow.dst_as from the route", fl.src, fl.dst)
		}
	}
	check(last, "expressroute")
	a := last[[2]string{"192.168.1.10", "10.1.0.4"}]
	assert.Equal(t, "10.1.0.0/16", a[schema.FlowDstRoutePrefix])
	assert.Equal(t, "169.254.0.2", a[schema.FlowDstRouteNextHop])
	assert.Equal(t, "msee", a[schema.FlowDstRoutePeer])
	assert.Equal(t, "192.168.0.0/16", a[schema.FlowSrcRoutePrefix])
	assert.Equal(t, "onprem", a[schema.FlowSrcRouteClass])
	// Flow logs carry no AS numbers: both come from the routes.
	fa := last[[2]string{"flowlog 192.168.1.10", "10.1.0.4"}]
	assert.Equal(t, int64(65001), fa[schema.FlowSrcAS])
	assert.Equal(t, int64(65515), fa[schema.FlowDstAS])
	assert.NotContains(t, a, schema.FlowRouteCondition)

	// The ExpressRoute path of 10.1.0.0/16 is withdrawn: the VPN path is best, and the
	// prefix has lost its redundancy.
	withdrawn := fmt.Sprintf(birdConf,
		birdSession("msee", "127.0.0.2", pe, 12076, "169.254.0.2", `if net = 10.1.0.0/16 then reject; if proto = "vnets" then { bgp_path.prepend(65515); accept; } reject;`),
		birdSession("vpngw", "127.0.0.3", pv, 65515, "172.16.0.1", `if proto = "vnets" then { bgp_path.prepend(65515); bgp_path.prepend(65515); accept; } reject;`),
		birdSession("core", "127.0.0.4", pc, 65001, "10.255.0.1", `if proto = "onprem" then accept; reject;`))
	reconfigure(t, b, withdrawn)
	eventuallyRecords(t, p, capturePath, func(recs map[[2]string]map[string]any) bool {
		return recs[[2]string{"192.168.1.10", "10.1.0.4"}][schema.FlowDstRouteClass] == "vpn"
	}, "the VPN path is best")
	last = p.export(t, capturePath)
	check(last, "vpn")
	assert.Equal(t, schema.RouteConditionRedundancyLost, last[[2]string{"192.168.1.10", "10.1.0.4"}][schema.FlowRouteCondition])
	assert.Equal(t, schema.RouteConditionRedundancyLost, last[[2]string{"flowlog 192.168.1.10", "10.1.0.4"}][schema.FlowRouteCondition])
	assert.NotContains(t, last[[2]string{"192.168.7.7", "10.2.0.5"}], schema.FlowRouteCondition)

	// Restored: ExpressRoute again, redundancy back.
	reconfigure(t, b, original)
	eventuallyRecords(t, p, capturePath, func(recs map[[2]string]map[string]any) bool {
		return recs[[2]string{"192.168.1.10", "10.1.0.4"}][schema.FlowDstRouteClass] == "expressroute"
	}, "ExpressRoute is best again")
	last = p.export(t, capturePath)
	check(last, "expressroute")
	assert.NotContains(t, last[[2]string{"192.168.1.10", "10.1.0.4"}], schema.FlowRouteCondition)

	// The backup is disabled (its session goes down): flows to the VNets ride a prefix that
	// has lost its backup; they lose the condition when it returns.
	b.Ctl("disable", "vpngw")
	eventuallyRecords(t, p, capturePath, func(recs map[[2]string]map[string]any) bool {
		return recs[[2]string{"192.168.1.10", "10.1.0.4"}][schema.FlowRouteCondition] == schema.RouteConditionRedundancyLost &&
			recs[[2]string{"192.168.7.7", "10.2.0.5"}][schema.FlowRouteCondition] == schema.RouteConditionRedundancyLost
	}, "redundancy_lost on both VNets")
	last = p.export(t, capturePath)
	check(last, "expressroute")
	assert.NotContains(t, last[[2]string{"10.1.0.4", "192.168.1.10"}], schema.FlowRouteCondition, "on-premises kept its only path")
	b.Ctl("enable", "vpngw")
	eventuallyRecords(t, p, capturePath, func(recs map[[2]string]map[string]any) bool {
		_, a := recs[[2]string{"192.168.1.10", "10.1.0.4"}][schema.FlowRouteCondition]
		_, b := recs[[2]string{"192.168.7.7", "10.2.0.5"}][schema.FlowRouteCondition]
		return !a && !b
	}, "the condition clears when the backup returns")
}

// reconfigure makes BIRD load conf (its filters change: the routes they export change
// without a session reset).
func reconfigure(t *testing.T, b *testutil.Bird, conf string) {
	t.Helper()
	out := b.Reconfigure(conf)
	require.Contains(t, out, "Reconfigured", out)
}

// eventuallyRecords exports the capture until cond holds on the processed records (the
// routes change in the receiver as BIRD's UPDATEs arrive).
func eventuallyRecords(t *testing.T, p *pipeline, capturePath string, cond func(map[[2]string]map[string]any) bool, what string) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for !cond(p.export(t, capturePath)) {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
	}
}
