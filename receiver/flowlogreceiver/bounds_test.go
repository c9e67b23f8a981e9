package flowlogreceiver

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/component/componenttest"
	"go.opentelemetry.io/collector/consumer/consumertest"
	"go.opentelemetry.io/collector/pdata/pmetric"

	"github.com/erviz/otelcol-erviz/internal/schema"
)

// lastErrorCount returns the flowlog.errors data point of one error.type in the last metrics.
func lastErrorCount(ms *consumertest.MetricsSink, kind string) int64 {
	all := ms.AllMetrics()
	if len(all) == 0 {
		return 0
	}
	md := all[len(all)-1]
	var n int64
	for i := 0; i < md.ResourceMetrics().Len(); i++ {
		sms := md.ResourceMetrics().At(i).ScopeMetrics()
		for j := 0; j < sms.Len(); j++ {
			mm := sms.At(j).Metrics()
			for k := 0; k < mm.Len(); k++ {
				if m := mm.At(k); m.Name() == schema.FlowLogErrors {
					for l := 0; l < m.Sum().DataPoints().Len(); l++ {
						dp := m.Sum().DataPoints().At(l)
						if v, _ := dp.Attributes().Get(schema.ErrorType); v.Str() == kind {
							n += dp.IntValue()
						}
					}
				}
			}
		}
	}
	return n
}

func lastTotal(ms *consumertest.MetricsSink, name string) float64 {
	all := ms.AllMetrics()
	if len(all) == 0 {
		return 0
	}
	v, _ := metricTotal(all[len(all)-1], name)
	return v
}

// waitPolls waits for n more polls (each poll emits the metrics once).
func waitPolls(t *testing.T, ms *consumertest.MetricsSink, n int) []pmetric.Metrics {
	t.Helper()
	start := len(ms.AllMetrics())
	waitFor(t, "polls", 20*time.Second, func() bool { return len(ms.AllMetrics()) >= start+n })
	return ms.AllMetrics()
}

// hugeLine is the start of a record that never ends: a tuple array of size bytes.
func hugeLine(size int) []byte {
	b := bytes.NewBufferString(`{"time":"2025-06-02T09:01:00Z","flowLogVersion":4,"flowRecords":{"flows":[{"aclID":"a","flowGroups":[{"rule":"r","flowTuples":[`)
	tup := `"1748854860000,192.168.10.1,10.1.0.4,40000,443,6,I,C,NX,1,2,3,4",`
	for b.Len() < size {
		b.WriteString(tup)
	}
	return b.Bytes()
}

// TestOversizedLineSkippedOnce: a line larger than max_record_size with no end (a writer that
// stalled, or garbage) is skipped once: it is not read again at every poll, the skip is
// counted and logged, and the records written after it, in the same file and in a new one,
// are read.
func TestOversizedLineSkippedOnce(t *testing.T) {
	dir := t.TempDir()
	p := filepath.Join(dir, nwPath(9, "000D3A2B1001"))
	sec := int64(1748854800)
	first := vnetRecord(sec, "000D3A2B1001", 1000, 5)
	line := hugeLine(8 << 20)
	doc := append([]byte(`{"records":[`+first+","), line...)
	writeAtomic(t, p, doc)

	cfg := dirConfig(dir)
	cfg.MaxReadSize = 64 << 10
	cfg.MaxRecordSize = 1 << 20
	s, ms := &sink{}, &consumertest.MetricsSink{}
	r := startReceiver(t, cfg, s, ms, componenttest.NewNopHost())
	defer func() { require.NoError(t, r.Shutdown(context.Background())) }()
	waitFor(t, "the record before the huge one", 10*time.Second, func() bool { return s.count() == 5 })
	waitFor(t, "the skip counted", 10*time.Second, func() bool { return lastErrorCount(ms, errKindTooLarge) == 1 })
	read := lastTotal(ms, schema.FlowLogBytesRead)
	// Read once: the whole file, plus the growing reads up to max_record_size and the overlap
	// of the search windows.
	assert.Less(t, read, float64(len(doc)+4<<20))
	waitPolls(t, ms, 5)
	assert.Equal(t, read, lastTotal(ms, schema.FlowLogBytesRead), "the huge line is read again")
	assert.Equal(t, int64(1), lastErrorCount(ms, errKindTooLarge))

	// The writer goes on after the garbage: the next record and the tail.
	next := vnetRecord(sec+60, "000D3A2B1001", 2000, 3)
	writeAtomic(t, p, append(append(doc, ","+next...), "]}"...))
	// And a new NIC's blob appears.
	other := vnetRecord(sec, "000D3A2B1002", 3000, 4)
	writeAtomic(t, filepath.Join(dir, nwPath(9, "000D3A2B1002")), nwDoc([]string{other}))
	waitFor(t, "the records after the huge line", 10*time.Second, func() bool { return s.count() == 12 })
	want := refTuples(t, nwDoc([]string{first, next, other}))
	assert.Equal(t, want, s.keys())
	assert.Equal(t, int64(1), lastErrorCount(ms, errKindTooLarge))
	assert.Less(t, lastTotal(ms, schema.FlowLogBytesRead), read+2<<20, "only the new bytes are read")
}

// manyTuplesRecord is a VNet record with n valid, distinct tuples.
func manyTuplesRecord(sec int64, n int) string {
	var b strings.Builder
	b.WriteString(`{"time":"` + time.Unix(sec, 0).UTC().Format(time.RFC3339) + `","flowLogVersion":4,"macAddress":"000D3A2B1001","targetResourceID":"` + testTarget +
		`","flowRecords":{"flows":[{"aclID":"a","flowGroups":[{"rule":"r","flowTuples":[`)
	for i := 0; i < n; i++ {
		if i > 0 {
			b.WriteByte(',')
		}
		fmt.Fprintf(&b, `"%d,192.168.%d.%d,10.1.0.4,%d,443,6,I,C,NX,1,2,3,4"`, sec*1000+int64(i), i>>16&255, i>>8&255, 1024+i&255)
	}
	b.WriteString(`]}]}]}}`)
	return b.String()
}

// TestHugeRecordRefusedInBoundedMemory: one record of 200,000 tuples (the attack used 10^6,
// which took more than 7 GB) is skipped without its tuples being kept; the records around it
// are read.
func TestHugeRecordRefusedInBoundedMemory(t *testing.T) {
	dir := t.TempDir()
	sec := int64(1748854800)
	before := vnetRecord(sec, "000D3A2B1001", 1000, 5)
	huge := manyTuplesRecord(sec+60, 200_000)
	after := vnetRecord(sec+120, "000D3A2B1001", 9000, 3)
	writeAtomic(t, filepath.Join(dir, nwPath(9, "000D3A2B1001")), nwDoc([]string{before, huge, after}))
	cfg := dirConfig(dir)
	cfg.MaxRecordTuples = 10_000
	s, ms := &sink{}, &consumertest.MetricsSink{}
	var m0, m1 runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&m0)
	r := startReceiver(t, cfg, s, ms, componenttest.NewNopHost())
	defer func() { require.NoError(t, r.Shutdown(context.Background())) }()
	waitFor(t, "the skip counted", 20*time.Second, func() bool { return lastErrorCount(ms, errKindTooManyTuples) == 1 })
	waitFor(t, "the other records", 10*time.Second, func() bool { return s.count() == 8 })
	runtime.ReadMemStats(&m1)
	assert.Equal(t, refTuples(t, nwDoc([]string{before, after})), s.keys())
	// Kept, the 200,000 tuples would be as many log records of 22 attributes each (65,536
	// of them allocate 279 MB; the attack's 10^6 took more than 7 GB); refused, the cost is
	// the reads of the 13 MB record (4, 8 and 16 MiB buffers) and the parse.
	t.Logf("record %d bytes, allocated %d MB", len(huge), (m1.TotalAlloc-m0.TotalAlloc)>>20)
	assert.Less(t, m1.TotalAlloc-m0.TotalAlloc, uint64(200<<20))
}

// TestOversizedBlockSkippedWithoutDownload: in Blob Storage, a block larger than
// max_record_size is skipped without being downloaded, once, and the blocks after it and a
// new blob are read.
func TestOversizedBlockSkippedWithoutDownload(t *testing.T) {
	a := startAzurite(t)
	sec := int64(1748854800)
	b := a.newBlob(t, ContainerVNet, nwPath(9, "000D3A2B1001"))
	first := vnetRecord(sec, "000D3A2B1001", 1000, 5)
	b.add(first)
	b.addRaw("," + string(hugeLine(2<<20)) + `"x"]}]}]}}`)
	cfg := blobConfig(a)
	cfg.MaxRecordSize = 256 << 10
	cfg.MaxReadSize = 64 << 10
	s, ms := &sink{}, &consumertest.MetricsSink{}
	r := startReceiver(t, cfg, s, ms, componenttest.NewNopHost())
	defer func() { require.NoError(t, r.Shutdown(context.Background())) }()
	waitFor(t, "the skip counted", 20*time.Second, func() bool { return lastErrorCount(ms, errKindTooLarge) == 1 })
	waitFor(t, "the first record", 10*time.Second, func() bool { return s.count() == 5 })
	second := vnetRecord(sec+60, "000D3A2B1001", 2000, 3)
	b.add(second)
	b2 := a.newBlob(t, ContainerVNet, nwPath(9, "000D3A2B1002"))
	other := vnetRecord(sec, "000D3A2B1002", 3000, 4)
	b2.add(other)
	waitFor(t, "the records after the huge block", 20*time.Second, func() bool { return s.count() == 12 })
	waitPolls(t, ms, 3)
	assert.Equal(t, refTuples(t, nwDoc([]string{first, second, other})), s.keys())
	assert.Equal(t, int64(1), lastErrorCount(ms, errKindTooLarge))
	assert.Less(t, lastTotal(ms, schema.FlowLogBytesRead), float64(1<<20), "the huge block was downloaded")
}

func TestValidateDirectoryNotADirectory(t *testing.T) {
	f := filepath.Join(t.TempDir(), "file")
	require.NoError(t, os.WriteFile(f, []byte("x"), 0o644))
	cfg := dirConfig(f)
	err := cfg.Validate()
	require.Error(t, err)
	assert.True(t, strings.Contains(err.Error(), "is not a directory"), err.Error())
	cfg = dirConfig(filepath.Join(t.TempDir(), "not-yet"))
	require.NoError(t, cfg.Validate(), "a directory that does not exist yet may be mounted later")
	cfg = dirConfig(t.TempDir())
	cfg.MaxRecordTuples = 0
	require.Error(t, cfg.Validate())
}
