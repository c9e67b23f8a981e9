package schema

// BGPLimitReason is the attribute of otelcol_receiver_bgp_limited naming the bound that
// refused input (bmp_peers_per_router, bmp_peers, bmp_prefixes, routes, attribute_bytes, or
// a listener's refusal such as not_allowed or listener_full).
const BGPLimitReason = "bgp.limit.reason"
