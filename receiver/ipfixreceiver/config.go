package ipfixreceiver

import (
	"errors"
	"fmt"
	"net"
	"runtime"
	"time"

	"go.opentelemetry.io/collector/component"
	"go.opentelemetry.io/collector/config/confignet"
	"go.opentelemetry.io/collector/config/configtls"
	"go.opentelemetry.io/collector/confmap"

	"github.com/erviz/otelcol-erviz/internal/cidrset"
	"github.com/erviz/otelcol-erviz/internal/confkey"
	"github.com/erviz/otelcol-erviz/pkg/ipfix"
	"github.com/erviz/otelcol-erviz/receiver/ipfixreceiver/internal/metadata"
)

// Config of the ipfix receiver. See README.md for every option.
type Config struct {
	// AddrConfig is the collector's network address: endpoint (host:port to listen on) and
	// transport, udp (IPFIX and NetFlow v9) or tcp (IPFIX only).
	confignet.AddrConfig `mapstructure:",squash"`
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
	// CollectionInterval (key collection_interval, contrib's name) is how often per-exporter metrics are emitted.
	// The key metrics_interval is still read, with a warning (deprecatedKeys, Unmarshal).
	CollectionInterval time.Duration `mapstructure:"collection_interval"`

	// Bounds of the decoder state (config_limits.go; README "Limits").
	MaxDomainsPerExporter int `mapstructure:"max_domains_per_exporter"`
	MaxTemplates          int `mapstructure:"max_templates"`
	MaxTemplateBytes      int `mapstructure:"max_template_bytes"`
	MaxFieldsPerTemplate  int `mapstructure:"max_fields_per_template"`
	// MaxSequenceGap: a larger forward jump of the sequence number counts as a reset.
	MaxSequenceGap int `mapstructure:"max_sequence_gap"`
	// MaxExporterSeries bounds the (exporter, domain) pairs whose metrics are emitted.
	MaxExporterSeries int `mapstructure:"max_exporter_series"`
	// MaxConnectionsPerExporter and IdleTimeout harden the TCP listener.
	MaxConnectionsPerExporter int           `mapstructure:"max_connections_per_exporter"`
	IdleTimeout               time.Duration `mapstructure:"idle_timeout"`

	metadata.MetricsBuilderConfig `mapstructure:",squash"`

	// deprecatedKeys are the old key names this configuration used (logged at creation).
	deprecatedKeys []confkey.Renamed
}

func createDefaultConfig() *Config {
	return &Config{
		AddrConfig:              confignet.AddrConfig{Endpoint: "0.0.0.0:4739", Transport: confignet.TransportTypeUDP},
		Sockets:                 runtime.NumCPU(),
		ReceiveBuffer:           16 << 20,
		QueueLength:             4096,
		MaxConnections:          64,
		TemplateTTL:             30 * time.Minute,
		MaxExporters:            1024,
		MaxTemplatesPerExporter: 1024,
		BatchSize:               1000,
		BatchTimeout:            200 * time.Millisecond,
		CollectionInterval:      60 * time.Second,
		MetricsBuilderConfig:    metadata.NewDefaultMetricsBuilderConfig(),

		MaxDomainsPerExporter:     ipfix.DefaultMaxDomainsPerExporter,
		MaxTemplates:              ipfix.DefaultMaxTemplates,
		MaxTemplateBytes:          ipfix.DefaultMaxTemplateBytes,
		MaxFieldsPerTemplate:      ipfix.DefaultMaxFieldsPerTemplate,
		MaxSequenceGap:            ipfix.DefaultMaxSequenceGap,
		MaxExporterSeries:         1000,
		MaxConnectionsPerExporter: 4,
		IdleTimeout:               5 * time.Minute,
	}
}

// Validate checks the configuration.
func (c *Config) Validate() error {
	var errs []error
	if _, _, err := net.SplitHostPort(c.Endpoint); err != nil {
		errs = append(errs, fmt.Errorf("endpoint %q: %w", c.Endpoint, err))
	}
	switch c.Transport {
	case confignet.TransportTypeUDP:
		if c.TLS != nil {
			errs = append(errs, errors.New("tls needs transport: tcp"))
		}
	case confignet.TransportTypeTCP:
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
	if c.CollectionInterval < time.Second {
		errs = append(errs, fmt.Errorf("collection_interval %s is below 1s", c.CollectionInterval))
	}
	errs = append(errs, c.validateLimits()...)
	return errors.Join(errs...)
}

// renamedKeys are the keys that changed name; the old names are still read.
var renamedKeys = []confkey.Renamed{{Old: "metrics_interval", New: "collection_interval"}}

// Unmarshal reads the configuration, taking the deprecated names of renamedKeys for the new ones.
func (c *Config) Unmarshal(conf *confmap.Conf) error {
	used, err := confkey.Apply(conf, renamedKeys...)
	if err != nil {
		return err
	}
	if err := conf.Unmarshal(c); err != nil {
		return err
	}
	c.deprecatedKeys = used
	return nil
}
