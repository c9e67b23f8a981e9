package throttle

import (
	"testing"
	"time"
)

func TestPerKey(t *testing.T) {
	now := time.Unix(1000, 0)
	p := New[string](time.Minute, 2)
	p.SetClock(func() time.Time { return now })

	if ok, _ := p.Allow("a"); !ok {
		t.Fatal("first event of a key must be allowed")
	}
	for range 3 {
		if ok, _ := p.Allow("a"); ok {
			t.Fatal("second event within the interval allowed")
		}
	}
	if ok, _ := p.Allow("b"); !ok {
		t.Fatal("another key is limited separately")
	}
	if ok, _ := p.Allow("c"); ok {
		t.Fatal("a third key must not be tracked with maxKeys 2")
	}
	if p.Overflow() != 1 || p.Len() != 2 {
		t.Fatalf("overflow %d len %d", p.Overflow(), p.Len())
	}
	now = now.Add(time.Minute)
	ok, suppressed := p.Allow("a")
	if !ok || suppressed != 3 {
		t.Fatalf("after the interval: ok %v suppressed %d, want true 3", ok, suppressed)
	}
	// b is silent for an interval: a new key takes its place.
	if ok, _ := p.Allow("c"); !ok {
		t.Fatal("a stale key must be swept to make room")
	}
	if p.Len() != 2 {
		t.Fatalf("len %d", p.Len())
	}
}
