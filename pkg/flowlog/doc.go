// Package flowlog is a streaming decoder for Azure Network Watcher flow
// logs: virtual network (VNet) flow logs, flowLogVersion 4 (2 and 3 are
// accepted too, as they use the same 13-field tuple), and network security
// group (NSG) flow logs, properties.Version 1 and 2.
//
// # Format
//
// A flow log blob (PT1H.json, one per NIC and hour) is a JSON document
// {"records":[ record, record, ... ]}. A VNet record looks like
//
//	{"time":"2024-05-14T09:00:52.5625085Z", "flowLogVersion":4,
//	 "flowLogGUID":"…", "macAddress":"6045BDA2C3D4", "category":"FlowLogFlowEvent",
//	 "flowLogResourceID":"/SUBSCRIPTIONS/…/FLOWLOGS/…", "targetResourceID":"/subscriptions/…",
//	 "operationName":"FlowLogFlowEvent",
//	 "flowRecords":{"flows":[{"aclID":"…","flowGroups":[{"rule":"…",
//	   "flowTuples":["1715677203599,10.1.0.4,192.0.2.180,23956,443,6,O,B,NX,0,0,0,0", …]}]}]}}
//
// with 13-field tuples: timestamp, source and destination address, source
// and destination port, IANA protocol, direction (I/O), state (B begin,
// C continuing, E end, D denied), encryption status (X, NX, NX_…) and
// packets/bytes source-to-destination and destination-to-source (empty on
// B and D rows). An NSG record has time, systemId, category, resourceId,
// operationName and properties {"Version":1|2, "flows":[{"rule":"…",
// "flows":[{"mac":"…","flowTuples":[…]}]}]}, with tuples
// "ts,src,dst,sport,dport,T|U,I|O,A|D" in version 1, plus
// ",B|C|E,pkts,bytes,pkts,bytes" in version 2.
//
// Network Watcher writes the blob as block-blob blocks: a head block that is
// exactly `{"records":[`, one block per minute holding one or more records
// (every block after the first data block starts with a comma), and a tail
// block `]}` that stays last. A reader downloads only the byte ranges of new
// blocks. [Parser.ParseChunk] accepts such a range: zero or more
// comma-separated records, with an optional leading comma and optional
// head and tail. [Parser.ParseDocument] accepts a whole document.
//
// # Streaming design
//
// The parser does not build a document tree. A small strict JSON scanner
// walks the bytes once; the keys of the known shape are decoded in place
// and everything else is validated and skipped without being decoded
// (iteratively, so deep nesting cannot overflow the stack). Strings are
// scanned eight bytes at a time and are only copied when they contain
// escapes. Tuple strings are split and converted field by field directly
// from the input bytes, including IPv4 and IPv6 addresses, so a tuple
// costs no allocation. The tuples of a record are collected in a reused
// slice and the record is handed to a callback once its closing brace has
// been seen, so a record is only delivered when it is complete and
// well-formed; Record.Start and Record.End give its byte range in the
// chunk and Tuple.Index its position in the record, from which a caller
// that knows the chunk's offset in the blob can derive stable IDs.
// Record-level strings and rule, ACL and MAC strings are interned in a
// bounded table, so they are allocated once and are safe to retain; only
// the Record.Tuples slice is reused between callbacks.
//
// JSON semantics follow encoding/json decoding into a map: keys match
// exactly, the last occurrence of a duplicated key wins, and null is the
// same as an absent key. Unlike encoding/json, invalid UTF-8 is rejected.
// Keys may come in any order: if a record's tuples come before the version
// they depend on, the parser remembers where they were and decodes them
// when the version is known.
//
// # Errors
//
// Problems are contained at the smallest level that is still meaningful:
//
//   - A tuple that cannot be parsed (wrong field count, bad address,
//     number or code) is skipped and counted in Stats.BadTuples and
//     Record.BadTuples; the rest of the record is delivered.
//   - A well-formed record with an unsupported or missing version, an
//     unknown shape, or a known key holding the wrong type is skipped with a
//     *RecordError and counted in Stats.SkippedRecords by SkipReason.
//   - With Parser.MaxTuples or Parser.MaxRecordBytes set, a record over the
//     bound is skipped (SkipTooManyTuples, SkipTooLarge); the tuples beyond
//     MaxTuples are validated as JSON but neither decoded nor kept.
//   - Input that is not valid JSON ends the chunk with a *SyntaxError giving
//     the byte offset, after all records before it were delivered. With
//     Parser.Resync, the parser instead resumes at the next plausible
//     record start (see NextRecord) and counts the skip.
//
// Tuple timestamps with 12 or 13 digits are Unix milliseconds and shorter
// ones Unix seconds. Empty counter fields are accepted as 0 on B and D rows
// (VNet) and B rows (NSG version 2) only.
package flowlog
