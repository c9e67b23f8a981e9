package samplingprocessor

import (
	"context"
	"runtime"
	"testing"

	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/component"
	"go.opentelemetry.io/collector/component/componenttest"
	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/plog"

	"github.com/erviz/otelcol-erviz/internal/ribregistry"
	"github.com/erviz/otelcol-erviz/processor/samplingprocessor/internal/metadatatest"
)

// addedAttr is one attribute that routing adds to a record.
type addedAttr struct {
	key   string
	str   string
	num   int64
	isNum bool
}

// eachRecord calls fn with the attributes of every log record of ld, in order.
func eachRecord(ld plog.Logs, fn func(k int, attrs pcommon.Map)) {
	k := 0
	rls := ld.ResourceLogs()
	for i := 0; i < rls.Len(); i++ {
		sls := rls.At(i).ScopeLogs()
		for j := 0; j < sls.Len(); j++ {
			lrs := sls.At(j).LogRecords()
			for r := 0; r < lrs.Len(); r++ {
				fn(k, lrs.At(r).Attributes())
				k++
			}
		}
	}
}

// routeAdded is, per record of batch, the attributes that routing adds to it: those that the
// routed processor leaves on the record and the processor without routing does not (the same
// keys, types and values).
func routeAdded(b *testing.B, off, on *samplingProcessor, batch plog.Logs) [][]addedAttr {
	x, y := plog.NewLogs(), plog.NewLogs()
	batch.CopyTo(x)
	batch.CopyTo(y)
	_, _ = off.processLogs(context.Background(), x)
	_, _ = on.processLogs(context.Background(), y)
	var offAttrs []pcommon.Map
	eachRecord(x, func(_ int, a pcommon.Map) { offAttrs = append(offAttrs, a) })
	var out [][]addedAttr
	n := 0
	eachRecord(y, func(k int, a pcommon.Map) {
		var add []addedAttr
		a.Range(func(key string, v pcommon.Value) bool {
			if _, ok := offAttrs[k].Get(key); !ok {
				switch v.Type() {
				case pcommon.ValueTypeInt:
					add = append(add, addedAttr{key: key, num: v.Int(), isNum: true})
				default:
					add = append(add, addedAttr{key: key, str: v.AsString()})
				}
			}
			return true
		})
		n += len(add)
		out = append(out, add)
	})
	if n == 0 {
		b.Fatal("routing added no attribute")
	}
	b.ReportMetric(float64(n)/float64(len(out)), "route-attrs/record")
	return out
}

// pdataFloor is the processor without routing plus the cost of putting the attributes that
// routing adds (added, precomputed: no look-up, no formatting) with pdata's cheapest calls,
// the record's attributes grown once for all: the least that writing them can cost.
func pdataFloor(off *samplingProcessor, added [][]addedAttr) func(plog.Logs) {
	return func(ld plog.Logs) {
		eachRecord(ld, func(_ int, a pcommon.Map) { a.EnsureCapacity(a.Len() + maxAdded + maxRouteAdded) })
		_, _ = off.processLogs(context.Background(), ld)
		eachRecord(ld, func(k int, a pcommon.Map) {
			for _, kv := range added[k] {
				if kv.isNum {
					a.PutInt(kv.key, kv.num)
				} else {
					a.PutStr(kv.key, kv.str)
				}
			}
		})
	}
}

// BenchmarkRoutingSideBySide runs routing off, the pdata floor and routing on in turn on
// copies of the same batch, each iteration all three, so that the load of a shared machine
// weighs on them alike. It reports each one's CPU ns per record (garbage collection
// included), what routing and the floor add over off, and their ratio.
func BenchmarkRoutingSideBySide(b *testing.B) {
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
	for _, addrs := range []string{"article", "table"} {
		b.Run("addrs="+addrs, func(b *testing.B) {
			batch := benchBatch(b)
			if addrs == "table" {
				batch = tableBatch(b)
			}
			off, on := newP(false), newP(true)
			fns := []func(plog.Logs){
				func(ld plog.Logs) { _, _ = off.processLogs(context.Background(), ld) },
				pdataFloor(off, routeAdded(b, off, on, batch)),
				func(ld plog.Logs) { _, _ = on.processLogs(context.Background(), ld) },
			}
			records := batch.LogRecordCount()
			var cpu [3]int64
			work := make([]plog.Logs, 3)
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				b.StopTimer()
				for j := range work {
					work[j] = plog.NewLogs()
					batch.CopyTo(work[j])
				}
				if i%8 == 0 {
					runtime.GC()
				}
				b.StartTimer()
				for j, fn := range fns {
					c0 := cpuNanos()
					fn(work[j])
					cpu[j] += cpuNanos() - c0
				}
			}
			per := func(j int) float64 { return float64(cpu[j]) / float64(b.N) / float64(records) }
			b.ReportMetric(per(0), "off-cpu-ns/record")
			b.ReportMetric(per(1), "floor-cpu-ns/record")
			b.ReportMetric(per(2), "on-cpu-ns/record")
			b.ReportMetric(per(1)-per(0), "floor-added-ns")
			b.ReportMetric(per(2)-per(0), "on-added-ns")
			b.ReportMetric((per(2)-per(0))/(per(1)-per(0)), "on/floor-added")
		})
	}
}
