package flowlogreceiver

import (
	"context"
	"encoding/json"
	"fmt"
	"net/netip"
	"strconv"
	"strings"
	"testing"
	"time"

	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/plog"

	"github.com/erviz/otelcol-erviz/internal/schema"
	"github.com/erviz/otelcol-erviz/pkg/flowlog"
)

// benchDoc is a VNet flow log blob of about 4 MB: 48 records (one per minute) of 1,000
// tuples, mixed B/C rows, compact JSON as Network Watcher writes it.
func benchDoc() ([]byte, int) {
	var recs []string
	n := 0
	for m := 0; m < 48; m++ {
		recs = append(recs, vnetRecord(1748854800+int64(60*m), "000D3A2B1001", 1024+m*1000, 1000))
		n += 1000
	}
	return nwDoc(recs), n
}

var benchObj = object{Key: ContainerVNet + "/" + vnetBlobName(9, "000D3A2B1001"), Tail: pathTail{MAC: "000D3A2B1001"}}

// BenchmarkEndToEnd: pkg/flowlog streaming parse of the whole blob into pdata log records.
func BenchmarkEndToEnd(b *testing.B) {
	doc, tuples := benchDoc()
	c := newConverter(time.Now)
	prefix := recordIDPrefix(benchObj.Key)
	b.SetBytes(int64(len(doc)))
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		res := c.convert(benchObj, prefix, chunk{Data: doc, Complete: true}, false)
		if res.Tuples != tuples || res.Logs.LogRecordCount() != tuples {
			b.Fatalf("got %d tuples, want %d", res.Tuples, tuples)
		}
	}
	b.ReportMetric(float64(tuples)*float64(b.N)/b.Elapsed().Seconds(), "tuples/s")
}

// BenchmarkEndToEndBaseline: encoding/json into structs, strings.Split and strconv of every
// tuple, feeding the same pdata builder.
func BenchmarkEndToEndBaseline(b *testing.B) {
	doc, tuples := benchDoc()
	c := newConverter(time.Now)
	prefix := recordIDPrefix(benchObj.Key)
	b.SetBytes(int64(len(doc)))
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		ld, n, err := baselineConvert(c, prefix, doc)
		if err != nil || n != tuples || ld.LogRecordCount() != tuples {
			b.Fatalf("got %d tuples, want %d: %v", n, tuples, err)
		}
	}
	b.ReportMetric(float64(tuples)*float64(b.N)/b.Elapsed().Seconds(), "tuples/s")
}

type baseDoc struct {
	Records []struct {
		Time              string `json:"time"`
		FlowLogVersion    int    `json:"flowLogVersion"`
		MACAddress        string `json:"macAddress"`
		FlowLogResourceID string `json:"flowLogResourceID"`
		TargetResourceID  string `json:"targetResourceID"`
		FlowRecords       struct {
			Flows []struct {
				ACLID      string `json:"aclID"`
				FlowGroups []struct {
					Rule       string   `json:"rule"`
					FlowTuples []string `json:"flowTuples"`
				} `json:"flowGroups"`
			} `json:"flows"`
		} `json:"flowRecords"`
	} `json:"records"`
}

func baselineConvert(c *converter, prefix string, doc []byte) (plog.Logs, int, error) {
	var d baseDoc
	if err := json.Unmarshal(doc, &d); err != nil {
		return plog.Logs{}, 0, err
	}
	out := chunkResult{Logs: plog.NewLogs(), Errors: map[string]int{}}
	c.out, c.res, c.idPrefix = &out, map[resKey]plog.LogRecordSlice{}, prefix
	c.observed = pcommon.NewTimestampFromTime(time.Now())
	n := 0
	for ri, r := range d.Records {
		lrs := c.slice(resKey{kind: flowlog.KindVNet, target: r.TargetResourceID, flowLogID: r.FlowLogResourceID, mac: r.MACAddress})
		idx := 0
		for _, f := range r.FlowRecords.Flows {
			for _, g := range f.FlowGroups {
				for _, s := range g.FlowTuples {
					t, err := baselineTuple(s)
					if err != nil {
						return plog.Logs{}, 0, err
					}
					t.Index, t.ACLID, t.Rule = idx, f.ACLID, g.Rule
					idx++
					c.appendTuple(lrs, &t, schema.FlowTypeVNetFlowLog, true, int64(ri))
					n++
				}
			}
		}
	}
	c.out, c.res = nil, nil
	return out.Logs, n, nil
}

func baselineTuple(s string) (flowlog.Tuple, error) {
	var t flowlog.Tuple
	f := strings.Split(s, ",")
	if len(f) != 13 {
		return t, fmt.Errorf("%d fields", len(f))
	}
	ts, err := strconv.ParseInt(f[0], 10, 64)
	if err != nil {
		return t, err
	}
	if len(f[0]) >= 12 {
		t.Time = time.UnixMilli(ts).UTC()
	} else {
		t.Time = time.Unix(ts, 0).UTC()
	}
	if t.Src, err = netip.ParseAddr(f[1]); err != nil {
		return t, err
	}
	if t.Dst, err = netip.ParseAddr(f[2]); err != nil {
		return t, err
	}
	sp, err1 := strconv.ParseUint(f[3], 10, 16)
	dp, err2 := strconv.ParseUint(f[4], 10, 16)
	pr, err3 := strconv.ParseUint(f[5], 10, 8)
	if err1 != nil || err2 != nil || err3 != nil {
		return t, fmt.Errorf("bad port or protocol in %q", s)
	}
	t.SrcPort, t.DstPort, t.Protocol = uint16(sp), uint16(dp), uint8(pr)
	t.Direction = flowlog.Direction(f[6][0])
	t.State = flowlog.State(f[7][0])
	t.Decision = flowlog.DecisionAllow
	if t.State == flowlog.StateDenied {
		t.Decision = flowlog.DecisionDeny
	}
	t.EncryptionText = f[8]
	var cs [4]uint64
	for i := range cs {
		if f[9+i] == "" {
			continue
		}
		if cs[i], err = strconv.ParseUint(f[9+i], 10, 64); err != nil {
			return t, err
		}
	}
	t.PacketsSrcToDst, t.BytesSrcToDst, t.PacketsDstToSrc, t.BytesDstToSrc = cs[0], cs[1], cs[2], cs[3]
	return t, nil
}

// TestBaselineMatches checks that both benchmark paths produce the same records.
func TestBaselineMatches(t *testing.T) {
	var recs []string
	for m := 0; m < 3; m++ {
		recs = append(recs, vnetRecord(1748854800+int64(60*m), "000D3A2B1001", 1024+m*100, 50))
	}
	doc := nwDoc(recs)
	c := newConverter(time.Now)
	res := c.convert(benchObj, "p", chunk{Data: doc, Complete: true}, false)
	base, n, err := baselineConvert(c, "p", doc)
	if err != nil || n != res.Tuples {
		t.Fatalf("baseline %d tuples (%v), streaming %d", n, err, res.Tuples)
	}
	a, b := &sink{}, &sink{}
	_ = a.ConsumeLogs(context.Background(), res.Logs)
	_ = b.ConsumeLogs(context.Background(), base)
	if fmt.Sprint(a.keys()) != fmt.Sprint(b.keys()) {
		t.Fatal("the two paths differ")
	}
}
