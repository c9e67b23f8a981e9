package flowrollup

import (
	"fmt"
	"testing"
	"time"

	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/plog"
)

var t0 = time.Date(2026, 11, 22, 5, 10, 0, 0, time.UTC)

func attrs(raw map[string]any) pcommon.Map {
	m := pcommon.NewMap()
	_ = m.FromRaw(raw)
	return m
}

func flow(src string, port, bytes int) pcommon.Map {
	return attrs(map[string]any{"source.address": src, "flow.server.port": port, "flow.direction": "to_azure",
		"flow.io.bytes": bytes, "flow.io.packets": 1, "flow.to_azure.io.bytes": bytes, "source.port": 40000 + bytes})
}

var dims = []string{"flow.direction", "source.address", "flow.server.port", "flow.exporter.address"}

func TestSumsPerWindowAndDimensions(t *testing.T) {
	tb := New(time.Minute, dims, 100)
	res := attrs(map[string]any{"flow.exporter.address": "192.0.2.1"})
	for i := range 10 {
		tb.Add(t0.Add(time.Duration(i)*time.Second), flow("10.0.0.1", 443, 100), res, t0)
	}
	tb.Add(t0.Add(61*time.Second), flow("10.0.0.1", 443, 7), res, t0) // next window
	tb.Add(t0, flow("10.0.0.2", 443, 5), res, t0)                     // another source
	tb.Add(t0, flow("10.0.0.1", 443, 5), pcommon.NewMap(), t0)        // no exporter address: another series
	if got := tb.Add(t0, attrs(map[string]any{"bgp.event": "x"}), res, t0); got != NotFlow {
		t.Errorf("a record without counters: %v", got)
	}
	if got := tb.Add(t0, attrs(map[string]any{"flow.io.bytes": 1, AttrFlows: 3}), res, t0); got != NotFlow {
		t.Errorf("a rollup record: %v", got)
	}
	series := tb.Flush()
	if len(series) != 4 {
		t.Fatalf("%d series, want 4", len(series))
	}
	s := series[0]
	if s.Window != t0.UnixNano() || s.Flows != 10 || s.Sums[0] != 1000 || s.Sums[2] != 1000 || s.Has[4] {
		t.Errorf("first series %+v", s)
	}
	if series[1].Window != t0.Add(time.Minute).UnixNano() || series[1].Sums[0] != 7 {
		t.Errorf("second window %+v", series[1])
	}
	if series[3].Dims[3] != (pcommon.Value{}) {
		t.Errorf("absent dimension has a value: %v", series[3].Dims[3].AsString())
	}
	if tb.Len() != 0 || len(tb.Flush()) != 0 {
		t.Error("flush does not empty the table")
	}
	ld := plog.NewLogs()
	lrs := ld.ResourceLogs().AppendEmpty().ScopeLogs().AppendEmpty().LogRecords()
	tb.AppendRecords(lrs, series, t0)
	a := lrs.At(0).Attributes()
	want := map[string]any{"flow.direction": "to_azure", "source.address": "10.0.0.1", "flow.server.port": int64(443),
		"flow.exporter.address": "192.0.2.1", "flow.io.bytes": int64(1000), "flow.io.packets": int64(10),
		"flow.to_azure.io.bytes": int64(1000), AttrFlows: int64(10), AttrInterval: int64(60)}
	if fmt.Sprint(a.AsRaw()) != fmt.Sprint(want) {
		t.Errorf("record %v\nwant %v", a.AsRaw(), want)
	}
	if lrs.At(0).Timestamp().AsTime() != t0 {
		t.Errorf("timestamp %v", lrs.At(0).Timestamp().AsTime())
	}
}

func TestSeriesCapOverflow(t *testing.T) {
	tb := New(time.Minute, dims, 3)
	res := pcommon.NewMap()
	var over int
	for i := range 10 {
		if tb.Add(t0, flow(fmt.Sprintf("10.0.0.%d", i), 443, 10), res, t0.Add(5*time.Minute)) == Overflow {
			over++
		}
	}
	if over != 7 || tb.Len() != 3 {
		t.Fatalf("%d overflowed, %d series", over, tb.Len())
	}
	series := tb.Flush()
	o := series[len(series)-1]
	if !o.Overflow || o.Flows != 7 || o.Sums[0] != 70 || o.Window != t0.Add(5*time.Minute).UnixNano() {
		t.Errorf("overflow series %+v", o)
	}
	var total int64
	for _, s := range series {
		total += s.Sums[0]
	}
	if total != 100 {
		t.Errorf("bytes %d, want 100: the overflow loses nothing", total)
	}
}

func BenchmarkAdd(b *testing.B) {
	tb := New(time.Minute, []string{"flow.direction", "flow.observation.point", "flow.link", "source.address",
		"destination.address", "flow.server.port", "network.transport", "flow.service"}, 100000)
	recs := make([]pcommon.Map, 1000)
	for i := range recs {
		recs[i] = flow(fmt.Sprintf("10.0.%d.%d", i/250, i%250), 443, 100)
	}
	res := pcommon.NewMap()
	b.ReportAllocs()
	b.ResetTimer()
	i := 0
	for b.Loop() {
		tb.Add(t0, recs[i%len(recs)], res, t0)
		i++
	}
}
