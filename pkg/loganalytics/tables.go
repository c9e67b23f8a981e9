// Package loganalytics maps otelcol-erviz log records to rows of typed Log Analytics custom
// tables and packs the rows into Logs Ingestion API requests. It knows nothing about the
// collector: the loganalytics exporter is a thin adapter over it, and cmd/genazure writes the
// Azure side (tables, data collection rule) from the same column list.
package loganalytics

// Kind is a kind of record, one data collection rule stream and one table each.
type Kind int

// The kinds of record, in the order of Tables.
const (
	KindFlows Kind = iota
	KindFlowRollups
	KindRouting
	KindRoutingConditions
	numKinds
)

// Column types of Log Analytics custom tables and DCR stream declarations.
const (
	TypeString   = "string"
	TypeInt      = "int"
	TypeLong     = "long"
	TypeReal     = "real"
	TypeBoolean  = "boolean"
	TypeDatetime = "datetime"
	TypeDynamic  = "dynamic"
)

// How a column's value is obtained.
const (
	fromAttr      = iota // the attribute Attr, on the record, else on its resource
	fromTimestamp        // the record's timestamp (else the observed timestamp, else now)
	fromUnixNanos        // Attr holds Unix nanoseconds, the column is a datetime
	fromRFC3339          // Attr holds an RFC 3339 text, the column is a datetime
	fromProtocol         // Attr (network.transport) keyword, the column its IANA number
	fromBody             // the record's body as text
	fromRest             // every attribute no other column took (dynamic)
)

// Column is one typed column of a table.
type Column struct {
	Name        string
	Type        string
	Attr        string // the attribute it comes from (see docs/schema.md); "" for the others
	Description string
	from        int
}

// Table is one custom table, the stream that feeds it and its columns.
type Table struct {
	Kind Kind
	// Key is the name of the kind in configuration (streams::<key>).
	Key string
	// Name of the custom table in the workspace.
	Name string
	// Stream is the stream declared in the data collection rule (Custom-<table without _CL>).
	Stream      string
	Description string
	Columns     []Column
}

func col(name, typ, attr, desc string) Column {
	return Column{Name: name, Type: typ, Attr: attr, Description: desc, from: fromAttr}
}

var timeGenerated = Column{Name: "TimeGenerated", Type: TypeDatetime, Description: "the record's time (flows: the flow start; rollups: the interval start; routing: when the event happened)", from: fromTimestamp}

var attributesColumn = Column{Name: "Attributes", Type: TypeDynamic, Description: "every attribute of the record and its resource that has no column of its own, with its type", from: fromRest}

var bodyColumn = Column{Name: "Message", Type: TypeString, Description: "the record's body: a one-line human summary", from: fromBody}

// Common flow columns, shared by flows and rollups.
func flowDimensionColumns() []Column {
	return []Column{
		col("Direction", TypeString, "flow.direction", "to_azure, from_azure, azure_internal, onprem_internal, unknown"),
		col("ObservationPoint", TypeString, "flow.observation.point", "where the record was observed (edge, gateway subnet, spoke, NIC)"),
		col("ObservationKind", TypeString, "flow.observation.kind", "the kind of observation point"),
		col("Link", TypeString, "flow.link", "configured link name (primary/secondary of a circuit)"),
		col("SrcAddr", TypeString, "source.address", "source IP"),
		col("DstAddr", TypeString, "destination.address", "destination IP"),
		col("ServerPort", TypeInt, "flow.server.port", "the service port, on the server side"),
		col("Transport", TypeString, "network.transport", "IANA protocol keyword (tcp, udp, icmp...)"),
		col("Service", TypeString, "flow.service", "service name of the server port"),
		col("SrcRouteClass", TypeString, "flow.src.route.class", "route class of the source address (expressroute, azure, vpn, nva, onprem, other)"),
		col("DstRouteClass", TypeString, "flow.dst.route.class", "route class of the destination address"),
		col("Class", TypeString, "flow.class", "data or control_plane"),
		col("Counted", TypeBoolean, "flow.counted", "false on a record that another observation point already counts (sum only counted records)"),
	}
}

// Tables lists the tables in Kind order. It is the single column list: the exporter maps rows
// with it and cmd/genazure declares the tables and the DCR streams from it.
var Tables = [numKinds]*Table{
	KindFlows: {
		Kind: KindFlows, Key: "flows", Name: "ErvizFlows_CL", Stream: "Custom-ErvizFlows",
		Description: "otelcol-erviz flow records (IPFIX, NetFlow v9, VNet and NSG flow logs), one row per record, counts rescaled",
		Columns: concat(
			[]Column{timeGenerated,
				{Name: "FlowStart", Type: TypeDatetime, Attr: "flow.start", Description: "flow start", from: fromUnixNanos},
				{Name: "FlowEnd", Type: TypeDatetime, Attr: "flow.end", Description: "flow end", from: fromUnixNanos},
				col("FlowType", TypeString, "flow.type", "ipfix, netflow_v9, vnet_flowlog, nsg_flowlog"),
				col("NetworkType", TypeString, "network.type", "ipv4 or ipv6"),
				col("SrcPort", TypeInt, "source.port", "source transport port"),
				col("DstPort", TypeInt, "destination.port", "destination transport port"),
				{Name: "Protocol", Type: TypeInt, Attr: "network.transport", Description: "IANA protocol number", from: fromProtocol},
				col("Bytes", TypeLong, "flow.io.bytes", "bytes source to destination (rescaled)"),
				col("Packets", TypeLong, "flow.io.packets", "packets source to destination (rescaled)"),
				col("ReverseBytes", TypeLong, "flow.reverse.io.bytes", "bytes destination to source"),
				col("ReversePackets", TypeLong, "flow.reverse.io.packets", "packets destination to source"),
				col("ToAzureBytes", TypeLong, "flow.to_azure.io.bytes", "bytes moving towards Azure"),
				col("ToAzurePackets", TypeLong, "flow.to_azure.io.packets", "packets moving towards Azure"),
				col("FromAzureBytes", TypeLong, "flow.from_azure.io.bytes", "bytes moving from Azure"),
				col("FromAzurePackets", TypeLong, "flow.from_azure.io.packets", "packets moving from Azure"),
				col("SamplingRate", TypeLong, "flow.sampling_rate", "the sampling rate applied to the counts (1 in N); 0 unknown"),
				col("Hairpin", TypeBoolean, "flow.hairpin", "Azure-to-Azure traffic seen at the edge"),
				col("ClientAddr", TypeString, "flow.client.address", "the side that initiated the connection"),
				col("ServerAddr", TypeString, "flow.server.address", "the side that serves it"),
			},
			flowDimensionColumns(),
			[]Column{
				col("SrcAsn", TypeLong, "flow.src_as", "source AS number"),
				col("DstAsn", TypeLong, "flow.dst_as", "destination AS number"),
				col("NextHop", TypeString, "flow.next_hop", "IP next hop"),
				col("BgpNextHop", TypeString, "flow.bgp_next_hop", "BGP next hop"),
				col("InIf", TypeLong, "flow.in_if", "ingress interface index"),
				col("OutIf", TypeLong, "flow.out_if", "egress interface index"),
				col("TcpFlags", TypeInt, "flow.tcp_flags", "union of TCP flags"),
				col("IpTos", TypeInt, "flow.ip_tos", "IP type of service"),
				col("Vlan", TypeInt, "flow.vlan", "802.1Q VLAN ID"),
				col("ExporterAddr", TypeString, "flow.exporter.address", "the IPFIX / NetFlow exporter"),
				col("TargetResourceId", TypeString, "cloud.resource_id", "flow logs: the VNet, subnet or NIC the flow log targets"),
				col("FlowAction", TypeString, "flow.action", "allow or deny (flow logs)"),
				col("FlowState", TypeString, "flow.state", "begin, continuing, end, denied (flow logs)"),
				col("NicDirection", TypeString, "azure.flowlog.direction", "inbound or outbound, as seen at the NIC"),
				col("Rule", TypeString, "azure.flowlog.rule", "the NSG / security admin rule that matched"),
				col("RecordUid", TypeString, "log.record.uid", "stable ID of the record, to drop repeats"),
				attributesColumn,
			}),
	},
	KindFlowRollups: {
		Kind: KindFlowRollups, Key: "flow_rollups", Name: "ErvizFlowRollups_CL", Stream: "Custom-ErvizFlowRollups",
		Description: "otelcol-erviz flow rollups: flow records summed per interval and dimensions (flowrollup processor)",
		Columns: concat(
			[]Column{timeGenerated,
				col("IntervalSeconds", TypeInt, "flow.rollup.interval", "length of the interval the row sums"),
			},
			flowDimensionColumns(),
			[]Column{
				col("Bytes", TypeLong, "flow.io.bytes", "summed bytes source to destination"),
				col("Packets", TypeLong, "flow.io.packets", "summed packets source to destination"),
				col("ToAzureBytes", TypeLong, "flow.to_azure.io.bytes", "summed bytes towards Azure"),
				col("ToAzurePackets", TypeLong, "flow.to_azure.io.packets", "summed packets towards Azure"),
				col("FromAzureBytes", TypeLong, "flow.from_azure.io.bytes", "summed bytes from Azure"),
				col("FromAzurePackets", TypeLong, "flow.from_azure.io.packets", "summed packets from Azure"),
				col("Flows", TypeLong, "flow.rollup.flows", "flow records summed into the row"),
				col("Overflow", TypeBoolean, "flow.rollup.overflow", "true on the row that sums the records beyond max_series"),
				attributesColumn,
			}),
	},
	KindRouting: {
		Kind: KindRouting, Key: "routing_events", Name: "ErvizRouting_CL", Stream: "Custom-ErvizRouting",
		Description: "otelcol-erviz routing events (bgp receiver): peer up/down, route announce/withdraw, messages, statistics",
		Columns: concat([]Column{timeGenerated,
			col("Event", TypeString, "bgp.event", "the event (bgp.peer.up, bgp.route.announce...)"),
			bodyColumn,
		}, routingPeerColumns(), []Column{
			col("SessionState", TypeString, "bgp.session.state", "session state"),
			col("DownReason", TypeString, "bgp.down.reason", "why the session went down"),
			col("NotificationCode", TypeInt, "bgp.notification.code", "NOTIFICATION error code"),
			col("NotificationSubcode", TypeInt, "bgp.notification.subcode", "NOTIFICATION error subcode"),
			col("Prefix", TypeString, "bgp.prefix", "the prefix"),
			col("Family", TypeString, "bgp.family", "ipv4_unicast or ipv6_unicast"),
			col("NextHop", TypeString, "bgp.next_hop", "next hop"),
			col("AsPath", TypeString, "bgp.as_path", "AS path, space separated"),
			col("AsPathLength", TypeInt, "bgp.as_path.length", "AS path length"),
			col("OriginAsn", TypeLong, "bgp.origin_asn", "origin AS"),
			col("Origin", TypeString, "bgp.origin", "igp, egp, incomplete"),
			col("Med", TypeLong, "bgp.med", "MULTI_EXIT_DISC"),
			col("LocalPref", TypeLong, "bgp.local_pref", "LOCAL_PREF"),
			col("Communities", TypeDynamic, "bgp.communities", "standard communities"),
			col("RouteClass", TypeString, "bgp.route.class", "expressroute, azure, vpn, nva, onprem, other"),
			col("MessageType", TypeString, "bgp.message.type", "open, update, notification, keepalive, refresh"),
			col("MessageDirection", TypeString, "bgp.message.direction", "received or sent"),
			col("Reason", TypeString, "bgp.event.reason", "qualifies a withdrawal (peer_down, stale)"),
			attributesColumn,
		}),
	},
	KindRoutingConditions: {
		Kind: KindRoutingConditions, Key: "routing_conditions", Name: "ErvizRoutingConditions_CL", Stream: "Custom-ErvizRoutingConditions",
		Description: "otelcol-erviz routing conditions (bgp receiver analyses): overlaps, lost redundancy, flaps, origin changes, start and resolution",
		Columns: concat([]Column{timeGenerated,
			col("Event", TypeString, "bgp.event", "the condition (bgp.redundancy.lost, bgp.overlap...)"),
			col("Phase", TypeString, "bgp.event.phase", "start, resolved or instant"),
			bodyColumn,
			col("Prefix", TypeString, "bgp.prefix", "the prefix"),
			col("Family", TypeString, "bgp.family", "ipv4_unicast or ipv6_unicast"),
			{Name: "StartTime", Type: TypeDatetime, Attr: "bgp.event.start", Description: "when the condition started", from: fromRFC3339},
			col("DurationSeconds", TypeReal, "bgp.event.duration", "seconds from start to resolution"),
			col("Reason", TypeString, "bgp.event.reason", "qualifies some resolutions"),
			col("Peers", TypeDynamic, "bgp.peers", "the peers with a path for the prefix"),
			col("Paths", TypeInt, "bgp.paths", "lost redundancy: distinct paths now"),
			col("PathsPrevious", TypeInt, "bgp.paths.previous", "lost redundancy: distinct paths before"),
			col("Origins", TypeDynamic, "bgp.origins", "origin ASNs"),
			col("RelatedPrefixes", TypeDynamic, "bgp.related_prefixes", "overlap: the prefixes that caused it"),
			col("FlapScore", TypeReal, "bgp.flap.score", "flap penalty score"),
			col("SessionDowns", TypeInt, "bgp.session.downs", "adjacency flap: downs within the window"),
			col("PrefixCount", TypeLong, "bgp.prefix_count", "the peer's route count"),
			col("PrefixCountBaseline", TypeLong, "bgp.prefix_count.baseline", "its baseline"),
		}, routingPeerColumns(), []Column{attributesColumn}),
	},
}

func routingPeerColumns() []Column {
	return []Column{
		col("Source", TypeString, "bgp.source", "bgp, bmp or mrt"),
		col("RouterAddr", TypeString, "bgp.router.address", "BMP: the monitored router; MRT: the collector address"),
		col("PeerAddr", TypeString, "bgp.peer.address", "the BGP neighbor"),
		col("PeerAsn", TypeLong, "bgp.peer.asn", "the neighbor's ASN"),
		col("PeerName", TypeString, "bgp.peer.name", "the configured neighbor name"),
		col("Receiver", TypeString, "bgp.receiver", "the bgp receiver instance"),
	}
}

func concat(parts ...[]Column) []Column {
	var out []Column
	for _, p := range parts {
		out = append(out, p...)
	}
	return out
}

// TableOf returns the table of a kind.
func TableOf(k Kind) *Table { return Tables[k] }
