package ribregistry

import (
	"testing"
	"time"

	"go.opentelemetry.io/collector/component"

	"github.com/erviz/otelcol-erviz/pkg/rib"
)

func TestRegistry(t *testing.T) {
	r, err := rib.New(rib.DefaultConfig())
	if err != nil {
		t.Fatal(err)
	}
	id := component.MustNewIDWithName("bgp", "reg_test")
	if _, ok := Lookup(id); ok {
		t.Fatal("found before registration")
	}
	s := NewSource(id, r)
	unreg := Register(s)
	got, ok := Lookup(id)
	if !ok || got.RIB != r {
		t.Fatal("not found after registration")
	}
	// A replacement is not removed by the first one's unregister.
	s2 := NewSource(id, r)
	unreg2 := Register(s2)
	unreg()
	if got, ok = Lookup(id); !ok || got != s2 {
		t.Fatal("replacement removed")
	}
	unreg2()
	if _, ok = Lookup(id); ok {
		t.Fatal("found after unregister")
	}

	now := time.Unix(1000, 0)
	if s.Ready(now, time.Minute) {
		t.Fatal("ready before start")
	}
	s.MarkStarted(now)
	if s.Ready(now.Add(59*time.Second), time.Minute) || s.Ready(now.Add(time.Hour), 0) {
		t.Fatal("ready before the timeout")
	}
	if !s.Ready(now.Add(time.Minute), time.Minute) {
		t.Fatal("not ready at the timeout")
	}
	s.SetConverged()
	if !s.Ready(now, 0) {
		t.Fatal("not ready once converged")
	}
}
