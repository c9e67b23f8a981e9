package bgpreceiver

import (
	"context"
	"net/netip"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/component"
	"go.opentelemetry.io/collector/confmap"
	"go.opentelemetry.io/collector/confmap/confmaptest"
	"go.opentelemetry.io/collector/consumer/consumertest"
	"go.opentelemetry.io/collector/receiver/receivertest"
	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
	"go.uber.org/zap/zaptest/observer"

	"github.com/erviz/otelcol-erviz/pkg/rib"
	"github.com/erviz/otelcol-erviz/receiver/bgpreceiver/internal/metadata"
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
	assert.Equal(t, []string{"expressroute", "azure", "vpn", "nva", "onprem"}, def.Analyses.Overlap.Classes, "every class but other")
	rc, err := def.ribConfig()
	require.NoError(t, err)
	assert.Equal(t, []rib.Class{rib.ClassExpressRoute, rib.ClassAzure, rib.ClassVPN, rib.ClassNVA, rib.ClassOnPrem}, rc.Overlap.Classes)
	assert.NotContains(t, rc.Overlap.Classes, rc.Classes.Default, "routes no rule matches (an Internet table) are out of scope")
	assert.False(t, def.Analyses.Overlap.DefaultRoutes)
	assert.False(t, rc.Overlap.DefaultRoutes, "a default route overlaps nothing by default")

	all := loadConfig(t, "allclasses")
	require.NoError(t, confmap.Validate(all))
	rc, err = all.ribConfig()
	require.NoError(t, err)
	assert.Empty(t, rc.Overlap.Classes, "an empty list: every class")
	require.NoError(t, confmap.Validate(def), "the defaults run without any peer and without privileges")
	assert.False(t, def.speakerEnabled())
	assert.EqualValues(t, -1, def.ListenPort)

	rs := loadConfig(t, "routeserver")
	require.NoError(t, confmap.Validate(rs))
	sc := rs.speakerConfig()
	require.Len(t, sc.Peers, 2)
	assert.Equal(t, netip.MustParseAddr("10.0.0.5"), sc.Peers[1].Address)
	assert.EqualValues(t, 2, sc.Peers[1].MultihopTTL)
	assert.Equal(t, 180*time.Second, sc.Peers[1].HoldTime)
	assert.Equal(t, 4000, sc.Peers[1].MaxPrefixes)
	assert.Equal(t, 15*time.Minute, sc.Peers[1].MaxPrefixesRestart)
	rc, err = rs.ribConfig()
	require.NoError(t, err)
	assert.Equal(t, []rib.Class{rib.ClassAzure, rib.ClassExpressRoute, rib.ClassOnPrem, rib.ClassNVA}, rc.Overlap.Classes)
	assert.Equal(t, rib.ClassOnPrem, rc.Classes.Rules[0].Class)
	assert.Equal(t, []uint32{65001}, rc.Classes.Rules[0].OriginASNs)
	assert.Len(t, rc.Classes.Rules, 2+len(rib.DefaultClassConfig().Rules), "the default rules follow the configured ones")
	assert.False(t, rc.Overlap.DefaultRoutes)
	assert.Equal(t, []rib.OverlapAllow{
		{Prefix: netip.MustParsePrefix("10.0.0.0/8"), Other: netip.MustParsePrefix("10.200.0.0/16")},
		{Prefix: netip.MustParsePrefix("172.16.0.0/12"), Exact: true},
	}, rc.Overlap.Allow)
	assert.True(t, rc.Flap.Enabled)

	edge := loadConfig(t, "edge")
	require.NoError(t, confmap.Validate(edge))
	assert.True(t, edge.Peers[0].Passive)
	assert.Equal(t, []string{"ipv4_unicast", "ipv6_unicast"}, edge.Peers[0].Families)
	assert.Equal(t, "0.0.0.0:11019", edge.BMP.Endpoint)
	rc, err = edge.ribConfig()
	require.NoError(t, err)
	assert.Equal(t, 3, rc.Redundancy.MinPaths)
	assert.True(t, rc.Overlap.DefaultRoutes)
	assert.True(t, rc.Overlap.Enabled, "setting default_routes keeps the analysis on")
	assert.Equal(t, createDefaultConfig().Analyses.Overlap.Classes, edge.Analyses.Overlap.Classes)
	assert.False(t, rc.Flap.Enabled)
	assert.Equal(t, 30*time.Second, edge.CollectionInterval)
}

func TestValidateErrors(t *testing.T) {
	cases := []struct {
		name   string
		mutate func(*Config)
		want   []string
	}{
		{"peer without asn", func(c *Config) { c.Peers = []PeerConfig{{Address: "192.0.2.1", ASN: 1}} },
			[]string{"asn is required when peers", "router_id \"\" must be an IPv4 address"}},
		{"bad peer", func(c *Config) {
			c.ASN, c.RouterID = 1, "192.0.2.9"
			c.Peers = []PeerConfig{{Address: "nope"}, {Address: "192.0.2.1", ASN: 2, Passive: true, Families: []string{"l2vpn"}, HoldTime: time.Second}}
		}, []string{"peers[0]: address \"nope\"", "peers[0]: asn is required", "peers[1]: a passive peer needs listen_port",
			"peers[1]: family \"l2vpn\"", "peers[1]: hold_time 1s"}},
		{"duplicate peer", func(c *Config) {
			c.ASN, c.RouterID = 1, "192.0.2.9"
			c.Peers = []PeerConfig{{Address: "192.0.2.1", ASN: 2}, {Address: "192.0.2.1", ASN: 3}}
		}, []string{"listed twice"}},
		{"listen port", func(c *Config) { c.ListenPort = 70000 }, []string{"listen_port 70000 is out of range"}},
		{"bmp allowed", func(c *Config) { c.BMP.Allowed = []string{"10.0.0.1/8"} }, []string{"bmp.allowed", "host bits"}},
		{"class", func(c *Config) { c.Classes = []ClassRuleConfig{{Class: "mars"}} }, []string{"classes[0]"}},
		{"default class", func(c *Config) { c.DefaultClass = "x" }, []string{"default_class"}},
		{"overlap classes", func(c *Config) { c.Analyses.Overlap.Classes = []string{"azure", "mars", "Internet"} },
			[]string{`analyses.overlap.classes[1]: rib: unknown route class "mars"`, `analyses.overlap.classes[2]: rib: unknown route class "Internet"`}},
		{"overlap allow", func(c *Config) {
			c.Analyses.Overlap.Allow = []OverlapAllowConfig{{Prefix: "10.0.0.0/8", Exact: true}, {Prefix: "10.0.0.1/8", Exact: true}, {Prefix: "10.0.0.0/8", Other: "x", Exact: true}}
		}, []string{`analyses.overlap.allow[1].prefix: "10.0.0.1/8" has host bits set`, `analyses.overlap.allow[2].other: "x"`}},
		{"flap thresholds", func(c *Config) { c.Analyses.Flap.Reuse = 3000 }, []string{"reuse (3000) must be positive and below suppress (2000)"}},
		{"min paths", func(c *Config) { c.Analyses.Redundancy.MinPaths = 1 }, []string{"min_paths must be at least 2"}},
		{"intervals", func(c *Config) { c.CollectionInterval = time.Millisecond; c.QueueSize = 0 }, []string{"collection_interval", "queue_size"}},
		{"mrt glob", func(c *Config) { c.MRT.Include = []string{"[x"} }, []string{"mrt.include: bad glob"}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			cfg := createDefaultConfig()
			tc.mutate(cfg)
			err := cfg.Validate()
			require.Error(t, err)
			for _, w := range tc.want {
				assert.True(t, strings.Contains(err.Error(), w), "%q not in %q", w, err)
			}
		})
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
