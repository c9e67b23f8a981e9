// Package coordination shares the flow log blobs of one storage account among several
// replicas of the flowlog receiver, through blob leases in a container of its own (never on
// the source blobs), and keeps each blob's checkpoint under its lease.
//
// Coordinator is the Azure Blob Storage implementation (coordinator.go: layout and settings;
// member.go: the claim of one running instance on its replica_id; heartbeat.go: heartbeats
// and lease renewal; ownership.go: the ownership leases and checkpoints of the source blobs).
// Assign (assign.go) is the pure decision of which blobs a replica reads; it does no I/O.
// The package knows nothing of the receiver: checkpoints cross it as opaque bytes, and blobs
// whose leases it forgot are returned by Setup, never called back.
package coordination
