package classify

import (
	"math"
	"net/netip"
	"testing"

	"github.com/erviz/otelcol-erviz/internal/cidrset"
)

var (
	ip = netip.MustParseAddr

	edgeRouter = ip("192.0.2.1")
	nva        = ip("192.0.2.50")
)

// hubAndSpoke is the article's topology: on-prem 192.168.0.0/16, spokes 10.1/16 and 10.2/16,
// hub 10.0/16, ExpressRoute link /30s in 169.254.x and 172.16.100.0/29, edge router exporting
// IPFIX sampled 1:4096 on two links.
func hubAndSpoke(t testing.TB) *Classifier {
	t.Helper()
	services, err := ParseServiceMap(map[string]string{"10.1.0.4:8443": "orders-api", "9999": "legacy-batch"})
	if err != nil {
		t.Fatal(err)
	}
	return New(Config{
		Rates: []RateRule{
			{Exporters: cidrset.MustSet("192.0.2.50/32"), Rate: 100, Force: true},
			{Exporters: cidrset.MustSet("192.0.2.0/24"), Rate: 4096},
		},
		AzureASNs:            []uint32{65515},
		AzurePrefixes:        cidrset.MustSet("10.0.0.0/16", "10.1.0.0/16", "10.2.0.0/16"),
		OnpremPrefixes:       cidrset.MustSet("192.168.0.0/16"),
		EdgeExporters:        cidrset.MustSet("192.0.2.0/28"),
		EdgeResources:        []string{"/subnets/GatewaySubnet"},
		ControlPlanePrefixes: cidrset.MustSet("169.254.0.0/16", "172.16.100.0/29"),
		Links: []Link{
			{Name: "primary", NextHops: cidrset.MustSet("172.16.100.2/32")},
			{Name: "secondary", NextHops: cidrset.MustSet("172.16.100.6/32"),
				Interfaces: []Interface{{Exporter: edgeRouter, IfIndex: 12}}},
		},
		Services: services,
	})
}

func tcp(src string, sport uint16, dst string, dport uint16) Flow {
	return Flow{Kind: KindIPFIX, Src: ip(src), Dst: ip(dst), SrcPort: sport, DstPort: dport,
		Proto: protoTCP, HasProto: true, Exporter: edgeRouter, Bytes: 1000, Packets: 10}
}

func TestRescale(t *testing.T) {
	c := hubAndSpoke(t)
	cases := []struct {
		name         string
		f            Flow
		rate         uint64
		src          RateSource
		bytes, pkts  uint64
		l2           uint64
		wantRescaled bool
	}{
		{"rate from config (ERTC-like 1:4096)", tcp("192.168.1.10", 50000, "10.1.0.4", 443), 4096, RateConfig, 1000 * 4096, 10 * 4096, 0, true},
		{"record's own rate wins over config", func() Flow { f := tcp("192.168.1.10", 50000, "10.1.0.4", 443); f.SamplingRate = 512; return f }(), 512, RateRecord, 1000 * 512, 10 * 512, 0, true},
		{"forced rate overrides a lying record", func() Flow {
			f := tcp("192.168.1.10", 50000, "10.1.0.4", 443)
			f.Exporter, f.SamplingRate = nva, 1
			return f
		}(), 100, RateForced, 1000 * 100, 10 * 100, 0, true},
		{"unknown exporter, no default: unknown, counts kept", func() Flow {
			f := tcp("192.168.1.10", 50000, "10.1.0.4", 443)
			f.Exporter = ip("198.51.100.1")
			return f
		}(), 0, RateUnknown, 1000, 10, 0, false},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			var r Result
			c.Classify(&tc.f, true, &r)
			if r.Rate != tc.rate || r.RateSource != tc.src || r.Bytes != tc.bytes || r.Packets != tc.pkts {
				t.Errorf("rate %d (%s) bytes %d packets %d; want %d (%s) %d %d", r.Rate, r.RateSource, r.Bytes, r.Packets, tc.rate, tc.src, tc.bytes, tc.pkts)
			}
		})
	}

	// Default rate and the 14-byte L2 overhead of Microsoft's ERTC queries: (bytes + 14*packets) * rate.
	d := New(Config{DefaultRate: 4096, L2OverheadBytes: 14})
	f := tcp("192.168.1.10", 50000, "10.1.0.4", 443)
	f.RevBytes, f.RevPackets, f.HasReverse = 300, 3, true
	var r Result
	d.Classify(&f, true, &r)
	if r.RateSource != RateDefault || r.Bytes != (1000+14*10)*4096 || r.Packets != 40960 ||
		r.RevBytes != (300+14*3)*4096 || r.RevPackets != 3*4096 {
		t.Errorf("default+l2: %+v", r)
	}

	// Not rescaled twice: with rescale=false the counts stay and the record's rate is reported.
	f = tcp("192.168.1.10", 50000, "10.1.0.4", 443)
	f.SamplingRate = 4096
	c.Classify(&f, false, &r)
	if r.Bytes != 1000 || r.Packets != 10 || r.Rate != 4096 {
		t.Errorf("rescale=false changed counts: %+v", r)
	}

	// Saturation instead of overflow.
	f = tcp("192.168.1.10", 50000, "10.1.0.4", 443)
	f.Bytes, f.SamplingRate = math.MaxUint64/2, 4096
	c.Classify(&f, true, &r)
	if r.Bytes != math.MaxInt64 {
		t.Errorf("overflow not saturated: %d", r.Bytes)
	}
}

func TestDirection(t *testing.T) {
	c := hubAndSpoke(t)
	cases := []struct {
		name string
		f    Flow
		want Direction
	}{
		{"on-prem to spoke", tcp("192.168.1.10", 50000, "10.1.0.4", 443), DirToAzure},
		{"spoke to on-prem", tcp("10.2.0.5", 50000, "192.168.7.7", 445), DirFromAzure},
		{"spoke to spoke", tcp("10.1.0.4", 50000, "10.2.0.5", 443), DirAzureInternal},
		{"on-prem to on-prem", tcp("192.168.1.10", 50000, "192.168.2.20", 22), DirOnpremInternal},
		{"unknown both", tcp("198.51.100.1", 50000, "203.0.113.9", 443), DirUnknown},
		{"dst AS 65515 marks Azure (ERTC rule) without prefixes", func() Flow {
			f := tcp("198.51.100.1", 50000, "203.0.113.9", 443)
			f.DstAS = 65515
			return f
		}(), DirToAzure},
		{"src AS 65515", func() Flow { f := tcp("203.0.113.9", 443, "198.51.100.1", 50000); f.SrcAS = 65515; return f }(), DirFromAzure},
		{"configured prefix beats the AS", func() Flow { f := tcp("192.168.1.10", 50000, "192.168.2.2", 443); f.DstAS = 65515; return f }(), DirOnpremInternal},
	}
	for _, tc := range cases {
		var r Result
		c.Classify(&tc.f, true, &r)
		if r.Direction != tc.want {
			t.Errorf("%s: direction %s, want %s", tc.name, r.Direction, tc.want)
		}
	}
}

// TestStatefulSplit: a flow-log tuple carries both directions. "Bytes towards on-premises"
// is from_azure: the forward counts of flows Azure initiated plus the reverse counts of flows
// on-premises initiated.
func TestStatefulSplit(t *testing.T) {
	c := hubAndSpoke(t)
	in := Flow{Kind: KindVNetFlowLog, Src: ip("192.168.1.10"), Dst: ip("10.1.0.4"), SrcPort: 50000, DstPort: 443,
		Proto: protoTCP, HasProto: true, SamplingRate: 1, Bytes: 1200, Packets: 12, RevBytes: 64000, RevPackets: 50, HasReverse: true}
	var r Result
	c.Classify(&in, true, &r)
	if r.Direction != DirToAzure || r.ToAzureBytes != 1200 || r.ToAzurePackets != 12 || r.FromAzureBytes != 64000 || r.FromAzurePackets != 50 {
		t.Errorf("on-prem initiated: %+v", r)
	}
	out := Flow{Kind: KindVNetFlowLog, Src: ip("10.1.0.4"), Dst: ip("192.168.1.10"), SrcPort: 40000, DstPort: 445,
		Proto: protoTCP, HasProto: true, SamplingRate: 1, Bytes: 5000, Packets: 20, RevBytes: 700, RevPackets: 7, HasReverse: true}
	c.Classify(&out, true, &r)
	if r.Direction != DirFromAzure || r.FromAzureBytes != 5000 || r.ToAzureBytes != 700 || r.ToAzurePackets != 7 || r.FromAzurePackets != 20 {
		t.Errorf("Azure initiated: %+v", r)
	}
	// Flow logs name the initiator as source: client = src even when the ports say otherwise.
	odd := in
	odd.SrcPort, odd.DstPort = 443, 50000
	c.Classify(&odd, true, &r)
	if r.Client != in.Src || r.Server != in.Dst || r.ServerPort != 50000 {
		t.Errorf("flow-log initiator rule: client %s server %s:%d", r.Client, r.Server, r.ServerPort)
	}
}

func TestHairpin(t *testing.T) {
	c := hubAndSpoke(t)
	var r Result
	f := tcp("10.1.0.4", 50000, "10.2.0.5", 443) // seen by the edge router
	c.Classify(&f, true, &r)
	if !r.Hairpin {
		t.Error("spoke-to-spoke at the edge router is hairpin")
	}
	f.Exporter = nva // an exporter that is not at the edge
	c.Classify(&f, true, &r)
	if r.Hairpin {
		t.Error("spoke-to-spoke seen by an NVA outside the edge is not hairpin")
	}
	fl := Flow{Kind: KindVNetFlowLog, Src: ip("10.1.0.4"), Dst: ip("10.2.0.5"), Proto: protoTCP, HasProto: true, SrcPort: 50000, DstPort: 443,
		ResourceID: "/subscriptions/x/resourceGroups/hub/providers/Microsoft.Network/virtualNetworks/hub/subnets/gatewaysubnet"}
	c.Classify(&fl, true, &r)
	if !r.Hairpin {
		t.Error("spoke-to-spoke in the GatewaySubnet flow log (any case) is hairpin")
	}
	fl.ResourceID = "/subscriptions/x/resourceGroups/spoke1/providers/Microsoft.Network/virtualNetworks/spoke1"
	c.Classify(&fl, true, &r)
	if r.Hairpin {
		t.Error("spoke-to-spoke in a spoke's own flow log is not hairpin")
	}
	onprem := tcp("192.168.1.10", 50000, "10.1.0.4", 443)
	c.Classify(&onprem, true, &r)
	if r.Hairpin {
		t.Error("on-prem to Azure is not hairpin")
	}
}

func TestClientServer(t *testing.T) {
	c := hubAndSpoke(t)
	cases := []struct {
		name           string
		f              Flow
		client, server string
		port           uint16
		service        string
	}{
		{"stateless record with source port 80 (server answering)", tcp("10.1.0.4", 80, "192.168.1.10", 51000), "192.168.1.10", "10.1.0.4", 80, "http"},
		{"request to https", tcp("192.168.1.10", 51000, "10.1.0.4", 443), "192.168.1.10", "10.1.0.4", 443, "https"},
		{"service map by address:port", tcp("10.1.0.4", 8443, "192.168.1.10", 51000), "192.168.1.10", "10.1.0.4", 8443, "orders-api"},
		{"service map by port beats IANA", tcp("192.168.1.10", 443, "10.1.0.9", 9999), "192.168.1.10", "10.1.0.9", 9999, "legacy-batch"},
		{"both IANA ports: the lower serves", tcp("192.168.1.10", 8080, "10.1.0.4", 1433), "192.168.1.10", "10.1.0.4", 1433, "ms-sql-s"},
		{"SYN without ACK comes from the client", func() Flow {
			f := tcp("10.1.0.4", 40001, "192.168.1.10", 40000)
			f.TCPFlags, f.HasTCPFlags = tcpSYN, true
			return f
		}(), "10.1.0.4", "192.168.1.10", 40000, ""},
		{"lone SYN-ACK comes from the server", func() Flow {
			f := tcp("10.1.0.4", 40001, "192.168.1.10", 40000)
			f.TCPFlags, f.HasTCPFlags = tcpSYN|tcpACK, true
			return f
		}(), "192.168.1.10", "10.1.0.4", 40001, ""},
		{"no clue: the lower port serves", tcp("10.1.0.4", 40001, "192.168.1.10", 40000), "10.1.0.4", "192.168.1.10", 40000, ""},
	}
	for _, tc := range cases {
		var r Result
		c.Classify(&tc.f, true, &r)
		if !r.HasClientServer || r.Client != ip(tc.client) || r.Server != ip(tc.server) || r.ServerPort != tc.port || r.Service != tc.service {
			t.Errorf("%s: client %s server %s:%d service %q; want %s %s:%d %q", tc.name, r.Client, r.Server, r.ServerPort, r.Service, tc.client, tc.server, tc.port, tc.service)
		}
	}
	icmp := Flow{Kind: KindIPFIX, Src: ip("10.1.0.4"), Dst: ip("192.168.1.10"), Proto: protoICMP, HasProto: true}
	var r Result
	c.Classify(&icmp, true, &r)
	if r.HasClientServer {
		t.Error("ICMP has no client/server ports")
	}
}

func TestLinks(t *testing.T) {
	c := hubAndSpoke(t)
	var r Result
	f := tcp("192.168.1.10", 50000, "10.1.0.4", 443)
	f.NextHop = ip("172.16.100.2")
	c.Classify(&f, true, &r)
	if r.Link != "primary" {
		t.Errorf("next hop 172.16.100.2: link %q", r.Link)
	}
	f.NextHop = netip.Addr{}
	f.BGPNextHop = ip("172.16.100.6")
	c.Classify(&f, true, &r)
	if r.Link != "secondary" {
		t.Errorf("BGP next hop 172.16.100.6: link %q", r.Link)
	}
	f.BGPNextHop = netip.Addr{}
	f.InIf, f.HasInIf = 12, true
	c.Classify(&f, true, &r)
	if r.Link != "secondary" {
		t.Errorf("exporter interface 12: link %q", r.Link)
	}
	f.Exporter = nva
	c.Classify(&f, true, &r)
	if r.Link != "" {
		t.Errorf("interface 12 of another exporter: link %q", r.Link)
	}
	// A rate rule scoped to a link.
	lc := New(Config{Links: []Link{{Name: "secondary", NextHops: cidrset.MustSet("172.16.100.6/32")}},
		Rates: []RateRule{{Link: "secondary", Rate: 1024}, {Rate: 4096}}})
	g := tcp("192.168.1.10", 50000, "10.1.0.4", 443)
	g.NextHop = ip("172.16.100.6")
	lc.Classify(&g, true, &r)
	if r.Rate != 1024 {
		t.Errorf("link-scoped rate: %d", r.Rate)
	}
	g.NextHop = ip("172.16.100.2")
	lc.Classify(&g, true, &r)
	if r.Rate != 4096 {
		t.Errorf("fallback rate: %d", r.Rate)
	}
	// One edge router per link: every record of an exporter is on its link.
	ec := New(Config{Links: []Link{
		{Name: "primary", Exporters: cidrset.MustSet("127.0.0.11/32")},
		{Name: "secondary", Exporters: cidrset.MustSet("127.0.0.12/32")},
	}})
	e := tcp("192.168.1.10", 50000, "10.1.0.4", 443)
	for exp, want := range map[string]string{"127.0.0.11": "primary", "127.0.0.12": "secondary", "127.0.0.13": ""} {
		e.Exporter = ip(exp)
		ec.Classify(&e, true, &r)
		if r.Link != want {
			t.Errorf("exporter %s: link %q, want %q", exp, r.Link, want)
		}
	}
}

func TestControlPlane(t *testing.T) {
	c := hubAndSpoke(t)
	cases := []struct {
		name string
		f    Flow
		want Class
	}{
		{"BGP between link addresses", tcp("172.16.100.1", 179, "172.16.100.2", 50123), ClassControlPlane},
		{"BGP on APIPA (VPN)", tcp("169.254.21.1", 40000, "169.254.21.2", 179), ClassControlPlane},
		{"BFD", Flow{Src: ip("172.16.100.1"), Dst: ip("172.16.100.2"), Proto: protoUDP, HasProto: true, SrcPort: 49152, DstPort: 3784}, ClassControlPlane},
		{"ICMP between link addresses", Flow{Src: ip("172.16.100.1"), Dst: ip("172.16.100.2"), Proto: protoICMP, HasProto: true}, ClassControlPlane},
		{"SSH between link addresses is data", tcp("172.16.100.1", 50000, "172.16.100.2", 22), ClassData},
		{"BGP to a spoke VM is data", tcp("192.168.1.10", 50000, "10.1.0.4", 179), ClassData},
		{"ICMP to a VM is data", Flow{Src: ip("192.168.1.10"), Dst: ip("10.1.0.4"), Proto: protoICMP, HasProto: true}, ClassData},
	}
	for _, tc := range cases {
		var r Result
		c.Classify(&tc.f, true, &r)
		if r.Class != tc.want {
			t.Errorf("%s: class %s, want %s", tc.name, r.Class, tc.want)
		}
	}
}

func TestParseServiceMapErrors(t *testing.T) {
	if _, err := ParseServiceMap(map[string]string{"0": "x", "abc": "y", "10.0.0.1:80": ""}); err == nil {
		t.Fatal("bad service map accepted")
	}
}

func TestContainsFold(t *testing.T) {
	for _, tc := range []struct {
		s, sub string
		want   bool
	}{{"/Subnets/GatewaySubnet", "/subnets/gatewaysubnet", true}, {"abc", "", true}, {"ab", "abc", false}, {"x/subnets/gw", "/subnets/gatewaysubnet", false}} {
		if got := containsFold(tc.s, tc.sub); got != tc.want {
			t.Errorf("containsFold(%q, %q) = %v", tc.s, tc.sub, got)
		}
	}
}

func TestClassifyDoesNotAllocate(t *testing.T) {
	c := hubAndSpoke(t)
	f := tcp("192.168.1.10", 50000, "10.1.0.4", 8443)
	f.NextHop = ip("172.16.100.6")
	var r Result
	if n := testing.AllocsPerRun(1000, func() { c.Classify(&f, true, &r) }); n != 0 {
		t.Errorf("Classify allocates %v times per record", n)
	}
}

func BenchmarkClassify(b *testing.B) {
	c := hubAndSpoke(b)
	flows := []Flow{
		tcp("192.168.1.10", 50000, "10.1.0.4", 443),
		tcp("10.1.0.4", 80, "192.168.1.10", 51000),
		tcp("10.1.0.4", 50000, "10.2.0.5", 443),
		tcp("172.16.100.1", 179, "172.16.100.2", 50123),
	}
	flows[0].NextHop = ip("172.16.100.2")
	var r Result
	b.ReportAllocs()
	i := 0
	for b.Loop() {
		c.Classify(&flows[i&3], true, &r)
		i++
	}
}
