package flowlog

// The version of a flow-log record (flowLogVersion / properties.Version) and the containers
// that accept it.

// version is a parsed version number.
type version struct {
	present bool // a number (not null)
	ok      bool // an integer that fits
	v       int
	raw     []byte
}

func parseVersion(raw []byte) version {
	v := version{present: true, raw: raw}
	b := raw
	neg := len(b) > 0 && b[0] == '-'
	if neg {
		b = b[1:]
	}
	if len(b) == 0 || len(b) > 9 {
		return v
	}
	n := 0
	for _, c := range b {
		if c < '0' || c > '9' {
			return v
		}
		n = n*10 + int(c-'0')
	}
	if neg {
		n = -n
	}
	v.v, v.ok = n, true
	return v
}

func (v *version) String() string {
	if !v.present {
		return "missing"
	}
	return string(v.raw)
}

// readVersion reads a number or null; badType for other values.
func (p *Parser) readVersion() (v version, badType bool, err error) {
	s := &p.s
	switch c := s.peek(); {
	case c == '-' || (c >= '0' && c <= '9'):
		start, end, err := s.scanNumber()
		if err != nil {
			return v, false, err
		}
		return parseVersion(s.data[start:end]), false, nil
	case c == 'n' && s.isNull():
		return v, false, nil
	}
	return v, true, s.skipValue()
}

// container tracks the last flowRecords or properties value of a record.
type container struct {
	present bool // non-null
	badType bool // not an object
	start   int
	bad     string // first content problem, "" if none
	ver     version
	verBad  bool // properties.Version is not a number
}

func vnetVersionOK(v version) bool { return v.ok && (v.v == 2 || v.v == 3 || v.v == 4) }
func nsgVersionOK(v version) bool  { return v.ok && (v.v == 1 || v.v == 2) }
