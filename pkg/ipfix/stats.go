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
	// TemplatesEvicted counts templates removed to make room for an
	// exporter below its fair share of Config.MaxTemplates or
	// Config.MaxTemplateBytes.
	TemplatesEvicted uint64

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
	// domain limits, messages of unknown domains without a template.
	Errors ErrorCounts
	// Total counts every error by kind, in domains or not, since the
	// decoder started (it never goes down).
	Total ErrorCounts
	// Exporters, Templates and TemplateBytes are what is currently held.
	Exporters, Templates, TemplateBytes int
}

// Stats returns a copy of the counters. It is safe to call concurrently
// with Decode (but not from inside a Decode callback).
func (d *Decoder) Stats() Stats {
	d.mu.Lock()
	defer d.mu.Unlock()
	s := Stats{Errors: d.errors, Total: d.total, Exporters: len(d.exporters), Templates: d.templates,
		TemplateBytes: d.tbytes}
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
	// v9UptimeRestart: a NetFlow v9 sysUptime going backwards by more
	// than this (ms) means the exporter restarted.
	v9UptimeRestart = 10_000
)

// Sequence conventions. RFC 7011 section 3.1: an IPFIX sequence number
// counts the data records sent before the message (options data records
// included). Some exporters differ: softflowd 1.1.0 counts the records up
// to and including the message, and leaves options data records out. A
// domain starts with seqRFC and moves to the first other convention that
// explains a message its current one does not (a real loss is explained
// by none), so such exporters do not show false gaps. Once a convention
// has explained seqConfirm messages, only the options-counting variant
// may still change (messages without options data records cannot tell
// them apart), so a loss cannot pass for a change of convention.
const (
	seqConfirm = 3
)

const (
	seqRFC      = iota // seq = previous seq + previous records
	seqRFCFlows        // same, options data records not counted
	seqPost            // seq - records = previous seq
	seqPostFlows
	numSeqModes
)

// seqMark is what a message leaves for checking the next one.
type seqMark struct {
	seq        uint32
	all, flows uint32 // data records, and those not options data
}

// seqState tracks the sequence numbers of one domain.
type seqState struct {
	valid bool
	prev  seqMark
	mode  uint8
	// confirmed counts the messages the current mode explained (capped).
	confirmed uint8
	// alt is the last out-of-order message: a message that continues it
	// means the exporter restarted.
	altValid bool
	alt      seqMark
	uptime   uint32 // last NetFlow v9 sysUptime
}

// seqDiff is how far m is past where prev says it should be, in mode.
func seqDiff(mode uint8, prev, m seqMark) int32 {
	switch mode {
	case seqRFCFlows:
		return int32(m.seq - prev.seq - prev.flows)
	case seqPost:
		return int32(m.seq - m.all - prev.seq)
	case seqPostFlows:
		return int32(m.seq - m.flows - prev.seq)
	}
	return int32(m.seq - prev.seq - prev.all)
}

// observe accounts for a decoded message m. known is false when not all
// of its records could be counted: it then only resets the baseline.
// window is the reorder window; adapt allows other conventions than
// seqRFC (IPFIX).
func (s *seqState) observe(m seqMark, known bool, window, maxGap int32, adapt bool, st *DomainStats) {
	if !known {
		s.valid, s.altValid = false, false
		return
	}
	if !s.valid {
		s.prev, s.valid = m, true
		return
	}
	diff := seqDiff(s.mode, s.prev, m)
	if diff != 0 && adapt {
		for mode := uint8(0); mode < numSeqModes; mode++ {
			if mode == s.mode || (s.confirmed >= seqConfirm && (mode^s.mode)&seqPost != 0) {
				continue
			}
			if seqDiff(mode, s.prev, m) == 0 {
				s.mode, diff = mode, 0
				break
			}
		}
	}
	switch {
	case diff == 0:
		if s.confirmed < seqConfirm {
			s.confirmed++
		}
	case s.altValid && seqDiff(s.mode, s.alt, m) == 0:
		// The message taken for late was the first after a restart.
		st.SequenceResets++
		if st.SequenceOutOfOrder > 0 {
			st.SequenceOutOfOrder--
		}
	case diff > 0 && diff <= maxGap:
		st.SequenceGaps++
		st.SequenceLost += uint64(diff)
	case diff < 0 && -diff <= window:
		st.SequenceOutOfOrder++
		s.alt, s.altValid = m, true
		return // a late message does not move the baseline
	default:
		st.SequenceResets++
	}
	s.altValid = false
	s.prev = m
}
