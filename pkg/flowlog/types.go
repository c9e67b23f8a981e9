package flowlog

import (
	"fmt"
	"net/netip"
	"time"
)

// Kind tells which of the two flow log families a record belongs to.
type Kind uint8

const (
	// KindVNet is a virtual network flow log record (category FlowLogFlowEvent).
	KindVNet Kind = iota + 1
	// KindNSG is a network security group flow log record
	// (category NetworkSecurityGroupFlowEvent).
	KindNSG
)

// String returns "vnet" or "nsg".
func (k Kind) String() string {
	switch k {
	case KindVNet:
		return "vnet"
	case KindNSG:
		return "nsg"
	}
	return fmt.Sprintf("Kind(%d)", uint8(k))
}

// Direction is the direction of a flow as seen at the network interface.
type Direction uint8

const (
	DirectionUnknown  Direction = 0
	DirectionInbound  Direction = 'I'
	DirectionOutbound Direction = 'O'
)

// String returns "inbound", "outbound" or "unknown".
func (d Direction) String() string {
	switch d {
	case DirectionInbound:
		return "inbound"
	case DirectionOutbound:
		return "outbound"
	}
	return "unknown"
}

// State is the flow state of a tuple.
type State uint8

const (
	// StateNone is used by NSG version 1 tuples, which carry no state.
	StateNone State = 0
	// StateBegin marks the first tuple of a flow.
	StateBegin State = 'B'
	// StateContinuing marks an intermediate tuple (statistics every 5 minutes).
	StateContinuing State = 'C'
	// StateEnd marks the last tuple of a flow.
	StateEnd State = 'E'
	// StateDenied marks a denied flow (VNet flow logs only).
	StateDenied State = 'D'
)

// String returns the state's one-letter code, or "" for StateNone.
func (s State) String() string {
	if s == StateNone {
		return ""
	}
	return string(rune(s))
}

// Decision is whether the traffic was allowed or denied.
type Decision uint8

const (
	DecisionUnknown Decision = iota
	DecisionAllow
	DecisionDeny
)

// String returns "allow", "deny" or "unknown".
func (d Decision) String() string {
	switch d {
	case DecisionAllow:
		return "allow"
	case DecisionDeny:
		return "deny"
	}
	return "unknown"
}

// Encryption is the encryption status of a VNet flow tuple.
type Encryption uint8

const (
	// EncryptionNone is used for NSG tuples, which carry no encryption field.
	EncryptionNone Encryption = iota
	// EncryptionOther is an encryption code this package does not know;
	// the verbatim code is in Tuple.EncryptionText.
	EncryptionOther
	EncryptionX                // X: encrypted
	EncryptionNX               // NX: not encrypted
	EncryptionNXHWNotSupported // NX_HW_NOT_SUPPORTED
	EncryptionNXSWNotReady     // NX_SW_NOT_READY
	EncryptionNXNotAccepted    // NX_NOT_ACCEPTED
	EncryptionNXNotSupported   // NX_NOT_SUPPORTED
	EncryptionNXLocalDst       // NX_LOCAL_DST
	EncryptionNXFallback       // NX_FALLBACK
	numEncryption
)

var encryptionCodes = [numEncryption]string{
	EncryptionNone:             "",
	EncryptionOther:            "",
	EncryptionX:                "X",
	EncryptionNX:               "NX",
	EncryptionNXHWNotSupported: "NX_HW_NOT_SUPPORTED",
	EncryptionNXSWNotReady:     "NX_SW_NOT_READY",
	EncryptionNXNotAccepted:    "NX_NOT_ACCEPTED",
	EncryptionNXNotSupported:   "NX_NOT_SUPPORTED",
	EncryptionNXLocalDst:       "NX_LOCAL_DST",
	EncryptionNXFallback:       "NX_FALLBACK",
}

// String returns the Azure code of a known encryption status, "other" for
// EncryptionOther and "" for EncryptionNone.
func (e Encryption) String() string {
	if e == EncryptionOther {
		return "other"
	}
	if e < numEncryption {
		return encryptionCodes[e]
	}
	return fmt.Sprintf("Encryption(%d)", uint8(e))
}

// Record is one element of the "records" array of a flow log blob.
//
// The parser reuses one Record for every callback. All string fields (of the
// Record and of its Tuples) are ordinary Go strings that may be retained, but
// the Tuples slice itself is overwritten by the next record: copy the Tuple
// values you need to keep.
type Record struct {
	Kind Kind
	// Start and End are the byte offsets of the record's opening '{' and
	// just past its closing '}' within the chunk given to the parser. With
	// the caller's offset of the chunk within the blob they identify the
	// record stably.
	Start, End int
	// Index is the ordinal of the record within the chunk, counting skipped
	// records too.
	Index int

	// Time is the record's "time" (RFC 3339); zero if absent.
	Time time.Time
	// Version is flowLogVersion (VNet) or properties.Version (NSG).
	Version int
	// Category is "FlowLogFlowEvent" or "NetworkSecurityGroupFlowEvent".
	Category      string
	OperationName string

	// VNet flow log fields.
	FlowLogGUID       string
	MACAddress        string
	FlowLogResourceID string
	TargetResourceID  string

	// NSG flow log fields.
	ResourceID string
	SystemID   string

	// Tuples are the well-formed flow tuples of the record in document
	// order. Valid only until the callback returns.
	Tuples []Tuple
	// BadTuples is the number of tuples of this record that were skipped
	// because they could not be parsed.
	BadTuples int
}

// Tuple is one parsed flow tuple with the context of its enclosing flow and
// flow group.
type Tuple struct {
	// Index is the position of the tuple among all tuple strings of the
	// record, in document order and counting bad tuples, so that
	// (record identity, Index) identifies a tuple stably.
	Index int
	// FlowIndex is the index in flowRecords.flows (VNet) or properties.flows
	// (NSG); GroupIndex is the index in flows[].flowGroups (VNet) or in the
	// inner flows[].flows (NSG).
	FlowIndex, GroupIndex int

	// ACLID is flows[].aclID (VNet only).
	ACLID string
	// Rule is flowGroups[].rule (VNet) or flows[].rule (NSG).
	Rule string
	// MAC is the inner flows[].mac of NSG records; empty for VNet records
	// (see Record.MACAddress).
	MAC string

	// Time is the tuple timestamp in UTC. Timestamps of 12 or 13 digits are
	// Unix milliseconds, shorter ones Unix seconds.
	Time     time.Time
	Src, Dst netip.Addr
	SrcPort  uint16
	DstPort  uint16
	// Protocol is the IANA protocol number (NSG T/U map to 6/17).
	Protocol  uint8
	Direction Direction
	// State is B, C, E or D (VNet), B, C or E (NSG version 2), none (NSG
	// version 1).
	State State
	// Decision is derived from the NSG A/D field or, for VNet tuples, from
	// the state (D = deny, anything else = allow).
	Decision Decision
	// Encryption is the VNet encryption status; EncryptionText is the code
	// as written (also for unknown codes).
	Encryption     Encryption
	EncryptionText string

	// Counters since the previous tuple of the same flow. Empty fields, as
	// written on B and D rows, are 0; NSG version 1 has no counters.
	PacketsSrcToDst uint64
	BytesSrcToDst   uint64
	PacketsDstToSrc uint64
	BytesDstToSrc   uint64
}

// SkipReason classifies records that were not delivered.
type SkipReason uint8

const (
	// SkipUnknownVersion: the version is missing, not an integer, or not one
	// this package can decode.
	SkipUnknownVersion SkipReason = iota
	// SkipUnknownShape: the record is neither a VNet record (flowLogVersion
	// or flowRecords) nor an NSG record (properties), or is both.
	SkipUnknownShape
	// SkipBadField: a known key holds a value of the wrong type, or "time"
	// is not RFC 3339.
	SkipBadField
	// SkipMalformed: the record is not valid JSON; only counted when
	// resynchronisation is enabled (Parser.Resync).
	SkipMalformed
	// SkipTooManyTuples: the record holds more tuple strings than
	// Parser.MaxTuples; its tuples beyond the bound were never kept.
	SkipTooManyTuples
	// SkipTooLarge: the record spans more bytes than Parser.MaxRecordBytes.
	SkipTooLarge
	// NumSkipReasons is the number of skip reasons.
	NumSkipReasons
)

// String returns a short name for the reason.
func (r SkipReason) String() string {
	switch r {
	case SkipUnknownVersion:
		return "unknown_version"
	case SkipUnknownShape:
		return "unknown_shape"
	case SkipBadField:
		return "bad_field"
	case SkipMalformed:
		return "malformed"
	case SkipTooManyTuples:
		return "too_many_tuples"
	case SkipTooLarge:
		return "too_large"
	}
	return fmt.Sprintf("SkipReason(%d)", uint8(r))
}

// Stats are cumulative counters of a Parser.
type Stats struct {
	// Records and Tuples count delivered records and tuples.
	Records uint64
	Tuples  uint64
	// Bytes counts the input bytes parsed, skipped ones included: the
	// whole input, or, when a *SyntaxError is returned, the bytes before
	// the failing record (or before the error, outside records).
	Bytes uint64
	// SkippedRecords counts records that were not delivered, by reason.
	SkippedRecords [NumSkipReasons]uint64
	// SkippedBytes counts the bytes passed over while resynchronising:
	// from the start of each malformed record (or the unexpected byte
	// between records) to where parsing resumed, or to the end of input.
	SkippedBytes uint64
	// BadTuples counts tuples skipped because they could not be parsed
	// (wrong field count, bad address, bad number, bad code). Tuples of
	// skipped records are not counted.
	BadTuples uint64
}

// Skipped returns the total number of skipped records.
func (s *Stats) Skipped() uint64 {
	var n uint64
	for _, v := range s.SkippedRecords {
		n += v
	}
	return n
}

// SyntaxError reports input that is not valid JSON, or not the expected
// framing of records.
type SyntaxError struct {
	// Offset is the byte offset within the chunk where the problem was found.
	Offset int
	// RecordStart is the offset of the '{' of the record being parsed, or
	// -1 if the error is outside a record.
	RecordStart int
	Msg         string
}

func (e *SyntaxError) Error() string {
	if e.RecordStart >= 0 {
		return fmt.Sprintf("flowlog: syntax error at byte %d (record starting at byte %d): %s", e.Offset, e.RecordStart, e.Msg)
	}
	return fmt.Sprintf("flowlog: syntax error at byte %d: %s", e.Offset, e.Msg)
}

// RecordError reports a well-formed record that was skipped.
type RecordError struct {
	Reason     SkipReason
	Start, End int // byte offsets of the record within the chunk
	Detail     string
}

func (e *RecordError) Error() string {
	return fmt.Sprintf("flowlog: record at bytes %d-%d skipped (%s): %s", e.Start, e.End, e.Reason, e.Detail)
}

// TupleError reports a flow tuple that could not be parsed.
type TupleError struct {
	RecordStart int    // byte offset of the record within the chunk
	Index       int    // Tuple.Index the tuple would have had
	Tuple       string // the tuple text (after JSON unescaping)
	Msg         string
}

func (e *TupleError) Error() string {
	return fmt.Sprintf("flowlog: bad tuple %d of record at byte %d: %s: %q", e.Index, e.RecordStart, e.Msg, e.Tuple)
}
