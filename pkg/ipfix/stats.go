package ipfix

import (
	"cmp"
	"net/netip"
	"slices"
)

// DomainStats are the counters of one (exporter, protocol, observation
// domain). Counters are cumulative since the domain was first seen; a
// domain forgotten after its templates expired starts again from zero.
type DomainStats struct {
	Exporter          netip.Addr
	FlowType          FlowType
	ObservationDomain uint32

	// Packets counts messages; Records flow data records delivered;
	// OptionsRecords options data records.
	Packets, Records, OptionsRecords uint64

	// Sequence accounting. IPFIX sequence numbers count data records,
	// NetFlow v9 ones count export packets: SequenceLost is in those
	// units. SequenceGaps counts the jumps forward, SequenceLost their
	// total size, SequenceOutOfOrder late messages and SequenceResets
	// exporter restarts (or jumps too large to be loss).
	SequenceGaps, SequenceLost, SequenceOutOfOrder, SequenceResets uint64

	// Templates is the number of templates currently known.
	Templates int
	// TemplatesLearned counts new or changed templates,
	// TemplatesWithdrawn IPFIX withdrawals, TemplatesExpired TTL expiry.
	TemplatesLearned, TemplatesWithdrawn, TemplatesExpired uint64

	// SamplingRate is the rate last learned from options data (0 when
	// none was).
	SamplingRate uint64

	// Errors counts decode errors met in this domain by kind.
	Errors ErrorCounts
}

// Stats is a point-in-time copy of the decoder's counters.
type Stats struct {
	// Domains is sorted by exporter, flow type and domain.
	Domains []DomainStats
	// Errors counts errors that could not be tied to a domain: short
	// messages, unknown versions, bad message lengths, exporter and
	// domain limits.
	Errors ErrorCounts
	// Exporters and Templates are the numbers currently tracked.
	Exporters, Templates int
}

// Stats returns a copy of the counters. It is safe to call concurrently
// with Decode (but not from inside a Decode callback).
func (d *Decoder) Stats() Stats {
	d.mu.Lock()
	defer d.mu.Unlock()
	s := Stats{Errors: d.errors, Exporters: len(d.exporters), Templates: d.templates}
	for _, e := range d.exporters {
		for _, dom := range e.domains {
			ds := dom.stats
			ds.Exporter = e.addr
			ds.FlowType = dom.key.flowType
			ds.ObservationDomain = dom.key.id
			ds.Templates = len(dom.templates)
			ds.SamplingRate = dom.samplers.current
			s.Domains = append(s.Domains, ds)
		}
	}
	slices.SortFunc(s.Domains, func(a, b DomainStats) int {
		if c := a.Exporter.Compare(b.Exporter); c != 0 {
			return c
		}
		if c := cmp.Compare(a.FlowType, b.FlowType); c != 0 {
			return c
		}
		return cmp.Compare(a.ObservationDomain, b.ObservationDomain)
	})
	return s
}

// Sequence tracking thresholds: a backwards jump within the window is a
// late (reordered) message; a larger one is a restart. A forward jump of
// more than maxGap units is taken as a restart too, not as loss.
const (
	ipfixReorderWindow = 1 << 16 // data records
	v9ReorderWindow    = 1 << 10 // packets
	maxGap             = 1 << 30
	// v9UptimeRestart: a NetFlow v9 sysUptime going backwards by more
	// than this (ms) means the exporter restarted.
	v9UptimeRestart = 10_000
)

// seqState tracks the sequence numbers of one domain.
type seqState struct {
	valid bool
	next  uint32 // expected sequence number of the next message
	// alt is the continuation of the last out-of-order message: a
	// message that continues it means the exporter restarted.
	altValid bool
	alt      uint32
	uptime   uint32 // last NetFlow v9 sysUptime
}

// check compares a message's sequence number with the expected one and
// updates the counters. It returns false for a late message, which must
// not move the expectation.
func (s *seqState) check(seq uint32, window int32, st *DomainStats) bool {
	if !s.valid {
		return true
	}
	diff := int32(seq - s.next)
	switch {
	case diff == 0:
		return true
	case s.altValid && seq == s.alt:
		st.SequenceResets++
		// The message taken for late was the first after a restart.
		if st.SequenceOutOfOrder > 0 {
			st.SequenceOutOfOrder--
		}
		s.altValid = false
		return true
	case diff > 0 && diff <= maxGap:
		st.SequenceGaps++
		st.SequenceLost += uint64(diff)
		return true
	case diff < 0 && -diff <= window:
		st.SequenceOutOfOrder++
		return false
	default:
		st.SequenceResets++
		return true
	}
}

// advance sets the expectation after a message: next is its sequence
// number plus what it counted, when known.
func (s *seqState) advance(inOrder, known bool, seq, count uint32) {
	if !inOrder {
		s.alt, s.altValid = seq+count, known
		return
	}
	s.altValid = false
	s.next, s.valid = seq+count, known
}
