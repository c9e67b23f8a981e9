// Package observation names where a flow record was observed: the observation point (a
// stable name: the exporter address and ingress interface of IPFIX / NetFlow records, the
// flow log's target resource for flow logs) and its kind (edge, gateway_subnet, vnet, subnet,
// nic, nsg). It is pure: no collector types, no state.
//
// Azure resource IDs are case-insensitive and arrive in several spellings (NSG flow logs
// upper-case, VNet flow logs mixed case): Point lower-cases them so that one resource is one
// series.
package observation

import (
	"net/netip"
	"strconv"
	"strings"
)

// Kind is the kind of an observation point (the flow.observation.kind value).
type Kind uint8

const (
	KindUnknown Kind = iota
	// KindEdge: an IPFIX / NetFlow exporter (edge router, NVA).
	KindEdge
	// KindGatewaySubnet: a VNet flow log on the GatewaySubnet (the ExpressRoute / VPN gateway).
	KindGatewaySubnet
	// KindVNet: a VNet flow log on a whole virtual network.
	KindVNet
	// KindSubnet: a VNet flow log on a subnet other than the GatewaySubnet.
	KindSubnet
	// KindNIC: a VNet flow log on a network interface.
	KindNIC
	// KindNSG: an NSG flow log (the resource is the network security group).
	KindNSG
	numKinds
)

var kindNames = [numKinds]string{"unknown", "edge", "gateway_subnet", "vnet", "subnet", "nic", "nsg"}

// String returns the flow.observation.kind value.
func (k Kind) String() string {
	if k < numKinds {
		return kindNames[k]
	}
	return kindNames[KindUnknown]
}

// ParseKind is the inverse of String.
func ParseKind(s string) (Kind, bool) {
	for i, n := range kindNames {
		if n == s {
			return Kind(i), true
		}
	}
	return KindUnknown, false
}

// FlowLog reports whether the kind is a flow log's (every kind but edge and unknown).
func (k Kind) FlowLog() bool { return k >= KindGatewaySubnet && k < numKinds }

// NormalizeResourceID returns the canonical spelling of an ARM resource ID: ASCII lower
// case, surrounding blanks and trailing slashes removed, a leading slash ensured. Returns id
// itself (no allocation) when it already is canonical.
func NormalizeResourceID(id string) string {
	id = strings.TrimRight(strings.TrimLeft(id, " \t\r\n"), "/ \t\r\n")
	if id == "" {
		return ""
	}
	for i := 0; i < len(id); i++ {
		if c := id[i]; 'A' <= c && c <= 'Z' {
			// ASCII only: ARM IDs are ASCII, and other bytes are kept as they are.
			b := []byte(id)
			for j := i; j < len(b); j++ {
				if 'A' <= b[j] && b[j] <= 'Z' {
					b[j] += 'a' - 'A'
				}
			}
			id = string(b)
			break
		}
	}
	if id[0] != '/' {
		id = "/" + id
	}
	return id
}

// KindOfResource derives the kind from an ARM resource ID (any case): a network security
// group is nsg, a network interface nic, a virtual network vnet, its subnet GatewaySubnet
// gateway_subnet and any other subnet subnet. Anything else is unknown.
func KindOfResource(id string) Kind {
	id = NormalizeResourceID(id)
	const provider = "/providers/microsoft.network/"
	i := strings.LastIndex(id, provider)
	if i < 0 {
		return KindUnknown
	}
	seg := strings.Split(id[i+len(provider):], "/")
	// seg: type, name[, child type, child name ...]
	if len(seg) < 2 || seg[1] == "" {
		return KindUnknown
	}
	switch seg[0] {
	case "networksecuritygroups":
		if len(seg) == 2 {
			return KindNSG
		}
	case "networkinterfaces":
		if len(seg) == 2 {
			return KindNIC
		}
	case "virtualnetworks":
		switch {
		case len(seg) == 2:
			return KindVNet
		case len(seg) == 4 && seg[2] == "subnets" && seg[3] == "gatewaysubnet":
			return KindGatewaySubnet
		case len(seg) == 4 && seg[2] == "subnets" && seg[3] != "":
			return KindSubnet
		}
	}
	return KindUnknown
}

// FlowLogPoint returns the observation point and kind of a flow log record from its target
// resource (cloud.resource_id). The point is the normalised resource ID.
func FlowLogPoint(resourceID string) (string, Kind) {
	p := NormalizeResourceID(resourceID)
	return p, KindOfResource(p)
}

// EdgePoint returns the observation point of an IPFIX / NetFlow record: the exporter's
// address, followed by "/if/<index>" when the record names its ingress interface (e.g.
// "192.0.2.1/if/3"). Returns "" when the exporter is unknown.
func EdgePoint(exporter netip.Addr, inIf uint32, hasInIf bool) string {
	if !exporter.IsValid() {
		return ""
	}
	b := make([]byte, 0, 48)
	b = exporter.Unmap().AppendTo(b)
	if hasInIf {
		b = append(b, "/if/"...)
		b = strconv.AppendUint(b, uint64(inIf), 10)
	}
	return string(b)
}
