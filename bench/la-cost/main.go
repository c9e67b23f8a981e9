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
	"os"
	"time"

	"go.opentelemetry.io/collector/pdata/plog"

	"github.com/erviz/otelcol-erviz/bench/internal/flowgen"
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
	g := flowgen.New(*seed)
	start := time.Date(2026, 11, 22, 5, 0, 0, 0, time.UTC)
	total := int(duration.Seconds()) * *rate
	const batch = 10000
	for done := 0; done < total; done += batch {
		ld := plog.NewLogs()
		rl := ld.ResourceLogs().AppendEmpty()
		n := min(batch, total-done)
		g.Fill(rl, start, done, n, *rate)
		m.feed(ld)
		// Flush at each minute boundary, as the connector does every interval.
		if (done+n)/(*rate*60) != done/(*rate*60) {
			m.flush()
		}
	}
	m.flush()
	m.report(fmt.Sprintf("synthetic %d flows/s for %s", *rate, *duration), float64(time.Hour)/float64(*duration))
}
