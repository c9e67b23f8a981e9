// Package schema holds the attribute names and enumerated values shared by every
// otelcol-erviz component. docs/schema.md documents each of them; a test keeps the
// two in step. Names that the contrib netflowreceiver also emits are spelt the same
// way so that existing dashboards keep working.
package schema

// Resource attributes.
const (
	// FlowExporterAddress is the IP address of the IPFIX / NetFlow exporter (sender of the datagram).
	FlowExporterAddress = "flow.exporter.address"
	// FlowObservationDomainID is the IPFIX observation domain ID (NetFlow v9 source ID).
	FlowObservationDomainID = "flow.observation_domain_id"
	// CloudProvider is "azure" for flow logs.
	CloudProvider = "cloud.provider"
	// CloudResourceID is the flow log's target resource (VNet, subnet or NIC; NSG for NSG flow logs).
	CloudResourceID = "cloud.resource_id"
	// AzureFlowLogResourceID is the Network Watcher flow log resource that wrote the record.
	AzureFlowLogResourceID = "azure.flowlog.resource_id"
	// AzureFlowLogMACAddress is the MAC address of the NIC the tuples were seen at.
	AzureFlowLogMACAddress = "azure.flowlog.mac_address"
)

// Log record attributes: one log record per flow record.
const (
	FlowType               = "flow.type"
	SourceAddress          = "source.address"
	SourcePort             = "source.port"
	DestinationAddress     = "destination.address"
	DestinationPort        = "destination.port"
	NetworkTransport       = "network.transport"
	NetworkType            = "network.type"
	FlowIOBytes            = "flow.io.bytes"
	FlowIOPackets          = "flow.io.packets"
	FlowReverseIOBytes     = "flow.reverse.io.bytes"
	FlowReverseIOPackets   = "flow.reverse.io.packets"
	FlowStart              = "flow.start"
	FlowEnd                = "flow.end"
	FlowSamplingRate       = "flow.sampling_rate"
	FlowSamplerAddress     = "flow.sampler_address"
	FlowSrcAS              = "flow.src_as"
	FlowDstAS              = "flow.dst_as"
	FlowNextHop            = "flow.next_hop"
	FlowBGPNextHop         = "flow.bgp_next_hop"
	FlowInIf               = "flow.in_if"
	FlowOutIf              = "flow.out_if"
	FlowTCPFlags           = "flow.tcp_flags"
	FlowIPTOS              = "flow.ip_tos"
	FlowICMPType           = "flow.icmp.type"
	FlowICMPCode           = "flow.icmp.code"
	FlowVLAN               = "flow.vlan"
	FlowSequenceNum        = "flow.sequence_num"
	FlowState              = "flow.state"
	FlowAction             = "flow.action"
	AzureFlowLogDirection  = "azure.flowlog.direction"
	AzureFlowLogRule       = "azure.flowlog.rule"
	AzureFlowLogACLID      = "azure.flowlog.acl_id"
	AzureFlowLogEncryption = "azure.flowlog.encryption"
	// LogRecordUID is a stable per-record ID (OTel semantic convention) so that sinks can drop repeats.
	LogRecordUID = "log.record.uid"
)

// Attributes added by the sampling processor.
const (
	FlowDirection          = "flow.direction"
	FlowHairpin            = "flow.hairpin"
	FlowToAzureIOBytes     = "flow.to_azure.io.bytes"
	FlowToAzureIOPackets   = "flow.to_azure.io.packets"
	FlowFromAzureIOBytes   = "flow.from_azure.io.bytes"
	FlowFromAzureIOPackets = "flow.from_azure.io.packets"
	FlowIOBytesSampled     = "flow.io.bytes.sampled"
	FlowIOPacketsSampled   = "flow.io.packets.sampled"
	// FlowSamplingRateSource says where the applied rate came from: record, config, forced, default, unknown.
	FlowSamplingRateSource = "flow.sampling_rate.source"
	FlowClientAddress      = "flow.client.address"
	FlowServerAddress      = "flow.server.address"
	FlowServerPort         = "flow.server.port"
	FlowService            = "flow.service"
	FlowLink               = "flow.link"
	FlowClass              = "flow.class"
)

// Values of FlowType.
const (
	FlowTypeIPFIX       = "ipfix"
	FlowTypeNetFlowV9   = "netflow_v9"
	FlowTypeVNetFlowLog = "vnet_flowlog"
	FlowTypeNSGFlowLog  = "nsg_flowlog"
)

// Values of NetworkType.
const (
	NetworkTypeIPv4 = "ipv4"
	NetworkTypeIPv6 = "ipv6"
)

// Values of FlowState (flow logs).
const (
	FlowStateBegin      = "begin"
	FlowStateContinuing = "continuing"
	FlowStateEnd        = "end"
	FlowStateDenied     = "denied"
)

// Values of FlowAction and AzureFlowLogDirection.
const (
	FlowActionAllow = "allow"
	FlowActionDeny  = "deny"

	DirectionInbound  = "inbound"
	DirectionOutbound = "outbound"
)

// Values of FlowDirection.
const (
	FlowDirectionToAzure        = "to_azure"
	FlowDirectionFromAzure      = "from_azure"
	FlowDirectionAzureInternal  = "azure_internal"
	FlowDirectionOnpremInternal = "onprem_internal"
	FlowDirectionUnknown        = "unknown"
)

// Values of FlowClass.
const (
	FlowClassData         = "data"
	FlowClassControlPlane = "control_plane"
)

// CloudProviderAzure is the value of CloudProvider for flow logs.
const CloudProviderAzure = "azure"
