package flowmetricsconnector

import (
	"context"
	"sync"
	"time"

	"go.opentelemetry.io/collector/component"
	"go.opentelemetry.io/collector/connector"
	"go.opentelemetry.io/collector/consumer"
	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/plog"
	"go.opentelemetry.io/collector/pdata/pmetric"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/metric"
	"go.uber.org/zap"

	"github.com/erviz/otelcol-erviz/connector/flowmetricsconnector/internal/aggregate"
	"github.com/erviz/otelcol-erviz/connector/flowmetricsconnector/internal/metadata"
	"github.com/erviz/otelcol-erviz/internal/schema"
)

// counterDefs name the emitted metrics, in aggregate.Counter order.
var counterDefs = [aggregate.NumCounters]struct{ attr, unit, desc string }{
	{schema.FlowIOBytes, "By", "Bytes of flow records (source to destination; rescaled by the sampling processor)."},
	{schema.FlowIOPackets, "{packet}", "Packets of flow records (source to destination; rescaled by the sampling processor)."},
	{schema.FlowToAzureIOBytes, "By", "Bytes moving towards Azure (forward and reverse counts combined)."},
	{schema.FlowToAzureIOPackets, "{packet}", "Packets moving towards Azure."},
	{schema.FlowFromAzureIOBytes, "By", "Bytes moving from Azure towards on-premises."},
	{schema.FlowFromAzureIOPackets, "{packet}", "Packets moving from Azure towards on-premises."},
}

const scopeName = "github.com/erviz/otelcol-erviz/connector/flowmetricsconnector"

type flowMetrics struct {
	cfg       *Config
	next      consumer.Metrics
	logger    *zap.Logger
	telemetry *metadata.TelemetryBuilder
	version   string
	outcomes  map[string]metric.MeasurementOption

	mu     sync.Mutex
	table  *aggregate.Table
	since  time.Time
	dims   []string // per-record scratch, guarded by mu
	resDim []string
	// obs is the per-observation view (nil when observation_metrics is off).
	obs     *aggregate.Table
	obsDims []string
	// starts keeps each series' points contiguous (used by flush only).
	starts *contiguous

	stop chan struct{}
	done chan struct{}
}

func newConnector(set connector.Settings, cfg *Config, next consumer.Metrics) (*flowMetrics, error) {
	tb, err := metadata.NewTelemetryBuilder(set.TelemetrySettings)
	if err != nil {
		return nil, err
	}
	c := &flowMetrics{
		cfg: cfg, next: next, logger: set.Logger, telemetry: tb, version: set.BuildInfo.Version,
		table:    aggregate.New(len(cfg.Dimensions), cfg.MaxSeries),
		dims:     make([]string, len(cfg.Dimensions)),
		resDim:   make([]string, len(cfg.Dimensions)),
		outcomes: map[string]metric.MeasurementOption{},
		starts:   newContiguous(4 * (len(counterDefs) + 2) * cfg.MaxSeries),
	}
	if cfg.ObservationMetrics {
		c.obs = aggregate.New(len(observationDims), cfg.MaxSeries)
		c.obsDims = make([]string, len(observationDims))
	}
	for _, o := range []string{"counted", "overflow", "not_flow", "not_counted"} {
		c.outcomes[o] = metric.WithAttributeSet(attribute.NewSet(attribute.String("outcome", o)))
	}
	return c, nil
}

func (c *flowMetrics) Capabilities() consumer.Capabilities { return consumer.Capabilities{} }

func (c *flowMetrics) Start(context.Context, component.Host) error {
	c.mu.Lock()
	c.since = time.Now()
	c.mu.Unlock()
	c.stop, c.done = make(chan struct{}), make(chan struct{})
	go c.loop()
	return nil
}

func (c *flowMetrics) loop() {
	defer close(c.done)
	t := time.NewTicker(c.cfg.Interval)
	defer t.Stop()
	for {
		select {
		case <-c.stop:
			return
		case <-t.C:
			c.flush(context.Background())
		}
	}
}

// Shutdown stops the ticker and emits what the last, partial interval counted.
func (c *flowMetrics) Shutdown(ctx context.Context) error {
	if c.stop != nil {
		close(c.stop)
		<-c.done
		c.stop = nil
		c.flush(ctx)
	}
	c.telemetry.Shutdown()
	return nil
}

func (c *flowMetrics) ConsumeLogs(ctx context.Context, ld plog.Logs) error {
	var counted, overflow, notFlow, notCounted int64
	c.mu.Lock()
	rls := ld.ResourceLogs()
	for i := 0; i < rls.Len(); i++ {
		rl := rls.At(i)
		clear(c.resDim)
		c.fill(rl.Resource().Attributes(), c.resDim, nil, nil)
		sls := rl.ScopeLogs()
		for j := 0; j < sls.Len(); j++ {
			lrs := sls.At(j).LogRecords()
			for k := 0; k < lrs.Len(); k++ {
				copy(c.dims, c.resDim)
				var v aggregate.Values
				var has [aggregate.NumCounters]bool
				c.fill(lrs.At(k).Attributes(), c.dims, &v, &has)
				if !has[aggregate.Bytes] && !has[aggregate.Packets] {
					notFlow++
					continue
				}
				c.addObservation(lrs.At(k).Attributes(), &v, &has)
				if c.cfg.CountedOnly && uncounted(lrs.At(k).Attributes()) {
					notCounted++
					continue
				}
				if c.table.Add(c.dims, &v, &has) {
					overflow++
				} else {
					counted++
				}
			}
		}
	}
	c.mu.Unlock()
	for o, n := range map[string]int64{"counted": counted, "overflow": overflow, "not_flow": notFlow, "not_counted": notCounted} {
		if n > 0 {
			c.telemetry.ConnectorFlowmetricsRecords.Add(ctx, n, c.outcomes[o])
		}
	}
	return nil
}

// fill reads dimension values into dims and, when v is not nil, the counters, in one pass.
func (c *flowMetrics) fill(attrs pcommon.Map, dims []string, v *aggregate.Values, has *[aggregate.NumCounters]bool) {
	attrs.Range(func(k string, val pcommon.Value) bool {
		if v != nil {
			for ci := range counterDefs {
				if k == counterDefs[ci].attr {
					if n := val.Int(); val.Type() == pcommon.ValueTypeInt && n >= 0 {
						v[ci], has[ci] = n, true
					}
					return true
				}
			}
		}
		for di, d := range c.cfg.Dimensions {
			if k == d {
				if val.Type() == pcommon.ValueTypeStr {
					dims[di] = val.Str()
				} else {
					dims[di] = val.AsString()
				}
				break
			}
		}
		return true
	})
}

// flush emits the interval's delta sums.
func (c *flowMetrics) flush(ctx context.Context) {
	c.mu.Lock()
	series := c.table.Drain()
	var obsSeries []*aggregate.Series
	if c.obs != nil {
		obsSeries = c.obs.Drain()
	}
	start, now := c.since, time.Now()
	c.since = now
	c.mu.Unlock()
	if len(series) == 0 && len(obsSeries) == 0 {
		return
	}
	md := pmetric.NewMetrics()
	sm := md.ResourceMetrics().AppendEmpty().ScopeMetrics().AppendEmpty()
	sm.Scope().SetName(scopeName)
	sm.Scope().SetVersion(c.version)
	points := 0
	for ci, def := range counterDefs {
		m := pmetric.NewMetric()
		m.SetName(def.attr)
		m.SetUnit(def.unit)
		m.SetDescription(def.desc)
		sum := m.SetEmptySum()
		sum.SetAggregationTemporality(pmetric.AggregationTemporalityDelta)
		sum.SetIsMonotonic(true)
		for _, s := range series {
			if !s.Has[ci] {
				continue
			}
			dp := sum.DataPoints().AppendEmpty()
			dp.SetStartTimestamp(c.starts.start(def.attr, s, pcommon.NewTimestampFromTime(start), pcommon.NewTimestampFromTime(now)))
			dp.SetTimestamp(pcommon.NewTimestampFromTime(now))
			dp.SetIntValue(s.Values[ci])
			if s.Overflow {
				dp.Attributes().PutBool("otel.metric.overflow", true)
				continue
			}
			for di, d := range c.cfg.Dimensions {
				if s.Dims[di] != "" {
					dp.Attributes().PutStr(d, s.Dims[di])
				}
			}
		}
		if sum.DataPoints().Len() > 0 {
			points += sum.DataPoints().Len()
			m.MoveTo(sm.Metrics().AppendEmpty())
		}
	}
	points += appendObservationMetrics(sm, obsSeries, c.starts, pcommon.NewTimestampFromTime(start), pcommon.NewTimestampFromTime(now))
	if err := c.next.ConsumeMetrics(ctx, md); err != nil {
		c.telemetry.ConnectorFlowmetricsFlushFailures.Add(ctx, 1)
		c.logger.Error("flowmetrics: the next consumer refused an interval's metrics; those deltas are lost",
			zap.Int("datapoints", points), zap.Error(err))
		return
	}
	c.telemetry.ConnectorFlowmetricsDatapoints.Add(ctx, int64(points))
}
