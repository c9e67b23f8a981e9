package rib

import (
	"net/netip"
	"strconv"
	"time"
)

// EventKind is the analysis (or RIB operation) an Event comes from.
type EventKind uint8

const (
	// EventWithdraw is a route removed by PeerDown (an implicit
	// withdrawal). Explicit Withdraw calls do not emit it: the caller
	// already knows.
	EventWithdraw EventKind = iota + 1
	// EventOverlap: Prefix overlaps other prefixes of different origins.
	EventOverlap
	// EventLostRedundancy: Prefix has fewer distinct paths than required.
	EventLostRedundancy
	// EventFlap: Prefix's flap score is above the suppress threshold.
	EventFlap
	// EventAdjacencyFlap: Peer went down more than the allowed number of
	// times within the window.
	EventAdjacencyFlap
	// EventOriginChange: a path of Prefix changed its origin ASN (instant).
	EventOriginChange
	// EventMOAS: Prefix has several origin ASNs at once.
	EventMOAS
	// EventPrefixCount: Peer's route count moved away from its baseline.
	EventPrefixCount
)

var kindNames = [...]string{
	EventWithdraw:       "withdraw",
	EventOverlap:        "overlap",
	EventLostRedundancy: "lost_redundancy",
	EventFlap:           "flap",
	EventAdjacencyFlap:  "adjacency_flap",
	EventOriginChange:   "origin_change",
	EventMOAS:           "moas",
	EventPrefixCount:    "prefix_count",
}

func (k EventKind) String() string {
	if int(k) < len(kindNames) && kindNames[k] != "" {
		return kindNames[k]
	}
	return "event(" + strconv.Itoa(int(k)) + ")"
}

// Phase says whether an event opens a condition, closes it, or stands alone.
type Phase uint8

const (
	// PhaseInstant is a one-off event (withdrawal, origin change).
	PhaseInstant Phase = iota
	// PhaseStart opens a condition; a PhaseResolved event with the same
	// Kind and Prefix (or Peer for peer-level kinds) closes it.
	PhaseStart
	// PhaseResolved closes a condition; Start and Duration are set.
	PhaseResolved
)

func (p Phase) String() string {
	switch p {
	case PhaseInstant:
		return "instant"
	case PhaseStart:
		return "start"
	case PhaseResolved:
		return "resolved"
	}
	return "phase(" + strconv.Itoa(int(p)) + ")"
}

// Event is emitted by the RIB through Config.OnEvent. Which fields are set
// depends on Kind; the comments say where each one is used. Slices are fresh
// for each event and belong to the receiver.
type Event struct {
	Kind  EventKind
	Phase Phase
	// Time is when the event happened. For flap and adjacency-flap
	// resolutions found by Tick it is the computed instant the condition
	// ended, which may be before the Tick.
	Time time.Time
	// Start is when the condition began (PhaseStart and PhaseResolved).
	Start time.Time
	// Duration is Time - Start (PhaseResolved).
	Duration time.Duration
	// Prefix is set for every prefix-level kind and for EventWithdraw.
	Prefix netip.Prefix
	// Peer is set for the peer-level kinds (adjacency flap, prefix count)
	// and for EventWithdraw and EventOriginChange.
	Peer Peer
	// PathID is the ADD-PATH identifier of a withdrawn route.
	PathID uint32
	// Peers are the peers with a path for Prefix at the time of the event.
	Peers []Peer
	// Related are, for overlap start events, the overlapping prefixes that
	// caused the start.
	Related []netip.Prefix
	// Origins: MOAS start, the origin ASNs; origin change, [old, new];
	// overlap start, the origins of Prefix.
	Origins []uint32
	// Paths: lost redundancy, the number of distinct paths now.
	Paths int
	// Previous: lost redundancy, the number of distinct paths before the
	// loss; prefix count, the baseline.
	Previous int
	// Count: prefix count, the peer's route count now; adjacency flap, the
	// session downs within the window.
	Count int
	// Score: flap, the penalty score at Time.
	Score float64
	// Reason qualifies some resolutions: "withdrawn" (lost redundancy or
	// MOAS ended because the prefix disappeared), "rebaselined" (prefix
	// count accepted as the new baseline).
	Reason string
}

// Active counts the conditions currently open, per analysis, for metrics.
// Each is the number of PhaseStart events not yet followed by their
// PhaseResolved event.
type Active struct {
	Overlap        int // prefixes overlapping another prefix
	LostRedundancy int // prefixes below the required distinct paths
	Flap           int // prefixes with a score above suppress, not yet below reuse
	AdjacencyFlap  int // peers flapping
	MOAS           int // prefixes with several origins
	PrefixCount    int // peers away from their baseline
}

func (r *RIB) emit(e Event) {
	if r.onEvent != nil {
		r.onEvent(e)
	}
}

func timeOf(ns int64) time.Time { return time.Unix(0, ns).UTC() }

// peersOf lists the distinct peers of a set of routes.
func (r *RIB) peersOf(routes []route) []Peer {
	if len(routes) == 0 {
		return nil
	}
	out := make([]Peer, 0, len(routes))
	var seen []uint32
	for _, rt := range routes {
		dup := false
		for _, s := range seen {
			if s == rt.peer {
				dup = true
				break
			}
		}
		if !dup {
			seen = append(seen, rt.peer)
			out = append(out, r.peers[rt.peer].peer)
		}
	}
	return out
}

func durationNS(ns int64) time.Duration { return time.Duration(ns) }
