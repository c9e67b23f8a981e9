package bgpreceiver

import (
	"context"
	"time"

	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/metric"
	"go.uber.org/zap"

	"github.com/erviz/otelcol-erviz/internal/schema"
	"github.com/erviz/otelcol-erviz/pkg/rib"
	"github.com/erviz/otelcol-erviz/receiver/bgpreceiver/internal/metadata"
	"github.com/erviz/otelcol-erviz/receiver/bgpreceiver/internal/speaker"
)

// The receiver's metrics: the RIB's state and the per-peer series, every metrics_interval.

func (r *bgpReceiver) runMetrics() {
	defer r.wg.Done()
	t := time.NewTicker(r.cfg.CollectionInterval)
	defer t.Stop()
	for {
		select {
		case <-t.C:
			r.emitMetrics()
		case <-r.done:
			return
		}
	}
}

// routeClasses lists the route classes (rib.Class: azure, expressroute, ...), not flow classes.
var routeClasses = func() []rib.Class {
	out := make([]rib.Class, rib.NumClasses)
	for i := range out {
		out[i] = rib.Class(i)
	}
	return out
}()

func (r *bgpReceiver) emitMetrics() {
	if r.nextMetrics == nil {
		return
	}
	now := pcommon.NewTimestampFromTime(time.Now())
	mb := r.mb
	ps := r.newPeerSeries(r.lim.start, now)
	r.recordPeers(ps)
	st := r.rib.Stats()
	mb.RecordBgpRibPrefixesDataPoint(now, int64(st.Prefixes4), speaker.FamilyIPv4Unicast)
	mb.RecordBgpRibPrefixesDataPoint(now, int64(st.Prefixes6), speaker.FamilyIPv6Unicast)
	for f := range rib.NumFamilies {
		for _, c := range routeClasses {
			mb.RecordBgpRibPathsDataPoint(now, int64(st.PathsByClass[f][c]), familyName(rib.Family(f)), c.String())
		}
	}
	a := r.rib.Active()
	mb.RecordBgpOverlapsActiveDataPoint(now, int64(a.Overlap))
	mb.RecordBgpRedundancyLostActiveDataPoint(now, int64(a.LostRedundancy))
	mb.RecordBgpFlapsActiveDataPoint(now, int64(a.Flap))
	mb.RecordBgpAdjacencyFlapsActiveDataPoint(now, int64(a.AdjacencyFlap))
	mb.RecordBgpMoasActiveDataPoint(now, int64(a.MOAS))
	mb.RecordBgpPrefixCountActiveDataPoint(now, int64(a.PrefixCount))
	rb := mb.NewResourceBuilder()
	rb.SetBgpReceiver(r.set.ID.String())
	res := rb.Emit()
	md := mb.Emit(metadata.WithResource(res))
	ps.appendTo(md, res)
	if err := r.nextMetrics.ConsumeMetrics(context.Background(), md); err != nil {
		r.logger.Warn("BGP metrics refused by the next consumer", zap.Error(err))
	}
}

func peerAttrs(p rib.Peer) (src, router, addr string, asn int64, name string) {
	src = sourceName(p.Kind)
	if p.Router.IsValid() {
		router = p.Router.String()
	}
	return src, router, p.Addr.String(), int64(p.ASN), p.Name
}

// countMalformed counts a malformed BMP message or MRT record.
func (r *bgpReceiver) countMalformed(source string) {
	r.tb.ReceiverBgpMalformed.Add(context.Background(), 1, metric.WithAttributeSet(attribute.NewSet(attribute.String(schema.BGPSource, source))))
}
