//go:generate ../../bin/mdatagen-v0.158.0 metadata.yaml

// Package bgpreceiver is the bgp receiver: it learns routes from live BGP sessions (its own
// speaker, internal/speaker, that never advertises), a BMP station and MRT files, keeps them in
// one RIB (pkg/rib) that runs the routing analyses, and emits every routing event as a log
// record and the routing state as metrics.
//
// Where things live:
//   - sources, each started by its Start and emitting internal/event's typed events: the
//     speaker (internal/speaker: speaker.go, peer.go, session.go, fsm.go, sockopt_*.go), the
//     BMP station (internal/bmp) and the MRT reader (internal/mrt, with its checkpoints);
//   - receiver.go: the component (configuration to sources, Start, Shutdown);
//   - pipeline.go: the one queue and the RIB goroutine, one step per kind of event;
//   - pkg/rib: the RIB and its analyses; graceful.go, routing.go, limits.go: graceful
//     restart, the RIB published to the sampling processor, bounds;
//   - records.go: the log records of the events and of the RIB's conclusions, and the
//     batches sent to the next consumer; metrics.go, peermetrics.go: the metrics.
//
// One UPDATE of a speaker's session: session.go (read) -> fsm.go (receive: validated,
// event.Update) -> receiver.go (onSpeaker) -> pipeline.go (enqueue, handle, update,
// announce) -> pkg/rib (AnnounceAttrs) -> records.go (announceRecord, flush).
package bgpreceiver // import "github.com/erviz/otelcol-erviz/receiver/bgpreceiver"
