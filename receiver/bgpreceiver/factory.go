package bgpreceiver

import (
	"go.opentelemetry.io/collector/component"
	"go.opentelemetry.io/collector/consumer"
	"go.opentelemetry.io/collector/receiver"

	"github.com/erviz/otelcol-erviz/internal/confkey"
	"github.com/erviz/otelcol-erviz/internal/sharedcomponent"
	"github.com/erviz/otelcol-erviz/receiver/bgpreceiver/internal/metadata"
)

// receivers holds one instance per configuration, shared by its logs and metrics pipelines.
var receivers = sharedcomponent.NewMap[*Config, *bgpReceiver]()

// NewFactory returns the factory of the bgp receiver.
func NewFactory() receiver.Factory {
	return sharedcomponent.NewReceiverFactory(metadata.Type, receivers,
		func() component.Config { return createDefaultConfig() }, create,
		metadata.LogsStability, metadata.MetricsStability)
}

func create(set receiver.Settings, cfg *Config) (*bgpReceiver, error) {
	confkey.Warn(set.Logger, cfg.deprecatedKeys)
	return newReceiver(set, cfg)
}

// SetNextLogs is where the records go.
func (r *bgpReceiver) SetNextLogs(next consumer.Logs) { r.nextLogs = next }

// SetNextMetrics is where the receiver's own metrics go.
func (r *bgpReceiver) SetNextMetrics(next consumer.Metrics) { r.nextMetrics = next }
