// Package ribregistry lets components of one collector share a RIB without copying it:
// the bgp receiver publishes its RIB under its component ID when it is created, and a
// processor that names that ID (the sampling processor's routing.source) looks it up when
// it starts. The collector creates every component of its pipelines before it starts any,
// and starts processors before receivers, so the look-up at start finds the RIB whatever
// the order of the configuration; until the receiver has loaded its routes the Source says
// it has not converged. The registry is process-wide: two collectors built in one process
// (tests) must give their bgp receivers distinct IDs.
package ribregistry

import (
	"sort"
	"sync"
	"sync/atomic"
	"time"

	"go.opentelemetry.io/collector/component"

	"github.com/erviz/otelcol-erviz/pkg/rib"
)

// Source is a published RIB with its convergence state.
type Source struct {
	ID  component.ID
	RIB *rib.RIB

	started   atomic.Int64 // Unix ns of the receiver's start, 0 before
	converged atomic.Bool
}

// NewSource returns a Source for r, not started and not converged.
func NewSource(id component.ID, r *rib.RIB) *Source { return &Source{ID: id, RIB: r} }

// MarkStarted records that the RIB's sources started at t.
func (s *Source) MarkStarted(t time.Time) { s.started.Store(t.UnixNano()) }

// Started returns when the RIB's sources started, false before.
func (s *Source) Started() (time.Time, bool) {
	ns := s.started.Load()
	if ns == 0 {
		return time.Time{}, false
	}
	return time.Unix(0, ns), true
}

// SetConverged records that every configured peer is established and has sent its
// initial table (and every configured file was read once).
func (s *Source) SetConverged() { s.converged.Store(true) }

// Converged reports whether SetConverged was called.
func (s *Source) Converged() bool { return s.converged.Load() }

// Ready reports whether the RIB can be trusted at now: it converged, or its sources started
// at least timeout ago (timeout <= 0: only convergence counts).
func (s *Source) Ready(now time.Time, timeout time.Duration) bool {
	if s.converged.Load() {
		return true
	}
	if timeout <= 0 {
		return false
	}
	ns := s.started.Load()
	return ns != 0 && now.UnixNano()-ns >= timeout.Nanoseconds()
}

var (
	mu      sync.Mutex
	sources = map[component.ID]*Source{}
)

// Register publishes s under s.ID, replacing what was there (a collector that reloads its
// configuration creates its components again). The returned function removes s, if it is
// still the one published.
func Register(s *Source) (unregister func()) {
	mu.Lock()
	sources[s.ID] = s
	mu.Unlock()
	return func() {
		mu.Lock()
		if sources[s.ID] == s {
			delete(sources, s.ID)
		}
		mu.Unlock()
	}
}

// Lookup returns the Source published under id.
func Lookup(id component.ID) (*Source, bool) {
	mu.Lock()
	defer mu.Unlock()
	s, ok := sources[id]
	return s, ok
}

// IDs returns the published IDs, sorted, for error messages.
func IDs() []string {
	mu.Lock()
	defer mu.Unlock()
	out := make([]string, 0, len(sources))
	for id := range sources {
		out = append(out, id.String())
	}
	sort.Strings(out)
	return out
}
