package accounting

import (
	"net/netip"
	"runtime"
	"testing"
	"time"

	"github.com/erviz/otelcol-erviz/internal/observation"
)

var t0 = time.Date(2025, 6, 2, 9, 0, 0, 0, time.UTC)

var (
	onprem = netip.MustParseAddr("192.168.1.10")
	spoke1 = netip.MustParseAddr("10.1.0.4")
	spoke2 = netip.MustParseAddr("10.2.0.4")
)

type step struct {
	name string
	o    Observation
	want Reason
}

func run(t *testing.T, a *Accountant, steps []step) {
	t.Helper()
	for _, s := range steps {
		if s.o.Time.IsZero() {
			s.o.Time = t0
		}
		counted, why := a.Decide(&s.o)
		if why != s.want || counted != s.want.Counted() {
			t.Errorf("%s: got %s (counted %v), want %s", s.name, why, counted, s.want)
		}
	}
}

// One on-premises to Azure conversation seen at the four places of the issue: counted once.
func TestEdgeTrafficCountsAtTheEdge(t *testing.T) {
	edge := Observation{Kind: observation.KindEdge, AtEdge: true, Traffic: TrafficCrossing, Src: onprem, Dst: spoke1}
	gw := Observation{Kind: observation.KindGatewaySubnet, Traffic: TrafficCrossing, NIC: NICInbound, Src: onprem, Dst: spoke1, MAC: "GW"}
	vnet := Observation{Kind: observation.KindVNet, Traffic: TrafficCrossing, NIC: NICInbound, Src: onprem, Dst: spoke1, MAC: "NIC1"}
	nsg := Observation{Kind: observation.KindNSG, Traffic: TrafficCrossing, NIC: NICInbound, Src: onprem, Dst: spoke1, MAC: "NIC1"}

	t.Run("edge ipfix present", func(t *testing.T) {
		run(t, New(Config{}), []step{
			{"edge", edge, ReasonEdge},
			{"gateway", gw, ReasonEdgeElsewhere},
			{"vnet", vnet, ReasonEdgeElsewhere},
			{"nsg", nsg, ReasonNSGCovered},
		})
	})
	t.Run("flow logs only", func(t *testing.T) {
		run(t, New(Config{}), []step{
			{"vnet first", vnet, ReasonEdgeElsewhere},
			{"gateway", gw, ReasonEdge},
			{"nsg", nsg, ReasonNSGCovered},
		})
	})
	t.Run("azure-initiated traffic counts at the initiator's spoke without edge ipfix", func(t *testing.T) {
		out := Observation{Kind: observation.KindVNet, Traffic: TrafficCrossing, NIC: NICOutbound, AzureInitiated: true, Src: spoke1, Dst: onprem, MAC: "NIC1"}
		gwOut := Observation{Kind: observation.KindGatewaySubnet, Traffic: TrafficCrossing, NIC: NICOutbound, AzureInitiated: true, Src: spoke1, Dst: onprem, MAC: "GW"}
		nsgOut := Observation{Kind: observation.KindNSG, Traffic: TrafficCrossing, NIC: NICOutbound, AzureInitiated: true, Src: spoke1, Dst: onprem, MAC: "NIC1"}
		run(t, New(Config{}), []step{
			{"gateway (replies only)", gwOut, ReasonEdgeElsewhere},
			{"spoke, outbound", out, ReasonSource},
			{"nsg of the same NIC", nsgOut, ReasonNSGCovered},
		})
		run(t, New(Config{}), []step{
			{"edge", Observation{Kind: observation.KindEdge, AtEdge: true, Traffic: TrafficCrossing, Src: spoke1, Dst: onprem}, ReasonEdge},
			{"spoke, outbound, edge seen", out, ReasonEdgeElsewhere},
		})
		run(t, New(Config{EdgeSource: EdgeGatewaySubnet}), []step{
			{"gateway, pinned", gwOut, ReasonEdge},
			{"spoke, gateway pinned", out, ReasonEdgeElsewhere},
		})
	})
	t.Run("spoke logs only", func(t *testing.T) {
		run(t, New(Config{}), []step{{"vnet, default", vnet, ReasonEdgeElsewhere}})
		run(t, New(Config{EdgeSource: EdgeNone}), []step{
			{"vnet, edge_source none", vnet, ReasonNoEdge},
			{"nsg of the same NIC", nsg, ReasonNSGCovered},
		})
	})
	t.Run("edge ipfix later than the gateway log: explicit source is order-independent", func(t *testing.T) {
		run(t, New(Config{EdgeSource: EdgeIPFIX}), []step{
			{"gateway", gw, ReasonEdgeElsewhere},
			{"vnet", vnet, ReasonEdgeElsewhere},
			{"edge", edge, ReasonEdge},
		})
		run(t, New(Config{EdgeSource: EdgeGatewaySubnet}), []step{
			{"edge", edge, ReasonEdgeElsewhere},
			{"gateway", gw, ReasonEdge},
		})
	})
	t.Run("coverage is by time", func(t *testing.T) {
		late := gw
		late.Time = t0.Add(2 * time.Hour)
		run(t, New(Config{CoverageWindow: 10 * time.Minute}), []step{
			{"edge at 09:00", edge, ReasonEdge},
			{"gateway at 11:00: the edge exported nothing then", late, ReasonEdge},
			{"gateway at 09:00", gw, ReasonEdgeElsewhere},
		})
	})
}

// The example: 10.1.0.4 -> 10.2.0.4:1433 seen at the GatewaySubnet (hairpin), at
// vnet-spoke1 (outbound), vnet-spoke2 (inbound) and NSG-SPOKE2-DB: counted once.
func TestInternalAndHairpin(t *testing.T) {
	gw := Observation{Kind: observation.KindGatewaySubnet, Traffic: TrafficHairpin, NIC: NICInbound, Src: spoke1, Dst: spoke2, MAC: "GW"}
	out1 := Observation{Kind: observation.KindVNet, Traffic: TrafficInternal, NIC: NICOutbound, Src: spoke1, Dst: spoke2, MAC: "NIC1"}
	in2 := Observation{Kind: observation.KindVNet, Traffic: TrafficInternal, NIC: NICInbound, Src: spoke1, Dst: spoke2, MAC: "NIC2"}
	nsg2 := Observation{Kind: observation.KindNSG, Traffic: TrafficInternal, NIC: NICInbound, Src: spoke1, Dst: spoke2, MAC: "NIC2"}
	t.Run("hairpin at the gateway", func(t *testing.T) {
		run(t, New(Config{}), []step{
			{"gateway", gw, ReasonEdge},
			{"spoke1 out", out1, ReasonHairpinAtEdge},
			{"spoke2 in", in2, ReasonDestination},
			{"nsg", nsg2, ReasonNSGCovered},
		})
	})
	t.Run("every record of a hairpinned pair at the gateway counts", func(t *testing.T) {
		later := gw
		later.Time = t0.Add(5 * time.Minute)
		run(t, New(Config{}), []step{
			{"gateway, first tuple", gw, ReasonEdge},
			{"gateway, next tuple of the pair", later, ReasonEdge},
			{"gateway, reverse pair", Observation{Kind: observation.KindGatewaySubnet, Traffic: TrafficHairpin, NIC: NICInbound, Src: spoke2, Dst: spoke1}, ReasonEdge},
			{"spoke1 out", out1, ReasonHairpinAtEdge},
		})
	})
	t.Run("peered spokes, no hairpin", func(t *testing.T) {
		run(t, New(Config{}), []step{
			{"spoke2 in", in2, ReasonDestination},
			{"spoke1 out", out1, ReasonSource},
		})
	})
	t.Run("hairpin counted at the edge router, not again at the gateway", func(t *testing.T) {
		edge := Observation{Kind: observation.KindEdge, AtEdge: true, Traffic: TrafficHairpin, Src: spoke2, Dst: spoke1}
		run(t, New(Config{}), []step{
			{"edge (reverse packets)", edge, ReasonEdge},
			{"gateway", gw, ReasonEdgeElsewhere},
			{"gateway again", gw, ReasonEdgeElsewhere},
			{"spoke1 out", out1, ReasonHairpinAtEdge},
			{"edge again", edge, ReasonEdge},
		})
	})
	t.Run("nsg logs only", func(t *testing.T) {
		nsg1 := Observation{Kind: observation.KindNSG, Traffic: TrafficInternal, NIC: NICOutbound, Src: spoke1, Dst: spoke2, MAC: "NIC1"}
		run(t, New(Config{}), []step{
			{"nsg spoke1 out", nsg1, ReasonSource},
			{"nsg spoke2 in", nsg2, ReasonDestination},
		})
		run(t, New(Config{NSG: NSGNever}), []step{{"nsg never", nsg1, ReasonNSGNever}})
		run(t, New(Config{NSG: NSGAlways}), []step{
			{"vnet", out1, ReasonSource},
			{"nsg always", nsg1, ReasonSource},
		})
	})
	t.Run("nva exporter", func(t *testing.T) {
		nva := Observation{Kind: observation.KindEdge, Traffic: TrafficInternal, Src: spoke1, Dst: spoke2}
		run(t, New(Config{}), []step{
			{"nva, no flow logs", nva, ReasonSource},
			{"vnet", out1, ReasonSource},
			{"nva, flow logs present", nva, ReasonCoveredByFlowLog},
		})
	})
}

func TestUnknownKindCounts(t *testing.T) {
	run(t, New(Config{}), []step{{"otlp record without a point", Observation{Traffic: TrafficCrossing}, ReasonUnknownKind}})
}

// The learned tables stay within MaxEntries however many distinct pairs and NICs pass.
func TestBoundedState(t *testing.T) {
	a := New(Config{MaxEntries: 1000})
	for i := 0; i < 100000; i++ {
		src := netip.AddrFrom4([4]byte{10, 1, byte(i >> 8), byte(i)})
		dst := netip.AddrFrom4([4]byte{10, 2, byte(i >> 16), byte(i)})
		a.Decide(&Observation{Kind: observation.KindGatewaySubnet, Traffic: TrafficHairpin, Src: src, Dst: dst, Time: t0.Add(time.Duration(i) * time.Second)})
		a.Decide(&Observation{Kind: observation.KindNIC, Traffic: TrafficInternal, NIC: NICOutbound, Src: src, Dst: dst, MAC: string(rune(i)), Time: t0})
		if p, n := a.Sizes(); p > 1000 || n > 1000 {
			t.Fatalf("after %d records: %d pairs, %d NICs", i, p, n)
		}
	}
}

func BenchmarkDecide(b *testing.B) {
	a := New(Config{})
	o := Observation{Kind: observation.KindVNet, Traffic: TrafficInternal, NIC: NICOutbound, Src: spoke1, Dst: spoke2, MAC: "NIC1", Time: t0}
	b.ReportAllocs()
	for i := 0; i < b.N; i++ {
		a.Decide(&o)
	}
	runtime.KeepAlive(a)
}
