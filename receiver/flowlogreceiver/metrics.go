package flowlogreceiver

import (
	"sort"
	"sync"
	"time"

	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/pmetric"

	"github.com/erviz/otelcol-erviz/internal/schema"
	"github.com/erviz/otelcol-erviz/receiver/flowlogreceiver/internal/metadata"
)

// resStats are the counters of one target resource.
type resStats struct {
	tuples    int64
	bytesRead int64
	newest    time.Time
	errors    map[string]int64
}

// stats keeps the per-resource counters behind the flowlog.* metrics.
type stats struct {
	mu      sync.Mutex
	byRes   map[string]*resStats
	blobRes map[string]string // blob key -> target resource, once a record was seen
}

func newStats() *stats {
	return &stats{byRes: map[string]*resStats{}, blobRes: map[string]string{}}
}

func (s *stats) res(id string) *resStats {
	r := s.byRes[id]
	if r == nil {
		r = &resStats{errors: map[string]int64{}}
		s.byRes[id] = r
	}
	return r
}

// chunk records what reading one chunk of a blob produced.
func (s *stats) chunk(key string, downloaded int64, cr *chunkResult) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if cr != nil && cr.Resource != "" {
		s.blobRes[key] = cr.Resource
	} else if _, ok := s.blobRes[key]; !ok {
		s.blobRes[key] = ""
	}
	r := s.res(s.blobRes[key])
	r.bytesRead += downloaded
	if cr == nil {
		return
	}
	r.tuples += int64(cr.Tuples)
	if cr.Newest.After(r.newest) {
		r.newest = cr.Newest
	}
	for k, n := range cr.Errors {
		r.errors[k] += int64(n)
	}
}

// track makes a blob count in flowlog.blobs.
func (s *stats) track(key string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if _, ok := s.blobRes[key]; !ok {
		s.blobRes[key] = ""
	}
}

func (s *stats) forget(key string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	delete(s.blobRes, key)
}

// error counts a problem against the resource of a blob ("" when none is known).
func (s *stats) error(key, kind string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.res(s.blobRes[key]).errors[kind]++
}

// metrics builds the current values, one resource per target resource, through mb (the
// metrics declared in metadata.yaml).
func (s *stats) metrics(mb *metadata.MetricsBuilder, now time.Time) pmetric.Metrics {
	s.mu.Lock()
	defer s.mu.Unlock()
	blobs := map[string]int64{}
	for _, id := range s.blobRes {
		blobs[id]++
		s.res(id)
	}
	ids := make([]string, 0, len(s.byRes))
	for id := range s.byRes {
		ids = append(ids, id)
	}
	sort.Strings(ids)
	ts := pcommon.NewTimestampFromTime(now)
	for _, id := range ids {
		r := s.byRes[id]
		mb.RecordFlowlogTuplesDataPoint(ts, r.tuples)
		mb.RecordFlowlogBytesReadDataPoint(ts, r.bytesRead)
		mb.RecordFlowlogBlobsDataPoint(ts, blobs[id])
		if !r.newest.IsZero() {
			mb.RecordFlowlogLagDataPoint(ts, now.Sub(r.newest).Seconds())
		}
		kinds := make([]string, 0, len(r.errors))
		for k := range r.errors {
			kinds = append(kinds, k)
		}
		sort.Strings(kinds)
		for _, k := range kinds {
			mb.RecordFlowlogErrorsDataPoint(ts, r.errors[k], k)
		}
		rb := mb.NewResourceBuilder()
		rb.SetCloudProvider(schema.CloudProviderAzure)
		if id != "" {
			rb.SetCloudResourceID(id)
		}
		mb.EmitForResource(metadata.WithResource(rb.Emit()))
	}
	return mb.Emit()
}
