package bgpreceiver

import (
	"context"
	"net/netip"
	"slices"
	"time"

	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/pmetric"
	"go.uber.org/zap"

	"github.com/erviz/otelcol-erviz/pkg/rib"
	"github.com/erviz/otelcol-erviz/receiver/bgpreceiver/internal/metadata"
)

// The per-peer metrics (bgp.peer.state, .flaps, .messages, .prefixes) are built here rather
// than through the generated MetricsBuilder: its Record*DataPoint compares each new data point
// with every one already recorded, so n peers cost O(n²) (5,000 BMP peers, 70,000 data
// points, took a core for minutes). Here a data point is appended in O(1); data points that
// collide (only when attributes are disabled in the configuration) are merged through a map,
// with the metric's aggregation_strategy, as the generated code would.

// seriesKey holds the values of the enabled attributes of one data point.
type seriesKey struct {
	src, router, addr string
	asn               int64
	name, a, b        string
}

// peerMetric accumulates one per-peer metric.
type peerMetric struct {
	m       pmetric.Metric
	dps     pmetric.NumberDataPointSlice
	enabled bool
	strat   string
	attrs   []string // enabled attribute keys
	all     bool     // every attribute enabled: no two data points collide
	idx     map[seriesKey]int
	n       []int // values merged into each data point (avg)
	start   pcommon.Timestamp
	now     pcommon.Timestamp
}

func newPeerMetric(enabled bool, strat string, attrs []string, nAttrs int, name, desc, unit string, sum bool, start, now pcommon.Timestamp) *peerMetric {
	pm := &peerMetric{enabled: enabled, strat: strat, attrs: attrs, all: len(attrs) == nAttrs, start: start, now: now}
	if !enabled {
		return pm
	}
	pm.m = pmetric.NewMetric()
	pm.m.SetName(name)
	pm.m.SetDescription(desc)
	pm.m.SetUnit(unit)
	if sum {
		s := pm.m.SetEmptySum()
		s.SetIsMonotonic(true)
		s.SetAggregationTemporality(pmetric.AggregationTemporalityCumulative)
		pm.dps = s.DataPoints()
	} else {
		pm.dps = pm.m.SetEmptyGauge().DataPoints()
	}
	if !pm.all {
		pm.idx = map[seriesKey]int{}
	}
	return pm
}

func attrKeys[K ~string](ks []K) []string {
	out := make([]string, len(ks))
	for i, k := range ks {
		out[i] = string(k)
	}
	return out
}

// record adds a data point; aKey and bKey name the two metric-specific attributes (if any).
func (pm *peerMetric) record(v int64, k seriesKey, aKey, bKey string) {
	if !pm.enabled {
		return
	}
	on := func(key string) bool { return pm.all || slices.Contains(pm.attrs, key) }
	if !pm.all {
		if !on("bgp.source") {
			k.src = ""
		}
		if !on("bgp.router.address") {
			k.router = ""
		}
		if !on("bgp.peer.address") {
			k.addr = ""
		}
		if !on("bgp.peer.asn") {
			k.asn = 0
		}
		if !on("bgp.peer.name") {
			k.name = ""
		}
		if aKey == "" || !on(aKey) {
			k.a = ""
		}
		if bKey == "" || !on(bKey) {
			k.b = ""
		}
		if i, ok := pm.idx[k]; ok {
			dp := pm.dps.At(i)
			switch pm.strat {
			case metadata.AggregationStrategySum, metadata.AggregationStrategyAvg:
				dp.SetIntValue(dp.IntValue() + v)
				pm.n[i]++
			case metadata.AggregationStrategyMin:
				dp.SetIntValue(min(dp.IntValue(), v))
			case metadata.AggregationStrategyMax:
				dp.SetIntValue(max(dp.IntValue(), v))
			}
			return
		}
		pm.idx[k] = pm.dps.Len()
		pm.n = append(pm.n, 1)
	}
	dp := pm.dps.AppendEmpty()
	if pm.m.Type() == pmetric.MetricTypeSum {
		dp.SetStartTimestamp(pm.start)
	}
	dp.SetTimestamp(pm.now)
	dp.SetIntValue(v)
	a := dp.Attributes()
	if on("bgp.source") {
		a.PutStr("bgp.source", k.src)
	}
	if on("bgp.router.address") {
		a.PutStr("bgp.router.address", k.router)
	}
	if on("bgp.peer.address") {
		a.PutStr("bgp.peer.address", k.addr)
	}
	if on("bgp.peer.asn") {
		a.PutInt("bgp.peer.asn", k.asn)
	}
	if on("bgp.peer.name") {
		a.PutStr("bgp.peer.name", k.name)
	}
	if aKey != "" && on(aKey) {
		a.PutStr(aKey, k.a)
	}
	if bKey != "" && on(bKey) {
		a.PutStr(bKey, k.b)
	}
}

// moveTo finishes the metric (averages) and moves it to ms when it has data points.
func (pm *peerMetric) moveTo(ms pmetric.MetricSlice) {
	if !pm.enabled || pm.dps.Len() == 0 {
		return
	}
	if pm.strat == metadata.AggregationStrategyAvg && !pm.all {
		for i, n := range pm.n {
			if n > 1 {
				dp := pm.dps.At(i)
				dp.SetIntValue(dp.IntValue() / int64(n))
			}
		}
	}
	pm.m.MoveTo(ms.AppendEmpty())
}

// peerSeries are the four per-peer metrics of one emission.
type peerSeries struct {
	state, flaps, messages, prefixes *peerMetric
}

func (r *bgpReceiver) newPeerSeries(start, now pcommon.Timestamp) *peerSeries {
	c := &r.cfg.MetricsBuilderConfig.Metrics
	return &peerSeries{
		state: newPeerMetric(c.BgpPeerState.Enabled, c.BgpPeerState.AggregationStrategy, attrKeys(c.BgpPeerState.EnabledAttributes), 5,
			"bgp.peer.state", "1 while the session with the peer is established, else 0 (one series per peer; the session state itself is in the bgp.peer.up and bgp.peer.down events).", "1", false, start, now),
		flaps: newPeerMetric(c.BgpPeerFlaps.Enabled, c.BgpPeerFlaps.AggregationStrategy, attrKeys(c.BgpPeerFlaps.EnabledAttributes), 5,
			"bgp.peer.flaps", "Times an established session with the peer went down.", "{flap}", true, start, now),
		messages: newPeerMetric(c.BgpPeerMessages.Enabled, c.BgpPeerMessages.AggregationStrategy, attrKeys(c.BgpPeerMessages.EnabledAttributes), 7,
			"bgp.peer.messages", "BGP messages exchanged with the peer, by type and direction (the speaker.s counters for direct sessions, counted messages for BMP mirroring and MRT).", "{message}", true, start, now),
		prefixes: newPeerMetric(c.BgpPeerPrefixes.Enabled, c.BgpPeerPrefixes.AggregationStrategy, attrKeys(c.BgpPeerPrefixes.EnabledAttributes), 7,
			"bgp.peer.prefixes", "Routes learned from the peer, by address family and route class.", "{route}", false, start, now),
	}
}

func peerKey(p rib.Peer) seriesKey {
	src, router, addr, asn, name := peerAttrs(p)
	return seriesKey{src: src, router: router, addr: addr, asn: asn, name: name}
}

func (ps *peerSeries) message(k seriesKey, v int64, typ, dir string) {
	k.a, k.b = typ, dir
	ps.messages.record(v, k, "bgp.message.type", "bgp.message.direction")
}

// recordPeers records the per-peer data points: the speaker's sessions, every RIB peer, and
// the counted messages of BMP and MRT peers. O(1) per data point.
func (r *bgpReceiver) recordPeers(ps *peerSeries) {
	direct := map[netip.Addr]bool{}
	if r.sp != nil {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		infos, err := r.sp.Peers(ctx)
		cancel()
		if err != nil {
			r.logger.Debug("cannot list BGP peers", zap.Error(err))
		}
		for _, pi := range infos {
			k := peerKey(rib.Peer{Kind: rib.SourceBGP, Addr: pi.Address, ASN: pi.ASN, Name: pi.Name})
			direct[pi.Address] = true
			up := int64(0)
			if pi.Established {
				up = 1
			}
			ps.state.record(up, k, "", "")
			for _, m := range []struct {
				typ        string
				recv, sent uint64
			}{
				{"open", pi.Received.Open, pi.Sent.Open},
				{"update", pi.Received.Update, pi.Sent.Update},
				{"notification", pi.Received.Notification, pi.Sent.Notification},
				{"keepalive", pi.Received.Keepalive, pi.Sent.Keepalive},
				{"refresh", pi.Received.Refresh, pi.Sent.Refresh},
			} {
				ps.message(k, int64(m.recv), m.typ, "received")
				ps.message(k, int64(m.sent), m.typ, "sent")
			}
		}
	}
	for _, st := range r.rib.Peers() {
		k := peerKey(st.Peer)
		if st.Peer.Kind != rib.SourceBGP || !direct[st.Peer.Addr] {
			up := int64(0)
			if st.Up {
				up = 1
			}
			ps.state.record(up, k, "", "")
		}
		ps.flaps.record(int64(st.Downs), k, "", "")
		for f := range rib.NumFamilies {
			for _, c := range routeClasses {
				k.a, k.b = familyName(rib.Family(f)), c.String()
				ps.prefixes.record(int64(st.Counts[f][c]), k, "bgp.family", "bgp.route.class")
			}
		}
	}
	r.msgMu.Lock()
	for mk, v := range r.msgCounts {
		ps.message(peerKey(mk.peer), v, mk.typ, mk.dir)
	}
	r.msgMu.Unlock()
}

// appendTo adds the per-peer metrics to the receiver's resource in md (made when the
// builder emitted nothing).
func (ps *peerSeries) appendTo(md pmetric.Metrics, res pcommon.Resource) {
	var ms pmetric.MetricSlice
	if md.ResourceMetrics().Len() > 0 {
		ms = md.ResourceMetrics().At(0).ScopeMetrics().At(0).Metrics()
	} else {
		rm := md.ResourceMetrics().AppendEmpty()
		res.CopyTo(rm.Resource())
		sm := rm.ScopeMetrics().AppendEmpty()
		sm.Scope().SetName(metadata.ScopeName)
		ms = sm.Metrics()
	}
	for _, pm := range []*peerMetric{ps.state, ps.flaps, ps.messages, ps.prefixes} {
		pm.moveTo(ms)
	}
}
