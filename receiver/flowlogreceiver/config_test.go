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
	assert.False(t, sas.Coordination.Enabled)

	rep := loadConfig(t, "replicas")
	require.NoError(t, confmap.Validate(rep))
	assert.True(t, rep.Coordination.Enabled)
	assert.Equal(t, DefaultCoordinationContainer, rep.Coordination.Container)
	assert.Equal(t, 20*time.Second, rep.Coordination.LeaseDuration)
	assert.Equal(t, "collector-0", rep.Coordination.ReplicaID)
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
		{"coordination without azure_blob", func(c *Config) {
			c.Directory = "/data"
			c.Coordination.Enabled = true
		}, []string{"coordination needs the azure_blob source"}},
		{"bad coordination", func(c *Config) {
			c.AzureBlob.AccountURL = "https://a.blob.core.windows.net"
			id := component.MustNewID("file_storage")
			c.Storage = &id
			c.Coordination = CoordinationConfig{Enabled: true, Container: ContainerVNet, LeaseDuration: 90 * time.Second, ReplicaID: "pod/0"}
		}, []string{"remove storage", "is a source container", "lease_duration 1m30s", `replica_id "pod/0"`}},
		{"bad coordination container", func(c *Config) {
			c.AzureBlob.AccountURL = "https://a.blob.core.windows.net"
			c.Coordination = CoordinationConfig{Enabled: true, Container: "Flow--Coord", LeaseDuration: 1500 * time.Millisecond}
		}, []string{`coordination.container "Flow--Coord"`, "lease_duration 1.5s"}},
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
