package flowlog

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"unicode/utf8"
)

// hasDuplicateTopKeys reports whether the top-level object of doc repeats a
// key (ParseDocument delivers every "records" array, encoding/json keeps
// only the last).
func hasDuplicateTopKeys(doc []byte) bool {
	dec := json.NewDecoder(bytes.NewReader(doc))
	seen := map[string]bool{}
	depth := 0
	expectKey := false
	for {
		tok, err := dec.Token()
		if err != nil {
			return false
		}
		switch v := tok.(type) {
		case json.Delim:
			switch v {
			case '{', '[':
				depth++
				expectKey = v == '{' && depth == 1
				continue
			default:
				depth--
			}
		case string:
			if depth == 1 && expectKey {
				if seen[v] {
					return true
				}
				seen[v] = true
				expectKey = false
				continue
			}
		}
		if depth == 1 {
			expectKey = true
		}
	}
}

// compareWithReference checks ParseDocument against refParseDocument:
// same acceptance, same records, tuples and skip counts. It reports
// whether both accepted the document and were compared.
func compareWithReference(t *testing.T, doc []byte) bool {
	t.Helper()
	if !utf8.Valid(doc) || hasDuplicateTopKeys(doc) {
		return false // encoding/json accepts invalid UTF-8; we reject it
	}
	ref, refErr := refParseDocument(doc)
	p, c := newCollector(false)
	err := p.ParseDocument(doc, c.fn)
	if (err == nil) != (refErr == nil) {
		t.Fatalf("acceptance differs: streaming %v, reference %v\ninput %q", err, refErr, doc)
	}
	if err != nil {
		return false
	}
	if got, want := stripRefFields(c.recs), stripRefFields(ref.Records); !reflect.DeepEqual(got, want) {
		t.Fatalf("records differ\n got %+v\nwant %+v\ninput %q", got, want, doc)
	}
	for i := range ref.Skipped {
		if uint64(ref.Skipped[i]) != p.Stats.SkippedRecords[i] {
			t.Fatalf("skip counts differ: streaming %v reference %v\ninput %q", p.Stats.SkippedRecords, ref.Skipped, doc)
		}
	}
	return true
}

// checkInvariants parses data as a chunk, with and without Resync, and
// checks what must hold for any input.
func checkInvariants(t *testing.T, data []byte) (recs []Record, err error) {
	t.Helper()
	p, c := newCollector(false)
	err = p.ParseChunk(data, c.fn)
	last := -1
	var tuples uint64
	for _, r := range c.recs {
		if r.Start <= last || r.End <= r.Start || r.End > len(data) || data[r.Start] != '{' || data[r.End-1] != '}' {
			t.Fatalf("bad record offsets %d-%d (previous end %d, len %d)", r.Start, r.End, last, len(data))
		}
		if !json.Valid(data[r.Start:r.End]) && utf8.Valid(data[r.Start:r.End]) {
			t.Fatalf("delivered record is not valid JSON: %q", data[r.Start:r.End])
		}
		last = r.End - 1
		tuples += uint64(len(r.Tuples))
		for i, tp := range r.Tuples {
			if i > 0 && tp.Index <= r.Tuples[i-1].Index {
				t.Fatalf("tuple indexes not increasing")
			}
			if !tp.Src.IsValid() || !tp.Dst.IsValid() || tp.Direction == DirectionUnknown || tp.Decision == DecisionUnknown {
				t.Fatalf("incomplete tuple %+v", tp)
			}
		}
	}
	if p.Stats.Records != uint64(len(c.recs)) || p.Stats.Tuples != tuples || p.Stats.Bytes > uint64(len(data)) {
		t.Fatalf("stats %+v for %d records %d tuples", p.Stats, len(c.recs), tuples)
	}
	if se, ok := err.(*SyntaxError); ok && (se.Offset < 0 || se.Offset > len(data) || se.RecordStart > se.Offset) {
		t.Fatalf("bad error offsets %+v", se)
	} else if err != nil && !ok {
		t.Fatalf("unexpected error type %T %v", err, err)
	}

	// With Resync: never an error, and at least the records delivered
	// before the first error.
	pr, cr := newCollector(true)
	if rerr := pr.ParseChunk(data, cr.fn); rerr != nil {
		t.Fatalf("resync returned %v", rerr)
	}
	if len(cr.recs) < len(c.recs) || (len(c.recs) > 0 && !reflect.DeepEqual(cr.recs[:len(c.recs)], c.recs)) {
		t.Fatalf("resync lost records: %d < %d", len(cr.recs), len(c.recs))
	}
	if err == nil && (len(cr.recs) != len(c.recs) || pr.Stats.SkippedRecords[SkipMalformed] != 0) {
		t.Fatalf("resync changed a valid parse")
	}
	if pr.Stats.SkippedBytes > uint64(len(data)) {
		t.Fatalf("skipped %d bytes of %d", pr.Stats.SkippedBytes, len(data))
	}
	pr.Stats = Stats{}
	_ = pr.ParseDocument(data, cr.fn) // must terminate without panicking

	// With bounds: the records delivered are those of the unbounded parse that fit, none
	// holds more than MaxTuples tuples, and every other one is counted as skipped.
	pb, cb := newCollector(false)
	pb.MaxTuples, pb.MaxRecordBytes = 2, 400
	berr := pb.ParseChunk(data, cb.fn)
	if (berr == nil) != (err == nil) {
		t.Fatalf("bounds changed acceptance: %v vs %v", berr, err)
	}
	fit := 0
	for _, r := range c.recs {
		if len(r.Tuples)+r.BadTuples <= 2 && r.End-r.Start <= 400 {
			fit++
		}
	}
	for _, r := range cb.recs {
		if len(r.Tuples) > 2 || r.End-r.Start > 400 {
			t.Fatalf("bounded parse delivered a record of %d tuples, %d bytes", len(r.Tuples), r.End-r.Start)
		}
	}
	if len(cb.recs) != fit || pb.Stats.SkippedRecords[SkipTooManyTuples]+pb.Stats.SkippedRecords[SkipTooLarge] != uint64(len(c.recs)-fit) {
		t.Fatalf("bounded parse: %d records, %v skipped; want %d of %d", len(cb.recs), pb.Stats.SkippedRecords, fit, len(c.recs))
	}
	return c.recs, err
}

func FuzzParse(f *testing.F) {
	for _, name := range []string{"vnet_pt1h.json", "nsg_v1.json", "nsg_v2.json"} {
		b, err := os.ReadFile(filepath.Join("testdata", name))
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}
	blocks, _ := filepath.Glob("testdata/vnet_blocks/block*")
	for _, n := range blocks {
		b, err := os.ReadFile(n)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}
	for _, r := range trickyRecords {
		f.Add([]byte(r))
	}
	f.Fuzz(fuzzParse)
}

func fuzzParse(t *testing.T, data []byte) {
	{
		recs, err := checkInvariants(t, data)

		// Document mode against encoding/json.
		compareWithReference(t, data)

		// Chunk mode against document mode on the same records.
		trimmed := bytes.TrimLeft(data, " \t\r\n")
		if headLen(trimmed) > 0 {
			return
		}
		body := bytes.TrimPrefix(trimmed, []byte(","))
		doc := append(append([]byte(`{"records":[`), body...), "]}"...)
		off := len(data) - len(body) - len(`{"records":[`)
		pd, cd := newCollector(false)
		derr := pd.ParseDocument(doc, cd.fn)
		switch {
		case err != nil && derr == nil:
			t.Fatalf("chunk rejected (%v) but the wrapped document parsed\ninput %q", err, data)
		case err == nil && derr == nil:
			if len(recs) != len(cd.recs) {
				t.Fatalf("chunk gave %d records, document %d", len(recs), len(cd.recs))
			}
			for i := range recs {
				d := cd.recs[i]
				d.Start += off
				d.End += off
				if !reflect.DeepEqual(recs[i], d) {
					t.Fatalf("record %d differs between chunk and document parse", i)
				}
			}
		case err == nil && derr != nil:
			// Only a tail block explains this.
			if !bytes.HasSuffix(bytes.TrimRight(data, " \t\r\n"), []byte("}")) {
				t.Fatalf("chunk accepted but wrapped document rejected (%v)\ninput %q", derr, data)
			}
		}
		compareWithReference(t, doc)
	}
}

// FuzzTuple compares the tuple parsers (and the address parser) with the
// strings.Split / strconv / netip reference on arbitrary tuple text.
func FuzzTuple(f *testing.F) {
	for _, s := range []string{
		"1715677203599,10.1.0.4,192.0.2.180,23956,443,6,O,B,NX,0,0,0,0",
		"1715677212,fd00:10:1::4,2001:db8:abcd:12::1f,40001,8443,6,O,C,NX_HW_NOT_SUPPORTED,120,98304,95,12160",
		"1715677211000,::ffff:203.0.113.77,::,41230,3389,6,I,D,NX_NEW,,,,",
		"1487282421,42.119.146.95,10.1.0.4,51529,5358,T,I,D",
		"1542110377,10.5.16.4,13.67.143.118,59831,443,T,O,A,B,,,,",
		"1542110380,10.5.16.4,13.67.143.115,44931,443,T,O,A,C,30,16978,24,14008",
		"1,1:2:3:4:5:6:7:8,1::,0,65535,255,I,E,X,18446744073709551615,0,0,0",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		var p Parser
		var got Tuple
		b := []byte(s)
		for _, mode := range []int{0, 1, 2} {
			var msg string
			var want Tuple
			var ok bool
			switch mode {
			case 0:
				msg = p.parseVNetTuple(b, &got)
				want, ok = refVNetTuple(s)
			case 1:
				msg = p.parseNSGTuple(b, &got, false)
				want, ok = refNSGTuple(s, false)
			case 2:
				msg = p.parseNSGTuple(b, &got, true)
				want, ok = refNSGTuple(s, true)
			}
			if (msg == "") != ok {
				t.Fatalf("mode %d: streaming %q, reference ok=%v for %q", mode, msg, ok, s)
			}
			if ok && got != want {
				t.Fatalf("mode %d: %q\n got %+v\nwant %+v", mode, s, got, want)
			}
		}
		// Every comma-free piece as an address.
		for _, f := range strings.Split(s, ",") {
			a, ok := parseAddr([]byte(f))
			ra, rok := refAddr(f)
			if ok != rok || a != ra {
				t.Fatalf("address %q: got %v %v, netip %v %v", f, a, ok, ra, rok)
			}
		}
	})
}
