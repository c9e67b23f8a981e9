package ipfixreceiver

import (
	"cmp"
	"fmt"
	"net"
	"slices"
	"strconv"

	"github.com/erviz/otelcol-erviz/pkg/ipfix"
)

// decoderConfig maps the configuration onto the decoder's limits.
func (c *Config) decoderConfig() ipfix.Config {
	return ipfix.Config{
		TemplateTTL:             c.TemplateTTL,
		MaxExporters:            c.MaxExporters,
		MaxDomainsPerExporter:   c.MaxDomainsPerExporter,
		MaxTemplatesPerExporter: c.MaxTemplatesPerExporter,
		MaxTemplates:            c.MaxTemplates,
		MaxTemplateBytes:        c.MaxTemplateBytes,
		MaxFieldsPerTemplate:    c.MaxFieldsPerTemplate,
		MaxSequenceGap:          c.MaxSequenceGap,
	}
}

// validateLimits checks the bounds, and what otherwise only fails at start.
func (c *Config) validateLimits() []error {
	var errs []error
	positive := []struct {
		name string
		v    int
		max  int
	}{
		{"max_domains_per_exporter", c.MaxDomainsPerExporter, 0xFFFF},
		{"max_templates", c.MaxTemplates, 1 << 24},
		{"max_template_bytes", c.MaxTemplateBytes, 1 << 32},
		{"max_fields_per_template", c.MaxFieldsPerTemplate, 0xFFFF},
		{"max_sequence_gap", c.MaxSequenceGap, 1<<31 - 1},
		{"max_exporter_series", c.MaxExporterSeries, 1 << 20},
		{"max_connections_per_exporter", c.MaxConnectionsPerExporter, 1 << 16},
	}
	for _, p := range positive {
		if p.v < 1 || p.v > p.max {
			errs = append(errs, fmt.Errorf("%s %d: use 1 to %d", p.name, p.v, p.max))
		}
	}
	if c.MaxTemplatesPerExporter > c.MaxTemplates {
		errs = append(errs, fmt.Errorf("max_templates_per_exporter %d is above max_templates %d", c.MaxTemplatesPerExporter, c.MaxTemplates))
	}
	if c.IdleTimeout < 0 {
		errs = append(errs, fmt.Errorf("idle_timeout %s is negative (0 takes the default)", c.IdleTimeout))
	}
	if host, port, err := net.SplitHostPort(c.Endpoint); err == nil {
		if n, perr := strconv.Atoi(port); perr != nil {
			// A service name is looked up in the local services database, as at start.
			network := "udp"
			if c.Transport == "tcp" {
				network = "tcp"
			}
			if _, lerr := net.LookupPort(network, port); lerr != nil {
				errs = append(errs, fmt.Errorf("endpoint %q: port %q is neither a number nor a known %s service", c.Endpoint, port, network))
			}
		} else if n < 0 || n > 65535 {
			errs = append(errs, fmt.Errorf("endpoint %q: port %q is not a number from 0 to 65535", c.Endpoint, port))
		}
		if host != "" && net.ParseIP(host) == nil && !validHostname(host) {
			errs = append(errs, fmt.Errorf("endpoint %q: host %q is neither an IP address nor a host name", c.Endpoint, host))
		}
	}
	// tls is validated by configtls itself (a server needs a certificate and a key).
	return errs
}

// validHostname checks RFC 1123 host name syntax.
func validHostname(h string) bool {
	if len(h) > 253 {
		return false
	}
	label := 0
	for i := 0; i < len(h); i++ {
		ch := h[i]
		switch {
		case ch == '.':
			if label == 0 {
				return false
			}
			label = 0
			continue
		case ch >= 'a' && ch <= 'z', ch >= 'A' && ch <= 'Z', ch >= '0' && ch <= '9':
		case ch == '-' && label > 0:
		default:
			return false
		}
		label++
		if label > 63 {
			return false
		}
	}
	return label > 0 || len(h) > 0
}

// mostActive keeps the n domains with the most records (stable from one interval to the
// next for steady exporters).
func mostActive(ds []ipfix.DomainStats, n int) []ipfix.DomainStats {
	slices.SortStableFunc(ds, func(a, b ipfix.DomainStats) int { return cmp.Compare(b.Records, a.Records) })
	return ds[:n]
}
