package flowlogreceiver

import (
	"context"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/component/componenttest"

	"github.com/erviz/otelcol-erviz/receiver/flowlogreceiver/internal/metadata"
)

// startReplica starts a receiver that shares the blobs of cfg with other replicas through
// an in-memory lease table (no Azurite): the receiver's side of the coordination.
func startReplica(t *testing.T, cfg *Config, table *leaseTable, id string, s *sink) *flowlogReceiver {
	t.Helper()
	cfg.Coordination.Enabled = true
	r, err := newReceiver(receiverSettings(), cfg)
	require.NoError(t, err)
	r.nextLogs = s
	r.newLeases = func(source, *metadata.TelemetryBuilder) (leases, error) { return table.replica(id), nil }
	require.NoError(t, r.Start(context.Background(), componenttest.NewNopHost()))
	return r
}

// TestLeasedShareEveryTupleOnce: two replicas read one directory through the lease table:
// every tuple is delivered once by one of them, every blob's checkpoint ends in its
// ownership record (read to the end), and no lease stays held once the blobs are done.
func TestLeasedShareEveryTupleOnce(t *testing.T) {
	want := refTuples(t, readDocs(t, "testdata/hubspoke")...)
	table := newLeaseTable()
	s1, s2 := &sink{}, &sink{}
	r1 := startReplica(t, dirConfig("testdata/hubspoke"), table, "r1", s1)
	r2 := startReplica(t, dirConfig("testdata/hubspoke"), table, "r2", s2)
	waitFor(t, "all sample tuples", 30*time.Second, func() bool { return s1.count()+s2.count() >= sum(want) })
	afterPollsOf(t, r1, 2)
	afterPollsOf(t, r2, 2)
	require.NoError(t, r1.Shutdown(context.Background()))
	require.NoError(t, r2.Shutdown(context.Background()))

	assert.Equal(t, want, merged(s1.keys(), s2.keys()), "every tuple once")
	assert.Empty(t, repeats(merged(s1.uids(), s2.uids())))
	holders := table.holders()
	assert.Len(t, holders, 8, "one ownership record per blob")
	for key, holder := range holders {
		assert.Empty(t, holder, "lease of %s still held", key)
		cp, err := decodeCheckpoint(table.owners[key].cp)
		require.NoError(t, err, key)
		assert.True(t, cp.AtEnd, "%s read to the end", key)
	}
}

// TestLeasedShareOtherReplicasBlob: a blob whose lease another replica holds is neither read
// nor checkpointed, even when it grows, and its lease stays with the other replica.
func TestLeasedShareOtherReplicasBlob(t *testing.T) {
	dir := t.TempDir()
	p := filepath.Join(dir, nwPath(9, "000D3A2B1001"))
	key := filepath.ToSlash(nwPath(9, "000D3A2B1001"))
	sec := int64(1748854800)
	recs := []string{vnetRecord(sec, "000D3A2B1001", 1000, 7)}
	writeAtomic(t, p, nwDoc(recs))
	table := newLeaseTable()
	s := &sink{}
	cfg := dirConfig(dir)
	r := startReplica(t, cfg, table, "r1", s)
	defer func() { require.NoError(t, r.Shutdown(context.Background())) }()
	waitFor(t, "first record", 10*time.Second, func() bool { return s.count() == 7 })
	// Read to its end, the blob's lease is given up; this replica takes it again when the
	// blob grows.
	recs = append(recs, vnetRecord(sec+60, "000D3A2B1001", 2000, 5))
	writeAtomic(t, p, nwDoc(recs))
	waitFor(t, "the second record", 10*time.Second, func() bool { return s.count() == 12 })
	afterPollsOf(t, r, 2)
	table.mu.Lock()
	require.Empty(t, table.owners[key].holder, "given up once read to the end")
	table.owners[key].holder = "r2" // another replica takes it
	cpBefore := string(table.owners[key].cp)
	table.mu.Unlock()
	recs = append(recs, vnetRecord(sec+120, "000D3A2B1001", 3000, 4))
	writeAtomic(t, p, nwDoc(recs))
	afterPollsOf(t, r, 3)
	assert.Equal(t, 12, s.count(), "nothing read from a blob leased by another replica")
	table.mu.Lock()
	assert.Equal(t, cpBefore, string(table.owners[key].cp), "its checkpoint not moved")
	assert.Equal(t, "r2", table.owners[key].holder)
	table.mu.Unlock()
}
