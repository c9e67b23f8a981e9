package classify

import (
	"fmt"
	"net/netip"
	"strconv"
	"strings"
)

// ServiceMap names services by server address and port, or by port alone. Address:port
// entries win over port entries.
type ServiceMap struct {
	byAddrPort map[netip.AddrPort]string
	byPort     map[uint16]string
}

// ParseServiceMap reads entries of the forms "10.1.0.4:443", "[2001:db8::4]:443" and "8443".
func ParseServiceMap(entries map[string]string) (*ServiceMap, error) {
	m := &ServiceMap{byAddrPort: map[netip.AddrPort]string{}, byPort: map[uint16]string{}}
	var bad []string
	for k, name := range entries {
		k = strings.TrimSpace(k)
		if name == "" {
			bad = append(bad, fmt.Sprintf("%q has an empty name", k))
			continue
		}
		if p, err := strconv.ParseUint(k, 10, 16); err == nil {
			if p == 0 {
				bad = append(bad, fmt.Sprintf("%q: port 0", k))
				continue
			}
			m.byPort[uint16(p)] = name
			continue
		}
		ap, err := netip.ParseAddrPort(k)
		if err != nil || ap.Port() == 0 {
			bad = append(bad, fmt.Sprintf("%q is neither a port nor address:port", k))
			continue
		}
		m.byAddrPort[netip.AddrPortFrom(ap.Addr().Unmap(), ap.Port())] = name
	}
	if len(bad) > 0 {
		return nil, fmt.Errorf("services: %s", strings.Join(bad, "; "))
	}
	return m, nil
}

func (m *ServiceMap) lookup(a netip.Addr, port uint16) (string, bool) {
	if port == 0 {
		return "", false
	}
	if len(m.byAddrPort) > 0 && a.IsValid() {
		if n, ok := m.byAddrPort[netip.AddrPortFrom(a.Unmap(), port)]; ok {
			return n, true
		}
	}
	n, ok := m.byPort[port]
	return n, ok
}
