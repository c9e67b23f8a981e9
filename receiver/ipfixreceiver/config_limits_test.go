package ipfixreceiver

import (
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/config/configtls"
	"go.opentelemetry.io/collector/confmap"
)

// TestValidateCatchesStartFailures: what used to fail only when the receiver started (or
// never) is refused by validate.
func TestValidateCatchesStartFailures(t *testing.T) {
	cases := []struct {
		name string
		edit func(*Config)
		want string
	}{
		{"port not a number", func(c *Config) { c.Endpoint = "0.0.0.0:no-such-service" }, `port "no-such-service"`},
		{"port out of range", func(c *Config) { c.Endpoint = "0.0.0.0:70000" }, `port "70000"`},
		{"host not a name", func(c *Config) { c.Endpoint = "no such host:4739" }, `host "no such host"`},
		{"tls without certificate", func(c *Config) {
			c.Transport = "tcp"
			c.TLS = &configtls.ServerConfig{}
		}, "certificate and key"},
		{"zero template bound", func(c *Config) { c.MaxTemplates = 0 }, "max_templates 0"},
		{"per-exporter above total", func(c *Config) { c.MaxTemplates = 10 }, "max_templates_per_exporter 1024 is above max_templates 10"},
		{"zero template bytes", func(c *Config) { c.MaxTemplateBytes = 0 }, "max_template_bytes 0"},
		{"zero series", func(c *Config) { c.MaxExporterSeries = 0 }, "max_exporter_series 0"},
		{"negative idle timeout", func(c *Config) { c.IdleTimeout = -time.Second }, "idle_timeout -1s"},
		{"zero sequence gap", func(c *Config) { c.MaxSequenceGap = 0 }, "max_sequence_gap 0"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			cfg := createDefaultConfig()
			tc.edit(cfg)
			err := confmap.Validate(cfg)
			require.Error(t, err)
			assert.True(t, strings.Contains(err.Error(), tc.want), "%q lacks %q", err, tc.want)
		})
	}
	for _, ok := range []string{"localhost:4739", "[::]:4739", ":2055", "collector.example.net:4739"} {
		cfg := createDefaultConfig()
		cfg.Endpoint = ok
		assert.NoError(t, confmap.Validate(cfg), ok)
	}
}

func TestLoadBounds(t *testing.T) {
	tcp := load(t, "tcp")
	assert.Equal(t, 2, tcp.MaxConnectionsPerExporter)
	assert.Equal(t, 90*time.Second, tcp.IdleTimeout)
	b := load(t, "bounded")
	want := createDefaultConfig()
	want.MaxExporters, want.MaxDomainsPerExporter, want.MaxTemplates, want.MaxTemplatesPerExporter = 64, 4, 512, 64
	want.MaxTemplateBytes, want.MaxFieldsPerTemplate, want.MaxSequenceGap, want.MaxExporterSeries = 1<<20, 64, 100000, 128
	assert.Equal(t, want, b)
	dc := b.decoderConfig()
	assert.Equal(t, 1<<20, dc.MaxTemplateBytes)
	assert.Equal(t, 100000, dc.MaxSequenceGap)
	assert.Equal(t, 4, dc.MaxDomainsPerExporter)
}
