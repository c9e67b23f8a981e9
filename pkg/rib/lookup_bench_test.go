package rib

import (
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// BenchmarkRouteLookup is Lookup (the best path of the longest match, with
// its open conditions) on the loaded full table, plus the AS path text, as
// the sampling processor uses it per flow side.
func BenchmarkRouteLookup(b *testing.B) {
	r := loadedRIB(b)
	for _, fam := range []struct {
		name string
		v6   bool
	}{{"ipv4", false}, {"ipv6", true}} {
		addrs := lookupAddrs(fam.v6)
		b.Run(fam.name, func(b *testing.B) {
			var m Match
			for _, a := range addrs { // the AS path texts are made once per path: not timed
				if r.Lookup(a, &m) {
					m.ASPathText()
				}
			}
			b.ReportAllocs()
			b.ResetTimer()
			miss, i := 0, 0
			for b.Loop() {
				if !r.Lookup(addrs[i&(len(addrs)-1)], &m) || m.ASPathText() == "" {
					miss++
				}
				i++
			}
			if miss > 0 {
				b.Fatalf("%d misses", miss)
			}
		})
	}
}

// BenchmarkRouteLookupChurn runs look-ups while another goroutine changes
// routes of the loaded full table at a paced rate (10k updates/s: an
// announcement of a new path or its withdrawal, alternately, each taking
// the exclusive lock for that one path). It reports the look-up cost under
// churn, the update rate achieved and the longest time one look-up took
// (which includes waiting for a change to release the lock, and any
// scheduling delay of the loaded machine).
func BenchmarkRouteLookupChurn(b *testing.B) {
	r := loadedRIB(b)
	const rate = 10_000
	s := synthetic()
	addrs := lookupAddrs(false)
	other := Peer{Addr: transit.Addr.Next(), ASN: 64501, Name: "churn"}
	stop := make(chan struct{})
	var updates atomic.Int64
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		tick := time.NewTicker(time.Millisecond)
		defer tick.Stop()
		i := 0
		begin := time.Now()
		for {
			select {
			case <-stop:
				return
			case <-tick.C:
			}
			// Catch up with the rate: a late tick on a loaded machine is made up for.
			for int64(i) < time.Since(begin).Nanoseconds()*rate/1e9 {
				p := s.prefixes[(i/2)%synth4]
				if i%2 == 0 {
					_ = r.Announce(t0, other, Path{Prefix: p, NextHop: other.Addr, ASPath: s.paths[i%len(s.paths)]})
				} else {
					r.Withdraw(t0, other, p)
				}
				i++
				updates.Add(1)
			}
		}
	}()
	b.ReportAllocs()
	var m Match
	var worst time.Duration
	i := 0
	start := time.Now()
	for b.Loop() {
		var t time.Time
		if i&1023 == 0 {
			t = time.Now()
		}
		if !r.Lookup(addrs[i&(len(addrs)-1)], &m) {
			b.Fatal("miss")
		}
		if i&1023 == 0 {
			if d := time.Since(t); d > worst {
				worst = d
			}
		}
		i++
	}
	el := time.Since(start)
	close(stop)
	wg.Wait()
	b.ReportMetric(float64(updates.Load())/el.Seconds(), "updates/s")
	b.ReportMetric(float64(worst.Microseconds()), "worst-sampled-µs")
}

// BenchmarkPeerDownLookupWait measures how long look-ups wait while a peer with the whole
// table goes down: PeerDown removes every path under one exclusive lock (run it with
// -benchtime=1x: each op loads a RIB first, outside the timer). It reports the session
// down's duration and the longest look-up beside it.
func BenchmarkPeerDownLookupWait(b *testing.B) {
	s := synthetic()
	addrs := lookupAddrs(false)
	for range b.N {
		b.StopTimer()
		r, err := New(DefaultConfig())
		if err != nil {
			b.Fatal(err)
		}
		s.load(b, r, t0)
		stop := make(chan struct{})
		var worst atomic.Int64
		var wg sync.WaitGroup
		wg.Add(1)
		go func() {
			defer wg.Done()
			var m Match
			for i := 0; ; i++ {
				select {
				case <-stop:
					return
				default:
				}
				t := time.Now()
				r.Lookup(addrs[i&(len(addrs)-1)], &m)
				if d := time.Since(t).Nanoseconds(); d > worst.Load() {
					worst.Store(d)
				}
			}
		}()
		b.StartTimer()
		start := time.Now()
		r.PeerDown(t0.Add(time.Minute), transit)
		down := time.Since(start)
		b.StopTimer()
		close(stop)
		wg.Wait()
		b.ReportMetric(down.Seconds(), "peerdown-s")
		b.ReportMetric(float64(worst.Load())/1e6, "worst-lookup-ms")
	}
}
