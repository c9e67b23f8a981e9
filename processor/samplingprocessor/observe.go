package samplingprocessor

import (
	"context"
	"net/netip"
	"strings"
	"time"

	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/plog"

	"github.com/erviz/otelcol-erviz/internal/observation"
	"github.com/erviz/otelcol-erviz/internal/schema"
	"github.com/erviz/otelcol-erviz/processor/samplingprocessor/internal/accounting"
	"github.com/erviz/otelcol-erviz/processor/samplingprocessor/internal/classify"
)

// resourceObs is the observation point a resource's records share (flow logs: one resource
// per target resource and NIC), worked out once per resource of a batch.
type resourceObs struct {
	point string
	kind  observation.Kind
	// gateway: the resource matches hairpin.edge_resources (taken at the edge).
	gateway bool
	mac     string

	// edge point cache: IPFIX records of one resource share the exporter.
	lastExporter netip.Addr
	lastIf       uint32
	lastHasIf    bool
	lastPoint    string
}

func (p *samplingProcessor) resourceObservation(res pcommon.Map, resourceID string) resourceObs {
	var ro resourceObs
	if v, ok := res.Get(schema.AzureFlowLogMACAddress); ok {
		ro.mac = v.Str()
	}
	if resourceID != "" {
		ro.point, ro.kind = observation.FlowLogPoint(resourceID)
		ro.gateway = p.atEdgeResource(ro.point)
	}
	return ro
}

func (p *samplingProcessor) atEdgeResource(point string) bool {
	for _, sub := range p.acct.edgeResources {
		if sub != "" && strings.Contains(point, sub) {
			return true
		}
	}
	return false
}

// observe sets flow.observation.point, flow.observation.kind and flow.counted on a flow record.
// Values a record already carries (from an upstream collector) are kept: a record is
// accounted once.
func (p *samplingProcessor) observe(lr plog.LogRecord, rec *record, res *classify.Result, ro *resourceObs, reasons *[accounting.NumReasons]int64) {
	attrs := lr.Attributes()
	if _, ok := attrs.Get(schema.FlowCounted); ok {
		return
	}
	attrs.EnsureCapacity(attrs.Len() + 3)

	point, kind := ro.point, ro.kind
	gateway := ro.gateway
	if v, ok := attrs.Get(schema.FlowObservationPoint); ok && v.Str() != "" {
		point = v.Str()
		if kv, ok := attrs.Get(schema.FlowObservationKind); ok {
			kind, _ = observation.ParseKind(kv.Str())
		}
		gateway = p.atEdgeResource(point)
	} else {
		switch rec.flow.Kind {
		case classify.KindIPFIX, classify.KindNetFlowV9:
			point, kind = p.edgePoint(rec, ro), observation.KindEdge
		case classify.KindVNetFlowLog, classify.KindNSGFlowLog:
			if rec.flow.ResourceID != "" && point == "" {
				point, kind = observation.FlowLogPoint(rec.flow.ResourceID)
				gateway = p.atEdgeResource(point)
			}
			if rec.flow.Kind == classify.KindNSGFlowLog && kind == observation.KindUnknown {
				kind = observation.KindNSG
			}
		}
		if point != "" {
			attrs.PutStr(schema.FlowObservationPoint, point)
		}
		attrs.PutStr(schema.FlowObservationKind, kind.String())
	}
	if !p.acct.enabled {
		return
	}

	o := accounting.Observation{Kind: kind, Src: rec.flow.Src, Dst: rec.flow.Dst, MAC: ro.mac}
	if gateway && kind.FlowLog() && kind != observation.KindNSG {
		o.Kind = observation.KindGatewaySubnet
	}
	switch {
	case res.Hairpin:
		o.Traffic = accounting.TrafficHairpin
	case res.Direction == classify.DirToAzure || res.Direction == classify.DirFromAzure:
		o.Traffic = accounting.TrafficCrossing
		// Flow logs name the initiator as source: from_azure means initiated in Azure.
		o.AzureInitiated = res.Direction == classify.DirFromAzure && rec.flow.Kind.Stateful()
	case res.Direction == classify.DirAzureInternal:
		o.Traffic = accounting.TrafficInternal
	}
	if o.Kind == observation.KindEdge {
		o.AtEdge = p.acct.edgeExporters == nil || p.acct.edgeExporters.Contains(rec.flow.Exporter)
	}
	if v, ok := attrs.Get(schema.AzureFlowLogDirection); ok {
		switch v.Str() {
		case schema.DirectionInbound:
			o.NIC = accounting.NICInbound
		case schema.DirectionOutbound:
			o.NIC = accounting.NICOutbound
		}
	}
	switch {
	case lr.Timestamp() != 0:
		o.Time = lr.Timestamp().AsTime()
	case lr.ObservedTimestamp() != 0:
		o.Time = lr.ObservedTimestamp().AsTime()
	default:
		o.Time = time.Now()
	}
	counted, why := p.accountant.Decide(&o)
	reasons[why]++
	attrs.PutBool(schema.FlowCounted, counted)
}

// countReasons adds a batch's accounting decisions to otelcol_processor_sampling_accounting.
func (p *samplingProcessor) countReasons(ctx context.Context, reasons *[accounting.NumReasons]int64) {
	for i, n := range reasons {
		if n > 0 {
			p.telemetry.ProcessorSamplingAccounting.Add(ctx, n, p.reasonOpts[i])
		}
	}
}

func (p *samplingProcessor) edgePoint(rec *record, ro *resourceObs) string {
	f := &rec.flow
	if ro.lastPoint != "" && ro.lastExporter == f.Exporter && ro.lastIf == f.InIf && ro.lastHasIf == f.HasInIf {
		return ro.lastPoint
	}
	ro.lastExporter, ro.lastIf, ro.lastHasIf = f.Exporter, f.InIf, f.HasInIf
	ro.lastPoint = observation.EdgePoint(f.Exporter, f.InIf, f.HasInIf)
	return ro.lastPoint
}
