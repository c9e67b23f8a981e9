package loganalytics

import (
	"math"
	"strconv"
	"time"

	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/plog"

	"github.com/erviz/otelcol-erviz/internal/schema"
)

// Attributes that say which kind a record is.
const (
	attrRollupFlows = schema.FlowRollupFlows
	attrEventPhase  = "bgp.event.phase"
	attrBGPEvent    = "bgp.event"
	attrFlowType    = "flow.type"
)

// KindOf returns the kind of a log record, false when it is none of ours (no flow.type,
// bgp.event or flow.rollup.flows attribute).
func KindOf(attrs pcommon.Map) (Kind, bool) {
	if _, ok := attrs.Get(attrRollupFlows); ok {
		return KindFlowRollups, true
	}
	if _, ok := attrs.Get(attrEventPhase); ok {
		return KindRoutingConditions, true
	}
	if _, ok := attrs.Get(attrBGPEvent); ok {
		return KindRouting, true
	}
	if _, ok := attrs.Get(attrFlowType); ok {
		return KindFlows, true
	}
	return 0, false
}

// Mapper turns log records into JSON rows of their table. It is not safe for concurrent use
// (it keeps scratch space); create one per goroutine.
type Mapper struct {
	byAttr [numKinds]map[string]int // attribute -> column index, per table
	from   []uint8                  // per column of the current row: 0 absent, 1 record, 2 resource
	now    func() time.Time
}

// NewMapper returns a Mapper; now gives the time for records without any timestamp (nil: time.Now).
func NewMapper(now func() time.Time) *Mapper {
	if now == nil {
		now = time.Now
	}
	m := &Mapper{now: now}
	for k, t := range Tables {
		m.byAttr[k] = map[string]int{}
		for i, c := range t.Columns {
			if c.Attr != "" {
				m.byAttr[k][c.Attr] = i
			}
		}
	}
	return m
}

// AppendRow appends the JSON object of the record's row of table k to dst.
func (m *Mapper) AppendRow(dst []byte, k Kind, res pcommon.Resource, lr plog.LogRecord) []byte {
	t := Tables[k]
	if cap(m.from) < len(t.Columns) {
		m.from = make([]uint8, len(t.Columns))
	}
	m.from = m.from[:len(t.Columns)]
	clear(m.from)
	attrs, rattrs := lr.Attributes(), res.Attributes()
	dst = append(dst, '{')
	first := true
	key := func(name string) {
		if !first {
			dst = append(dst, ',')
		}
		first = false
		dst = append(dst, '"')
		dst = append(dst, name...)
		dst = append(dst, '"', ':')
	}
	for i, c := range t.Columns {
		switch c.from {
		case fromTimestamp:
			ts := lr.Timestamp()
			if ts == 0 {
				ts = lr.ObservedTimestamp()
			}
			tm := ts.AsTime()
			if ts == 0 {
				tm = m.now()
			}
			key(c.Name)
			dst = appendTime(dst, tm)
		case fromBody:
			if lr.Body().Type() == pcommon.ValueTypeEmpty {
				continue
			}
			key(c.Name)
			dst = appendString(dst, lr.Body().AsString())
		case fromRest:
			mark, wasFirst := len(dst), first
			key(c.Name)
			dst = append(dst, '{')
			n := 0
			dst, n = m.appendRest(dst, k, attrs, 1, n)
			dst, n = m.appendRest(dst, k, rattrs, 2, n)
			if n == 0 { // nothing left over: no column
				dst, first = dst[:mark], wasFirst
				continue
			}
			dst = append(dst, '}')
		default:
			v, where := lookup(attrs, rattrs, c.Attr)
			if where == 0 {
				continue
			}
			mark := len(dst)
			wasFirst := first
			key(c.Name)
			var ok bool
			dst, ok = appendTyped(dst, c, v)
			if !ok { // not convertible: the value goes to Attributes with its own type
				dst = dst[:mark]
				first = wasFirst
				continue
			}
			m.from[i] = where
		}
	}
	return append(dst, '}')
}

// appendRest appends the attributes of one map (1 record, 2 resource) that no column took.
func (m *Mapper) appendRest(dst []byte, k Kind, attrs pcommon.Map, where uint8, n int) ([]byte, int) {
	for name, v := range attrs.All() {
		if i, ok := m.byAttr[k][name]; ok && m.from[i] == where {
			continue
		}
		if n > 0 {
			dst = append(dst, ',')
		}
		n++
		dst = appendString(dst, name)
		dst = append(dst, ':')
		dst = appendValue(dst, v)
	}
	return dst, n
}

func lookup(attrs, rattrs pcommon.Map, name string) (pcommon.Value, uint8) {
	if v, ok := attrs.Get(name); ok {
		return v, 1
	}
	if v, ok := rattrs.Get(name); ok {
		return v, 2
	}
	return pcommon.Value{}, 0
}

// appendTyped appends v converted to the column's type; false when it does not convert.
func appendTyped(dst []byte, c Column, v pcommon.Value) ([]byte, bool) {
	switch c.from {
	case fromUnixNanos:
		n, ok := asInt(v)
		if !ok || n <= 0 {
			return dst, false
		}
		return appendTime(dst, time.Unix(0, n)), true
	case fromRFC3339:
		if v.Type() != pcommon.ValueTypeStr {
			return dst, false
		}
		tm, err := time.Parse(time.RFC3339Nano, v.Str())
		if err != nil {
			return dst, false
		}
		return appendTime(dst, tm), true
	case fromProtocol:
		if v.Type() != pcommon.ValueTypeStr {
			return dst, false
		}
		p, ok := protocolNumber(v.Str())
		if !ok {
			return dst, false
		}
		return strconv.AppendInt(dst, int64(p), 10), true
	}
	switch c.Type {
	case TypeString:
		if v.Type() == pcommon.ValueTypeMap || v.Type() == pcommon.ValueTypeSlice || v.Type() == pcommon.ValueTypeBytes {
			return dst, false
		}
		return appendString(dst, v.AsString()), true
	case TypeInt, TypeLong:
		n, ok := asInt(v)
		if !ok || (c.Type == TypeInt && (n > math.MaxInt32 || n < math.MinInt32)) {
			return dst, false
		}
		return strconv.AppendInt(dst, n, 10), true
	case TypeReal:
		var f float64
		switch v.Type() {
		case pcommon.ValueTypeDouble:
			f = v.Double()
		case pcommon.ValueTypeInt:
			f = float64(v.Int())
		default:
			return dst, false
		}
		if math.IsNaN(f) || math.IsInf(f, 0) {
			return dst, false
		}
		return strconv.AppendFloat(dst, f, 'g', -1, 64), true
	case TypeBoolean:
		if v.Type() != pcommon.ValueTypeBool {
			return dst, false
		}
		return strconv.AppendBool(dst, v.Bool()), true
	case TypeDynamic:
		return appendValue(dst, v), true
	}
	return dst, false
}

func asInt(v pcommon.Value) (int64, bool) {
	switch v.Type() {
	case pcommon.ValueTypeInt:
		return v.Int(), true
	case pcommon.ValueTypeDouble:
		f := v.Double()
		if f != math.Trunc(f) || f > math.MaxInt64 || f < math.MinInt64 {
			return 0, false
		}
		return int64(f), true
	case pcommon.ValueTypeStr:
		n, err := strconv.ParseInt(v.Str(), 10, 64)
		return n, err == nil
	}
	return 0, false
}

var protocolNumbers = func() map[string]uint8 {
	m := make(map[string]uint8, 256)
	for i := 255; i >= 0; i-- {
		m[schema.Transport(uint8(i))] = uint8(i)
	}
	return m
}()

func protocolNumber(s string) (uint8, bool) {
	p, ok := protocolNumbers[s]
	return p, ok
}

func appendTime(dst []byte, t time.Time) []byte {
	dst = append(dst, '"')
	dst = t.UTC().AppendFormat(dst, time.RFC3339Nano)
	return append(dst, '"')
}
