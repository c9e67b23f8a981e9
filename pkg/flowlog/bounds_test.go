package flowlog

import (
	"errors"
	"runtime"
	"strconv"
	"strings"
	"testing"
)

// hugeRecord builds a VNet record with n distinct tuples (some of them bad) in one group.
func hugeRecord(n int) string {
	var b strings.Builder
	b.WriteString(`{"time":"2024-05-14T09:00:52.5625085Z","flowLogVersion":4,"flowLogGUID":"g","macAddress":"6045BDA2C3D4",` +
		`"category":"FlowLogFlowEvent","flowLogResourceID":"/fl","targetResourceID":"/vnet","operationName":"FlowLogFlowEvent",` +
		`"flowRecords":{"flows":[{"aclID":"acl","flowGroups":[{"rule":"r","flowTuples":[`)
	for i := 0; i < n; i++ {
		if i > 0 {
			b.WriteByte(',')
		}
		if i%1000 == 999 {
			b.WriteString(`"not,a,tuple"`)
			continue
		}
		b.WriteString(`"1715677203599,10.1.` + strconv.Itoa(i>>8&255) + `.` + strconv.Itoa(i&255) + `,192.0.2.180,23956,443,6,O,C,NX,1,2,3,4"`)
	}
	b.WriteString(`]}]}]}}`)
	return b.String()
}

func TestMaxTuplesSkipsHugeRecordInBoundedMemory(t *testing.T) {
	const n = 200_000
	chunk := []byte(vnetRec("4", tupA) + "," + hugeRecord(n) + "," + vnetRec("4", tupB, tupC))
	p, c := newCollector(false)
	p.MaxTuples = 1000
	// Warm up the parser's buffers with a record at the bound, then measure the huge one.
	if err := p.ParseChunk([]byte(hugeRecord(999)), c.fn); err != nil {
		t.Fatal(err)
	}
	c.recs, c.errs = nil, nil
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	err := p.ParseChunk(chunk, c.fn)
	runtime.ReadMemStats(&after)
	if err != nil {
		t.Fatal(err)
	}
	if len(c.recs) != 2 || len(c.recs[0].Tuples) != 1 || len(c.recs[1].Tuples) != 2 {
		t.Fatalf("want the records around the huge one delivered, got %d records", len(c.recs))
	}
	if p.Stats.SkippedRecords[SkipTooManyTuples] != 1 {
		t.Fatalf("SkippedRecords = %v", p.Stats.SkippedRecords)
	}
	var re *RecordError
	found := false
	for _, e := range c.errs {
		if errors.As(e, &re) && re.Reason == SkipTooManyTuples {
			found = true
			if re.Start != len(vnetRec("4", tupA))+1 {
				t.Fatalf("record error at %d", re.Start)
			}
		}
	}
	if !found {
		t.Fatalf("no too_many_tuples error in %v", c.errs)
	}
	// Keeping all tuples takes over 100 bytes each (over 20 MB here); the bound keeps the
	// allocations of the huge record to the delivered records' copies and a few buffers.
	if alloc := after.TotalAlloc - before.TotalAlloc; alloc > 4<<20 {
		t.Fatalf("parsing allocated %d bytes for a record of %d bytes", alloc, len(chunk))
	}
}

func TestMaxTuplesAtBoundDelivers(t *testing.T) {
	p, c := newCollector(false)
	p.MaxTuples = 3
	err := p.ParseChunk([]byte(vnetRec("4", tupA, tupB, tupC)+","+vnetRec("4", tupA, tupB, tupC, tupA)), c.fn)
	if err != nil || len(c.recs) != 1 || len(c.recs[0].Tuples) != 3 || p.Stats.SkippedRecords[SkipTooManyTuples] != 1 {
		t.Fatalf("err %v, %d records, stats %+v", err, len(c.recs), p.Stats)
	}
}

func TestMaxRecordBytes(t *testing.T) {
	small, big := vnetRec("4", tupA), vnetRec("4", tupA, tupB, tupC)
	p, c := newCollector(false)
	p.MaxRecordBytes = len(small)
	err := p.ParseChunk([]byte(small+","+big+","+small), c.fn)
	if err != nil || len(c.recs) != 2 || p.Stats.SkippedRecords[SkipTooLarge] != 1 {
		t.Fatalf("err %v, %d records, stats %+v", err, len(c.recs), p.Stats)
	}
}
