package classify

import (
	"testing"

	"github.com/erviz/otelcol-erviz/internal/cidrset"
)

func azureRoute() Route  { return Route{OK: true, OriginAS: 65515, NextHop: ip("169.254.0.2")} }
func onpremRoute() Route { return Route{OK: true, OriginAS: 65001, NextHop: ip("10.255.0.1")} }
func defaultRoute() Route {
	return Route{OK: true, OriginAS: 65099, NextHop: ip("10.255.0.9")}
}

func TestDirectionFromRoutes(t *testing.T) {
	fromRoutes := func(onprem []uint32, azurePfx, onpremPfx *cidrset.Set) *Classifier {
		return New(Config{FromRoutes: true, AzureASNs: []uint32{65515}, OnpremASNs: onprem,
			AzurePrefixes: azurePfx, OnpremPrefixes: onpremPfx})
	}
	cases := []struct {
		name     string
		c        *Classifier
		src, dst Route
		srcAS    uint32
		want     Direction
	}{
		{"onprem to azure by routes", fromRoutes(nil, nil, nil), onpremRoute(), azureRoute(), 0, DirToAzure},
		{"azure to onprem by routes", fromRoutes(nil, nil, nil), azureRoute(), onpremRoute(), 0, DirFromAzure},
		{"azure to azure", fromRoutes(nil, nil, nil), azureRoute(), azureRoute(), 0, DirAzureInternal},
		{"onprem to onprem", fromRoutes(nil, nil, nil), onpremRoute(), defaultRoute(), 0, DirOnpremInternal},
		// onprem_asns given: a route of another origin (a default route) places nothing.
		{"onprem_asns keeps the default route out", fromRoutes([]uint32{65001}, nil, nil), defaultRoute(), azureRoute(), 0, DirToAzure},
		{"onprem_asns: unknown side", fromRoutes([]uint32{65001}, nil, nil), onpremRoute(), defaultRoute(), 0, DirUnknown},
		// No route: the record's AS, then nothing.
		{"no route, record AS", fromRoutes(nil, nil, nil), Route{}, onpremRoute(), 65515, DirFromAzure},
		{"no route at all", fromRoutes(nil, nil, nil), Route{}, Route{}, 0, DirUnknown},
		// Explicit prefixes win over the route.
		{"prefix wins", fromRoutes(nil, nil, cidrset.MustSet("10.1.0.0/16")), onpremRoute(), azureRoute(), 0, DirOnpremInternal},
		// No route for the side: the prefix lists place it.
		{"no route, prefix", fromRoutes(nil, cidrset.MustSet("10.1.0.0/16"), nil), onpremRoute(), Route{}, 0, DirToAzure},
		// from_routes off: routes are ignored.
		{"off", New(Config{AzureASNs: []uint32{65515}}), onpremRoute(), azureRoute(), 0, DirUnknown},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			f := tcp("192.168.1.10", 50000, "10.1.0.4", 443)
			f.SrcRoute, f.DstRoute, f.SrcAS = tc.src, tc.dst, tc.srcAS
			var r Result
			tc.c.Classify(&f, false, &r)
			if r.Direction != tc.want {
				t.Fatalf("direction %v, want %v", r.Direction, tc.want)
			}
		})
	}
}

func TestClassifyWithRoutesDoesNotAllocate(t *testing.T) {
	c := New(Config{FromRoutes: true, AzureASNs: []uint32{65515}})
	f := tcp("192.168.1.10", 50000, "10.1.0.4", 443)
	f.SrcRoute, f.DstRoute = onpremRoute(), azureRoute()
	var r Result
	if n := testing.AllocsPerRun(100, func() { c.Classify(&f, true, &r) }); n != 0 {
		t.Fatalf("%.1f allocations", n)
	}
	if r.Direction != DirToAzure {
		t.Fatalf("direction %v", r.Direction)
	}
}
