//go:generate ../../bin/mdatagen-v0.158.0 metadata.yaml

// Package bgpreceiver is the bgp receiver: it learns routes from live BGP sessions (its own
// speaker, internal/speaker, that never advertises), a BMP station and MRT files, keeps them in
// one RIB (pkg/rib) that runs the routing analyses, and emits every routing event as a log
// record and the routing state as metrics.
package bgpreceiver // import "github.com/erviz/otelcol-erviz/receiver/bgpreceiver"
