package report

import (
	"sort"

	"go.opentelemetry.io/collector/pdata/pcommon"

	"github.com/erviz/otelcol-erviz/internal/schema"
)

// RouteTraffic is the traffic that rode routes of one class: a record's forward bytes count
// for its destination's route, its reverse bytes (flow logs) for its source's.
type RouteTraffic struct {
	Class   string `json:"class"`
	Bytes   int64  `json:"bytes"`
	Packets int64  `json:"packets"`
	Records int    `json:"records"`
}

// AtRisk is the traffic towards a destination prefix that was in an open condition
// (flow.route.condition) when the record was tagged.
type AtRisk struct {
	Condition string `json:"condition"`
	Prefix    string `json:"prefix"`
	Class     string `json:"class"`
	Bytes     int64  `json:"bytes"`
	Packets   int64  `json:"packets"`
	Records   int    `json:"records"`
}

// noRoute is the class of traffic to an address without a route.
const noRoute = "(no route)"

// routeAcc accumulates the routing sections.
type routeAcc struct {
	tagged  int // records tagged from a converged RIB
	pending int
	classes map[string]*RouteTraffic
	risk    map[AtRisk]*AtRisk
}

// addRoutes counts a flow record for the routing sections.
func (b *Builder) addRoutes(at pcommon.Map, fwd, rev, pk, rpk int64) {
	state := str(at, schema.FlowRouteState)
	if state == "" {
		return
	}
	if b.routing == nil {
		b.routing = &routeAcc{classes: map[string]*RouteTraffic{}, risk: map[AtRisk]*AtRisk{}}
	}
	acc := b.routing
	if state == schema.RouteStatePending {
		acc.pending++
		return
	}
	acc.tagged++
	add := func(class string, bytes, packets int64) {
		if class == "" {
			class = noRoute
		}
		c := acc.classes[class]
		if c == nil {
			c = &RouteTraffic{Class: class}
			acc.classes[class] = c
		}
		c.Bytes += bytes
		c.Packets += packets
		c.Records++
	}
	dstClass := str(at, schema.FlowDstRouteClass)
	add(dstClass, fwd, pk)
	if rev > 0 || rpk > 0 {
		add(str(at, schema.FlowSrcRouteClass), rev, rpk)
	}
	if cond := str(at, schema.FlowRouteCondition); cond != "" {
		k := AtRisk{Condition: cond, Prefix: str(at, schema.FlowDstRoutePrefix), Class: dstClass}
		r := acc.risk[k]
		if r == nil {
			r = &AtRisk{}
			*r = k
			acc.risk[k] = r
		}
		r.Bytes += fwd
		r.Packets += pk
		r.Records++
	}
}

// routeReport fills the routing sections of r.
func (b *Builder) routeReport(r *Report) {
	r.TrafficPerRouteClass, r.TrafficAtRisk = nil, nil
	if b.routing == nil {
		return
	}
	r.RouteTagged, r.RoutePending = b.routing.tagged, b.routing.pending
	for _, c := range b.routing.classes {
		r.TrafficPerRouteClass = append(r.TrafficPerRouteClass, *c)
	}
	sort.Slice(r.TrafficPerRouteClass, func(i, j int) bool {
		a, c := r.TrafficPerRouteClass[i], r.TrafficPerRouteClass[j]
		if a.Bytes != c.Bytes {
			return a.Bytes > c.Bytes
		}
		return a.Class < c.Class
	})
	for _, k := range b.routing.risk {
		r.TrafficAtRisk = append(r.TrafficAtRisk, *k)
	}
	sort.Slice(r.TrafficAtRisk, func(i, j int) bool {
		a, c := r.TrafficAtRisk[i], r.TrafficAtRisk[j]
		if a.Bytes != c.Bytes {
			return a.Bytes > c.Bytes
		}
		return a.Condition+a.Prefix < c.Condition+c.Prefix
	})
}

// writeRoutesText prints the routing sections.
func writeRoutesText(p func(format string, a ...any), r Report) {
	p("\n== Traffic per route class (the route each byte rode, from the bgp receiver's RIB)\n")
	switch {
	case r.RouteTagged == 0 && r.RoutePending == 0:
		p("(no record carries flow.route.*: set sampling.routing.source)\n")
	case r.RouteTagged == 0:
		p("(%d records tagged while the RIB was still converging: flow.route.state=pending)\n", r.RoutePending)
	default:
		p("class\tbytes\tpackets\trecords\n")
		for _, c := range r.TrafficPerRouteClass {
			p("%s\t%s\t%d\t%d\n", c.Class, human(c.Bytes), c.Packets, c.Records)
		}
		if r.RoutePending > 0 {
			p("(and %d records tagged while the RIB was converging)\n", r.RoutePending)
		}
	}

	p("\n== Traffic at risk (towards a prefix that lost its redundancy or overlaps another origin)\n")
	if len(r.TrafficAtRisk) == 0 {
		if r.RouteTagged > 0 {
			p("(none)\n")
		} else {
			p("(no record tagged from routes)\n")
		}
		return
	}
	p("condition\tprefix\tclass\tbytes\tpackets\trecords\n")
	for _, a := range r.TrafficAtRisk {
		p("%s\t%s\t%s\t%s\t%d\t%d\n", a.Condition, a.Prefix, a.Class, human(a.Bytes), a.Packets, a.Records)
	}
}
