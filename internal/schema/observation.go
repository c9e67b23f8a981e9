package schema

// Observation point and accounting attributes, set on every flow record by the sampling
// processor (see docs/schema.md, "Observation points and accounting").
const (
	// FlowObservationPoint names where the record was observed: the exporter address and
	// ingress interface of IPFIX / NetFlow ("192.0.2.1/if/3"), the flow log's target resource
	// ID in lower case for flow logs.
	FlowObservationPoint = "flow.observation.point"
	// FlowObservationKind is the kind of the observation point: edge, gateway_subnet, vnet,
	// subnet, nic, nsg (unknown when it cannot be told).
	FlowObservationKind = "flow.observation.kind"
	// FlowCounted is true on the one observation that counts for its traffic; totals sum only
	// records with flow.counted=true.
	FlowCounted = "flow.counted"
)

// Values of FlowObservationKind.
const (
	ObservationKindEdge          = "edge"
	ObservationKindGatewaySubnet = "gateway_subnet"
	ObservationKindVNet          = "vnet"
	ObservationKindSubnet        = "subnet"
	ObservationKindNIC           = "nic"
	ObservationKindNSG           = "nsg"
	ObservationKindUnknown       = "unknown"
)
