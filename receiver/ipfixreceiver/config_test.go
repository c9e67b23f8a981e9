package ipfixreceiver

import (
	"context"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/component"
	"go.opentelemetry.io/collector/config/confignet"
	"go.opentelemetry.io/collector/confmap"
	"go.opentelemetry.io/collector/confmap/confmaptest"
	"go.opentelemetry.io/collector/consumer/consumertest"
	"go.opentelemetry.io/collector/receiver/receivertest"
	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
	"go.uber.org/zap/zaptest/observer"

	"github.com/erviz/otelcol-erviz/receiver/ipfixreceiver/internal/metadata"
)

func load(t *testing.T, name string) *Config {
	cm, err := confmaptest.LoadConf(filepath.Join("testdata", "config.yaml"))
	require.NoError(t, err)
	cfg := NewFactory().CreateDefaultConfig().(*Config)
	sub, err := cm.Sub(component.NewIDWithName(metadata.Type, name).String())
	require.NoError(t, err)
	require.NoError(t, sub.Unmarshal(cfg))
	require.NoError(t, confmap.Validate(cfg))
	return cfg
}

func TestLoadConfig(t *testing.T) {
	assert.Equal(t, createDefaultConfig(), load(t, ""))
	edge := load(t, "edge")
	want := createDefaultConfig()
	want.Endpoint, want.Sockets, want.ReceiveBuffer = "127.0.0.1:2055", 2, 32<<20
	want.AllowedExporters = []string{"192.0.2.0/24", "198.51.100.7"}
	want.TemplateTTL, want.CollectionInterval = 10*time.Minute, 30*time.Second
	id := component.MustNewID("file_storage")
	want.Storage = &id
	assert.Equal(t, want, edge)
	tcp := load(t, "tcp")
	assert.Equal(t, confignet.TransportTypeTCP, tcp.Transport)
	assert.Equal(t, 8, tcp.MaxConnections)
}

func TestValidate(t *testing.T) {
	cfg := createDefaultConfig()
	cfg.Endpoint = "4739"
	cfg.Transport = "sctp"
	cfg.Sockets = 0
	cfg.AllowedExporters = []string{"10.0.0.1/8"}
	cfg.TemplateTTL = 0
	cfg.BatchSize = 0
	cfg.CollectionInterval = time.Millisecond
	err := confmap.Validate(cfg)
	require.Error(t, err)
	for _, w := range []string{`endpoint "4739"`, `transport "sctp"`, "sockets 0", "did you mean 10.0.0.0/8", "template_ttl", "batch_size 0", "collection_interval"} {
		assert.True(t, strings.Contains(err.Error(), w), "%q lacks %q", err, w)
	}
}

// metrics_interval, the key's name before collection_interval, is still read, and the
// receiver says at creation that it is deprecated; setting both names is an error.
func TestDeprecatedMetricsInterval(t *testing.T) {
	cm, err := confmaptest.LoadConf(filepath.Join("testdata", "config.yaml"))
	require.NoError(t, err)
	sub := func(name string) *confmap.Conf {
		s, err := cm.Sub(component.NewIDWithName(metadata.Type, name).String())
		require.NoError(t, err)
		return s
	}
	f := NewFactory()
	legacy := f.CreateDefaultConfig().(*Config)
	require.NoError(t, sub("legacy").Unmarshal(legacy))
	require.NoError(t, confmap.Validate(legacy))
	assert.Equal(t, 45*time.Second, legacy.CollectionInterval)

	core, logs := observer.New(zapcore.WarnLevel)
	set := receivertest.NewNopSettings(metadata.Type)
	set.Logger = zap.New(core)
	r, err := f.CreateLogs(context.Background(), set, legacy, consumertest.NewNop())
	require.NoError(t, err)
	require.NoError(t, r.Shutdown(context.Background()))
	assert.Equal(t, 1, logs.FilterMessageSnippet("metrics_interval is deprecated: use collection_interval").Len(), "%v", logs.All())

	err = sub("both").Unmarshal(f.CreateDefaultConfig())
	require.ErrorContains(t, err, "set collection_interval only")
}
