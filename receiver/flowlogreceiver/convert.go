package flowlogreceiver

import (
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"strconv"
	"time"

	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/plog"

	"github.com/erviz/otelcol-erviz/internal/schema"
	"github.com/erviz/otelcol-erviz/pkg/flowlog"
)

// Error kinds of the flowlog.errors metric.
const (
	errKindUnknownVersion = "unknown_version"
	errKindUnknownShape   = "unknown_shape"
	errKindBadField       = "bad_field"
	errKindMalformed      = "malformed_record"
	errKindBadTuple       = "bad_tuple"
	errKindList           = "list"
	errKindRead           = "read"
	errKindBlobDeleted    = "blob_deleted"
	errKindConsumer       = "consumer"
	errKindCoordination   = "coordination"
	errKindThrottled      = "throttled"
	errKindTransient      = "transient"
)

var skipKinds = [flowlog.NumSkipReasons]string{
	flowlog.SkipUnknownVersion: errKindUnknownVersion,
	flowlog.SkipUnknownShape:   errKindUnknownShape,
	flowlog.SkipBadField:       errKindBadField,
	flowlog.SkipMalformed:      errKindMalformed,
	flowlog.SkipTooManyTuples:  errKindTooManyTuples,
	flowlog.SkipTooLarge:       errKindTooLarge,
}

const scopeName = "github.com/erviz/otelcol-erviz/receiver/flowlogreceiver"

type resKey struct {
	kind                   flowlog.Kind
	target, flowLogID, mac string
}

// chunkResult is what converting one chunk produced.
type chunkResult struct {
	Logs     plog.Logs
	Tuples   int
	Consumed int       // bytes of the chunk that are done with
	Resource string    // cloud.resource_id of the last record seen
	Newest   time.Time // newest tuple time
	Errors   map[string]int
	// Problems are short descriptions of skipped records, for the log (first few only).
	Problems []string
}

// converter turns flow log chunks into pdata logs. It is not safe for concurrent use.
type converter struct {
	p       flowlog.Parser
	now     func() time.Time
	scratch []byte

	// state of the chunk being converted
	discard  bool
	idPrefix string
	base     int64 // offset of the chunk in the blob
	pos      int   // offset of the sub-slice being parsed in the chunk
	pathMAC  string
	observed pcommon.Timestamp
	res      map[resKey]plog.LogRecordSlice
	out      *chunkResult
	lastEnd  int
}

func newConverter(now func() time.Time) *converter {
	c := &converter{now: now}
	c.p.OnError = c.onError
	return c
}

// recordIDPrefix is the part of log.record.uid that identifies the blob.
func recordIDPrefix(key string) string {
	h := sha256.Sum256([]byte(key))
	return hex.EncodeToString(h[:8])
}

// convert parses a chunk. With discard, records are only walked to find where they end.
func (c *converter) convert(obj object, idPrefix string, ch chunk, discard bool) chunkResult {
	out := chunkResult{Logs: plog.NewLogs(), Errors: map[string]int{}}
	c.out = &out
	c.discard = discard
	c.idPrefix = idPrefix
	c.base = ch.Offset
	c.pathMAC = obj.Tail.MAC
	c.observed = pcommon.NewTimestampFromTime(c.now())
	c.res = map[resKey]plog.LogRecordSlice{}
	out.Consumed = c.parseRange(ch.Data, ch.Complete)
	c.out = nil
	c.res = nil
	return out
}

// parseRange parses data and returns how many bytes are done with. When complete is true,
// data ends at a record boundary: a record that does not parse is corrupt, counted and
// skipped, and all of data is consumed. Otherwise a record that does not parse and has no
// record start after it may still be being written: parsing stops before it.
func (c *converter) parseRange(data []byte, complete bool) int {
	c.pos, c.lastEnd = 0, 0
	for {
		err := c.p.ParseChunk(data[c.pos:], c.onRecord)
		if err == nil {
			return len(data)
		}
		var se *flowlog.SyntaxError
		if !errors.As(err, &se) {
			// Only the callback returns other errors, and it does not.
			return c.lastEnd
		}
		from := c.pos + se.Offset
		if se.RecordStart >= 0 {
			from = c.pos + se.RecordStart + 1
		}
		next := flowlog.NextRecord(data, from)
		if next < 0 && !complete {
			return max(c.lastEnd, c.pos)
		}
		c.out.Errors[errKindMalformed]++
		c.problem("record at offset " + strconv.FormatInt(c.base+int64(c.pos+max(se.RecordStart, 0)), 10) + " is not valid JSON (" + se.Msg + "), skipped")
		if next < 0 {
			return len(data)
		}
		c.pos = next
	}
}

func (c *converter) problem(s string) {
	if len(c.out.Problems) < 5 {
		c.out.Problems = append(c.out.Problems, s)
	}
}

func (c *converter) onError(err error) {
	switch e := err.(type) {
	case *flowlog.RecordError:
		c.out.Errors[skipKinds[e.Reason]]++
		c.lastEnd = max(c.lastEnd, c.pos+e.End)
		c.problem("record at offset " + strconv.FormatInt(c.base+int64(c.pos+e.Start), 10) + " skipped: " + e.Error())
	case *flowlog.TupleError:
		c.out.Errors[errKindBadTuple]++
		c.problem("tuple " + strconv.Quote(e.Tuple) + " of the record at offset " + strconv.FormatInt(c.base+int64(c.pos+e.RecordStart), 10) + " skipped: " + e.Msg)
	}
}

func (c *converter) onRecord(rec *flowlog.Record) error {
	c.lastEnd = max(c.lastEnd, c.pos+rec.End)
	target := rec.TargetResourceID
	if rec.Kind == flowlog.KindNSG {
		target = rec.ResourceID
	}
	c.out.Resource = target
	if c.discard {
		return nil
	}
	recOff := c.base + int64(c.pos+rec.Start)
	flowType := schema.FlowTypeVNetFlowLog
	counters := true
	if rec.Kind == flowlog.KindNSG {
		flowType = schema.FlowTypeNSGFlowLog
		counters = rec.Version >= 2
	}
	var lrs plog.LogRecordSlice
	var cur resKey
	for i := range rec.Tuples {
		t := &rec.Tuples[i]
		k := resKey{kind: rec.Kind, target: target, flowLogID: rec.FlowLogResourceID, mac: rec.MACAddress}
		if rec.Kind == flowlog.KindNSG {
			k.mac = t.MAC
		}
		if k.mac == "" {
			k.mac = c.pathMAC
		}
		if i == 0 || k != cur {
			lrs = c.slice(k)
			cur = k
		}
		c.appendTuple(lrs, t, flowType, counters, recOff)
		if t.Time.After(c.out.Newest) {
			c.out.Newest = t.Time
		}
	}
	c.out.Tuples += len(rec.Tuples)
	return nil
}

func (c *converter) slice(k resKey) plog.LogRecordSlice {
	if s, ok := c.res[k]; ok {
		return s
	}
	rl := c.out.Logs.ResourceLogs().AppendEmpty()
	ra := rl.Resource().Attributes()
	ra.PutStr(schema.CloudProvider, schema.CloudProviderAzure)
	if k.target != "" {
		ra.PutStr(schema.CloudResourceID, k.target)
	}
	if k.flowLogID != "" {
		ra.PutStr(schema.AzureFlowLogResourceID, k.flowLogID)
	}
	if k.mac != "" {
		ra.PutStr(schema.AzureFlowLogMACAddress, k.mac)
	}
	sl := rl.ScopeLogs().AppendEmpty()
	sl.Scope().SetName(scopeName)
	s := sl.LogRecords()
	c.res[k] = s
	return s
}

func (c *converter) appendTuple(lrs plog.LogRecordSlice, t *flowlog.Tuple, flowType string, counters bool, recOff int64) {
	lr := lrs.AppendEmpty()
	ts := pcommon.NewTimestampFromTime(t.Time)
	lr.SetTimestamp(ts)
	lr.SetObservedTimestamp(c.observed)
	a := lr.Attributes()
	a.EnsureCapacity(22)
	a.PutStr(schema.FlowType, flowType)
	c.scratch = t.Src.AppendTo(c.scratch[:0])
	a.PutStr(schema.SourceAddress, string(c.scratch))
	a.PutInt(schema.SourcePort, int64(t.SrcPort))
	c.scratch = t.Dst.AppendTo(c.scratch[:0])
	a.PutStr(schema.DestinationAddress, string(c.scratch))
	a.PutInt(schema.DestinationPort, int64(t.DstPort))
	a.PutStr(schema.NetworkTransport, schema.Transport(t.Protocol))
	if t.Src.Is4() || t.Src.Is4In6() {
		a.PutStr(schema.NetworkType, schema.NetworkTypeIPv4)
	} else {
		a.PutStr(schema.NetworkType, schema.NetworkTypeIPv6)
	}
	if counters {
		a.PutInt(schema.FlowIOBytes, clampInt(t.BytesSrcToDst))
		a.PutInt(schema.FlowIOPackets, clampInt(t.PacketsSrcToDst))
		a.PutInt(schema.FlowReverseIOBytes, clampInt(t.BytesDstToSrc))
		a.PutInt(schema.FlowReverseIOPackets, clampInt(t.PacketsDstToSrc))
	}
	a.PutInt(schema.FlowStart, int64(ts))
	a.PutInt(schema.FlowEnd, int64(ts))
	a.PutInt(schema.FlowSamplingRate, 1)
	switch t.State {
	case flowlog.StateBegin:
		a.PutStr(schema.FlowState, schema.FlowStateBegin)
	case flowlog.StateContinuing:
		a.PutStr(schema.FlowState, schema.FlowStateContinuing)
	case flowlog.StateEnd:
		a.PutStr(schema.FlowState, schema.FlowStateEnd)
	case flowlog.StateDenied:
		a.PutStr(schema.FlowState, schema.FlowStateDenied)
	}
	switch t.Decision {
	case flowlog.DecisionAllow:
		a.PutStr(schema.FlowAction, schema.FlowActionAllow)
	case flowlog.DecisionDeny:
		a.PutStr(schema.FlowAction, schema.FlowActionDeny)
	}
	switch t.Direction {
	case flowlog.DirectionInbound:
		a.PutStr(schema.AzureFlowLogDirection, schema.DirectionInbound)
	case flowlog.DirectionOutbound:
		a.PutStr(schema.AzureFlowLogDirection, schema.DirectionOutbound)
	}
	if t.Rule != "" {
		a.PutStr(schema.AzureFlowLogRule, t.Rule)
	}
	if t.ACLID != "" {
		a.PutStr(schema.AzureFlowLogACLID, t.ACLID)
	}
	if t.EncryptionText != "" {
		a.PutStr(schema.AzureFlowLogEncryption, t.EncryptionText)
	}
	c.scratch = append(c.scratch[:0], c.idPrefix...)
	c.scratch = append(c.scratch, '-')
	c.scratch = strconv.AppendInt(c.scratch, recOff, 16)
	c.scratch = append(c.scratch, '-')
	c.scratch = strconv.AppendInt(c.scratch, int64(t.Index), 10)
	a.PutStr(schema.LogRecordUID, string(c.scratch))
}

func clampInt(v uint64) int64 {
	if v > 1<<63-1 {
		return 1<<63 - 1
	}
	return int64(v)
}
