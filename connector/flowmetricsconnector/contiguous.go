package flowmetricsconnector

import (
	"strings"

	"go.opentelemetry.io/collector/pdata/pcommon"

	"github.com/erviz/otelcol-erviz/connector/flowmetricsconnector/internal/aggregate"
)

// contiguous remembers, per metric and series, the end of its last emitted point, so that
// each series' delta points tile its own time without gaps: the next point of a series that
// was idle for some intervals starts where its previous point ended. Delta-to-cumulative
// consumers (the prometheus exporter) add a point to the running total only when its start
// equals the previous point's end; otherwise they restart the total from that point, and a
// dashboard's rate() misses the traffic. Bounded: past max entries the memory is dropped
// (the next point of each series then starts a new total once).
type contiguous struct {
	max  int
	last map[string]pcommon.Timestamp
	key  strings.Builder
}

func newContiguous(max int) *contiguous {
	return &contiguous{max: max, last: map[string]pcommon.Timestamp{}}
}

// start returns the start timestamp of the point of metric for series s ending at now, and
// records now as that series' end. fallback is the start of the interval.
func (c *contiguous) start(metric string, s *aggregate.Series, fallback, now pcommon.Timestamp) pcommon.Timestamp {
	c.key.Reset()
	c.key.WriteString(metric)
	if s.Overflow {
		c.key.WriteString("\x00overflow")
	}
	for _, d := range s.Dims {
		c.key.WriteByte(0)
		c.key.WriteString(d)
	}
	k := c.key.String()
	st, ok := c.last[k]
	if !ok {
		st = fallback
		if len(c.last) >= c.max {
			clear(c.last)
		}
	}
	c.last[k] = now
	return st
}
