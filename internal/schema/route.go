package schema

// Attributes added by the sampling processor when routing.source names a bgp receiver: the
// best route of each side of the flow (longest match in the receiver's RIB).
const (
	FlowSrcRoutePrefix   = "flow.src.route.prefix"
	FlowSrcRouteClass    = "flow.src.route.class"
	FlowSrcRouteOriginAS = "flow.src.route.origin_as"
	FlowSrcRouteASPath   = "flow.src.route.as_path"
	FlowSrcRouteNextHop  = "flow.src.route.next_hop"
	FlowSrcRoutePeer     = "flow.src.route.peer"
	FlowDstRoutePrefix   = "flow.dst.route.prefix"
	FlowDstRouteClass    = "flow.dst.route.class"
	FlowDstRouteOriginAS = "flow.dst.route.origin_as"
	FlowDstRouteASPath   = "flow.dst.route.as_path"
	FlowDstRouteNextHop  = "flow.dst.route.next_hop"
	FlowDstRoutePeer     = "flow.dst.route.peer"
	// FlowRouteState is pending until the RIB has converged, then converged.
	FlowRouteState = "flow.route.state"
	// FlowRouteCondition is an open condition of the destination's prefix.
	FlowRouteCondition = "flow.route.condition"
)

// Values of FlowRouteState and FlowRouteCondition.
const (
	RouteStatePending            = "pending"
	RouteStateConverged          = "converged"
	RouteConditionRedundancyLost = "redundancy_lost"
	RouteConditionOverlap        = "overlap"
)
