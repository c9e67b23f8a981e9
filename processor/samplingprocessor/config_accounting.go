package samplingprocessor

import (
	"errors"
	"fmt"
	"time"

	"github.com/erviz/otelcol-erviz/internal/cidrset"
	"github.com/erviz/otelcol-erviz/processor/samplingprocessor/internal/accounting"
)

// AccountingConfig sets which observation of a piece of traffic counts (flow.counted).
// README.md, "Accounting", explains the policy.
type AccountingConfig struct {
	// Enabled: false leaves flow.counted unset (flow.observation.* are still set).
	Enabled bool `mapstructure:"enabled"`
	// EdgeSource: which source counts traffic crossing the edge: auto (edge IPFIX where seen
	// around the record's time, else the GatewaySubnet flow log), ipfix, gateway_subnet, none
	// (no edge observation deployed: spoke flow logs count it).
	EdgeSource string `mapstructure:"edge_source"`
	// NSG: when NSG flow logs count: auto (only for NICs without VNet flow logs), always, never.
	NSG string `mapstructure:"nsg"`
	// CoverageWindow: a source is present at time t when one of its records was seen within
	// t ± coverage_window.
	CoverageWindow time.Duration `mapstructure:"coverage_window"`
	// MaxEntries caps each learned table (hairpin address pairs, NICs with VNet flow logs).
	MaxEntries int `mapstructure:"max_entries"`
}

func defaultAccountingConfig() AccountingConfig {
	return AccountingConfig{Enabled: true, EdgeSource: "auto", NSG: "auto", CoverageWindow: 15 * time.Minute, MaxEntries: 65536}
}

// accountingSetup is the parsed accounting configuration.
type accountingSetup struct {
	enabled bool
	policy  accounting.Config
	// edgeExporters: hairpin.edge_exporters (nil: every exporter is at the edge).
	edgeExporters *cidrset.Set
	// edgeResources: hairpin.edge_resources, lower case.
	edgeResources []string
}

func (c *Config) buildAccounting() (accountingSetup, error) {
	a := c.Accounting
	var errs []error
	out := accountingSetup{enabled: a.Enabled, policy: accounting.Config{CoverageWindow: a.CoverageWindow, MaxEntries: a.MaxEntries}}
	switch a.EdgeSource {
	case "", "auto":
		out.policy.EdgeSource = accounting.EdgeAuto
	case "ipfix":
		out.policy.EdgeSource = accounting.EdgeIPFIX
	case "gateway_subnet":
		out.policy.EdgeSource = accounting.EdgeGatewaySubnet
	case "none":
		out.policy.EdgeSource = accounting.EdgeNone
	default:
		errs = append(errs, fmt.Errorf("accounting.edge_source: %q is not one of auto, ipfix, gateway_subnet, none", a.EdgeSource))
	}
	switch a.NSG {
	case "", "auto":
		out.policy.NSG = accounting.NSGAuto
	case "always":
		out.policy.NSG = accounting.NSGAlways
	case "never":
		out.policy.NSG = accounting.NSGNever
	default:
		errs = append(errs, fmt.Errorf("accounting.nsg: %q is not one of auto, always, never", a.NSG))
	}
	if a.CoverageWindow < 0 || a.CoverageWindow > 12*time.Hour {
		errs = append(errs, fmt.Errorf("accounting.coverage_window: %s is outside 0..12h", a.CoverageWindow))
	}
	if a.MaxEntries < 0 {
		errs = append(errs, fmt.Errorf("accounting.max_entries: %d is negative", a.MaxEntries))
	}
	if len(c.Hairpin.EdgeExporters) > 0 {
		s, err := cidrset.NewSet(c.Hairpin.EdgeExporters)
		if err == nil {
			out.edgeExporters = s
		} // else reported by build()
	}
	for _, r := range c.Hairpin.EdgeResources {
		out.edgeResources = append(out.edgeResources, toLowerASCII(r))
	}
	return out, errors.Join(errs...)
}

func toLowerASCII(s string) string {
	b := []byte(s)
	for i, c := range b {
		if 'A' <= c && c <= 'Z' {
			b[i] = c + ('a' - 'A')
		}
	}
	return string(b)
}
