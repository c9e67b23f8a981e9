package flowlog

import (
	"errors"
	"fmt"
	"strings"
	"testing"
)

// vnetRec builds a compact VNet record with the given version text and
// tuples in one flow group.
func vnetRec(version string, tuples ...string) string {
	q := make([]string, len(tuples))
	for i, t := range tuples {
		q[i] = `"` + t + `"`
	}
	return `{"time":"2024-05-14T09:00:52.5625085Z","flowLogVersion":` + version +
		`,"flowLogGUID":"g","macAddress":"6045BDA2C3D4","category":"FlowLogFlowEvent","flowLogResourceID":"/fl","targetResourceID":"/vnet","operationName":"FlowLogFlowEvent",` +
		`"flowRecords":{"flows":[{"aclID":"acl","flowGroups":[{"rule":"r","flowTuples":[` + strings.Join(q, ",") + `]}]}]}}`
}

const (
	tupA = "1715677203599,10.1.0.4,192.0.2.180,23956,443,6,O,B,NX,0,0,0,0"
	tupB = "1715677245712,10.1.0.4,192.0.2.180,23956,443,6,O,E,NX,7,750,8,3211"
	tupC = "1715677246000,10.1.0.5,192.0.2.181,23957,443,6,O,C,NX,1,2,3,4"
)

func parseChunkString(t *testing.T, resync bool, chunk string) (*Parser, *collector, error) {
	t.Helper()
	p, c := newCollector(resync)
	err := p.ParseChunk([]byte(chunk), c.fn)
	return p, c, err
}

func syntaxErr(t *testing.T, err error) *SyntaxError {
	t.Helper()
	var se *SyntaxError
	if !errors.As(err, &se) {
		t.Fatalf("got error %v, want *SyntaxError", err)
	}
	return se
}

func TestTruncatedRecord(t *testing.T) {
	r1, r2, r3 := vnetRec("4", tupA), vnetRec("4", tupB), vnetRec("4", tupC)
	cut := r2[:len(r2)/2]
	chunk := r1 + "," + cut
	_, c, err := parseChunkString(t, false, chunk)
	se := syntaxErr(t, err)
	if len(c.recs) != 1 || c.recs[0].Tuples[0].Time != ms(1715677203599) {
		t.Fatalf("records before the error: %d", len(c.recs))
	}
	if se.RecordStart != len(r1)+1 || se.Offset < se.RecordStart || se.Offset > len(chunk) {
		t.Errorf("error offsets: %+v (record 2 starts at %d)", se, len(r1)+1)
	}
	if !strings.Contains(se.Error(), fmt.Sprintf("byte %d", se.Offset)) {
		t.Errorf("message does not name the offset: %v", se)
	}

	// With Resync the record after the truncated one is recovered.
	chunk = r1 + "," + cut + "," + r3
	p, c, err := parseChunkString(t, true, chunk)
	if err != nil {
		t.Fatal(err)
	}
	if len(c.recs) != 2 || c.recs[1].Tuples[0].Src != ip("10.1.0.5") || c.recs[1].Start != len(r1)+1+len(cut)+1 {
		t.Fatalf("resync: %d records", len(c.recs))
	}
	if p.Stats.SkippedRecords[SkipMalformed] != 1 || p.Stats.SkippedBytes != uint64(len(cut)+1) || len(c.errs) != 1 {
		t.Errorf("resync stats %+v errors %v", p.Stats, c.errs)
	}
	if c.recs[1].Index != 2 {
		t.Errorf("record after the broken one has Index %d, want 2", c.recs[1].Index)
	}

	// The same in a document, with nothing to resume at.
	p, c = newCollector(true)
	doc := `{"records":[` + r1 + "," + cut
	if err := p.ParseDocument([]byte(doc), c.fn); err != nil || len(c.recs) != 1 ||
		p.Stats.SkippedBytes != uint64(len(cut)) || p.Stats.SkippedRecords[SkipMalformed] != 1 {
		t.Errorf("document resync to end: %v, %d records, %+v", err, len(c.recs), p.Stats)
	}
}

func TestBadTuples(t *testing.T) {
	bad := []string{
		"1715677203599,10.1.0.4,192.0.2.180,23956,443,6,O,B,NX,0,0,0",     // 12 fields
		"1715677203599,10.1.0.4,192.0.2.180,23956,443,6,O,B,NX,0,0,0,0,0", // 14 fields
		"1715677203599,10.1.0.256,192.0.2.180,23956,443,6,O,B,NX,0,0,0,0",
		"1715677203599,010.1.0.4,192.0.2.180,23956,443,6,O,B,NX,0,0,0,0",
		"1715677203599,fe80::1%eth0,192.0.2.180,23956,443,6,O,B,NX,0,0,0,0",
		"1715677203599,1:2:3:4:5:6:7:8:9,192.0.2.180,23956,443,6,O,B,NX,0,0,0,0",
		"1715677203599,10.1.0.4,192.0.2.180,65536,443,6,O,B,NX,0,0,0,0",
		"1715677203599,10.1.0.4,192.0.2.180,23956,443,256,O,B,NX,0,0,0,0",
		"1715677203599,10.1.0.4,192.0.2.180,23956,443,6,X,B,NX,0,0,0,0",
		"1715677203599,10.1.0.4,192.0.2.180,23956,443,6,O,Q,NX,0,0,0,0",
		"1715677203599,10.1.0.4,192.0.2.180,23956,443,6,O,C,,1,1,1,1",
		"1715677203599,10.1.0.4,192.0.2.180,23956,443,6,O,C,NX,,,,", // empty counters on C
		"1715677203599,10.1.0.4,192.0.2.180,23956,443,6,O,E,NX,18446744073709551616,0,0,0",
		"17156772035990,10.1.0.4,192.0.2.180,23956,443,6,O,B,NX,0,0,0,0", // 14-digit timestamp
		"-1,10.1.0.4,192.0.2.180,23956,443,6,O,B,NX,0,0,0,0",
		",10.1.0.4,192.0.2.180,23956,443,6,O,B,NX,0,0,0,0",
		"1715677203599,10.1.0.4,192.0.2.180,+1,443,6,O,B,NX,0,0,0,0",
		"",
	}
	for _, b := range bad {
		chunk := vnetRec("4", tupA, b, tupB)
		p, c, err := parseChunkString(t, false, chunk)
		if err != nil {
			t.Fatalf("%q: %v", b, err)
		}
		if len(c.recs) != 1 || len(c.recs[0].Tuples) != 2 || c.recs[0].BadTuples != 1 || p.Stats.BadTuples != 1 {
			t.Errorf("%q: not exactly one bad tuple: %+v", b, p.Stats)
			continue
		}
		ts := c.recs[0].Tuples
		if ts[0].Index != 0 || ts[1].Index != 2 || ts[1].Time != ms(1715677245712) {
			t.Errorf("%q: surrounding tuples wrong: %+v", b, ts)
		}
		var te *TupleError
		if len(c.errs) != 1 || !errors.As(c.errs[0], &te) || te.Index != 1 || te.Tuple != b {
			t.Errorf("%q: tuple error %v", b, c.errs)
		}
		if _, ok := refVNetTuple(b); ok {
			t.Errorf("%q: reference accepts it", b)
		}
	}
	// A tuple that is not a string is a bad tuple too.
	chunk := strings.Replace(vnetRec("4", tupA, "X", tupB), `"X"`, `{"x":[1,2]}`, 1)
	p, c, err := parseChunkString(t, false, chunk)
	if err != nil || len(c.recs[0].Tuples) != 2 || p.Stats.BadTuples != 1 {
		t.Errorf("non-string tuple: %v %+v", err, p.Stats)
	}
}

func TestUnknownVersionInTheMiddle(t *testing.T) {
	chunk := vnetRec("4", tupA) + "," + vnetRec("5", tupB) + "," + vnetRec("4.0", tupB) + "," +
		vnetRec("99999999999999999999999", tupB) + "," + vnetRec("3", tupC)
	p, c, err := parseChunkString(t, false, chunk)
	if err != nil {
		t.Fatal(err)
	}
	if len(c.recs) != 2 || c.recs[0].Version != 4 || c.recs[1].Version != 3 || c.recs[1].Index != 4 {
		t.Fatalf("delivered %d records", len(c.recs))
	}
	if p.Stats.SkippedRecords[SkipUnknownVersion] != 3 || p.Stats.Tuples != 2 || p.Stats.Records != 2 {
		t.Errorf("stats %+v", p.Stats)
	}
	var re *RecordError
	if len(c.errs) != 3 || !errors.As(c.errs[0], &re) || re.Reason != SkipUnknownVersion || !strings.Contains(re.Error(), "flowLogVersion 5") {
		t.Errorf("errors %v", c.errs)
	}

	// NSG version 3 is skipped, version 2 next to it is read.
	nsg := func(v string) string {
		return `{"time":"2018-11-13T12:00:35.3899262Z","systemId":"s","category":"NetworkSecurityGroupFlowEvent","resourceId":"/nsg","operationName":"NetworkSecurityGroupFlowEvents","properties":{"Version":` + v +
			`,"flows":[{"rule":"r","flows":[{"mac":"m","flowTuples":["1542110377,10.5.16.4,13.67.143.118,59831,443,T,O,A,B,,,,"]}]}]}}`
	}
	p, c, err = parseChunkString(t, false, nsg("3")+","+nsg("2")+","+nsg(`"2"`))
	if err != nil || len(c.recs) != 1 || c.recs[0].Tuples[0].DstPort != 443 ||
		p.Stats.SkippedRecords[SkipUnknownVersion] != 1 || p.Stats.SkippedRecords[SkipBadField] != 1 {
		t.Errorf("NSG versions: %v, %d records, %+v", err, len(c.recs), p.Stats)
	}
}

func TestGarbageBetweenRecords(t *testing.T) {
	r1, r2 := vnetRec("4", tupA), vnetRec("4", tupB)
	for _, garbage := range []string{" xyz ", "\x00\x01", "}", "]]", `"s"`, "{} "} {
		chunk := r1 + garbage + "," + r2
		_, c, err := parseChunkString(t, false, chunk)
		se := syntaxErr(t, err)
		if len(c.recs) != 1 || se.Offset < len(r1) || se.Offset > len(r1)+len(garbage) {
			t.Errorf("%q: %d records, error %v", garbage, len(c.recs), err)
		}
		p, c, err := parseChunkString(t, true, chunk)
		if err != nil || len(c.recs) != 2 || p.Stats.SkippedRecords[SkipMalformed] != 1 {
			t.Errorf("%q with resync: %v, %d records, %+v", garbage, err, len(c.recs), p.Stats)
		}
	}
	// Non-object records are syntax errors.
	for _, chunk := range []string{"1", "null", `"x"`, "[]", r1 + ",", r1 + ",,"} {
		if _, _, err := parseChunkString(t, false, chunk); err == nil {
			t.Errorf("%q accepted", chunk)
		}
	}
}

func TestDeepNestingInUnknownKey(t *testing.T) {
	withExtra := func(v string) string {
		r := vnetRec("4", tupA)
		return r[:len(r)-1] + `,"extra":` + v + "}"
	}
	deep := strings.Repeat(`[{"a":`, 2000) + "1" + strings.Repeat("}]", 2000)
	p, c, err := parseChunkString(t, false, withExtra(deep))
	if err != nil || len(c.recs) != 1 || len(c.recs[0].Tuples) != 1 || p.Stats.Skipped() != 0 {
		t.Fatalf("deep nesting: %v", err)
	}
	tooDeep := strings.Repeat("[", maxDepth+1) + strings.Repeat("]", maxDepth+1)
	_, _, err = parseChunkString(t, false, withExtra(tooDeep))
	if se := syntaxErr(t, err); !strings.Contains(se.Msg, "too deep") {
		t.Errorf("too deep: %v", se)
	}
	unbalanced := strings.Repeat(`{"a":[`, 50) + "1" + strings.Repeat("]}", 49) + "]]"
	_, _, err = parseChunkString(t, false, withExtra(unbalanced))
	syntaxErr(t, err)
	// Every JSON type in unknown keys.
	all := `{"s":"x\"y\\z\u00e9\ud83d\ude00","n":-1.5e+300,"big":1e400,"huge":` + strings.Repeat("9", 400) +
		`,"t":true,"f":false,"z":null,"a":[],"o":{},"e":[{},[],"",0]}`
	if _, c, err := parseChunkString(t, false, withExtra(all)); err != nil || len(c.recs) != 1 {
		t.Errorf("all types: %v", err)
	}
}

func TestInvalidStringsAndNumbers(t *testing.T) {
	r := vnetRec("4", tupA)
	cases := map[string]string{
		"invalid UTF-8":      strings.Replace(r, `"r"`, "\"r\xff\"", 1),
		"truncated UTF-8":    strings.Replace(r, `"r"`, "\"r\xe2\x82\"", 1),
		"bad escape":         strings.Replace(r, `"r"`, `"r\x41"`, 1),
		"short \\u":          strings.Replace(r, `"r"`, `"r\u12"`, 1),
		"control char":       strings.Replace(r, `"r"`, "\"r\n\"", 1),
		"leading zero":       strings.Replace(r, `"flowLogVersion":4`, `"flowLogVersion":04`, 1),
		"bare minus":         strings.Replace(r, `"flowLogVersion":4`, `"flowLogVersion":-`, 1),
		"dot without digits": strings.Replace(r, `"flowLogVersion":4`, `"flowLogVersion":4.`, 1),
		"bad exponent":       strings.Replace(r, `"flowLogVersion":4`, `"flowLogVersion":4e`, 1),
		"bad literal":        strings.Replace(r, `"flowLogVersion":4`, `"flowLogVersion":nul`, 1),
		"single quotes":      strings.Replace(r, `"rule":"r"`, `'rule':'r'`, 1),
		"missing colon":      strings.Replace(r, `"rule":"r"`, `"rule" "r"`, 1),
		"trailing comma":     strings.Replace(r, `"rule":"r",`, `"rule":"r",,`, 1),
		"unterminated":       r[:strings.Index(r, `"rule"`)+3],
		"control in tuple":   strings.Replace(r, ",NX,", ",N\x01X,", 1),
		"bad UTF-8 in tuple": strings.Replace(r, ",NX,", ",N\xffX,", 1),
		"tab in tuple":       strings.Replace(r, ",NX,", ",N\tX,", 1),
	}
	for name, chunk := range cases {
		_, c, err := parseChunkString(t, false, chunk)
		se := syntaxErr(t, err)
		if len(c.recs) != 0 || se.RecordStart != 0 {
			t.Errorf("%s: %v", name, err)
		}
	}
	// An escaped quote or backslash inside a tuple is decoded (and kept as
	// an unknown encryption code).
	for raw, want := range map[string]string{`N\"X`: `N"X`, `N\\X`: `N\X`, `N\u00e9`: "Né"} {
		_, c, err := parseChunkString(t, false, strings.Replace(r, ",NX,", ","+raw+",", 1))
		if err != nil || len(c.recs) != 1 || len(c.recs[0].Tuples) != 1 || c.recs[0].Tuples[0].EncryptionText != want {
			t.Errorf("%s: %v %+v", raw, err, c.recs)
		}
	}
	// Escapes are decoded: in tuple strings, keys and values.
	esc := strings.Replace(r, `"`+tupA+`"`, `"\u0031715677203599\u002c10.1.0.4,192.0.2.180,23956,443,6,O,B,NX,0,0,0,0"`, 1)
	esc = strings.Replace(esc, `"time"`, `"\u0074ime"`, 1)
	esc = strings.Replace(esc, `"rule":"r"`, `"rule":"Rule\/\u00e9\ud800x"`, 1)
	_, c, err := parseChunkString(t, false, esc)
	if err != nil || len(c.recs) != 1 {
		t.Fatalf("escapes: %v", err)
	}
	tp := c.recs[0].Tuples[0]
	if tp.Time != ms(1715677203599) || tp.Src != ip("10.1.0.4") || tp.Rule != "Rule/é\uFFFDx" || c.recs[0].Time.IsZero() {
		t.Errorf("escaped values: %+v", tp)
	}
}

func TestShapeAndFieldErrors(t *testing.T) {
	r := vnetRec("4", tupA)
	cases := []struct {
		name   string
		chunk  string
		reason SkipReason
	}{
		{"empty object", `{}`, SkipUnknownShape},
		{"no version", strings.Replace(r, `"flowLogVersion":4,`, ``, 1), SkipUnknownVersion},
		{"null version", strings.Replace(r, `"flowLogVersion":4`, `"flowLogVersion":null`, 1), SkipUnknownVersion},
		{"string version", strings.Replace(r, `"flowLogVersion":4`, `"flowLogVersion":"4"`, 1), SkipBadField},
		{"both kinds", r[:len(r)-1] + `,"properties":{"Version":2}}`, SkipUnknownShape},
		{"bad time", strings.Replace(r, `2024-05-14T09:00:52.5625085Z`, `yesterday`, 1), SkipBadField},
		{"numeric guid", strings.Replace(r, `"flowLogGUID":"g"`, `"flowLogGUID":7`, 1), SkipBadField},
		{"flowRecords array", vnetRecWithFlowRecords(`[]`), SkipBadField},
		{"flows object", vnetRecWithFlowRecords(`{"flows":{}}`), SkipBadField},
		{"flow element number", vnetRecWithFlowRecords(`{"flows":[1]}`), SkipBadField},
		{"aclID number", vnetRecWithFlowRecords(`{"flows":[{"aclID":1}]}`), SkipBadField},
		{"flowTuples string", vnetRecWithFlowRecords(`{"flows":[{"flowGroups":[{"flowTuples":"x"}]}]}`), SkipBadField},
	}
	for _, tc := range cases {
		p, c, err := parseChunkString(t, false, tc.chunk+","+r)
		if err != nil {
			t.Errorf("%s: %v", tc.name, err)
			continue
		}
		var re *RecordError
		if len(c.recs) != 1 || p.Stats.SkippedRecords[tc.reason] != 1 || len(c.errs) != 1 ||
			!errors.As(c.errs[0], &re) || re.Reason != tc.reason || re.Start != 0 || re.End != len(tc.chunk) {
			t.Errorf("%s: %d records, stats %+v, errors %v", tc.name, len(c.recs), p.Stats, c.errs)
		}
	}
}

func vnetRecWithFlowRecords(fr string) string {
	return `{"time":"2024-05-14T09:00:52Z","flowLogVersion":4,"flowRecords":` + fr + `}`
}

func TestKeyOrderDuplicatesAndNulls(t *testing.T) {
	// flowRecords before flowLogVersion, unknown keys everywhere.
	chunk := `{"flowRecords":{"x":1,"flows":[null,{"flowGroups":[{"flowTuples":["` + tupA + `"],"rule":"late"}],"aclID":"a"}]},"time":"2024-05-14T09:00:52Z","flowLogVersion":4}`
	_, c, err := parseChunkString(t, false, chunk)
	if err != nil || len(c.recs) != 1 {
		t.Fatalf("order: %v", err)
	}
	if tp := c.recs[0].Tuples[0]; tp.Rule != "late" || tp.ACLID != "a" || tp.FlowIndex != 1 {
		t.Errorf("labels after tuples: %+v", tp)
	}
	// NSG: flows before Version, which decides the tuple shape.
	nsg := `{"properties":{"flows":[{"flows":[{"flowTuples":["1542110377,10.5.16.4,13.67.143.118,59831,443,T,O,A,C,1,2,3,4"],"mac":"m"}],"rule":"r"}],"Version":2},"time":"2018-11-13T12:00:35Z"}`
	_, c, err = parseChunkString(t, false, nsg)
	if err != nil || len(c.recs) != 1 || len(c.recs[0].Tuples) != 1 || c.recs[0].Tuples[0].BytesDstToSrc != 4 || c.recs[0].Tuples[0].MAC != "m" {
		t.Fatalf("NSG order: %v %+v", err, c.recs)
	}
	// A bad tuple in flows decoded after the record was scanned is reported
	// with the record's offset.
	deferred := `,` + strings.Replace(nsg, `"flowTuples":[`, `"flowTuples":["1,2,3",`, 1)
	p, c, err := parseChunkString(t, false, deferred)
	var te *TupleError
	if err != nil || len(c.recs) != 1 || len(c.errs) != 1 || !errors.As(c.errs[0], &te) || te.RecordStart != 1 || te.Index != 0 || p.Stats.BadTuples != 1 {
		t.Errorf("deferred bad tuple: %v %v", err, c.errs)
	}
	// Duplicates: the last one wins, as with encoding/json.
	dup := `{"flowLogVersion":5,"flowRecords":{"flows":[{"flowGroups":[{"flowTuples":["` + tupA + `"]}]}]},` +
		`"flowRecords":{"flows":[{"flowGroups":[{"flowTuples":["` + tupB + `","` + tupC + `"],"flowTuples":["` + tupC + `"]}]}]},"flowLogVersion":4}`
	_, c, err = parseChunkString(t, false, dup)
	if err != nil || len(c.recs) != 1 || len(c.recs[0].Tuples) != 1 || c.recs[0].Tuples[0].Src != ip("10.1.0.5") || c.recs[0].Tuples[0].Index != 0 {
		t.Fatalf("duplicates: %v %+v", err, c.recs)
	}
	nsgDup := strings.Replace(nsg, `"Version":2`, `"Version":1,"Version":2`, 1)
	if _, c, err = parseChunkString(t, false, nsgDup); err != nil || len(c.recs) != 1 || len(c.recs[0].Tuples) != 1 {
		t.Errorf("NSG duplicate version: %v", err)
	}
	// A later null removes the earlier value.
	nul := vnetRec("4", tupA)
	nul = nul[:len(nul)-1] + `,"flowRecords":null,"macAddress":null}`
	_, c, err = parseChunkString(t, false, nul)
	if err != nil || len(c.recs) != 1 || len(c.recs[0].Tuples) != 0 || c.recs[0].MACAddress != "" {
		t.Errorf("null after value: %v %+v", err, c.recs)
	}
	// Both results agree with the reference.
	for _, doc := range []string{chunk, nsg, dup, nsgDup, nul} {
		if !compareWithReference(t, []byte(`{"records":[`+doc+`]}`)) {
			t.Errorf("not compared: %s", doc)
		}
	}
}

func TestChunkFraming(t *testing.T) {
	r := vnetRec("4", tupA)
	ok := map[string]int{
		"":                              0,
		" \r\n\t":                       0,
		",":                             0,
		`{"records":[`:                  0,
		` { "records" : [ `:             0,
		`]}`:                            0,
		" ] } \n":                       0,
		`{"records":[]}`:                0,
		r:                               1,
		"," + r:                         1,
		" ,\n" + r + " \n, " + r + "\n": 2,
		`{"records":[` + r + "," + r:    2,
		"," + r + "]}":                  1,
		`{"records":[` + r + `]}`:       1,
		`{"records":[` + "," + r + `]}`: 1,
		"\n" + r + "\r\n]\r\n}\r\n":     1,
	}
	for chunk, n := range ok {
		_, c, err := parseChunkString(t, false, chunk)
		if err != nil || len(c.recs) != n {
			t.Errorf("%q: %v, %d records, want %d", chunk, err, len(c.recs), n)
		}
	}
	for _, chunk := range []string{",,", "]", "]}]}", r + "]} x", r + r, `{"records":{`, "[" + r + "]"} {
		if _, _, err := parseChunkString(t, false, chunk); err == nil {
			t.Errorf("%q accepted", chunk)
		}
	}
	// Documents.
	p := NewParser()
	for doc, n := range map[string]int{`{}`: 0, `{"records":null}`: 0, `{"a":[1],"records":[` + r + `],"b":{}}`: 1, " {\"records\":[ " + r + " ]} ": 1} {
		got := 0
		if err := p.ParseDocument([]byte(doc), func(*Record) error { got++; return nil }); err != nil || got != n {
			t.Errorf("document %q: %v, %d records", doc, err, got)
		}
	}
	for _, doc := range []string{``, `[]`, `{"records":[` + r, `{"records":[` + r + `]} x`, `{"records":[` + r + `,]}`, `null`} {
		if err := p.ParseDocument([]byte(doc), func(*Record) error { return nil }); err == nil {
			t.Errorf("document %q accepted", doc)
		}
	}
}

func TestNextRecord(t *testing.T) {
	r := vnetRec("4", tupA)
	chunk := r + ", \n" + r + `,{"x":{"time":1}}`
	if got := NextRecord([]byte(chunk), 0); got != 0 {
		t.Errorf("from 0: %d", got)
	}
	if got := NextRecord([]byte(chunk), 1); got != len(r)+3 {
		t.Errorf("from 1: %d, want %d", got, len(r)+3)
	}
	if got := NextRecord([]byte(chunk), len(r)+4); got != -1 {
		t.Errorf("past the last record: %d", got)
	}
	if got := NextRecord([]byte(`[ { "time" : 1`), 0); got != 2 {
		t.Errorf("with whitespace: %d", got)
	}
}

// trickyRecords exercise key order, duplicates, nulls and types; each must
// give the same result as the encoding/json reference.
var trickyRecords = []string{
	`{"properties":{"Version":2,"flows":[]},"flowRecords":{"flows":[]}}`,
	`{"flowRecords":{"flows":[{"flowGroups":[{"flowTuples":["` + tupA + `"]}]}]},"properties":{"Version":2},"flowLogVersion":4}`,
	`{"properties":{"Version":"2"}}`,
	`{"properties":{"Version":2.0,"flows":[]}}`,
	`{"properties":{}}`,
	`{"properties":{"flows":"x","Version":2}}`,
	`{"properties":{"flows":"x","Version":3}}`,
	`{"properties":{"flows":[{"rule":"r","flows":[{"mac":"m","flowTuples":["1487282421,42.119.146.95,10.1.0.4,51529,5358,T,I,D"]}]}],"Version":1,"Version":2}}`,
	`{"properties":{"Version":1,"flows":[{"rule":"r","flows":[{"mac":"m","flowTuples":["1487282421,42.119.146.95,10.1.0.4,51529,5358,T,I,D"]}]}],"Version":null}}`,
	`{"properties":{"Version":2,"flows":[{"rule":1,"flows":[]}]}}`,
	`{"properties":{"Version":2,"flows":[{"rule":"a","rule":"b","flows":[{"mac":"m","mac":null,"flowTuples":["1542110377,10.5.16.4,13.67.143.118,59831,443,T,O,A,B,,,,"]}]}]}}`,
	`{"flowRecords":{"flows":[]},"properties":{"Version":2},"properties":null}`,
	`{"properties":{"Version":2,"flows":[{"flows":[{"flowTuples":["1542110377,10.5.16.4,13.67.143.118,59831,443,T,O,A,B,,,,"]}]}]},"flowRecords":{"flows":[]},"flowRecords":null}`,
	`{"flowRecords":{"flows":[{"flowGroups":[{"flowTuples":["` + tupA + `"]}]}]},"properties":{"Version":2},"flowRecords":{"flows":[{"flowGroups":[{"flowTuples":["` + tupB + `"]}]}]},"properties":null,"flowLogVersion":4}`,
	`{"flowLogVersion":4,"properties":null,"flowRecords":{}}`,
	`{"flowLogVersion":4,"flowRecords":{"flows":null}}`,
	`{"flowLogVersion":4,"flowRecords":{"flows":[{"flowGroups":null},{"flowGroups":[null,{"flowTuples":null}]}]}}`,
	`{"flowLogVersion":4,"flowRecords":{"flows":[{"flowGroups":[{"flowTuples":[null,1,true,{},[],"` + tupA + `"]}]}]}}`,
	`{"flowLogVersion":4,"flowRecords":{"flows":[{"flowGroups":[{"rule":[],"flowTuples":["` + tupA + `"]}]}]}}`,
	`{"flowLogVersion":4,"flowRecords":{"flows":[{"flowGroups":[{"rule":[],"rule":"ok","flowTuples":["` + tupA + `"]}]}]}}`,
	`{"flowLogVersion":4,"flowRecords":{"flows":[{"flowGroups":{}},{"flowGroups":[]}],"flows":[]}}`,
	`{"flowLogVersion":4,"time":"2024-05-14T09:00:52+02:00","flow\u004cogGUID":"\u0067","flowRecords":{"flows":[]}}`,
	`{"flowLogVersion":4,"time":"2024-05-14 09:00:52Z"}`,
	`{"flowLogVersion":4,"time":5}`,
	`{"flowLogVersion":4,"time":"bad","time":"2024-05-14T09:00:52Z"}`,
	`{"flowLogVersion":-4}`,
	`{"flowLogVersion":4e0}`,
	`{"flowLogVersion":true}`,
	`{"FlowLogVersion":4}`,
	`{"flowLogVersion":2,"flowRecords":{"flows":[{"flowGroups":[{"flowTuples":["` + tupC + `"]}]}]}}`,
}

func TestTrickyRecordsMatchReference(t *testing.T) {
	for _, r := range trickyRecords {
		for _, doc := range []string{`{"records":[` + r + `]}`, `{"records":[` + r + `,` + vnetRec("4", tupA) + `]}`} {
			if !compareWithReference(t, []byte(doc)) {
				t.Errorf("not compared: %s", doc)
			}
		}
	}
}
