package ipfixreceiver

import (
	"cmp"
	"slices"

	"github.com/erviz/otelcol-erviz/pkg/ipfix"
)

// decoderSet is one ipfix.Decoder per worker (no lock shared between workers), bounded
// together through ipfix.Shared, and a pool Decoder that takes the state restored at start
// and hands each (exporter, domain) to the worker that first receives it: after a restart
// the kernel may send an exporter to another SO_REUSEPORT socket than before.
type decoderSet struct {
	pool    *ipfix.Decoder
	workers []*ipfix.Decoder
	shared  *ipfix.Shared
}

func newDecoderSet(n int, cfg ipfix.Config) *decoderSet {
	s := &decoderSet{shared: &ipfix.Shared{}}
	cfg.Shared = s.shared
	s.pool = ipfix.NewDecoder(cfg)
	cfg.Pool = s.pool
	for range n {
		s.workers = append(s.workers, ipfix.NewDecoder(cfg))
	}
	return s
}

func (s *decoderSet) all() []*ipfix.Decoder { return append([]*ipfix.Decoder{s.pool}, s.workers...) }

// Generation changes whenever the state a snapshot holds changes.
func (s *decoderSet) Generation() uint64 {
	var g uint64
	for _, d := range s.all() {
		g += d.Generation()
	}
	return g
}

// Stats merges the counters of every decoder.
func (s *decoderSet) Stats() ipfix.Stats {
	var out ipfix.Stats
	for _, d := range s.all() {
		st := d.Stats()
		out.Domains = append(out.Domains, st.Domains...)
		for k := range st.Errors {
			out.Errors[k] += st.Errors[k]
			out.Total[k] += st.Total[k]
		}
		out.Exporters += st.Exporters
		out.Templates += st.Templates
		out.TemplateBytes += st.TemplateBytes
	}
	slices.SortFunc(out.Domains, func(a, b ipfix.DomainStats) int {
		if c := a.Exporter.Compare(b.Exporter); c != 0 {
			return c
		}
		if c := cmp.Compare(a.FlowType, b.FlowType); c != 0 {
			return c
		}
		return cmp.Compare(a.ObservationDomain, b.ObservationDomain)
	})
	return out
}

// Snapshot is the state of the pool and every worker in one snapshot.
func (s *decoderSet) Snapshot() []byte { return ipfix.Merge(s.all()...) }

// Restore loads a snapshot into the pool; the configured limits apply.
func (s *decoderSet) Restore(b []byte) error { return s.pool.Restore(b) }

// expirePool drops restored state no exporter claimed within the template TTL.
func (s *decoderSet) expirePool() { s.pool.Expire() }
