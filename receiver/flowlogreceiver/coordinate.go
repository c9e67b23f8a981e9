package flowlogreceiver

import (
	"errors"

	"github.com/erviz/otelcol-erviz/receiver/flowlogreceiver/internal/coordination"
	"github.com/erviz/otelcol-erviz/receiver/flowlogreceiver/internal/metadata"
)

// validReplicaRune reports whether r may appear in coordination.replica_id.
var validReplicaRune = coordination.ValidReplicaRune

// newCoordinator builds the coordination of replicas in the configured container of the
// source's account (see package coordination for the layout).
func (r *flowlogReceiver) newCoordinator(src source, tb *metadata.TelemetryBuilder) (leases, error) {
	bs, ok := src.(*blobSource)
	if !ok {
		return nil, errors.New("coordination needs the azure_blob source")
	}
	cfg, az := &r.cfg.Coordination, &r.cfg.AzureBlob
	return coordination.New(coordination.Settings{
		Container:     bs.client.ServiceClient().NewContainerClient(cfg.Container),
		Scope:         coordination.Scope(az.Containers, az.Prefix),
		ReplicaID:     cfg.ReplicaID,
		Self:          r.set.ID.String(),
		LeaseDuration: cfg.LeaseDuration,
		Logger:        r.logger,
		Now:           r.now,
		Telemetry:     tb,
	}), nil
}
