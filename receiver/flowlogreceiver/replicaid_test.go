package flowlogreceiver

import (
	"context"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/component"
	"go.opentelemetry.io/collector/component/componenttest"
	"go.opentelemetry.io/otel/sdk/metric/metricdata"
	"go.opentelemetry.io/otel/sdk/metric/metricdata/metricdatatest"
	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
	"go.uber.org/zap/zaptest"
	"go.uber.org/zap/zaptest/observer"

	"github.com/erviz/otelcol-erviz/receiver/flowlogreceiver/internal/coordination"
	"github.com/erviz/otelcol-erviz/receiver/flowlogreceiver/internal/metadatatest"
)

// The tests here run two instances with the same coordination.replica_id against one
// account: a copy-pasted configuration, a template with a fixed ID, a pod restarted while
// its predecessor still runs.

const (
	metricConflicts = "otelcol_receiver_flowlog_replica_id_conflicts"
	metricStandby   = "otelcol_receiver_flowlog_replica_standby"
)

// instance is an in-process receiver with its own telemetry and observed logs.
type instance struct {
	r    component.Component
	sink *sink
	tt   *componenttest.Telemetry
	logs *observer.ObservedLogs
}

func startInstance(t *testing.T, cfg *Config) *instance {
	t.Helper()
	tt := componenttest.NewTelemetry()
	t.Cleanup(func() { require.NoError(t, tt.Shutdown(context.Background())) })
	core, logs := observer.New(zap.InfoLevel)
	set := metadatatest.NewSettings(tt)
	set.Logger = zap.New(zapcore.NewTee(core, zaptest.NewLogger(t, zaptest.Level(zap.InfoLevel)).Core()))
	in := &instance{sink: &sink{}, tt: tt, logs: logs}
	lr, err := NewFactory().CreateLogs(context.Background(), set, cfg, in.sink)
	require.NoError(t, err)
	require.NoError(t, lr.Start(context.Background(), componenttest.NewNopHost()))
	in.r = lr
	return in
}

func (in *instance) stop(t *testing.T) {
	t.Helper()
	require.NoError(t, in.r.Shutdown(context.Background()))
}

// metric is the value of an int telemetry metric of the instance (sum of the points of a
// counter, last point of a gauge), -1 when it was never recorded.
func (in *instance) metric(name string) int64 {
	m, err := in.tt.GetMetric(name)
	if err != nil {
		return -1
	}
	switch d := m.Data.(type) {
	case metricdata.Sum[int64]:
		var n int64
		for _, dp := range d.DataPoints {
			n += dp.Value
		}
		return n
	case metricdata.Gauge[int64]:
		if len(d.DataPoints) == 0 {
			return -1
		}
		return d.DataPoints[len(d.DataPoints)-1].Value
	}
	return -1
}

func (in *instance) conflicts() int64 { return max(in.metric(metricConflicts), 0) }

func (in *instance) errors() []observer.LoggedEntry {
	return in.logs.FilterLevelExact(zap.ErrorLevel).All()
}

// conflictLogged: an error that names the replica_id and says that this instance stands by.
func (in *instance) conflictLogged(id string) bool {
	for _, e := range in.errors() {
		if strings.Contains(e.Message, `replica_id "`+id+`"`) && strings.Contains(e.Message, "stands by") {
			return true
		}
	}
	return false
}

func (in *instance) logged(msg string) bool {
	return in.logs.FilterMessageSnippet(msg).Len() > 0
}

// growingBlobs makes n NIC blobs of one hour and returns them with a function adding a
// minute of records to each.
func growingBlobs(t *testing.T, az *azurite, n int) ([]*nwBlob, func()) {
	sec := int64(1748854800)
	var macs []string
	var blobs []*nwBlob
	for i := 0; i < n; i++ {
		mac := "000D3A2B10" + string(rune('1'+i/10)) + string(rune('0'+i%10))
		macs = append(macs, mac)
		blobs = append(blobs, az.newBlob(t, ContainerVNet, vnetBlobName(9, mac)))
	}
	minute := 0
	return blobs, func() {
		for i, b := range blobs {
			b.add(vnetRecord(sec+int64(60*minute), macs[i], 1000*i+100*minute, 3+minute%3))
		}
		minute++
	}
}

func allTuples(t *testing.T, blobs []*nwBlob) map[string]int {
	var docs [][]byte
	for _, b := range blobs {
		docs = append(docs, b.doc())
	}
	return refTuples(t, docs...)
}

func merged(ms ...map[string]int) map[string]int {
	out := map[string]int{}
	for _, m := range ms {
		for k, n := range m {
			out[k] += n
		}
	}
	return out
}

// TestAzuriteDuplicateReplicaID: a second instance starts with the replica_id of a running
// one. It finds the first one's heartbeat going on, reports the conflict (error log naming
// the ID, conflict counter, standby gauge) and reads nothing, while the first one reads on:
// every flow is delivered once, not twice. When the first one stops, the second takes the
// replica_id over and reads the rest, still once.
func TestAzuriteDuplicateReplicaID(t *testing.T) {
	az := startAzurite(t)
	blobs, grow := growingBlobs(t, az, 3)
	grow()
	first := startInstance(t, coordConfig(az, "dup"))
	waitFor(t, "the first instance's first batch", 30*time.Second, func() bool { return first.sink.count() > 0 })
	second := startInstance(t, coordConfig(az, "dup"))
	deadline := time.Now().Add(45 * time.Second)
	for second.conflicts() == 0 {
		require.True(t, time.Now().Before(deadline), "the second instance did not report the conflict")
		grow()
		time.Sleep(150 * time.Millisecond)
	}
	for i := 0; i < 10; i++ {
		grow()
		afterPolls(t, first.r, 1) // one poll sees each minute
	}
	want := allTuples(t, blobs)
	waitFor(t, "the first instance to read everything", 60*time.Second, func() bool { return covers(first.sink.keys(), want) })
	afterPolls(t, first.r, 2) // anything read twice would have arrived
	afterPolls(t, second.r, 2)
	assert.Zero(t, second.sink.count(), "the instance standing by delivered nothing")
	assert.Equal(t, want, first.sink.keys(), "every tuple once")
	assert.Empty(t, repeats(first.sink.uids()))
	assert.Equal(t, int64(1), second.conflicts(), "one conflict found")
	assert.Equal(t, int64(1), second.metric(metricStandby), "standing by")
	assert.True(t, second.conflictLogged("dup"), "the conflict is logged as an error naming the replica_id: %v", second.errors())
	assert.Zero(t, first.conflicts(), "the running instance goes on")
	assert.Equal(t, int64(0), first.metric(metricStandby))
	assert.Empty(t, first.errors())
	assert.Equal(t, []string{"dup"}, memberBlobs(t, az))
	metadatatest.AssertEqualReceiverFlowlogReplicaIDConflicts(t, second.tt, []metricdata.DataPoint[int64]{{Value: 1}}, metricdatatest.IgnoreTimestamp())

	// The first instance stops: the second one takes over at once and reads on.
	first.stop(t)
	for i := 0; i < 10; i++ {
		grow()
		afterPolls(t, second.r, 1) // one poll sees each minute
	}
	want = allTuples(t, blobs)
	waitFor(t, "the second instance to read the rest", 60*time.Second, func() bool {
		return covers(merged(first.sink.keys(), second.sink.keys()), want)
	})
	afterPolls(t, second.r, 2)
	second.stop(t)
	assert.NotZero(t, second.sink.count(), "the second instance read once the first one was gone")
	assert.Equal(t, want, merged(first.sink.keys(), second.sink.keys()), "every tuple once")
	assert.Empty(t, repeats(merged(first.sink.uids(), second.sink.uids())))
	assert.Equal(t, int64(0), second.metric(metricStandby), "no longer standing by")
	assert.Equal(t, int64(1), second.conflicts())
	assert.Empty(t, memberBlobs(t, az))
	for name, leased := range coordBlobs(t, az) {
		assert.False(t, leased, "lease %s still held", name)
	}
}

// TestAzuriteDuplicateReplicaIDAtOnce: two instances with the same replica_id start at the
// same time on existing data. Exactly one of them claims the replica_id (the other's
// conditional write of the member blob fails) and reads; the other one stands by.
func TestAzuriteDuplicateReplicaIDAtOnce(t *testing.T) {
	az := startAzurite(t)
	blobs, grow := growingBlobs(t, az, 2)
	for i := 0; i < 5; i++ {
		grow()
	}
	a := startInstance(t, coordConfig(az, "twin"))
	b := startInstance(t, coordConfig(az, "twin"))
	deadline := time.Now().Add(45 * time.Second)
	for a.conflicts()+b.conflicts() == 0 {
		require.True(t, time.Now().Before(deadline), "no conflict reported")
		grow()
		time.Sleep(150 * time.Millisecond)
	}
	grow()
	want := allTuples(t, blobs)
	waitFor(t, "everything read", 60*time.Second, func() bool { return covers(merged(a.sink.keys(), b.sink.keys()), want) })
	afterPolls(t, a.r, 2)
	afterPolls(t, b.r, 2)
	reader, standby := a, b
	if a.conflicts() > 0 {
		reader, standby = b, a
	}
	assert.Equal(t, int64(1), standby.conflicts())
	assert.Zero(t, reader.conflicts(), "exactly one instance stands by")
	assert.Equal(t, int64(1), standby.metric(metricStandby))
	assert.Equal(t, int64(0), reader.metric(metricStandby))
	assert.True(t, standby.conflictLogged("twin"))
	assert.Zero(t, standby.sink.count(), "the instance standing by delivered nothing")
	assert.Equal(t, want, reader.sink.keys(), "every tuple once")
	assert.Empty(t, repeats(reader.sink.uids()))
	standby.stop(t)
	reader.stop(t)
	assert.Empty(t, memberBlobs(t, az))
}

// TestAzuriteReplicaIDRestart: the legitimate reuse of a replica_id — a replica restarted
// after its previous instance stopped (gracefully, or killed with SIGKILL) — is no conflict:
// no error, nothing counted, and the new instance reads on (at once after a graceful stop;
// after a kill once the old heartbeat is older than lease_duration), nothing lost.
func TestAzuriteReplicaIDRestart(t *testing.T) {
	t.Run("stopped", func(t *testing.T) {
		az := startAzurite(t)
		blobs, grow := growingBlobs(t, az, 2)
		grow()
		old := startInstance(t, coordConfig(az, "pod-0"))
		waitFor(t, "the first batch", 30*time.Second, func() bool { return old.sink.count() > 0 })
		old.stop(t)
		grow()
		restarted := time.Now()
		next := startInstance(t, coordConfig(az, "pod-0"))
		want := allTuples(t, blobs)
		waitFor(t, "the restarted instance to read on", 30*time.Second, func() bool {
			return covers(merged(old.sink.keys(), next.sink.keys()), want)
		})
		took := time.Since(restarted)
		afterPolls(t, next.r, 2)
		next.stop(t)
		assert.Less(t, took, 10*time.Second, "no wait for a lease duration after a graceful stop")
		assert.Equal(t, want, merged(old.sink.keys(), next.sink.keys()), "every tuple once")
		for _, in := range []*instance{old, next} {
			assert.Zero(t, in.conflicts())
			assert.Empty(t, in.errors())
		}
		assert.Equal(t, int64(0), next.metric(metricStandby))
	})
	t.Run("killed", func(t *testing.T) {
		az := startAzurite(t)
		blobs, grow := growingBlobs(t, az, 3)
		for i := 0; i < 4; i++ {
			grow()
		}
		spec := helperSpec{ConnStr: az.connStr, Coordinate: true, ReplicaID: "pod-0", LeaseSec: 15, DieAt: 2}
		old := startHelper(t, spec)
		old.waitKilled()
		oldBatches := old.batches()
		require.Len(t, oldBatches, 2)
		grow()
		restarted := time.Now()
		next := startInstance(t, coordConfig(az, "pod-0"))
		want := allTuples(t, blobs)
		waitFor(t, "the restarted instance to read on", 60*time.Second, func() bool {
			_, keys := countAll(oldBatches)
			return covers(merged(keys, next.sink.keys()), want)
		})
		took := time.Since(restarted)
		afterPolls(t, next.r, 2)
		next.stop(t)
		oldUIDs, oldKeys := countAll(oldBatches)
		assert.Equal(t, asSet(oldBatches[len(oldBatches)-1].UIDs), repeats(merged(oldUIDs, next.sink.uids())),
			"repeats are exactly the batch the killed instance had not checkpointed")
		assert.Equal(t, sum(want), sum(merged(oldKeys, next.sink.keys()))-len(oldBatches[len(oldBatches)-1].UIDs))
		assert.Zero(t, next.conflicts(), "a dead predecessor is no conflict")
		assert.Empty(t, next.errors())
		assert.Equal(t, int64(0), next.metric(metricStandby))
		assert.True(t, next.logged("replica_id taken over from an instance that stopped without leaving"))
		assert.Less(t, took, 15*time.Second+coordination.StaleMargin+15*time.Second, "taken over once the old heartbeat was stale")
	})
}

// TestAzuriteReplicaIDPaused: an instance is frozen (SIGSTOP) for longer than a lease
// duration, as a paused VM or a process cut off from the account. Its heartbeat goes stale,
// so a new instance with the same replica_id takes over (no conflict: the old one looks
// dead). When the old one resumes, its heartbeat fails on its condition: it finds the new
// instance's record, reports the conflict and stands by, without releasing the leases the
// new instance holds through the same lease ID. Every tuple once.
func TestAzuriteReplicaIDPaused(t *testing.T) {
	az := startAzurite(t)
	blobs, grow := growingBlobs(t, az, 3)
	for i := 0; i < 3; i++ {
		grow()
	}
	old := startHelper(t, helperSpec{ConnStr: az.connStr, Coordinate: true, ReplicaID: "vm-1", LeaseSec: 15})
	want := allTuples(t, blobs)
	waitFor(t, "the old instance to read everything", 30*time.Second, func() bool {
		_, keys := countAll(old.batches())
		return covers(keys, want)
	})
	afterHelperPolls(t, old, 2) // idle: no batch in flight
	require.NoError(t, old.cmd.Process.Signal(syscall.SIGSTOP))
	frozen := len(old.batches())
	next := startInstance(t, coordConfig(az, "vm-1"))
	for i := 0; i < 3; i++ {
		grow()
	}
	want = allTuples(t, blobs)
	waitFor(t, "the new instance to take over", 60*time.Second, func() bool {
		_, keys := countAll(old.batches())
		return covers(merged(keys, next.sink.keys()), want)
	})
	assert.True(t, next.logged("replica_id taken over from an instance that stopped without leaving"))
	require.NoError(t, old.cmd.Process.Signal(syscall.SIGCONT))
	waitFor(t, "the resumed instance to report the conflict", 30*time.Second, func() bool {
		return strings.Contains(old.output(), `replica_id "vm-1" is used by another running instance`)
	})
	for i := 0; i < 10; i++ {
		grow()
		afterPolls(t, next.r, 1) // one poll sees each minute
	}
	want = allTuples(t, blobs)
	waitFor(t, "the new instance to read on", 60*time.Second, func() bool {
		_, keys := countAll(old.batches())
		return covers(merged(keys, next.sink.keys()), want)
	})
	afterHelperPolls(t, old, 2) // anything the resumed instance read would have arrived
	afterPolls(t, next.r, 2)
	old.stop()
	next.stop(t)
	oldUIDs, oldKeys := countAll(old.batches())
	assert.Len(t, old.batches(), frozen, "the resumed instance read nothing")
	assert.Empty(t, repeats(merged(oldUIDs, next.sink.uids())), "nothing read twice")
	assert.Equal(t, want, merged(oldKeys, next.sink.keys()), "every tuple once")
	assert.Zero(t, next.conflicts(), "the new instance took over a stale record")
	assert.Empty(t, next.errors())
	assert.Empty(t, memberBlobs(t, az), "the new instance left gracefully")
}
