package flowrollupconnector

import (
	"context"
	"sync"
	"time"

	"go.opentelemetry.io/collector/component"
	"go.opentelemetry.io/collector/connector"
	"go.opentelemetry.io/collector/consumer"
	"go.opentelemetry.io/collector/pdata/plog"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/metric"
	"go.uber.org/zap"

	"github.com/erviz/otelcol-erviz/connector/flowrollupconnector/internal/metadata"
	"github.com/erviz/otelcol-erviz/pkg/flowrollup"
)

const scopeName = "github.com/erviz/otelcol-erviz/connector/flowrollupconnector"

type rollup struct {
	cfg       *Config
	next      consumer.Logs
	logger    *zap.Logger
	telemetry *metadata.TelemetryBuilder
	version   string
	outcomes  [3]metric.MeasurementOption
	now       func() time.Time

	mu    sync.Mutex
	table *flowrollup.Table

	stop chan struct{}
	done chan struct{}
}

func newConnector(set connector.Settings, cfg *Config, next consumer.Logs) (*rollup, error) {
	tb, err := metadata.NewTelemetryBuilder(set.TelemetrySettings)
	if err != nil {
		return nil, err
	}
	c := &rollup{cfg: cfg, next: next, logger: set.Logger, telemetry: tb, version: set.BuildInfo.Version, now: time.Now,
		table: flowrollup.New(cfg.Interval, cfg.Dimensions, cfg.MaxSeries)}
	for o, name := range map[flowrollup.Outcome]string{flowrollup.Counted: "counted", flowrollup.Overflow: "overflow", flowrollup.NotFlow: "not_flow"} {
		c.outcomes[o] = metric.WithAttributeSet(attribute.NewSet(attribute.String("outcome", name)))
	}
	return c, nil
}

func (c *rollup) Capabilities() consumer.Capabilities { return consumer.Capabilities{} }

func (c *rollup) Start(context.Context, component.Host) error {
	c.stop, c.done = make(chan struct{}), make(chan struct{})
	go c.loop()
	return nil
}

func (c *rollup) loop() {
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

// Shutdown stops the ticker and emits what the last, partial interval summed.
func (c *rollup) Shutdown(ctx context.Context) error {
	if c.stop != nil {
		close(c.stop)
		<-c.done
		c.stop = nil
		c.flush(ctx)
	}
	c.telemetry.Shutdown()
	return nil
}

func (c *rollup) ConsumeLogs(ctx context.Context, ld plog.Logs) error {
	var n [3]int64
	now := c.now()
	c.mu.Lock()
	for _, rl := range ld.ResourceLogs().All() {
		res := rl.Resource().Attributes()
		for _, sl := range rl.ScopeLogs().All() {
			for _, lr := range sl.LogRecords().All() {
				ts := lr.Timestamp()
				if ts == 0 {
					ts = lr.ObservedTimestamp()
				}
				t := ts.AsTime()
				if ts == 0 {
					t = now
				}
				n[c.table.Add(t, lr.Attributes(), res, now)]++
			}
		}
	}
	c.mu.Unlock()
	for o, v := range n {
		if v > 0 {
			c.telemetry.ConnectorFlowrollupRecords.Add(ctx, v, c.outcomes[o])
		}
	}
	return nil
}

// flush emits the rows summed since the last flush.
func (c *rollup) flush(ctx context.Context) {
	c.mu.Lock()
	series := c.table.Flush()
	c.mu.Unlock()
	if len(series) == 0 {
		return
	}
	ld := plog.NewLogs()
	sl := ld.ResourceLogs().AppendEmpty().ScopeLogs().AppendEmpty()
	sl.Scope().SetName(scopeName)
	sl.Scope().SetVersion(c.version)
	c.table.AppendRecords(sl.LogRecords(), series, c.now())
	if err := c.next.ConsumeLogs(ctx, ld); err != nil {
		c.telemetry.ConnectorFlowrollupFlushFailures.Add(ctx, 1)
		c.logger.Error("the next consumer refused the rollup records: they are lost", zap.Int("rows", len(series)), zap.Error(err))
		return
	}
	c.telemetry.ConnectorFlowrollupRows.Add(ctx, int64(len(series)))
}
