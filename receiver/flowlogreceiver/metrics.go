package flowlogreceiver

import (
	"sort"
	"sync"
	"time"

	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/pmetric"

	"github.com/erviz/otelcol-erviz/internal/schema"
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
	start   time.Time
	byRes   map[string]*resStats
	blobRes map[string]string // blob key -> target resource, once a record was seen
}

func newStats(start time.Time) *stats {
	return &stats{start: start, byRes: map[string]*resStats{}, blobRes: map[string]string{}}
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

// metrics builds the current values.
func (s *stats) metrics(now time.Time) pmetric.Metrics {
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
	md := pmetric.NewMetrics()
	startTS, nowTS := pcommon.NewTimestampFromTime(s.start), pcommon.NewTimestampFromTime(now)
	for _, id := range ids {
		r := s.byRes[id]
		rm := md.ResourceMetrics().AppendEmpty()
		ra := rm.Resource().Attributes()
		ra.PutStr(schema.CloudProvider, schema.CloudProviderAzure)
		if id != "" {
			ra.PutStr(schema.CloudResourceID, id)
		}
		sm := rm.ScopeMetrics().AppendEmpty()
		sm.Scope().SetName(scopeName)
		ms := sm.Metrics()
		sum := func(name, desc, unit string) pmetric.NumberDataPointSlice {
			m := ms.AppendEmpty()
			m.SetName(name)
			m.SetDescription(desc)
			m.SetUnit(unit)
			sm := m.SetEmptySum()
			sm.SetIsMonotonic(true)
			sm.SetAggregationTemporality(pmetric.AggregationTemporalityCumulative)
			return sm.DataPoints()
		}
		gauge := func(name, desc, unit string) pmetric.NumberDataPointSlice {
			m := ms.AppendEmpty()
			m.SetName(name)
			m.SetDescription(desc)
			m.SetUnit(unit)
			return m.SetEmptyGauge().DataPoints()
		}
		dp := sum(schema.FlowLogTuples, "Flow tuples read.", "{tuple}").AppendEmpty()
		dp.SetStartTimestamp(startTS)
		dp.SetTimestamp(nowTS)
		dp.SetIntValue(r.tuples)
		dp = sum(schema.FlowLogBytesRead, "Bytes downloaded from flow log blobs.", "By").AppendEmpty()
		dp.SetStartTimestamp(startTS)
		dp.SetTimestamp(nowTS)
		dp.SetIntValue(r.bytesRead)
		dp = gauge(schema.FlowLogBlobs, "Flow log blobs tracked.", "{blob}").AppendEmpty()
		dp.SetTimestamp(nowTS)
		dp.SetIntValue(blobs[id])
		if !r.newest.IsZero() {
			dp = gauge(schema.FlowLogLag, "Age of the newest flow tuple read.", "s").AppendEmpty()
			dp.SetTimestamp(nowTS)
			dp.SetDoubleValue(now.Sub(r.newest).Seconds())
		}
		if len(r.errors) > 0 {
			dps := sum(schema.FlowLogErrors, "Problems met while reading flow logs, by kind.", "{error}")
			kinds := make([]string, 0, len(r.errors))
			for k := range r.errors {
				kinds = append(kinds, k)
			}
			sort.Strings(kinds)
			for _, k := range kinds {
				dp := dps.AppendEmpty()
				dp.SetStartTimestamp(startTS)
				dp.SetTimestamp(nowTS)
				dp.SetIntValue(r.errors[k])
				dp.Attributes().PutStr(schema.ErrorType, k)
			}
		}
	}
	return md
}
