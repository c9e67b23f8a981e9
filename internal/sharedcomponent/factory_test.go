package sharedcomponent

import (
	"context"
	"testing"

	"go.opentelemetry.io/collector/component"
	"go.opentelemetry.io/collector/component/componenttest"
	"go.opentelemetry.io/collector/consumer"
	"go.opentelemetry.io/collector/consumer/consumertest"
	"go.opentelemetry.io/collector/receiver"
	"go.opentelemetry.io/collector/receiver/receivertest"
)

// testConfig is not zero-sized, so two configs are two distinct pointers (map keys).
type testConfig struct{ _ byte }

type twoSignals struct {
	counting
	nextLogs    consumer.Logs
	nextMetrics consumer.Metrics
}

func (r *twoSignals) SetNextLogs(next consumer.Logs)       { r.nextLogs = next }
func (r *twoSignals) SetNextMetrics(next consumer.Metrics) { r.nextMetrics = next }

func TestReceiverFactorySharesOneInstancePerConfig(t *testing.T) {
	typ := component.MustNewType("two")
	instances := NewMap[*testConfig, *twoSignals]()
	created := 0
	f := NewReceiverFactory(typ, instances,
		func() component.Config { return &testConfig{} },
		func(_ receiver.Settings, _ *testConfig) (*twoSignals, error) { created++; return &twoSignals{}, nil },
		component.StabilityLevelAlpha, component.StabilityLevelAlpha)
	set := receivertest.NewNopSettings(typ)
	cfg := f.CreateDefaultConfig()
	logs, metrics := new(consumertest.LogsSink), new(consumertest.MetricsSink)
	rl, err := f.CreateLogs(context.Background(), set, cfg, logs)
	if err != nil {
		t.Fatal(err)
	}
	rm, err := f.CreateMetrics(context.Background(), set, cfg, metrics)
	if err != nil {
		t.Fatal(err)
	}
	if rl != rm || created != 1 {
		t.Fatalf("logs and metrics of one config got different instances (created %d)", created)
	}
	inner := rl.(*Component[*twoSignals]).Unwrap()
	if inner.nextLogs != logs || inner.nextMetrics != metrics {
		t.Fatal("the next consumers were not handed to the instance")
	}
	// Another configuration gets its own instance.
	other, _ := f.CreateLogs(context.Background(), set, f.CreateDefaultConfig(), logs)
	if other == rl || created != 2 {
		t.Fatal("a second configuration shared the first one's instance")
	}
	host := componenttest.NewNopHost()
	for _, c := range []component.Component{rl, rm, other} {
		if err := c.Start(context.Background(), host); err != nil {
			t.Fatal(err)
		}
		if err := c.Shutdown(context.Background()); err != nil {
			t.Fatal(err)
		}
	}
	if inner.starts != 1 || inner.stops != 1 || instances.Len() != 0 {
		t.Fatalf("starts=%d stops=%d live=%d, want 1 1 0", inner.starts, inner.stops, instances.Len())
	}
}
