package ipfix

import (
	"net/netip"
	"sync"
	"testing"
)

// benchMessages returns a template message and a data message of n
// records of the typical template (5-tuple, counters, times, AS, next
// hop, interfaces, masks: 68 bytes per record).
func benchMessages(n int) [][]byte {
	t := newIPFIX(1748779200, 0, 1)
	t.set(2).tmpl(256, typicalFields...)
	m := newIPFIX(1748779200, 0, 1)
	m.set(256)
	for i := range n {
		writeTypical(m, i)
	}
	return [][]byte{t.bytes(), m.bytes()}
}

const benchRecords = 20

// BenchmarkDecode decodes IPFIX messages of 20 records with a typical
// template, one decoder, reporting ns per record.
func BenchmarkDecode(b *testing.B) {
	msgs := benchMessages(benchRecords)
	d := NewDecoder(Config{})
	exp := netip.MustParseAddr(exporterA)
	var sum uint64
	fn := func(r *Record) { sum += r.Bytes }
	if err := d.Decode(exp, msgs[0], fn); err != nil {
		b.Fatal(err)
	}
	b.SetBytes(int64(len(msgs[1])))
	b.ReportAllocs()
	b.ResetTimer()
	for b.Loop() {
		d.Decode(exp, msgs[1], fn)
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*benchRecords), "ns/record")
	if sum == 0 {
		b.Fatal("nothing decoded")
	}
}

// BenchmarkDecodeNetFlowV9 is the same record layout over NetFlow v9.
func BenchmarkDecodeNetFlowV9(b *testing.B) {
	t := newV9(1000, 1748779200, 0, 1)
	t.set(0).tmpl(256, typicalFields...)
	m := newV9(1000, 1748779200, 1, 1)
	m.set(256)
	for i := range benchRecords {
		writeTypical(m, i)
	}
	d := NewDecoder(Config{})
	exp := netip.MustParseAddr(exporterA)
	var sum uint64
	fn := func(r *Record) { sum += r.Packets }
	d.Decode(exp, t.bytes(), fn)
	msg := m.bytes()
	b.ReportAllocs()
	b.ResetTimer()
	for b.Loop() {
		d.Decode(exp, msg, fn)
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*benchRecords), "ns/record")
}

// BenchmarkDecodeShared has every goroutine share one decoder (the
// mutex serialises them); BenchmarkDecodeSharded gives each goroutine
// its own decoder, as a receiver sharding exporters would.
func BenchmarkDecodeShared(b *testing.B) {
	msgs := benchMessages(benchRecords)
	d := NewDecoder(Config{})
	exp := netip.MustParseAddr(exporterA)
	d.Decode(exp, msgs[0], nil)
	b.ReportAllocs()
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		fn := func(r *Record) {}
		for pb.Next() {
			d.Decode(exp, msgs[1], fn)
		}
	})
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*benchRecords), "ns/record")
}

func BenchmarkDecodeSharded(b *testing.B) {
	msgs := benchMessages(benchRecords)
	exp := netip.MustParseAddr(exporterA)
	var mu sync.Mutex
	b.ReportAllocs()
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		mu.Lock()
		d := NewDecoder(Config{})
		mu.Unlock()
		d.Decode(exp, msgs[0], nil)
		fn := func(r *Record) {}
		for pb.Next() {
			d.Decode(exp, msgs[1], fn)
		}
	})
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*benchRecords), "ns/record")
}
