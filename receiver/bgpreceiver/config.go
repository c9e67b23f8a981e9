package bgpreceiver

import (
	"errors"
	"fmt"
	"net/netip"
	"path/filepath"
	"time"

	"go.opentelemetry.io/collector/component"
	"go.opentelemetry.io/collector/config/confignet"
	"go.opentelemetry.io/collector/confmap"

	"github.com/erviz/otelcol-erviz/internal/cidrset"
	"github.com/erviz/otelcol-erviz/internal/confkey"
	"github.com/erviz/otelcol-erviz/pkg/rib"
	"github.com/erviz/otelcol-erviz/receiver/bgpreceiver/internal/metadata"
	"github.com/erviz/otelcol-erviz/receiver/bgpreceiver/internal/speaker"
)

// Config of the bgp receiver. Each source runs only when configured: the BGP speaker when
// peers are listed or listen_port is set, the BMP station when bmp.endpoint is set, the MRT
// reader when mrt.include lists globs. With none, the receiver only emits (empty) metrics.
type Config struct {
	// ASN and RouterID of the embedded speaker (required when it runs).
	ASN      uint32 `mapstructure:"asn"`
	RouterID string `mapstructure:"router_id"`
	// ListenAddress and ListenPort: where passive peers connect. -1 (the default) disables
	// listening; 179 needs CAP_NET_BIND_SERVICE.
	ListenAddress string       `mapstructure:"listen_address"`
	ListenPort    int32        `mapstructure:"listen_port"`
	Peers         []PeerConfig `mapstructure:"peers"`

	BMP BMPConfig `mapstructure:"bmp"`
	MRT MRTConfig `mapstructure:"mrt"`
	// Storage is the ID of a storage extension (e.g. file_storage) keeping how far each MRT
	// file was read and delivered: after a restart the files are read again silently up to
	// there (the RIB is rebuilt without emitting its events again), then as new.
	Storage *component.ID `mapstructure:"storage"`

	// Classes are route classification rules, tried in order (first match wins) before
	// the default rules (12076 in the path: expressroute; origin 65515-65520: azure).
	Classes []ClassRuleConfig `mapstructure:"classes"`
	// DefaultClass is the class of routes no rule matches.
	DefaultClass string         `mapstructure:"default_class"`
	Analyses     AnalysesConfig `mapstructure:"analyses"`

	// CollectionInterval (key collection_interval, contrib's name) is the period of the metrics.
	// The key metrics_interval is still read, with a warning (deprecatedKeys, Unmarshal).
	CollectionInterval time.Duration `mapstructure:"collection_interval"`
	// QueueSize bounds the events waiting for the RIB; beyond it the sources wait (nothing
	// is dropped).
	QueueSize int `mapstructure:"queue_size"`
	// MaxRoutes bounds the routes of all peers in the RIB; a new route beyond it is refused
	// and counted. PeerRetention: a peer down for this long, with no route left, is forgotten
	// (its state and metric series freed).
	MaxRoutes     int           `mapstructure:"max_routes"`
	PeerRetention time.Duration `mapstructure:"peer_retention"`
	// MaxAttributeBytes bounds the memory of the distinct AS paths and community lists.
	MaxAttributeBytes int `mapstructure:"max_attribute_bytes"`
	// ListenMaxConnections bounds the connections open at once on the speaker's listener.
	ListenMaxConnections int `mapstructure:"listen_max_connections"`

	metadata.MetricsBuilderConfig `mapstructure:",squash"`

	// deprecatedKeys are the old key names this configuration used (logged at creation).
	deprecatedKeys []confkey.Renamed
}

// PeerConfig is one BGP neighbor of the embedded speaker.
type PeerConfig struct {
	Address string `mapstructure:"address"`
	ASN     uint32 `mapstructure:"asn"`
	Name    string `mapstructure:"name"`
	// Port is the neighbor's port for sessions we open (default 179).
	Port uint16 `mapstructure:"port"`
	// LocalAddress is the source address of sessions we open.
	LocalAddress string `mapstructure:"local_address"`
	// Passive: wait for the neighbor to connect (needs listen_port).
	Passive bool `mapstructure:"passive"`
	// MultihopTTL enables eBGP multihop with this TTL (Azure Route Server needs it).
	MultihopTTL uint8 `mapstructure:"multihop_ttl"`
	// Password enables TCP-MD5 (RFC 2385).
	Password string `mapstructure:"password"`
	// Families: ipv4_unicast, ipv6_unicast (default: the family of the address).
	Families []string `mapstructure:"families"`
	// HoldTime proposed in OPEN (default 90s; keepalives every third of it).
	HoldTime time.Duration `mapstructure:"hold_time"`
	// ConnectRetry is the delay between connection attempts (default 10s).
	ConnectRetry time.Duration `mapstructure:"connect_retry"`
	// MaxPrefixes: when the peer announces more distinct routes than this, the session is
	// closed with CEASE / Maximum Number of Prefixes Reached (0: no limit).
	MaxPrefixes int `mapstructure:"max_prefixes"`
	// MaxPrefixesRestart is how long the speaker waits before it opens or accepts a session
	// again after closing it for MaxPrefixes (default 5m).
	MaxPrefixesRestart time.Duration `mapstructure:"max_prefixes_restart"`
	// AddPath asks the peer for every path of each prefix (ADD-PATH receive, RFC 7911).
	AddPath bool `mapstructure:"add_path"`
	// GracefulRestart advertises the Graceful Restart capability as a receiving speaker
	// (RFC 4724 helper): when the peer advertised it too and the session ends without
	// NOTIFICATION, its routes are kept as stale until it is back and sends End-of-RIB, or
	// withdrawn when it is not back within its restart time. Off by default: a peer that
	// sees the capability may close its sessions differently (FRR's bgpd, terminating, then
	// closes without NOTIFICATION).
	GracefulRestart bool `mapstructure:"graceful_restart"`
}

// BMPConfig configures the BMP station.
type BMPConfig struct {
	// TCPAddrConfig is the collector's TCP address: endpoint to listen on for BMP sessions
	// (host:port), e.g. 0.0.0.0:11019. Empty: off.
	confignet.TCPAddrConfig `mapstructure:",squash"`
	// Allowed lists the routers (addresses or CIDRs) that may connect; empty allows any.
	Allowed []string `mapstructure:"allowed"`
	// Bounds of the station: connections, idle time, message size, peers and routes (see
	// limits.go for the defaults).
	MaxConnections          int           `mapstructure:"max_connections"`
	MaxConnectionsPerSource int           `mapstructure:"max_connections_per_source"`
	IdleTimeout             time.Duration `mapstructure:"idle_timeout"`
	MaxMessageSize          int           `mapstructure:"max_message_size"`
	MaxPeersPerRouter       int           `mapstructure:"max_peers_per_router"`
	MaxPeers                int           `mapstructure:"max_peers"`
	MaxPrefixes             int           `mapstructure:"max_prefixes"`
}

// MRTConfig configures the MRT reader.
type MRTConfig struct {
	// Include lists file globs; files are read from the start and followed as they grow.
	Include []string `mapstructure:"include"`
	// PollInterval is how often the globs and file sizes are checked.
	PollInterval time.Duration `mapstructure:"poll_interval"`
}

// ClassRuleConfig assigns Class to the routes it matches; every non-empty criterion must
// match, and within a criterion any element may.
type ClassRuleConfig struct {
	Class        string   `mapstructure:"class"`
	OriginASNs   []uint32 `mapstructure:"origin_asns"`
	PathContains []uint32 `mapstructure:"path_contains"`
	PeerASNs     []uint32 `mapstructure:"peer_asns"`
	Prefixes     []string `mapstructure:"prefixes"`
}

// AnalysesConfig maps onto pkg/rib's analyses (see its documentation for the semantics).
type AnalysesConfig struct {
	// CollapseASNs: neighbors with these ASNs announcing themselves as next hop count as
	// one forwarding hop (Azure Route Server's two instances). Default [65515].
	CollapseASNs  []uint32            `mapstructure:"collapse_asns"`
	Overlap       OverlapConfig       `mapstructure:"overlap"`
	Redundancy    RedundancyConfig    `mapstructure:"redundancy"`
	Flap          FlapConfig          `mapstructure:"flap"`
	AdjacencyFlap AdjacencyFlapConfig `mapstructure:"adjacency_flap"`
	MOAS          EnabledConfig       `mapstructure:"moas"`
	OriginChange  EnabledConfig       `mapstructure:"origin_change"`
	PrefixCount   PrefixCountConfig   `mapstructure:"prefix_count"`
}

// EnabledConfig switches an analysis.
type EnabledConfig struct {
	Enabled bool `mapstructure:"enabled"`
}

// OverlapConfig configures the overlap analysis.
type OverlapConfig struct {
	Enabled bool `mapstructure:"enabled"`
	// Classes scopes the analysis: two prefixes overlap only when at least one of them has a
	// route of one of these classes. Default: every class but other, so that the
	// more-specifics of an Internet table (class other) do not overlap one another while
	// anything involving Azure, ExpressRoute, VPN, NVA or on-premises space still does. An
	// empty list means every class.
	Classes []string `mapstructure:"classes"`
	// DefaultRoutes makes a default route (0.0.0.0/0, ::/0) overlap the prefixes it contains.
	// Default false: a default route advertised for forced tunnelling overlaps nothing.
	DefaultRoutes bool                 `mapstructure:"default_routes"`
	Allow         []OverlapAllowConfig `mapstructure:"allow"`
}

// defaultOverlapClasses: every class but other.
func defaultOverlapClasses() []string {
	var out []string
	for c := range rib.Class(rib.NumClasses) {
		if c != rib.ClassOther {
			out = append(out, c.String())
		}
	}
	return out
}

// OverlapAllowConfig: with Other empty, overlaps inside Prefix are ignored; with Other set,
// overlaps between a prefix inside Prefix and one inside Other. With Exact, Prefix matches
// only itself, not the prefixes inside it: the overlaps of an on-premises summary are ignored
// while those between the prefixes inside it are still reported.
type OverlapAllowConfig struct {
	Prefix string `mapstructure:"prefix"`
	Other  string `mapstructure:"other"`
	Exact  bool   `mapstructure:"exact"`
}

// RedundancyConfig configures the lost-redundancy analysis.
type RedundancyConfig struct {
	Enabled  bool `mapstructure:"enabled"`
	MinPaths int  `mapstructure:"min_paths"`
}

// FlapConfig configures the route-flap score.
type FlapConfig struct {
	Enabled          bool          `mapstructure:"enabled"`
	HalfLife         time.Duration `mapstructure:"half_life"`
	WithdrawPenalty  float64       `mapstructure:"withdraw_penalty"`
	AttributePenalty float64       `mapstructure:"attribute_penalty"`
	Suppress         float64       `mapstructure:"suppress"`
	Reuse            float64       `mapstructure:"reuse"`
}

// AdjacencyFlapConfig configures the session-flap analysis.
type AdjacencyFlapConfig struct {
	Enabled  bool          `mapstructure:"enabled"`
	MaxDowns int           `mapstructure:"max_downs"`
	Window   time.Duration `mapstructure:"window"`
}

// PrefixCountConfig configures the prefix-count analysis.
type PrefixCountConfig struct {
	Enabled     bool          `mapstructure:"enabled"`
	Fraction    float64       `mapstructure:"fraction"`
	Window      time.Duration `mapstructure:"window"`
	MinBaseline int           `mapstructure:"min_baseline"`
	Rebaseline  time.Duration `mapstructure:"rebaseline"`
}

func createDefaultConfig() *Config {
	d := rib.DefaultConfig()
	return &Config{
		ListenPort:   -1,
		DefaultClass: rib.ClassOther.String(),
		MRT:          MRTConfig{PollInterval: time.Second},
		BMP:          defaultBMPConfig(),
		Analyses: AnalysesConfig{
			CollapseASNs: []uint32{65515},
			Overlap:      OverlapConfig{Enabled: d.Overlap.Enabled, Classes: defaultOverlapClasses(), DefaultRoutes: d.Overlap.DefaultRoutes},
			Redundancy:   RedundancyConfig{Enabled: d.Redundancy.Enabled, MinPaths: d.Redundancy.MinPaths},
			Flap: FlapConfig{Enabled: d.Flap.Enabled, HalfLife: d.Flap.HalfLife, WithdrawPenalty: d.Flap.WithdrawPenalty,
				AttributePenalty: d.Flap.AttributePenalty, Suppress: d.Flap.Suppress, Reuse: d.Flap.Reuse},
			AdjacencyFlap: AdjacencyFlapConfig{Enabled: d.AdjacencyFlap.Enabled, MaxDowns: d.AdjacencyFlap.MaxDowns, Window: d.AdjacencyFlap.Window},
			MOAS:          EnabledConfig{Enabled: d.MOAS.Enabled},
			OriginChange:  EnabledConfig{Enabled: d.OriginChange.Enabled},
			PrefixCount: PrefixCountConfig{Enabled: d.PrefixCount.Enabled, Fraction: d.PrefixCount.Fraction, Window: d.PrefixCount.Window,
				MinBaseline: d.PrefixCount.MinBaseline, Rebaseline: d.PrefixCount.Rebaseline},
		},
		CollectionInterval:   time.Minute,
		QueueSize:            100000,
		MaxRoutes:            defaultMaxRoutes,
		MaxAttributeBytes:    defaultMaxAttributeBytes,
		PeerRetention:        defaultPeerRetention,
		ListenMaxConnections: defaultListenMaxConnections,
		MetricsBuilderConfig: metadata.NewDefaultMetricsBuilderConfig(),
	}
}

// speakerEnabled reports whether the embedded BGP speaker runs.
func (c *Config) speakerEnabled() bool { return len(c.Peers) > 0 || c.ListenPort >= 0 }

// Validate checks the configuration.
func (c *Config) Validate() error {
	var errs []error
	if c.speakerEnabled() {
		if c.ASN == 0 {
			errs = append(errs, errors.New("asn is required when peers or listen_port are set"))
		}
		if a, err := netip.ParseAddr(c.RouterID); err != nil || !a.Is4() {
			errs = append(errs, fmt.Errorf("router_id %q must be an IPv4 address (required when peers or listen_port are set)", c.RouterID))
		}
	}
	if c.ListenPort < -1 || c.ListenPort > 65535 {
		errs = append(errs, fmt.Errorf("listen_port %d is out of range (-1 disables)", c.ListenPort))
	}
	if c.ListenAddress != "" {
		if _, err := netip.ParseAddr(c.ListenAddress); err != nil {
			errs = append(errs, fmt.Errorf("listen_address %q is not an IP address", c.ListenAddress))
		}
	}
	seen := map[netip.Addr]bool{}
	for i, p := range c.Peers {
		a, err := netip.ParseAddr(p.Address)
		if err != nil {
			errs = append(errs, fmt.Errorf("peers[%d]: address %q is not an IP address", i, p.Address))
		} else if seen[a.Unmap()] {
			errs = append(errs, fmt.Errorf("peers[%d]: address %s is listed twice", i, a))
		}
		seen[a.Unmap()] = true
		if p.ASN == 0 {
			errs = append(errs, fmt.Errorf("peers[%d]: asn is required", i))
		}
		if p.Passive && c.ListenPort < 0 {
			errs = append(errs, fmt.Errorf("peers[%d]: a passive peer needs listen_port", i))
		}
		if p.LocalAddress != "" {
			if _, err := netip.ParseAddr(p.LocalAddress); err != nil {
				errs = append(errs, fmt.Errorf("peers[%d]: local_address %q is not an IP address", i, p.LocalAddress))
			}
		}
		for _, f := range p.Families {
			if f != speaker.FamilyIPv4Unicast && f != speaker.FamilyIPv6Unicast {
				errs = append(errs, fmt.Errorf("peers[%d]: family %q is not ipv4_unicast or ipv6_unicast", i, f))
			}
		}
		if p.HoldTime != 0 && (p.HoldTime < 3*time.Second || p.HoldTime > 65535*time.Second) {
			errs = append(errs, fmt.Errorf("peers[%d]: hold_time %s must be 0 (default) or between 3s and 65535s", i, p.HoldTime))
		}
		if p.ConnectRetry < 0 {
			errs = append(errs, fmt.Errorf("peers[%d]: connect_retry is negative", i))
		}
		if p.MaxPrefixes < 0 || p.MaxPrefixesRestart < 0 {
			errs = append(errs, fmt.Errorf("peers[%d]: max_prefixes and max_prefixes_restart must not be negative", i))
		}
		if len(p.Password) > 80 {
			errs = append(errs, fmt.Errorf("peers[%d]: password longer than 80 bytes (TCP-MD5 limit)", i))
		}
	}
	if _, err := cidrset.NewSet(c.BMP.Allowed); err != nil {
		errs = append(errs, fmt.Errorf("bmp.allowed: %w", err))
	}
	errs = append(errs, c.validateLimits()...)
	for _, g := range c.MRT.Include {
		if _, err := filepath.Match(g, ""); err != nil {
			errs = append(errs, fmt.Errorf("mrt.include: bad glob %q: %w", g, err))
		}
	}
	if len(c.MRT.Include) > 0 && c.MRT.PollInterval < 10*time.Millisecond {
		errs = append(errs, fmt.Errorf("mrt.poll_interval %s is below 10ms", c.MRT.PollInterval))
	}
	if _, err := c.ribConfig(); err != nil {
		errs = append(errs, err)
	}
	if c.CollectionInterval < time.Second {
		errs = append(errs, fmt.Errorf("collection_interval %s is below 1s", c.CollectionInterval))
	}
	if c.QueueSize < 1 {
		errs = append(errs, fmt.Errorf("queue_size must be at least 1, got %d", c.QueueSize))
	}
	return errors.Join(errs...)
}

// ribConfig maps the configuration onto pkg/rib's (OnEvent left to the caller).
func (c *Config) ribConfig() (rib.Config, error) {
	var errs []error
	rc := rib.DefaultConfig()
	c.ribLimits(&rc)
	rc.CollapseASNs = append([]uint32{}, c.Analyses.CollapseASNs...)
	def, err := rib.ParseClass(c.DefaultClass)
	if err != nil {
		errs = append(errs, fmt.Errorf("default_class: %w", err))
	}
	rules := []rib.ClassRule{}
	for i, r := range c.Classes {
		cl, err := rib.ParseClass(r.Class)
		if err != nil {
			errs = append(errs, fmt.Errorf("classes[%d]: %w", i, err))
		}
		rule := rib.ClassRule{Class: cl, OriginASNs: r.OriginASNs, PathContains: r.PathContains, PeerASNs: r.PeerASNs}
		for _, s := range r.Prefixes {
			p, err := cidrset.ParsePrefix(s)
			if err != nil {
				errs = append(errs, fmt.Errorf("classes[%d]: %w", i, err))
				continue
			}
			rule.Prefixes = append(rule.Prefixes, p)
		}
		rules = append(rules, rule)
	}
	rc.Classes = rib.ClassConfig{Rules: append(rules, rib.DefaultClassConfig().Rules...), Default: def}

	a := c.Analyses
	rc.Overlap.Enabled = a.Overlap.Enabled
	rc.Overlap.DefaultRoutes = a.Overlap.DefaultRoutes
	for i, name := range a.Overlap.Classes {
		cl, err := rib.ParseClass(name)
		if err != nil {
			errs = append(errs, fmt.Errorf("analyses.overlap.classes[%d]: %w", i, err))
			continue
		}
		rc.Overlap.Classes = append(rc.Overlap.Classes, cl)
	}
	for i, al := range a.Overlap.Allow {
		p, err := cidrset.ParsePrefix(al.Prefix)
		if err != nil {
			errs = append(errs, fmt.Errorf("analyses.overlap.allow[%d].prefix: %w", i, err))
			continue
		}
		entry := rib.OverlapAllow{Prefix: p, Exact: al.Exact}
		if al.Other != "" {
			o, err := cidrset.ParsePrefix(al.Other)
			if err != nil {
				errs = append(errs, fmt.Errorf("analyses.overlap.allow[%d].other: %w", i, err))
				continue
			}
			entry.Other = o
		}
		rc.Overlap.Allow = append(rc.Overlap.Allow, entry)
	}
	rc.Redundancy = rib.RedundancyConfig{Enabled: a.Redundancy.Enabled, MinPaths: a.Redundancy.MinPaths}
	if a.Redundancy.Enabled && a.Redundancy.MinPaths < 2 {
		errs = append(errs, fmt.Errorf("analyses.redundancy.min_paths must be at least 2, got %d", a.Redundancy.MinPaths))
	}
	rc.Flap = rib.FlapConfig{Enabled: a.Flap.Enabled, HalfLife: a.Flap.HalfLife, WithdrawPenalty: a.Flap.WithdrawPenalty,
		AttributePenalty: a.Flap.AttributePenalty, Suppress: a.Flap.Suppress, Reuse: a.Flap.Reuse}
	if a.Flap.Enabled {
		if a.Flap.HalfLife <= 0 {
			errs = append(errs, errors.New("analyses.flap.half_life must be positive"))
		}
		if a.Flap.Reuse <= 0 || a.Flap.Reuse >= a.Flap.Suppress {
			errs = append(errs, fmt.Errorf("analyses.flap: reuse (%v) must be positive and below suppress (%v)", a.Flap.Reuse, a.Flap.Suppress))
		}
		if a.Flap.WithdrawPenalty < 0 || a.Flap.AttributePenalty < 0 {
			errs = append(errs, errors.New("analyses.flap: penalties must not be negative"))
		}
	}
	rc.AdjacencyFlap = rib.AdjacencyFlapConfig{Enabled: a.AdjacencyFlap.Enabled, MaxDowns: a.AdjacencyFlap.MaxDowns, Window: a.AdjacencyFlap.Window}
	if a.AdjacencyFlap.Enabled && (a.AdjacencyFlap.MaxDowns < 1 || a.AdjacencyFlap.Window <= 0) {
		errs = append(errs, errors.New("analyses.adjacency_flap: max_downs must be at least 1 and window positive"))
	}
	rc.MOAS.Enabled = a.MOAS.Enabled
	rc.OriginChange.Enabled = a.OriginChange.Enabled
	rc.PrefixCount = rib.PrefixCountConfig{Enabled: a.PrefixCount.Enabled, Fraction: a.PrefixCount.Fraction, Window: a.PrefixCount.Window,
		MinBaseline: a.PrefixCount.MinBaseline, Rebaseline: a.PrefixCount.Rebaseline}
	if a.PrefixCount.Enabled && (a.PrefixCount.Fraction <= 0 || a.PrefixCount.Window <= 0) {
		errs = append(errs, errors.New("analyses.prefix_count: fraction and window must be positive"))
	}
	if err := errors.Join(errs...); err != nil {
		return rib.Config{}, err
	}
	return rc, nil
}

// speakerConfig maps the configuration onto the speaker's.
func (c *Config) speakerConfig() speaker.Config {
	sc := speaker.Config{ASN: c.ASN, ListenPort: c.ListenPort}
	sc.RouterID, _ = netip.ParseAddr(c.RouterID)
	if c.ListenAddress != "" {
		sc.ListenAddresses = []string{c.ListenAddress}
	}
	for _, p := range c.Peers {
		a, _ := netip.ParseAddr(p.Address)
		pc := speaker.PeerConfig{Address: a.Unmap(), ASN: p.ASN, Name: p.Name, Port: p.Port, Passive: p.Passive,
			MultihopTTL: p.MultihopTTL, Password: p.Password, Families: p.Families, HoldTime: p.HoldTime, ConnectRetry: p.ConnectRetry,
			MaxPrefixes: p.MaxPrefixes, MaxPrefixesRestart: p.MaxPrefixesRestart, AddPath: p.AddPath,
			GracefulRestart: p.GracefulRestart}
		if p.LocalAddress != "" {
			pc.LocalAddress, _ = netip.ParseAddr(p.LocalAddress)
		}
		sc.Peers = append(sc.Peers, pc)
	}
	return sc
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
