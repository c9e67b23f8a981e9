package rib

import (
	"math"
	"time"
)

// PrefixCountConfig configures the prefix-count analysis.
type PrefixCountConfig struct {
	Enabled bool
	// Fraction: the condition opens when a peer's route count differs from
	// its baseline by more than Fraction × baseline (default 0.2).
	Fraction float64
	// Window: while the condition is closed, the baseline is re-sampled
	// once per Window (default 5 min).
	Window time.Duration
	// MinBaseline: baselines below it are not evaluated (default 10), so a
	// peer with a handful of routes does not alarm on every change.
	MinBaseline int
	// Rebaseline: a condition open this long while the peer is up with
	// routes is resolved with Reason "rebaselined" and the current count
	// becomes the baseline (default 1 h; negative means never).
	Rebaseline time.Duration
}

func (c *PrefixCountConfig) setDefaults() {
	if c.Fraction <= 0 {
		c.Fraction = 0.2
	}
	if c.Window <= 0 {
		c.Window = 5 * time.Minute
	}
	if c.MinBaseline <= 0 {
		c.MinBaseline = 10
	}
	if c.Rebaseline == 0 {
		c.Rebaseline = time.Hour
	}
}

// prefixCountUpdate evaluates the prefix-count condition of ps at t; before
// is the peer's count just before the change being processed (its current
// count for Tick).
func (r *RIB) prefixCountUpdate(t int64, ps *peerState, before int) {
	c := &r.cfg.PrefixCount
	if !ps.pcActive && t-ps.pcBaseAt >= int64(c.Window) {
		// A new window starts: its baseline is the count at its start,
		// which is the count before this change.
		ps.pcBase, ps.pcBaseAt = before, t
	}
	base, now := ps.pcBase, ps.routes
	if base < c.MinBaseline {
		return
	}
	away := math.Abs(float64(now-base)) > c.Fraction*float64(base)
	switch {
	case !ps.pcActive && away:
		ps.pcActive, ps.pcStart = true, t
		r.active.PrefixCount++
		r.emit(Event{
			Kind: EventPrefixCount, Phase: PhaseStart, Time: timeOf(t), Start: timeOf(t),
			Peer: ps.peer, Count: now, Previous: base,
		})
	case ps.pcActive && !away:
		r.prefixCountResolve(t, ps, "")
	case ps.pcActive && c.Rebaseline > 0 && t-ps.pcStart >= int64(c.Rebaseline) && ps.up && now > 0:
		r.prefixCountResolve(t, ps, "rebaselined")
		ps.pcBase, ps.pcBaseAt = now, t
	}
}

func (r *RIB) prefixCountResolve(t int64, ps *peerState, reason string) {
	ps.pcActive = false
	r.active.PrefixCount--
	r.emit(Event{
		Kind: EventPrefixCount, Phase: PhaseResolved, Time: timeOf(t), Start: timeOf(ps.pcStart),
		Duration: durationNS(t - ps.pcStart), Peer: ps.peer, Count: ps.routes, Previous: ps.pcBase, Reason: reason,
	})
}
