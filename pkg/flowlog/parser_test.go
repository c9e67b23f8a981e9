package flowlog

import (
	"bytes"
	"encoding/json"
	"errors"
	"net/netip"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"
)

// collector gathers copies of delivered records and all reported errors.
type collector struct {
	recs []Record
	errs []error
}

func (c *collector) fn(r *Record) error {
	cp := *r
	cp.Tuples = slices.Clone(r.Tuples)
	c.recs = append(c.recs, cp)
	return nil
}

func (c *collector) tuples() []Tuple {
	var ts []Tuple
	for _, r := range c.recs {
		ts = append(ts, r.Tuples...)
	}
	return ts
}

func newCollector(resync bool) (*Parser, *collector) {
	c := &collector{}
	p := &Parser{Resync: resync, OnError: func(err error) { c.errs = append(c.errs, err) }}
	return p, c
}

func readFile(t testing.TB, name string) []byte {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("testdata", name))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func mustTime(t testing.TB, s string) time.Time {
	t.Helper()
	tm, err := time.Parse(time.RFC3339Nano, s)
	if err != nil {
		t.Fatal(err)
	}
	return tm
}

func ip(s string) netip.Addr { return netip.MustParseAddr(s) }

func ms(v int64) time.Time { return time.UnixMilli(v).UTC() }

const (
	fixSub    = "aaaa0a0a-bb1b-cc2c-dd3d-eeeeee4e4e4e"
	fixACL1   = "9b8a7c6d-0000-4e1f-8a2b-1c2d3e4f5a6b"
	fixACL2   = "1f2e3d4c-5b6a-4798-8a7b-6c5d4e3f2a1b"
	fixTarget = "/subscriptions/" + fixSub + "/resourceGroups/rg-hub/providers/Microsoft.Network/virtualNetworks/vnet-hub"
)

func TestVNetDocument(t *testing.T) {
	doc := readFile(t, "vnet_pt1h.json")
	p, c := newCollector(false)
	if err := p.ParseDocument(doc, c.fn); err != nil {
		t.Fatal(err)
	}
	if len(c.errs) != 0 {
		t.Fatalf("unexpected errors: %v", c.errs)
	}
	if len(c.recs) != 3 {
		t.Fatalf("got %d records, want 3", len(c.recs))
	}
	r := c.recs[0]
	if r.Kind != KindVNet || r.Version != 4 || r.Index != 0 ||
		!r.Time.Equal(mustTime(t, "2024-05-14T09:00:52.5625085Z")) ||
		r.FlowLogGUID != "66aa66aa-bb77-cc88-dd99-00ee00ee00ee" || r.MACAddress != "6045BDA2C3D4" ||
		r.Category != "FlowLogFlowEvent" || r.OperationName != "FlowLogFlowEvent" ||
		r.TargetResourceID != fixTarget ||
		!strings.HasSuffix(r.FlowLogResourceID, "/FLOWLOGS/VNET-HUB-FLOWLOG") ||
		r.ResourceID != "" || r.SystemID != "" || r.BadTuples != 0 {
		t.Errorf("record 0 fields wrong: %+v", r)
	}
	// Record offsets cover exactly the record's JSON object.
	for i, r := range c.recs {
		if !bytes.HasPrefix(doc[r.Start:], []byte(`{"time"`)) || doc[r.End-1] != '}' || !json.Valid(doc[r.Start:r.End]) {
			t.Errorf("record %d: bad offsets %d-%d", i, r.Start, r.End)
		}
		if r.Index != i {
			t.Errorf("record %d: Index %d", i, r.Index)
		}
	}
	if c.recs[1].Start <= c.recs[0].End || c.recs[2].End != len(doc)-2 {
		t.Errorf("offsets not increasing / not ending before tail: %d %d %d", c.recs[0].End, c.recs[1].Start, c.recs[2].End)
	}

	want0 := []Tuple{
		{Index: 0, FlowIndex: 0, GroupIndex: 0, ACLID: fixACL1, Rule: "DefaultRule_AllowInternetOutBound",
			Time: ms(1715677203599), Src: ip("10.1.0.4"), Dst: ip("192.0.2.180"), SrcPort: 23956, DstPort: 443,
			Protocol: 6, Direction: DirectionOutbound, State: StateBegin, Decision: DecisionAllow,
			Encryption: EncryptionNX, EncryptionText: "NX"},
		{Index: 1, FlowIndex: 0, GroupIndex: 0, ACLID: fixACL1, Rule: "DefaultRule_AllowInternetOutBound",
			Time: ms(1715677245712), Src: ip("10.1.0.4"), Dst: ip("192.0.2.180"), SrcPort: 23956, DstPort: 443,
			Protocol: 6, Direction: DirectionOutbound, State: StateEnd, Decision: DecisionAllow,
			Encryption: EncryptionNX, EncryptionText: "NX",
			PacketsSrcToDst: 7, BytesSrcToDst: 750, PacketsDstToSrc: 8, BytesDstToSrc: 3211},
		{Index: 2, FlowIndex: 0, GroupIndex: 1, ACLID: fixACL1, Rule: "UserRule_AllowDnsOut",
			Time: ms(1715677210004), Src: ip("10.1.0.4"), Dst: ip("168.63.129.16"), SrcPort: 50321, DstPort: 53,
			Protocol: 17, Direction: DirectionOutbound, State: StateBegin, Decision: DecisionAllow,
			Encryption: EncryptionX, EncryptionText: "X"},
		{Index: 3, FlowIndex: 0, GroupIndex: 1, ACLID: fixACL1, Rule: "UserRule_AllowDnsOut",
			Time: ms(1715677230004), Src: ip("10.1.0.4"), Dst: ip("168.63.129.16"), SrcPort: 50321, DstPort: 53,
			Protocol: 17, Direction: DirectionOutbound, State: StateContinuing, Decision: DecisionAllow,
			Encryption: EncryptionX, EncryptionText: "X",
			PacketsSrcToDst: 2, BytesSrcToDst: 140, PacketsDstToSrc: 2, BytesDstToSrc: 312},
		{Index: 4, FlowIndex: 1, GroupIndex: 0, ACLID: fixACL2, Rule: "DefaultRule_DenyAllInBound",
			Time: ms(1715677211000), Src: ip("203.0.113.77"), Dst: ip("10.1.0.4"), SrcPort: 41230, DstPort: 3389,
			Protocol: 6, Direction: DirectionInbound, State: StateDenied, Decision: DecisionDeny,
			Encryption: EncryptionNX, EncryptionText: "NX"},
		// 10-digit timestamp: seconds.
		{Index: 5, FlowIndex: 1, GroupIndex: 0, ACLID: fixACL2, Rule: "DefaultRule_DenyAllInBound",
			Time: time.Unix(1715677212, 0).UTC(), Src: ip("198.51.100.9"), Dst: ip("10.1.0.4"), SrcPort: 55000, DstPort: 22,
			Protocol: 6, Direction: DirectionInbound, State: StateDenied, Decision: DecisionDeny,
			Encryption: EncryptionNX, EncryptionText: "NX"},
	}
	if !reflect.DeepEqual(c.recs[0].Tuples, want0) {
		t.Errorf("record 0 tuples:\n got %+v\nwant %+v", c.recs[0].Tuples, want0)
	}

	r1 := c.recs[1].Tuples
	if len(r1) != 5 {
		t.Fatalf("record 1: %d tuples", len(r1))
	}
	wantV6 := Tuple{Index: 1, FlowIndex: 0, GroupIndex: 0, ACLID: fixACL1, Rule: "UserRule_AllowSpokeIPv6",
		Time: ms(1715677290120), Src: ip("fd00:10:1::4"), Dst: ip("2001:db8:abcd:12::1f"), SrcPort: 40001, DstPort: 8443,
		Protocol: 6, Direction: DirectionOutbound, State: StateContinuing, Decision: DecisionAllow,
		Encryption: EncryptionNXHWNotSupported, EncryptionText: "NX_HW_NOT_SUPPORTED",
		PacketsSrcToDst: 120, BytesSrcToDst: 98304, PacketsDstToSrc: 95, BytesDstToSrc: 12160}
	if r1[1] != wantV6 {
		t.Errorf("IPv6 tuple:\n got %+v\nwant %+v", r1[1], wantV6)
	}
	if !r1[1].Src.Is6() || r1[1].Src.Is4In6() {
		t.Errorf("IPv6 source is not a plain IPv6 address: %v", r1[1].Src)
	}
	if u := r1[3]; u.Encryption != EncryptionOther || u.EncryptionText != "NX_QUANTUM_PENDING" || u.BytesDstToSrc != 880000 || u.GroupIndex != 1 {
		t.Errorf("unknown encryption tuple: %+v", u)
	}
	if r1[4].Encryption != EncryptionNXLocalDst || r1[4].State != StateBegin {
		t.Errorf("NX_LOCAL_DST tuple: %+v", r1[4])
	}
	r2 := c.recs[2].Tuples
	wantEnc := []Encryption{EncryptionNXFallback, EncryptionNXSWNotReady, EncryptionNXNotAccepted, EncryptionNXNotSupported, EncryptionX}
	for i, e := range wantEnc {
		if r2[i].Encryption != e || r2[i].EncryptionText != e.String() {
			t.Errorf("record 2 tuple %d: encryption %v %q, want %v", i, r2[i].Encryption, r2[i].EncryptionText, e)
		}
	}
	if r2[1].PacketsSrcToDst != 1<<64-1 {
		t.Errorf("max uint64 counter: %d", r2[1].PacketsSrcToDst)
	}
	if r2[4].Protocol != 1 || r2[4].SrcPort != 0 {
		t.Errorf("ICMP tuple: %+v", r2[4])
	}
	st := p.Stats
	if st.Records != 3 || st.Tuples != 16 || st.BadTuples != 0 || st.Skipped() != 0 || st.Bytes != uint64(len(doc)) {
		t.Errorf("stats: %+v", st)
	}
}

func TestVNetBlocksMatchDocument(t *testing.T) {
	doc := readFile(t, "vnet_pt1h.json")
	names, err := filepath.Glob("testdata/vnet_blocks/block*")
	if err != nil || len(names) != 5 {
		t.Fatalf("blocks: %v %v", names, err)
	}
	var blocks [][]byte
	for _, n := range names {
		b, err := os.ReadFile(n)
		if err != nil {
			t.Fatal(err)
		}
		blocks = append(blocks, b)
	}
	if string(blocks[0]) != `{"records":[` || string(blocks[len(blocks)-1]) != `]}` {
		t.Fatalf("head/tail blocks wrong: %q %q", blocks[0], blocks[len(blocks)-1])
	}
	if !bytes.Equal(joinBlocks(blocks), doc) {
		t.Fatal("blocks do not concatenate to the document")
	}
	pd, cd := newCollector(false)
	if err := pd.ParseDocument(doc, cd.fn); err != nil {
		t.Fatal(err)
	}

	// Block by block, as a reader downloading new blocks would.
	pb, cb := newCollector(false)
	off := 0
	var starts []int
	for i, b := range blocks {
		n := len(cb.recs)
		if err := pb.ParseChunk(b, cb.fn); err != nil {
			t.Fatalf("block %d: %v", i, err)
		}
		for _, r := range cb.recs[n:] {
			starts = append(starts, off+r.Start)
		}
		if i >= 2 && i < len(blocks)-1 && b[0] != ',' {
			t.Errorf("data block %d does not start with a comma", i)
		}
		off += len(b)
	}
	if !reflect.DeepEqual(cb.tuples(), cd.tuples()) || len(cd.tuples()) != 16 {
		t.Errorf("block-by-block tuples differ from whole-document tuples")
	}
	for i, r := range cd.recs {
		if starts[i] != r.Start {
			t.Errorf("record %d: block offset %d + start != document start %d", i, starts[i], r.Start)
		}
	}
	if pb.Stats.Records != 3 || pb.Stats.Tuples != 16 || pb.Stats.Bytes != uint64(len(doc)) {
		t.Errorf("block stats: %+v", pb.Stats)
	}

	// Any contiguous run of whole blocks is a valid chunk.
	for i := 0; i < len(blocks); i++ {
		for j := i + 1; j <= len(blocks); j++ {
			p, c := newCollector(false)
			if err := p.ParseChunk(joinBlocks(blocks[i:j]), c.fn); err != nil {
				t.Errorf("blocks %d..%d: %v", i, j-1, err)
			}
		}
	}
	// The whole document is a chunk too.
	p, c := newCollector(false)
	if err := p.ParseChunk(doc, c.fn); err != nil || !reflect.DeepEqual(c.tuples(), cd.tuples()) {
		t.Errorf("document as chunk: %v", err)
	}
}

func TestNSGVersion1(t *testing.T) {
	doc := readFile(t, "nsg_v1.json") // pretty-printed
	p, c := newCollector(false)
	if err := p.ParseDocument(doc, c.fn); err != nil {
		t.Fatal(err)
	}
	if len(c.recs) != 2 || len(c.errs) != 0 {
		t.Fatalf("records %d errors %v", len(c.recs), c.errs)
	}
	r := c.recs[0]
	if r.Kind != KindNSG || r.Version != 1 || r.SystemID != "2c002c16-72f3-4dc5-b391-3444c3527434" ||
		r.Category != "NetworkSecurityGroupFlowEvent" || r.OperationName != "NetworkSecurityGroupFlowEvents" ||
		!strings.HasSuffix(r.ResourceID, "/NETWORKSECURITYGROUPS/NSG-APP") || r.TargetResourceID != "" ||
		!r.Time.Equal(mustTime(t, "2017-02-16T22:00:32.895Z")) {
		t.Errorf("record fields: %+v", r)
	}
	want := []Tuple{
		{Index: 0, Rule: "DefaultRule_DenyAllInBound", MAC: "000D3AF8801A", Time: time.Unix(1487282421, 0).UTC(),
			Src: ip("42.119.146.95"), Dst: ip("10.1.0.4"), SrcPort: 51529, DstPort: 5358, Protocol: 6,
			Direction: DirectionInbound, Decision: DecisionDeny},
		{Index: 1, Rule: "DefaultRule_DenyAllInBound", MAC: "000D3AF8801A", Time: time.Unix(1487282434, 0).UTC(),
			Src: ip("58.1.90.13"), Dst: ip("10.1.0.4"), SrcPort: 61253, DstPort: 5358, Protocol: 6,
			Direction: DirectionInbound, Decision: DecisionDeny},
		{Index: 2, FlowIndex: 1, Rule: "UserRule_default-allow-rdp", MAC: "000D3AF8801A", Time: time.Unix(1487282370, 0).UTC(),
			Src: ip("163.28.66.17"), Dst: ip("10.1.0.4"), SrcPort: 61771, DstPort: 3389, Protocol: 6,
			Direction: DirectionInbound, Decision: DecisionAllow},
		{Index: 3, FlowIndex: 1, Rule: "UserRule_default-allow-rdp", MAC: "000D3AF8801A", Time: time.Unix(1487282393, 0).UTC(),
			Src: ip("5.39.218.34"), Dst: ip("10.1.0.4"), SrcPort: 58596, DstPort: 3389, Protocol: 6,
			Direction: DirectionInbound, Decision: DecisionAllow},
	}
	if !reflect.DeepEqual(r.Tuples, want) {
		t.Errorf("tuples:\n got %+v\nwant %+v", r.Tuples, want)
	}
	u := c.recs[1].Tuples[0]
	if u.Protocol != 17 || u.Direction != DirectionOutbound || u.Decision != DecisionAllow || u.State != StateNone || u.DstPort != 53 {
		t.Errorf("UDP tuple: %+v", u)
	}
}

func TestNSGVersion2(t *testing.T) {
	doc := readFile(t, "nsg_v2.json")
	p, c := newCollector(false)
	if err := p.ParseDocument(doc, c.fn); err != nil {
		t.Fatal(err)
	}
	if len(c.recs) != 1 || len(c.errs) != 0 {
		t.Fatalf("records %d errors %v", len(c.recs), c.errs)
	}
	ts := c.recs[0].Tuples
	if c.recs[0].Version != 2 || len(ts) != 5 {
		t.Fatalf("version %d, %d tuples", c.recs[0].Version, len(ts))
	}
	want := Tuple{Index: 4, FlowIndex: 1, Rule: "DefaultRule_AllowInternetOutBound", MAC: "000D3AF87856",
		Time: time.Unix(1542110380, 0).UTC(), Src: ip("10.5.16.4"), Dst: ip("13.67.143.115"), SrcPort: 44931, DstPort: 443,
		Protocol: 6, Direction: DirectionOutbound, State: StateContinuing, Decision: DecisionAllow,
		PacketsSrcToDst: 30, BytesSrcToDst: 16978, PacketsDstToSrc: 24, BytesDstToSrc: 14008}
	if ts[4] != want {
		t.Errorf("C tuple:\n got %+v\nwant %+v", ts[4], want)
	}
	if d := ts[0]; d.Decision != DecisionDeny || d.State != StateBegin || d.Protocol != 17 || d.PacketsSrcToDst != 0 || d.BytesDstToSrc != 0 {
		t.Errorf("deny B tuple: %+v", d)
	}
	if e := ts[3]; e.State != StateEnd || e.PacketsSrcToDst != 1 || e.BytesSrcToDst != 66 {
		t.Errorf("E tuple: %+v", e)
	}
}

// stripRefFields clears what the reference implementation does not know.
func stripRefFields(recs []Record) []Record {
	out := make([]Record, len(recs))
	for i, r := range recs {
		r.Start, r.End, r.Index = 0, 0, 0
		if len(r.Tuples) == 0 {
			r.Tuples = nil
		}
		out[i] = r
	}
	return out
}

func TestFixturesMatchReference(t *testing.T) {
	for _, name := range []string{"vnet_pt1h.json", "nsg_v1.json", "nsg_v2.json"} {
		doc := readFile(t, name)
		ref, err := refParseDocument(doc)
		if err != nil {
			t.Fatal(err)
		}
		p, c := newCollector(false)
		if err := p.ParseDocument(doc, c.fn); err != nil {
			t.Fatal(err)
		}
		if !reflect.DeepEqual(stripRefFields(c.recs), stripRefFields(ref.Records)) {
			t.Errorf("%s: streaming and reference differ", name)
		}
	}
}

func TestGeneratedMatchesBaseline(t *testing.T) {
	blocks := genVNetBlocks(1, 1<<20)
	doc := joinBlocks(blocks)
	var want, got collector
	if err := baselineParse(doc, want.fn); err != nil {
		t.Fatal(err)
	}
	p := NewParser()
	if err := p.ParseDocument(doc, got.fn); err != nil {
		t.Fatal(err)
	}
	if len(want.tuples()) < 10000 || !reflect.DeepEqual(got.tuples(), want.tuples()) {
		t.Fatalf("streaming (%d tuples) and baseline (%d tuples) differ", len(got.tuples()), len(want.tuples()))
	}
	// Block by block gives the same.
	var byBlock collector
	for _, b := range blocks {
		if err := p.ParseChunk(b, byBlock.fn); err != nil {
			t.Fatal(err)
		}
	}
	if !reflect.DeepEqual(byBlock.tuples(), want.tuples()) {
		t.Fatal("block-by-block parse differs")
	}
}

func TestNoAllocationsPerTuple(t *testing.T) {
	doc := joinBlocks(genVNetBlocks(2, 256<<10))
	p := NewParser()
	n := 0
	fn := func(r *Record) error { n += len(r.Tuples); return nil }
	if err := p.ParseDocument(doc, fn); err != nil { // warm up buffers and intern table
		t.Fatal(err)
	}
	allocs := testing.AllocsPerRun(5, func() {
		if err := p.ParseDocument(doc, fn); err != nil {
			t.Fatal(err)
		}
	})
	if allocs != 0 {
		t.Errorf("%.1f allocations per document of %d tuples, want 0", allocs, p.Stats.Tuples/6)
	}
}

func TestCallbackErrorStops(t *testing.T) {
	doc := readFile(t, "vnet_pt1h.json")
	stop := errors.New("stop")
	calls := 0
	err := NewParser().ParseDocument(doc, func(*Record) error { calls++; return stop })
	if err != stop || calls != 1 {
		t.Errorf("err %v after %d calls", err, calls)
	}
}
