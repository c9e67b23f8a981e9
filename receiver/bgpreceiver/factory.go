package bgpreceiver

import (
	"context"

	"go.opentelemetry.io/collector/component"
	"go.opentelemetry.io/collector/consumer"
	"go.opentelemetry.io/collector/receiver"

	"github.com/erviz/otelcol-erviz/internal/sharedcomponent"
	"github.com/erviz/otelcol-erviz/receiver/bgpreceiver/internal/metadata"
)

// receivers shares one instance per configuration between the logs and metrics pipelines.
var receivers = sharedcomponent.NewMap[*Config, *bgpReceiver]()

// NewFactory returns the factory of the bgp receiver.
func NewFactory() receiver.Factory {
	return receiver.NewFactory(
		metadata.Type,
		func() component.Config { return createDefaultConfig() },
		receiver.WithLogs(createLogs, metadata.LogsStability),
		receiver.WithMetrics(createMetrics, metadata.MetricsStability),
	)
}

func shared(set receiver.Settings, cfg *Config) (*sharedcomponent.Component[*bgpReceiver], error) {
	return receivers.LoadOrStore(cfg, func() (*bgpReceiver, error) { return newReceiver(set, cfg) })
}

func createLogs(_ context.Context, set receiver.Settings, cfg component.Config, next consumer.Logs) (receiver.Logs, error) {
	c, err := shared(set, cfg.(*Config))
	if err != nil {
		return nil, err
	}
	c.Unwrap().logsNext = next
	return c, nil
}

func createMetrics(_ context.Context, set receiver.Settings, cfg component.Config, next consumer.Metrics) (receiver.Metrics, error) {
	c, err := shared(set, cfg.(*Config))
	if err != nil {
		return nil, err
	}
	c.Unwrap().metricsNext = next
	return c, nil
}
