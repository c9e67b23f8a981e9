//go:generate ../../bin/mdatagen-v0.158.0 metadata.yaml

// Package flowlogreceiver reads Azure Network Watcher flow logs (VNet flow logs and NSG
// flow logs) incrementally, from Azure Blob Storage or from the same layout on a local
// disk, and emits one log record per flow tuple (docs/schema.md) plus per-resource
// health metrics. Decoding is done by pkg/flowlog; this package finds the blobs, reads
// only the bytes that were added since the last checkpoint, builds pdata and keeps the
// checkpoints in a storage extension. It never writes to, leases or modifies the source
// blobs.
//
// Where things live: receiver.go runs the polls (list, read, deliver, checkpoint);
// source.go and source_blob.go list and read a directory or Blob Storage; convert.go builds
// pdata; blobstate.go is what the receiver knows of one blob; store.go keeps checkpoints
// (storage extension, or the coordination container); share.go decides, with the leases of
// internal/coordination, which blobs this replica reads; metrics.go feeds the flowlog.*
// metrics declared in metadata.yaml; bounds.go handles records over the size bounds.
package flowlogreceiver // import "github.com/erviz/otelcol-erviz/receiver/flowlogreceiver"
