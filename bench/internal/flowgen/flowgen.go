// Package flowgen makes synthetic flow records for the cost and throughput measurements of
// bench/la-cost and bench/la-peer.
package flowgen

import (
	"fmt"
	"math/rand/v2"
	"time"

	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/plog"
)

// Generator makes flow records as the ipfix receiver and the sampling processor emit them for
// an ExpressRoute edge: 5,000 on-premises clients of skewed activity (Zipf, s=1.1), each talking
// to 3 of 300 Azure servers (popular servers more often), a skewed service mix, ephemeral
// client ports, two links and two observation points (the edge's IPFIX, counted, and the
// GatewaySubnet's flow log, not counted).
type Generator struct {
	r       *rand.Rand
	clients []string
	servers []string
	zipf    *rand.Zipf
	czipf   *rand.Zipf
	peers   [][3]int
}

func New(seed uint64) *Generator {
	r := rand.New(rand.NewPCG(seed, seed))
	g := &Generator{r: r, zipf: rand.NewZipf(r, 1.2, 1, 299), czipf: rand.NewZipf(r, 1.1, 1, 4999)}
	g.peers = make([][3]int, 5000)
	for i := range g.peers {
		for j := range 3 {
			g.peers[i][j] = int(g.zipf.Uint64())
		}
	}
	for i := range 5000 {
		g.clients = append(g.clients, fmt.Sprintf("192.168.%d.%d", i/250, 1+i%250))
	}
	for i := range 300 {
		g.servers = append(g.servers, fmt.Sprintf("10.1.%d.%d", i/100, 4+i%100))
	}
	return g
}

var services = []struct {
	port  int64
	proto string
	name  string
	w     int
}{{443, "tcp", "https", 55}, {1433, "tcp", "ms-sql-s", 10}, {445, "tcp", "microsoft-ds", 10}, {53, "udp", "domain", 10}, {22, "tcp", "ssh", 5}, {3389, "tcp", "ms-wbt-server", 5}, {80, "tcp", "http", 5}}

// Fill appends n records to rl, the records offset.. of a load of rate records per second from start.
func (g *Generator) Fill(rl plog.ResourceLogs, start time.Time, offset, n, rate int) {
	res := rl.Resource().Attributes()
	res.PutStr("flow.exporter.address", "192.0.2.11")
	res.PutInt("flow.observation_domain_id", 1)
	sl := rl.ScopeLogs().AppendEmpty()
	for i := range n {
		seq := offset + i
		ts := start.Add(time.Duration(seq) * time.Second / time.Duration(rate))
		ci := int(g.czipf.Uint64())
		client := g.clients[ci]
		server := g.servers[g.peers[ci][g.r.IntN(3)]]
		w := g.r.IntN(100)
		s := services[0]
		for _, x := range services {
			if w < x.w {
				s = x
				break
			}
			w -= x.w
		}
		toAzure := g.r.IntN(100) < 70
		src, dst, sport, dport := client, server, int64(32768+g.r.IntN(28000)), s.port
		dir := "to_azure"
		if !toAzure {
			src, dst, sport, dport = server, client, s.port, int64(32768+g.r.IntN(28000))
			dir = "from_azure"
		}
		link := "primary"
		if g.r.IntN(100) < 20 {
			link = "secondary"
		}
		point, counted := "edge-er-primary", true
		if g.r.IntN(100) < 30 {
			point, counted = "gatewaysubnet", false
		}
		sampled := int64(40 + g.r.IntN(1460))
		lr := sl.LogRecords().AppendEmpty()
		lr.SetTimestamp(pcommon.NewTimestampFromTime(ts))
		lr.SetObservedTimestamp(pcommon.NewTimestampFromTime(ts.Add(time.Minute)))
		a := lr.Attributes()
		a.PutStr("flow.type", "ipfix")
		a.PutStr("source.address", src)
		a.PutInt("source.port", sport)
		a.PutStr("destination.address", dst)
		a.PutInt("destination.port", dport)
		a.PutStr("network.transport", s.proto)
		a.PutStr("network.type", "ipv4")
		a.PutInt("flow.io.bytes", sampled*4096)
		a.PutInt("flow.io.packets", 4096)
		a.PutInt("flow.io.bytes.sampled", sampled)
		a.PutInt("flow.io.packets.sampled", 1)
		a.PutInt("flow.start", ts.UnixNano())
		a.PutInt("flow.end", ts.Add(time.Duration(g.r.IntN(60))*time.Second).UnixNano())
		a.PutInt("flow.sampling_rate", 4096)
		a.PutStr("flow.sampling_rate.source", "record")
		a.PutStr("flow.sampler_address", "192.0.2.11")
		a.PutInt("flow.src_as", 65001)
		a.PutInt("flow.dst_as", 65515)
		a.PutStr("flow.next_hop", "192.168.255.2")
		a.PutStr("flow.bgp_next_hop", "169.254.0.2")
		a.PutInt("flow.in_if", 3)
		a.PutInt("flow.out_if", 4)
		a.PutInt("flow.tcp_flags", 0x1b)
		a.PutInt("flow.ip_tos", 0)
		a.PutInt("flow.sequence_num", int64(seq/20))
		a.PutStr("flow.direction", dir)
		if toAzure {
			a.PutInt("flow.to_azure.io.bytes", sampled*4096)
			a.PutInt("flow.to_azure.io.packets", 4096)
		} else {
			a.PutInt("flow.from_azure.io.bytes", sampled*4096)
			a.PutInt("flow.from_azure.io.packets", 4096)
		}
		a.PutStr("flow.client.address", client)
		a.PutStr("flow.server.address", server)
		a.PutInt("flow.server.port", s.port)
		a.PutStr("flow.service", s.name)
		a.PutStr("flow.link", link)
		a.PutStr("flow.class", "data")
		a.PutStr("flow.observation.point", point)
		a.PutBool("flow.counted", counted)
		a.PutStr("flow.src.route.class", map[bool]string{true: "onprem", false: "azure"}[toAzure])
		a.PutStr("flow.dst.route.class", map[bool]string{true: "azure", false: "onprem"}[toAzure])
	}
}
