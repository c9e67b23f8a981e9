package flowlog

// Two encoding/json based implementations used by the tests and benchmarks:
//
//   - refParseDocument decodes a document with maps of json.RawMessage and
//     implements the package's documented semantics exactly (exact keys,
//     last duplicate wins, null = absent, same skip rules). It is the oracle
//     of the differential tests.
//   - baselineParse is the straightforward approach: json.Unmarshal of the
//     whole document into structs and strings.Split of every tuple. It is
//     what BenchmarkBaseline measures.

import (
	"bytes"
	"encoding/json"
	"errors"
	"net/netip"
	"strconv"
	"strings"
	"time"
)

type refResult struct {
	Records []Record // Tuples copied, Start/End/Index zero
	Skipped [NumSkipReasons]int
}

func isNullRaw(r json.RawMessage) bool { return string(bytes.TrimSpace(r)) == "null" }

// refParseDocument parses a whole document with encoding/json.
func refParseDocument(doc []byte) (*refResult, error) {
	if isNullRaw(doc) {
		return nil, errors.New("document is null")
	}
	var top map[string]json.RawMessage
	if err := json.Unmarshal(doc, &top); err != nil {
		return nil, err
	}
	res := &refResult{}
	raw, ok := top["records"]
	if !ok || isNullRaw(raw) {
		return res, nil
	}
	var recs []json.RawMessage
	if err := json.Unmarshal(raw, &recs); err != nil {
		return nil, err
	}
	for _, rr := range recs {
		if bytes.TrimSpace(rr)[0] != '{' {
			return nil, errors.New("record is not an object")
		}
		rec, reason, err := refRecordFrom(rr)
		if err != nil {
			return nil, err
		}
		if rec == nil {
			res.Skipped[reason]++
			continue
		}
		res.Records = append(res.Records, *rec)
	}
	return res, nil
}

// object decodes raw into a map without null members.
func object(raw json.RawMessage) (map[string]json.RawMessage, error) {
	var m map[string]json.RawMessage
	if err := json.Unmarshal(raw, &m); err != nil {
		return nil, err
	}
	for k, v := range m {
		if isNullRaw(v) {
			delete(m, k)
		}
	}
	return m, nil
}

func firstByte(raw json.RawMessage) byte { return bytes.TrimSpace(raw)[0] }

func isNumber(raw json.RawMessage) bool {
	c := firstByte(raw)
	return c == '-' || (c >= '0' && c <= '9')
}

func refVersion(raw json.RawMessage, present bool) (int, bool) {
	if !present {
		return 0, false
	}
	v, err := strconv.Atoi(string(bytes.TrimSpace(raw)))
	return v, err == nil
}

func refRecordFrom(raw json.RawMessage) (*Record, SkipReason, error) {
	m, err := object(raw)
	if err != nil {
		return nil, 0, err
	}
	r := &Record{}
	// 1. Record-level types.
	strs := map[string]*string{
		"flowLogGUID": &r.FlowLogGUID, "macAddress": &r.MACAddress, "category": &r.Category,
		"flowLogResourceID": &r.FlowLogResourceID, "targetResourceID": &r.TargetResourceID,
		"operationName": &r.OperationName, "resourceId": &r.ResourceID, "systemId": &r.SystemID,
	}
	bad := false
	for k, dst := range strs {
		if v, ok := m[k]; ok {
			if json.Unmarshal(v, dst) != nil {
				bad = true
			}
		}
	}
	if v, ok := m["time"]; ok {
		var s string
		if json.Unmarshal(v, &s) != nil || r.Time.UnmarshalText([]byte(s)) != nil {
			bad = true
		}
	}
	verRaw, hasVer := m["flowLogVersion"]
	if hasVer && !isNumber(verRaw) {
		bad = true
	}
	fr, hasFR := m["flowRecords"]
	props, hasProps := m["properties"]
	if (hasFR && firstByte(fr) != '{') || (hasProps && firstByte(props) != '{') {
		bad = true
	}
	if bad {
		return nil, SkipBadField, nil
	}
	// 2. Shape.
	isVNet := hasVer || hasFR
	if isVNet == hasProps {
		return nil, SkipUnknownShape, nil
	}
	var st refState
	if isVNet {
		r.Kind = KindVNet
		v, ok := refVersion(verRaw, hasVer)
		if !ok || (v != 2 && v != 3 && v != 4) {
			return nil, SkipUnknownVersion, nil
		}
		r.Version = v
		if hasFR {
			c, err := object(fr)
			if err != nil {
				return nil, 0, err
			}
			if f, ok := c["flows"]; ok {
				st.flows(f, KindVNet, 0)
			}
		}
	} else {
		r.Kind = KindNSG
		c, err := object(props)
		if err != nil {
			return nil, 0, err
		}
		vr, ok := c["Version"]
		if ok && !isNumber(vr) {
			return nil, SkipBadField, nil
		}
		v, vok := refVersion(vr, ok)
		if !vok || (v != 1 && v != 2) {
			return nil, SkipUnknownVersion, nil
		}
		r.Version = v
		if f, ok := c["flows"]; ok {
			st.flows(f, KindNSG, v)
		}
	}
	if st.bad {
		return nil, SkipBadField, nil
	}
	r.Tuples, r.BadTuples = st.tuples, st.badTuples
	return r, 0, nil
}

type refState struct {
	tuples    []Tuple
	badTuples int
	index     int
	bad       bool
}

func (st *refState) array(raw json.RawMessage) []json.RawMessage {
	var a []json.RawMessage
	if json.Unmarshal(raw, &a) != nil {
		st.bad = true
	}
	return a
}

// objects decodes an array of objects; null elements are nil maps.
func (st *refState) objects(raw json.RawMessage) []map[string]json.RawMessage {
	var out []map[string]json.RawMessage
	for _, e := range st.array(raw) {
		if isNullRaw(e) {
			out = append(out, nil)
			continue
		}
		if firstByte(e) != '{' {
			st.bad = true
			out = append(out, nil)
			continue
		}
		m, err := object(e)
		if err != nil {
			st.bad = true
		}
		out = append(out, m)
	}
	return out
}

func (st *refState) str(m map[string]json.RawMessage, k string) string {
	var s string
	if v, ok := m[k]; ok && json.Unmarshal(v, &s) != nil {
		st.bad = true
	}
	return s
}

func (st *refState) flows(raw json.RawMessage, kind Kind, ver int) {
	l1Label, l1Array, l2Label := levelKeys(kind)
	for fi, f := range st.objects(raw) {
		label1 := st.str(f, l1Label)
		groups, ok := f[l1Array]
		if !ok {
			continue
		}
		for gi, g := range st.objects(groups) {
			label2 := st.str(g, l2Label)
			tr, ok := g["flowTuples"]
			if !ok {
				continue
			}
			for _, e := range st.array(tr) {
				idx := st.index
				st.index++
				var s string
				if firstByte(e) != '"' || json.Unmarshal(e, &s) != nil {
					st.badTuples++
					continue
				}
				var t Tuple
				var ok bool
				if kind == KindVNet {
					t, ok = refVNetTuple(s)
					t.ACLID, t.Rule = label1, label2
				} else {
					t, ok = refNSGTuple(s, ver == 2)
					t.Rule, t.MAC = label1, label2
				}
				if !ok {
					st.badTuples++
					continue
				}
				t.Index, t.FlowIndex, t.GroupIndex = idx, fi, gi
				st.tuples = append(st.tuples, t)
			}
		}
	}
}

func refTS(f string) (time.Time, bool) {
	if len(f) == 0 || len(f) > 13 || strings.TrimLeft(f, "0123456789") != "" {
		return time.Time{}, false
	}
	v, err := strconv.ParseUint(f, 10, 64)
	if err != nil {
		return time.Time{}, false
	}
	if len(f) >= 12 {
		return time.UnixMilli(int64(v)).UTC(), true
	}
	return time.Unix(int64(v), 0).UTC(), true
}

func refAddr(f string) (netip.Addr, bool) {
	a, err := netip.ParseAddr(f)
	if err != nil || a.Zone() != "" {
		return netip.Addr{}, false
	}
	return a, true
}

func refUint(f string, bits int) (uint64, bool) {
	v, err := strconv.ParseUint(f, 10, bits)
	return v, err == nil
}

// refCommon parses fields 0-4 of a tuple.
func refCommon(fs []string, t *Tuple) bool {
	var ok1, ok2, ok3, ok4, ok5 bool
	t.Time, ok1 = refTS(fs[0])
	t.Src, ok2 = refAddr(fs[1])
	t.Dst, ok3 = refAddr(fs[2])
	sp, ok4 := refUint(fs[3], 16)
	dp, ok5 := refUint(fs[4], 16)
	t.SrcPort, t.DstPort = uint16(sp), uint16(dp)
	return ok1 && ok2 && ok3 && ok4 && ok5
}

func refCounters(fs []string, t *Tuple, emptyOK bool) bool {
	var v [4]uint64
	for i, f := range fs {
		if f == "" && emptyOK {
			continue
		}
		var ok bool
		if v[i], ok = refUint(f, 64); !ok {
			return false
		}
	}
	t.PacketsSrcToDst, t.BytesSrcToDst, t.PacketsDstToSrc, t.BytesDstToSrc = v[0], v[1], v[2], v[3]
	return true
}

var refEncryption = map[string]Encryption{
	"X": EncryptionX, "NX": EncryptionNX, "NX_HW_NOT_SUPPORTED": EncryptionNXHWNotSupported,
	"NX_SW_NOT_READY": EncryptionNXSWNotReady, "NX_NOT_ACCEPTED": EncryptionNXNotAccepted,
	"NX_NOT_SUPPORTED": EncryptionNXNotSupported, "NX_LOCAL_DST": EncryptionNXLocalDst,
	"NX_FALLBACK": EncryptionNXFallback,
}

func refVNetTuple(s string) (Tuple, bool) {
	var t Tuple
	fs := strings.Split(s, ",")
	if len(fs) != 13 || !refCommon(fs, &t) {
		return t, false
	}
	p, ok := refUint(fs[5], 8)
	if !ok {
		return t, false
	}
	t.Protocol = uint8(p)
	switch fs[6] {
	case "I", "O":
		t.Direction = Direction(fs[6][0])
	default:
		return t, false
	}
	switch fs[7] {
	case "B", "C", "E":
		t.Decision = DecisionAllow
	case "D":
		t.Decision = DecisionDeny
	default:
		return t, false
	}
	t.State = State(fs[7][0])
	if fs[8] == "" {
		return t, false
	}
	t.EncryptionText = fs[8]
	if e, ok := refEncryption[fs[8]]; ok {
		t.Encryption = e
	} else {
		t.Encryption = EncryptionOther
	}
	return t, refCounters(fs[9:], &t, fs[7] == "B" || fs[7] == "D")
}

func refNSGTuple(s string, v2 bool) (Tuple, bool) {
	var t Tuple
	fs := strings.Split(s, ",")
	want := 8
	if v2 {
		want = 13
	}
	if len(fs) != want || !refCommon(fs, &t) {
		return t, false
	}
	switch fs[5] {
	case "T":
		t.Protocol = 6
	case "U":
		t.Protocol = 17
	default:
		return t, false
	}
	switch fs[6] {
	case "I", "O":
		t.Direction = Direction(fs[6][0])
	default:
		return t, false
	}
	switch fs[7] {
	case "A":
		t.Decision = DecisionAllow
	case "D":
		t.Decision = DecisionDeny
	default:
		return t, false
	}
	if !v2 {
		return t, true
	}
	switch fs[8] {
	case "B", "C", "E":
		t.State = State(fs[8][0])
	default:
		return t, false
	}
	return t, refCounters(fs[9:], &t, fs[8] == "B")
}

// Baseline: the straightforward struct decode of a VNet document.

type baselineDoc struct {
	Records []baselineRecord `json:"records"`
}

type baselineRecord struct {
	Time              time.Time `json:"time"`
	FlowLogVersion    int       `json:"flowLogVersion"`
	FlowLogGUID       string    `json:"flowLogGUID"`
	MACAddress        string    `json:"macAddress"`
	Category          string    `json:"category"`
	FlowLogResourceID string    `json:"flowLogResourceID"`
	TargetResourceID  string    `json:"targetResourceID"`
	OperationName     string    `json:"operationName"`
	FlowRecords       struct {
		Flows []struct {
			ACLID      string `json:"aclID"`
			FlowGroups []struct {
				Rule       string   `json:"rule"`
				FlowTuples []string `json:"flowTuples"`
			} `json:"flowGroups"`
		} `json:"flows"`
	} `json:"flowRecords"`
}

// baselineParse decodes a VNet document with encoding/json into structs and
// calls fn for every record with its typed tuples.
func baselineParse(doc []byte, fn func(*Record) error) error {
	var d baselineDoc
	if err := json.Unmarshal(doc, &d); err != nil {
		return err
	}
	var r Record
	for i := range d.Records {
		br := &d.Records[i]
		r = Record{Kind: KindVNet, Index: i, Time: br.Time, Version: br.FlowLogVersion,
			FlowLogGUID: br.FlowLogGUID, MACAddress: br.MACAddress, Category: br.Category,
			FlowLogResourceID: br.FlowLogResourceID, TargetResourceID: br.TargetResourceID,
			OperationName: br.OperationName, Tuples: r.Tuples[:0]}
		idx := 0
		for fi, f := range br.FlowRecords.Flows {
			for gi, g := range f.FlowGroups {
				for _, s := range g.FlowTuples {
					t, ok := refVNetTuple(s)
					if !ok {
						r.BadTuples++
						idx++
						continue
					}
					t.Index, t.FlowIndex, t.GroupIndex = idx, fi, gi
					t.ACLID, t.Rule = f.ACLID, g.Rule
					idx++
					r.Tuples = append(r.Tuples, t)
				}
			}
		}
		if err := fn(&r); err != nil {
			return err
		}
	}
	return nil
}
