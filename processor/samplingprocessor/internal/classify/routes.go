package classify

import "net/netip"

// Route is what the classifier uses of the best route of one side of a flow (filled by the
// caller from the RIB when direction.from_routes is on).
type Route struct {
	OK       bool
	OriginAS uint32
	NextHop  netip.Addr
}

// sideRouted places an endpoint when routes are used: the configured prefixes first (they
// win where given), then the origin of its best route (Azure when in azure_asns; on-premises
// otherwise, or only when in onprem_asns if that list is given), then, without a route, the
// AS number the exporter reported.
func (c *Classifier) sideRouted(a netip.Addr, as uint32, rt *Route) side {
	if !c.cfg.FromRoutes || !rt.OK {
		return c.sideOf(a, as)
	}
	if a.IsValid() {
		if c.cfg.AzurePrefixes.Contains(a) {
			return sideAzure
		}
		if c.cfg.OnpremPrefixes.Contains(a) {
			return sideOnprem
		}
	}
	if c.azureASN.has(rt.OriginAS) {
		return sideAzure
	}
	if len(c.cfg.OnpremASNs) == 0 || c.onpremASN.has(rt.OriginAS) {
		return sideOnprem
	}
	return c.sideOf(netip.Addr{}, as)
}
