package ipfix

import (
	"encoding/binary"
	"net/netip"
)

// NetFlow v9 (RFC 3954): packets and template sets, decoded into the same records and
// template state as IPFIX.

// decodeV9 decodes a NetFlow v9 packet (RFC 3954 section 5.1).
func (d *Decoder) decodeV9(addr netip.Addr, msg []byte, now int64, fn func(*Record)) {
	if len(msg) < v9HeaderLen {
		d.note(nil, ErrShortMessage)
		return
	}
	sysUptime := binary.BigEndian.Uint32(msg[4:])
	unixSecs := binary.BigEndian.Uint32(msg[8:])
	seq := binary.BigEndian.Uint32(msg[12:])
	sourceID := binary.BigEndian.Uint32(msg[16:])
	dom, created := d.domainFor(addr, domainKey{FlowTypeNetFlowV9, sourceID}, msg[v9HeaderLen:], now)
	if dom == nil {
		return
	}
	if created {
		defer d.dropIfEmpty(dom)
	}
	dom.stats.Packets++
	if dom.seq.valid && int32(sysUptime-dom.seq.uptime) < -v9UptimeRestart {
		// sysUptime went back: the exporter restarted.
		dom.stats.SequenceResets++
		dom.seq.valid, dom.seq.altValid = false, false
	}
	if !dom.seq.valid || int32(sysUptime-dom.seq.uptime) > 0 {
		dom.seq.uptime = sysUptime
	}
	// NetFlow v9 sequence numbers count packets (RFC 3954 section 5.1).
	dom.seq.observe(seqMark{seq: seq, all: 1, flows: 1}, true, v9ReorderWindow, int32(d.cfg.MaxSequenceGap), false, &dom.stats)

	ctx := msgContext{
		flowType:   FlowTypeNetFlowV9,
		exportSecs: unixSecs,
		sysUptime:  sysUptime,
		exportMs:   int64(unixSecs) * 1000,
	}
	d.setBase(addr, &ctx, seq, sourceID)

	p := msg[v9HeaderLen:]
	for len(p) >= 4 { // fewer bytes left: padding
		setID := binary.BigEndian.Uint16(p)
		setLen := int(binary.BigEndian.Uint16(p[2:]))
		if setLen < 4 || setLen > len(p) {
			d.note(dom, ErrSetLength)
			break
		}
		body := p[4:setLen]
		p = p[setLen:]
		switch {
		case setID == v9TemplateSet:
			d.v9TemplateSet(dom, body, false, now)
		case setID == v9OptionsSet:
			d.v9TemplateSet(dom, body, true, now)
		case setID >= minDataSetID:
			d.dataSet(dom, setID, body, &ctx, now, fn)
		default:
			d.note(dom, ErrReservedSetID)
		}
	}
}

// v9TemplateSet learns every template record of a NetFlow v9 template or
// options template flowset.
func (d *Decoder) v9TemplateSet(dom *domain, body []byte, options bool, now int64) {
	min := 4
	if options {
		min = 6
	}
	for len(body) >= min {
		if binary.BigEndian.Uint16(body) == 0 {
			return // padding
		}
		var res scanResult
		if options {
			res = scanV9Options(body, d.cfg.MaxFieldsPerTemplate)
		} else {
			res = scanV9Template(body, d.cfg.MaxFieldsPerTemplate)
		}
		if res.n == 0 {
			d.note(dom, res.err)
			return
		}
		raw := body[:res.n]
		body = body[res.n:]
		if res.err != ErrNone {
			d.note(dom, res.err)
			continue
		}
		if k := d.learnTemplate(dom, raw, options, now); k != ErrNone {
			d.note(dom, k)
		}
	}
}
