// Package flowrollup is the pure core of the flowrollup connector: it sums flow records per
// time window (the record's own time truncated to the interval) and per combination of
// dimension attributes, with a hard cap on the number of series between two flushes; records
// beyond the cap are summed into one overflow series. Memory is bounded by the cap.
package flowrollup

import (
	"strconv"
	"time"

	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/plog"

	"github.com/erviz/otelcol-erviz/internal/schema"
)

// Attribute names of a rollup record (besides the dimensions and the summed counters, which
// keep the flow records' names).
const (
	AttrFlows    = schema.FlowRollupFlows    // flow records summed into the row
	AttrInterval = schema.FlowRollupInterval // seconds the row covers
	AttrOverflow = schema.FlowRollupOverflow // true on the series beyond max_series
)

// Counters summed per series, named as on the flow records.
var Counters = [...]string{
	"flow.io.bytes", "flow.io.packets",
	"flow.to_azure.io.bytes", "flow.to_azure.io.packets",
	"flow.from_azure.io.bytes", "flow.from_azure.io.packets",
}

const numCounters = len(Counters)

// Outcome of adding a record.
type Outcome int

// Outcomes.
const (
	Counted  Outcome = iota // summed into its series
	Overflow                // summed into the overflow series (max_series reached)
	NotFlow                 // no flow.io.bytes nor flow.io.packets, or already a rollup: ignored
)

// Series is one row of the rollup.
type Series struct {
	Window   int64           // window start, Unix nanoseconds
	Dims     []pcommon.Value // per dimension; an empty Value means absent
	Sums     [numCounters]int64
	Has      [numCounters]bool
	Flows    int64
	Overflow bool
}

// Table aggregates records between two flushes. Not safe for concurrent use.
type Table struct {
	interval int64
	dims     []string
	max      int
	index    map[string]*Series
	order    []*Series
	overflow *Series
	keybuf   []byte
	vals     []pcommon.Value // per-record scratch
}

// New returns a table summing per interval over the given dimensions, at most maxSeries series.
func New(interval time.Duration, dims []string, maxSeries int) *Table {
	return &Table{interval: int64(interval), dims: dims, max: maxSeries, index: map[string]*Series{}}
}

// Len is the number of series held (without the overflow series).
func (t *Table) Len() int { return len(t.index) }

// Add sums one record: its time, its attributes and its resource's (dimensions are looked up on
// the record first). now is the window of an overflowing record.
func (t *Table) Add(ts time.Time, attrs, res pcommon.Map, now time.Time) Outcome {
	if _, ok := attrs.Get(AttrFlows); ok {
		return NotFlow
	}
	var sums [numCounters]int64
	var has [numCounters]bool
	for i, name := range Counters {
		if v, ok := attrs.Get(name); ok {
			switch v.Type() {
			case pcommon.ValueTypeInt:
				sums[i], has[i] = v.Int(), true
			case pcommon.ValueTypeDouble:
				sums[i], has[i] = int64(v.Double()), true
			}
		}
	}
	if !has[0] && !has[1] {
		return NotFlow
	}
	window := ts.UnixNano()
	window -= window % t.interval
	t.keybuf = strconv.AppendInt(t.keybuf[:0], window, 36)
	if len(t.vals) != len(t.dims) {
		t.vals = make([]pcommon.Value, len(t.dims))
	}
	vals := t.vals
	clear(vals)
	for i, d := range t.dims {
		v, ok := attrs.Get(d)
		if !ok {
			v, ok = res.Get(d)
		}
		t.keybuf = append(t.keybuf, 0)
		if ok {
			t.keybuf = append(t.keybuf, byte('0'+v.Type()))
			t.keybuf = append(t.keybuf, v.AsString()...)
			vals[i] = v
		}
	}
	s, ok := t.index[string(t.keybuf)]
	out := Counted
	if !ok {
		if len(t.index) >= t.max {
			if t.overflow == nil {
				w := now.UnixNano()
				t.overflow = &Series{Window: w - w%t.interval, Overflow: true}
			}
			s, out = t.overflow, Overflow
		} else {
			s = &Series{Window: window, Dims: make([]pcommon.Value, len(vals))}
			for i, v := range vals {
				if v != (pcommon.Value{}) {
					nv := pcommon.NewValueEmpty()
					v.CopyTo(nv)
					s.Dims[i] = nv
				}
			}
			t.index[string(t.keybuf)] = s
			t.order = append(t.order, s)
		}
	}
	for i := range sums {
		if has[i] {
			s.Sums[i] += sums[i]
			s.Has[i] = true
		}
	}
	s.Flows++
	return out
}

// Flush returns the series summed since the last flush, in the order they appeared (the
// overflow series last), and empties the table.
func (t *Table) Flush() []*Series {
	out := t.order
	if t.overflow != nil {
		out = append(out, t.overflow)
	}
	t.index = make(map[string]*Series, len(t.index))
	t.order = nil
	t.overflow = nil
	return out
}

// AppendRecords appends one log record per series to lrs: the window start as timestamp, the
// dimensions under their own names, the sums, the flow count and the interval.
func (t *Table) AppendRecords(lrs plog.LogRecordSlice, series []*Series, observed time.Time) {
	secs := t.interval / int64(time.Second)
	for _, s := range series {
		lr := lrs.AppendEmpty()
		lr.SetTimestamp(pcommon.Timestamp(s.Window))
		lr.SetObservedTimestamp(pcommon.NewTimestampFromTime(observed))
		a := lr.Attributes()
		a.EnsureCapacity(len(t.dims) + numCounters + 3)
		for i, v := range s.Dims {
			if v != (pcommon.Value{}) {
				v.CopyTo(a.PutEmpty(t.dims[i]))
			}
		}
		for i, name := range Counters {
			if s.Has[i] {
				a.PutInt(name, s.Sums[i])
			}
		}
		a.PutInt(AttrFlows, s.Flows)
		a.PutInt(AttrInterval, secs)
		if s.Overflow {
			a.PutBool(AttrOverflow, true)
		}
	}
}
