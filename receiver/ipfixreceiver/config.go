package ipfixreceiver

import (
	"errors"
	"fmt"
	"net"
	"runtime"
	"time"

	"go.opentelemetry.io/collector/component"
	"go.opentelemetry.io/collector/config/configtls"

	"github.com/erviz/otelcol-erviz/internal/cidrset"
	"github.com/erviz/otelcol-erviz/receiver/ipfixreceiver/internal/metadata"
)

// Config of the ipfix receiver. See README.md for every option.
type Config struct {
	// Endpoint is host:port to listen on.
	Endpoint string `mapstructure:"endpoint"`
	// Transport is udp (IPFIX and NetFlow v9) or tcp (IPFIX only).
	Transport string `mapstructure:"transport"`
	// TLS, with transport tcp, serves IPFIX over TLS.
	TLS *configtls.ServerConfig `mapstructure:"tls"`
	// Sockets is the number of SO_REUSEPORT UDP sockets (one reader and one worker each).
	Sockets int `mapstructure:"sockets"`
	// ReceiveBuffer is the SO_RCVBUF requested per UDP socket, in bytes.
	ReceiveBuffer int `mapstructure:"receive_buffer"`
	// QueueLength is the datagrams queued per socket between reading and decoding.
	QueueLength int `mapstructure:"queue_length"`
	// MaxConnections bounds concurrent TCP exporters.
	MaxConnections int `mapstructure:"max_connections"`
	// AllowedExporters are the CIDRs or addresses accepted; empty accepts all.
	AllowedExporters []string `mapstructure:"allowed_exporters"`
	// TemplateTTL expires templates not re-announced within it.
	TemplateTTL time.Duration `mapstructure:"template_ttl"`
	// MaxExporters and MaxTemplatesPerExporter bound the decoder's state.
	MaxExporters            int `mapstructure:"max_exporters"`
	MaxTemplatesPerExporter int `mapstructure:"max_templates_per_exporter"`
	// Storage is the ID of a storage extension keeping templates and sampling state across
	// restarts.
	Storage *component.ID `mapstructure:"storage"`
	// BatchSize and BatchTimeout: records are sent to the logs pipeline in batches of at most
	// BatchSize, and no later than BatchTimeout after the first one.
	BatchSize    int           `mapstructure:"batch_size"`
	BatchTimeout time.Duration `mapstructure:"batch_timeout"`
	// MetricsInterval is how often per-exporter metrics are emitted.
	MetricsInterval time.Duration `mapstructure:"metrics_interval"`

	metadata.MetricsBuilderConfig `mapstructure:",squash"`
}

func createDefaultConfig() *Config {
	return &Config{
		Endpoint:                "0.0.0.0:4739",
		Transport:               "udp",
		Sockets:                 runtime.NumCPU(),
		ReceiveBuffer:           16 << 20,
		QueueLength:             4096,
		MaxConnections:          64,
		TemplateTTL:             30 * time.Minute,
		MaxExporters:            1024,
		MaxTemplatesPerExporter: 1024,
		BatchSize:               1000,
		BatchTimeout:            200 * time.Millisecond,
		MetricsInterval:         60 * time.Second,
		MetricsBuilderConfig:    metadata.NewDefaultMetricsBuilderConfig(),
	}
}

// Validate checks the configuration.
func (c *Config) Validate() error {
	var errs []error
	if _, _, err := net.SplitHostPort(c.Endpoint); err != nil {
		errs = append(errs, fmt.Errorf("endpoint %q: %w", c.Endpoint, err))
	}
	switch c.Transport {
	case "udp":
		if c.TLS != nil {
			errs = append(errs, errors.New("tls needs transport: tcp"))
		}
	case "tcp":
	default:
		errs = append(errs, fmt.Errorf("transport %q: use udp or tcp", c.Transport))
	}
	if c.Sockets < 1 || c.Sockets > 64 {
		errs = append(errs, fmt.Errorf("sockets %d: use 1 to 64", c.Sockets))
	}
	if c.ReceiveBuffer < 0 {
		errs = append(errs, fmt.Errorf("receive_buffer %d is negative", c.ReceiveBuffer))
	}
	if c.QueueLength < 1 {
		errs = append(errs, fmt.Errorf("queue_length %d: at least 1", c.QueueLength))
	}
	if c.MaxConnections < 1 {
		errs = append(errs, fmt.Errorf("max_connections %d: at least 1", c.MaxConnections))
	}
	if _, err := cidrset.NewSet(c.AllowedExporters); err != nil {
		errs = append(errs, fmt.Errorf("allowed_exporters: %w", err))
	}
	if c.TemplateTTL == 0 {
		errs = append(errs, errors.New("template_ttl must be set (a negative value disables expiry)"))
	}
	if c.MaxExporters < 1 || c.MaxTemplatesPerExporter < 1 {
		errs = append(errs, errors.New("max_exporters and max_templates_per_exporter must be at least 1"))
	}
	if c.BatchSize < 1 {
		errs = append(errs, fmt.Errorf("batch_size %d: at least 1", c.BatchSize))
	}
	if c.BatchTimeout <= 0 {
		errs = append(errs, errors.New("batch_timeout must be positive"))
	}
	if c.MetricsInterval < time.Second {
		errs = append(errs, fmt.Errorf("metrics_interval %s is below 1s", c.MetricsInterval))
	}
	return errors.Join(errs...)
}
