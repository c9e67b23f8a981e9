package samplingprocessor

import (
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/confmap"

	"github.com/erviz/otelcol-erviz/processor/samplingprocessor/internal/accounting"
)

func TestAccountingConfig(t *testing.T) {
	def := createDefaultConfig()
	assert.Equal(t, AccountingConfig{Enabled: true, EdgeSource: "auto", NSG: "auto", CoverageWindow: 15 * time.Minute, MaxEntries: 65536}, def.Accounting)

	cfg := loadConfig(t, "accounting")
	require.NoError(t, confmap.Validate(cfg))
	set, err := cfg.buildAccounting()
	require.NoError(t, err)
	assert.Equal(t, accounting.Config{EdgeSource: accounting.EdgeIPFIX, NSG: accounting.NSGNever, CoverageWindow: 30 * time.Minute, MaxEntries: 1000}, set.policy)
	assert.True(t, set.edgeExporters.Contains(mustAddr("192.0.2.1")))
	assert.Equal(t, []string{"/subnets/gatewaysubnet"}, set.edgeResources)

	bad := createDefaultConfig()
	bad.Accounting = AccountingConfig{EdgeSource: "msee", NSG: "sometimes", CoverageWindow: -time.Second, MaxEntries: -1}
	err = confmap.Validate(bad)
	require.Error(t, err)
	for _, w := range []string{`accounting.edge_source: "msee" is not one of auto, ipfix, gateway_subnet, none`,
		`accounting.nsg: "sometimes" is not one of auto, always, never`, "accounting.coverage_window", "accounting.max_entries"} {
		assert.True(t, strings.Contains(err.Error(), w), "error %q lacks %q", err, w)
	}
}

func mustAddr(s string) netip.Addr { return netip.MustParseAddr(s) }
