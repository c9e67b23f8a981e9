package samplingprocessor

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync/atomic"
	"time"

	"go.opentelemetry.io/collector/component"
	"go.opentelemetry.io/collector/pdata/pcommon"

	"github.com/erviz/otelcol-erviz/internal/ribregistry"
	"github.com/erviz/otelcol-erviz/internal/schema"
	"github.com/erviz/otelcol-erviz/pkg/rib"
	"github.com/erviz/otelcol-erviz/processor/samplingprocessor/internal/classify"
)

// RoutingConfig names the bgp receiver whose RIB tags the flows.
type RoutingConfig struct {
	// Source is the component ID of a bgp receiver of this collector (e.g. bgp/edge).
	Source string `mapstructure:"source"`
	// ConvergenceTimeout: records say flow.route.state=pending until the receiver's RIB has
	// converged or this long after the receiver started (default 5m; 0 waits for
	// convergence only).
	ConvergenceTimeout time.Duration `mapstructure:"convergence_timeout"`
	// WaitForConvergence holds the records that arrive within this long after the processor
	// started until the RIB has converged (the pipeline waits), instead of tagging them
	// pending; for sources that converge quickly, such as MRT files (default 0: no wait).
	WaitForConvergence time.Duration `mapstructure:"wait_for_convergence"`
	// Attributes are the route fields written for each side: prefix, class, origin_as,
	// as_path, next_hop, peer (default: all). Fewer attributes cost less per record.
	Attributes []string `mapstructure:"attributes"`
}

// Route fields (routing.attributes).
const (
	fieldPrefix uint8 = 1 << iota
	fieldClass
	fieldOriginAS
	fieldASPath
	fieldNextHop
	fieldPeer
	allFields = 1<<iota - 1
)

var fieldNames = map[string]uint8{"prefix": fieldPrefix, "class": fieldClass, "origin_as": fieldOriginAS,
	"as_path": fieldASPath, "next_hop": fieldNextHop, "peer": fieldPeer}

// routeFields parses routing.attributes (nil: every field).
func routeFields(names []string) (uint8, error) {
	if names == nil {
		return allFields, nil
	}
	var m uint8
	for i, n := range names {
		f, ok := fieldNames[n]
		if !ok {
			return 0, fmt.Errorf("routing.attributes[%d]: unknown field %q (want prefix, class, origin_as, as_path, next_hop, peer)", i, n)
		}
		m |= f
	}
	return m, nil
}

const defaultConvergenceTimeout = 5 * time.Minute

// routingErrors validates the routing settings.
func (c *Config) routingErrors() []error {
	var errs []error
	if c.Routing.Source != "" {
		var id component.ID
		if err := id.UnmarshalText([]byte(c.Routing.Source)); err != nil {
			errs = append(errs, fmt.Errorf("routing.source: %q is not a component ID: %w", c.Routing.Source, err))
		} else if id.Type().String() != "bgp" {
			errs = append(errs, fmt.Errorf("routing.source: %q is not a bgp receiver (want bgp or bgp/<name>)", c.Routing.Source))
		}
	}
	if _, err := routeFields(c.Routing.Attributes); err != nil {
		errs = append(errs, err)
	}
	if c.Routing.WaitForConvergence < 0 {
		errs = append(errs, errors.New("routing.wait_for_convergence: must not be negative"))
	}
	if c.Routing.ConvergenceTimeout < 0 {
		errs = append(errs, errors.New("routing.convergence_timeout: must not be negative"))
	}
	if c.Direction.FromRoutes && c.Routing.Source == "" {
		errs = append(errs, errors.New("direction.from_routes: needs routing.source (the bgp receiver whose routes place the sides)"))
	}
	return errs
}

// router looks flows up in the RIB of a bgp receiver. The RIB is shared, not copied; every
// record reads it as it is at that instant.
type router struct {
	id      component.ID
	timeout time.Duration
	src     *ribregistry.Source
	ready   atomic.Bool // sticky once the RIB converged or the timeout passed
	wait    time.Duration
	waitEnd time.Time // start + wait
	fields  uint8     // routing.attributes
	// lookupOnly skips writing the attributes (benchmarks: the cost of the look-ups alone).
	lookupOnly bool
	// prefixes caches the text of the route prefixes (flow.*.route.prefix).
	prefixes prefixTexts
}

// write stores the route attributes of one record.
func (rt *router) write(attrs pcommon.Map, t *routeTags, f *classify.Flow) {
	if !rt.lookupOnly {
		t.write(attrs, f, rt.fields, &rt.prefixes)
	}
}

// reserve makes room in a record's attributes for all that the processor and the routing
// add, before either adds any: pdata copies every attribute of the record each time it grows
// the record's attributes, so they grow once.
func (rt *router) reserve(attrs pcommon.Map) {
	attrs.EnsureCapacity(attrs.Len() + maxAdded + maxRouteAdded)
}

func newRouter(c *Config) *router {
	if c.Routing.Source == "" {
		return nil
	}
	var id component.ID
	_ = id.UnmarshalText([]byte(c.Routing.Source)) // validated
	fields, _ := routeFields(c.Routing.Attributes) // validated
	return &router{id: id, timeout: c.Routing.ConvergenceTimeout, wait: c.Routing.WaitForConvergence, fields: fields}
}

// start finds the bgp receiver's RIB. The collector creates every component before it
// starts any, so the receiver has published it by now, whatever the order.
func (rt *router) start(context.Context, component.Host) error {
	src, ok := ribregistry.Lookup(rt.id)
	if !ok {
		known := ribregistry.IDs()
		if len(known) == 0 {
			known = []string{"none"}
		}
		return fmt.Errorf("routing.source: no bgp receiver %q in this collector's pipelines (bgp receivers: %s)",
			rt.id, strings.Join(known, ", "))
	}
	rt.src = src
	rt.waitEnd = time.Now().Add(rt.wait)
	return nil
}

// awaitReady is isReady, except that until waitEnd it waits for the RIB to converge.
func (rt *router) awaitReady(ctx context.Context) bool {
	for {
		now := time.Now()
		if rt.isReady(now) || !now.Before(rt.waitEnd) {
			return rt.isReady(now)
		}
		t := time.NewTimer(min(10*time.Millisecond, rt.waitEnd.Sub(now)))
		select {
		case <-ctx.Done():
			t.Stop()
			return false
		case <-t.C:
		}
	}
}

// isReady reports whether records are tagged from the RIB (once per batch).
func (rt *router) isReady(now time.Time) bool {
	if rt.ready.Load() {
		return true
	}
	if rt.src != nil && rt.src.Ready(now, rt.timeout) {
		rt.ready.Store(true)
		return true
	}
	return false
}

// routeTags is the per-record scratch space of the routing look-ups.
type routeTags struct {
	ready        bool
	srcOK, dstOK bool
	src, dst     rib.Match
	srcAS, dstAS bool // flow.src_as / flow.dst_as filled from the route
}

// lookup finds the best routes of both sides and feeds them to the classifier: the sides'
// routes, the AS numbers the record lacks, and the destination route's next hop as BGP
// next hop for the links when the record has no next hop.
func (rt *router) lookup(f *classify.Flow, t *routeTags, ready bool) {
	t.ready, t.srcOK, t.dstOK, t.srcAS, t.dstAS = ready, false, false, false, false
	f.SrcRoute, f.DstRoute = classify.Route{}, classify.Route{}
	if !ready {
		return
	}
	r := rt.src.RIB
	if f.Src.IsValid() && r.Lookup(f.Src, &t.src) {
		t.srcOK = true
		f.SrcRoute = classify.Route{OK: true, OriginAS: t.src.OriginASN, NextHop: t.src.Attrs.NextHop}
		if f.SrcAS == 0 && t.src.OriginASN != 0 {
			f.SrcAS, t.srcAS = t.src.OriginASN, true
		}
	}
	if f.Dst.IsValid() && r.Lookup(f.Dst, &t.dst) {
		t.dstOK = true
		f.DstRoute = classify.Route{OK: true, OriginAS: t.dst.OriginASN, NextHop: t.dst.Attrs.NextHop}
		if f.DstAS == 0 && t.dst.OriginASN != 0 {
			f.DstAS, t.dstAS = t.dst.OriginASN, true
		}
		if !f.NextHop.IsValid() && !f.BGPNextHop.IsValid() {
			f.BGPNextHop = t.dst.Attrs.NextHop
		}
	}
}

// maxRouteAdded is the most attributes write adds to one record.
const maxRouteAdded = 16

// write stores the route attributes.
func (t *routeTags) write(attrs pcommon.Map, f *classify.Flow, fields uint8, pt *prefixTexts) {
	if !t.ready {
		attrs.PutStr(schema.FlowRouteState, schema.RouteStatePending)
		return
	}
	attrs.EnsureCapacity(attrs.Len() + maxRouteAdded)
	attrs.PutStr(schema.FlowRouteState, schema.RouteStateConverged)
	if t.srcOK {
		putRoute(attrs, &t.src, fields, pt, schema.FlowSrcRoutePrefix, schema.FlowSrcRouteClass, schema.FlowSrcRouteOriginAS,
			schema.FlowSrcRouteASPath, schema.FlowSrcRouteNextHop, schema.FlowSrcRoutePeer)
		if t.srcAS {
			attrs.PutInt(schema.FlowSrcAS, int64(f.SrcAS))
		}
	}
	if t.dstOK {
		putRoute(attrs, &t.dst, fields, pt, schema.FlowDstRoutePrefix, schema.FlowDstRouteClass, schema.FlowDstRouteOriginAS,
			schema.FlowDstRouteASPath, schema.FlowDstRouteNextHop, schema.FlowDstRoutePeer)
		if t.dstAS {
			attrs.PutInt(schema.FlowDstAS, int64(f.DstAS))
		}
		switch {
		case t.dst.Conditions&rib.CondRedundancyLost != 0:
			attrs.PutStr(schema.FlowRouteCondition, schema.RouteConditionRedundancyLost)
		case t.dst.Conditions&rib.CondOverlap != 0:
			attrs.PutStr(schema.FlowRouteCondition, schema.RouteConditionOverlap)
		}
	}
}

// putRoute writes the route of one side. Every text is shared, not formatted per record: the
// prefix from the router's cache, the AS path and next hop from the RIB's interned attributes,
// the class and peer label from the RIB's tables.
func putRoute(attrs pcommon.Map, m *rib.Match, fields uint8, pt *prefixTexts, prefix, class, origin, path, nextHop, peer string) {
	if fields&fieldPrefix != 0 {
		attrs.PutStr(prefix, pt.text(m.Prefix))
	}
	if fields&fieldClass != 0 {
		attrs.PutStr(class, m.Attrs.Class.String())
	}
	if fields&fieldOriginAS != 0 {
		attrs.PutInt(origin, int64(m.OriginASN))
	}
	if fields&fieldASPath != 0 {
		attrs.PutStr(path, m.ASPathText())
	}
	if fields&fieldNextHop != 0 && m.Attrs.NextHop.IsValid() {
		attrs.PutStr(nextHop, m.NextHopText())
	}
	if fields&fieldPeer != 0 {
		attrs.PutStr(peer, m.PeerLabel)
	}
}

func (p *samplingProcessor) start(ctx context.Context, host component.Host) error {
	if p.router == nil {
		return nil
	}
	return p.router.start(ctx, host)
}
