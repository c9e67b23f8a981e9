package samplingprocessor

import (
	"context"
	"net/netip"
	"os"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/component"
	"go.opentelemetry.io/collector/component/componenttest"
	"go.opentelemetry.io/collector/pdata/plog"

	"github.com/erviz/otelcol-erviz/internal/ribregistry"
	"github.com/erviz/otelcol-erviz/internal/schema"
	"github.com/erviz/otelcol-erviz/pkg/rib"
	"github.com/erviz/otelcol-erviz/pkg/rib/ribtest"
	"github.com/erviz/otelcol-erviz/processor/samplingprocessor/internal/metadatatest"
)

var (
	fullOnce sync.Once
	fullRIB  *rib.RIB
	fullRSS  [2]float64 // MiB before and after loading the table
)

// rssMiB is the process's resident set (VmRSS), in MiB.
func rssMiB() float64 {
	b, err := os.ReadFile("/proc/self/status")
	if err != nil {
		return 0
	}
	for _, l := range strings.Split(string(b), "\n") {
		if f := strings.Fields(l); len(f) >= 2 && f[0] == "VmRSS:" {
			kb, _ := strconv.ParseFloat(f[1], 64)
			return kb / 1024
		}
	}
	return 0
}

// fullTable is pkg/rib's bench data (1M IPv4 + 200k IPv6 prefixes) plus the article's
// Azure and on-premises space, as the bgp receiver holds it (default analyses on).
func fullTable(b *testing.B) *rib.RIB {
	fullOnce.Do(func() {
		fullRSS[0] = rssMiB()
		r, err := rib.New(rib.DefaultConfig())
		require.NoError(b, err)
		now := time.Now()
		require.NoError(b, ribtest.Synthetic().Load(r, now))
		rs := rib.Peer{Addr: netip.MustParseAddr("10.0.0.4"), ASN: 65515, Name: "rs"}
		ce := rib.Peer{Addr: netip.MustParseAddr("192.0.2.1"), ASN: 65001, Name: "ce"}
		require.NoError(b, r.Announce(now, rs, rib.Path{Prefix: netip.MustParsePrefix("10.0.0.0/14"), NextHop: rs.Addr, ASPath: rib.Seq(65515)}))
		require.NoError(b, r.Announce(now, ce, rib.Path{Prefix: netip.MustParsePrefix("192.168.0.0/16"), NextHop: ce.Addr, ASPath: rib.Seq(65001)}))
		fullRIB = r
		fullRSS[1] = rssMiB()
	})
	return fullRIB
}

// tableBatch is benchBatch with every source and destination replaced by an address of a
// random table prefix (each record its own pair: look-ups walk cold parts of the trie).
func tableBatch(b *testing.B) plog.Logs {
	ld := benchBatch(b)
	addrs := ribtest.Synthetic().Addrs(2000, false, 3)
	lrs := ld.ResourceLogs().At(0).ScopeLogs().At(0).LogRecords()
	for k := 0; k < lrs.Len(); k++ {
		a := lrs.At(k).Attributes()
		a.PutStr(schema.SourceAddress, addrs[2*k].String())
		a.PutStr(schema.DestinationAddress, addrs[2*k+1].String())
	}
	return ld
}

// benchLoopWith is benchLoop on a given batch. Besides wall-clock ns/record it reports
// cpu-ns/record, the process's CPU time spent in the processor calls (garbage collection
// included) per record: steadier than wall-clock time on a machine shared with other jobs.
func benchLoopWith(b *testing.B, template plog.Logs, fn func(plog.Logs)) {
	const chunk = 32
	work := make([]plog.Logs, chunk)
	var cpu int64
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		if i%chunk == 0 {
			b.StopTimer()
			for j := range work {
				work[j] = plog.NewLogs()
				template.CopyTo(work[j])
			}
			runtime.GC()
			b.StartTimer()
		}
		c0 := cpuNanos()
		fn(work[i%chunk])
		cpu += cpuNanos() - c0
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N)/1000, "ns/record")
	b.ReportMetric(float64(cpu)/float64(b.N)/1000, "cpu-ns/record")
}

// BenchmarkRouting: the processor on batches of 1,000 IPFIX records with routing off and
// on (routing.source on the full table, from_routes), on the article's addresses and on
// random table addresses; "lookup-only" looks both sides up and classifies by the routes but
// writes no route attribute (the look-ups' share); "class-only" writes only the class of each
// side (routing.attributes: [class]); "churn" adds 10k route changes per second
// beside the records; "pdata-floor" is routing off plus putting the attributes that "on" adds,
// precomputed (routing_floor_bench_test.go): what writing them costs in pdata alone.
// rss-MiB is the process's resident set after the run; rib-MiB what loading the table added.
func BenchmarkRouting(b *testing.B) {
	r := fullTable(b)
	src := ribregistry.NewSource(component.MustNewIDWithName("bgp", "bench"), r)
	src.SetConverged()
	defer ribregistry.Register(src)()

	newP := func(routed bool) *samplingProcessor {
		cfg := loadConfig(b, "article")
		if routed {
			cfg.Routing.Source = "bgp/bench"
			cfg.Direction.FromRoutes = true
		}
		p, err := newProcessor(metadatatest.NewSettings(componenttest.NewTelemetry()), cfg)
		require.NoError(b, err)
		require.NoError(b, p.start(context.Background(), componenttest.NewNopHost()))
		return p
	}
	batches := map[string]plog.Logs{"article": benchBatch(b), "table": tableBatch(b)}
	for _, addrs := range []string{"article", "table"} {
		for _, mode := range []string{"off", "pdata-floor", "lookup-only", "class-only", "on", "on+churn"} {
			b.Run("addrs="+addrs+"/routing="+mode, func(b *testing.B) {
				p := newP(mode != "off" && mode != "pdata-floor")
				fn := func(ld plog.Logs) { _, _ = p.processLogs(context.Background(), ld) }
				if mode == "pdata-floor" {
					fn = pdataFloor(p, routeAdded(b, p, newP(true), batches[addrs]))
				}
				switch mode {
				case "lookup-only":
					p.router.lookupOnly = true
				case "class-only":
					p.router.fields = fieldClass
				}
				var stop chan struct{}
				var updates atomic.Int64
				var wg sync.WaitGroup
				if mode == "on+churn" {
					stop = make(chan struct{})
					wg.Add(1)
					go churn(r, stop, &updates, &wg)
				}
				start := time.Now()
				benchLoopWith(b, batches[addrs], fn)
				if stop != nil {
					close(stop)
					wg.Wait()
					b.ReportMetric(float64(updates.Load())/time.Since(start).Seconds(), "updates/s")
				}
				b.ReportMetric(rssMiB(), "rss-MiB")
				b.ReportMetric(fullRSS[1]-fullRSS[0], "rib-MiB")
			})
		}
	}
}

// churn changes routes of the table at 10k updates/s (a path of a second peer announced,
// then withdrawn) until stop closes: every millisecond it catches up with the rate, so a
// late tick on a loaded machine is made up for.
const churnRate = 10_000

func churn(r *rib.RIB, stop chan struct{}, updates *atomic.Int64, wg *sync.WaitGroup) {
	defer wg.Done()
	s := ribtest.Synthetic()
	other := rib.Peer{Addr: netip.MustParseAddr("192.0.2.9"), ASN: 64501, Name: "churn"}
	tick := time.NewTicker(time.Millisecond)
	defer tick.Stop()
	i := 0
	start := time.Now()
	for {
		select {
		case <-stop:
			return
		case <-tick.C:
		}
		for int64(i) < time.Since(start).Nanoseconds()*churnRate/1e9 {
			p := s.Prefixes[(i/2)%ribtest.Size4]
			if i%2 == 0 {
				_ = r.Announce(time.Now(), other, rib.Path{Prefix: p, NextHop: other.Addr, ASPath: rib.Seq(64501, 65001)})
			} else {
				r.Withdraw(time.Now(), other, p)
			}
			i++
			updates.Add(1)
		}
	}
}
