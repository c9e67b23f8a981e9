package flowlog

import (
	"bytes"
	"fmt"
	"strconv"
	"time"
)

// setString stores a record-level string value (nil for null).
func (p *Parser) setString(k int, b []byte, badKeys *uint32) {
	r := &p.rec
	if k == keyTime {
		if b == nil {
			r.Time = time.Time{}
			return
		}
		if err := r.Time.UnmarshalText(b); err != nil {
			r.Time = time.Time{}
			*badKeys |= 1 << k
		}
		return
	}
	v := p.intern.get(b)
	switch k {
	case keyFlowLogGUID:
		r.FlowLogGUID = v
	case keyMACAddress:
		r.MACAddress = v
	case keyCategory:
		r.Category = v
	case keyFlowLogResourceID:
		r.FlowLogResourceID = v
	case keyTargetResourceID:
		r.TargetResourceID = v
	case keyOperationName:
		r.OperationName = v
	case keyResourceID:
		r.ResourceID = v
	case keySystemID:
		r.SystemID = v
	}
}

// parseContainer parses a flowRecords (VNet) or properties (NSG) object at
// s.pos, appending tuples to the record, and fills c.
func (p *Parser) parseContainer(kind Kind, c *container) error {
	s := &p.s
	m := p.mark()
	flowsStart, parsedVer := -1, 0
	if s.openObject() {
		for {
			key, err := p.readKey()
			if err != nil {
				return err
			}
			switch {
			case string(key) == "flows":
				p.truncate(m)
				c.bad, flowsStart, parsedVer = "", -1, 0
				if s.isNull() {
					break
				}
				flowsStart = s.pos
				if kind == KindVNet {
					c.bad, err = p.parseFlows(kind, 0)
				} else if nsgVersionOK(c.ver) {
					parsedVer = c.ver.v
					c.bad, err = p.parseFlows(kind, parsedVer)
				} else {
					err = s.skipValue() // version not known yet
				}
			case kind == KindNSG && string(key) == "Version":
				c.ver, c.verBad, err = p.readVersion()
			default:
				err = s.skipValue()
			}
			if err != nil {
				return err
			}
			more, err := s.nextMember()
			if err != nil {
				return err
			}
			if !more {
				break
			}
		}
	}
	// NSG: the flows came before a usable Version, or Version changed
	// afterwards: decode them again with the final version.
	if kind == KindNSG && flowsStart >= 0 && nsgVersionOK(c.ver) && parsedVer != c.ver.v {
		p.truncate(m)
		end := s.pos
		s.pos = flowsStart
		var err error
		c.bad, err = p.parseFlows(kind, c.ver.v)
		s.pos = end
		if err != nil {
			return err
		}
	}
	return nil
}

// Names of the nested keys, by kind: level 1 is flowRecords.flows[] /
// properties.flows[], level 2 is flowGroups[] / flows[].flows[].
func levelKeys(kind Kind) (l1Label, l1Array, l2Label string) {
	if kind == KindVNet {
		return "aclID", "flowGroups", "rule"
	}
	return "rule", "flows", "mac"
}

// parseFlows parses the level-1 array at s.pos. It returns a description of
// the first shape problem, or "".
func (p *Parser) parseFlows(kind Kind, ver int) (string, error) {
	s := &p.s
	if s.peek() != '[' {
		return "flows is not an array", s.skipValue()
	}
	bad := ""
	if !s.openArray() {
		return "", nil
	}
	for fi := 0; ; fi++ {
		switch {
		case s.isNull():
		case s.peek() == '{':
			b, err := p.parseFlow(kind, ver, fi)
			if err != nil {
				return "", err
			}
			if bad == "" {
				bad = b
			}
		default:
			if err := s.skipValue(); err != nil {
				return "", err
			}
			if bad == "" {
				bad = "flows element is not an object"
			}
		}
		more, err := s.nextElement()
		if err != nil || !more {
			return bad, err
		}
	}
}

// parseFlow parses one level-1 object.
func (p *Parser) parseFlow(kind Kind, ver, fi int) (string, error) {
	s := &p.s
	l1Label, l1Array, _ := levelKeys(kind)
	m := p.mark()
	var label string
	labelBad, arrBad := false, ""
	if s.openObject() {
		for {
			key, err := p.readKey()
			if err != nil {
				return "", err
			}
			switch string(key) {
			case l1Label:
				var b []byte
				var ok bool
				b, ok, err = p.readString()
				labelBad, label = !ok, p.intern.get(b)
			case l1Array:
				p.truncate(m)
				arrBad = ""
				if !s.isNull() {
					arrBad, err = p.parseGroups(kind, ver, fi)
				}
			default:
				err = s.skipValue()
			}
			if err != nil {
				return "", err
			}
			more, err := s.nextMember()
			if err != nil {
				return "", err
			}
			if !more {
				break
			}
		}
	}
	ts := p.rec.Tuples[m.n:]
	for i := range ts {
		if kind == KindVNet {
			ts[i].ACLID = label
		} else {
			ts[i].Rule = label
		}
	}
	if labelBad {
		return l1Label + " is not a string", nil
	}
	return arrBad, nil
}

// parseGroups parses the level-2 array at s.pos.
func (p *Parser) parseGroups(kind Kind, ver, fi int) (string, error) {
	s := &p.s
	_, l1Array, _ := levelKeys(kind)
	if s.peek() != '[' {
		return l1Array + " is not an array", s.skipValue()
	}
	bad := ""
	if !s.openArray() {
		return "", nil
	}
	for gi := 0; ; gi++ {
		switch {
		case s.isNull():
		case s.peek() == '{':
			b, err := p.parseGroup(kind, ver, fi, gi)
			if err != nil {
				return "", err
			}
			if bad == "" {
				bad = b
			}
		default:
			if err := s.skipValue(); err != nil {
				return "", err
			}
			if bad == "" {
				bad = l1Array + " element is not an object"
			}
		}
		more, err := s.nextElement()
		if err != nil || !more {
			return bad, err
		}
	}
}

// parseGroup parses one level-2 object.
func (p *Parser) parseGroup(kind Kind, ver, fi, gi int) (string, error) {
	s := &p.s
	_, _, l2Label := levelKeys(kind)
	m := p.mark()
	var label string
	labelBad, arrBad := false, ""
	if s.openObject() {
		for {
			key, err := p.readKey()
			if err != nil {
				return "", err
			}
			switch string(key) {
			case l2Label:
				var b []byte
				var ok bool
				b, ok, err = p.readString()
				labelBad, label = !ok, p.intern.get(b)
			case "flowTuples":
				p.truncate(m)
				arrBad = ""
				if !s.isNull() {
					arrBad, err = p.parseTuples(kind, ver, fi, gi)
				}
			default:
				err = s.skipValue()
			}
			if err != nil {
				return "", err
			}
			more, err := s.nextMember()
			if err != nil {
				return "", err
			}
			if !more {
				break
			}
		}
	}
	ts := p.rec.Tuples[m.n:]
	for i := range ts {
		if kind == KindVNet {
			ts[i].Rule = label
		} else {
			ts[i].MAC = label
		}
	}
	if labelBad {
		return l2Label + " is not a string", nil
	}
	return arrBad, nil
}

// parseTuples parses a flowTuples array at s.pos.
func (p *Parser) parseTuples(kind Kind, ver, fi, gi int) (string, error) {
	s := &p.s
	if s.peek() != '[' {
		return "flowTuples is not an array", s.skipValue()
	}
	if !s.openArray() {
		return "", nil
	}
	for {
		idx := p.nextIndex
		p.nextIndex++
		if p.MaxTuples > 0 && idx >= p.MaxTuples {
			// Over the bound: the record will be skipped; only validate.
			p.overflow = true
			if err := s.skipValue(); err != nil {
				return "", err
			}
		} else if s.peek() == '"' {
			ts := p.rec.Tuples
			n := len(ts)
			if n < cap(ts) {
				ts = ts[:n+1]
			} else {
				ts = append(ts, Tuple{})
			}
			t := &ts[n]
			// Fast path: take the bytes up to the next quote and parse
			// them as a tuple. If that succeeds, every byte was one the
			// tuple grammar allows (see safeTuple), so the string was
			// also valid JSON without escapes. Otherwise scan the string
			// properly and parse its decoded value.
			start := s.pos + 1
			var msg string
			var raw []byte
			fast := false
			if q := bytes.IndexByte(s.data[start:], '"'); q >= 0 {
				raw = s.data[start : start+q]
				if p.parseTuple(kind, ver, raw, t) == "" && safeTuple(t) {
					s.pos = start + q + 1
					fast = true
				}
			}
			if !fast {
				start, end, esc, err := s.scanString()
				if err != nil {
					return "", err
				}
				raw = s.data[start:end]
				if esc {
					p.buf = unescape(p.buf[:0], raw)
					raw = p.buf
				}
				msg = p.parseTuple(kind, ver, raw, t)
			}
			if msg == "" {
				t.Index, t.FlowIndex, t.GroupIndex = idx, fi, gi
				p.rec.Tuples = ts
			} else {
				p.badTuple(idx, raw, msg)
			}
		} else {
			start := s.pos
			if err := s.skipValue(); err != nil {
				return "", err
			}
			p.badTuple(idx, s.data[start:s.pos], "tuple is not a string")
		}
		more, err := s.nextElement()
		if err != nil || !more {
			return "", err
		}
	}
}

// parseTuple parses one tuple of the given kind and version into t.
func (p *Parser) parseTuple(kind Kind, ver int, raw []byte, t *Tuple) string {
	switch {
	case kind == KindVNet:
		return p.parseVNetTuple(raw, t)
	case ver == 1:
		return p.parseNSGTuple(raw, t, false)
	}
	return p.parseNSGTuple(raw, t, true)
}

// safeTuple reports whether a successfully parsed tuple can only have come
// from bytes that need no JSON validation: all its fields are digits,
// address characters or fixed letters, except an unknown encryption code,
// which is checked here for printable ASCII without backslashes.
func safeTuple(t *Tuple) bool {
	if t.Encryption != EncryptionOther {
		return true
	}
	for i := 0; i < len(t.EncryptionText); i++ {
		if c := t.EncryptionText[i]; c < 0x20 || c >= 0x7f || c == '\\' {
			return false
		}
	}
	return true
}

func (p *Parser) badTuple(idx int, text []byte, msg string) {
	p.rec.BadTuples++
	if p.OnError != nil {
		p.terrs = append(p.terrs, TupleError{RecordStart: p.s.recStart, Index: idx, Tuple: string(text), Msg: msg})
	}
}

// finishRecord decides whether the record just scanned is delivered.
func (p *Parser) finishRecord(fn func(*Record) error, badKeys uint32, vnetVer version, vnet, nsg *container, inline Kind, inlineStart int) error {
	r := &p.rec
	reason, detail := SkipReason(0), ""
	skip := true
	isVNet := vnetVer.present || vnet.present
	switch {
	case badKeys != 0:
		reason, detail = SkipBadField, badKeyDetail(badKeys)
	case isVNet == nsg.present:
		reason = SkipUnknownShape
		if isVNet {
			detail = "both flowRecords/flowLogVersion and properties present"
		} else {
			detail = "neither flowRecords/flowLogVersion nor properties present"
		}
	default:
		skip = false
	}
	if !skip {
		kind, c := KindVNet, vnet
		if nsg.present {
			kind, c = KindNSG, nsg
		}
		// The container decoded while scanning is not the one that
		// counts: decode the right one now.
		if !c.present {
			p.truncate(mark{})
		} else if inline != kind || inlineStart != c.start {
			p.truncate(mark{})
			s := &p.s
			end := s.pos
			s.pos = c.start
			*c = container{present: true, start: c.start}
			err := p.parseContainer(kind, c)
			s.pos = end
			if err != nil {
				return err
			}
		}
		r.Kind = kind
		skip = true
		switch {
		case kind == KindVNet && !vnetVersionOK(vnetVer):
			reason, detail = SkipUnknownVersion, "flowLogVersion "+vnetVer.String()
		case kind == KindNSG && c.verBad:
			reason, detail = SkipBadField, "properties.Version is not a number"
		case kind == KindNSG && !nsgVersionOK(c.ver):
			reason, detail = SkipUnknownVersion, "properties.Version "+c.ver.String()
		case c.bad != "":
			reason, detail = SkipBadField, c.bad
		default:
			skip = false
			if kind == KindVNet {
				r.Version = vnetVer.v
			} else {
				r.Version = c.ver.v
			}
		}
	}
	if !skip {
		switch {
		case p.overflow:
			skip, reason, detail = true, SkipTooManyTuples, "more than "+strconv.Itoa(p.MaxTuples)+" tuples"
		case p.MaxRecordBytes > 0 && r.End-r.Start > p.MaxRecordBytes:
			skip, reason, detail = true, SkipTooLarge, strconv.Itoa(r.End-r.Start)+" bytes, more than "+strconv.Itoa(p.MaxRecordBytes)
		}
	}
	if skip {
		p.Stats.SkippedRecords[reason]++
		if p.OnError != nil {
			p.OnError(&RecordError{Reason: reason, Start: r.Start, End: r.End, Detail: detail})
		}
		return nil
	}
	p.Stats.Records++
	p.Stats.Tuples += uint64(len(r.Tuples))
	p.Stats.BadTuples += uint64(r.BadTuples)
	if p.OnError != nil {
		for _, e := range p.terrs {
			p.OnError(&e)
		}
	}
	return fn(r)
}

func badKeyDetail(bits uint32) string {
	for k := 0; k < numKeys; k++ {
		if bits&(1<<k) != 0 {
			if k == keyTime {
				return "time is not an RFC 3339 string"
			}
			if k == keyFlowLogVersion {
				return "flowLogVersion is not a number"
			}
			if k == keyFlowRecords || k == keyProperties {
				return keyNames[k] + " is not an object"
			}
			return keyNames[k] + " is not a string"
		}
	}
	return fmt.Sprintf("bad keys %#x", bits)
}
