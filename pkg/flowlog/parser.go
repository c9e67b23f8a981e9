package flowlog

import (
	"bytes"
	"errors"
)

// errSkippedToEnd ends a list when resynchronisation found no further
// record; the rest of the input was skipped.
var errSkippedToEnd = errors.New("flowlog: skipped to end of input")

// Parser decodes flow log records. The zero value is ready to use. A Parser
// keeps reusable buffers and is not safe for concurrent use; use one per
// goroutine.
type Parser struct {
	// Resync, when true, makes the parser recover from a record that is not
	// valid JSON (or from garbage between records): the error is reported
	// through OnError and counted as SkipMalformed, and parsing continues
	// at the next position that looks like the start of a record (see
	// NextRecord). When false, the first such error ends the parse of the
	// chunk and is returned.
	Resync bool

	// OnError, if set, receives every *RecordError (skipped record),
	// *TupleError (skipped tuple) and, with Resync, every *SyntaxError the
	// parser recovered from. It is called synchronously; tuple errors of a
	// record are reported just before the record is delivered. Errors are
	// only allocated when OnError is set.
	OnError func(error)

	// MaxTuples, when positive, bounds the tuple strings of one record. A
	// record with more is skipped (SkipTooManyTuples) and its tuples beyond
	// the bound are validated as JSON but neither decoded nor kept, so one
	// huge record cannot take memory in proportion to its size.
	MaxTuples int

	// MaxRecordBytes, when positive, bounds the bytes of one record: a
	// longer record is skipped (SkipTooLarge).
	MaxRecordBytes int

	// Stats accumulates over all calls. It may be read and reset between
	// calls.
	Stats Stats

	s         scanner
	rec       Record
	intern    internTable
	buf       []byte       // unescape scratch for values
	kbuf      []byte       // unescape scratch for keys
	terrs     []TupleError // pending tuple errors of the current record
	nextIndex int          // Tuple.Index of the next tuple string
	overflow  bool         // the record has more than MaxTuples tuple strings
}

// NewParser returns a new Parser; it is equivalent to new(Parser).
func NewParser() *Parser { return new(Parser) }

// ParseChunk parses a byte range of a flow log blob made of whole blocks:
// zero or more records separated by commas, optionally preceded by a comma
// (as every data block after the first is), optionally preceded by the
// blob's head block `{"records":[` and optionally followed by its tail
// block `]}`. Whitespace is allowed between all tokens. A whole PT1H.json
// document whose only key is "records" is therefore also a valid chunk.
//
// fn is called once per delivered record, in order; the *Record is reused
// (see Record). If fn returns an error, parsing stops and that error is
// returned. Records with an unknown version or shape, and unparsable tuples,
// are skipped, counted in Stats and reported through OnError; parsing goes
// on. Input that is not valid JSON ends the parse with a *SyntaxError that
// gives the byte offset, after the records before it were delivered, unless
// Resync is set.
//
// Offsets in Record, errors and NextRecord are relative to chunk.
func (p *Parser) ParseChunk(chunk []byte, fn func(*Record) error) error {
	s := &p.s
	s.reset(chunk)
	if s.peek() == '{' {
		if n := headLen(chunk[s.pos:]); n > 0 {
			s.pos += n
		}
	}
	if s.peek() == ',' {
		s.pos++
	}
	err := p.parseList(fn, false)
	if err == errSkippedToEnd {
		err = nil
	}
	return p.finish(err)
}

// ParseDocument parses a complete flow log document, a JSON object whose
// "records" key holds the array of records. Other top-level keys are
// skipped. Error handling is as for ParseChunk; offsets are relative to doc.
func (p *Parser) ParseDocument(doc []byte, fn func(*Record) error) error {
	s := &p.s
	s.reset(doc)
	err := p.parseDocument(fn)
	if err == errSkippedToEnd {
		err = nil
	}
	return p.finish(err)
}

// finish accounts consumed bytes and returns err.
func (p *Parser) finish(err error) error {
	s := &p.s
	n := len(s.data)
	if se, ok := err.(*SyntaxError); ok {
		n = se.Offset
		if se.RecordStart >= 0 {
			n = se.RecordStart
		}
	} else if err != nil {
		n = s.pos
	}
	p.Stats.Bytes += uint64(n)
	s.data = nil
	return err
}

func (p *Parser) parseDocument(fn func(*Record) error) error {
	s := &p.s
	if err := s.expect('{', "'{' starting the document"); err != nil {
		return err
	}
	if s.peek() == '}' {
		s.pos++
	} else {
		for {
			key, err := p.readKey()
			if err != nil {
				return err
			}
			if string(key) == "records" && !s.isNull() {
				if err := s.expect('[', "'[' after \"records\""); err != nil {
					return err
				}
				if err := p.parseList(fn, true); err != nil {
					return err
				}
				if err := s.expect(']', "']'"); err != nil {
					return err
				}
			} else if string(key) != "records" {
				if err := s.skipValue(); err != nil {
					return err
				}
			}
			c := s.peek()
			if c == ',' {
				s.pos++
				continue
			}
			if c == '}' {
				s.pos++
				break
			}
			return s.errUnexpected("',' or '}'")
		}
	}
	s.skipWS()
	if s.pos != len(s.data) {
		return s.errorf(s.pos, "trailing data after the document")
	}
	return nil
}

// headLen returns the length of a leading `{"records":[` (with any
// whitespace) in b, or 0.
func headLen(b []byte) int {
	i := 0
	ws := func() {
		for i < len(b) && isSpace(b[i]) {
			i++
		}
	}
	lit := func(l string) bool {
		ws()
		if len(b)-i >= len(l) && string(b[i:i+len(l)]) == l {
			i += len(l)
			return true
		}
		return false
	}
	if lit("{") && lit(`"records"`) && lit(":") && lit("[") {
		return i
	}
	return 0
}

// parseList parses comma-separated records. In a document it stops before
// the closing ']'; in a chunk it stops at the end of input or after the
// tail `]}`.
func (p *Parser) parseList(fn func(*Record) error, inDoc bool) error {
	s := &p.s
	needComma := false
	index := 0
	for {
		c := s.peek()
		var err error
		switch {
		case s.pos >= len(s.data):
			if inDoc {
				err = s.errUnexpected("',' or ']'")
				break
			}
			return nil
		case c == ']':
			if inDoc {
				return nil
			}
			s.pos++
			if err = s.expect('}', "'}' after ']'"); err != nil {
				break
			}
			if s.skipWS(); s.pos != len(s.data) {
				err = s.errorf(s.pos, "trailing data after ']}'")
			}
			if err == nil {
				return nil
			}
		case needComma && c != ',':
			err = s.errUnexpected("',' between records")
		default:
			if needComma {
				s.pos++
				c = s.peek()
			}
			if c != '{' {
				err = s.errUnexpected("'{' starting a record")
				break
			}
			err = p.parseRecord(fn, index)
			index++
			needComma = true
		}
		if err == nil {
			continue
		}
		se, ok := err.(*SyntaxError)
		if !ok || !p.Resync {
			return err
		}
		// Recover: skip to the next plausible record start.
		p.Stats.SkippedRecords[SkipMalformed]++
		p.report(se)
		bad := min(se.Offset, len(s.data))
		if se.RecordStart >= 0 {
			bad = se.RecordStart
		}
		s.recStart = -1
		next := NextRecord(s.data, bad+1)
		if next < 0 {
			p.Stats.SkippedBytes += uint64(len(s.data) - bad)
			s.pos = len(s.data)
			return errSkippedToEnd
		}
		p.Stats.SkippedBytes += uint64(next - bad)
		s.pos = next
		needComma = false
	}
}

// NextRecord returns the offset of the first '{' at or after from that
// looks like the start of a record: '{', whitespace, the key "time" and a
// colon, with only whitespace between the '{' and the preceding ',' or '['
// (or the start of chunk). It returns -1 if there is none. Azure writes
// "time" as the first key of every record; records written otherwise cannot
// be found this way.
func NextRecord(chunk []byte, from int) int {
	start := max(from, 0)
	for pos := start; pos < len(chunk); {
		i := bytes.Index(chunk[pos:], []byte(`"time"`))
		if i < 0 {
			return -1
		}
		q := pos + i
		pos = q + 1
		k := q + len(`"time"`)
		for k < len(chunk) && isSpace(chunk[k]) {
			k++
		}
		if k >= len(chunk) || chunk[k] != ':' {
			continue
		}
		j := q - 1
		for j >= start && isSpace(chunk[j]) {
			j--
		}
		if j < start || chunk[j] != '{' {
			continue
		}
		k = j - 1
		for k >= 0 && isSpace(chunk[k]) {
			k--
		}
		if k < 0 || chunk[k] == ',' || chunk[k] == '[' {
			return j
		}
	}
	return -1
}

func (p *Parser) report(err error) {
	if p.OnError != nil {
		p.OnError(err)
	}
}

// readKey reads an object key and the colon after it. The returned slice is
// valid until the next readKey.
func (p *Parser) readKey() ([]byte, error) {
	s := &p.s
	if s.peek() != '"' {
		return nil, s.errUnexpected("object key")
	}
	start, end, esc, err := s.scanString()
	if err != nil {
		return nil, err
	}
	key := s.data[start:end]
	if esc {
		p.kbuf = unescape(p.kbuf[:0], key)
		key = p.kbuf
	}
	if err := s.expect(':', "':' after object key"); err != nil {
		return nil, err
	}
	return key, nil
}

// readString reads a string value (unescaped; valid until the next
// readString) or null (nil, true). For a value of another type it skips the
// value and returns ok == false.
func (p *Parser) readString() (b []byte, ok bool, err error) {
	s := &p.s
	switch s.peek() {
	case '"':
		start, end, esc, err := s.scanString()
		if err != nil {
			return nil, false, err
		}
		b = s.data[start:end]
		if esc {
			p.buf = unescape(p.buf[:0], b)
			b = p.buf
		}
		return b, true, nil
	case 'n':
		if s.isNull() {
			return nil, true, nil
		}
	}
	return nil, false, s.skipValue()
}

// nextMember advances after a member value: it returns true if another
// key follows and false at the closing '}'.
func (s *scanner) nextMember() (bool, error) {
	switch s.peek() {
	case ',':
		s.pos++
		return true, nil
	case '}':
		s.pos++
		return false, nil
	}
	return false, s.errUnexpected("',' or '}'")
}

// nextElement advances after an array element: true if another follows.
func (s *scanner) nextElement() (bool, error) {
	switch s.peek() {
	case ',':
		s.pos++
		return true, nil
	case ']':
		s.pos++
		return false, nil
	}
	return false, s.errUnexpected("',' or ']'")
}

// openObject consumes '{' at s.pos and reports whether the object has
// members.
func (s *scanner) openObject() bool {
	s.pos++
	if s.peek() == '}' {
		s.pos++
		return false
	}
	return true
}

// openArray consumes '[' at s.pos and reports whether the array has
// elements.
func (s *scanner) openArray() bool {
	s.pos++
	if s.peek() == ']' {
		s.pos++
		return false
	}
	return true
}

// Record-level keys whose value has the wrong type are remembered as bits.
const (
	keyTime = iota
	keyFlowLogVersion
	keyFlowLogGUID
	keyMACAddress
	keyCategory
	keyFlowLogResourceID
	keyTargetResourceID
	keyOperationName
	keyResourceID
	keySystemID
	keyFlowRecords
	keyProperties
	numKeys
)

var keyNames = [numKeys]string{"time", "flowLogVersion", "flowLogGUID", "macAddress", "category",
	"flowLogResourceID", "targetResourceID", "operationName", "resourceId", "systemId",
	"flowRecords", "properties"}

// mark records the state of the tuple accumulation so that a duplicated
// key can be undone (the last occurrence of a key wins, as in
// encoding/json).
type mark struct{ n, bad, idx, errs int }

func (p *Parser) mark() mark {
	return mark{len(p.rec.Tuples), p.rec.BadTuples, p.nextIndex, len(p.terrs)}
}

func (p *Parser) truncate(m mark) {
	p.rec.Tuples = p.rec.Tuples[:m.n]
	p.rec.BadTuples = m.bad
	p.nextIndex = m.idx
	p.terrs = p.terrs[:m.errs]
	if p.MaxTuples <= 0 || m.idx < p.MaxTuples {
		p.overflow = false
	}
}

// parseRecord parses the record object at s.pos and delivers or skips it.
func (p *Parser) parseRecord(fn func(*Record) error, index int) error {
	s := &p.s
	start := s.pos
	s.recStart = start
	r := &p.rec
	tuples := r.Tuples[:0]
	*r = Record{Tuples: tuples}
	p.truncate(mark{})

	var (
		badKeys     uint32
		vnetVer     version
		vnet, nsg   container
		inline      Kind // container whose tuples are in r.Tuples
		inlineStart int
	)
	if s.openObject() {
		for {
			key, err := p.readKey()
			if err != nil {
				return err
			}
			var k int
			switch string(key) {
			case "time":
				k = keyTime
			case "flowLogVersion":
				k = keyFlowLogVersion
			case "flowLogGUID":
				k = keyFlowLogGUID
			case "macAddress":
				k = keyMACAddress
			case "category":
				k = keyCategory
			case "flowLogResourceID":
				k = keyFlowLogResourceID
			case "targetResourceID":
				k = keyTargetResourceID
			case "operationName":
				k = keyOperationName
			case "resourceId":
				k = keyResourceID
			case "systemId":
				k = keySystemID
			case "flowRecords":
				k = keyFlowRecords
			case "properties":
				k = keyProperties
			default:
				k = -1
			}
			if k >= 0 {
				badKeys &^= 1 << k
			}
			switch k {
			case -1:
				err = s.skipValue()
			case keyFlowLogVersion:
				var bad bool
				vnetVer, bad, err = p.readVersion()
				if bad {
					badKeys |= 1 << k
				}
			case keyFlowRecords, keyProperties:
				c := &vnet
				kind := KindVNet
				if k == keyProperties {
					c, kind = &nsg, KindNSG
				}
				*c = container{}
				if s.isNull() {
					break
				}
				c.present = true
				if s.peek() != '{' {
					c.badType = true
					badKeys |= 1 << k
					err = s.skipValue()
					break
				}
				c.start = s.pos
				if inline != 0 && inline != kind {
					err = s.skipValue() // parsed at the end if needed
					break
				}
				p.truncate(mark{})
				inline, inlineStart = kind, c.start
				err = p.parseContainer(kind, c)
			default:
				var b []byte
				var ok bool
				b, ok, err = p.readString()
				if err != nil {
					break
				}
				if !ok {
					badKeys |= 1 << k
					break
				}
				p.setString(k, b, &badKeys)
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
	r.Start, r.End, r.Index = start, s.pos, index
	err := p.finishRecord(fn, badKeys, vnetVer, &vnet, &nsg, inline, inlineStart)
	s.recStart = -1
	return err
}
