package aggregate

import (
	"fmt"
	"sort"
	"testing"
)

func TestAggregateAndOverflow(t *testing.T) {
	tb := New(2, 3)
	all := [NumCounters]bool{true, true, true, true, true, true}
	add := func(dir, link string, bytes int64) bool {
		v := Values{Bytes: bytes, Packets: 1, ToAzureBytes: bytes}
		return tb.Add([]string{dir, link}, &v, &all)
	}
	add("to_azure", "primary", 100)
	add("to_azure", "primary", 50)
	add("from_azure", "primary", 7)
	add("to_azure", "", 1)
	if add("from_azure", "secondary", 1000) != true {
		t.Fatal("a fourth series must overflow with max 3")
	}
	add("from_azure", "secondary", 1)
	if add("to_azure", "primary", 1) {
		t.Fatal("an existing series must not overflow")
	}
	if tb.Len() != 4 {
		t.Fatalf("Len = %d, want 3 series + overflow", tb.Len())
	}
	got := map[string]Series{}
	for _, s := range tb.Drain() {
		got[fmt.Sprint(s.Dims, s.Overflow)] = *s
	}
	if s := got["[to_azure primary] false"]; s.Values[Bytes] != 151 || s.Values[Packets] != 3 || s.Records != 3 {
		t.Errorf("to_azure/primary = %+v", s)
	}
	if s := got["[] true"]; s.Values[Bytes] != 1001 || s.Records != 2 {
		t.Errorf("overflow = %+v", s)
	}
	if tb.Len() != 0 {
		t.Error("Drain did not empty the table")
	}
	// After a drain the cap applies afresh.
	if add("a", "b", 1) || add("c", "d", 1) || add("e", "f", 1) {
		t.Error("cap not reset after Drain")
	}
}

func TestPartialCounters(t *testing.T) {
	tb := New(1, 10)
	v := Values{Bytes: 10, Packets: 1}
	has := [NumCounters]bool{Bytes: true, Packets: true}
	tb.Add([]string{"x"}, &v, &has)
	s := tb.Drain()[0]
	if s.Has[ToAzureBytes] || !s.Has[Bytes] {
		t.Errorf("Has = %v", s.Has)
	}
}

func TestKeysDoNotCollide(t *testing.T) {
	tb := New(2, 10)
	all := [NumCounters]bool{true}
	v := Values{Bytes: 1}
	tb.Add([]string{"ab", "c"}, &v, &all)
	tb.Add([]string{"a", "bc"}, &v, &all)
	var keys []string
	for _, s := range tb.Drain() {
		keys = append(keys, fmt.Sprint(s.Dims))
	}
	sort.Strings(keys)
	if len(keys) != 2 {
		t.Fatalf("series %v: dimension boundaries collided", keys)
	}
}

func TestAddDoesNotAllocateForKnownSeries(t *testing.T) {
	tb := New(3, 100)
	dims := []string{"to_azure", "primary", "https"}
	v := Values{Bytes: 1}
	has := [NumCounters]bool{true}
	tb.Add(dims, &v, &has)
	if n := testing.AllocsPerRun(1000, func() { tb.Add(dims, &v, &has) }); n != 0 {
		t.Errorf("Add allocates %v per record for an existing series", n)
	}
}

func BenchmarkAdd(b *testing.B) {
	tb := New(5, 10000)
	dims := [][]string{
		{"to_azure", "primary", "data", "https", "192.0.2.1"},
		{"from_azure", "primary", "data", "https", "192.0.2.1"},
		{"azure_internal", "", "data", "ms-sql-s", "192.0.2.1"},
		{"unknown", "", "control_plane", "bgp", "192.0.2.1"},
	}
	v := Values{Bytes: 1500, Packets: 1, ToAzureBytes: 1500, ToAzurePackets: 1}
	has := [NumCounters]bool{true, true, true, true, true, true}
	b.ReportAllocs()
	i := 0
	for b.Loop() {
		tb.Add(dims[i&3], &v, &has)
		i++
	}
}
