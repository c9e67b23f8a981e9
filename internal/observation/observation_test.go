package observation

import (
	"net/netip"
	"testing"
)

func TestKindOfResource(t *testing.T) {
	cases := map[string]Kind{
		// As the hub-and-spoke sample's VNet flow logs spell them (mixed case).
		"/subscriptions/6f1c2a4e-8b3d-4c7a-9e21-5d0b7a3c9f10/resourceGroups/rg-network/providers/Microsoft.Network/virtualNetworks/vnet-hub/subnets/GatewaySubnet": KindGatewaySubnet,
		"/subscriptions/s/resourceGroups/rg/providers/Microsoft.Network/virtualNetworks/vnet-spoke1":                                                               KindVNet,
		"/subscriptions/s/resourceGroups/rg/providers/Microsoft.Network/virtualNetworks/vnet-spoke1/subnets/app":                                                   KindSubnet,
		"/subscriptions/s/resourceGroups/rg/providers/Microsoft.Network/networkInterfaces/vm1-nic":                                                                 KindNIC,
		// NSG flow logs spell them upper case.
		"/SUBSCRIPTIONS/6F1C2A4E/RESOURCEGROUPS/RG-SPOKE2/PROVIDERS/MICROSOFT.NETWORK/NETWORKSECURITYGROUPS/NSG-SPOKE2-DB": KindNSG,
		"/subscriptions/s/resourceGroups/rg/providers/Microsoft.Network/virtualNetworks/vnet-hub/subnets/gatewaysubnet/":   KindGatewaySubnet,
		"subscriptions/s/resourceGroups/rg/providers/Microsoft.Network/networkSecurityGroups/n":                            KindNSG,
		// Not a flow log target.
		"/subscriptions/s/resourceGroups/rg/providers/Microsoft.Compute/virtualMachines/vm1":                     KindUnknown,
		"/subscriptions/s/resourceGroups/rg/providers/Microsoft.Network/virtualNetworks/":                        KindUnknown,
		"/subscriptions/s/resourceGroups/rg/providers/Microsoft.Network/virtualNetworks/v/subnets/":              KindUnknown, // a subnet without a name
		"/subscriptions/s/resourceGroups/rg/providers/Microsoft.Network/networkSecurityGroups/n/securityRules/r": KindUnknown,
		"": KindUnknown,
	}
	for id, want := range cases {
		if got := KindOfResource(id); got != want {
			t.Errorf("KindOfResource(%q) = %s, want %s", id, got, want)
		}
	}
}

func TestOneResourceOneSeries(t *testing.T) {
	// The same NSG as an NSG flow log (upper case) and as written in a portal export.
	a, ka := FlowLogPoint("/SUBSCRIPTIONS/6F1C2A4E/RESOURCEGROUPS/RG-SPOKE2/PROVIDERS/MICROSOFT.NETWORK/NETWORKSECURITYGROUPS/NSG-SPOKE2-DB")
	b, kb := FlowLogPoint(" /subscriptions/6f1c2a4e/resourceGroups/rg-spoke2/providers/Microsoft.Network/networkSecurityGroups/nsg-spoke2-db/ ")
	if a != b || ka != kb || ka != KindNSG {
		t.Fatalf("%q (%s) != %q (%s)", a, ka, b, kb)
	}
	if a != "/subscriptions/6f1c2a4e/resourcegroups/rg-spoke2/providers/microsoft.network/networksecuritygroups/nsg-spoke2-db" {
		t.Fatalf("point %q", a)
	}
	canonical := "/subscriptions/s/resourcegroups/rg/providers/microsoft.network/virtualnetworks/v"
	if n := testing.AllocsPerRun(100, func() { _ = NormalizeResourceID(canonical) }); n != 0 {
		t.Errorf("normalising a canonical ID allocates %v times", n)
	}
}

func TestEdgePoint(t *testing.T) {
	cases := []struct {
		exp   string
		inIf  uint32
		has   bool
		point string
	}{
		{"192.0.2.1", 3, true, "192.0.2.1/if/3"},
		{"192.0.2.1", 0, false, "192.0.2.1"},
		{"::ffff:192.0.2.1", 0, true, "192.0.2.1/if/0"},
		{"2001:db8::1", 12, true, "2001:db8::1/if/12"},
	}
	for _, c := range cases {
		if got := EdgePoint(netip.MustParseAddr(c.exp), c.inIf, c.has); got != c.point {
			t.Errorf("EdgePoint(%s, %d, %v) = %q, want %q", c.exp, c.inIf, c.has, got, c.point)
		}
	}
	if got := EdgePoint(netip.Addr{}, 1, true); got != "" {
		t.Errorf("no exporter: %q", got)
	}
}

func TestKindNames(t *testing.T) {
	for k := KindUnknown; k < numKinds; k++ {
		back, ok := ParseKind(k.String())
		if !ok || back != k {
			t.Errorf("ParseKind(%q) = %v, %v", k.String(), back, ok)
		}
	}
	if _, ok := ParseKind("router"); ok {
		t.Error("ParseKind accepted an unknown kind")
	}
	if KindEdge.FlowLog() || !KindNSG.FlowLog() || !KindGatewaySubnet.FlowLog() || KindUnknown.FlowLog() {
		t.Error("FlowLog() is wrong")
	}
}

// FuzzFlowLogPoint: any resource ID (flow log blobs are untrusted) gives a point without
// panicking; normalising is idempotent and the kind does not depend on case.
func FuzzFlowLogPoint(f *testing.F) {
	f.Add("/subscriptions/s/resourceGroups/rg/providers/Microsoft.Network/virtualNetworks/v/subnets/GatewaySubnet")
	f.Add("/SUBSCRIPTIONS/S/RESOURCEGROUPS/RG/PROVIDERS/MICROSOFT.NETWORK/NETWORKSECURITYGROUPS/N")
	f.Add("providers/microsoft.network/")
	f.Add("")
	f.Fuzz(func(t *testing.T, id string) {
		p, k := FlowLogPoint(id)
		if again := NormalizeResourceID(p); again != p {
			t.Fatalf("not idempotent: %q -> %q -> %q", id, p, again)
		}
		if _, k2 := FlowLogPoint(p); k2 != k {
			t.Fatalf("kind of %q is %s, of its point %q %s", id, k, p, k2)
		}
	})
}
