package main

import (
	"sync"
	"testing"
	"time"

	"go.uber.org/zap/zaptest"
)

// TestSmallIngest sends a small table (16k IPv4 + 4k IPv6 routes) from the bench's own sender
// to our receiver with every analysis on, in this process, and checks every route arrived
// exactly once. It needs no daemon.
func TestSmallIngest(t *testing.T) {
	tbl := newTable(16_000, 4_000, 2_000, 1)
	s, err := newSender("127.0.0.1:0", tbl)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = s.ln.Close() })
	events := make(chan string, 16)
	go s.serve(func(ev string, _ time.Time, err error) {
		if err != nil {
			ev += " " + err.Error()
		}
		events <- ev
	})

	o, err := startOurs(s.ln.Addr().String(), "127.0.0.1", true, 0, zaptest.NewLogger(t))
	if err != nil {
		t.Fatal(err)
	}
	var mu sync.Mutex
	seen := map[string]int{}
	o.count.mu.Lock()
	o.count.onAnnounce = func(p string) { mu.Lock(); seen[p]++; mu.Unlock() }
	o.count.mu.Unlock()
	t.Cleanup(func() {
		if err := o.shutdown(); err != nil {
			t.Error(err)
		}
	})

	if _, err := o.wait(int64(tbl.routes()), 10*time.Second, time.Now().Add(25*time.Second)); err != nil {
		t.Fatal(err)
	}
	select {
	case ev := <-events:
		if ev != "first" {
			t.Fatalf("sender: %s", ev)
		}
	default:
		t.Fatal("routes arrived before the sender reported its first UPDATE")
	}
	mu.Lock()
	defer mu.Unlock()
	if len(seen) != tbl.routes() {
		t.Errorf("%d distinct prefixes announced, want %d", len(seen), tbl.routes())
	}
	for _, p := range append(append(tbl.v4[:0:0], tbl.v4...), tbl.v6...) {
		if seen[p.String()] != 1 {
			t.Fatalf("prefix %s announced %d times, want 1", p, seen[p.String()])
		}
	}
	if ev := o.count.events(); ev["bgp.peer.up"] != 1 {
		t.Errorf("peer up events: %d, want 1", ev["bgp.peer.up"])
	}
}
