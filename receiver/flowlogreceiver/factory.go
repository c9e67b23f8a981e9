package flowlogreceiver

import (
	"context"

	"go.opentelemetry.io/collector/component"
	"go.opentelemetry.io/collector/consumer"
	"go.opentelemetry.io/collector/receiver"

	"github.com/erviz/otelcol-erviz/internal/sharedcomponent"
	"github.com/erviz/otelcol-erviz/receiver/flowlogreceiver/internal/metadata"
)

// receivers holds one instance per configuration, shared by its logs and metrics pipelines.
var receivers = sharedcomponent.NewMap[*Config, *flowlogReceiver]()

// NewFactory returns the factory of the flowlog receiver.
func NewFactory() receiver.Factory {
	return receiver.NewFactory(
		metadata.Type,
		createDefaultConfig,
		receiver.WithLogs(createLogs, metadata.LogsStability),
		receiver.WithMetrics(createMetrics, metadata.MetricsStability),
	)
}

func shared(set receiver.Settings, cfg *Config) (*sharedcomponent.Component[*flowlogReceiver], error) {
	return receivers.LoadOrStore(cfg, func() (*flowlogReceiver, error) { return newReceiver(set, cfg) })
}

func createLogs(_ context.Context, set receiver.Settings, cfg component.Config, next consumer.Logs) (receiver.Logs, error) {
	c, err := shared(set, cfg.(*Config))
	if err != nil {
		return nil, err
	}
	c.Unwrap().nextLogs = next
	return c, nil
}

func createMetrics(_ context.Context, set receiver.Settings, cfg component.Config, next consumer.Metrics) (receiver.Metrics, error) {
	c, err := shared(set, cfg.(*Config))
	if err != nil {
		return nil, err
	}
	c.Unwrap().nextMetrics = next
	return c, nil
}
