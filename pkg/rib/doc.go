// Package rib keeps the routes learned from every BGP peer in one table and
// runs the routing analyses of a hybrid Azure network on every change: it is
// the pure core of the BGP receiver (which feeds it from GoBGP, BMP and MRT)
// and depends on nothing but the standard library and a prefix trie.
//
// # Model
//
// A [Peer] is the source of routes: a direct BGP session, a peer of a
// router monitored over BMP (the (router, peer) pair) or a peer of an MRT
// file. Each peer has at most one path per (prefix, ADD-PATH ID); the ID is
// 0 without ADD-PATH. [RIB.Announce] adds or replaces a path,
// [RIB.Withdraw] and [RIB.WithdrawPath] remove one, [RIB.PeerDown] removes
// all of a peer's paths and emits an [EventWithdraw] for each.
//
// Paths live in a single prefix trie (github.com/gaissmai/bart), prefix ->
// the paths of every peer, which serves both the analyses and the look-ups:
// [RIB.LongestMatch] for an address and [RIB.Overlaps] for the supernets and
// subnets of a prefix. A path costs 16 bytes in its prefix's entry (peer
// index, path ID, pointer to its attributes): the attributes are interned.
// AS paths, community lists and whole attribute sets ([Attrs]: next hop, AS
// path, origin, MED, local preference, communities, large communities,
// class) are deduplicated and reference-counted, and leave their tables the
// moment the last route using them goes, so a full table with few distinct
// attribute sets stays small (see BENCH.md).
//
// Counts are kept per peer, per family and per [Class]; [RIB.Stats],
// [RIB.Peers] and [RIB.Active] expose them for metrics. With every analysis
// off the RIB still counts.
//
// Time is never read from the clock: every changing call takes the time of
// the change, and [RIB.Tick] advances time without a change, so that
// conditions that end by themselves (flap scores decaying, windows sliding)
// are resolved. Tests are therefore deterministic.
//
// # Origin ASN
//
// The origin of a path is the last ASN of its last non-confederation
// segment when that is an AS_SEQUENCE; the only member of an AS_SET of one;
// unknown (0) for an AS_SET of several ASNs (an aggregate). An empty AS path
// (a route from inside the neighbor AS, on iBGP) has the peer's ASN as
// origin. Unknown origins are left out of every origin comparison. Because
// the origin is the last ASN, the 65515 that an Azure gateway or Route
// Server puts in front of a path (once or prepended several times) never
// changes it: "65515 12076 65001" and "65515 65515 12076 65001" both have
// origin 65001, and a VNet prefix announced by both Route Server instances
// as "65515" has the single origin 65515.
//
// # Classification
//
// Each path gets a [Class] from ordered rules ([ClassRule]: origin ASNs,
// AS-path-contains, peer ASNs, prefix lists), first match wins, else the
// default. The defaults ([DefaultClassConfig]) are: expressroute when the AS
// path contains 12076, azure when the origin is 65515-65520, other
// otherwise. vpn, nva and onprem have no universal marker and need rules
// naming the customer's ASNs or prefixes.
//
// # Distinct paths
//
// Redundancy and flap scoring compare paths by their forwarding hop: the
// next hop, except that when a peer whose ASN is a collapse ASN
// ([Config.CollapseASNs], default 65515) announces itself as next hop, the
// hop is "that Azure service" rather than the instance's address. Two paths
// are the same path when their forwarding hops are equal, whatever the
// peers, path IDs, AS paths and other attributes. So the two Route Server
// instances announcing a VNet prefix (each with itself as next hop, or both
// with the gateway's address) are one path, while an on-premises prefix
// learned over two ExpressRoute links (two next hops) is two. AS paths are
// deliberately not compared: two sessions handing over the same next hop
// give no forwarding redundancy, and a path change reaching the two Route
// Server instances a few milliseconds apart would otherwise look like a
// second path appearing and then being lost.
//
// # Analyses
//
// Each analysis can be switched off in [Config]. Conditions are reported as
// a pair of events, [PhaseStart] then [PhaseResolved] (with Start and
// Duration), delivered to [Config.OnEvent]; [Active] counts the open ones.
// Per-prefix analysis state exists only while a condition is open (or, for
// flap, while a score is above 1) and is dropped when it returns to idle.
//
// Overlap ([EventOverlap]): prefixes P and Q overlap when one strictly
// contains the other, both have at least one known origin, they have no
// origin in common, at least one of them is in the scope of the analysis
// (see below; by default every prefix is), neither is a default route
// (unless [OverlapConfig].DefaultRoutes), and no [OverlapAllow] entry
// covers the pair. A prefix is in the condition while it overlaps at least
// one other prefix; the start event lists the prefixes that caused it
// (Related) and its origins. Two VNets announcing 10.1.0.0/16 and
// 10.1.128.0/17 from different origins open two conditions, one per
// prefix. An equal prefix with several origins is
// the MOAS condition, not an overlap. Aggregation inside one AS (a /16 and
// its /24s from the same origin) is not an overlap. Two VNets behind the
// same gateway both have origin 65515 and cannot be told apart this way.
// The analysis walks the supernets and subnets of a prefix only when its
// set of origins or its scope changes. On an Internet table most
// more-specifics overlap a covering prefix of another origin: scope the
// analysis, allow-list, or switch it off there.
//
// Two covering prefixes are common by design in hybrid Azure networks and
// are not overlapping address space. A default route (0.0.0.0/0 or ::/0)
// advertised by on-premises over ExpressRoute for forced tunnelling
// contains every VNet prefix; it overlaps nothing unless
// [OverlapConfig].DefaultRoutes is set (a default route can only be the
// covering prefix of a pair, so no other pair changes). An on-premises
// summary such as 10.0.0.0/8 contains the VNets carved out of it, and
// longest match makes that work: allow-list it with
// [OverlapAllow].Exact, which ignores the pairs of which the summary
// itself is one prefix and keeps the overlaps between the prefixes inside
// it (two VNets 10.1.0.0/16 and 10.1.128.0/17 of different origins),
// where an entry without Exact would ignore those too. With Other as well,
// an exact entry ignores the summary's pairs with the prefixes inside
// Other only. Both rules depend on the two prefixes of a pair alone, not
// on paths, so they filter pairs wherever pairs are counted and starts and
// resolutions stay paired.
//
// [OverlapConfig].Classes scopes the analysis by class: a prefix is in
// scope while at least one of its paths has one of these classes, and a
// pair is considered only when at least one of its two prefixes is in
// scope (empty: every class, every pair). Scoped to every class but other
// (the receiver's default), an Internet table of class other raises no
// overlap among its own prefixes, while a VNet (azure) overlapped by an
// on-premises prefix, or by an Internet prefix, still does. Scope is
// re-evaluated on every change of a prefix's paths, like its origins: when
// the last in-scope path of a prefix goes (withdrawn, replaced by a path
// of another class, its session down), the overlaps that held only through
// it resolve, and they start again when an in-scope path is announced,
// whichever prefix of the pair came first. A covering prefix in scope (an
// on-premises summary learned over ExpressRoute, or a default route with
// DefaultRoutes) still overlaps every more-specific of another origin
// unless allow-listed. The prefixes in scope
// are also kept in a second, small trie: a change of an out-of-scope
// prefix looks for overlapping prefixes there only, and costs one descent
// of it when there are none; a default route, while it overlaps nothing,
// is kept out of that trie.
//
// Lost redundancy ([EventLostRedundancy]): the condition opens when a
// change takes a prefix from at least [RedundancyConfig.MinPaths] (default
// 2) distinct paths to fewer, but not zero; it is resolved when the prefix
// is back to MinPaths distinct paths, or with Reason "withdrawn" when its
// last path goes. Since only the change itself is compared (before and
// after), no state is kept for healthy prefixes, and a prefix still being
// learned (one path, then two) opens nothing. A prefix that loses all its
// paths in one change (a single peer's ADD-PATH paths on PeerDown) is an
// outage, not a silent loss of backup, and opens nothing.
//
// Flap ([EventFlap]): each prefix has a penalty score, RFC 2439 style, used
// as a score with hysteresis (nothing is suppressed). A withdrawal adds
// [FlapConfig.WithdrawPenalty] (1000) when no remaining path of the prefix
// is the same distinct path, so the second Route Server instance
// withdrawing its copy adds nothing; re-announcement adds nothing; an
// attribute change adds [FlapConfig.AttributePenalty] (500) unless another
// path of the same distinct path already carries the same attributes apart
// from the next hop (the echo from the second instance). Paths removed by
// PeerDown add nothing: a session reset is an adjacency flap, and counting
// it per prefix would mark a whole table as flapping. The score decays
// exponentially with [FlapConfig.HalfLife] (15 min), evaluated lazily on
// the next change and on Tick. The condition opens when the score reaches
// Suppress (2000) and closes when it decays below Reuse (750); the resolved
// event carries the exact instant of the crossing, even if found later by
// Tick.
//
// Adjacency flap ([EventAdjacencyFlap]): every PeerDown of a peer that was
// up counts a session down ([PeerStats].Downs). The condition opens when a
// peer has more than [AdjacencyFlapConfig.MaxDowns] (3) downs within
// [AdjacencyFlapConfig.Window] (10 min), and is resolved at the instant
// that stops being true (the oldest of the last MaxDowns+1 downs leaves the
// window), found on the next PeerDown or Tick.
//
// Origin change ([EventOriginChange], instant): an announcement replaces a
// path whose known origin differs from the new known origin, and no other
// path of the prefix already has the new origin (so the echo of one change
// through the second Route Server instance is not reported twice). A prefix
// withdrawn and later announced from another origin is not reported.
//
// MOAS ([EventMOAS]): the condition is open while a prefix has two or more
// known origins at once. While a change reaches the two Route Server
// instances a few milliseconds apart, the prefix briefly has both origins;
// that is reported as a short condition (start and resolution with a
// duration of milliseconds) next to the origin change.
//
// Prefix count ([EventPrefixCount]): each peer has a baseline route count.
// While the condition is closed the baseline is re-sampled once per
// [PrefixCountConfig.Window] (5 min): at the first change or Tick after the
// window has elapsed, the baseline becomes the count just before that
// change. The condition opens when the count differs from the baseline by
// more than [PrefixCountConfig.Fraction] (0.2) of it, for baselines of at
// least MinBaseline (10) routes; the baseline is then frozen. It is
// resolved when the count is back within the fraction, or, when it has been
// open for [PrefixCountConfig.Rebaseline] (1 h) while the peer is up with
// routes, with Reason "rebaselined" (the new count becomes the baseline). A
// session down takes the count to zero and opens the condition; it stays
// open until the table is back. The first window after a peer appears has
// no baseline, so the initial table load opens nothing if it completes
// within one window.
//
// # Concurrency
//
// A RIB is safe for concurrent use. Changes hold an exclusive lock and
// look-ups a shared one; OnEvent is called with the lock held, so it must
// be quick and must not call the RIB. A change holds the exclusive lock for
// one path; a session down for a few dozen prefixes at a time (PeerDown), so
// a look-up ([RIB.Lookup], the flows' best path) never waits for a whole
// table.
//
// # Bounds
//
// [Config.MaxPaths] bounds the paths in total, [Config.PeerPathLimit] those
// of one peer, and [Config.MaxAttrBytes] the memory of the distinct AS paths
// and community lists; Announce refuses a new path beyond them
// ([ErrPathLimit], [ErrPeerPathLimit], [ErrAttrLimit]) and always takes one
// that replaces a path of the peer within the bounds. [RIB.ForgetPeers]
// forgets the peers that have been down, without a path, for a given time
// (and at least the adjacency-flap window): their slots are reused, and they
// leave [RIB.Peers].
package rib
