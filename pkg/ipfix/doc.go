// Package ipfix decodes IPFIX (RFC 7011) and NetFlow v9 (RFC 3954)
// export messages into typed flow records, fast and without trusting the
// input.
//
// # Use
//
//	d := ipfix.NewDecoder(ipfix.Config{})
//	err := d.Decode(exporterAddr, datagram, func(r *ipfix.Record) {
//		// r is reused: copy what you keep.
//	})
//
// Decode takes one message (one UDP datagram) and calls the callback for
// every flow data record in it. Options data records feed the sampling
// state and are only delivered when Config.EmitOptionsRecords is set.
//
// # Decode plans
//
// Every template is compiled once, when it is learned, into a plan: a
// slice of ops, one per field, holding the field's offset and length,
// the conversion to apply (reduced-size integer, IPv4/IPv6 address,
// seconds/milliseconds/NTP timestamps, sysUpTime-relative or delta times,
// ICMP type-code, raw) and the Record slot it fills. When several
// elements could fill a slot (octetDeltaCount, octetTotalCount,
// postOctetDeltaCount...), the plan keeps the preferred one and sends the
// others to Record.Extra. Templates whose fields all have a fixed length
// get absolute offsets and a fixed record length; templates with
// variable-length fields (RFC 7011 section 7) are walked with a cursor.
// A re-announced template identical to the known one is only refreshed,
// not recompiled.
//
// Decoding a data record is a loop over the ops writing into one reused
// Record: no map look-up and no allocation per record. Fields without a
// slot (unknown, enterprise-specific, or lost to a preferred element)
// are kept in Record.Extra as (PEN, ID, raw bytes) referencing the
// message buffer, valid only during the callback.
//
// # State and keys
//
// Templates are kept per exporter address, per protocol and per
// observation domain (NetFlow v9: source ID), then by template ID, so
// NetFlow v9 and IPFIX from one exporter never collide. Sampling state is
// kept per domain too: options data records carrying samplingInterval
// (34), samplerRandomInterval (50), samplingPacketInterval (305) with
// samplingPacketSpace (306), or samplingSize/Population (309/310) set the
// rate of the sampler they name (samplerId 48 / selectorId 302) or, when
// they name none, the domain's default rate. A flow record gets the rate
// it carries itself, else its sampler's, else the domain's default (or
// the domain's only sampler's). Record.SamplingRate is 0 when unknown;
// counters are never multiplied.
//
// Templates not announced again within Config.TemplateTTL expire (checked
// lazily on use, and by a sweep every half TTL that also forgets idle
// domains and exporters), with an injectable clock. Snapshot and Restore
// carry templates and sampling state across restarts, so the first data
// after a restart decodes.
//
// # Limits and errors
//
// Every dimension of state is bounded (Config: exporters, domains per
// exporter, templates per exporter and in total, fields per template,
// samplers per domain) and every loop is bounded by the input length
// (templates with an empty record length are refused, so data sets
// cannot spin; Config.MaxRecordsPerSet caps records per set). Malformed
// input is counted by ErrorKind per domain (or globally when no domain
// can be trusted) and decoding goes on with the next set when it can.
// A recovered panic is counted as ErrPanic. Stats returns the counters,
// including sequence accounting: IPFIX sequence numbers count data
// records, NetFlow v9 ones count packets. Wrap-around is handled by
// modular arithmetic; a late message is counted as out of order, and a
// large backwards jump (or a NetFlow v9 sysUptime going back) as an
// exporter restart, not as loss. Exporters that count IPFIX records after
// the message instead of before it (softflowd) are recognised in the
// first messages of a domain, so they show no false gaps.
//
// An unknown (exporter, domain) gets state only from a message carrying a
// template it can learn (a domain left without template is dropped at
// once): header-only or data-only messages from spoofed sources leave
// nothing behind and are counted as ErrUnknownDomain. Total templates
// (MaxTemplates) and template bytes (MaxTemplateBytes) are shared fairly:
// an exporter below its fair share takes the room of the oldest template
// of the exporter holding the most, so a template bomb from a few sources
// cannot lock a newcomer out. Stats.Total counts every error by kind and
// never goes down. Sequence jumps larger than MaxSequenceGap count as
// resets, not loss.
//
// # Concurrency
//
// A Decoder holds a mutex: Decode, Stats, Snapshot and Restore may be
// called from several goroutines, but Decode calls run one at a time and
// the callback runs under the lock (it must not call the Decoder). To use
// several cores, run one Decoder per worker and send each exporter
// always to the same worker (SO_REUSEPORT does, by source address and
// port), since templates are per exporter. Workers share their limits
// through Config.Shared, and restored state through Config.Pool: a pool
// Decoder takes the Restore and hands each domain to the worker that
// first meets it; Merge writes the snapshot of pool and workers.
package ipfix
