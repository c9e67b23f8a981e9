// Package classify is the pure core of the sampling processor: given one flow record's
// fields it computes the rescaled counts, the direction relative to Azure, hairpin, the
// client and server sides, the service, the link and the traffic class. It knows nothing
// about the collector; the processor extracts a Flow from log attributes and writes the
// Result back.
//
// All look-ups go through prefix tables built once (internal/cidrset, bart); classifying a
// record allocates nothing.
package classify

import (
	"math"
	"math/bits"
	"net/netip"

	"github.com/erviz/otelcol-erviz/internal/cidrset"
)

// Kind is the source of a flow record (flow.type).
type Kind uint8

const (
	KindOther Kind = iota
	KindIPFIX
	KindNetFlowV9
	KindVNetFlowLog
	KindNSGFlowLog
)

// Stateful reports whether records of this kind name the connection's initiator as source
// (flow logs do: "the source of a tuple is the initiator").
func (k Kind) Stateful() bool { return k == KindVNetFlowLog || k == KindNSGFlowLog }

// Protocol numbers used here.
const (
	protoICMP   = 1
	protoTCP    = 6
	protoUDP    = 17
	protoDCCP   = 33
	protoICMPv6 = 58
	protoSCTP   = 132
)

// TCP flag bits.
const (
	tcpFIN = 0x01
	tcpSYN = 0x02
	tcpRST = 0x04
	tcpPSH = 0x08
	tcpACK = 0x10
)

// Flow is what the classifier reads from one record. Zero values mean "not present".
type Flow struct {
	Kind             Kind
	Src, Dst         netip.Addr
	SrcPort, DstPort uint16
	Proto            uint8
	HasProto         bool
	SrcAS, DstAS     uint32
	NextHop          netip.Addr
	BGPNextHop       netip.Addr
	Exporter         netip.Addr
	InIf, OutIf      uint32
	HasInIf          bool
	HasOutIf         bool
	TCPFlags         uint8
	HasTCPFlags      bool
	// ResourceID is cloud.resource_id (flow logs): the VNet, subnet or NIC.
	ResourceID string
	// SamplingRate is flow.sampling_rate as received; 0 = unknown.
	SamplingRate uint64
	Bytes        uint64
	Packets      uint64
	RevBytes     uint64
	RevPackets   uint64
	HasReverse   bool
	// SrcRoute, DstRoute: the best routes of the two sides (routes.go), used when
	// Config.FromRoutes is set.
	SrcRoute, DstRoute Route
}

// Direction of a flow relative to Azure.
type Direction uint8

const (
	DirUnknown Direction = iota
	DirToAzure
	DirFromAzure
	DirAzureInternal
	DirOnpremInternal
)

// String returns the flow.direction value.
func (d Direction) String() string {
	switch d {
	case DirToAzure:
		return "to_azure"
	case DirFromAzure:
		return "from_azure"
	case DirAzureInternal:
		return "azure_internal"
	case DirOnpremInternal:
		return "onprem_internal"
	}
	return "unknown"
}

// RateSource says where the sampling rate applied to a record came from.
type RateSource uint8

const (
	RateUnknown RateSource = iota // no rate: counts left as received
	RateRecord                    // the record's own flow.sampling_rate
	RateConfig                    // a rescale.rates entry (record had none)
	RateForced                    // a rescale.rates entry with force: true, overriding the record
	RateDefault                   // rescale.default_rate
)

// String returns the flow.sampling_rate.source value.
func (s RateSource) String() string {
	switch s {
	case RateRecord:
		return "record"
	case RateConfig:
		return "config"
	case RateForced:
		return "forced"
	case RateDefault:
		return "default"
	}
	return "unknown"
}

// Class is data or control plane.
type Class uint8

const (
	ClassData Class = iota
	ClassControlPlane
)

// String returns the flow.class value.
func (c Class) String() string {
	if c == ClassControlPlane {
		return "control_plane"
	}
	return "data"
}

// Result is what the classifier computed for one record.
type Result struct {
	Rate       uint64
	RateSource RateSource
	// Rescaled counts: (bytes + l2_overhead*packets) * rate, packets * rate. Equal to the
	// input when the rate is unknown or rescaling was skipped.
	Bytes, Packets, RevBytes, RevPackets uint64

	Direction Direction
	// Towards / from Azure counts (set when Direction is to_azure or from_azure):
	// forward counts go the flow's way, reverse counts the other way.
	ToAzureBytes, ToAzurePackets, FromAzureBytes, FromAzurePackets uint64
	Hairpin                                                        bool

	HasClientServer bool
	Client, Server  netip.Addr
	ServerPort      uint16
	Service         string

	Link  string
	Class Class
}

// RateRule is one rescale.rates entry.
type RateRule struct {
	Exporters *cidrset.Set // nil: any exporter
	Link      string       // "": any link
	Rate      uint64
	Force     bool
}

// Link is one configured link (e.g. the primary or secondary path of a circuit).
type Link struct {
	Name       string
	NextHops   *cidrset.Set
	Interfaces []Interface
	// Exporters: every record of these exporters is on the link.
	Exporters *cidrset.Set
}

// Interface names an interface of an exporter by its SNMP index.
type Interface struct {
	Exporter netip.Addr
	IfIndex  uint32
}

// Config is the classifier's configuration, already parsed and validated.
type Config struct {
	Rates           []RateRule
	DefaultRate     uint64
	L2OverheadBytes uint64

	AzureASNs      []uint32
	OnpremASNs     []uint32
	AzurePrefixes  *cidrset.Set
	OnpremPrefixes *cidrset.Set
	// FromRoutes places sides by the origin of their best route (routes.go).
	FromRoutes bool

	// EdgeExporters are the IPFIX/NetFlow exporters that sit at the Azure edge; nil means
	// every exporter does. Azure-to-Azure traffic they see is hairpinned.
	EdgeExporters *cidrset.Set
	// EdgeResources are substrings of cloud.resource_id (case-insensitive) that mark flow logs
	// taken at the edge, e.g. "/subnets/GatewaySubnet".
	EdgeResources []string

	Links    []Link
	Services *ServiceMap

	ControlPlanePrefixes *cidrset.Set
}

// Classifier applies a Config. It is safe for concurrent use.
type Classifier struct {
	cfg       Config
	azureASN  asnSet
	onpremASN asnSet
}

// New returns a classifier for cfg.
func New(cfg Config) *Classifier {
	return &Classifier{cfg: cfg, azureASN: newASNSet(cfg.AzureASNs), onpremASN: newASNSet(cfg.OnpremASNs)}
}

// Classify computes the result for f. rescale=false keeps the counts as they are (a record
// that was rescaled before); everything else is still computed.
func (c *Classifier) Classify(f *Flow, rescale bool, r *Result) {
	*r = Result{}
	r.Link = c.link(f)
	if rescale {
		r.Rate, r.RateSource = c.rate(f, r.Link)
		r.Bytes, r.Packets = c.scale(f.Bytes, f.Packets, r.Rate)
		r.RevBytes, r.RevPackets = c.scale(f.RevBytes, f.RevPackets, r.Rate)
	} else {
		r.Rate, r.RateSource = f.SamplingRate, RateRecord
		if r.Rate == 0 {
			r.RateSource = RateUnknown
		}
		r.Bytes, r.Packets, r.RevBytes, r.RevPackets = f.Bytes, f.Packets, f.RevBytes, f.RevPackets
	}

	r.Direction = c.direction(f)
	switch r.Direction {
	case DirToAzure:
		r.ToAzureBytes, r.ToAzurePackets = r.Bytes, r.Packets
		r.FromAzureBytes, r.FromAzurePackets = r.RevBytes, r.RevPackets
	case DirFromAzure:
		r.FromAzureBytes, r.FromAzurePackets = r.Bytes, r.Packets
		r.ToAzureBytes, r.ToAzurePackets = r.RevBytes, r.RevPackets
	case DirAzureInternal:
		r.Hairpin = c.atEdge(f)
	}

	c.clientServer(f, r)
	if c.controlPlane(f) {
		r.Class = ClassControlPlane
	}
}

// rate picks the sampling rate: a forced rule, else the record's own, else a rule, else the
// default, else unknown.
func (c *Classifier) rate(f *Flow, link string) (uint64, RateSource) {
	var rule *RateRule
	for i := range c.cfg.Rates {
		rr := &c.cfg.Rates[i]
		if rr.Link != "" && rr.Link != link {
			continue
		}
		if rr.Exporters != nil && !rr.Exporters.Contains(f.Exporter) {
			continue
		}
		rule = rr
		break
	}
	switch {
	case rule != nil && rule.Force:
		return rule.Rate, RateForced
	case f.SamplingRate > 0:
		return f.SamplingRate, RateRecord
	case rule != nil:
		return rule.Rate, RateConfig
	case c.cfg.DefaultRate > 0:
		return c.cfg.DefaultRate, RateDefault
	}
	return 0, RateUnknown
}

// scale returns ((bytes + overhead*packets) * rate, packets * rate), saturating at
// math.MaxInt64 (the largest value an OTel int attribute holds). rate 0 leaves them as is.
func (c *Classifier) scale(b, p, rate uint64) (uint64, uint64) {
	if rate == 0 {
		return b, p
	}
	if c.cfg.L2OverheadBytes > 0 {
		b = satAdd(b, satMul(c.cfg.L2OverheadBytes, p))
	}
	return satMul(b, rate), satMul(p, rate)
}

func satMul(a, b uint64) uint64 {
	hi, lo := bits.Mul64(a, b)
	if hi != 0 || lo > math.MaxInt64 {
		return math.MaxInt64
	}
	return lo
}

func satAdd(a, b uint64) uint64 {
	s, carry := bits.Add64(a, b, 0)
	if carry != 0 || s > math.MaxInt64 {
		return math.MaxInt64
	}
	return s
}

type side uint8

const (
	sideUnknown side = iota
	sideAzure
	sideOnprem
)

// sideOf places an endpoint: configured prefixes first (the most specific knowledge), then
// the AS number the exporter reported.
func (c *Classifier) sideOf(a netip.Addr, as uint32) side {
	if a.IsValid() {
		if c.cfg.AzurePrefixes.Contains(a) {
			return sideAzure
		}
		if c.cfg.OnpremPrefixes.Contains(a) {
			return sideOnprem
		}
	}
	if as != 0 {
		if c.azureASN.has(as) {
			return sideAzure
		}
		if c.onpremASN.has(as) {
			return sideOnprem
		}
	}
	return sideUnknown
}

func (c *Classifier) direction(f *Flow) Direction {
	s, d := c.sideRouted(f.Src, f.SrcAS, &f.SrcRoute), c.sideRouted(f.Dst, f.DstAS, &f.DstRoute)
	switch {
	case s == sideAzure && d == sideAzure:
		return DirAzureInternal
	case d == sideAzure:
		return DirToAzure
	case s == sideAzure:
		return DirFromAzure
	case s == sideOnprem && d == sideOnprem:
		return DirOnpremInternal
	}
	return DirUnknown
}

// atEdge reports whether the record was observed at the Azure edge.
func (c *Classifier) atEdge(f *Flow) bool {
	switch f.Kind {
	case KindVNetFlowLog, KindNSGFlowLog:
		for _, sub := range c.cfg.EdgeResources {
			if containsFold(f.ResourceID, sub) {
				return true
			}
		}
		return false
	case KindIPFIX, KindNetFlowV9:
		return c.cfg.EdgeExporters == nil || c.cfg.EdgeExporters.Contains(f.Exporter)
	}
	return false
}

// containsFold reports whether sub is within s, ignoring ASCII case, without allocating.
func containsFold(s, sub string) bool {
	n := len(sub)
	for i := 0; i+n <= len(s); i++ {
		j := 0
		for j < n && lower(s[i+j]) == lower(sub[j]) {
			j++
		}
		if j == n {
			return true
		}
	}
	return false
}

func lower(b byte) byte {
	if 'A' <= b && b <= 'Z' {
		return b + ('a' - 'A')
	}
	return b
}

func (c *Classifier) link(f *Flow) string {
	for i := range c.cfg.Links {
		l := &c.cfg.Links[i]
		if l.NextHops != nil && (l.NextHops.Contains(f.NextHop) || l.NextHops.Contains(f.BGPNextHop)) {
			return l.Name
		}
		if l.Exporters != nil && l.Exporters.Contains(f.Exporter) {
			return l.Name
		}
		for _, itf := range l.Interfaces {
			if itf.Exporter == f.Exporter &&
				(f.HasInIf && f.InIf == itf.IfIndex || f.HasOutIf && f.OutIf == itf.IfIndex) {
				return l.Name
			}
		}
	}
	return ""
}

func hasPorts(proto uint8) bool {
	return proto == protoTCP || proto == protoUDP || proto == protoSCTP || proto == protoDCCP
}

// clientServer decides which side serves. Flow logs name the initiator as source. For
// stateless records, in order: the service map, the IANA port table, TCP flags (a SYN
// without ACK comes from the client, a lone SYN-ACK from the server), then the lower port.
func (c *Classifier) clientServer(f *Flow, r *Result) {
	if !f.HasProto || !hasPorts(f.Proto) || (f.SrcPort == 0 && f.DstPort == 0) {
		return
	}
	serverIsDst, name, ok := true, "", false
	if f.Kind.Stateful() {
		ok = true
	}
	if !ok && c.cfg.Services != nil {
		if n, hit := c.cfg.Services.lookup(f.Dst, f.DstPort); hit {
			serverIsDst, name, ok = true, n, true
		} else if n, hit := c.cfg.Services.lookup(f.Src, f.SrcPort); hit {
			serverIsDst, name, ok = false, n, true
		}
	}
	if !ok {
		dn, sn := ianaServices[f.DstPort], ianaServices[f.SrcPort]
		switch {
		case dn != "" && sn == "":
			serverIsDst, ok = true, true
		case sn != "" && dn == "":
			serverIsDst, ok = false, true
		case sn != "" && dn != "" && f.SrcPort != f.DstPort:
			serverIsDst, ok = f.DstPort < f.SrcPort, true
		}
	}
	if !ok && f.Proto == protoTCP && f.HasTCPFlags {
		switch {
		case f.TCPFlags&tcpSYN != 0 && f.TCPFlags&tcpACK == 0:
			serverIsDst, ok = true, true
		case f.TCPFlags&(tcpSYN|tcpACK) == tcpSYN|tcpACK && f.TCPFlags&(tcpFIN|tcpRST|tcpPSH) == 0:
			serverIsDst, ok = false, true
		}
	}
	if !ok {
		serverIsDst = f.DstPort <= f.SrcPort
	}
	r.HasClientServer = true
	if serverIsDst {
		r.Client, r.Server, r.ServerPort = f.Src, f.Dst, f.DstPort
	} else {
		r.Client, r.Server, r.ServerPort = f.Dst, f.Src, f.SrcPort
	}
	if name == "" && c.cfg.Services != nil {
		name, _ = c.cfg.Services.lookup(r.Server, r.ServerPort)
	}
	if name == "" {
		name = ianaServices[r.ServerPort]
	}
	r.Service = name
}

// controlPlane: BGP (tcp/179), BFD (udp/3784, 3785, 4784) or ICMP between two addresses of
// the control-plane prefixes (the link subnets).
func (c *Classifier) controlPlane(f *Flow) bool {
	if !f.HasProto || !c.cfg.ControlPlanePrefixes.Contains(f.Src) || !c.cfg.ControlPlanePrefixes.Contains(f.Dst) {
		return false
	}
	switch f.Proto {
	case protoTCP:
		return f.SrcPort == 179 || f.DstPort == 179
	case protoUDP:
		return isBFD(f.SrcPort) || isBFD(f.DstPort)
	case protoICMP, protoICMPv6:
		return true
	}
	return false
}

func isBFD(p uint16) bool { return p == 3784 || p == 3785 || p == 4784 }

// asnSet is a small set of AS numbers; linear for the handful a configuration names.
type asnSet []uint32

func newASNSet(a []uint32) asnSet { return append(asnSet(nil), a...) }

func (s asnSet) has(as uint32) bool {
	for _, x := range s {
		if x == as {
			return true
		}
	}
	return false
}
