package samplingprocessor

import (
	"context"
	"net/netip"
	"strconv"

	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/plog"
	"go.opentelemetry.io/collector/processor"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/metric"

	"github.com/erviz/otelcol-erviz/internal/schema"
	"github.com/erviz/otelcol-erviz/processor/samplingprocessor/internal/accounting"
	"github.com/erviz/otelcol-erviz/processor/samplingprocessor/internal/classify"
	"github.com/erviz/otelcol-erviz/processor/samplingprocessor/internal/metadata"
)

type samplingProcessor struct {
	classifier *classify.Classifier
	rescale    bool
	telemetry  *metadata.TelemetryBuilder
	outcomes   [numOutcomes]metric.MeasurementOption
	acct       accountingSetup
	accountant *accounting.Accountant
	reasonOpts [accounting.NumReasons]metric.MeasurementOption
	router     *router // nil without routing.source (routing.go)
}

type outcome int

const (
	outRescaled outcome = iota
	outUnknownRate
	outAlreadyRescaled
	outNotFlow
	numOutcomes
)

var outcomeNames = [numOutcomes]string{"rescaled", "unknown_rate", "already_rescaled", "not_flow"}

func newProcessor(set processor.Settings, cfg *Config) (*samplingProcessor, error) {
	cc, err := cfg.build()
	if err != nil {
		return nil, err
	}
	tb, err := metadata.NewTelemetryBuilder(set.TelemetrySettings)
	if err != nil {
		return nil, err
	}
	p := &samplingProcessor{classifier: classify.New(cc), rescale: cfg.Rescale.Enabled, telemetry: tb, router: newRouter(cfg)}
	if p.acct, err = cfg.buildAccounting(); err != nil {
		return nil, err
	}
	p.accountant = accounting.New(p.acct.policy)
	for i := range p.reasonOpts {
		p.reasonOpts[i] = metric.WithAttributeSet(attribute.NewSet(attribute.String("reason", accounting.Reason(i).String())))
	}
	for i, n := range outcomeNames {
		p.outcomes[i] = metric.WithAttributeSet(attribute.NewSet(attribute.String("outcome", n)))
	}
	return p, nil
}

func (p *samplingProcessor) shutdown(context.Context) error {
	p.telemetry.Shutdown()
	return nil
}

func (p *samplingProcessor) processLogs(ctx context.Context, ld plog.Logs) (plog.Logs, error) {
	var counts [numOutcomes]int64
	var reasons [accounting.NumReasons]int64
	var rec record
	var res classify.Result
	var routes routeTags
	routed := p.router != nil && p.router.awaitReady(ctx)
	rls := ld.ResourceLogs()
	for i := 0; i < rls.Len(); i++ {
		rl := rls.At(i)
		var resExporter netip.Addr
		var resResourceID string
		rl.Resource().Attributes().Range(func(k string, v pcommon.Value) bool {
			switch k {
			case schema.FlowExporterAddress:
				resExporter = parseAddr(v)
			case schema.CloudResourceID:
				resResourceID = v.Str()
			}
			return true
		})
		ro := p.resourceObservation(rl.Resource().Attributes(), resResourceID)
		sls := rl.ScopeLogs()
		for j := 0; j < sls.Len(); j++ {
			lrs := sls.At(j).LogRecords()
			for k := 0; k < lrs.Len(); k++ {
				attrs := lrs.At(k).Attributes()
				if p.router != nil {
					// Before read: growing the attributes moves them, and read keeps handles
					// to the count attributes that write updates in place.
					p.router.reserve(attrs)
				}
				rec.read(attrs, resExporter, resResourceID)
				if !rec.isFlow {
					counts[outNotFlow]++
					continue
				}
				doRescale := p.rescale && !rec.alreadyRescaled
				if p.router != nil {
					p.router.lookup(&rec.flow, &routes, routed)
				}
				p.classifier.Classify(&rec.flow, doRescale, &res)
				switch {
				case rec.alreadyRescaled:
					counts[outAlreadyRescaled]++
				case res.RateSource == classify.RateUnknown:
					counts[outUnknownRate]++
				default:
					counts[outRescaled]++
				}
				rec.write(attrs, &res, doRescale)
				if p.router != nil {
					p.router.write(attrs, &routes, &rec.flow)
				}
				p.observe(lrs.At(k), &rec, &res, &ro, &reasons)
			}
		}
	}
	p.countReasons(ctx, &reasons)
	for i, n := range counts {
		if n > 0 {
			p.telemetry.ProcessorSamplingRecords.Add(ctx, n, p.outcomes[i])
		}
	}
	return ld, nil
}

// record is the per-record scratch space: the classifier's input and handles to the count
// attributes, so they are updated in place rather than looked up again.
type record struct {
	flow            classify.Flow
	srcText         string
	dstText         string
	isFlow          bool
	alreadyRescaled bool
	hasRate         bool
	bytes, packets  pcommon.Value
	revBytes        pcommon.Value
	revPackets      pcommon.Value
	rate            pcommon.Value
	hasBytes        bool
	hasPackets      bool
	hasRevBytes     bool
	hasRevPackets   bool
}

// read extracts the flow in one pass over the attributes.
func (r *record) read(attrs pcommon.Map, exporter netip.Addr, resourceID string) {
	*r = record{}
	f := &r.flow
	f.Exporter, f.ResourceID = exporter, resourceID
	hasType := false
	attrs.Range(func(k string, v pcommon.Value) bool {
		switch k {
		case schema.FlowType:
			hasType = true
			switch v.Str() {
			case schema.FlowTypeIPFIX:
				f.Kind = classify.KindIPFIX
			case schema.FlowTypeNetFlowV9:
				f.Kind = classify.KindNetFlowV9
			case schema.FlowTypeVNetFlowLog:
				f.Kind = classify.KindVNetFlowLog
			case schema.FlowTypeNSGFlowLog:
				f.Kind = classify.KindNSGFlowLog
			}
		case schema.SourceAddress:
			r.srcText = v.Str()
			f.Src = parseAddr(v)
		case schema.DestinationAddress:
			r.dstText = v.Str()
			f.Dst = parseAddr(v)
		case schema.SourcePort:
			f.SrcPort = uint16(intOf(v))
		case schema.DestinationPort:
			f.DstPort = uint16(intOf(v))
		case schema.NetworkTransport:
			f.Proto, f.HasProto = schema.TransportNumber(v.Str())
		case schema.FlowSrcAS:
			f.SrcAS = uint32(intOf(v))
		case schema.FlowDstAS:
			f.DstAS = uint32(intOf(v))
		case schema.FlowNextHop:
			f.NextHop = parseAddr(v)
		case schema.FlowBGPNextHop:
			f.BGPNextHop = parseAddr(v)
		case schema.FlowInIf:
			f.InIf, f.HasInIf = uint32(intOf(v)), true
		case schema.FlowOutIf:
			f.OutIf, f.HasOutIf = uint32(intOf(v)), true
		case schema.FlowTCPFlags:
			f.TCPFlags, f.HasTCPFlags = uint8(intOf(v)), true
		case schema.FlowSamplingRate:
			f.SamplingRate, r.rate, r.hasRate = intOf(v), v, true
		case schema.FlowIOBytes:
			f.Bytes, r.bytes, r.hasBytes = intOf(v), v, true
		case schema.FlowIOPackets:
			f.Packets, r.packets, r.hasPackets = intOf(v), v, true
		case schema.FlowReverseIOBytes:
			f.RevBytes, r.revBytes, r.hasRevBytes = intOf(v), v, true
			f.HasReverse = true
		case schema.FlowReverseIOPackets:
			f.RevPackets, r.revPackets, r.hasRevPackets = intOf(v), v, true
			f.HasReverse = true
		case schema.FlowIOBytesSampled, schema.FlowIOPacketsSampled:
			r.alreadyRescaled = true
		case schema.FlowExporterAddress:
			f.Exporter = parseAddr(v)
		case schema.CloudResourceID:
			f.ResourceID = v.Str()
		}
		return true
	})
	r.isFlow = hasType || r.hasBytes || r.hasPackets
}

// maxAdded is the most attributes write adds to one record.
const maxAdded = 18 // 15 + flow.observation.point, flow.observation.kind, flow.counted (observe.go)

// write stores the result. Existing attributes are updated through the handles taken in
// read, before any attribute is added (adding may move the attribute storage).
func (r *record) write(attrs pcommon.Map, res *classify.Result, rescaled bool) {
	scaled := rescaled && res.RateSource != classify.RateUnknown
	if scaled {
		if r.hasBytes {
			r.bytes.SetInt(toInt(res.Bytes))
		}
		if r.hasPackets {
			r.packets.SetInt(toInt(res.Packets))
		}
		if r.hasRevBytes {
			r.revBytes.SetInt(toInt(res.RevBytes))
		}
		if r.hasRevPackets {
			r.revPackets.SetInt(toInt(res.RevPackets))
		}
		if r.hasRate {
			r.rate.SetInt(toInt(res.Rate))
		}
	}
	attrs.EnsureCapacity(attrs.Len() + maxAdded)
	if scaled {
		if !r.hasRate {
			attrs.PutInt(schema.FlowSamplingRate, toInt(res.Rate))
		}
		if r.hasBytes {
			attrs.PutInt(schema.FlowIOBytesSampled, toInt(r.flow.Bytes))
		}
		if r.hasPackets {
			attrs.PutInt(schema.FlowIOPacketsSampled, toInt(r.flow.Packets))
		}
	}
	if rescaled {
		attrs.PutStr(schema.FlowSamplingRateSource, res.RateSource.String())
	}
	attrs.PutStr(schema.FlowDirection, res.Direction.String())
	if res.Hairpin {
		attrs.PutBool(schema.FlowHairpin, true)
	}
	if res.Direction == classify.DirToAzure || res.Direction == classify.DirFromAzure {
		attrs.PutInt(schema.FlowToAzureIOBytes, toInt(res.ToAzureBytes))
		attrs.PutInt(schema.FlowToAzureIOPackets, toInt(res.ToAzurePackets))
		attrs.PutInt(schema.FlowFromAzureIOBytes, toInt(res.FromAzureBytes))
		attrs.PutInt(schema.FlowFromAzureIOPackets, toInt(res.FromAzurePackets))
	}
	if res.HasClientServer {
		attrs.PutStr(schema.FlowClientAddress, r.addrText(res.Client))
		attrs.PutStr(schema.FlowServerAddress, r.addrText(res.Server))
		attrs.PutInt(schema.FlowServerPort, int64(res.ServerPort))
		if res.Service != "" {
			attrs.PutStr(schema.FlowService, res.Service)
		}
	}
	if res.Link != "" {
		attrs.PutStr(schema.FlowLink, res.Link)
	}
	attrs.PutStr(schema.FlowClass, res.Class.String())
}

// addrText returns the text of the source or destination address as the record holds it,
// so no new string is formatted.
func (r *record) addrText(a netip.Addr) string {
	switch a {
	case r.flow.Src:
		return r.srcText
	case r.flow.Dst:
		return r.dstText
	}
	return a.String()
}

func parseAddr(v pcommon.Value) netip.Addr {
	if v.Type() != pcommon.ValueTypeStr {
		return netip.Addr{}
	}
	a, err := netip.ParseAddr(v.Str())
	if err != nil {
		return netip.Addr{}
	}
	return a.Unmap()
}

// intOf reads a non-negative integer attribute that may also arrive as a double or as text.
func intOf(v pcommon.Value) uint64 {
	switch v.Type() {
	case pcommon.ValueTypeInt:
		if i := v.Int(); i > 0 {
			return uint64(i)
		}
	case pcommon.ValueTypeDouble:
		if d := v.Double(); d > 0 {
			return uint64(d)
		}
	case pcommon.ValueTypeStr:
		if u, err := strconv.ParseUint(v.Str(), 10, 64); err == nil {
			return u
		}
	}
	return 0
}

func toInt(u uint64) int64 {
	if u > 1<<63-1 {
		return 1<<63 - 1
	}
	return int64(u)
}
