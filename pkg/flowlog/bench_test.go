package flowlog

import (
	"sync"
	"testing"
)

// benchBlob is a generated 4.2 MB VNet PT1H.json (55 records of a busy NIC,
// 50,834 tuples, 83 bytes per tuple on average) and its 57 blocks, shared by
// the benchmarks.
var benchBlob = sync.OnceValues(func() ([]byte, [][]byte) {
	blocks := genVNetBlocks(42, 4<<20)
	return joinBlocks(blocks), blocks
})

func reportTuples(b *testing.B, tuples int) {
	b.ReportMetric(float64(tuples)/b.Elapsed().Seconds(), "tuples/s")
}

// BenchmarkParse measures the streaming parser on the whole document.
func BenchmarkParse(b *testing.B) {
	doc, _ := benchBlob()
	p := NewParser()
	tuples := 0
	fn := func(r *Record) error { tuples += len(r.Tuples); return nil }
	b.SetBytes(int64(len(doc)))
	b.ReportAllocs()
	for b.Loop() {
		if err := p.ParseDocument(doc, fn); err != nil {
			b.Fatal(err)
		}
	}
	reportTuples(b, tuples)
}

// BenchmarkParseBlocks measures the streaming parser fed block by block, as
// an incremental reader would.
func BenchmarkParseBlocks(b *testing.B) {
	doc, blocks := benchBlob()
	p := NewParser()
	tuples := 0
	fn := func(r *Record) error { tuples += len(r.Tuples); return nil }
	b.SetBytes(int64(len(doc)))
	b.ReportAllocs()
	for b.Loop() {
		for _, blk := range blocks {
			if err := p.ParseChunk(blk, fn); err != nil {
				b.Fatal(err)
			}
		}
	}
	reportTuples(b, tuples)
}

// BenchmarkBaseline measures encoding/json into structs plus strings.Split
// of every tuple, producing the same typed tuples.
func BenchmarkBaseline(b *testing.B) {
	doc, _ := benchBlob()
	tuples := 0
	fn := func(r *Record) error { tuples += len(r.Tuples); return nil }
	b.SetBytes(int64(len(doc)))
	b.ReportAllocs()
	for b.Loop() {
		if err := baselineParse(doc, fn); err != nil {
			b.Fatal(err)
		}
	}
	reportTuples(b, tuples)
}
