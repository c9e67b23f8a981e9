package schema

// BGPReceiver is the resource attribute naming the bgp receiver instance (its component ID)
// on its logs and metrics.
const BGPReceiver = "bgp.receiver"

// BGP log record attributes (bgp receiver): one log record per routing event.
const (
	// BGPEvent is the event name (also the log record's event name): one of the BGPEvent* values.
	BGPEvent = "bgp.event"
	// BGPSource says how the event reached the collector: bgp, bmp or mrt.
	BGPSource = "bgp.source"
	// BGPRouterAddress is the monitored router (BMP) or the MRT file's collector address.
	BGPRouterAddress = "bgp.router.address"
	BGPPeerAddress   = "bgp.peer.address"
	BGPPeerASN       = "bgp.peer.asn"
	BGPPeerName      = "bgp.peer.name"
	// BGPSessionState is the session state reached by a peer up/down event.
	BGPSessionState = "bgp.session.state"
	// BGPDownReason is why a session went down (the speaker's, BMP's or the MRT log's reason).
	BGPDownReason = "bgp.down.reason"
	// BGPGracefulRestart: the session went down without NOTIFICATION with Graceful Restart
	// negotiated (RFC 4724); its routes are kept as stale for the peer's restart time.
	BGPGracefulRestart     = "bgp.graceful_restart"
	BGPNotificationCode    = "bgp.notification.code"
	BGPNotificationSubcode = "bgp.notification.subcode"
	BGPFamily              = "bgp.family"
	BGPPrefix              = "bgp.prefix"
	BGPPathID              = "bgp.path_id"
	BGPNextHop             = "bgp.next_hop"
	BGPASPath              = "bgp.as_path"
	BGPASPathLength        = "bgp.as_path.length"
	BGPOriginASN           = "bgp.origin_asn"
	BGPOrigin              = "bgp.origin"
	BGPMED                 = "bgp.med"
	BGPLocalPref           = "bgp.local_pref"
	BGPCommunities         = "bgp.communities"
	BGPLargeCommunities    = "bgp.large_communities"
	BGPRouteClass          = "bgp.route.class"
	BGPPostPolicy          = "bgp.post_policy"
	BGPMessageType         = "bgp.message.type"
	BGPMessageDirection    = "bgp.message.direction"
	BGPEventPhase          = "bgp.event.phase"
	BGPEventStart          = "bgp.event.start"
	BGPEventDuration       = "bgp.event.duration"
	BGPEventReason         = "bgp.event.reason"
	BGPRelatedPrefixes     = "bgp.related_prefixes"
	BGPOrigins             = "bgp.origins"
	BGPPeers               = "bgp.peers"
	BGPPaths               = "bgp.paths"
	BGPPathsPrevious       = "bgp.paths.previous"
	BGPPrefixCount         = "bgp.prefix_count"
	BGPPrefixCountBaseline = "bgp.prefix_count.baseline"
	BGPSessionDowns        = "bgp.session.downs"
	BGPFlapScore           = "bgp.flap.score"
	BGPStatType            = "bgp.stat.type"
	BGPStatValue           = "bgp.stat.value"
	BGPStatFamily          = "bgp.stat.family"
	BGPBMPPeerDownReason   = "bgp.bmp.peer_down_reason"
	BGPMessageLength       = "bgp.message.length"
	// Peer up, from the two OPENs (the speaker's sessions and BMP): the peer's BGP
	// identifier, the negotiated hold time (s), the families both sides announced, the
	// capabilities the peer announced.
	BGPPeerRouterID     = "bgp.peer.router_id"
	BGPHoldTime         = "bgp.hold_time"
	BGPFamilies         = "bgp.families"
	BGPPeerCapabilities = "bgp.peer.capabilities"
)

// Values of BGPEvent.
const (
	BGPEventPeerUp         = "bgp.peer.up"
	BGPEventPeerDown       = "bgp.peer.down"
	BGPEventAnnounce       = "bgp.route.announce"
	BGPEventWithdraw       = "bgp.route.withdraw"
	BGPEventMessage        = "bgp.message"
	BGPEventStatistics     = "bgp.statistics"
	BGPEventOverlap        = "bgp.overlap"
	BGPEventLostRedundancy = "bgp.redundancy.lost"
	BGPEventFlap           = "bgp.flap"
	BGPEventAdjacencyFlap  = "bgp.adjacency_flap"
	BGPEventOriginChange   = "bgp.origin.change"
	BGPEventMOAS           = "bgp.moas"
	BGPEventPrefixCount    = "bgp.prefix_count.change"
)

// BGP metric names (bgp receiver).
const (
	BGPMetricPeerState            = "bgp.peer.state"
	BGPMetricPeerMessages         = "bgp.peer.messages"
	BGPMetricPeerPrefixes         = "bgp.peer.prefixes"
	BGPMetricPeerFlaps            = "bgp.peer.flaps"
	BGPMetricRIBPrefixes          = "bgp.rib.prefixes"
	BGPMetricRIBPaths             = "bgp.rib.paths"
	BGPMetricOverlapsActive       = "bgp.overlaps.active"
	BGPMetricRedundancyLostActive = "bgp.redundancy.lost.active"
	BGPMetricFlapsActive          = "bgp.flaps.active"
	BGPMetricAdjacencyFlapsActive = "bgp.adjacency_flaps.active"
	BGPMetricMOASActive           = "bgp.moas.active"
	BGPMetricPrefixCountActive    = "bgp.prefix_count.active"
)

// Values of BGPSource.
const (
	BGPSourceBGP = "bgp"
	BGPSourceBMP = "bmp"
	BGPSourceMRT = "mrt"
)

// Values of BGPEventPhase.
const (
	BGPPhaseStart    = "start"
	BGPPhaseResolved = "resolved"
	BGPPhaseInstant  = "instant"
)
