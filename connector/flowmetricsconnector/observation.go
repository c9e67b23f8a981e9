package flowmetricsconnector

import (
	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/pmetric"

	"github.com/erviz/otelcol-erviz/connector/flowmetricsconnector/internal/aggregate"
	"github.com/erviz/otelcol-erviz/internal/schema"
)

// Metrics of the per-observation view: every record, counted or not, by observation point.
const (
	metricObservationBytes   = "flow.observation.io.bytes"
	metricObservationPackets = "flow.observation.io.packets"
)

// observationDims are the dimensions of the per-observation view.
var observationDims = []string{schema.FlowObservationPoint, schema.FlowObservationKind}

// uncounted reports whether the record is marked flow.counted=false (the same traffic is
// counted at another observation point). Records without the attribute count.
func uncounted(attrs pcommon.Map) bool {
	v, ok := attrs.Get(schema.FlowCounted)
	return ok && v.Type() == pcommon.ValueTypeBool && !v.Bool()
}

// addObservation adds a flow record to the per-observation view: bytes and packets both ways
// (flow.io.* + flow.reverse.io.*), as seen at its flow.observation.point. Called with mu held.
func (c *flowMetrics) addObservation(attrs pcommon.Map, v *aggregate.Values, has *[aggregate.NumCounters]bool) {
	if c.obs == nil {
		return
	}
	var ov aggregate.Values
	var ohas [aggregate.NumCounters]bool
	ov[aggregate.Bytes], ohas[aggregate.Bytes] = v[aggregate.Bytes], has[aggregate.Bytes]
	ov[aggregate.Packets], ohas[aggregate.Packets] = v[aggregate.Packets], has[aggregate.Packets]
	if r, ok := attrs.Get(schema.FlowReverseIOBytes); ok && r.Type() == pcommon.ValueTypeInt && r.Int() > 0 {
		ov[aggregate.Bytes] += r.Int()
		ohas[aggregate.Bytes] = true
	}
	if r, ok := attrs.Get(schema.FlowReverseIOPackets); ok && r.Type() == pcommon.ValueTypeInt && r.Int() > 0 {
		ov[aggregate.Packets] += r.Int()
		ohas[aggregate.Packets] = true
	}
	c.obsDims[0], c.obsDims[1] = "", ""
	if p, ok := attrs.Get(schema.FlowObservationPoint); ok {
		c.obsDims[0] = p.AsString()
	}
	if k, ok := attrs.Get(schema.FlowObservationKind); ok {
		c.obsDims[1] = k.AsString()
	}
	c.obs.Add(c.obsDims, &ov, &ohas)
}

// appendObservationMetrics adds the per-observation view's delta sums to sm; returns the
// number of data points.
func appendObservationMetrics(sm pmetric.ScopeMetrics, series []*aggregate.Series, starts *contiguous, start, now pcommon.Timestamp) int {
	points := 0
	for _, def := range []struct {
		name, unit, desc string
		ci               aggregate.Counter
	}{
		{metricObservationBytes, "By", "Bytes seen at each observation point, both ways, counted or not (a per-observation view: do not add points up).", aggregate.Bytes},
		{metricObservationPackets, "{packet}", "Packets seen at each observation point, both ways, counted or not.", aggregate.Packets},
	} {
		m := pmetric.NewMetric()
		m.SetName(def.name)
		m.SetUnit(def.unit)
		m.SetDescription(def.desc)
		sum := m.SetEmptySum()
		sum.SetAggregationTemporality(pmetric.AggregationTemporalityDelta)
		sum.SetIsMonotonic(true)
		for _, s := range series {
			if !s.Has[def.ci] {
				continue
			}
			dp := sum.DataPoints().AppendEmpty()
			dp.SetStartTimestamp(starts.start(def.name, s, start, now))
			dp.SetTimestamp(now)
			dp.SetIntValue(s.Values[def.ci])
			if s.Overflow {
				dp.Attributes().PutBool("otel.metric.overflow", true)
				continue
			}
			for di, d := range observationDims {
				if s.Dims[di] != "" {
					dp.Attributes().PutStr(d, s.Dims[di])
				}
			}
		}
		if n := sum.DataPoints().Len(); n > 0 {
			points += n
			m.MoveTo(sm.Metrics().AppendEmpty())
		}
	}
	return points
}
