package flowlog

import (
	"encoding/binary"
	"math/bits"
	"unicode/utf16"
	"unicode/utf8"
)

// maxDepth bounds the nesting of skipped values, like encoding/json.
const maxDepth = 10000

// scanner is a minimal strict JSON tokenizer over one chunk. It never
// allocates except to report errors.
type scanner struct {
	data     []byte
	pos      int
	recStart int    // offset of the current record's '{', or -1
	stack    []byte // container stack for skipValue
}

func (s *scanner) reset(data []byte) {
	s.data = data
	s.pos = 0
	s.recStart = -1
}

func (s *scanner) errorf(off int, msg string) *SyntaxError {
	return &SyntaxError{Offset: off, RecordStart: s.recStart, Msg: msg}
}

// errUnexpected reports the byte at s.pos (or end of input) as unexpected.
func (s *scanner) errUnexpected(want string) *SyntaxError {
	if s.pos >= len(s.data) {
		return s.errorf(s.pos, "unexpected end of input, want "+want)
	}
	return s.errorf(s.pos, "unexpected "+quoteByte(s.data[s.pos])+", want "+want)
}

func quoteByte(c byte) string {
	if c >= 0x20 && c < 0x7f {
		return "'" + string(rune(c)) + "'"
	}
	const hex = "0123456789abcdef"
	return "byte 0x" + string([]byte{hex[c>>4], hex[c&15]})
}

func isSpace(c byte) bool { return c == ' ' || c == '\n' || c == '\r' || c == '\t' }

func (s *scanner) skipWS() {
	for s.pos < len(s.data) && isSpace(s.data[s.pos]) {
		s.pos++
	}
}

// peek returns the byte at s.pos after skipping whitespace, or 0 at end.
func (s *scanner) peek() byte {
	s.skipWS()
	if s.pos < len(s.data) {
		return s.data[s.pos]
	}
	return 0
}

// expect consumes c after optional whitespace.
func (s *scanner) expect(c byte, want string) error {
	if s.peek() != c {
		return s.errUnexpected(want)
	}
	s.pos++
	return nil
}

const (
	lsb = 0x0101010101010101
	msb = 0x8080808080808080
)

// scanString scans a JSON string starting at the opening quote at s.pos.
// It returns the raw content span [start, end) and whether it contains
// escapes, and leaves s.pos after the closing quote. Control characters,
// bad escapes and invalid UTF-8 are errors.
func (s *scanner) scanString() (start, end int, escaped bool, err error) {
	d := s.data
	i := s.pos + 1
	start = i
	for {
		// Eight bytes at a time while none of them is '"', '\\', a control
		// character or non-ASCII. The lowest flagged byte is always a true
		// hit (borrows only propagate upwards).
		for i+8 <= len(d) {
			w := binary.LittleEndian.Uint64(d[i:])
			q := w ^ (lsb * '"')
			b := w ^ (lsb * '\\')
			m := ((q - lsb) &^ q) | ((b - lsb) &^ b) | ((w - lsb*0x20) &^ w) | w
			m &= msb
			if m != 0 {
				i += bits.TrailingZeros64(m) >> 3
				break
			}
			i += 8
		}
		if i >= len(d) {
			return 0, 0, false, s.errorf(len(d), "unterminated string")
		}
		c := d[i]
		switch {
		case c == '"':
			s.pos = i + 1
			return start, i, escaped, nil
		case c == '\\':
			escaped = true
			if i+1 >= len(d) {
				return 0, 0, false, s.errorf(len(d), "unterminated string")
			}
			switch d[i+1] {
			case '"', '\\', '/', 'b', 'f', 'n', 'r', 't':
				i += 2
			case 'u':
				if i+6 > len(d) {
					return 0, 0, false, s.errorf(len(d), "unterminated \\u escape")
				}
				for k := i + 2; k < i+6; k++ {
					if unhex(d[k]) < 0 {
						return 0, 0, false, s.errorf(k, "invalid \\u escape")
					}
				}
				i += 6
			default:
				return 0, 0, false, s.errorf(i, "invalid escape \\"+quoteByte(d[i+1]))
			}
		case c < 0x20:
			return 0, 0, false, s.errorf(i, "control character in string")
		case c < utf8.RuneSelf:
			i++
		default:
			r, size := utf8.DecodeRune(d[i:])
			if r == utf8.RuneError && size <= 1 {
				return 0, 0, false, s.errorf(i, "invalid UTF-8 in string")
			}
			i += size
		}
	}
}

func unhex(c byte) int {
	switch {
	case c >= '0' && c <= '9':
		return int(c - '0')
	case c >= 'a' && c <= 'f':
		return int(c - 'a' + 10)
	case c >= 'A' && c <= 'F':
		return int(c - 'A' + 10)
	}
	return -1
}

func hex4(b []byte) rune {
	return rune(unhex(b[0])<<12 | unhex(b[1])<<8 | unhex(b[2])<<4 | unhex(b[3]))
}

// unescape appends the decoded form of raw string content (already
// validated by scanString) to dst. Lone surrogates become U+FFFD, as in
// encoding/json.
func unescape(dst, raw []byte) []byte {
	for i := 0; i < len(raw); {
		c := raw[i]
		if c != '\\' {
			dst = append(dst, c)
			i++
			continue
		}
		switch raw[i+1] {
		case 'b':
			dst = append(dst, '\b')
		case 'f':
			dst = append(dst, '\f')
		case 'n':
			dst = append(dst, '\n')
		case 'r':
			dst = append(dst, '\r')
		case 't':
			dst = append(dst, '\t')
		case 'u':
			r := hex4(raw[i+2:])
			i += 6
			if utf16.IsSurrogate(r) {
				if i+6 <= len(raw) && raw[i] == '\\' && raw[i+1] == 'u' {
					if r2 := utf16.DecodeRune(r, hex4(raw[i+2:])); r2 != utf8.RuneError {
						dst = utf8.AppendRune(dst, r2)
						i += 6
						continue
					}
				}
				r = utf8.RuneError
			}
			dst = utf8.AppendRune(dst, r)
			continue
		default: // '"', '\\', '/'
			dst = append(dst, raw[i+1])
		}
		i += 2
	}
	return dst
}

// scanNumber scans a JSON number at s.pos and returns its span.
func (s *scanner) scanNumber() (start, end int, err error) {
	d := s.data
	i := s.pos
	start = i
	if i < len(d) && d[i] == '-' {
		i++
	}
	switch {
	case i < len(d) && d[i] == '0':
		i++
	case i < len(d) && d[i] >= '1' && d[i] <= '9':
		for i < len(d) && d[i] >= '0' && d[i] <= '9' {
			i++
		}
	default:
		return 0, 0, s.errorf(i, "invalid number")
	}
	if i < len(d) && d[i] == '.' {
		i++
		j := i
		for i < len(d) && d[i] >= '0' && d[i] <= '9' {
			i++
		}
		if i == j {
			return 0, 0, s.errorf(i, "invalid number: no digits after '.'")
		}
	}
	if i < len(d) && (d[i] == 'e' || d[i] == 'E') {
		i++
		if i < len(d) && (d[i] == '+' || d[i] == '-') {
			i++
		}
		j := i
		for i < len(d) && d[i] >= '0' && d[i] <= '9' {
			i++
		}
		if i == j {
			return 0, 0, s.errorf(i, "invalid number: no digits in exponent")
		}
	}
	s.pos = i
	return start, i, nil
}

// scanLiteral consumes true, false or null at s.pos.
func (s *scanner) scanLiteral() error {
	d := s.data[s.pos:]
	var lit string
	switch d[0] {
	case 't':
		lit = "true"
	case 'f':
		lit = "false"
	default:
		lit = "null"
	}
	if len(d) < len(lit) || string(d[:len(lit)]) != lit {
		return s.errorf(s.pos, "invalid literal")
	}
	s.pos += len(lit)
	return nil
}

// isNull consumes a null literal at s.pos (after whitespace) if present.
func (s *scanner) isNull() bool {
	if s.peek() == 'n' && len(s.data)-s.pos >= 4 && string(s.data[s.pos:s.pos+4]) == "null" {
		s.pos += 4
		return true
	}
	return false
}

// skipValue validates and skips one JSON value of any type, iteratively.
func (s *scanner) skipValue() error {
	stack := s.stack[:0]
	defer func() { s.stack = stack[:0] }()
	for {
		// A value is expected here.
		switch c := s.peek(); c {
		case '{':
			if len(stack) >= maxDepth {
				return s.errorf(s.pos, "nesting too deep")
			}
			s.pos++
			if s.peek() == '}' {
				s.pos++
				break
			}
			stack = append(stack, '{')
			if err := s.skipKey(); err != nil {
				return err
			}
			continue
		case '[':
			if len(stack) >= maxDepth {
				return s.errorf(s.pos, "nesting too deep")
			}
			s.pos++
			if s.peek() == ']' {
				s.pos++
				break
			}
			stack = append(stack, '[')
			continue
		case '"':
			if _, _, _, err := s.scanString(); err != nil {
				return err
			}
		case 't', 'f', 'n':
			if err := s.scanLiteral(); err != nil {
				return err
			}
		case '-', '0', '1', '2', '3', '4', '5', '6', '7', '8', '9':
			if _, _, err := s.scanNumber(); err != nil {
				return err
			}
		default:
			return s.errUnexpected("a value")
		}
		// After a value: close containers or move to the next element.
		for {
			if len(stack) == 0 {
				return nil
			}
			top := stack[len(stack)-1]
			c := s.peek()
			if c == ',' {
				s.pos++
				if top == '{' {
					if err := s.skipKey(); err != nil {
						return err
					}
				}
				break
			}
			if (top == '{' && c == '}') || (top == '[' && c == ']') {
				s.pos++
				stack = stack[:len(stack)-1]
				continue
			}
			if top == '{' {
				return s.errUnexpected("',' or '}'")
			}
			return s.errUnexpected("',' or ']'")
		}
	}
}

// skipKey consumes an object key and the following colon.
func (s *scanner) skipKey() error {
	if s.peek() != '"' {
		return s.errUnexpected("object key")
	}
	if _, _, _, err := s.scanString(); err != nil {
		return err
	}
	return s.expect(':', "':'")
}
