package loganalyticsexporter

import (
	"errors"
	"fmt"
	"net/url"
	"strings"

	"go.opentelemetry.io/collector/config/configoptional"
	"go.opentelemetry.io/collector/config/configretry"
	"go.opentelemetry.io/collector/exporter/exporterhelper"

	"github.com/erviz/otelcol-erviz/pkg/loganalytics"
)

// Config of the azure_log_analytics exporter.
type Config struct {
	// Endpoint is the logs ingestion endpoint of the data collection rule (kind Direct) or of
	// its data collection endpoint: https://<name>.<region>-1.ingest.monitor.azure.com.
	Endpoint string `mapstructure:"endpoint"`
	// DCRImmutableID is the data collection rule's immutable ID (dcr-<32 hex digits>).
	DCRImmutableID string `mapstructure:"dcr_immutable_id"`
	// Streams names the DCR stream of each kind of record; an empty name turns the kind off
	// (its records are counted as dropped, reason stream_disabled).
	Streams StreamsConfig `mapstructure:"streams"`
	// MaxRequestBytes bounds one request body before compression (the API's limit is 1 MB).
	MaxRequestBytes int `mapstructure:"max_request_bytes"`
	// Compression of request bodies: gzip (default) or none.
	Compression string `mapstructure:"compression"`
	// Auth selects the credential; by default the Azure default credential chain.
	Auth AuthConfig `mapstructure:"auth"`

	TimeoutSettings exporterhelper.TimeoutConfig                             `mapstructure:",squash"`
	BackOffConfig   configretry.BackOffConfig                                `mapstructure:"retry_on_failure"`
	QueueSettings   configoptional.Optional[exporterhelper.QueueBatchConfig] `mapstructure:"sending_queue"`
}

// StreamsConfig names one DCR stream per kind of record.
type StreamsConfig struct {
	Flows             string `mapstructure:"flows"`
	FlowRollups       string `mapstructure:"flow_rollups"`
	RoutingEvents     string `mapstructure:"routing_events"`
	RoutingConditions string `mapstructure:"routing_conditions"`
}

// AuthConfig selects how the exporter gets its Entra ID token (scope
// https://monitor.azure.com/.default).
type AuthConfig struct {
	// TokenFile, FOR TESTS ONLY: read the bearer token from this file on every request instead
	// of the default credential chain. It exists so that tests can run the collector against a
	// local fake of the ingestion API, which has no Entra ID to issue tokens; with a real
	// endpoint use the default chain (managed identity, workload identity, Azure CLI), which
	// renews its tokens. Requests are still sent over HTTPS only.
	TokenFile string `mapstructure:"token_file"`
}

func (s StreamsConfig) byKind() [4]string {
	return [4]string{
		loganalytics.KindFlows:             s.Flows,
		loganalytics.KindFlowRollups:       s.FlowRollups,
		loganalytics.KindRouting:           s.RoutingEvents,
		loganalytics.KindRoutingConditions: s.RoutingConditions,
	}
}

func createDefaultConfig() *Config {
	queue := exporterhelper.NewDefaultQueueConfig()
	retry := configretry.NewDefaultBackOffConfig()
	return &Config{
		Streams: StreamsConfig{
			Flows:             loganalytics.Tables[loganalytics.KindFlows].Stream,
			FlowRollups:       loganalytics.Tables[loganalytics.KindFlowRollups].Stream,
			RoutingEvents:     loganalytics.Tables[loganalytics.KindRouting].Stream,
			RoutingConditions: loganalytics.Tables[loganalytics.KindRoutingConditions].Stream,
		},
		MaxRequestBytes: loganalytics.MaxRequestBytes,
		Compression:     "gzip",
		TimeoutSettings: exporterhelper.NewDefaultTimeoutConfig(),
		BackOffConfig:   retry,
		QueueSettings:   configoptional.Some(queue),
	}
}

// Validate checks the configuration.
func (c *Config) Validate() error {
	var errs []error
	u, err := url.Parse(c.Endpoint)
	switch {
	case c.Endpoint == "":
		errs = append(errs, errors.New("endpoint is required: the logs ingestion endpoint of the data collection rule (https://<name>.<region>-1.ingest.monitor.azure.com)"))
	case err != nil:
		errs = append(errs, fmt.Errorf("endpoint: %w", err))
	case u.Scheme != "https" || u.Host == "":
		errs = append(errs, fmt.Errorf("endpoint %q: must be an https:// URL (the token is sent only over TLS)", c.Endpoint))
	}
	if c.DCRImmutableID == "" {
		errs = append(errs, errors.New("dcr_immutable_id is required (the rule's immutableId, dcr-...)"))
	} else if strings.ContainsAny(c.DCRImmutableID, "/?# ") {
		errs = append(errs, fmt.Errorf("dcr_immutable_id %q is not an ID", c.DCRImmutableID))
	}
	n := 0
	for _, s := range c.Streams.byKind() {
		if s != "" {
			n++
			if strings.ContainsAny(s, "/?# ") {
				errs = append(errs, fmt.Errorf("stream %q is not a stream name", s))
			}
		}
	}
	if n == 0 {
		errs = append(errs, errors.New("streams: every stream is empty, nothing would be sent"))
	}
	if c.MaxRequestBytes < 1024 || c.MaxRequestBytes > loganalytics.MaxRequestBytes {
		errs = append(errs, fmt.Errorf("max_request_bytes %d: must be between 1024 and %d (the API's limit)", c.MaxRequestBytes, loganalytics.MaxRequestBytes))
	}
	switch c.Compression {
	case "gzip", "none":
	default:
		errs = append(errs, fmt.Errorf("compression %q: gzip or none", c.Compression))
	}
	return errors.Join(errs...)
}
