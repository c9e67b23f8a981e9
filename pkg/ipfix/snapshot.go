package ipfix

import (
	"encoding/binary"
	"errors"
	"fmt"
	"net/netip"
)

// Snapshot format, big-endian:
//
//	magic "ERVZIPFX", u8 format version (1)
//	u32 exporter count, then per exporter:
//	  u8 address length (4 or 16), address
//	  u16 domain count, then per domain:
//	    u8 flow type, u32 domain ID, u64 systemInitTimeMilliseconds,
//	    u64 default sampling rate, u64 current sampling rate
//	    u16 sampler count, then per sampler: u8 kind, u64 ID, u64 rate
//	    u16 template count, then per template:
//	      u8 options (0/1), i64 last announcement (Unix ns),
//	      u16 length, template record as received
//
// Templates are stored as the exporter sent them and recompiled on
// restore, so the format does not depend on the decode plans.
const (
	snapshotMagic   = "ERVZIPFX"
	snapshotVersion = 1
)

// ErrBadSnapshot is returned by Restore for data it cannot read.
var ErrBadSnapshot = errors.New("ipfix: bad snapshot")

// Snapshot serialises the templates and sampling state of every exporter,
// for Restore after a restart. Counters are not included.
func (d *Decoder) Snapshot() []byte {
	d.mu.Lock()
	defer d.mu.Unlock()
	b := append([]byte(snapshotMagic), snapshotVersion)
	b = binary.BigEndian.AppendUint32(b, uint32(len(d.exporters)))
	for _, e := range d.exporters {
		a := e.addr.AsSlice()
		b = append(b, byte(len(a)))
		b = append(b, a...)
		b = binary.BigEndian.AppendUint16(b, uint16(len(e.domains)))
		for _, dom := range e.domains {
			b = append(b, byte(dom.key.flowType))
			b = binary.BigEndian.AppendUint32(b, dom.key.id)
			b = binary.BigEndian.AppendUint64(b, dom.sysInitMs)
			b = binary.BigEndian.AppendUint64(b, dom.samplers.defaultRate)
			b = binary.BigEndian.AppendUint64(b, dom.samplers.current)
			b = binary.BigEndian.AppendUint16(b, uint16(len(dom.samplers.entries)))
			for _, s := range dom.samplers.entries {
				b = append(b, s.kind)
				b = binary.BigEndian.AppendUint64(b, s.id)
				b = binary.BigEndian.AppendUint64(b, s.rate)
			}
			b = binary.BigEndian.AppendUint16(b, uint16(len(dom.templates)))
			for _, t := range dom.templates {
				var opt byte
				if t.options {
					opt = 1
				}
				b = append(b, opt)
				b = binary.BigEndian.AppendUint64(b, uint64(t.refreshed))
				b = binary.BigEndian.AppendUint16(b, uint16(len(t.raw)))
				b = append(b, t.raw...)
			}
		}
	}
	return b
}

// snapshot reader with sticky error.
type snapReader struct {
	b   []byte
	err bool
}

func (r *snapReader) take(n int) []byte {
	if r.err || n > len(r.b) {
		r.err = true
		return nil
	}
	v := r.b[:n]
	r.b = r.b[n:]
	return v
}

func (r *snapReader) u8() uint8 {
	if v := r.take(1); v != nil {
		return v[0]
	}
	return 0
}

func (r *snapReader) u16() uint16 {
	if v := r.take(2); v != nil {
		return binary.BigEndian.Uint16(v)
	}
	return 0
}

func (r *snapReader) u32() uint32 {
	if v := r.take(4); v != nil {
		return binary.BigEndian.Uint32(v)
	}
	return 0
}

func (r *snapReader) u64() uint64 {
	if v := r.take(8); v != nil {
		return binary.BigEndian.Uint64(v)
	}
	return 0
}

type snapTemplate struct {
	options   bool
	refreshed int64
	raw       []byte
}

type snapDomain struct {
	key                        domainKey
	sysInitMs, defRate, curRat uint64
	samplers                   []samplerEntry
	templates                  []snapTemplate
}

type snapExporter struct {
	addr    netip.Addr
	domains []snapDomain
}

// parseSnapshot reads and checks a whole snapshot.
func parseSnapshot(b []byte, maxFields int) ([]snapExporter, error) {
	r := &snapReader{b: b}
	if string(r.take(len(snapshotMagic))) != snapshotMagic {
		return nil, fmt.Errorf("%w: no magic", ErrBadSnapshot)
	}
	if v := r.u8(); v != snapshotVersion {
		return nil, fmt.Errorf("%w: format version %d", ErrBadSnapshot, v)
	}
	ne := r.u32()
	var out []snapExporter
	for i := uint32(0); i < ne && !r.err; i++ {
		al := int(r.u8())
		if al != 4 && al != 16 {
			return nil, fmt.Errorf("%w: address length %d", ErrBadSnapshot, al)
		}
		addr, _ := netip.AddrFromSlice(r.take(al))
		se := snapExporter{addr: addr.Unmap()}
		nd := int(r.u16())
		for j := 0; j < nd && !r.err; j++ {
			var sd snapDomain
			sd.key.flowType = FlowType(r.u8())
			if sd.key.flowType != FlowTypeIPFIX && sd.key.flowType != FlowTypeNetFlowV9 {
				return nil, fmt.Errorf("%w: flow type %d", ErrBadSnapshot, sd.key.flowType)
			}
			sd.key.id = r.u32()
			sd.sysInitMs, sd.defRate, sd.curRat = r.u64(), r.u64(), r.u64()
			ns := int(r.u16())
			for k := 0; k < ns && !r.err; k++ {
				sd.samplers = append(sd.samplers, samplerEntry{kind: r.u8(), id: r.u64(), rate: r.u64()})
			}
			nt := int(r.u16())
			for k := 0; k < nt && !r.err; k++ {
				st := snapTemplate{options: r.u8() == 1, refreshed: int64(r.u64())}
				st.raw = r.take(int(r.u16()))
				if r.err {
					break
				}
				if _, _, kind := parseTemplate(sd.key.flowType, st.options, st.raw, maxFields); kind != ErrNone {
					return nil, fmt.Errorf("%w: template: %v", ErrBadSnapshot, kind)
				}
				sd.templates = append(sd.templates, st)
			}
			se.domains = append(se.domains, sd)
		}
		out = append(out, se)
	}
	if r.err {
		return nil, fmt.Errorf("%w: truncated", ErrBadSnapshot)
	}
	if len(r.b) != 0 {
		return nil, fmt.Errorf("%w: %d trailing bytes", ErrBadSnapshot, len(r.b))
	}
	return out, nil
}

// Restore merges a Snapshot into the decoder: templates not already known
// with a later announcement are installed (recompiled), templates past the
// TTL are skipped, and sampling state is taken from the snapshot. The
// configured limits apply. A snapshot that cannot be read is rejected
// whole and leaves the decoder unchanged.
func (d *Decoder) Restore(b []byte) error {
	d.mu.Lock()
	defer d.mu.Unlock()
	snap, err := parseSnapshot(b, d.cfg.MaxFieldsPerTemplate)
	if err != nil {
		return err
	}
	now := d.cfg.Now().UnixNano()
	for _, se := range snap {
		for _, sd := range se.domains {
			dom := d.domain(se.addr, sd.key, now, true)
			if dom == nil {
				continue // limits
			}
			d.restoreDomain(dom, sd, now)
			d.dropIfEmpty(dom)
		}
	}
	d.firstErr = ErrNone
	return nil
}

// restoreDomain merges the saved state of one domain.
func (d *Decoder) restoreDomain(dom *domain, sd snapDomain, now int64) {
	if dom.sysInitMs == 0 {
		dom.sysInitMs = sd.sysInitMs
	}
	if dom.samplers.defaultRate == 0 {
		dom.samplers.defaultRate = sd.defRate
	}
	current := dom.samplers.current
	if current == 0 {
		current = sd.curRat
	}
	for _, s := range sd.samplers {
		if _, ok := dom.samplers.lookup(s.kind, s.id); !ok && s.rate != 0 &&
			(s.kind == samplerKindID || s.kind == samplerKindSelector) {
			dom.samplers.set(s.kind, s.id, s.rate, d.cfg.MaxSamplersPerDomain)
		}
	}
	dom.samplers.current = current
	for _, st := range sd.templates {
		if d.ttl > 0 && now-st.refreshed > d.ttl {
			continue
		}
		id := binary.BigEndian.Uint16(st.raw)
		if old := dom.templates[id]; old != nil && old.refreshed >= st.refreshed {
			continue
		}
		d.learnTemplate(dom, st.raw, st.options, st.refreshed)
	}
}
