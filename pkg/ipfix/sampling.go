package ipfix

// Sampling state is learned from options data records and kept per
// (exporter, observation domain, sampler). A sampler is identified by
// samplerId (48, also NetFlow v9 FLOW_SAMPLER_ID) or selectorId (302);
// options records that carry a rate but no identifier set the domain's
// default rate.

// sampler kinds.
const (
	samplerKindID       uint8 = 1 // samplerId 48
	samplerKindSelector uint8 = 2 // selectorId 302
)

type samplerEntry struct {
	kind uint8
	id   uint64
	rate uint64
}

// samplers is the sampling state of one domain. The table is a small
// slice searched linearly (bounded by Config.MaxSamplersPerDomain):
// exporters have a handful of samplers.
type samplers struct {
	entries     []samplerEntry
	defaultRate uint64 // from options records without a sampler identifier
	current     uint64 // last rate learned, for Stats
}

// lookup returns the rate of a sampler, or false when it is unknown.
func (s *samplers) lookup(kind uint8, id uint64) (uint64, bool) {
	for i := range s.entries {
		e := &s.entries[i]
		if e.kind == kind && e.id == id {
			return e.rate, true
		}
	}
	return 0, false
}

// domainRate is the rate for records that name no sampler: the default
// rate if one was announced, else the rate of the only sampler, else 0.
func (s *samplers) domainRate() uint64 {
	if s.defaultRate != 0 {
		return s.defaultRate
	}
	if len(s.entries) == 1 {
		return s.entries[0].rate
	}
	return 0
}

// set records a sampler's rate. It reports false when the table is full.
func (s *samplers) set(kind uint8, id, rate uint64, max int) bool {
	s.current = rate
	for i := range s.entries {
		if e := &s.entries[i]; e.kind == kind && e.id == id {
			e.rate = rate
			return true
		}
	}
	if len(s.entries) >= max {
		return false
	}
	s.entries = append(s.entries, samplerEntry{kind: kind, id: id, rate: rate})
	return true
}

// rateOf derives a sampling rate from the sampling elements of a record:
// samplingInterval (34), else samplerRandomInterval (50), else
// samplingPacketInterval (305) and samplingPacketSpace (306) as
// (interval+space)/interval, else samplingPopulation (310) /
// samplingSize (309). Non-integer ratios are rounded to the nearest
// integer. It returns 0 when none applies.
func rateOf(v *rawValues) uint64 {
	switch {
	case v.samplingInterval != 0:
		return v.samplingInterval
	case v.randomInterval != 0:
		return v.randomInterval
	case v.pktInterval != 0:
		i := v.pktInterval
		if v.pktSpace > ^uint64(0)-i-i/2 {
			return v.pktSpace / i // avoid overflow on absurd values
		}
		return (i + v.pktSpace + i/2) / i
	case v.sampleSize != 0 && v.population != 0:
		return (v.population + v.sampleSize/2) / v.sampleSize
	}
	return 0
}

// learnSampling updates dom's sampling state from an options data record.
func (d *Decoder) learnSampling(dom *domain, p *plan, r *Record) {
	if p.flags&planSysInit != 0 && r.raw.sysInitMs != 0 {
		dom.sysInitMs = r.raw.sysInitMs
	}
	if p.flags&planRate == 0 {
		return
	}
	rate := rateOf(&r.raw)
	if rate == 0 {
		return
	}
	ok := true
	d.noteRate(dom, p, r, rate)
	switch {
	case p.flags&planSampler != 0:
		ok = dom.samplers.set(samplerKindID, r.SamplerID, rate, d.cfg.MaxSamplersPerDomain)
	case p.flags&planSelector != 0:
		ok = dom.samplers.set(samplerKindSelector, r.SelectorID, rate, d.cfg.MaxSamplersPerDomain)
	default:
		dom.samplers.defaultRate = rate
		dom.samplers.current = rate
	}
	if !ok {
		d.note(dom, ErrSamplerLimit)
	}
}

// noteRate bumps the decoder's generation when a sampling rate is new or changed.
func (d *Decoder) noteRate(dom *domain, p *plan, r *Record, rate uint64) {
	var old uint64
	var found bool
	switch {
	case p.flags&planSampler != 0:
		old, found = dom.samplers.lookup(samplerKindID, r.SamplerID)
	case p.flags&planSelector != 0:
		old, found = dom.samplers.lookup(samplerKindSelector, r.SelectorID)
	default:
		old, found = dom.samplers.defaultRate, dom.samplers.defaultRate != 0
	}
	if !found || old != rate {
		d.gen.Add(1)
	}
}

// recordRate returns the sampling rate that applies to a flow record:
// the rate it carries itself, else its sampler's, else the domain's.
func recordRate(dom *domain, p *plan, r *Record, domainRate uint64) uint64 {
	if p.flags&planRate != 0 {
		if rate := rateOf(&r.raw); rate != 0 {
			return rate
		}
	}
	if p.flags&(planSampler|planSelector) != 0 {
		if p.flags&planSampler != 0 {
			if rate, ok := dom.samplers.lookup(samplerKindID, r.SamplerID); ok {
				return rate
			}
		}
		if p.flags&planSelector != 0 {
			if rate, ok := dom.samplers.lookup(samplerKindSelector, r.SelectorID); ok {
				return rate
			}
		}
		// A sampler that was never announced: only an explicit default
		// applies, not the rate of some other sampler.
		return dom.samplers.defaultRate
	}
	return domainRate
}
