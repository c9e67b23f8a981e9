// Command la-cost measures what flow records cost in Log Analytics, raw (one ErvizFlows_CL row
// per record) against one-minute rollups (ErvizFlowRollups_CL rows of the flowrollup
// connector's default dimensions): rows, bytes sent (JSON, and gzip as the exporter sends it)
// and an estimate of the billed size (the columns' values; TimeGenerated and the JSON syntax
// are not billed), per hour.
//
//	go run ./la-cost -demo ../data/demo/out/logs.json   the demo's output (file exporter, OTLP JSON lines)
//	go run ./la-cost -rate 1000 -duration 10m           a synthetic load, scaled to one hour
package main

import (
	"bufio"
	"encoding/json"
	"flag"
	"fmt"
	"math/rand/v2"
	"os"
	"time"

	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/plog"

	"github.com/erviz/otelcol-erviz/pkg/flowrollup"
	"github.com/erviz/otelcol-erviz/pkg/loganalytics"
)

// The flowrollup connector's default dimensions (connector/flowrollupconnector/config.go).
var dimensions = []string{
	"flow.direction", "flow.observation.point", "flow.counted", "flow.link",
	"source.address", "destination.address", "flow.server.port", "network.transport", "flow.service",
	"flow.src.route.class", "flow.dst.route.class",
}

type tally struct{ rows, json, gzip, billed int64 }

func (t *tally) add(reqs []loganalytics.Request) {
	for _, r := range reqs {
		t.rows += int64(len(r.Refs))
		t.json += int64(len(r.Body))
		t.gzip += int64(len(loganalytics.Gzip(r.Body)))
		var rows []map[string]json.RawMessage
		if err := json.Unmarshal(r.Body, &rows); err != nil {
			panic(err)
		}
		for _, row := range rows {
			for k, v := range row {
				if k == "TimeGenerated" {
					continue
				}
				n := int64(len(v))
				if len(v) > 0 && v[0] == '"' {
					n -= 2
				}
				t.billed += n
			}
		}
	}
}

type meter struct {
	packer      *loganalytics.Packer
	rollup      *flowrollup.Table
	raw, rolled tally
	flows       int64
}

// Without the addresses: traffic per service, port, link and route class only.
var dimensionsNoAddr = []string{
	"flow.direction", "flow.observation.point", "flow.counted", "flow.link",
	"flow.server.port", "network.transport", "flow.service", "flow.src.route.class", "flow.dst.route.class",
}

func newMeter(dimensions []string) *meter {
	p := &loganalytics.Packer{Mapper: loganalytics.NewMapper(nil)}
	for k, t := range loganalytics.Tables {
		p.Streams[k] = t.Stream
	}
	return &meter{packer: p, rollup: flowrollup.New(time.Minute, dimensions, 100000)}
}

// feed maps the flow records of ld to raw rows and adds them to the rollup.
func (m *meter) feed(ld plog.Logs) {
	reqs, _ := m.packer.Pack(ld)
	for _, r := range reqs {
		if r.Kind == loganalytics.KindFlows {
			m.raw.add([]loganalytics.Request{r})
		}
	}
	for _, rl := range ld.ResourceLogs().All() {
		for _, sl := range rl.ScopeLogs().All() {
			for _, lr := range sl.LogRecords().All() {
				if _, ok := lr.Attributes().Get("flow.type"); !ok {
					continue
				}
				m.flows++
				m.rollup.Add(lr.Timestamp().AsTime(), lr.Attributes(), rl.Resource().Attributes(), lr.Timestamp().AsTime())
			}
		}
	}
}

// flush turns the rollup's series into rows.
func (m *meter) flush() {
	series := m.rollup.Flush()
	if len(series) == 0 {
		return
	}
	ld := plog.NewLogs()
	m.rollup.AppendRecords(ld.ResourceLogs().AppendEmpty().ScopeLogs().AppendEmpty().LogRecords(), series, time.Now())
	reqs, _ := m.packer.Pack(ld)
	m.rolled.add(reqs)
}

func (m *meter) report(name string, scale float64) {
	gb := func(b int64) float64 { return float64(b) * scale * 24 / 1e9 }
	fmt.Printf("%s: %d flow records\n", name, m.flows)
	fmt.Printf("  %-8s %12s %14s %14s %14s %12s %12s\n", "", "rows/h", "JSON MB/h", "gzip MB/h", "billed MB/h", "billed GB/d", "B/row")
	for _, x := range []struct {
		n string
		t tally
	}{{"raw", m.raw}, {"rollups", m.rolled}} {
		per := 0.0
		if x.t.rows > 0 {
			per = float64(x.t.billed) / float64(x.t.rows)
		}
		fmt.Printf("  %-8s %12.0f %14.2f %14.2f %14.2f %12.2f %12.0f\n", x.n, float64(x.t.rows)*scale,
			float64(x.t.json)*scale/1e6, float64(x.t.gzip)*scale/1e6, float64(x.t.billed)*scale/1e6, gb(x.t.billed), per)
	}
	if m.rolled.rows > 0 {
		fmt.Printf("  reduction: %.1fx rows, %.1fx billed bytes\n", float64(m.raw.rows)/float64(m.rolled.rows), float64(m.raw.billed)/float64(m.rolled.billed))
	}
}

func main() {
	demo := flag.String("demo", "", "OTLP JSON lines (file exporter output) to measure instead of a synthetic load")
	rate := flag.Int("rate", 1000, "synthetic flow records per second")
	duration := flag.Duration("duration", 10*time.Minute, "synthetic time simulated (the figures are scaled to one hour)")
	seed := flag.Uint64("seed", 1, "random seed")
	noAddr := flag.Bool("no-addresses", false, "roll up without source.address and destination.address")
	flag.Parse()
	dims := dimensions
	if *noAddr {
		dims = dimensionsNoAddr
	}
	m := newMeter(dims)
	if *demo != "" {
		f, err := os.Open(*demo)
		if err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(1)
		}
		sc := bufio.NewScanner(f)
		sc.Buffer(make([]byte, 1<<20), 256<<20)
		for sc.Scan() {
			ld, err := (&plog.JSONUnmarshaler{}).UnmarshalLogs(sc.Bytes())
			if err != nil {
				fmt.Fprintln(os.Stderr, err)
				os.Exit(1)
			}
			m.feed(ld)
		}
		m.flush()
		m.report("demo (counts per replay, not per hour)", 1)
		return
	}
	g := newGenerator(*seed)
	start := time.Date(2026, 11, 22, 5, 0, 0, 0, time.UTC)
	total := int(duration.Seconds()) * *rate
	const batch = 10000
	for done := 0; done < total; done += batch {
		ld := plog.NewLogs()
		rl := ld.ResourceLogs().AppendEmpty()
		n := min(batch, total-done)
		g.fill(rl, start, done, n, *rate)
		m.feed(ld)
		// Flush at each minute boundary, as the connector does every interval.
		if (done+n)/(*rate*60) != done/(*rate*60) {
			m.flush()
		}
	}
	m.flush()
	m.report(fmt.Sprintf("synthetic %d flows/s for %s", *rate, *duration), float64(time.Hour)/float64(*duration))
}

// generator makes flow records as the ipfix receiver and the sampling processor emit them for
// an ExpressRoute edge: 5,000 on-premises clients of skewed activity (Zipf, s=1.1), each talking
// to 3 of 300 Azure servers (popular servers more often), a skewed service mix, ephemeral
// client ports, two links and two observation points (the edge's IPFIX, counted, and the
// GatewaySubnet's flow log, not counted).
type generator struct {
	r       *rand.Rand
	clients []string
	servers []string
	zipf    *rand.Zipf
	czipf   *rand.Zipf
	peers   [][3]int
}

func newGenerator(seed uint64) *generator {
	r := rand.New(rand.NewPCG(seed, seed))
	g := &generator{r: r, zipf: rand.NewZipf(r, 1.2, 1, 299), czipf: rand.NewZipf(r, 1.1, 1, 4999)}
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

func (g *generator) fill(rl plog.ResourceLogs, start time.Time, offset, n, rate int) {
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
