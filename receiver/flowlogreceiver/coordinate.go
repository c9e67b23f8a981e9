package flowlogreceiver

import (
	"github.com/erviz/otelcol-erviz/receiver/flowlogreceiver/internal/coordination"
	"github.com/erviz/otelcol-erviz/receiver/flowlogreceiver/internal/metadata"
)

// validReplicaRune reports whether r may appear in coordination.replica_id.
var validReplicaRune = coordination.ValidReplicaRune

// newCoordinator builds the coordination of replicas in the configured container of the
// source's account (see package coordination for the layout).
func (r *flowlogReceiver) newCoordinator(src *blobSource, tb *metadata.TelemetryBuilder) *coordination.Coordinator {
	cfg, az := &r.cfg.Coordination, &r.cfg.AzureBlob
	return coordination.New(coordination.Settings{
		Container:     src.client.ServiceClient().NewContainerClient(cfg.Container),
		Scope:         coordination.Scope(az.Containers, az.Prefix),
		ReplicaID:     cfg.ReplicaID,
		Self:          r.set.ID.String(),
		LeaseDuration: cfg.LeaseDuration,
		Logger:        r.logger,
		Now:           r.now,
		Telemetry:     tb,
	})
}
