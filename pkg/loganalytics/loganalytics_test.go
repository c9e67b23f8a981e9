package loganalytics

import (
	"bytes"
	"compress/gzip"
	"encoding/json"
	"fmt"
	"io"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/plog"
)

var t0 = time.Date(2026, 11, 22, 5, 10, 0, 123456789, time.UTC)

// flowRecord appends a flow record as the ipfix receiver and the sampling processor make it.
func flowRecord(sl plog.ScopeLogs, i int) plog.LogRecord {
	lr := sl.LogRecords().AppendEmpty()
	lr.SetTimestamp(pcommon.NewTimestampFromTime(t0.Add(time.Duration(i) * time.Millisecond)))
	a := lr.Attributes()
	a.PutStr("flow.type", "ipfix")
	a.PutStr("source.address", fmt.Sprintf("192.168.1.%d", i%250))
	a.PutInt("source.port", 50000+int64(i%1000))
	a.PutStr("destination.address", "10.1.0.4")
	a.PutInt("destination.port", 443)
	a.PutStr("network.transport", "tcp")
	a.PutStr("network.type", "ipv4")
	a.PutInt("flow.io.bytes", 1500*4096)
	a.PutInt("flow.io.packets", 4096)
	a.PutInt("flow.start", t0.UnixNano())
	a.PutInt("flow.end", t0.Add(time.Second).UnixNano())
	a.PutInt("flow.sampling_rate", 4096)
	a.PutInt("flow.io.bytes.sampled", 1500)
	a.PutStr("flow.direction", "to_azure")
	a.PutBool("flow.hairpin", false)
	a.PutInt("flow.server.port", 443)
	a.PutStr("flow.service", "https")
	a.PutInt("flow.src_as", 65001)
	a.PutInt("flow.dst_as", 65515)
	a.PutStr("flow.bgp_next_hop", "192.0.2.2")
	a.PutBool("flow.counted", true)
	return lr
}

func newLogs() (plog.Logs, pcommon.Resource, plog.ScopeLogs) {
	ld := plog.NewLogs()
	rl := ld.ResourceLogs().AppendEmpty()
	rl.Resource().Attributes().PutStr("flow.exporter.address", "127.0.0.2")
	rl.Resource().Attributes().PutInt("flow.observation_domain_id", 7)
	return ld, rl.Resource(), rl.ScopeLogs().AppendEmpty()
}

func decodeRow(t *testing.T, b []byte) map[string]any {
	t.Helper()
	d := json.NewDecoder(bytes.NewReader(b))
	d.UseNumber()
	var m map[string]any
	if err := d.Decode(&m); err != nil {
		t.Fatalf("row is not JSON: %v\n%s", err, b)
	}
	return m
}

func TestFlowRow(t *testing.T) {
	_, res, sl := newLogs()
	lr := flowRecord(sl, 3)
	lr.Attributes().PutStr("flow.direction.extra", "x")  // not ours: goes to Attributes
	lr.Attributes().PutStr("flow.server.port.bad", "no") // likewise
	lr.Attributes().PutStr("flow.tcp_flags", "not a number")
	m := NewMapper(nil)
	row := decodeRow(t, m.AppendRow(nil, KindFlows, res, lr))
	want := map[string]string{
		"TimeGenerated": "2026-11-22T05:10:00.126456789Z", "FlowEnd": "2026-11-22T05:10:01.123456789Z",
		"FlowType": "ipfix", "SrcAddr": "192.168.1.3", "SrcPort": "50003", "DstPort": "443", "Protocol": "6",
		"Bytes": "6144000", "Packets": "4096", "SamplingRate": "4096", "Direction": "to_azure",
		"Hairpin": "false", "ServerPort": "443", "Service": "https", "SrcAsn": "65001", "DstAsn": "65515",
		"BgpNextHop": "192.0.2.2", "Counted": "true", "ExporterAddr": "127.0.0.2", "Transport": "tcp",
	}
	for k, v := range want {
		if got := fmt.Sprint(row[k]); got != v {
			t.Errorf("%s = %q, want %q", k, got, v)
		}
	}
	if _, ok := row["Hairpin"].(bool); !ok {
		t.Errorf("Hairpin is %T, want a JSON boolean", row["Hairpin"])
	}
	if _, ok := row["TcpFlags"]; ok {
		t.Errorf("TcpFlags from a non-numeric text: %v", row["TcpFlags"])
	}
	rest, ok := row["Attributes"].(map[string]any)
	if !ok {
		t.Fatalf("Attributes = %T", row["Attributes"])
	}
	for _, k := range []string{"flow.direction.extra", "flow.server.port.bad", "flow.tcp_flags", "flow.io.bytes.sampled", "flow.observation_domain_id"} {
		if _, ok := rest[k]; !ok {
			t.Errorf("Attributes lacks %s: %v", k, rest)
		}
	}
	for _, k := range []string{"source.address", "flow.io.bytes", "flow.exporter.address", "flow.start"} {
		if _, ok := rest[k]; ok && k != "flow.start" {
			t.Errorf("Attributes repeats %s, which has a column", k)
		}
	}
	if rest["flow.observation_domain_id"] != json.Number("7") {
		t.Errorf("a resource int keeps its type in Attributes: %v", rest["flow.observation_domain_id"])
	}
	for k := range row {
		found := false
		for _, c := range Tables[KindFlows].Columns {
			found = found || c.Name == k
		}
		if !found {
			t.Errorf("row has %s, not a column of %s", k, Tables[KindFlows].Name)
		}
	}
}

func TestKindOf(t *testing.T) {
	cases := []struct {
		attrs map[string]any
		kind  Kind
		ok    bool
	}{
		{map[string]any{"flow.type": "ipfix"}, KindFlows, true},
		{map[string]any{"flow.rollup.flows": 3, "flow.direction": "to_azure"}, KindFlowRollups, true},
		{map[string]any{"bgp.event": "bgp.peer.up"}, KindRouting, true},
		{map[string]any{"bgp.event": "bgp.flap", "bgp.event.phase": "start"}, KindRoutingConditions, true},
		{map[string]any{"http.route": "/"}, 0, false},
	}
	for _, c := range cases {
		m := pcommon.NewMap()
		_ = m.FromRaw(c.attrs)
		k, ok := KindOf(m)
		if k != c.kind || ok != c.ok {
			t.Errorf("%v: got %v %v, want %v %v", c.attrs, k, ok, c.kind, c.ok)
		}
	}
}

func TestRoutingConditionRow(t *testing.T) {
	_, res, sl := newLogs()
	lr := sl.LogRecords().AppendEmpty()
	lr.SetTimestamp(pcommon.NewTimestampFromTime(t0))
	lr.Body().SetStr("bgp.redundancy.lost resolved 10.9.0.0/24 after 1.204s")
	_ = lr.Attributes().FromRaw(map[string]any{
		"bgp.event": "bgp.redundancy.lost", "bgp.event.phase": "resolved", "bgp.prefix": "10.9.0.0/24",
		"bgp.event.start": "2026-11-22T05:10:02.113Z", "bgp.event.duration": 1.204, "bgp.paths": 2,
		"bgp.peers": []any{"127.0.0.2 AS65001 (edge-a)", "127.0.0.3 AS65002 (edge-b)"},
	})
	row := decodeRow(t, NewMapper(nil).AppendRow(nil, KindRoutingConditions, res, lr))
	if row["StartTime"] != "2026-11-22T05:10:02.113Z" || row["Phase"] != "resolved" ||
		row["DurationSeconds"] != json.Number("1.204") || row["Paths"] != json.Number("2") {
		t.Errorf("row %v", row)
	}
	if p, ok := row["Peers"].([]any); !ok || len(p) != 2 {
		t.Errorf("Peers %v", row["Peers"])
	}
	if !strings.HasPrefix(fmt.Sprint(row["Message"]), "bgp.redundancy.lost resolved") {
		t.Errorf("Message %v", row["Message"])
	}
}

func TestPackSplitsAtLimit(t *testing.T) {
	ld, _, sl := newLogs()
	const n = 3000
	for i := range n {
		flowRecord(sl, i)
	}
	sl.LogRecords().AppendEmpty().Attributes().PutStr("http.route", "/") // not ours
	p := &Packer{MaxBytes: 64 << 10, Mapper: NewMapper(nil)}
	p.Streams[KindFlows] = "Custom-ErvizFlows"
	reqs, drops := p.Pack(ld)
	if len(drops) != 1 || drops[0].Reason != ReasonNotOurs || drops[0].Ref.Record != n {
		t.Errorf("drops %v", drops)
	}
	if len(reqs) < 2 {
		t.Fatalf("%d requests; the rows exceed one request of 64 KiB", len(reqs))
	}
	rows := 0
	next := 0
	for _, r := range reqs {
		if len(r.Body) > p.MaxBytes {
			t.Errorf("request of %d bytes > %d", len(r.Body), p.MaxBytes)
		}
		var arr []map[string]any
		if err := json.Unmarshal(r.Body, &arr); err != nil {
			t.Fatal(err)
		}
		if len(arr) != len(r.Refs) {
			t.Errorf("%d rows, %d refs", len(arr), len(r.Refs))
		}
		for i, ref := range r.Refs {
			if ref.Record != next {
				t.Fatalf("row order: ref %d, want %d", ref.Record, next)
			}
			if arr[i]["SrcPort"] != float64(50000+next%1000) {
				t.Fatalf("row %d is not record %d", i, next)
			}
			next++
		}
		rows += len(arr)
		// The next row would not have fit.
	}
	if rows != n {
		t.Errorf("%d rows, want %d", rows, n)
	}
	// Off: the same records are dropped as stream_disabled.
	p.Streams[KindFlows] = ""
	reqs, drops = p.Pack(ld)
	if len(reqs) != 0 || len(drops) != n+1 || drops[0].Reason != ReasonStreamOff {
		t.Errorf("stream off: %d requests, %d drops", len(reqs), len(drops))
	}
}

func TestPackRowTooLarge(t *testing.T) {
	ld, _, sl := newLogs()
	flowRecord(sl, 0).Attributes().PutStr("big", strings.Repeat("x", 2000))
	flowRecord(sl, 1)
	p := &Packer{MaxBytes: 1500, Mapper: NewMapper(nil)}
	p.Streams[KindFlows] = "s"
	reqs, drops := p.Pack(ld)
	if len(drops) != 1 || drops[0].Reason != ReasonRowTooLarge || drops[0].Ref.Record != 0 {
		t.Errorf("drops %v", drops)
	}
	if len(reqs) != 1 || len(reqs[0].Refs) != 1 || reqs[0].Refs[0].Record != 1 {
		t.Errorf("requests %v", reqs)
	}
}

func TestGzip(t *testing.T) {
	body := []byte(strings.Repeat(`{"a":1},`, 1000))
	z := Gzip(body)
	r, err := gzip.NewReader(bytes.NewReader(z))
	if err != nil {
		t.Fatal(err)
	}
	got, _ := io.ReadAll(r)
	if !bytes.Equal(got, body) || len(z) >= len(body) {
		t.Errorf("gzip round trip: %d -> %d bytes, equal %v", len(body), len(z), bytes.Equal(got, body))
	}
}

func FuzzAppendString(f *testing.F) {
	for _, s := range []string{"", "a\"b\\c", "\x00\x1f\n\t", "é\u2028", "\xff\xfe", "<>&"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		b := appendString(nil, s)
		var got string
		if err := json.Unmarshal(b, &got); err != nil {
			t.Fatalf("%q -> %s: %v", s, b, err)
		}
		if utf8.ValidString(s) && got != s {
			t.Fatalf("%q -> %q", s, got)
		}
	})
}

func BenchmarkPackFlows(b *testing.B) {
	ld, _, sl := newLogs()
	for i := range 1000 {
		flowRecord(sl, i)
	}
	p := &Packer{Mapper: NewMapper(nil)}
	p.Streams[KindFlows] = "Custom-ErvizFlows"
	b.ReportAllocs()
	b.ResetTimer()
	bytesOut := 0
	for b.Loop() {
		reqs, _ := p.Pack(ld)
		for _, r := range reqs {
			bytesOut += len(Gzip(r.Body))
		}
	}
	b.ReportMetric(float64(b.N*1000)/b.Elapsed().Seconds(), "rows/s")
	b.ReportMetric(float64(bytesOut)/float64(b.N*1000), "gzB/row")
}

func TestRequestSplit(t *testing.T) {
	ld, _, sl := newLogs()
	for i := range 5 {
		flowRecord(sl, i)
	}
	p := &Packer{Mapper: NewMapper(nil)}
	p.Streams[KindFlows] = "s"
	reqs, _ := p.Pack(ld)
	if len(reqs) != 1 {
		t.Fatalf("%d requests", len(reqs))
	}
	var all []map[string]any
	_ = json.Unmarshal(reqs[0].Body, &all)
	a, b := reqs[0].Split()
	aa, bb := a, b
	for _, half := range []Request{a, b, func() Request { x, _ := bb.Split(); return x }(), func() Request { _, y := bb.Split(); return y }(), func() Request { x, _ := aa.Split(); return x }()} {
		var rows []map[string]any
		if err := json.Unmarshal(half.Body, &rows); err != nil {
			t.Fatalf("half %s: %v", half.Body, err)
		}
		if len(rows) != len(half.Refs) || len(half.Ends) != len(half.Refs) || half.Ends[len(half.Ends)-1] != len(half.Body)-1 {
			t.Fatalf("half: %d rows, %d refs, ends %v, body %d", len(rows), len(half.Refs), half.Ends, len(half.Body))
		}
		for i, ref := range half.Refs {
			if fmt.Sprint(rows[i]) != fmt.Sprint(all[ref.Record]) {
				t.Errorf("row %d of a half is not record %d", i, ref.Record)
			}
		}
	}
}

// FuzzAppendRow: whatever the attribute names and values (text, numbers, invalid UTF-8, values
// of the wrong type for a column), a row is one valid JSON object whose columns all belong to
// the table and carry their declared JSON type.
func FuzzAppendRow(f *testing.F) {
	f.Add("flow.type", "ipfix", "source.port", int64(443), "flow.hairpin", 1.5, "x")
	f.Add("bgp.event", "bgp.flap", "bgp.event.start", int64(-1), "bgp.flap.score", 2.0, "\xff")
	f.Add("flow.rollup.flows", "3", "flow.server.port", int64(1<<40), "flow.end", -1.0, "2026-11-22T05:10:00Z")
	f.Fuzz(func(t *testing.T, k1, v1, k2 string, n int64, k3 string, d float64, s string) {
		m := NewMapper(func() time.Time { return t0 })
		_, res, sl := newLogs()
		lr := sl.LogRecords().AppendEmpty()
		a := lr.Attributes()
		a.PutStr(k1, v1)
		a.PutInt(k2, n)
		a.PutDouble(k3, d)
		a.PutStr("bgp.event.start", s)
		a.PutStr("network.transport", s)
		res.Attributes().PutStr(s, v1)
		for k := range numKinds {
			b := m.AppendRow(nil, k, res, lr)
			dec := json.NewDecoder(bytes.NewReader(b))
			dec.UseNumber()
			var row map[string]any
			if err := dec.Decode(&row); err != nil {
				t.Fatalf("%s: invalid JSON %q: %v", Tables[k].Name, b, err)
			}
			types := map[string]string{}
			for _, c := range Tables[k].Columns {
				types[c.Name] = c.Type
			}
			for name, v := range row {
				typ, ok := types[name]
				if !ok {
					t.Fatalf("%s: column %s is not declared", Tables[k].Name, name)
				}
				switch typ {
				case TypeString:
					_, ok = v.(string)
				case TypeInt, TypeLong:
					var num json.Number
					num, ok = v.(json.Number)
					if ok {
						_, err := num.Int64()
						ok = err == nil
					}
				case TypeReal:
					_, ok = v.(json.Number)
				case TypeBoolean:
					_, ok = v.(bool)
				case TypeDatetime:
					var str string
					if str, ok = v.(string); ok {
						_, err := time.Parse(time.RFC3339Nano, str)
						ok = err == nil
					}
				}
				if !ok {
					t.Fatalf("%s: column %s (%s) holds %#v", Tables[k].Name, name, typ, v)
				}
			}
		}
	})
}

// TestTimeGeneratedFallback: without a timestamp the observed timestamp, without either the
// mapper's clock.
func TestTimeGeneratedFallback(t *testing.T) {
	_, res, sl := newLogs()
	lr := sl.LogRecords().AppendEmpty()
	lr.Attributes().PutStr("bgp.event", "bgp.peer.up")
	m := NewMapper(func() time.Time { return t0.Add(time.Hour) })
	if got := decodeRow(t, m.AppendRow(nil, KindRouting, res, lr))["TimeGenerated"]; got != "2026-11-22T06:10:00.123456789Z" {
		t.Errorf("no timestamps: %v", got)
	}
	lr.SetObservedTimestamp(pcommon.NewTimestampFromTime(t0))
	if got := decodeRow(t, m.AppendRow(nil, KindRouting, res, lr))["TimeGenerated"]; got != "2026-11-22T05:10:00.123456789Z" {
		t.Errorf("observed timestamp: %v", got)
	}
}
