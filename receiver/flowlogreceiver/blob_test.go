package flowlogreceiver

import (
	"context"
	"fmt"
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

// nsgRecord renders an NSG flow log (version 2) record with n tuples.
func nsgRecord(sec int64, mac string, base, n int) string {
	tuples := make([]string, n)
	for i := range tuples {
		tuples[i] = fmt.Sprintf(`"%d,10.1.0.4,10.2.0.4,%d,1433,T,I,A,C,%d,%d,%d,%d"`, sec, base+i, 10+i, 4000+i, 8+i, 9000+i)
	}
	return fmt.Sprintf(`{"time":"%s","systemId":"sys","macAddress":"%s","category":"NetworkSecurityGroupFlowEvent","resourceId":"/SUBSCRIPTIONS/S/RESOURCEGROUPS/RG/PROVIDERS/MICROSOFT.NETWORK/NETWORKSECURITYGROUPS/NSG-DB","operationName":"NetworkSecurityGroupFlowEvents","properties":{"Version":2,"flows":[{"rule":"UserRule_allow-sql","flows":[{"mac":"%s","flowTuples":[%s]}]}]}}`,
		time.Unix(sec, 0).UTC().Format(time.RFC3339Nano), mac, mac, strings.Join(tuples, ","))
}

func vnetBlobName(hour int, mac string) string {
	return "flowLogResourceID=/S_NETWORKWATCHERRG/NETWORKWATCHER_WESTEUROPE_FL/" + tailOf(hour, mac)
}

func nsgBlobName(hour int, mac string) string {
	return "resourceId=/SUBSCRIPTIONS/S/RESOURCEGROUPS/RG/PROVIDERS/MICROSOFT.NETWORK/NETWORKSECURITYGROUPS/NSG-DB/" + tailOf(hour, mac)
}

func tailOf(hour int, mac string) string {
	return fmt.Sprintf("y=2025/m=06/d=02/h=%02d/m=00/macAddress=%s/PT1H.json", hour, mac)
}

func lastMetrics(t *testing.T, ms *consumertest.MetricsSink) pmetric.Metrics {
	t.Helper()
	all := ms.AllMetrics()
	require.NotEmpty(t, all)
	return all[len(all)-1]
}

func errorCount(md pmetric.Metrics, kind string) int64 {
	var n int64
	for i := 0; i < md.ResourceMetrics().Len(); i++ {
		sms := md.ResourceMetrics().At(i).ScopeMetrics()
		for j := 0; j < sms.Len(); j++ {
			for k := 0; k < sms.At(j).Metrics().Len(); k++ {
				m := sms.At(j).Metrics().At(k)
				if m.Name() != schema.FlowLogErrors {
					continue
				}
				for l := 0; l < m.Sum().DataPoints().Len(); l++ {
					dp := m.Sum().DataPoints().At(l)
					if v, _ := dp.Attributes().Get(schema.ErrorType); v.Str() == kind {
						n += dp.IntValue()
					}
				}
			}
		}
	}
	return n
}

// TestAzuriteGrowthRestart: several NICs, two hours, both containers, blobs growing while
// the receiver runs, a restart on file-backed checkpoints in the middle; every tuple is
// received exactly once, and the bytes downloaded are compared to the bytes written.
func TestAzuriteGrowthRestart(t *testing.T) {
	az := startAzurite(t)
	sec := int64(1748854800)
	macs := []string{"000D3A2B1001", "000D3A2B1002", "000D3A2B1003"}
	var blobs []*nwBlob
	for _, mac := range macs {
		blobs = append(blobs, az.newBlob(t, ContainerVNet, vnetBlobName(9, mac)))
	}
	nsg := az.newBlob(t, ContainerNSG, nsgBlobName(9, "000D3A2B2001"))
	blobs = append(blobs, nsg)
	// An older, finished hour.
	old := az.newBlob(t, ContainerVNet, vnetBlobName(8, macs[0]))
	for m := 0; m < 5; m++ {
		old.add(vnetRecord(sec-3600+int64(60*m), macs[0], 100*m, 20))
	}
	blobs = append(blobs, old)
	oldETag := old.etag()

	minute := 0
	grow := func() {
		for i, b := range blobs[:3] {
			b.add(vnetRecord(sec+int64(60*minute), macs[i], 10000*i+100*minute, 30+minute%7))
		}
		nsg.add(nsgRecord(sec+int64(60*minute), "000D3A2B2001", 100*minute, 6))
		minute++
	}
	grow()

	stateDir := t.TempDir()
	storageID := storagetest.NewStorageID("flowlog")
	newHost := func() component.Host {
		return storagetest.NewStorageHost().WithFileBackedStorageExtension("flowlog", stateDir)
	}
	cfg := blobConfig(az)
	cfg.Storage = &storageID
	s1, ms1 := &sink{}, new(consumertest.MetricsSink)
	r1 := startReceiver(t, cfg, s1, ms1, newHost())
	for ; minute < 6; afterPolls(t, r1, 1) {
		grow()
	}
	// Wait until the first run caught up, then stop it.
	want := func() map[string]int {
		var docs [][]byte
		for _, b := range blobs {
			docs = append(docs, b.doc())
		}
		return refTuples(t, docs...)
	}
	w := want()
	waitFor(t, "first run to catch up", 20*time.Second, func() bool { return s1.count() >= sum(w) })
	afterPolls(t, r1, 2)
	require.NoError(t, r1.Shutdown(context.Background()))
	read1, _ := metricTotal(lastMetrics(t, ms1), schema.FlowLogBytesRead)

	// Growth while no receiver runs, and a new hour.
	grow()
	grow()
	next := az.newBlob(t, ContainerVNet, vnetBlobName(10, macs[1]))
	next.add(vnetRecord(sec+3600, macs[1], 50000, 12))
	blobs = append(blobs, next)

	cfg2 := blobConfig(az)
	cfg2.Storage = &storageID
	s2, ms2 := &sink{}, new(consumertest.MetricsSink)
	r2 := startReceiver(t, cfg2, s2, ms2, newHost())
	for ; minute < 12; afterPolls(t, r2, 1) {
		grow()
	}
	w = want()
	waitFor(t, "second run to catch up", 20*time.Second, func() bool { return s1.count()+s2.count() >= sum(w) })
	afterPolls(t, r2, 2)
	require.NoError(t, r2.Shutdown(context.Background()))
	read2, _ := metricTotal(lastMetrics(t, ms2), schema.FlowLogBytesRead)

	got := s1.keys()
	for k, n := range s2.keys() {
		got[k] += n
	}
	assert.Equal(t, w, got, "every tuple exactly once over both runs")
	uids := s1.uids()
	for k, n := range s2.uids() {
		uids[k] += n
	}
	for uid, n := range uids {
		require.Equal(t, 1, n, "uid %s", uid)
	}

	var written int64
	for _, b := range blobs {
		written += int64(len(`{"records":[`) + len(b.data))
	}
	ratio := (read1 + read2) / float64(written)
	t.Logf("bytes downloaded %d, bytes of data written %d: %.4f downloaded per byte of new data", int64(read1+read2), written, ratio)
	assert.LessOrEqual(t, ratio, 1.1)
	assert.Equal(t, oldETag, old.etag(), "the reader never modifies a source blob")
	tuples, _ := metricTotal(lastMetrics(t, ms2), schema.FlowLogTuples)
	assert.Equal(t, float64(s2.count()), tuples)
}

// TestAzuriteBadData: a corrupted record in the middle of a blob and a record with an
// unknown flowLogVersion are counted and skipped; everything around them is read.
func TestAzuriteBadData(t *testing.T) {
	az := startAzurite(t)
	sec := int64(1748854800)
	b := az.newBlob(t, ContainerVNet, vnetBlobName(9, "000D3A2B1001"))
	good1 := vnetRecord(sec, "000D3A2B1001", 1000, 8)
	b.add(good1)
	corrupt := vnetRecord(sec+60, "000D3A2B1001", 2000, 8)
	b.addRaw("," + corrupt[:len(corrupt)/2] + `"]]}}` + corrupt[len(corrupt)/2:]) // not JSON any more
	unknown := strings.Replace(vnetRecord(sec+120, "000D3A2B1001", 3000, 8), `"flowLogVersion":4`, `"flowLogVersion":9`, 1)
	b.add(unknown)
	good2 := vnetRecord(sec+180, "000D3A2B1001", 4000, 5)
	b.add(good2, vnetRecord(sec+181, "000D3A2B1001", 5000, 3))

	s, ms := &sink{}, new(consumertest.MetricsSink)
	r := startReceiver(t, blobConfig(az), s, ms, componenttest.NewNopHost())
	want := refTuples(t, nwDoc([]string{good1, good2, vnetRecord(sec+181, "000D3A2B1001", 5000, 3)}))
	waitFor(t, "good tuples", 20*time.Second, func() bool { return s.count() >= sum(want) })
	afterPolls(t, r, 2)
	require.NoError(t, r.Shutdown(context.Background()))
	assert.Equal(t, want, s.keys())
	md := lastMetrics(t, ms)
	assert.Equal(t, int64(1), errorCount(md, errKindMalformed))
	assert.Equal(t, int64(1), errorCount(md, errKindUnknownVersion))
}

// deleteAfterList deletes a blob right after the listing that found it, so that the read
// that follows meets a blob that is gone.
type deleteAfterList struct {
	source
	del  func()
	done bool
}

func (d *deleteAfterList) List(ctx context.Context) ([]object, error) {
	objs, err := d.source.List(ctx)
	if !d.done && len(objs) > 0 {
		d.done = true
		d.del()
	}
	return objs, err
}

// TestAzuriteBlobDeletedWhileRead: the blob is listed, then deleted before it is read.
func TestAzuriteBlobDeletedWhileRead(t *testing.T) {
	az := startAzurite(t)
	sec := int64(1748854800)
	gone := az.newBlob(t, ContainerVNet, vnetBlobName(9, "000D3A2B1001"))
	gone.add(vnetRecord(sec, "000D3A2B1001", 1000, 8))
	kept := az.newBlob(t, ContainerVNet, vnetBlobName(9, "000D3A2B1002"))
	kept.add(vnetRecord(sec, "000D3A2B1002", 2000, 6))

	cfg := blobConfig(az)
	s, ms := &sink{}, new(consumertest.MetricsSink)
	c, err := receivers.LoadOrStore(cfg, func() (*flowlogReceiver, error) { return create(receiverSettings(), cfg) })
	require.NoError(t, err)
	r := c.Unwrap()
	r.nextLogs, r.nextMetrics = s, ms
	orig := r.newSource
	r.newSource = func() (source, error) {
		src, err := orig()
		return &deleteAfterList{source: src, del: func() {
			_, err := gone.bb.Delete(context.Background(), nil)
			require.NoError(t, err)
		}}, err
	}
	require.NoError(t, c.Start(context.Background(), componenttest.NewNopHost()))
	waitFor(t, "the kept blob", 20*time.Second, func() bool { return s.count() >= 6 })
	afterPollsOf(t, r, 2)
	require.NoError(t, c.Shutdown(context.Background()))
	assert.Equal(t, refTuples(t, kept.doc()), s.keys())
	md := lastMetrics(t, ms)
	assert.Equal(t, int64(1), errorCount(md, errKindBlobDeleted))
	blobs, _ := metricTotal(md, schema.FlowLogBlobs)
	assert.Equal(t, 1.0, blobs, "the deleted blob is no longer tracked")
}
