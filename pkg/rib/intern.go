package rib

import (
	"encoding/binary"
	"net/netip"
	"slices"
)

// interner deduplicates AS paths, community lists and whole attribute sets.
// Every object carries a reference count: an AS path and a community list
// count the attribute sets that point to them; an attribute set counts the routes that carry it. An
// object leaves its map the moment its count drops to zero, so the tables
// never hold anything that no route uses. The RIB lock protects it.
type interner struct {
	paths map[string]*ASPath
	comms map[string]*Communities
	large map[string]*LargeCommunities
	attrs map[attrKey]*Attrs
	buf   []byte
	// bytes approximates the memory of the interned AS paths and community lists: their key
	// and their values take about as many bytes each.
	bytes int
}

// attrKey identifies an attribute set; interned components are compared by
// pointer, which is exact because they are interned first.
type attrKey struct {
	nextHop   netip.Addr
	path      *ASPath
	comms     *Communities
	large     *LargeCommunities
	med       uint32
	localPref uint32
	origin    Origin
	flags     uint8
	class     Class
}

func newInterner() *interner {
	return &interner{
		paths: make(map[string]*ASPath),
		comms: make(map[string]*Communities),
		large: make(map[string]*LargeCommunities),
		attrs: make(map[attrKey]*Attrs),
	}
}

func encodePath(buf []byte, segs []Segment) []byte {
	for _, s := range segs {
		buf = append(buf, byte(s.Type))
		buf = binary.AppendUvarint(buf, uint64(len(s.ASNs)))
		for _, a := range s.ASNs {
			buf = binary.LittleEndian.AppendUint32(buf, a)
		}
	}
	return buf
}

// path returns the interned AS path for segs with one more reference.
func (in *interner) path(segs []Segment) *ASPath {
	in.buf = encodePath(in.buf[:0], segs)
	if p, ok := in.paths[string(in.buf)]; ok {
		p.refs++
		return p
	}
	key := string(in.buf)
	cp := make([]Segment, 0, len(segs))
	n := 0
	for _, s := range segs {
		n += len(s.ASNs)
	}
	all := make([]uint32, 0, n)
	for _, s := range segs {
		start := len(all)
		all = append(all, s.ASNs...)
		cp = append(cp, Segment{Type: s.Type, ASNs: all[start:len(all):len(all)]})
	}
	p := &ASPath{
		Segments:  cp,
		OriginASN: originASN(cp),
		Length:    pathLength(cp),
		key:       key,
		refs:      1,
	}
	in.paths[key] = p
	in.bytes += 2 * len(key)
	return p
}

func (in *interner) releasePath(p *ASPath) {
	p.refs--
	if p.refs > 0 {
		return
	}
	delete(in.paths, p.key)
	in.bytes -= 2 * len(p.key)
}

func (in *interner) communities(vals []Community) *Communities {
	if len(vals) == 0 {
		return nil
	}
	in.buf = in.buf[:0]
	for _, v := range vals {
		in.buf = binary.LittleEndian.AppendUint32(in.buf, uint32(v))
	}
	if c, ok := in.comms[string(in.buf)]; ok {
		c.refs++
		return c
	}
	c := &Communities{Values: slices.Clone(vals), key: string(in.buf), refs: 1}
	in.comms[c.key] = c
	in.bytes += 2 * len(c.key)
	return c
}

func (in *interner) releaseCommunities(c *Communities) {
	if c == nil {
		return
	}
	c.refs--
	if c.refs == 0 {
		delete(in.comms, c.key)
		in.bytes -= 2 * len(c.key)
	}
}

func (in *interner) largeCommunities(vals []LargeCommunity) *LargeCommunities {
	if len(vals) == 0 {
		return nil
	}
	in.buf = in.buf[:0]
	for _, v := range vals {
		in.buf = binary.LittleEndian.AppendUint32(in.buf, v.Global)
		in.buf = binary.LittleEndian.AppendUint32(in.buf, v.Local1)
		in.buf = binary.LittleEndian.AppendUint32(in.buf, v.Local2)
	}
	if c, ok := in.large[string(in.buf)]; ok {
		c.refs++
		return c
	}
	c := &LargeCommunities{Values: slices.Clone(vals), key: string(in.buf), refs: 1}
	in.large[c.key] = c
	in.bytes += 2 * len(c.key)
	return c
}

func (in *interner) releaseLarge(c *LargeCommunities) {
	if c == nil {
		return
	}
	c.refs--
	if c.refs == 0 {
		delete(in.large, c.key)
		in.bytes -= 2 * len(c.key)
	}
}

const (
	flagMED = 1 << iota
	flagLocalPref
)

// intern returns the interned attribute set for p, with one more reference.
// The AS path passed in carries a reference owned by the caller, which this
// call consumes.
func (in *interner) intern(p *Path, path *ASPath, class Class) *Attrs {
	comms := in.communities(p.Communities)
	large := in.largeCommunities(p.Large)
	k := attrKey{
		nextHop: p.NextHop,
		path:    path,
		comms:   comms,
		large:   large,
		origin:  p.Origin,
		class:   class,
	}
	if p.HasMED {
		k.flags |= flagMED
		k.med = p.MED
	}
	if p.HasLocalPref {
		k.flags |= flagLocalPref
		k.localPref = p.LocalPref
	}
	if a, ok := in.attrs[k]; ok {
		a.refs++
		// The existing set already holds references to its components.
		in.releasePath(path)
		in.releaseCommunities(comms)
		in.releaseLarge(large)
		return a
	}
	a := &Attrs{
		NextHop:      k.nextHop,
		ASPath:       path,
		Origin:       k.origin,
		HasMED:       k.flags&flagMED != 0,
		HasLocalPref: k.flags&flagLocalPref != 0,
		Class:        class,
		MED:          k.med,
		LocalPref:    k.localPref,
		Communities:  comms,
		Large:        large,
		refs:         1,
	}
	in.attrs[k] = a
	return a
}

func (a *Attrs) key() attrKey {
	k := attrKey{
		nextHop: a.NextHop, path: a.ASPath, comms: a.Communities, large: a.Large,
		med: a.MED, localPref: a.LocalPref, origin: a.Origin, class: a.Class,
	}
	if a.HasMED {
		k.flags |= flagMED
	}
	if a.HasLocalPref {
		k.flags |= flagLocalPref
	}
	return k
}

func (in *interner) releaseAttrs(a *Attrs) {
	a.refs--
	if a.refs > 0 {
		return
	}
	delete(in.attrs, a.key())
	in.releasePath(a.ASPath)
	in.releaseCommunities(a.Communities)
	in.releaseLarge(a.Large)
}

// InternStats reports the sizes of the intern tables.
type InternStats struct {
	ASPaths, Communities, LargeCommunities, Attrs int
}

func (in *interner) stats() InternStats {
	return InternStats{
		ASPaths:          len(in.paths),
		Communities:      len(in.comms),
		LargeCommunities: len(in.large),
		Attrs:            len(in.attrs),
	}
}
