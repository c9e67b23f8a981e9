package rib

import (
	"errors"
	"fmt"
	"net/netip"
	"slices"
	"sync"
	"time"

	"github.com/gaissmai/bart"
)

// Config configures a RIB. Start from DefaultConfig; an analysis whose
// Enabled field is false costs nothing and emits nothing.
type Config struct {
	// CollapseASNs are the ASNs of services whose instances count as one
	// forwarding hop when they announce themselves as next hop (see the
	// package documentation on distinct paths). nil means the default,
	// 65515 (Azure gateways and Route Server); use an empty non-nil slice
	// for none.
	CollapseASNs []uint32
	// Classes configures route classification. A nil Rules means
	// DefaultClassConfig; use an empty non-nil slice for no rules.
	Classes       ClassConfig
	Overlap       OverlapConfig
	Redundancy    RedundancyConfig
	Flap          FlapConfig
	AdjacencyFlap AdjacencyFlapConfig
	MOAS          MOASConfig
	OriginChange  OriginChangeConfig
	PrefixCount   PrefixCountConfig
	// MaxPaths bounds the paths of all peers together; PeerPathLimit, when
	// set, returns the bound of one peer's paths (0: none), asked once when
	// the peer is first seen. A new path
	// beyond a bound is refused (ErrPathLimit, ErrPeerPathLimit); a path
	// that replaces one is always taken. 0 and nil: no bound.
	MaxPaths      int
	PeerPathLimit func(Peer) int
	// MaxAttrBytes bounds the memory of the distinct AS paths and community
	// lists (about 8 bytes per ASN or community): a route bringing a new
	// attribute set beyond it is refused (ErrAttrLimit). Routes count the
	// paths, this counts their size: a route of a 1,000-ASN path unlike any
	// other costs 8 KB. 0: no bound.
	MaxAttrBytes int
	// OnEvent receives every event, synchronously, with the RIB locked: it
	// must be quick (hand the event to a channel or a batch) and must not
	// call the RIB.
	OnEvent func(Event)
}

// DefaultConfig returns a configuration with every analysis on and the
// documented defaults.
func DefaultConfig() Config {
	return Config{
		CollapseASNs:  []uint32{65515},
		Classes:       DefaultClassConfig(),
		Overlap:       OverlapConfig{Enabled: true},
		Redundancy:    RedundancyConfig{Enabled: true, MinPaths: 2},
		Flap:          DefaultFlapConfig(),
		AdjacencyFlap: AdjacencyFlapConfig{Enabled: true, MaxDowns: 3, Window: 10 * time.Minute},
		MOAS:          MOASConfig{Enabled: true},
		OriginChange:  OriginChangeConfig{Enabled: true},
		PrefixCount:   PrefixCountConfig{Enabled: true, Fraction: 0.2, Window: 5 * time.Minute, MinBaseline: 10, Rebaseline: time.Hour},
	}
}

// RIB holds the routes of every peer in one prefix trie and runs the
// analyses on every change. It is safe for concurrent use: changes take an
// exclusive lock, look-ups a shared one.
type RIB struct {
	mu      sync.RWMutex
	cfg     Config
	onEvent func(Event)
	table   bart.Table[*entry]
	in      *interner
	cls     *classifier

	peers   []*peerState
	peerIdx map[Peer]uint32
	free    []uint32 // slots of forgotten peers (nil in peers), reused first

	paths   int
	byClass [NumFamilies][NumClasses]int

	prefixAnalyses bool // any analysis that looks at prefixes is on
	allow          []OverlapAllow
	scopeAll       bool  // the overlap analysis considers every class
	scopeMask      uint8 // else the classes it considers (1<<Class)
	overlap        map[netip.Prefix]*overlapState
	redundancy     map[netip.Prefix]*redundancyState
	moas           map[netip.Prefix]*moasState
	flaps          map[netip.Prefix]*flapState
	active         Active

	// scoped holds the prefixes in the scope of the overlap analysis (the
	// same entries as table), kept only when the scope is not every class.
	scoped bart.Table[*entry]
}

// entry is the value stored in the trie for one prefix: its paths, at most
// one per (peer, path ID). A new entry's routes slice points at inline, so
// the first path lives in the same allocation (and cache lines) as the
// entry: a look-up of a single-path prefix costs one memory access less.
type entry struct {
	routes []route
	inline [1]route
	cond   Condition // open conditions, for look-ups (lookup.go)
}

func newEntry() *entry {
	e := &entry{}
	e.routes = e.inline[:0:1]
	return e
}

// route is 16 bytes: the peer's index, the ADD-PATH ID and the interned
// attributes.
type route struct {
	peer  uint32
	id    uint32
	attrs *Attrs
}

func (e *entry) find(peer, id uint32) int {
	for i, rt := range e.routes {
		if rt.peer == peer && rt.id == id {
			return i
		}
	}
	return -1
}

type peerState struct {
	peer   Peer
	label  string // peerLabel(peer), for look-ups
	idx    uint32
	up     bool
	since  int64
	downs  uint64
	routes int
	limit  int // Config.PeerPathLimit of the peer, 0: none
	counts [NumFamilies][NumClasses]int

	// prefix count analysis
	pcBase   int
	pcBaseAt int64
	pcActive bool
	pcStart  int64

	// adjacency flap analysis: the last MaxDowns+1 session downs
	downTimes []int64
	adjActive bool
	adjStart  int64
}

// ErrInvalidPrefix is returned for a zero or malformed prefix.
var ErrInvalidPrefix = errors.New("rib: invalid prefix")

// New returns an empty RIB.
func New(cfg Config) (*RIB, error) {
	if cfg.CollapseASNs == nil {
		cfg.CollapseASNs = []uint32{65515}
	}
	if cfg.Classes.Rules == nil {
		def := cfg.Classes.Default
		cfg.Classes = DefaultClassConfig()
		if def != ClassOther {
			cfg.Classes.Default = def
		}
	}
	cls, err := newClassifier(cfg.Classes)
	if err != nil {
		return nil, err
	}
	if cfg.Redundancy.MinPaths <= 0 {
		cfg.Redundancy.MinPaths = 2
	}
	cfg.Flap.setDefaults()
	if cfg.AdjacencyFlap.MaxDowns <= 0 {
		cfg.AdjacencyFlap.MaxDowns = 3
	}
	if cfg.AdjacencyFlap.Window <= 0 {
		cfg.AdjacencyFlap.Window = 10 * time.Minute
	}
	cfg.PrefixCount.setDefaults()
	r := &RIB{
		cfg:        cfg,
		onEvent:    cfg.OnEvent,
		in:         newInterner(),
		cls:        cls,
		peerIdx:    make(map[Peer]uint32),
		overlap:    make(map[netip.Prefix]*overlapState),
		redundancy: make(map[netip.Prefix]*redundancyState),
		moas:       make(map[netip.Prefix]*moasState),
		flaps:      make(map[netip.Prefix]*flapState),
	}
	if r.scopeMask, err = overlapScope(cfg.Overlap.Classes); err != nil {
		return nil, err
	}
	r.scopeAll = r.scopeMask == allClasses
	for i, a := range cfg.Overlap.Allow {
		if !a.Prefix.IsValid() || (a.Other != netip.Prefix{} && !a.Other.IsValid()) {
			return nil, fmt.Errorf("rib: overlap allow entry %d: invalid prefix", i)
		}
		// The form of the table's prefixes (masked, IPv4-mapped unmapped),
		// which an Exact entry compares for equality.
		a.Prefix, _ = canonical(a.Prefix)
		if a.Other.IsValid() {
			a.Other, _ = canonical(a.Other)
		}
		r.allow = append(r.allow, a)
	}
	r.prefixAnalyses = cfg.Overlap.Enabled || cfg.Redundancy.Enabled || cfg.Flap.Enabled ||
		cfg.MOAS.Enabled || cfg.OriginChange.Enabled
	return r, nil
}

func canonical(p netip.Prefix) (netip.Prefix, bool) {
	if !p.IsValid() {
		return p, false
	}
	if a := p.Addr(); a.Is4In6() && p.Bits() >= 96 {
		p = netip.PrefixFrom(a.Unmap(), p.Bits()-96)
	}
	return p.Masked(), true
}

func (r *RIB) peer(p Peer, t int64, create bool) *peerState {
	if i, ok := r.peerIdx[p]; ok {
		return r.peers[i]
	}
	if !create {
		return nil
	}
	ps := &peerState{peer: p, since: t, pcBaseAt: t, label: peerLabel(p)}
	r.addPeer(ps)
	return ps
}

func (r *RIB) originOf(rt route) uint32 {
	p := rt.attrs.ASPath
	if len(p.Segments) == 0 {
		return r.peers[rt.peer].peer.ASN
	}
	return p.OriginASN
}

// originSet appends to dst the distinct non-zero origin ASNs of routes, in
// ascending order.
func (r *RIB) originSet(routes []route, dst []uint32) []uint32 {
	for _, rt := range routes {
		o := r.originOf(rt)
		if o == 0 {
			continue
		}
		i, found := slices.BinarySearch(dst, o)
		if !found {
			dst = slices.Insert(dst, i, o)
		}
	}
	return dst
}

// snapshot is what the analyses need to know about a prefix before a change.
type snapshot struct {
	origins  []uint32
	distinct int
	scoped   bool // in the scope of the overlap analysis
}

func (r *RIB) snap(routes []route, buf []uint32) snapshot {
	var s snapshot
	if r.cfg.Overlap.Enabled || r.cfg.MOAS.Enabled {
		s.origins = r.originSet(routes, buf)
	}
	if r.cfg.Overlap.Enabled {
		s.scoped = r.inScope(routes)
	}
	if r.cfg.Redundancy.Enabled {
		s.distinct = r.distinctPaths(routes)
	}
	return s
}

// afterChange runs the prefix analyses once the routes of e, the entry of
// pfx, have changed.
func (r *RIB) afterChange(t int64, pfx netip.Prefix, e *entry, before snapshot, penalty float64) {
	routes := e.routes
	var buf [8]uint32
	after := r.snap(routes, buf[:0])
	if r.cfg.Redundancy.Enabled {
		r.redundancyUpdate(t, pfx, routes, before.distinct, after.distinct)
	}
	originsChanged := !slices.Equal(before.origins, after.origins)
	// An exempt prefix (a default route while DefaultRoutes is off) is in
	// no pair: it needs no walk and stays out of the table of in-scope
	// prefixes, so that a default route learned in scope does not make
	// every out-of-scope change walk that table.
	if r.cfg.Overlap.Enabled && !r.overlapExempt(pfx) {
		scopeChanged := before.scoped != after.scoped
		if scopeChanged {
			if after.scoped {
				r.scoped.Insert(pfx, e)
			} else {
				r.scoped.Delete(pfx)
			}
		}
		// Without origins a prefix conflicts with none, in or out of scope.
		if originsChanged || (scopeChanged && len(after.origins) > 0) {
			r.overlapUpdate(t, pfx, routes, before.origins, after.origins, before.scoped, after.scoped)
		}
	}
	if originsChanged && r.cfg.MOAS.Enabled {
		r.moasUpdate(t, pfx, routes, after.origins)
	}
	if r.cfg.Flap.Enabled && penalty > 0 {
		r.flapAdd(t, pfx, routes, penalty)
	}
}

func (r *RIB) count(ps *peerState, fam Family, c Class, d int) {
	ps.counts[fam][c] += d
	ps.routes += d
	r.byClass[fam][c] += d
	r.paths += d
}

// Announce adds or replaces the path (peer, p.Prefix, p.ID) and runs the
// analyses. Announcing identical attributes again changes nothing. A peer
// that was down is marked up.
func (r *RIB) Announce(now time.Time, peer Peer, p Path) error {
	_, _, err := r.AnnounceAttrs(now, peer, p)
	return err
}

// AnnounceAttrs is Announce returning the attributes the RIB holds for the path (interned:
// the same pointer is the same attributes) and same: the path was there with these
// attributes already, nothing changed.
func (r *RIB) AnnounceAttrs(now time.Time, peer Peer, p Path) (attrs *Attrs, same bool, err error) {
	pfx, ok := canonical(p.Prefix)
	if !ok {
		return nil, false, ErrInvalidPrefix
	}
	t := now.UnixNano()
	r.mu.Lock()
	defer r.mu.Unlock()

	ps := r.peer(peer, t, true)
	if err := r.checkLimits(ps, pfx, p.ID); err != nil {
		return nil, false, err
	}
	if !ps.up {
		ps.up, ps.since = true, t
	}
	path := r.in.path(p.ASPath)
	class := r.cls.classify(pfx, peer.ASN, path)
	attrs = r.in.intern(&p, path, class)
	if err := r.checkAttrBytes(attrs); err != nil {
		return nil, false, err
	}
	fam := FamilyOf(pfx)

	e, ok := r.table.Get(pfx)
	if !ok {
		e = newEntry()
		r.table.Insert(pfx, e)
	}
	var before snapshot
	var buf [8]uint32
	if r.prefixAnalyses {
		before = r.snap(e.routes, buf[:0])
	}
	countBefore := ps.routes
	penalty := 0.0
	var replaced *Attrs
	if i := e.find(ps.idx, p.ID); i >= 0 {
		old := e.routes[i]
		if old.attrs == attrs {
			r.in.releaseAttrs(attrs)
			return attrs, true, nil
		}
		replaced = old.attrs
		e.routes[i].attrs = attrs
		r.count(ps, fam, old.attrs.Class, -1)
		r.count(ps, fam, attrs.Class, +1)
		if r.cfg.Flap.Enabled {
			penalty = r.attributePenalty(e.routes, i)
		}
		if r.cfg.OriginChange.Enabled {
			r.originChange(t, pfx, e.routes, i, old)
		}
	} else {
		e.routes = append(e.routes, route{peer: ps.idx, id: p.ID, attrs: attrs})
		r.count(ps, fam, attrs.Class, +1)
	}
	if r.prefixAnalyses {
		r.afterChange(t, pfx, e, before, penalty)
	}
	if replaced != nil {
		r.in.releaseAttrs(replaced)
	}
	if r.cfg.PrefixCount.Enabled {
		r.prefixCountUpdate(t, ps, countBefore)
	}
	return attrs, false, nil
}

// Withdraw removes the path of peer for prefix with path ID 0.
func (r *RIB) Withdraw(now time.Time, peer Peer, prefix netip.Prefix) {
	r.WithdrawPath(now, peer, prefix, 0)
}

// WithdrawPath removes the path (peer, prefix, id). Withdrawing a path that
// is not there does nothing.
func (r *RIB) WithdrawPath(now time.Time, peer Peer, prefix netip.Prefix, id uint32) {
	pfx, ok := canonical(prefix)
	if !ok {
		return
	}
	t := now.UnixNano()
	r.mu.Lock()
	defer r.mu.Unlock()

	ps := r.peer(peer, t, false)
	if ps == nil {
		return
	}
	e, ok := r.table.Get(pfx)
	if !ok {
		return
	}
	i := e.find(ps.idx, id)
	if i < 0 {
		return
	}
	var before snapshot
	var buf [8]uint32
	if r.prefixAnalyses {
		before = r.snap(e.routes, buf[:0])
	}
	countBefore := ps.routes
	old := e.routes[i]
	e.routes = slices.Delete(e.routes, i, i+1)
	r.count(ps, FamilyOf(pfx), old.attrs.Class, -1)
	penalty := 0.0
	if r.cfg.Flap.Enabled {
		penalty = r.withdrawPenalty(e.routes, old)
	}
	if len(e.routes) == 0 {
		r.table.Delete(pfx)
	}
	if r.prefixAnalyses {
		r.afterChange(t, pfx, e, before, penalty)
	}
	r.in.releaseAttrs(old.attrs)
	if r.cfg.PrefixCount.Enabled {
		r.prefixCountUpdate(t, ps, countBefore)
	}
}

// PeerUp records that a session with peer is established. Announce does
// the same implicitly; PeerUp makes a peer with no routes yet visible in
// Peers.
func (r *RIB) PeerUp(now time.Time, peer Peer) {
	t := now.UnixNano()
	r.mu.Lock()
	defer r.mu.Unlock()
	ps := r.peer(peer, t, true)
	if !ps.up {
		ps.up, ps.since = true, t
	}
}

// PeerDown removes every path of peer, emitting an EventWithdraw for each,
// runs the analyses for every affected prefix (a session reset adds no flap
// penalty: it is counted by the adjacency-flap analysis), and, when the peer
// was up, counts a session down. The walk over the trie is O(prefixes), under the shared
// lock; the paths go a few hundred prefixes per hold of the exclusive lock, so look-ups
// never wait for the whole table (see removePeer).
func (r *RIB) PeerDown(now time.Time, peer Peer) {
	t := now.UnixNano()
	r.mu.Lock()
	defer r.mu.Unlock()
	ps := r.peer(peer, t, true)
	countBefore := ps.routes
	if ps.routes > 0 {
		r.removePeer(t, ps, peer) // peerdown.go: releases the lock between chunks
	}
	if ps.up {
		ps.downs++
		ps.up, ps.since = false, t
		if r.cfg.AdjacencyFlap.Enabled {
			r.adjacencyDown(t, ps)
		}
	}
	if r.cfg.PrefixCount.Enabled {
		r.prefixCountUpdate(t, ps, countBefore)
	}
}

// Tick advances time without a routing change: flap scores decay and flap
// conditions resolve, adjacency-flap windows slide, and prefix-count
// baselines are re-sampled. Call it periodically (every few seconds to a
// minute); resolution events carry the exact instant the condition ended.
func (r *RIB) Tick(now time.Time) {
	t := now.UnixNano()
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.cfg.Flap.Enabled {
		r.flapTick(t)
	}
	for _, ps := range r.peers {
		if ps == nil {
			continue // forgotten
		}
		if r.cfg.AdjacencyFlap.Enabled {
			r.adjacencyCheck(t, ps)
		}
		if r.cfg.PrefixCount.Enabled {
			r.prefixCountUpdate(t, ps, ps.routes)
		}
	}
}
