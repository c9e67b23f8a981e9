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

// BenchmarkPdataPrototype is the alternative to putting attributes one by one: copy a
// prepared map (CopyTo does not scan for duplicate keys) and set the values that vary from
// record to record (here all but flow.type, transport, network type, sampling rate and
// sampler). Each Set allocates a new value box on top of the one CopyTo allocated.
func BenchmarkPdataPrototype(b *testing.B) {
	const records, batchSize = 20, 1000
	ts, obs, attrs := floorRecords(b, records)
	constant := map[string]bool{schema.FlowType: true, schema.NetworkTransport: true, schema.NetworkType: true,
		schema.FlowSamplingRate: true, schema.FlowSamplerAddress: true}
	proto := pcommon.NewMap()
	for _, f := range attrs[0] {
		if f.isStr {
			proto.PutStr(f.key, f.str)
		} else {
			proto.PutInt(f.key, f.num)
		}
	}
	newLogs := func() plog.LogRecordSlice {
		return plog.NewLogs().ResourceLogs().AppendEmpty().ScopeLogs().AppendEmpty().LogRecords()
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
			proto.CopyTo(a)
			j := 0
			for k, v := range a.All() {
				f := attrs[i][j]
				j++
				switch {
				case constant[k]:
				case f.isStr:
					v.SetStr(f.str)
				default:
					v.SetInt(f.num)
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
