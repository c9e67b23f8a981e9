package ipfix

import (
	"encoding/binary"
	"net/netip"
	"sync"
	"sync/atomic"
)

// Shared holds the counts several Decoders bound together (Config.Shared):
// one Decoder per worker, one budget of exporters and templates.
type Shared struct {
	exporters, templates, templateBytes atomic.Int64

	mu       sync.Mutex
	decoders []*Decoder // every Decoder sharing the budget, for evictions across them
}

func (s *Shared) register(d *Decoder) {
	s.mu.Lock()
	s.decoders = append(s.decoders, d)
	s.mu.Unlock()
}

func (s *Shared) others(d *Decoder) []*Decoder {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make([]*Decoder, 0, len(s.decoders))
	for _, o := range s.decoders {
		if o != d {
			out = append(out, o)
		}
	}
	return out
}

// Exporters, Templates and TemplateBytes are the totals currently held.
func (s *Shared) Exporters() int     { return int(s.exporters.Load()) }
func (s *Shared) Templates() int     { return int(s.templates.Load()) }
func (s *Shared) TemplateBytes() int { return int(s.templateBytes.Load()) }

// account adds n templates of b bytes held by e.
func (d *Decoder) account(e *exporter, n, b int) {
	e.templates += n
	e.tbytes += b
	d.templates += n
	d.tbytes += b
	d.cfg.Shared.templates.Add(int64(n))
	d.cfg.Shared.templateBytes.Add(int64(b))
}

// maxEvictions bounds the templates one new template may push out.
const maxEvictions = 16

// makeRoom checks the total template count and bytes for one more template
// of size bytes from e. When they are reached and e holds less than its
// fair share, the oldest template of the exporter holding the most (more
// than e will) is evicted, in this decoder or else in another one sharing
// the budget, so a flood of templates from a few sources cannot lock out
// an exporter that arrives later.
func (d *Decoder) makeRoom(e *exporter, size int) ErrorKind {
	sh := d.cfg.Shared
	for range maxEvictions + 1 {
		overCount := int(sh.templates.Load())+1 > d.cfg.MaxTemplates
		overBytes := int(sh.templateBytes.Load())+size > d.cfg.MaxTemplateBytes
		if !overCount && !overBytes {
			return ErrNone
		}
		kind := ErrTemplateLimit
		if !overCount {
			kind = ErrTemplateBytesLimit
		}
		exporters := max(int(sh.exporters.Load()), 1)
		fairCount := d.cfg.MaxTemplates / exporters
		fairBytes := d.cfg.MaxTemplateBytes / exporters
		if e.templates+1 > fairCount || e.tbytes+size > fairBytes {
			return kind
		}
		if !d.evictFromLargest(e) && !d.evictElsewhere(e) {
			return kind
		}
	}
	return ErrTemplateLimit
}

// evictElsewhere evicts from the largest holder of another Decoder sharing the budget (a
// template bomb may sit on another worker than the newcomer). It only takes a Decoder whose
// lock is free at once: two workers evicting for each other cannot deadlock, and one busy
// decoding is skipped (the newcomer's next template announcement tries again).
func (d *Decoder) evictElsewhere(e *exporter) bool {
	for _, o := range d.cfg.Shared.others(d) {
		if !o.mu.TryLock() {
			continue
		}
		ok := o.evictFromLargest(e)
		o.mu.Unlock()
		if ok {
			return true
		}
	}
	return false
}

// evictFromLargest removes the oldest template of the exporter (not e)
// holding the most template bytes, if it holds more than e.
func (d *Decoder) evictFromLargest(e *exporter) bool {
	var victim *exporter
	for _, x := range d.exporters {
		if x != e && x.templates > 0 && (victim == nil || x.tbytes > victim.tbytes) {
			victim = x
		}
	}
	if victim == nil || victim.tbytes <= e.tbytes {
		return false
	}
	var oldest *template
	var in *domain
	for _, dom := range victim.domains {
		for _, t := range dom.templates {
			if oldest == nil || t.refreshed < oldest.refreshed {
				oldest, in = t, dom
			}
		}
	}
	if oldest == nil {
		return false
	}
	d.removeTemplate(in, oldest)
	in.stats.TemplatesEvicted++
	in.stats.Errors[ErrTemplateEvicted]++
	d.total[ErrTemplateEvicted]++
	return true
}

// domainFor returns the domain of a message whose sets start at sets. An
// unknown domain is created only when the message carries a template set
// (the caller then drops it again if no template was learned): messages
// that cannot create decodable state, such as header-only datagrams from
// many spoofed sources, leave none behind.
func (d *Decoder) domainFor(addr netip.Addr, key domainKey, sets []byte, now int64) (dom *domain, created bool) {
	if dom = d.domain(addr, key, now, false); dom != nil {
		return dom, false
	}
	if d.cfg.Pool != nil {
		if sd, ok := d.cfg.Pool.take(addr, key, now); ok {
			if dom = d.domain(addr, key, now, true); dom != nil {
				d.restoreDomain(dom, sd, now)
			}
			return dom, dom != nil
		}
	}
	if !hasTemplateSet(key.flowType, sets) {
		d.note(nil, ErrUnknownDomain)
		return nil, false
	}
	return d.domain(addr, key, now, true), true
}

// hasTemplateSet tells whether sets hold a (options) template set.
func hasTemplateSet(ft FlowType, sets []byte) bool {
	for len(sets) >= 4 {
		id := binary.BigEndian.Uint16(sets)
		n := int(binary.BigEndian.Uint16(sets[2:]))
		if ft == FlowTypeIPFIX && (id == ipfixTemplateSet || id == ipfixOptionsSet) ||
			ft == FlowTypeNetFlowV9 && (id == v9TemplateSet || id == v9OptionsSet) {
			return true
		}
		if n < 4 || n > len(sets) {
			return false
		}
		sets = sets[n:]
	}
	return false
}

// dropIfEmpty forgets a domain created for a message that left no template
// in it (and its exporter if it has no other domain).
func (d *Decoder) dropIfEmpty(dom *domain) {
	if len(dom.templates) > 0 {
		return
	}
	e := dom.exp
	if e.domains[dom.key] != dom {
		return
	}
	delete(e.domains, dom.key)
	if e.last == dom {
		e.last = nil
	}
	if len(e.domains) == 0 && d.exporters[e.addr] == e {
		delete(d.exporters, e.addr)
		d.cfg.Shared.exporters.Add(-1)
		if d.lastExp == e {
			d.lastExp = nil
		}
	}
}
