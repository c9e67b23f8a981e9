package ipfix

import (
	"encoding/binary"
	"net/netip"
)

// take removes the state of (addr, key) from a pool decoder and returns
// it, if the pool holds it.
func (d *Decoder) take(addr netip.Addr, key domainKey, now int64) (snapDomain, bool) {
	d.mu.Lock()
	defer d.mu.Unlock()
	dom := d.domain(addr, key, now, false)
	if dom == nil {
		return snapDomain{}, false
	}
	sd := snapDomain{key: key, sysInitMs: dom.sysInitMs, defRate: dom.samplers.defaultRate,
		curRat: dom.samplers.current, samplers: append([]samplerEntry(nil), dom.samplers.entries...)}
	for _, t := range dom.templates {
		sd.templates = append(sd.templates, snapTemplate{options: t.options, refreshed: t.refreshed, raw: t.raw})
		d.removeTemplate(dom, t)
	}
	d.dropIfEmpty(dom)
	return sd, true
}

// Expire drops templates past the TTL, and idle domains and exporters, now
// rather than at the next Decode (for a pool, which decodes nothing).
func (d *Decoder) Expire() {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.sweep(d.cfg.Now().UnixNano())
}

// Merge returns the state of several decoders as one Snapshot.
func Merge(ds ...*Decoder) []byte {
	parts := make([][]byte, 0, len(ds))
	for _, d := range ds {
		parts = append(parts, d.Snapshot())
	}
	return joinSnapshots(parts)
}

// joinSnapshots concatenates the exporters of several snapshots (Restore
// merges an exporter met twice).
func joinSnapshots(parts [][]byte) []byte {
	head := len(snapshotMagic) + 1
	var n uint32
	size := head + 4
	for _, p := range parts {
		n += binary.BigEndian.Uint32(p[head:])
		size += len(p) - head - 4
	}
	b := make([]byte, 0, size)
	b = append(b, snapshotMagic...)
	b = append(b, snapshotVersion)
	b = binary.BigEndian.AppendUint32(b, n)
	for _, p := range parts {
		b = append(b, p[head+4:]...)
	}
	return b
}

// Totals returns Stats().Total without copying the per-domain counters.
func (d *Decoder) Totals() ErrorCounts {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.total
}
