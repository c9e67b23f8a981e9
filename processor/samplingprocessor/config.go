package samplingprocessor

import (
	"errors"
	"fmt"
	"net/netip"
	"sort"
	"strings"

	"github.com/erviz/otelcol-erviz/internal/cidrset"
	"github.com/erviz/otelcol-erviz/processor/samplingprocessor/internal/classify"
)

// Config of the sampling processor. See README.md for every option.
type Config struct {
	Rescale      RescaleConfig      `mapstructure:"rescale"`
	Direction    DirectionConfig    `mapstructure:"direction"`
	Hairpin      HairpinConfig      `mapstructure:"hairpin"`
	Links        []LinkConfig       `mapstructure:"links"`
	Services     map[string]string  `mapstructure:"services"`
	ControlPlane ControlPlaneConfig `mapstructure:"control_plane"`
	Accounting   AccountingConfig   `mapstructure:"accounting"`
	// Routing names the bgp receiver whose RIB tags the flows (routing.go).
	Routing RoutingConfig `mapstructure:"routing"`
}

// RescaleConfig says how sampled counts are scaled up.
type RescaleConfig struct {
	// Enabled turns rescaling off when false (tagging still happens).
	Enabled bool `mapstructure:"enabled"`
	// DefaultRate applies to records that carry no rate and match no entry of Rates; 0 = none.
	DefaultRate uint64 `mapstructure:"default_rate"`
	// L2OverheadBytes is added per packet before multiplying (14 in Microsoft's ERTC queries).
	L2OverheadBytes uint64 `mapstructure:"l2_overhead_bytes"`
	// Rates are per-exporter (and optionally per-link) rates, first match wins.
	Rates []RateConfig `mapstructure:"rates"`
}

// RateConfig is one sampling-rate rule.
type RateConfig struct {
	// Exporters are CIDRs or addresses of flow.exporter.address; empty = any exporter.
	Exporters []string `mapstructure:"exporters"`
	// Link restricts the rule to records of that configured link.
	Link string `mapstructure:"link"`
	// Rate is the 1-in-N packet sampling rate.
	Rate uint64 `mapstructure:"rate"`
	// Force applies Rate even when the record carries its own flow.sampling_rate.
	Force bool `mapstructure:"force"`
}

// DirectionConfig places addresses on the Azure or the on-premises side.
type DirectionConfig struct {
	AzureASNs      []uint32 `mapstructure:"azure_asns"`
	OnpremASNs     []uint32 `mapstructure:"onprem_asns"`
	AzurePrefixes  []string `mapstructure:"azure_prefixes"`
	OnpremPrefixes []string `mapstructure:"onprem_prefixes"`
	// FromRoutes places sides by the origin AS of their best route (needs routing.source).
	FromRoutes bool `mapstructure:"from_routes"`
}

// HairpinConfig says which observation points sit at the Azure edge.
type HairpinConfig struct {
	// EdgeExporters: IPFIX/NetFlow exporters at the edge; empty = every exporter.
	EdgeExporters []string `mapstructure:"edge_exporters"`
	// EdgeResources: substrings of cloud.resource_id (case-insensitive) of flow logs taken at the edge.
	EdgeResources []string `mapstructure:"edge_resources"`
}

// LinkConfig names a link by next hops, exporter interfaces and/or whole exporters.
type LinkConfig struct {
	Name       string            `mapstructure:"name"`
	NextHops   []string          `mapstructure:"next_hops"`
	Interfaces []InterfaceConfig `mapstructure:"interfaces"`
	// Exporters: every record of these exporters (CIDRs) is on the link (one edge router
	// per link, e.g. the primary and the secondary customer edge of a circuit).
	Exporters []string `mapstructure:"exporters"`
}

// InterfaceConfig is an interface of an exporter (ingress or egress).
type InterfaceConfig struct {
	Exporter string `mapstructure:"exporter"`
	IfIndex  uint32 `mapstructure:"if_index"`
}

// ControlPlaneConfig names the link subnets between which BGP, BFD and ICMP are control plane.
type ControlPlaneConfig struct {
	Prefixes []string `mapstructure:"prefixes"`
}

func createDefaultConfig() *Config {
	return &Config{
		Rescale:      RescaleConfig{Enabled: true},
		Direction:    DirectionConfig{AzureASNs: []uint32{65515}},
		Hairpin:      HairpinConfig{EdgeResources: []string{"/subnets/GatewaySubnet"}},
		ControlPlane: ControlPlaneConfig{Prefixes: []string{"169.254.0.0/16"}},
		Accounting:   defaultAccountingConfig(),
		Routing:      RoutingConfig{ConvergenceTimeout: defaultConvergenceTimeout},
	}
}

// Validate checks the configuration; the error lists every problem.
func (c *Config) Validate() error {
	_, err := c.build()
	_, aerr := c.buildAccounting()
	return errors.Join(err, aerr)
}

// build turns the configuration into the classifier's.
func (c *Config) build() (classify.Config, error) {
	var errs []error
	set := func(what string, cidrs []string) *cidrset.Set {
		s, err := cidrset.NewSet(cidrs)
		if err != nil {
			errs = append(errs, fmt.Errorf("%s: %w", what, err))
		}
		return s
	}
	out := classify.Config{
		DefaultRate:     c.Rescale.DefaultRate,
		L2OverheadBytes: c.Rescale.L2OverheadBytes,
		AzureASNs:       c.Direction.AzureASNs,
		OnpremASNs:      c.Direction.OnpremASNs,
		AzurePrefixes:   set("direction.azure_prefixes", c.Direction.AzurePrefixes),
		OnpremPrefixes:  set("direction.onprem_prefixes", c.Direction.OnpremPrefixes),
		EdgeResources:   c.Hairpin.EdgeResources,
		FromRoutes:      c.Direction.FromRoutes,
	}
	errs = append(errs, c.routingErrors()...)
	if len(c.Hairpin.EdgeExporters) > 0 {
		out.EdgeExporters = set("hairpin.edge_exporters", c.Hairpin.EdgeExporters)
	}
	out.ControlPlanePrefixes = set("control_plane.prefixes", c.ControlPlane.Prefixes)

	if out.AzurePrefixes != nil && out.OnpremPrefixes != nil {
		for _, p := range out.AzurePrefixes.Overlapping(out.OnpremPrefixes) {
			errs = append(errs, fmt.Errorf("direction: %s (azure_prefixes) overlaps %s (onprem_prefixes); a prefix is on one side only", p[0], p[1]))
		}
	}
	for _, a := range c.Direction.AzureASNs {
		for _, o := range c.Direction.OnpremASNs {
			if a == o {
				errs = append(errs, fmt.Errorf("direction: ASN %d is in both azure_asns and onprem_asns", a))
			}
		}
	}

	links := map[string]bool{}
	for i, l := range c.Links {
		if l.Name == "" {
			errs = append(errs, fmt.Errorf("links[%d]: name is empty", i))
			continue
		}
		if links[l.Name] {
			errs = append(errs, fmt.Errorf("links[%d]: name %q is used twice", i, l.Name))
		}
		links[l.Name] = true
		if len(l.NextHops) == 0 && len(l.Interfaces) == 0 && len(l.Exporters) == 0 {
			errs = append(errs, fmt.Errorf("links[%d] %q: give next_hops, interfaces or exporters", i, l.Name))
		}
		link := classify.Link{Name: l.Name}
		if len(l.NextHops) > 0 {
			link.NextHops = set(fmt.Sprintf("links[%d].next_hops", i), l.NextHops)
		}
		if len(l.Exporters) > 0 {
			link.Exporters = set(fmt.Sprintf("links[%d].exporters", i), l.Exporters)
		}
		for j, itf := range l.Interfaces {
			a, err := netip.ParseAddr(strings.TrimSpace(itf.Exporter))
			if err != nil {
				errs = append(errs, fmt.Errorf("links[%d].interfaces[%d].exporter: %q is not an IP address", i, j, itf.Exporter))
				continue
			}
			link.Interfaces = append(link.Interfaces, classify.Interface{Exporter: a.Unmap(), IfIndex: itf.IfIndex})
		}
		out.Links = append(out.Links, link)
	}

	for i, r := range c.Rescale.Rates {
		if r.Rate == 0 {
			errs = append(errs, fmt.Errorf("rescale.rates[%d]: rate must be at least 1 (1 = unsampled)", i))
		}
		if r.Link != "" && !links[r.Link] {
			errs = append(errs, fmt.Errorf("rescale.rates[%d]: unknown link %q (links: %s)", i, r.Link, strings.Join(keys(links), ", ")))
		}
		rule := classify.RateRule{Link: r.Link, Rate: r.Rate, Force: r.Force}
		if len(r.Exporters) > 0 {
			rule.Exporters = set(fmt.Sprintf("rescale.rates[%d].exporters", i), r.Exporters)
		}
		out.Rates = append(out.Rates, rule)
	}

	if len(c.Services) > 0 {
		sm, err := classify.ParseServiceMap(c.Services)
		if err != nil {
			errs = append(errs, err)
		}
		out.Services = sm
	}
	return out, errors.Join(errs...)
}

func keys(m map[string]bool) []string {
	var out []string
	for k := range m {
		out = append(out, k)
	}
	if len(out) == 0 {
		return []string{"none configured"}
	}
	sort.Strings(out)
	return out
}
