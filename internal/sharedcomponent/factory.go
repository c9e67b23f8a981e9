package sharedcomponent

import (
	"context"

	"go.opentelemetry.io/collector/component"
	"go.opentelemetry.io/collector/consumer"
	"go.opentelemetry.io/collector/receiver"
)

// LogsMetricsReceiver is a receiver whose one instance feeds a logs pipeline (records) and a
// metrics pipeline (its own health). The factory hands each instance its next consumers.
type LogsMetricsReceiver interface {
	component.Component
	SetNextLogs(consumer.Logs)
	SetNextMetrics(consumer.Metrics)
}

// NewReceiverFactory returns the factory of a logs-and-metrics receiver: both signals of one
// configuration (C, the *Config pointer) share the instance that create builds, held in
// instances (the package's map, so every factory value sees the same instances).
func NewReceiverFactory[C comparable, R LogsMetricsReceiver](
	typ component.Type,
	instances *Map[C, R],
	createDefaultConfig component.CreateDefaultConfigFunc,
	create func(receiver.Settings, C) (R, error),
	logsStability, metricsStability component.StabilityLevel,
) receiver.Factory {
	shared := func(set receiver.Settings, cfg component.Config) (*Component[R], error) {
		c := cfg.(C)
		return instances.LoadOrStore(c, func() (R, error) { return create(set, c) })
	}
	createLogs := func(_ context.Context, set receiver.Settings, cfg component.Config, next consumer.Logs) (receiver.Logs, error) {
		c, err := shared(set, cfg)
		if err != nil {
			return nil, err
		}
		c.Unwrap().SetNextLogs(next)
		return c, nil
	}
	createMetrics := func(_ context.Context, set receiver.Settings, cfg component.Config, next consumer.Metrics) (receiver.Metrics, error) {
		c, err := shared(set, cfg)
		if err != nil {
			return nil, err
		}
		c.Unwrap().SetNextMetrics(next)
		return c, nil
	}
	return receiver.NewFactory(typ, createDefaultConfig,
		receiver.WithLogs(createLogs, logsStability),
		receiver.WithMetrics(createMetrics, metricsStability),
	)
}
