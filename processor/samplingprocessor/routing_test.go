package samplingprocessor

import (
	"context"
	"fmt"
	"net/netip"
	"runtime"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/component"
	"go.opentelemetry.io/collector/component/componenttest"
	"go.opentelemetry.io/collector/consumer/consumertest"
	"go.opentelemetry.io/collector/pdata/plog"

	"github.com/erviz/otelcol-erviz/internal/ribregistry"
	"github.com/erviz/otelcol-erviz/internal/schema"
	"github.com/erviz/otelcol-erviz/pkg/rib"
	"github.com/erviz/otelcol-erviz/processor/samplingprocessor/internal/metadatatest"
)

var (
	msee  = rib.Peer{Addr: netip.MustParseAddr("169.254.0.2"), ASN: 12076, Name: "msee"}
	vpngw = rib.Peer{Addr: netip.MustParseAddr("172.16.0.1"), ASN: 65515, Name: "vpngw"}
	core  = rib.Peer{Addr: netip.MustParseAddr("10.255.0.1"), ASN: 65001}
)

// edgeRIB is the on-premises edge's view: the VNet 10.1.0.0/16 over ExpressRoute and over
// the VPN backup (prepended), on-premises 192.168.0.0/16 from the core.
func edgeRIB(t *testing.T, name string) (*rib.RIB, *ribregistry.Source) {
	t.Helper()
	cfg := rib.DefaultConfig()
	cfg.Classes.Rules = append([]rib.ClassRule{{Class: rib.ClassVPN, PeerASNs: []uint32{65515}}}, rib.DefaultClassConfig().Rules...)
	cfg.Classes.Rules = append(cfg.Classes.Rules, rib.ClassRule{Class: rib.ClassOnPrem, OriginASNs: []uint32{65001}})
	r, err := rib.New(cfg)
	require.NoError(t, err)
	now := time.Now()
	ann := func(p rib.Peer, pfx, nh string, path ...uint32) {
		require.NoError(t, r.Announce(now, p, rib.Path{Prefix: netip.MustParsePrefix(pfx), NextHop: netip.MustParseAddr(nh), ASPath: rib.Seq(path...)}))
	}
	ann(msee, "10.1.0.0/16", "169.254.0.2", 12076, 65515)
	ann(vpngw, "10.1.0.0/16", "172.16.0.1", 65515, 65515, 65515)
	ann(core, "192.168.0.0/16", "10.255.0.1", 65001)
	src := ribregistry.NewSource(component.MustNewIDWithName("bgp", name), r)
	t.Cleanup(ribregistry.Register(src))
	return r, src
}

func routedConfig(name string) *Config {
	cfg := createDefaultConfig()
	cfg.Routing.Source = "bgp/" + name
	cfg.Direction.FromRoutes = true
	cfg.Links = []LinkConfig{{Name: "primary", NextHops: []string{"169.254.0.2"}}, {Name: "vpn", NextHops: []string{"172.16.0.1"}}}
	return cfg
}

func flowLog(src, dst string) plog.Logs {
	ld := plog.NewLogs()
	a := ld.ResourceLogs().AppendEmpty().ScopeLogs().AppendEmpty().LogRecords().AppendEmpty().Attributes()
	a.PutStr(schema.FlowType, schema.FlowTypeVNetFlowLog)
	a.PutStr(schema.SourceAddress, src)
	a.PutStr(schema.DestinationAddress, dst)
	a.PutStr(schema.NetworkTransport, "tcp")
	a.PutInt(schema.SourcePort, 50000)
	a.PutInt(schema.DestinationPort, 443)
	a.PutInt(schema.FlowIOBytes, 1000)
	a.PutInt(schema.FlowIOPackets, 10)
	return ld
}

// routedRun starts a processor and returns a function that processes one flow and returns
// the output record's attributes.
func routedRun(t *testing.T, cfg *Config) func(src, dst string) map[string]any {
	sink := &consumertest.LogsSink{}
	p, err := NewFactory().CreateLogs(context.Background(), metadatatest.NewSettings(componenttest.NewTelemetry()), cfg, sink)
	require.NoError(t, err)
	require.NoError(t, p.Start(context.Background(), componenttest.NewNopHost()))
	t.Cleanup(func() { require.NoError(t, p.Shutdown(context.Background())) })
	return func(src, dst string) map[string]any {
		sink.Reset()
		require.NoError(t, p.ConsumeLogs(context.Background(), flowLog(src, dst)))
		return sink.AllLogs()[0].ResourceLogs().At(0).ScopeLogs().At(0).LogRecords().At(0).Attributes().AsRaw()
	}
}

func TestRoutingTagsAndDirection(t *testing.T) {
	r, src := edgeRIB(t, "tags")
	run := routedRun(t, routedConfig("tags"))

	// Not converged, no timeout passed: pending, direction unknown (no prefix list).
	got := run("192.168.1.10", "10.1.0.4")
	assert.Equal(t, schema.RouteStatePending, got[schema.FlowRouteState])
	assert.Equal(t, "unknown", got[schema.FlowDirection])
	assert.NotContains(t, got, schema.FlowDstRouteClass)

	src.SetConverged()
	got = run("192.168.1.10", "10.1.0.4")
	assert.Equal(t, schema.RouteStateConverged, got[schema.FlowRouteState])
	assert.Equal(t, "to_azure", got[schema.FlowDirection])
	assert.Equal(t, "10.1.0.0/16", got[schema.FlowDstRoutePrefix])
	assert.Equal(t, "expressroute", got[schema.FlowDstRouteClass])
	assert.Equal(t, int64(65515), got[schema.FlowDstRouteOriginAS])
	assert.Equal(t, "12076 65515", got[schema.FlowDstRouteASPath])
	assert.Equal(t, "169.254.0.2", got[schema.FlowDstRouteNextHop])
	assert.Equal(t, "msee", got[schema.FlowDstRoutePeer])
	assert.Equal(t, "192.168.0.0/16", got[schema.FlowSrcRoutePrefix])
	assert.Equal(t, "onprem", got[schema.FlowSrcRouteClass])
	assert.Equal(t, "10.255.0.1", got[schema.FlowSrcRoutePeer])
	assert.Equal(t, int64(65001), got[schema.FlowSrcAS]) // filled: flow logs carry none
	assert.Equal(t, int64(65515), got[schema.FlowDstAS])
	assert.Equal(t, "primary", got[schema.FlowLink]) // the route's next hop, the record has none
	assert.NotContains(t, got, schema.FlowRouteCondition)

	// The reverse way.
	got = run("10.1.0.4", "192.168.1.10")
	assert.Equal(t, "from_azure", got[schema.FlowDirection])

	// ExpressRoute withdrawn: the very next record rides the VPN, at risk.
	r.Withdraw(time.Now(), msee, netip.MustParsePrefix("10.1.0.0/16"))
	got = run("192.168.1.10", "10.1.0.4")
	assert.Equal(t, "vpn", got[schema.FlowDstRouteClass])
	assert.Equal(t, "65515 65515 65515", got[schema.FlowDstRouteASPath])
	assert.Equal(t, "vpn", got[schema.FlowLink])
	assert.Equal(t, "to_azure", got[schema.FlowDirection])
	assert.Equal(t, schema.RouteConditionRedundancyLost, got[schema.FlowRouteCondition])

	// Restored.
	require.NoError(t, r.Announce(time.Now(), msee, rib.Path{Prefix: netip.MustParsePrefix("10.1.0.0/16"),
		NextHop: netip.MustParseAddr("169.254.0.2"), ASPath: rib.Seq(12076, 65515)}))
	got = run("192.168.1.10", "10.1.0.4")
	assert.Equal(t, "expressroute", got[schema.FlowDstRouteClass])
	assert.NotContains(t, got, schema.FlowRouteCondition)

	// The on-premises session goes down: its routes leave the tags at once.
	r.PeerDown(time.Now(), core)
	got = run("192.168.1.10", "10.1.0.4")
	assert.NotContains(t, got, schema.FlowSrcRoutePrefix)
	assert.NotContains(t, got, schema.FlowSrcAS)
	assert.Equal(t, "to_azure", got[schema.FlowDirection]) // the destination is still Azure
}

// TestRoutingRescales: with routing on, sampled counts are still rescaled in place (the
// attributes grow for the route fields before the count handles are taken).
func TestRoutingRescales(t *testing.T) {
	_, src := edgeRIB(t, "rescale")
	src.SetConverged()
	cfg := routedConfig("rescale")
	cfg.Rescale.DefaultRate = 10
	got := routedRun(t, cfg)("192.168.1.10", "10.1.0.4")
	assert.Equal(t, "to_azure", got[schema.FlowDirection])
	assert.Equal(t, int64(10000), got[schema.FlowIOBytes])
	assert.Equal(t, int64(100), got[schema.FlowIOPackets])
	assert.Equal(t, int64(10000), got[schema.FlowToAzureIOBytes])
}

func TestRoutingPrefixListsWin(t *testing.T) {
	_, src := edgeRIB(t, "lists")
	src.SetConverged()
	cfg := routedConfig("lists")
	cfg.Direction.OnpremPrefixes = []string{"10.1.0.0/24"}
	run := routedRun(t, cfg)
	got := run("192.168.1.10", "10.1.0.4")
	assert.Equal(t, "onprem_internal", got[schema.FlowDirection])
	assert.Equal(t, "expressroute", got[schema.FlowDstRouteClass]) // still tagged
}

func TestRoutingTimeout(t *testing.T) {
	_, src := edgeRIB(t, "timeout")
	cfg := routedConfig("timeout")
	cfg.Routing.ConvergenceTimeout = time.Minute
	run := routedRun(t, cfg)
	src.MarkStarted(time.Now().Add(-2 * time.Minute)) // started two minutes ago, never converged
	got := run("192.168.1.10", "10.1.0.4")
	assert.Equal(t, schema.RouteStateConverged, got[schema.FlowRouteState])
	assert.Equal(t, "to_azure", got[schema.FlowDirection])
}

func TestRoutingSourceMissing(t *testing.T) {
	_, _ = edgeRIB(t, "present")
	cfg := routedConfig("absent")
	p, err := NewFactory().CreateLogs(context.Background(), metadatatest.NewSettings(componenttest.NewTelemetry()), cfg, &consumertest.LogsSink{})
	require.NoError(t, err)
	err = p.Start(context.Background(), componenttest.NewNopHost())
	require.Error(t, err)
	assert.Contains(t, err.Error(), `no bgp receiver "bgp/absent"`)
	assert.Contains(t, err.Error(), "bgp/present")
	require.NoError(t, p.Shutdown(context.Background()))
}

func TestRoutingConfigValidation(t *testing.T) {
	cfg := createDefaultConfig()
	cfg.Direction.FromRoutes = true
	assert.ErrorContains(t, cfg.Validate(), "direction.from_routes: needs routing.source")
	cfg.Routing.Source = "ipfix/edge"
	assert.ErrorContains(t, cfg.Validate(), "is not a bgp receiver")
	cfg.Routing.Source = "bgp/"
	assert.ErrorContains(t, cfg.Validate(), "is not a component ID")
	cfg.Routing.Source = "bgp/edge"
	assert.NoError(t, cfg.Validate())
	cfg.Routing.Attributes = []string{"class", "prefx"}
	assert.ErrorContains(t, cfg.Validate(), `routing.attributes[1]: unknown field "prefx"`)
}

func TestRoutingAttributesSubset(t *testing.T) {
	_, src := edgeRIB(t, "subset")
	src.SetConverged()
	cfg := routedConfig("subset")
	cfg.Routing.Attributes = []string{"class", "as_path"}
	got := routedRun(t, cfg)("192.168.1.10", "10.1.0.4")
	assert.Equal(t, "expressroute", got[schema.FlowDstRouteClass])
	assert.Equal(t, "12076 65515", got[schema.FlowDstRouteASPath])
	assert.Equal(t, "onprem", got[schema.FlowSrcRouteClass])
	for _, k := range []string{schema.FlowDstRoutePrefix, schema.FlowDstRouteOriginAS, schema.FlowDstRouteNextHop, schema.FlowDstRoutePeer, schema.FlowSrcRoutePrefix} {
		assert.NotContains(t, got, k)
	}
	assert.Equal(t, "to_azure", got[schema.FlowDirection])
	assert.Equal(t, "primary", got[schema.FlowLink]) // links still use the route's next hop
	assert.Equal(t, int64(65515), got[schema.FlowDstAS])
}

// With wait_for_convergence, records arriving at start-up wait for the RIB instead of
// being tagged pending.
func TestRoutingWaitForConvergence(t *testing.T) {
	_, src := edgeRIB(t, "wait")
	cfg := routedConfig("wait")
	cfg.Routing.WaitForConvergence = time.Hour
	run := routedRun(t, cfg)
	converge := time.AfterFunc(20*time.Millisecond, src.SetConverged)
	defer converge.Stop()
	got := run("192.168.1.10", "10.1.0.4")
	assert.Equal(t, schema.RouteStateConverged, got[schema.FlowRouteState])
	assert.Equal(t, "to_azure", got[schema.FlowDirection])
}

func heapAlloc() uint64 {
	runtime.GC()
	runtime.GC()
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	return ms.HeapAlloc
}

// The processor reads the receiver's RIB, it does not copy it: starting a routed processor
// and tagging records adds a small fraction of the RIB's own heap.
func TestRoutingSharesTheRIB(t *testing.T) {
	before := heapAlloc()
	r, src := edgeRIB(t, "shared")
	now := time.Now()
	peer := rib.Peer{Addr: netip.MustParseAddr("192.0.2.77"), ASN: 64500}
	for i := range 100_000 {
		pfx := netip.PrefixFrom(netip.AddrFrom4([4]byte{byte(20 + i>>16), byte(i >> 8), byte(i), 0}), 24)
		require.NoError(t, r.Announce(now, peer, rib.Path{Prefix: pfx, NextHop: peer.Addr, ASPath: rib.Seq(64500, uint32(i%5000)+1)}))
	}
	src.SetConverged()
	loaded := heapAlloc()
	ribHeap := loaded - before
	run := routedRun(t, routedConfig("shared"))
	for i := range 100 {
		got := run(fmt.Sprintf("20.%d.%d.1", i/256, i%256), "10.1.0.4")
		require.Equal(t, "other", got[schema.FlowSrcRouteClass])
	}
	added := int64(heapAlloc()) - int64(loaded)
	t.Logf("RIB heap %d KiB, added by the routed processor %d KiB", ribHeap>>10, added>>10)
	assert.Less(t, added, int64(ribHeap/10), "the processor holds a copy of the RIB")
	runtime.KeepAlive(r)
}
