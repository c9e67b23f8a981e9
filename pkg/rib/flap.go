package rib

import (
	"cmp"
	"math"
	"net/netip"
	"slices"
	"time"
)

// FlapConfig configures the route-flap score (RFC 2439 style, used as a
// score with hysteresis: nothing is suppressed).
type FlapConfig struct {
	Enabled bool
	// HalfLife of the exponential decay (default 15 min).
	HalfLife time.Duration
	// WithdrawPenalty is added when a distinct path disappears (default
	// 1000); AttributePenalty when a path's attributes change (default 500).
	WithdrawPenalty  float64
	AttributePenalty float64
	// Suppress: a score reaching it opens the condition (default 2000).
	// Reuse: a score decaying below it closes the condition (default 750).
	Suppress float64
	Reuse    float64
}

// DefaultFlapConfig returns the FRR/Cisco dampening defaults, enabled.
func DefaultFlapConfig() FlapConfig {
	return FlapConfig{
		Enabled: true, HalfLife: 15 * time.Minute,
		WithdrawPenalty: 1000, AttributePenalty: 500, Suppress: 2000, Reuse: 750,
	}
}

func (c *FlapConfig) setDefaults() {
	d := DefaultFlapConfig()
	if c.HalfLife <= 0 {
		c.HalfLife = d.HalfLife
	}
	if c.WithdrawPenalty <= 0 {
		c.WithdrawPenalty = d.WithdrawPenalty
	}
	if c.AttributePenalty <= 0 {
		c.AttributePenalty = d.AttributePenalty
	}
	if c.Suppress <= 0 {
		c.Suppress = d.Suppress
	}
	if c.Reuse <= 0 {
		c.Reuse = d.Reuse
	}
}

// flapForget: an inactive score below this is dropped with its state.
const flapForget = 1.0

type flapState struct {
	score  float64 // at time at
	at     int64
	active bool
	start  int64
}

// withdrawPenalty is the penalty for withdrawing old, given the routes that
// remain: a full penalty when no remaining route is the same path (so the
// second Route Server instance withdrawing its copy adds nothing), else 0.
func (r *RIB) withdrawPenalty(remaining []route, old route) float64 {
	for _, rt := range remaining {
		if r.samePath(rt, old) {
			return 0
		}
	}
	return r.cfg.Flap.WithdrawPenalty
}

// attributePenalty is the penalty for routes[i] having replaced a route
// with other attributes: the attribute penalty, unless another route of the
// same path already carries the same attributes apart from the next hop
// (the echo of one change from a second Route Server instance).
func (r *RIB) attributePenalty(routes []route, i int) float64 {
	n := routes[i]
	for j, rt := range routes {
		if j != i && r.samePath(rt, n) && sameExceptNextHop(rt.attrs, n.attrs) {
			return 0
		}
	}
	return r.cfg.Flap.AttributePenalty
}

func (r *RIB) decay(score float64, from, to int64) float64 {
	if to <= from {
		return score
	}
	return score * math.Exp2(-float64(to-from)/float64(r.cfg.Flap.HalfLife))
}

// reuseAt is the instant a score of s at time at decays to the reuse
// threshold.
func (r *RIB) reuseAt(s float64, at int64) int64 {
	if s <= r.cfg.Flap.Reuse {
		return at
	}
	return at + int64(math.Ceil(float64(r.cfg.Flap.HalfLife)*math.Log2(s/r.cfg.Flap.Reuse)))
}

func (r *RIB) flapResolve(pfx netip.Prefix, st *flapState, routes []route) {
	end := r.reuseAt(st.score, st.at)
	st.active = false
	r.active.Flap--
	r.emit(Event{
		Kind: EventFlap, Phase: PhaseResolved, Time: timeOf(end), Start: timeOf(st.start),
		Duration: durationNS(end - st.start), Prefix: pfx, Peers: r.peersOf(routes), Score: r.decay(st.score, st.at, end),
	})
}

// flapAdd decays the score of pfx to t, closes the condition if the score
// went below reuse in the meantime, adds the penalty, and opens the
// condition if the score reaches suppress.
func (r *RIB) flapAdd(t int64, pfx netip.Prefix, routes []route, penalty float64) {
	st := r.flaps[pfx]
	if st == nil {
		st = &flapState{at: t}
		r.flaps[pfx] = st
	} else if st.active && r.reuseAt(st.score, st.at) <= t {
		r.flapResolve(pfx, st, routes)
	}
	st.score = r.decay(st.score, st.at, t) + penalty
	st.at = t
	if !st.active && st.score >= r.cfg.Flap.Suppress {
		st.active, st.start = true, t
		r.active.Flap++
		r.emit(Event{
			Kind: EventFlap, Phase: PhaseStart, Time: timeOf(t), Start: timeOf(t), Prefix: pfx,
			Peers: r.peersOf(routes), Score: st.score,
		})
	}
}

// flapTick closes the conditions whose score decayed below reuse by t, in
// the order they ended, and forgets idle scores.
func (r *RIB) flapTick(t int64) {
	type due struct {
		pfx netip.Prefix
		st  *flapState
		end int64
	}
	var ended []due
	for pfx, st := range r.flaps {
		if st.active {
			if end := r.reuseAt(st.score, st.at); end <= t {
				ended = append(ended, due{pfx, st, end})
			}
			continue
		}
		if r.decay(st.score, st.at, t) < flapForget {
			delete(r.flaps, pfx)
		}
	}
	slices.SortFunc(ended, func(a, b due) int {
		if c := cmp.Compare(a.end, b.end); c != 0 {
			return c
		}
		return a.pfx.Compare(b.pfx)
	})
	for _, d := range ended {
		var routes []route
		if e, ok := r.table.Get(d.pfx); ok {
			routes = e.routes
		}
		r.flapResolve(d.pfx, d.st, routes)
		if r.decay(d.st.score, d.st.at, t) < flapForget {
			delete(r.flaps, d.pfx)
		}
	}
}

// AdjacencyFlapConfig configures the adjacency-flap analysis.
type AdjacencyFlapConfig struct {
	Enabled bool
	// The condition opens when a peer goes down more than MaxDowns times
	// (default 3) within Window (default 10 min).
	MaxDowns int
	Window   time.Duration
}

// adjacencyDown records a session down of ps at t.
func (r *RIB) adjacencyDown(t int64, ps *peerState) {
	r.adjacencyCheck(t, ps)
	k := r.cfg.AdjacencyFlap.MaxDowns
	ps.downTimes = append(ps.downTimes, t)
	if len(ps.downTimes) > k+1 {
		ps.downTimes = slices.Delete(ps.downTimes, 0, len(ps.downTimes)-(k+1))
	}
	w := int64(r.cfg.AdjacencyFlap.Window)
	if !ps.adjActive && len(ps.downTimes) == k+1 && ps.downTimes[0] > t-w {
		ps.adjActive, ps.adjStart = true, t
		r.active.AdjacencyFlap++
		r.emit(Event{
			Kind: EventAdjacencyFlap, Phase: PhaseStart, Time: timeOf(t), Start: timeOf(t),
			Peer: ps.peer, Count: k + 1,
		})
	}
}

// adjacencyCheck closes the condition of ps if, by t, fewer than MaxDowns+1
// downs remain within the window; the event carries the instant that
// happened (the oldest of the last MaxDowns+1 downs plus the window).
func (r *RIB) adjacencyCheck(t int64, ps *peerState) {
	if !ps.adjActive {
		return
	}
	end := ps.downTimes[0] + int64(r.cfg.AdjacencyFlap.Window)
	if end > t {
		return
	}
	ps.adjActive = false
	r.active.AdjacencyFlap--
	r.emit(Event{
		Kind: EventAdjacencyFlap, Phase: PhaseResolved, Time: timeOf(end), Start: timeOf(ps.adjStart),
		Duration: durationNS(end - ps.adjStart), Peer: ps.peer, Count: r.cfg.AdjacencyFlap.MaxDowns,
	})
}
