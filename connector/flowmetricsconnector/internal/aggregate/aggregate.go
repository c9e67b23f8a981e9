// Package aggregate is the pure core of the flowmetrics connector: a table of series keyed
// by dimension values, each holding counters, with a hard cap on the number of series.
// Records beyond the cap go to one overflow series. Memory is bounded by the cap.
package aggregate

// Counter indexes the counters every series holds.
type Counter int

const (
	Bytes Counter = iota
	Packets
	ToAzureBytes
	ToAzurePackets
	FromAzureBytes
	FromAzurePackets
	NumCounters
)

// Values holds one record's (or one series') counters.
type Values [NumCounters]int64

// Series is one aggregated series.
type Series struct {
	// Dims are the dimension values, in configuration order ("" = absent).
	Dims     []string
	Overflow bool
	Values   Values
	// Has marks the counters that at least one record carried.
	Has [NumCounters]bool
	// Records is the number of flow records added.
	Records int64
}

// Table aggregates records into series. Not safe for concurrent use; the connector guards it.
type Table struct {
	max      int
	ndims    int
	index    map[string]*Series
	overflow *Series
	keybuf   []byte
}

// New returns a table of at most maxSeries series (plus the overflow series) over ndims dimensions.
func New(ndims, maxSeries int) *Table {
	return &Table{max: maxSeries, ndims: ndims, index: make(map[string]*Series)}
}

// Add adds one record with the given dimension values. It reports whether the record went to
// the overflow series. dims is read, not kept: the table copies what it stores.
func (t *Table) Add(dims []string, v *Values, has *[NumCounters]bool) (overflow bool) {
	t.keybuf = t.keybuf[:0]
	for _, d := range dims {
		t.keybuf = append(t.keybuf, d...)
		t.keybuf = append(t.keybuf, 0)
	}
	s, ok := t.index[string(t.keybuf)] // no allocation for the look-up
	if !ok {
		if len(t.index) >= t.max {
			if t.overflow == nil {
				t.overflow = &Series{Overflow: true}
			}
			s, overflow = t.overflow, true
		} else {
			s = &Series{Dims: make([]string, len(dims))}
			for i, d := range dims {
				s.Dims[i] = clone(d)
			}
			t.index[string(t.keybuf)] = s
		}
	}
	for i := range v {
		if has[i] {
			s.Values[i] += v[i]
			s.Has[i] = true
		}
	}
	s.Records++
	return overflow
}

// Len is the number of series, the overflow series included.
func (t *Table) Len() int {
	n := len(t.index)
	if t.overflow != nil {
		n++
	}
	return n
}

// Drain returns every series and empties the table (delta semantics: the next interval
// starts from zero).
func (t *Table) Drain() []*Series {
	out := make([]*Series, 0, t.Len())
	for _, s := range t.index {
		out = append(out, s)
	}
	if t.overflow != nil {
		out = append(out, t.overflow)
	}
	clear(t.index)
	t.overflow = nil
	return out
}

// clone copies a string so the table never keeps a reference into a batch's memory.
func clone(s string) string {
	if s == "" {
		return ""
	}
	return string(append([]byte(nil), s...))
}
