// Package throttle limits how often something is logged per key (a source address, an
// exporter): at most once per interval per key, with a bounded number of keys tracked, so an
// attacker with many addresses can neither flood the log nor grow the limiter's memory.
//
//	t := throttle.New[netip.Addr](time.Minute, 4096)
//	if ok, suppressed := t.Allow(src); ok {
//		logger.Warn("refused", zap.Stringer("source", src), zap.Uint64("suppressed", suppressed))
//	}
package throttle

import (
	"sync"
	"time"
)

// PerKey is a per-key log limiter, safe for concurrent use.
type PerKey[K comparable] struct {
	interval time.Duration
	max      int
	now      func() time.Time

	mu        sync.Mutex
	keys      map[K]*entry
	lastSweep time.Time
	overflow  uint64 // events of keys not tracked because the table was full
}

type entry struct {
	last       time.Time
	suppressed uint64
}

// New returns a limiter allowing one event per interval per key, tracking at most maxKeys
// keys (a key not tracked because the table is full is not logged; Overflow counts it).
func New[K comparable](interval time.Duration, maxKeys int) *PerKey[K] {
	if maxKeys < 1 {
		maxKeys = 1
	}
	return &PerKey[K]{interval: interval, max: maxKeys, now: time.Now, keys: map[K]*entry{}}
}

// SetClock replaces time.Now (tests).
func (p *PerKey[K]) SetClock(now func() time.Time) { p.now = now }

// Allow reports whether an event of key may be logged now and, if so, how many events of
// that key were suppressed since the last one allowed.
func (p *PerKey[K]) Allow(key K) (ok bool, suppressed uint64) {
	now := p.now()
	p.mu.Lock()
	defer p.mu.Unlock()
	if e, found := p.keys[key]; found {
		if now.Sub(e.last) < p.interval {
			e.suppressed++
			return false, 0
		}
		s := e.suppressed
		e.last, e.suppressed = now, 0
		return true, s
	}
	if len(p.keys) >= p.max {
		// Forget keys silent for a whole interval, at most once per interval so a full table
		// under attack costs O(1) per event.
		if now.Sub(p.lastSweep) >= p.interval {
			p.lastSweep = now
			for k, e := range p.keys {
				if now.Sub(e.last) >= p.interval {
					delete(p.keys, k)
				}
			}
		}
		if len(p.keys) >= p.max {
			p.overflow++
			return false, 0
		}
	}
	p.keys[key] = &entry{last: now}
	return true, 0
}

// Overflow is the number of events not logged because the key table was full.
func (p *PerKey[K]) Overflow() uint64 {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.overflow
}

// Len is the number of keys tracked.
func (p *PerKey[K]) Len() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return len(p.keys)
}
