//go:generate ../../bin/mdatagen-v0.158.0 metadata.yaml

// Package ipfixreceiver receives IPFIX (RFC 7011, UDP or TCP) and NetFlow v9 (RFC 3954, UDP)
// from routers and NVAs and emits one log record per flow record (docs/schema.md), plus
// per-exporter health metrics. Decoding is pkg/ipfix; the sockets are internal/listener;
// this package owns configuration, lifecycle, batching, persistence and telemetry.
package ipfixreceiver // import "github.com/erviz/otelcol-erviz/receiver/ipfixreceiver"
