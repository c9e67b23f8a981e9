package ipfix

import (
	"bytes"
	"encoding/binary"
)

// template is a learned template and its decode plan.
type template struct {
	id      uint16
	options bool
	// raw is a copy of the template record as received: it identifies a
	// re-announcement of the same template (no recompilation) and is what
	// Snapshot stores.
	raw       []byte
	plan      plan
	refreshed int64 // Unix ns of the last announcement
}

// scanResult is the outcome of scanning one template record.
type scanResult struct {
	n        int    // record length; 0 when the rest of the set is unusable
	id       uint16 // template ID
	withdraw bool   // IPFIX withdrawal (field count 0)
	err      ErrorKind
}

// scanIPFIXTemplate measures and checks the IPFIX (options) template
// record at the start of b (RFC 7011 sections 3.4.1 and 3.4.2) without
// allocating. b holds at least 4 bytes.
func scanIPFIXTemplate(b []byte, options bool, maxFields int) scanResult {
	id := binary.BigEndian.Uint16(b)
	fc := int(binary.BigEndian.Uint16(b[2:]))
	if fc == 0 {
		return scanResult{n: 4, id: id, withdraw: true}
	}
	off, scope := 4, 0
	if options {
		if len(b) < 6 {
			return scanResult{id: id, err: ErrTemplateTruncated}
		}
		scope = int(binary.BigEndian.Uint16(b[4:]))
		off = 6
	}
	for range fc {
		if len(b)-off < 4 {
			return scanResult{id: id, err: ErrTemplateTruncated}
		}
		if b[off]&0x80 != 0 {
			off += 8
			if off > len(b) {
				return scanResult{id: id, err: ErrTemplateTruncated}
			}
		} else {
			off += 4
		}
	}
	res := scanResult{n: off, id: id}
	switch {
	case id < 256:
		res.err = ErrTemplateID
	case fc > maxFields:
		res.err = ErrTemplateTooManyFields
	case options && (scope == 0 || scope > fc):
		res.err = ErrTemplateScope
	}
	return res
}

// scanV9Template measures and checks the NetFlow v9 template record at the
// start of b (RFC 3954 section 5.2). b holds at least 4 bytes.
func scanV9Template(b []byte, maxFields int) scanResult {
	id := binary.BigEndian.Uint16(b)
	fc := int(binary.BigEndian.Uint16(b[2:]))
	if fc == 0 {
		return scanResult{n: 4, id: id, err: ErrTemplateZeroFields}
	}
	n := 4 + 4*fc
	if n > len(b) {
		return scanResult{id: id, err: ErrTemplateTruncated}
	}
	res := scanResult{n: n, id: id}
	switch {
	case id < 256:
		res.err = ErrTemplateID
	case fc > maxFields:
		res.err = ErrTemplateTooManyFields
	}
	return res
}

// scanV9Options measures and checks the NetFlow v9 options template
// record at the start of b (RFC 3954 section 6.1). b holds at least 6
// bytes.
func scanV9Options(b []byte, maxFields int) scanResult {
	id := binary.BigEndian.Uint16(b)
	sl := int(binary.BigEndian.Uint16(b[2:]))
	ol := int(binary.BigEndian.Uint16(b[4:]))
	if sl%4 != 0 || ol%4 != 0 {
		return scanResult{id: id, err: ErrTemplateScope}
	}
	n := 6 + sl + ol
	if n > len(b) {
		return scanResult{id: id, err: ErrTemplateTruncated}
	}
	res := scanResult{n: n, id: id}
	switch {
	case sl+ol == 0:
		res.err = ErrTemplateZeroFields
	case id < 256:
		res.err = ErrTemplateID
	case (sl+ol)/4 > maxFields:
		res.err = ErrTemplateTooManyFields
	}
	return res
}

// parseTemplate validates a whole template record and returns its ID and
// fields. It is used when learning a template and when restoring one.
func parseTemplate(ft FlowType, options bool, raw []byte, maxFields int) (uint16, []templateField, ErrorKind) {
	var res scanResult
	switch {
	case len(raw) < 4 || (ft == FlowTypeNetFlowV9 && options && len(raw) < 6):
		return 0, nil, ErrTemplateTruncated
	case ft == FlowTypeIPFIX:
		res = scanIPFIXTemplate(raw, options, maxFields)
		if res.withdraw {
			return res.id, nil, ErrTemplateZeroFields
		}
	case options:
		res = scanV9Options(raw, maxFields)
	default:
		res = scanV9Template(raw, maxFields)
	}
	if res.err != ErrNone {
		return res.id, nil, res.err
	}
	if res.n != len(raw) {
		return res.id, nil, ErrTemplateTruncated
	}
	var fields []templateField
	switch {
	case ft == FlowTypeIPFIX:
		off := 4
		if options {
			off = 6
		}
		fc := int(binary.BigEndian.Uint16(raw[2:]))
		fields = make([]templateField, 0, fc)
		for off < len(raw) {
			f := templateField{
				id:     binary.BigEndian.Uint16(raw[off:]),
				length: binary.BigEndian.Uint16(raw[off+2:]),
			}
			off += 4
			if f.id&0x8000 != 0 {
				f.id &^= 0x8000
				f.pen = binary.BigEndian.Uint32(raw[off:])
				off += 4
			}
			fields = append(fields, f)
		}
	default:
		off, scopeEnd := 4, 4
		if options {
			off = 6
			scopeEnd = 6 + int(binary.BigEndian.Uint16(raw[2:]))
		}
		fields = make([]templateField, 0, (len(raw)-off)/4)
		for ; off < len(raw); off += 4 {
			fields = append(fields, templateField{
				id:     binary.BigEndian.Uint16(raw[off:]),
				length: binary.BigEndian.Uint16(raw[off+2:]),
				scope:  off < scopeEnd,
			})
		}
	}
	return res.id, fields, ErrNone
}

// learnTemplate stores (or refreshes) the template record raw in dom.
func (d *Decoder) learnTemplate(dom *domain, raw []byte, options bool, now int64) ErrorKind {
	id := binary.BigEndian.Uint16(raw)
	old := dom.templates[id]
	if old != nil && old.options == options && bytes.Equal(old.raw, raw) {
		old.refreshed = now
		return ErrNone
	}
	_, fields, kind := parseTemplate(dom.key.flowType, options, raw, d.cfg.MaxFieldsPerTemplate)
	if kind != ErrNone {
		return kind
	}
	p := compile(fields)
	if p.recLen == 0 {
		if old != nil {
			d.removeTemplate(dom, old)
		}
		return ErrTemplateZeroLength
	}
	if old != nil {
		d.removeTemplate(dom, old)
	}
	if dom.exp.templates >= d.cfg.MaxTemplatesPerExporter {
		return ErrTemplateLimit
	}
	if k := d.makeRoom(dom.exp, len(raw)); k != ErrNone {
		return k
	}
	d.account(dom.exp, 1, len(raw))
	dom.templates[id] = &template{
		id:        id,
		options:   options,
		raw:       bytes.Clone(raw),
		plan:      p,
		refreshed: now,
	}
	dom.stats.TemplatesLearned++
	d.gen.Add(1)
	return ErrNone
}

// removeTemplate forgets t.
func (d *Decoder) removeTemplate(dom *domain, t *template) {
	if dom.templates[t.id] != t {
		return
	}
	delete(dom.templates, t.id)
	d.account(dom.exp, -1, -len(t.raw))
	d.gen.Add(1)
}

// withdraw handles an IPFIX template withdrawal (RFC 7011 section 8.1):
// template ID 2 (template sets) or 3 (options template sets) withdraws
// every template of that kind in the domain.
func (d *Decoder) withdraw(dom *domain, id uint16, options bool) ErrorKind {
	all := (!options && id == 2) || (options && id == 3)
	if !all && id < 256 {
		return ErrTemplateID
	}
	for tid, t := range dom.templates {
		if (all && t.options == options) || (!all && tid == id) {
			d.removeTemplate(dom, t)
			dom.stats.TemplatesWithdrawn++
		}
	}
	return ErrNone
}

// lookupTemplate returns the live template id of dom, expiring it when it
// has not been announced within the TTL.
func (d *Decoder) lookupTemplate(dom *domain, id uint16, now int64) *template {
	t := dom.templates[id]
	if t == nil {
		return nil
	}
	if d.ttl > 0 && now-t.refreshed > d.ttl {
		d.removeTemplate(dom, t)
		dom.stats.TemplatesExpired++
		return nil
	}
	return t
}
