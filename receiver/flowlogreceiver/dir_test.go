package flowlogreceiver

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/open-telemetry/opentelemetry-collector-contrib/extension/storage/storagetest"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/component"
	"go.opentelemetry.io/collector/component/componenttest"
	"go.opentelemetry.io/collector/consumer/consumertest"
	"go.opentelemetry.io/collector/pdata/pmetric"

	"github.com/erviz/otelcol-erviz/internal/schema"
)

const (
	testTarget  = "/subscriptions/s/resourceGroups/rg/providers/Microsoft.Network/virtualNetworks/vnet-spoke1"
	testFlowLog = "/SUBSCRIPTIONS/S/RESOURCEGROUPS/NETWORKWATCHERRG/PROVIDERS/MICROSOFT.NETWORK/NETWORKWATCHERS/NW/FLOWLOGS/FL"
)

// vnetRecord renders one VNet flow log record with n tuples whose source ports are
// base..base+n-1, the way Network Watcher writes it (compact JSON).
func vnetRecord(sec int64, mac string, base, n int) string {
	tuples := make([]string, n)
	for i := range tuples {
		state := "C"
		counters := fmt.Sprintf("%d,%d,%d,%d", 3+i%7, 1200+i, 2+i%5, 5400+i)
		if i%5 == 0 {
			state, counters = "B", ",,,"
		}
		tuples[i] = fmt.Sprintf(`"%d,192.168.10.%d,10.1.0.4,%d,443,6,I,%s,NX,%s"`, sec*1000+int64(i), 1+i%200, base+i, state, counters)
	}
	return fmt.Sprintf(`{"time":"%s","flowLogVersion":4,"flowLogGUID":"g","macAddress":"%s","category":"FlowLogFlowEvent","flowLogResourceID":"%s","targetResourceID":"%s","operationName":"FlowLogFlowEvent","flowRecords":{"flows":[{"aclID":"acl-1","flowGroups":[{"rule":"DefaultRule_AllowVnetInBound","flowTuples":[%s]}]}]}}`,
		time.Unix(sec, 0).UTC().Format(time.RFC3339Nano), mac, testFlowLog, testTarget, strings.Join(tuples, ","))
}

func nwPath(hour int, mac string) string {
	return fmt.Sprintf("flowLogResourceID=/S_NETWORKWATCHERRG/NETWORKWATCHER_WESTEUROPE_FL/y=2025/m=06/d=02/h=%02d/m=00/macAddress=%s/PT1H.json", hour, mac)
}

// writeAtomic replaces a file the way a mirror would: write aside, rename.
func writeAtomic(t testing.TB, p string, b []byte) {
	t.Helper()
	require.NoError(t, os.MkdirAll(filepath.Dir(p), 0o755))
	tmp := p + ".tmp"
	require.NoError(t, os.WriteFile(tmp, b, 0o644))
	require.NoError(t, os.Rename(tmp, p))
}

func dirConfig(dir string) *Config {
	cfg := createDefaultConfig().(*Config)
	cfg.Directory = dir
	cfg.PollInterval = 100 * time.Millisecond
	return cfg
}

func metricTotal(md pmetric.Metrics, name string) (float64, bool) {
	total, found := 0.0, false
	for i := 0; i < md.ResourceMetrics().Len(); i++ {
		sms := md.ResourceMetrics().At(i).ScopeMetrics()
		for j := 0; j < sms.Len(); j++ {
			ms := sms.At(j).Metrics()
			for k := 0; k < ms.Len(); k++ {
				m := ms.At(k)
				if m.Name() != name {
					continue
				}
				var dps pmetric.NumberDataPointSlice
				if m.Type() == pmetric.MetricTypeSum {
					dps = m.Sum().DataPoints()
				} else {
					dps = m.Gauge().DataPoints()
				}
				for l := 0; l < dps.Len(); l++ {
					found = true
					if dps.At(l).ValueType() == pmetric.NumberDataPointValueTypeInt {
						total += float64(dps.At(l).IntValue())
					} else {
						total += dps.At(l).DoubleValue()
					}
				}
			}
		}
	}
	return total, found
}

func TestDirectorySampleData(t *testing.T) {
	want := refTuples(t, readDocs(t, "testdata/hubspoke")...)
	require.Greater(t, sum(want), 200)
	s := &sink{}
	ms := new(consumertest.MetricsSink)
	r := startReceiver(t, dirConfig("testdata/hubspoke"), s, ms, componenttest.NewNopHost())
	waitFor(t, "all sample tuples", 20*time.Second, func() bool { return s.count() >= sum(want) })
	afterPolls(t, r, 2) // nothing may be read twice
	require.NoError(t, r.Shutdown(context.Background()))

	assert.Equal(t, want, s.keys())
	for uid, n := range s.uids() {
		require.Equal(t, 1, n, "uid %s", uid)
	}

	// One tuple checked attribute by attribute: the denied SSH attempt from on-premises
	// seen at the spoke2 NIC by the VNet flow log.
	found := 0
	for i, lr := range s.records {
		a := lr.Attributes().AsRaw()
		if a[schema.FlowType] != schema.FlowTypeVNetFlowLog || a[schema.DestinationPort] != int64(22) {
			continue
		}
		found++
		assert.Equal(t, "192.168.20.7", a[schema.SourceAddress])
		assert.Equal(t, "10.2.0.4", a[schema.DestinationAddress])
		assert.Equal(t, "tcp", a[schema.NetworkTransport])
		assert.Equal(t, schema.NetworkTypeIPv4, a[schema.NetworkType])
		assert.Equal(t, schema.FlowStateDenied, a[schema.FlowState])
		assert.Equal(t, schema.FlowActionDeny, a[schema.FlowAction])
		assert.Equal(t, schema.DirectionInbound, a[schema.AzureFlowLogDirection])
		assert.Equal(t, "UserRule_deny-ssh", a[schema.AzureFlowLogRule])
		assert.Equal(t, "00000000-1111-2222-3333-444444444402", a[schema.AzureFlowLogACLID])
		assert.Equal(t, "NX", a[schema.AzureFlowLogEncryption])
		assert.Equal(t, int64(0), a[schema.FlowIOBytes])
		assert.Equal(t, int64(0), a[schema.FlowReverseIOPackets])
		assert.Equal(t, int64(1), a[schema.FlowSamplingRate])
		assert.Equal(t, int64(lr.Timestamp()), a[schema.FlowEnd])
		assert.NotZero(t, lr.ObservedTimestamp())
		ra := s.res[i].Attributes().AsRaw()
		assert.Equal(t, "azure", ra[schema.CloudProvider])
		assert.True(t, strings.HasSuffix(ra[schema.CloudResourceID].(string), "/virtualNetworks/vnet-spoke2"), ra[schema.CloudResourceID])
		assert.Contains(t, ra[schema.AzureFlowLogResourceID], "/FLOWLOGS/FL-SPOKE2")
		assert.Equal(t, "000D3A2B2001", ra[schema.AzureFlowLogMACAddress])
	}
	assert.Equal(t, 20, found, "10 denied SSH rows per hour, two hours")

	// NSG tuples carry the NSG as their resource and the version 2 counters.
	nsg := 0
	for i, lr := range s.records {
		a := lr.Attributes().AsRaw()
		if a[schema.FlowType] != schema.FlowTypeNSGFlowLog {
			continue
		}
		nsg++
		assert.True(t, strings.HasSuffix(s.res[i].Attributes().AsRaw()[schema.CloudResourceID].(string), "/NETWORKSECURITYGROUPS/NSG-SPOKE2-DB"))
		assert.Contains(t, []any{schema.FlowActionAllow, schema.FlowActionDeny}, a[schema.FlowAction])
		assert.Contains(t, a, schema.FlowReverseIOBytes)
	}
	assert.Equal(t, 40, nsg)

	require.NotEmpty(t, ms.AllMetrics())
	last := ms.AllMetrics()[len(ms.AllMetrics())-1]
	tuples, _ := metricTotal(last, schema.FlowLogTuples)
	assert.Equal(t, float64(sum(want)), tuples)
	blobs, _ := metricTotal(last, schema.FlowLogBlobs)
	assert.Equal(t, 8.0, blobs)
	read, _ := metricTotal(last, schema.FlowLogBytesRead)
	var size int64
	for _, d := range readDocs(t, "testdata/hubspoke") {
		size += int64(len(d))
	}
	assert.Equal(t, float64(size), read, "every byte read once")
	_, hasLag := metricTotal(last, schema.FlowLogLag)
	assert.True(t, hasLag)
	_, hasErrors := metricTotal(last, schema.FlowLogErrors)
	assert.False(t, hasErrors)
}

// TestDirectoryGrowth writes a file the way it grows (records inserted before the tail),
// including a moment where the last record is half written, while the receiver runs.
func TestDirectoryGrowth(t *testing.T) {
	dir := t.TempDir()
	p := filepath.Join(dir, nwPath(9, "000D3A2B1001"))
	var recs []string
	sec := int64(1748854800)
	recs = append(recs, vnetRecord(sec, "000D3A2B1001", 1000, 7))
	writeAtomic(t, p, nwDoc(recs))
	s := &sink{}
	r := startReceiver(t, dirConfig(dir), s, nil, componenttest.NewNopHost())
	defer func() { require.NoError(t, r.Shutdown(context.Background())) }()
	waitFor(t, "first record", 10*time.Second, func() bool { return s.count() == 7 })
	for i := 1; i < 8; i++ {
		recs = append(recs, vnetRecord(sec+int64(60*i), "000D3A2B1001", 1000+100*i, 5+i))
		writeAtomic(t, p, nwDoc(recs))
		if i == 4 {
			// A writer caught in the middle of a record (no tail yet).
			next := vnetRecord(sec+int64(60*(i+1)), "000D3A2B1001", 1000+100*(i+1), 6+i)
			doc := nwDoc(recs)
			writeAtomic(t, p, append(doc[:len(doc)-2], (","+next[:len(next)/2])...))
			afterPolls(t, r, 2) // the receiver sees the half-written record
		}
		afterPolls(t, r, 2) // and every stage of the file
	}
	want := refTuples(t, nwDoc(recs))
	waitFor(t, "all tuples", 10*time.Second, func() bool { return s.count() >= sum(want) })
	afterPolls(t, r, 2)
	assert.Equal(t, want, s.keys())
	for uid, n := range s.uids() {
		require.Equal(t, 1, n, "uid %s", uid)
	}
}

// TestDirectoryRestart stops the receiver, lets files grow and new hours appear, and
// starts a new one on the same file-backed storage: every tuple exactly once overall.
func TestDirectoryRestart(t *testing.T) {
	dir, stateDir := t.TempDir(), t.TempDir()
	sec := int64(1748854800)
	var a, b []string
	for i := 0; i < 3; i++ {
		a = append(a, vnetRecord(sec+int64(60*i), "000D3A2B1001", 2000+100*i, 9))
		b = append(b, vnetRecord(sec+int64(60*i), "000D3A2B1002", 3000+100*i, 4))
	}
	pa, pb, pc := filepath.Join(dir, nwPath(9, "000D3A2B1001")), filepath.Join(dir, nwPath(9, "000D3A2B1002")), filepath.Join(dir, nwPath(10, "000D3A2B1001"))
	writeAtomic(t, pa, nwDoc(a))
	writeAtomic(t, pb, nwDoc(b))

	storageID := storagetest.NewStorageID("flowlog")
	cfg := dirConfig(dir)
	cfg.Storage = &storageID
	newHost := func() component.Host {
		return storagetest.NewStorageHost().WithFileBackedStorageExtension("flowlog", stateDir)
	}

	s1 := &sink{}
	r1 := startReceiver(t, cfg, s1, nil, newHost())
	waitFor(t, "first run", 10*time.Second, func() bool { return s1.count() == 27+12 })
	require.NoError(t, r1.Shutdown(context.Background()))

	a = append(a, vnetRecord(sec+240, "000D3A2B1001", 2400, 11))
	writeAtomic(t, pa, nwDoc(a))
	c := []string{vnetRecord(sec+3600, "000D3A2B1001", 5000, 6)}
	writeAtomic(t, pc, nwDoc(c))

	cfg2 := dirConfig(dir) // a new configuration instance, as after a collector restart
	cfg2.Storage = &storageID
	s2 := &sink{}
	r2 := startReceiver(t, cfg2, s2, nil, newHost())
	waitFor(t, "second run", 10*time.Second, func() bool { return s2.count() >= 17 })
	afterPolls(t, r2, 2)
	require.NoError(t, r2.Shutdown(context.Background()))

	got := s1.keys()
	for k, n := range s2.keys() {
		got[k] += n
	}
	assert.Equal(t, refTuples(t, nwDoc(a), nwDoc(b), nwDoc(c)), got)
	assert.Equal(t, 17, s2.count(), "the second run reads only what is new")
}

// TestConsumerRefusesThenAccepts: refused batches are retried, nothing lost or repeated.
func TestConsumerRefusesThenAccepts(t *testing.T) {
	want := refTuples(t, readDocs(t, "testdata/hubspoke")...)
	s := &sink{refuse: 3}
	cfg := dirConfig("testdata/hubspoke")
	r := startReceiver(t, cfg, s, nil, componenttest.NewNopHost())
	waitFor(t, "all sample tuples", 30*time.Second, func() bool { return s.count() >= sum(want) })
	afterPolls(t, r, 2)
	require.NoError(t, r.Shutdown(context.Background()))
	assert.Equal(t, want, s.keys())
	assert.GreaterOrEqual(t, s.calls, s.batches+3)
}

// TestStartAtEnd: existing data is skipped, what is added afterwards and new files are read.
func TestStartAtEnd(t *testing.T) {
	dir := t.TempDir()
	sec := int64(1748854800)
	pa := filepath.Join(dir, nwPath(9, "000D3A2B1001"))
	a := []string{vnetRecord(sec, "000D3A2B1001", 1000, 10)}
	writeAtomic(t, pa, nwDoc(a))
	cfg := dirConfig(dir)
	cfg.StartAt = StartAtEnd
	s := &sink{}
	r := startReceiver(t, cfg, s, nil, componenttest.NewNopHost())
	defer func() { require.NoError(t, r.Shutdown(context.Background())) }()
	afterPolls(t, r, 2)
	assert.Equal(t, 0, s.count(), "existing data skipped")
	added := vnetRecord(sec+60, "000D3A2B1001", 2000, 4)
	writeAtomic(t, pa, nwDoc(append(a, added)))
	later := []string{vnetRecord(sec+3600, "000D3A2B1001", 3000, 3)}
	writeAtomic(t, filepath.Join(dir, nwPath(10, "000D3A2B1001")), nwDoc(later))
	waitFor(t, "new data", 10*time.Second, func() bool { return s.count() >= 7 })
	afterPolls(t, r, 2)
	want := refTuples(t, nwDoc([]string{added}), nwDoc(later))
	assert.Equal(t, want, s.keys())
}
