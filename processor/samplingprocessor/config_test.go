package samplingprocessor

import (
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/component"
	"go.opentelemetry.io/collector/confmap"
	"go.opentelemetry.io/collector/confmap/confmaptest"

	"github.com/erviz/otelcol-erviz/processor/samplingprocessor/internal/metadata"
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
	assert.Equal(t, createDefaultConfig(), def, "an empty section gives the defaults")
	assert.NoError(t, confmap.Validate(def))
	assert.Equal(t, []uint32{65515}, def.Direction.AzureASNs)
	assert.Equal(t, []string{"169.254.0.0/16"}, def.ControlPlane.Prefixes)
	assert.True(t, def.Rescale.Enabled)

	art := loadConfig(t, "article")
	require.NoError(t, confmap.Validate(art))
	assert.Equal(t, []RateConfig{{Exporters: []string{"192.0.2.1"}, Rate: 4096}}, art.Rescale.Rates)
	assert.Equal(t, []string{"10.0.0.0/16", "10.1.0.0/16", "10.2.0.0/16"}, art.Direction.AzurePrefixes)
	assert.Equal(t, "secondary", art.Links[1].Name)
	assert.Equal(t, []InterfaceConfig{{Exporter: "192.0.2.1", IfIndex: 11}}, art.Links[0].Interfaces)
	assert.Equal(t, "orders-api", art.Services["10.1.0.4:8443"])

	ertc := loadConfig(t, "ertc")
	require.NoError(t, confmap.Validate(ertc))
	assert.Equal(t, uint64(14), ertc.Rescale.L2OverheadBytes)
	assert.True(t, ertc.Rescale.Rates[0].Force)
}

func TestValidateErrors(t *testing.T) {
	cases := []struct {
		name   string
		mutate func(*Config)
		want   []string
	}{
		{"rate 0", func(c *Config) { c.Rescale.Rates = []RateConfig{{Rate: 0}} }, []string{"rescale.rates[0]: rate must be at least 1"}},
		{"overlapping sides", func(c *Config) {
			c.Direction.AzurePrefixes = []string{"10.0.0.0/8"}
			c.Direction.OnpremPrefixes = []string{"10.200.0.0/16"}
		}, []string{"10.0.0.0/8 (azure_prefixes) overlaps 10.200.0.0/16 (onprem_prefixes)"}},
		{"unknown link", func(c *Config) {
			c.Links = []LinkConfig{{Name: "primary", NextHops: []string{"172.16.100.2"}}}
			c.Rescale.Rates = []RateConfig{{Link: "secundary", Rate: 4096}}
		}, []string{`unknown link "secundary" (links: primary)`}},
		{"duplicate and empty links", func(c *Config) {
			c.Links = []LinkConfig{{Name: "a", NextHops: []string{"10.0.0.1"}}, {Name: "a", NextHops: []string{"10.0.0.2"}}, {NextHops: []string{"10.0.0.3"}}, {Name: "b"}}
		}, []string{`links[1]: name "a" is used twice`, "links[2]: name is empty", `links[3] "b": give next_hops, interfaces or exporters`}},
		{"bad prefixes", func(c *Config) {
			c.Direction.AzurePrefixes = []string{"10.1.0.0/8"}
			c.ControlPlane.Prefixes = []string{"link-local"}
		}, []string{"direction.azure_prefixes", "did you mean 10.0.0.0/8", "control_plane.prefixes"}},
		{"bad interface and service", func(c *Config) {
			c.Links = []LinkConfig{{Name: "p", Interfaces: []InterfaceConfig{{Exporter: "router1", IfIndex: 3}}}}
			c.Services = map[string]string{"http": "web"}
		}, []string{`links[0].interfaces[0].exporter: "router1" is not an IP address`, `"http" is neither a port nor address:port`}},
		{"ASN on both sides", func(c *Config) { c.Direction.OnpremASNs = []uint32{65515} }, []string{"ASN 65515 is in both"}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			cfg := createDefaultConfig()
			tc.mutate(cfg)
			err := confmap.Validate(cfg)
			require.Error(t, err)
			for _, w := range tc.want {
				assert.True(t, strings.Contains(err.Error(), w), "error %q lacks %q", err, w)
			}
		})
	}
}
