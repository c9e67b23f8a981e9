package ipfixreceiver

import (
	"net/netip"
	"testing"

	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/plog"

	"github.com/erviz/otelcol-erviz/internal/schema"
	"github.com/erviz/otelcol-erviz/pkg/ipfix"
)

// floorAttr is one attribute of a converted record, already in its final form.
type floorAttr struct {
	key   string
	str   string
	num   int64
	isStr bool
}

// floorRecords converts the records of one benchMessages data message with batch.add and
// returns, per record, its timestamps and attributes as plain values.
func floorRecords(tb testing.TB, records int) (ts, obs []pcommon.Timestamp, attrs [][]floorAttr) {
	tmpl, data := benchMessages(records)
	d := ipfix.NewDecoder(ipfix.Config{})
	exp := netip.MustParseAddr("192.0.2.1")
	if err := d.Decode(exp, tmpl, nil); err != nil {
		tb.Fatal(err)
	}
	b := newBatch(newAddrNames(64), 0)
	if err := d.Decode(exp, data, func(r *ipfix.Record) { b.add(r, 1) }); err != nil {
		tb.Fatal(err)
	}
	lrs := b.logs.ResourceLogs().At(0).ScopeLogs().At(0).LogRecords()
	for i := range lrs.Len() {
		lr := lrs.At(i)
		ts, obs = append(ts, lr.Timestamp()), append(obs, lr.ObservedTimestamp())
		var as []floorAttr
		for k, v := range lr.Attributes().All() {
			if v.Type() == pcommon.ValueTypeStr {
				as = append(as, floorAttr{key: k, str: v.Str(), isStr: true})
			} else {
				as = append(as, floorAttr{key: k, num: v.Int()})
			}
		}
		attrs = append(attrs, as)
	}
	return ts, obs, attrs
}

// BenchmarkPdataFloor is the cheapest building of the records BenchmarkHandle builds: the
// same attributes, in the same order, already formatted, put with one EnsureCapacity into log
// records grouped as the receiver groups them, in batches of 1,000 (no decoding, no look-up,
// no formatting). BenchmarkHandle's ns/record over this one is our cost as a ratio to pdata's.
func BenchmarkPdataFloor(b *testing.B) {
	const records, batchSize = 20, 1000
	ts, obs, attrs := floorRecords(b, records)
	newLogs := func() plog.LogRecordSlice {
		ld := plog.NewLogs()
		rl := ld.ResourceLogs().AppendEmpty()
		rl.Resource().Attributes().PutStr(schema.FlowExporterAddress, "192.0.2.1")
		rl.Resource().Attributes().PutInt(schema.FlowObservationDomainID, 1)
		sl := rl.ScopeLogs().AppendEmpty()
		sl.Scope().SetName(scopeName)
		return sl.LogRecords()
	}
	s, n := newLogs(), 0
	b.ReportAllocs()
	cpu := processCPU()
	for b.Loop() {
		for i := range records {
			lr := s.AppendEmpty()
			lr.SetTimestamp(ts[i])
			lr.SetObservedTimestamp(obs[i])
			a := lr.Attributes()
			a.EnsureCapacity(len(attrs[i]))
			for _, f := range attrs[i] {
				if f.isStr {
					a.PutStr(f.key, f.str)
				} else {
					a.PutInt(f.key, f.num)
				}
			}
		}
		if n += records; n >= batchSize {
			s, n = newLogs(), 0
		}
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*records), "ns/record")
	b.ReportMetric(float64((processCPU()-cpu).Nanoseconds())/float64(b.N*records), "cpu-ns/record")
}
