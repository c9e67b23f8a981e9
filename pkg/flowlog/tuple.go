package flowlog

import (
	"net/netip"
	"time"
)

// Messages for bad tuples (static, so that parsing never allocates).
const (
	msgFewFields  = "too few fields"
	msgManyFields = "too many fields"
	msgTimestamp  = "bad timestamp"
	msgSrcIP      = "bad source address"
	msgDstIP      = "bad destination address"
	msgSrcPort    = "bad source port"
	msgDstPort    = "bad destination port"
	msgProtocol   = "bad protocol"
	msgDirection  = "bad direction"
	msgState      = "bad state"
	msgEncryption = "empty encryption field"
	msgDecision   = "bad decision"
	msgCounter    = "bad counter"
)

// uintField parses the decimal field starting at b[i] and ending at the
// next ',' or the end of b. It returns the value, the field length and the
// index after the comma (len(b)+1 if the field ended at the end of b). ok
// is false for a non-digit or a value above max. Leading zeros are
// accepted, as by strconv.ParseUint.
func uintField(b []byte, i int, max uint64) (v uint64, n, next int, ok bool) {
	// Fast path, small enough to be inlined: up to 19 digits cannot
	// overflow.
	j := i
	for j < len(b) && b[j]-'0' <= 9 && j-i < 19 {
		v = v*10 + uint64(b[j]-'0')
		j++
	}
	if (j == len(b) || b[j] == ',') && v <= max {
		return v, j - i, j + 1, true
	}
	return uintFieldSlow(b, i, max)
}

// uintFieldSlow is uintField for long fields and errors.
func uintFieldSlow(b []byte, i int, max uint64) (v uint64, n, next int, ok bool) {
	j := i
	for ; j < len(b); j++ {
		c := b[j]
		if c == ',' {
			break
		}
		d := uint64(c - '0')
		if d > 9 {
			return 0, 0, 0, false
		}
		if j-i >= 18 && v > (1<<64-1-d)/10 { // only long fields can overflow
			return 0, 0, 0, false
		}
		v = v*10 + d
	}
	if v > max {
		return 0, 0, 0, false
	}
	return v, j - i, j + 1, true
}

// fieldEnd returns the index of the next ',' at or after i, or len(b).
func fieldEnd(b []byte, i int) int {
	for ; i < len(b); i++ {
		if b[i] == ',' {
			return i
		}
	}
	return len(b)
}

// tsField parses a Unix timestamp field: 12 or 13 digits are milliseconds,
// 1 to 11 digits seconds.
func tsField(b []byte, i int) (t time.Time, next int, ok bool) {
	v, n, next, ok := uintField(b, i, 9999999999999)
	if !ok || n == 0 || n > 13 || next > len(b) {
		return time.Time{}, 0, false
	}
	if n >= 12 {
		return time.UnixMilli(int64(v)).UTC(), next, true
	}
	return time.Unix(int64(v), 0).UTC(), next, true
}

// addrField parses an IP address field followed by a comma. Plain dotted
// IPv4 is parsed in the same pass that finds the comma; anything else goes
// through parseAddr.
func addrField(b []byte, i int) (a netip.Addr, next int, ok bool) {
	var q [4]byte
	val, pos, digits := 0, 0, 0
	for j := i; j < len(b); j++ {
		c := b[j]
		if c >= '0' && c <= '9' && digits < 3 {
			val = val*10 + int(c-'0')
			digits++
			continue
		}
		if c == '.' && digits > 0 && pos < 3 && val <= 255 && (digits == 1 || b[j-digits] != '0') {
			q[pos] = byte(val)
			pos++
			val, digits = 0, 0
			continue
		}
		if c == ',' && pos == 3 && digits > 0 && val <= 255 && (digits == 1 || b[j-digits] != '0') {
			q[3] = byte(val)
			return netip.AddrFrom4(q), j + 1, true
		}
		break
	}
	// Slow path: IPv6, or an invalid address.
	j := fieldEnd(b, i)
	if j == len(b) {
		return a, 0, false
	}
	a, ok = parseAddr(b[i:j])
	return a, j + 1, ok
}

// charField parses a one-character field followed by a comma (or by the
// end of b if last).
func charField(b []byte, i int, last bool) (c byte, next int, ok bool) {
	if i >= len(b) {
		return 0, 0, false
	}
	if last {
		return b[i], i + 2, i+1 == len(b)
	}
	if i+1 >= len(b) || b[i+1] != ',' {
		return 0, 0, false
	}
	return b[i], i + 2, true
}

// counters parses the four counter fields starting at b[i], which must be
// the last fields of b. Empty fields are 0 when emptyOK.
func counters(b []byte, i int, t *Tuple, emptyOK bool) string {
	var vals [4]uint64
	for k := range vals {
		if i > len(b) {
			return msgFewFields
		}
		v, n, next, ok := uintField(b, i, 1<<64-1)
		if !ok || (n == 0 && !emptyOK) {
			return msgCounter
		}
		vals[k] = v
		i = next
	}
	if i <= len(b) {
		return msgManyFields
	}
	t.PacketsSrcToDst, t.BytesSrcToDst, t.PacketsDstToSrc, t.BytesDstToSrc = vals[0], vals[1], vals[2], vals[3]
	return ""
}

// portsAndAddrs parses fields 2-5 (src, dst, sport, dport) starting at i.
func portsAndAddrs(b []byte, i int, t *Tuple) (next int, msg string) {
	var ok bool
	if t.Src, i, ok = addrField(b, i); !ok {
		return 0, msgSrcIP
	}
	if t.Dst, i, ok = addrField(b, i); !ok {
		return 0, msgDstIP
	}
	v, n, i, ok := uintField(b, i, 65535)
	if !ok || n == 0 || i > len(b) {
		return 0, msgSrcPort
	}
	t.SrcPort = uint16(v)
	v, n, i, ok = uintField(b, i, 65535)
	if !ok || n == 0 || i > len(b) {
		return 0, msgDstPort
	}
	t.DstPort = uint16(v)
	return i, ""
}

// parseVNetTuple parses a 13-field VNet flow tuple into t.
func (p *Parser) parseVNetTuple(b []byte, t *Tuple) string {
	*t = Tuple{}
	var ok bool
	var i int
	if t.Time, i, ok = tsField(b, 0); !ok {
		return msgTimestamp
	}
	i, msg := portsAndAddrs(b, i, t)
	if msg != "" {
		return msg
	}
	v, n, i, ok := uintField(b, i, 255)
	if !ok || n == 0 || i > len(b) {
		return msgProtocol
	}
	t.Protocol = uint8(v)
	c, i, ok := charField(b, i, false)
	if !ok || (c != 'I' && c != 'O') {
		return msgDirection
	}
	t.Direction = Direction(c)
	c, i, ok = charField(b, i, false)
	if !ok {
		return msgState
	}
	switch c {
	case 'B', 'C', 'E':
		t.Decision = DecisionAllow
	case 'D':
		t.Decision = DecisionDeny
	default:
		return msgState
	}
	t.State = State(c)
	j := fieldEnd(b, i)
	if j == len(b) {
		return msgFewFields
	}
	if j == i {
		return msgEncryption
	}
	t.Encryption, t.EncryptionText = p.encryption(b[i:j])
	return counters(b, j+1, t, c == 'B' || c == 'D')
}

// encryption maps an encryption code to its constant.
func (p *Parser) encryption(f []byte) (Encryption, string) {
	var e Encryption
	switch string(f) {
	case "X":
		e = EncryptionX
	case "NX":
		e = EncryptionNX
	case "NX_HW_NOT_SUPPORTED":
		e = EncryptionNXHWNotSupported
	case "NX_SW_NOT_READY":
		e = EncryptionNXSWNotReady
	case "NX_NOT_ACCEPTED":
		e = EncryptionNXNotAccepted
	case "NX_NOT_SUPPORTED":
		e = EncryptionNXNotSupported
	case "NX_LOCAL_DST":
		e = EncryptionNXLocalDst
	case "NX_FALLBACK":
		e = EncryptionNXFallback
	default:
		return EncryptionOther, p.intern.get(f)
	}
	return e, encryptionCodes[e]
}

// parseNSGTuple parses an NSG version 1 (8 fields) or version 2 (13
// fields) tuple into t.
func (p *Parser) parseNSGTuple(b []byte, t *Tuple, v2 bool) string {
	*t = Tuple{}
	var ok bool
	var i int
	if t.Time, i, ok = tsField(b, 0); !ok {
		return msgTimestamp
	}
	i, msg := portsAndAddrs(b, i, t)
	if msg != "" {
		return msg
	}
	c, i, ok := charField(b, i, false)
	switch {
	case !ok:
		return msgProtocol
	case c == 'T':
		t.Protocol = 6
	case c == 'U':
		t.Protocol = 17
	default:
		return msgProtocol
	}
	c, i, ok = charField(b, i, false)
	if !ok || (c != 'I' && c != 'O') {
		return msgDirection
	}
	t.Direction = Direction(c)
	c, i, ok = charField(b, i, !v2)
	switch {
	case !ok:
		if !v2 && i > 0 {
			return msgManyFields
		}
		return msgDecision
	case c == 'A':
		t.Decision = DecisionAllow
	case c == 'D':
		t.Decision = DecisionDeny
	default:
		return msgDecision
	}
	if !v2 {
		return ""
	}
	c, i, ok = charField(b, i, false)
	if !ok || (c != 'B' && c != 'C' && c != 'E') {
		return msgState
	}
	t.State = State(c)
	return counters(b, i, t, c == 'B')
}

// parseAddr parses an IPv4 or IPv6 address without zone, accepting exactly
// what netip.ParseAddr accepts (minus zones) without allocating.
func parseAddr(b []byte) (netip.Addr, bool) {
	for _, c := range b {
		switch c {
		case '.':
			var a [4]byte
			if !parseIPv4(b, a[:]) {
				return netip.Addr{}, false
			}
			return netip.AddrFrom4(a), true
		case ':':
			return parseIPv6(b)
		}
	}
	return netip.Addr{}, false
}

// parseIPv4 parses dotted decimal with exactly four fields of 1-3 digits,
// no leading zeros, each at most 255.
func parseIPv4(b []byte, out []byte) bool {
	val, pos, digits := 0, 0, 0
	for i, c := range b {
		switch {
		case c >= '0' && c <= '9':
			if digits == 1 && val == 0 {
				return false // leading zero
			}
			val = val*10 + int(c-'0')
			digits++
			if val > 255 {
				return false
			}
		case c == '.':
			if digits == 0 || i == len(b)-1 || pos == 3 {
				return false
			}
			out[pos] = byte(val)
			pos++
			val, digits = 0, 0
		default:
			return false
		}
	}
	if pos != 3 || digits == 0 {
		return false
	}
	out[3] = byte(val)
	return true
}

// parseIPv6 parses an IPv6 address (RFC 4291 text form, with optional
// embedded IPv4 and "::"), following the rules of net/netip.
func parseIPv6(s []byte) (netip.Addr, bool) {
	var ip [16]byte
	ellipsis := -1
	if len(s) >= 2 && s[0] == ':' && s[1] == ':' {
		ellipsis = 0
		s = s[2:]
		if len(s) == 0 {
			return netip.IPv6Unspecified(), true
		}
	}
	i := 0
	for i < 16 {
		off := 0
		acc := uint32(0)
		for ; off < len(s); off++ {
			d := unhex(s[off])
			if d < 0 {
				break
			}
			if off > 3 {
				return netip.Addr{}, false
			}
			acc = acc<<4 + uint32(d)
		}
		if off == 0 {
			return netip.Addr{}, false
		}
		if off < len(s) && s[off] == '.' {
			if (ellipsis < 0 && i != 12) || i+4 > 16 {
				return netip.Addr{}, false
			}
			if !parseIPv4(s, ip[i:i+4]) {
				return netip.Addr{}, false
			}
			s = nil
			i += 4
			break
		}
		ip[i] = byte(acc >> 8)
		ip[i+1] = byte(acc)
		i += 2
		s = s[off:]
		if len(s) == 0 {
			break
		}
		if s[0] != ':' || len(s) == 1 {
			return netip.Addr{}, false
		}
		s = s[1:]
		if s[0] == ':' {
			if ellipsis >= 0 {
				return netip.Addr{}, false
			}
			ellipsis = i
			s = s[1:]
			if len(s) == 0 {
				break
			}
		}
	}
	if len(s) != 0 {
		return netip.Addr{}, false
	}
	if i < 16 {
		if ellipsis < 0 {
			return netip.Addr{}, false
		}
		n := 16 - i
		for j := i - 1; j >= ellipsis; j-- {
			ip[j+n] = ip[j]
		}
		clear(ip[ellipsis : ellipsis+n])
	} else if ellipsis >= 0 {
		return netip.Addr{}, false
	}
	return netip.AddrFrom16(ip), true
}
