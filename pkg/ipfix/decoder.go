package ipfix

import (
	"encoding/binary"
	"net/netip"
	"sync"
	"sync/atomic"
	"time"
)

// Default limits.
const (
	DefaultMaxExporters            = 1024
	DefaultMaxDomainsPerExporter   = 256
	DefaultMaxTemplatesPerExporter = 1024
	DefaultMaxTemplates            = 16384
	DefaultMaxTemplateBytes        = 8 << 20
	DefaultMaxSequenceGap          = 1 << 24
	DefaultMaxFieldsPerTemplate    = 256
	DefaultMaxRecordsPerSet        = 8192
	DefaultMaxSamplersPerDomain    = 64
	// DefaultTemplateTTL is the template lifetime default of the IPFIX
	// configuration model (RFC 6728, templateLifeTime 1800 s).
	DefaultTemplateTTL = 30 * time.Minute
)

// Config sets the limits and behaviour of a Decoder. Zero values take the
// defaults.
type Config struct {
	// MaxExporters bounds the exporters tracked. Messages from further
	// exporters are dropped (ErrExporterLimit) until idle ones expire.
	MaxExporters int
	// MaxDomainsPerExporter bounds the (protocol, observation domain)
	// pairs per exporter.
	MaxDomainsPerExporter int
	// MaxTemplatesPerExporter bounds the templates of one exporter, all
	// domains together; MaxTemplates those of the whole decoder.
	MaxTemplatesPerExporter int
	MaxTemplates            int
	// MaxTemplateBytes bounds the template records held (as received, all
	// exporters together). When the total count or bytes are reached, an
	// exporter holding less than its fair share (the total over the
	// exporters) takes the room of the oldest template of the exporter
	// holding the most; any other is refused (ErrTemplateLimit,
	// ErrTemplateBytesLimit).
	MaxTemplateBytes int
	// MaxSequenceGap is the largest forward sequence jump counted as loss;
	// a larger one counts as a reset (in sequence units: data records for
	// IPFIX, packets for NetFlow v9).
	MaxSequenceGap int
	// Shared, when set, holds the exporter, template and template byte
	// counts of several Decoders (one per worker), so MaxExporters,
	// MaxTemplates and MaxTemplateBytes bound them together.
	Shared *Shared
	// Pool, when set, is a Decoder holding restored state (Restore) that
	// decodes nothing itself: a domain this Decoder does not know is moved
	// from the pool on its first message. Workers fed by SO_REUSEPORT
	// sockets share one pool, since which worker an exporter lands on
	// after a restart is the kernel's choice.
	Pool *Decoder
	// MaxFieldsPerTemplate bounds the fields of one template.
	MaxFieldsPerTemplate int
	// MaxRecordsPerSet bounds the records decoded from one set.
	MaxRecordsPerSet int
	// MaxSamplersPerDomain bounds the samplers remembered per domain.
	MaxSamplersPerDomain int
	// TemplateTTL expires templates not announced again within it; it
	// also bounds how long an idle domain and exporter are remembered
	// (twice the TTL once their templates are gone).
	// Negative disables expiry.
	TemplateTTL time.Duration
	// EmitOptionsRecords also delivers options data records to the
	// callback (with Record.Options set). They are always used for
	// sampling state.
	EmitOptionsRecords bool
	// Now is the clock; time.Now when nil.
	Now func() time.Time
}

func (c *Config) setDefaults() {
	def := func(v *int, d int) {
		if *v <= 0 {
			*v = d
		}
	}
	def(&c.MaxExporters, DefaultMaxExporters)
	def(&c.MaxDomainsPerExporter, DefaultMaxDomainsPerExporter)
	def(&c.MaxTemplatesPerExporter, DefaultMaxTemplatesPerExporter)
	def(&c.MaxTemplates, DefaultMaxTemplates)
	def(&c.MaxTemplateBytes, DefaultMaxTemplateBytes)
	def(&c.MaxSequenceGap, DefaultMaxSequenceGap)
	c.MaxSequenceGap = min(c.MaxSequenceGap, 1<<31-1)
	if c.Shared == nil {
		c.Shared = &Shared{}
	}
	def(&c.MaxFieldsPerTemplate, DefaultMaxFieldsPerTemplate)
	def(&c.MaxRecordsPerSet, DefaultMaxRecordsPerSet)
	def(&c.MaxSamplersPerDomain, DefaultMaxSamplersPerDomain)
	// Snapshot stores these counts in 16 bits.
	c.MaxDomainsPerExporter = min(c.MaxDomainsPerExporter, 0xFFFF)
	c.MaxSamplersPerDomain = min(c.MaxSamplersPerDomain, 0xFFFF)
	c.MaxFieldsPerTemplate = min(c.MaxFieldsPerTemplate, 0xFFFF)
	if c.TemplateTTL == 0 {
		c.TemplateTTL = DefaultTemplateTTL
	}
	if c.Now == nil {
		c.Now = time.Now
	}
}

// domainKey identifies an observation domain of an exporter. The flow
// type keeps NetFlow v9 source IDs and IPFIX domains apart.
type domainKey struct {
	flowType FlowType
	id       uint32
}

// domain is the state of one (exporter, protocol, observation domain).
type domain struct {
	key       domainKey
	exp       *exporter
	templates map[uint16]*template
	samplers  samplers
	sysInitMs uint64 // systemInitTimeMilliseconds learned from options data
	lastSeen  int64  // Unix ns of the last message
	seq       seqState
	stats     DomainStats
}

// exporter is the state of one exporter address.
type exporter struct {
	addr      netip.Addr
	domains   map[domainKey]*domain
	templates int
	tbytes    int     // template record bytes held
	last      *domain // cache of the last domain used
}

// Decoder decodes IPFIX (RFC 7011) and NetFlow v9 (RFC 3954) messages.
//
// A Decoder is safe for concurrent use: a mutex serialises Decode,
// Stats, Snapshot and Restore. Decode holds it while running the
// callback, so the callback must not call back into the Decoder. For
// parallel decoding use one Decoder per goroutine and route each exporter
// to always the same one (templates are per exporter).
type Decoder struct {
	mu  sync.Mutex
	cfg Config
	ttl int64 // ns; 0 when disabled

	exporters map[netip.Addr]*exporter
	lastExp   *exporter
	templates int
	tbytes    int
	errors    ErrorCounts
	// total counts every error by kind, in domains or not, and is never
	// reset (domains that are forgotten take their counters with them).
	total     ErrorCounts
	lastSweep int64
	// gen counts changes of the state Snapshot saves (templates, sampling).
	gen atomic.Uint64

	// Per-message scratch.
	rec        Record
	base       Record
	firstErr   ErrorKind
	inCallback bool
}

// NewDecoder returns a Decoder with the given configuration.
func NewDecoder(cfg Config) *Decoder {
	cfg.setDefaults()
	d := &Decoder{cfg: cfg, exporters: make(map[netip.Addr]*exporter)}
	if cfg.TemplateTTL > 0 {
		d.ttl = int64(cfg.TemplateTTL)
	}
	cfg.Shared.register(d)
	return d
}

// Generation returns a number that changes whenever the state Snapshot saves (templates,
// sampling rates) changes. It does not take the lock: a receiver polls it to persist the
// state promptly after a template arrives.
func (d *Decoder) Generation() uint64 { return d.gen.Load() }

// Decode decodes one message (one UDP datagram) received from exporter
// and calls fn for each flow data record, in order. fn may be nil.
//
// Decode decodes every set it can: errors are counted by kind (see
// Stats) and the first one met is returned, nil if none. A message whose
// header cannot be read yields no record.
//
// The *Record passed to fn, its Extra slice and every Field.Value are
// reused or reference msg: they are only valid during the call. msg is
// not retained after Decode returns. Bytes past the IPFIX message length
// are ignored (one message per datagram, RFC 7011 section 10.3.3).
func (d *Decoder) Decode(exporter netip.Addr, msg []byte, fn func(*Record)) (err error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.firstErr = ErrNone
	defer func() {
		if p := recover(); p != nil {
			if d.inCallback {
				// Not ours: let the caller's panic through.
				d.inCallback = false
				panic(p)
			}
			d.note(nil, ErrPanic)
			err = ErrPanic
		}
	}()
	exporter = exporter.Unmap()
	now := d.cfg.Now().UnixNano()
	if d.ttl > 0 && now-d.lastSweep > d.ttl/2 {
		d.sweep(now)
	}
	switch {
	case len(msg) < 2:
		d.note(nil, ErrShortMessage)
	case binary.BigEndian.Uint16(msg) == 10:
		d.decodeIPFIX(exporter, msg, now, fn)
	case binary.BigEndian.Uint16(msg) == 9:
		d.decodeV9(exporter, msg, now, fn)
	default:
		d.note(nil, ErrUnknownVersion)
	}
	if d.firstErr != ErrNone {
		return d.firstErr
	}
	return nil
}

// note counts an error in dom (or globally) and remembers the first one
// of the message.
func (d *Decoder) note(dom *domain, k ErrorKind) {
	d.total[k]++
	if dom != nil {
		dom.stats.Errors[k]++
	} else {
		d.errors[k]++
	}
	if d.firstErr == ErrNone {
		d.firstErr = k
	}
}

// domain returns the state of (addr, key), creating it within the limits
// when create is set (else nil when unknown, with nothing counted).
func (d *Decoder) domain(addr netip.Addr, key domainKey, now int64, create bool) *domain {
	e := d.lastExp
	if e == nil || e.addr != addr {
		e = d.exporters[addr]
		if e == nil {
			if !create {
				return nil
			}
			if int(d.cfg.Shared.exporters.Load()) >= d.cfg.MaxExporters {
				// Sweeping walks all state: at most once a second here,
				// or a flood of new sources would make every message
				// cost a sweep.
				if now-d.lastSweep >= int64(time.Second) {
					d.sweep(now)
				}
				if int(d.cfg.Shared.exporters.Load()) >= d.cfg.MaxExporters {
					d.note(nil, ErrExporterLimit)
					return nil
				}
			}
			e = &exporter{addr: addr, domains: make(map[domainKey]*domain)}
			d.exporters[addr] = e
			d.cfg.Shared.exporters.Add(1)
		}
		d.lastExp = e
	}
	dom := e.last
	if dom == nil || dom.key != key {
		dom = e.domains[key]
		if dom == nil {
			if !create {
				return nil
			}
			if len(e.domains) >= d.cfg.MaxDomainsPerExporter {
				d.note(nil, ErrDomainLimit)
				return nil
			}
			dom = &domain{key: key, exp: e, templates: make(map[uint16]*template)}
			e.domains[key] = dom
		}
		e.last = dom
	}
	dom.lastSeen = now
	return dom
}

// sweep expires templates past the TTL and forgets domains (with their
// counters and sampling state) that have no template left and were idle
// for twice the TTL, and exporters left without domains.
func (d *Decoder) sweep(now int64) {
	d.lastSweep = now
	if d.ttl <= 0 {
		return
	}
	for addr, e := range d.exporters {
		for key, dom := range e.domains {
			for _, t := range dom.templates {
				if now-t.refreshed > d.ttl {
					d.removeTemplate(dom, t)
					dom.stats.TemplatesExpired++
				}
			}
			if len(dom.templates) == 0 && now-dom.lastSeen > 2*d.ttl {
				delete(e.domains, key)
			}
		}
		e.last = nil
		if len(e.domains) == 0 {
			delete(d.exporters, addr)
			d.cfg.Shared.exporters.Add(-1)
		}
	}
	d.lastExp = nil
}

// IPFIX set IDs (RFC 7011 section 3.3.2).
const (
	ipfixTemplateSet = 2
	ipfixOptionsSet  = 3
	ipfixHeaderLen   = 16
	v9TemplateSet    = 0
	v9OptionsSet     = 1
	v9HeaderLen      = 20
	minDataSetID     = 256
)

// decodeIPFIX decodes an IPFIX message (RFC 7011 section 3.1).
func (d *Decoder) decodeIPFIX(addr netip.Addr, msg []byte, now int64, fn func(*Record)) {
	if len(msg) < ipfixHeaderLen {
		d.note(nil, ErrShortMessage)
		return
	}
	length := int(binary.BigEndian.Uint16(msg[2:]))
	if length < ipfixHeaderLen || length > len(msg) {
		d.note(nil, ErrMessageLength)
		return
	}
	msg = msg[:length]
	exportSecs := binary.BigEndian.Uint32(msg[4:])
	seq := binary.BigEndian.Uint32(msg[8:])
	domID := binary.BigEndian.Uint32(msg[12:])
	dom, created := d.domainFor(addr, domainKey{FlowTypeIPFIX, domID}, msg[ipfixHeaderLen:], now)
	if dom == nil {
		return
	}
	if created {
		defer d.dropIfEmpty(dom)
	}
	dom.stats.Packets++
	flowsBefore := dom.stats.Records

	ctx := msgContext{
		flowType:   FlowTypeIPFIX,
		exportSecs: exportSecs,
		exportMs:   int64(exportSecs) * 1000,
	}
	d.setBase(addr, &ctx, seq, domID)

	var records uint32
	known := true
	p := msg[ipfixHeaderLen:]
	for len(p) > 0 {
		if len(p) < 4 {
			d.note(dom, ErrSetLength)
			known = false
			break
		}
		setID := binary.BigEndian.Uint16(p)
		setLen := int(binary.BigEndian.Uint16(p[2:]))
		if setLen < 4 || setLen > len(p) {
			d.note(dom, ErrSetLength)
			known = false
			break
		}
		body := p[4:setLen]
		p = p[setLen:]
		switch {
		case setID == ipfixTemplateSet:
			d.ipfixTemplateSet(dom, body, false, now)
		case setID == ipfixOptionsSet:
			d.ipfixTemplateSet(dom, body, true, now)
		case setID >= minDataSetID:
			n, ok := d.dataSet(dom, setID, body, &ctx, now, fn)
			records += uint32(n)
			known = known && ok
		default:
			d.note(dom, ErrReservedSetID)
		}
	}
	mark := seqMark{seq: seq, all: records, flows: uint32(dom.stats.Records - flowsBefore)}
	dom.seq.observe(mark, known, ipfixReorderWindow, int32(d.cfg.MaxSequenceGap), true, &dom.stats)
}

// ipfixTemplateSet learns every template record of an IPFIX (options)
// template set.
func (d *Decoder) ipfixTemplateSet(dom *domain, body []byte, options bool, now int64) {
	for len(body) >= 4 {
		if binary.BigEndian.Uint16(body) == 0 {
			return // padding
		}
		res := scanIPFIXTemplate(body, options, d.cfg.MaxFieldsPerTemplate)
		if res.n == 0 {
			d.note(dom, res.err)
			return
		}
		raw := body[:res.n]
		body = body[res.n:]
		switch {
		case res.withdraw:
			if k := d.withdraw(dom, res.id, options); k != ErrNone {
				d.note(dom, k)
			}
		case res.err != ErrNone:
			d.note(dom, res.err)
		default:
			if k := d.learnTemplate(dom, raw, options, now); k != ErrNone {
				d.note(dom, k)
			}
		}
	}
}

// setBase prepares the header fields every record of the message shares.
func (d *Decoder) setBase(addr netip.Addr, ctx *msgContext, seq, domID uint32) {
	d.base = Record{
		FlowType:          ctx.flowType,
		Exporter:          addr,
		ExportTime:        time.Unix(int64(ctx.exportSecs), 0).UTC(),
		SequenceNumber:    seq,
		ObservationDomain: domID,
	}
}

// dataSet decodes the records of a data set. It returns the number of
// records decoded and false when the set could not be decoded whole.
func (d *Decoder) dataSet(dom *domain, id uint16, body []byte, ctx *msgContext, now int64, fn func(*Record)) (int, bool) {
	t := d.lookupTemplate(dom, id, now)
	if t == nil {
		d.note(dom, ErrMissingTemplate)
		return 0, false
	}
	p := &t.plan
	r := &d.rec
	d.base.TemplateID = id
	d.base.Options = t.options
	rate := dom.samplers.domainRate()
	max := d.cfg.MaxRecordsPerSet
	n := 0
	if p.fixed {
		// Fewer than recLen bytes left: padding (RFC 7011 section 3.3.1).
		for rl := p.recLen; len(body) >= rl; n++ {
			if n == max {
				d.note(dom, ErrRecordLimit)
				return n, false
			}
			extra := r.Extra[:0]
			*r = d.base
			r.Extra = extra
			p.decodeFixed(r, body[:rl], ctx)
			body = body[rl:]
			d.finish(dom, t, r, ctx, rate, fn)
		}
		return n, true
	}
	for ; len(body) >= p.recLen; n++ {
		if n == max {
			d.note(dom, ErrRecordLimit)
			return n, false
		}
		extra := r.Extra[:0]
		*r = d.base
		r.Extra = extra
		used := p.decodeVar(r, body, ctx)
		if used <= 0 {
			d.note(dom, ErrRecordTruncated)
			return n, false
		}
		body = body[used:]
		d.finish(dom, t, r, ctx, rate, fn)
	}
	return n, true
}

// finish derives the fields that depend on more than one element and
// delivers the record.
func (d *Decoder) finish(dom *domain, t *template, r *Record, ctx *msgContext, rate uint64, fn func(*Record)) {
	p := &t.plan
	if p.flags&planUptime != 0 {
		resolveUptime(dom, p, r, ctx)
	}
	if t.options {
		dom.stats.OptionsRecords++
		d.learnSampling(dom, p, r)
		if !d.cfg.EmitOptionsRecords {
			return
		}
	} else {
		dom.stats.Records++
		r.SamplingRate = recordRate(dom, p, r, rate)
	}
	if fn != nil {
		d.inCallback = true
		fn(r)
		d.inCallback = false
	}
}

// resolveUptime turns sysUpTime-relative times into absolute ones: for
// NetFlow v9 from the header's sysUptime and export time, for IPFIX from
// systemInitTimeMilliseconds (160) in the record or learned from options
// data. Without a reference the times stay zero.
func resolveUptime(dom *domain, p *plan, r *Record, ctx *msgContext) {
	if ctx.flowType == FlowTypeNetFlowV9 {
		if p.flags&planStartUptime != 0 {
			r.FlowStart = time.UnixMilli(ctx.exportMs - int64(int32(ctx.sysUptime-r.raw.startUptime))).UTC()
		}
		if p.flags&planEndUptime != 0 {
			r.FlowEnd = time.UnixMilli(ctx.exportMs - int64(int32(ctx.sysUptime-r.raw.endUptime))).UTC()
		}
		return
	}
	init := dom.sysInitMs
	if p.flags&planSysInit != 0 && r.raw.sysInitMs != 0 {
		init = r.raw.sysInitMs
	}
	if init == 0 {
		return
	}
	if p.flags&planStartUptime != 0 {
		r.FlowStart = time.UnixMilli(int64(init) + int64(r.raw.startUptime)).UTC()
	}
	if p.flags&planEndUptime != 0 {
		r.FlowEnd = time.UnixMilli(int64(init) + int64(r.raw.endUptime)).UTC()
	}
}
