package flowlogreceiver

import (
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/component"
	"go.opentelemetry.io/collector/confmap"
	"go.opentelemetry.io/collector/confmap/confmaptest"

	"github.com/erviz/otelcol-erviz/receiver/flowlogreceiver/internal/metadata"
)

func loadConfig(t testing.TB, name string) *Config {
	t.Helper()
	cm, err := confmaptest.LoadConf(filepath.Join("testdata", "config.yaml"))
	require.NoError(t, err)
	cfg := NewFactory().CreateDefaultConfig().(*Config)
	sub, err := cm.Sub(component.NewIDWithName(metadata.Type, name).String())
	require.NoError(t, err)
	require.NoError(t, sub.Unmarshal(cfg))
	return cfg
}

func TestLoadConfig(t *testing.T) {
	def := loadConfig(t, "")
	require.NoError(t, confmap.Validate(def))
	assert.Equal(t, "testdata/hubspoke", def.Directory)
	assert.Equal(t, 60*time.Second, def.PollInterval)
	assert.Equal(t, StartAtBeginning, def.StartAt)
	assert.Nil(t, def.Storage)

	cs := loadConfig(t, "connection_string")
	require.NoError(t, confmap.Validate(cs))
	assert.Equal(t, []string{ContainerVNet, ContainerNSG}, cs.AzureBlob.Containers)
	assert.Equal(t, "flowLogResourceID=/", cs.AzureBlob.Prefix)
	assert.Equal(t, StartAtEnd, cs.StartAt)
	assert.Equal(t, 30*time.Second, cs.PollInterval)
	require.NotNil(t, cs.Storage)
	assert.Equal(t, "file_storage/flowlog", cs.Storage.String())

	mi := loadConfig(t, "managed_identity")
	require.NoError(t, confmap.Validate(mi))
	assert.Equal(t, []string{ContainerVNet}, mi.AzureBlob.Containers)
	assert.Equal(t, int64(1<<20), mi.MaxReadSize)

	sas := loadConfig(t, "sas")
	require.NoError(t, confmap.Validate(sas))
	assert.Equal(t, "?sv=2022-11-02&ss=b&srt=co&sp=rl&sig=abc", string(sas.AzureBlob.SASToken))
}

func TestValidateErrors(t *testing.T) {
	cases := []struct {
		name   string
		mutate func(*Config)
		want   []string
	}{
		{"no source", func(*Config) {}, []string{"configure a source"}},
		{"two sources", func(c *Config) {
			c.Directory = "/data"
			c.AzureBlob.AccountURL = "https://a.blob.core.windows.net"
		}, []string{"mutually exclusive"}},
		{"bad values", func(c *Config) {
			c.Directory = "/data"
			c.PollInterval = time.Millisecond
			c.StartAt = "now"
			c.MaxReadSize = 10
		}, []string{"poll_interval 1ms", `start_at must be "beginning" or "end", got "now"`, "max_read_size 10"}},
		{"bad azure", func(c *Config) {
			c.AzureBlob.AccountURL = "stflowlogs.blob.core.windows.net"
			c.AzureBlob.Containers = []string{"a", "a", "b/c"}
		}, []string{"is not an http(s) URL", `"a" is listed twice`, `containers[2] "b/c"`}},
		{"connection string and url", func(c *Config) {
			c.AzureBlob.ConnectionString = "UseDevelopmentStorage=true"
			c.AzureBlob.SASToken = "sig=x"
		}, []string{"connection_string excludes"}},
		{"sas twice", func(c *Config) {
			c.AzureBlob.AccountURL = "https://a.blob.core.windows.net/?sig=y"
			c.AzureBlob.SASToken = "sig=x"
		}, []string{"already carries a query"}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			cfg := createDefaultConfig().(*Config)
			tc.mutate(cfg)
			err := confmap.Validate(cfg)
			require.Error(t, err)
			for _, w := range tc.want {
				assert.True(t, strings.Contains(err.Error(), w), "error %q lacks %q", err, w)
			}
		})
	}
}
