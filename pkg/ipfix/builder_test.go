package ipfix

import (
	"encoding/binary"
	"net/netip"
	"testing"
	"time"
)

// msgBuilder writes IPFIX and NetFlow v9 messages byte by byte.
type msgBuilder struct {
	b        []byte
	v9       bool
	setStart int
	count    int // NetFlow v9 header count
}

// fs is a field specifier.
type fs struct {
	id     uint16
	length uint16
	pen    uint32
}

func newIPFIX(exportTime, seq, domain uint32) *msgBuilder {
	m := &msgBuilder{setStart: -1}
	m.u16(10).u16(0).u32(exportTime).u32(seq).u32(domain)
	return m
}

func newV9(sysUptime, unixSecs, seq, sourceID uint32) *msgBuilder {
	m := &msgBuilder{setStart: -1, v9: true}
	m.u16(9).u16(0).u32(sysUptime).u32(unixSecs).u32(seq).u32(sourceID)
	return m
}

func (m *msgBuilder) u8(v uint8) *msgBuilder   { m.b = append(m.b, v); return m }
func (m *msgBuilder) u16(v uint16) *msgBuilder { m.b = binary.BigEndian.AppendUint16(m.b, v); return m }
func (m *msgBuilder) u32(v uint32) *msgBuilder { m.b = binary.BigEndian.AppendUint32(m.b, v); return m }
func (m *msgBuilder) u64(v uint64) *msgBuilder { m.b = binary.BigEndian.AppendUint64(m.b, v); return m }
func (m *msgBuilder) raw(p ...byte) *msgBuilder {
	m.b = append(m.b, p...)
	return m
}
func (m *msgBuilder) addr(s string) *msgBuilder {
	return m.raw(netip.MustParseAddr(s).AsSlice()...)
}
func (m *msgBuilder) pad(n int) *msgBuilder { return m.raw(make([]byte, n)...) }

// uintN writes v in n bytes (reduced-size encoding).
func (m *msgBuilder) uintN(v uint64, n int) *msgBuilder {
	for i := n - 1; i >= 0; i-- {
		m.b = append(m.b, byte(v>>(8*i)))
	}
	return m
}

// varField writes a variable-length value with its length prefix.
func (m *msgBuilder) varField(v []byte) *msgBuilder {
	if len(v) < 255 {
		m.u8(uint8(len(v)))
	} else {
		m.u8(255).u16(uint16(len(v)))
	}
	return m.raw(v...)
}

// set starts a set (closing the previous one).
func (m *msgBuilder) set(id uint16) *msgBuilder {
	m.endSet()
	m.setStart = len(m.b)
	return m.u16(id).u16(0)
}

func (m *msgBuilder) endSet() {
	if m.setStart >= 0 {
		binary.BigEndian.PutUint16(m.b[m.setStart+2:], uint16(len(m.b)-m.setStart))
		m.setStart = -1
	}
}

// tmpl writes an IPFIX or NetFlow v9 template record.
func (m *msgBuilder) tmpl(id uint16, fields ...fs) *msgBuilder {
	m.u16(id).u16(uint16(len(fields)))
	m.fields(fields)
	m.count++
	return m
}

func (m *msgBuilder) fields(fields []fs) {
	for _, f := range fields {
		if f.pen != 0 {
			m.u16(f.id | 0x8000).u16(f.length).u32(f.pen)
		} else {
			m.u16(f.id).u16(f.length)
		}
	}
}

// optTmpl writes an IPFIX options template record.
func (m *msgBuilder) optTmpl(id uint16, scope int, fields ...fs) *msgBuilder {
	m.u16(id).u16(uint16(len(fields))).u16(uint16(scope))
	m.fields(fields)
	return m
}

// v9OptTmpl writes a NetFlow v9 options template record.
func (m *msgBuilder) v9OptTmpl(id uint16, scope, opts []fs) *msgBuilder {
	m.u16(id).u16(uint16(4 * len(scope))).u16(uint16(4 * len(opts)))
	m.fields(scope)
	m.fields(opts)
	m.count++
	return m
}

// record counts a NetFlow v9 data record in the header count.
func (m *msgBuilder) record() *msgBuilder { m.count++; return m }

func (m *msgBuilder) bytes() []byte {
	m.endSet()
	if m.v9 {
		binary.BigEndian.PutUint16(m.b[2:], uint16(m.count))
	} else {
		binary.BigEndian.PutUint16(m.b[2:], uint16(len(m.b)))
	}
	return m.b
}

// collected is a deep copy of a Record.
type collected struct {
	Record
	extra []Field
}

// collect decodes msgs with d and returns copies of every record.
func collect(t *testing.T, d *Decoder, exporter string, msgs ...[]byte) []collected {
	t.Helper()
	var out []collected
	for _, msg := range msgs {
		err := d.Decode(netip.MustParseAddr(exporter), msg, func(r *Record) {
			c := collected{Record: *r}
			for _, f := range r.Extra {
				f.Value = append([]byte(nil), f.Value...)
				c.extra = append(c.extra, f)
			}
			c.Record.Extra = nil
			out = append(out, c)
		})
		if err != nil {
			t.Logf("Decode: %v", err)
		}
	}
	return out
}

// fakeClock is an injectable clock.
type fakeClock struct{ t time.Time }

func (c *fakeClock) now() time.Time { return c.t }

func domainStats(t *testing.T, d *Decoder, exporter string, ft FlowType, id uint32) DomainStats {
	t.Helper()
	for _, ds := range d.Stats().Domains {
		if ds.Exporter == netip.MustParseAddr(exporter) && ds.FlowType == ft && ds.ObservationDomain == id {
			return ds
		}
	}
	t.Fatalf("no stats for %s %v %d", exporter, ft, id)
	return DomainStats{}
}

func addr(s string) netip.Addr { return netip.MustParseAddr(s) }
