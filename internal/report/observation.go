package report

import (
	"sort"
	"time"

	"go.opentelemetry.io/collector/pdata/pcommon"

	"github.com/erviz/otelcol-erviz/internal/schema"
)

// ObservationTotal is what one observation point saw: every record, counted or not (a
// per-observation view: adding points up counts the same traffic several times).
type ObservationTotal struct {
	Point   string `json:"point"`
	Kind    string `json:"kind,omitempty"`
	Bytes   int64  `json:"bytes"`
	Packets int64  `json:"packets"`
	Records int    `json:"records"`
	// CountedBytes are the bytes of its records that count (flow.counted=true or absent).
	CountedBytes int64 `json:"counted_bytes"`
}

// maxFilledBins bounds the 5-minute bins filled with zeros between the first and the last
// record (31 days); a longer span lists only bins with traffic.
const maxFilledBins = 31 * 24 * 12

// counts reports whether a flow record counts towards totals: not marked flow.counted=false.
func counts(at pcommon.Map) bool {
	v, ok := at.Get(schema.FlowCounted)
	return !ok || v.Type() != pcommon.ValueTypeBool || v.Bool()
}

// addObservation adds a flow record to the per-observation view.
func (b *Builder) addObservation(at pcommon.Map, bytes, packets int64, counted bool) {
	if b.obs == nil {
		b.obs = map[string]*ObservationTotal{}
	}
	point := str(at, schema.FlowObservationPoint)
	if point == "" {
		point = "(no observation point)"
	}
	o := b.obs[point]
	if o == nil {
		o = &ObservationTotal{Point: point, Kind: str(at, schema.FlowObservationKind)}
		b.obs[point] = o
	}
	o.Bytes += bytes
	o.Packets += packets
	o.Records++
	if counted {
		o.CountedBytes += bytes
	}
}

// observations lists the per-observation view, most bytes first.
func (b *Builder) observations() []ObservationTotal {
	out := []ObservationTotal{}
	for _, o := range b.obs {
		out = append(out, *o)
	}
	sort.Slice(out, func(i, j int) bool {
		if out[i].Bytes != out[j].Bytes {
			return out[i].Bytes > out[j].Bytes
		}
		return out[i].Point < out[j].Point
	})
	return out
}

// directionBins lists every 5-minute bin from the first to the last one with traffic, empty
// bins as zero, each with its bytes and its average rate in bits per second.
func directionBins(dirs map[time.Time]map[string]int64) []DirectionBin {
	ts := sortedTimes(dirs)
	if len(ts) == 0 {
		return nil
	}
	if n := ts[len(ts)-1].Sub(ts[0])/Bin + 1; n <= maxFilledBins {
		ts = ts[:0]
		for t := sortedTimes(dirs)[0]; len(ts) < int(n); t = t.Add(Bin) {
			ts = append(ts, t)
		}
	}
	out := make([]DirectionBin, 0, len(ts))
	for _, t := range ts {
		bytes := map[string]int64{}
		bits := map[string]float64{}
		for _, d := range directionOrder {
			bytes[d], bits[d] = 0, 0
		}
		for k, v := range dirs[t] {
			bytes[k] = v
			bits[k] = float64(v) * 8 / Bin.Seconds()
		}
		out = append(out, DirectionBin{Start: t, Bytes: bytes, BitsPerSecond: bits})
	}
	return out
}
