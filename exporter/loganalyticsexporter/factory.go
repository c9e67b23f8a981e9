package loganalyticsexporter

import (
	"context"
	"net/http"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore"
	"go.opentelemetry.io/collector/component"
	"go.opentelemetry.io/collector/exporter"
	"go.opentelemetry.io/collector/exporter/exporterhelper"

	"github.com/erviz/otelcol-erviz/exporter/loganalyticsexporter/internal/metadata"
)

// NewFactory returns the factory of the azure_log_analytics exporter.
func NewFactory() exporter.Factory {
	return newFactory(nil)
}

// newFactory lets tests inject the credential and the HTTP transport (a local fake of the API).
func newFactory(o *options) exporter.Factory {
	return exporter.NewFactory(
		metadata.Type,
		func() component.Config { return createDefaultConfig() },
		exporter.WithLogs(func(ctx context.Context, set exporter.Settings, cfg component.Config) (exporter.Logs, error) {
			return createLogs(ctx, set, cfg, o)
		}, metadata.LogsStability),
	)
}

// options are the test seams: nil fields take the production defaults.
type options struct {
	credential azcore.TokenCredential
	transport  interface {
		Do(*http.Request) (*http.Response, error)
	}
}

func createLogs(ctx context.Context, set exporter.Settings, cfg component.Config, o *options) (exporter.Logs, error) {
	c := cfg.(*Config)
	e, err := newExporter(set, c, o)
	if err != nil {
		return nil, err
	}
	return exporterhelper.NewLogs(ctx, set, cfg, e.push,
		exporterhelper.WithStart(e.start),
		exporterhelper.WithShutdown(e.shutdown),
		exporterhelper.WithTimeout(c.TimeoutSettings),
		exporterhelper.WithRetry(c.BackOffConfig),
		exporterhelper.WithQueue(c.QueueSettings),
	)
}
