package samplingprocessor

import (
	"context"
	"testing"

	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/plog"
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
