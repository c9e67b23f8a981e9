package sharedcomponent

import (
	"context"
	"errors"
	"testing"

	"go.opentelemetry.io/collector/component"
	"go.opentelemetry.io/collector/component/componenttest"
)

type counting struct {
	starts, stops int
	startErr      error
}

func (c *counting) Start(context.Context, component.Host) error { c.starts++; return c.startErr }
func (c *counting) Shutdown(context.Context) error              { c.stops++; return nil }

func TestSharedLifecycle(t *testing.T) {
	m := NewMap[string, *counting]()
	created := 0
	create := func() (*counting, error) { created++; return &counting{}, nil }

	logs, err := m.LoadOrStore("rx", create)
	if err != nil {
		t.Fatal(err)
	}
	metrics, _ := m.LoadOrStore("rx", create)
	if logs != metrics || created != 1 {
		t.Fatalf("second signal got a new instance (created %d)", created)
	}
	host := componenttest.NewNopHost()
	ctx := context.Background()
	_ = logs.Start(ctx, host)
	_ = metrics.Start(ctx, host)
	_ = logs.Shutdown(ctx)
	_ = metrics.Shutdown(ctx)
	inner := logs.Unwrap()
	if inner.starts != 1 || inner.stops != 1 {
		t.Fatalf("starts=%d stops=%d, want 1 and 1", inner.starts, inner.stops)
	}
	if m.Len() != 0 {
		t.Fatalf("instance not removed after shutdown")
	}
	again, _ := m.LoadOrStore("rx", create)
	if again == logs || created != 2 {
		t.Fatal("a configuration reload must get a fresh instance")
	}
}

func TestStartErrorIsReturnedToEverySignal(t *testing.T) {
	m := NewMap[int, *counting]()
	boom := errors.New("bind: address in use")
	c, _ := m.LoadOrStore(1, func() (*counting, error) { return &counting{startErr: boom}, nil })
	if err := c.Start(context.Background(), componenttest.NewNopHost()); !errors.Is(err, boom) {
		t.Fatalf("first start: %v", err)
	}
	if err := c.Start(context.Background(), componenttest.NewNopHost()); !errors.Is(err, boom) {
		t.Fatalf("second start: %v", err)
	}
}

func TestCreateError(t *testing.T) {
	m := NewMap[int, *counting]()
	if _, err := m.LoadOrStore(1, func() (*counting, error) { return nil, errors.New("bad config") }); err == nil {
		t.Fatal("expected the create error")
	}
	if m.Len() != 0 {
		t.Fatal("failed create left an entry")
	}
}
