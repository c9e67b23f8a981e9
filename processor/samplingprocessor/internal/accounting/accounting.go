// Package accounting decides which observation of a piece of traffic counts (flow.counted),
// so that totals add every byte once although the same packets are seen at several
// observation points: an edge router's IPFIX, the GatewaySubnet's VNet flow log, each spoke's
// VNet flow log, each NIC's NSG flow log.
//
// Sampled edge records and unsampled flow logs are never matched record by record: the policy
// picks one source per kind of traffic (see Decide). The few facts it learns from the stream
// (which kinds of source were seen recently, which address pairs were counted as hairpin at
// the edge, which NICs have VNet flow logs) live in fixed-size or capped tables, so memory
// stays flat however many distinct flows pass.
//
// The package is pure: it knows nothing about the collector.
package accounting

import (
	"net/netip"
	"sync"
	"time"

	"github.com/erviz/otelcol-erviz/internal/observation"
)

// Traffic is the kind of traffic a record carries, from the sampling processor's direction
// and hairpin decisions.
type Traffic uint8

const (
	// TrafficOther: onprem_internal or unknown direction.
	TrafficOther Traffic = iota
	// TrafficCrossing: to_azure or from_azure (crosses the Azure edge).
	TrafficCrossing
	// TrafficHairpin: Azure to Azure through the edge (spoke to spoke via the MSEE).
	TrafficHairpin
	// TrafficInternal: azure_internal not seen at the edge.
	TrafficInternal
)

// NICDirection is azure.flowlog.direction: the way the flow was seen at the NIC.
type NICDirection uint8

const (
	NICUnknown NICDirection = iota
	NICInbound
	NICOutbound
)

// EdgeSource says which source counts traffic that crosses the edge.
type EdgeSource uint8

const (
	// EdgeAuto: edge IPFIX / NetFlow where it was seen around the record's time, else the
	// GatewaySubnet flow log. Spoke flow logs never count edge traffic.
	EdgeAuto EdgeSource = iota
	// EdgeIPFIX: only edge IPFIX / NetFlow records count edge traffic.
	EdgeIPFIX
	// EdgeGatewaySubnet: only GatewaySubnet flow logs count edge traffic.
	EdgeGatewaySubnet
	// EdgeNone: no edge observation is deployed; the flow logs of the VNets, subnets and
	// NICs (or NSGs) count edge traffic where they see it.
	EdgeNone
)

// NSGMode says when NSG flow logs count.
type NSGMode uint8

const (
	// NSGAuto: NSG flow log records count only for NICs no VNet flow log was seen for.
	NSGAuto NSGMode = iota
	// NSGAlways: NSG flow logs count as VNet flow logs do (no VNet flow logs deployed).
	NSGAlways
	// NSGNever: NSG flow logs never count (a per-observation view only).
	NSGNever
)

// Config of the policy.
type Config struct {
	EdgeSource EdgeSource
	NSG        NSGMode
	// CoverageWindow: a source counts as present at time t when one of its records was seen
	// within t ± CoverageWindow. 0 means 15 minutes.
	CoverageWindow time.Duration
	// MaxEntries caps each learned table (hairpin address pairs, NICs with VNet flow logs).
	// 0 means 65536.
	MaxEntries int
}

// Observation is what the policy reads from one record.
type Observation struct {
	Kind    observation.Kind
	Traffic Traffic
	// AtEdge: for edge kind, the exporter is one of the configured edge exporters (an
	// exporter that is not, e.g. an NVA between spokes, counts only internal traffic that no
	// flow log covers).
	AtEdge bool
	NIC    NICDirection
	// Time of the record (its timestamp).
	Time time.Time
	// Src, Dst: the record's addresses (hairpin pairs are matched unordered).
	Src, Dst netip.Addr
	// MAC of the NIC (flow logs): links NSG and VNet flow logs of the same NIC.
	MAC string
	// AzureInitiated: a flow log record (whose source is the initiator) of edge traffic
	// initiated in Azure (from_azure). Such traffic bypasses the ExpressRoute gateway on its
	// way out: the GatewaySubnet sees at most its replies.
	AzureInitiated bool
}

// Reason says why a record counts or not (for telemetry and tests).
type Reason uint8

const (
	ReasonEdge             Reason = iota // counted: the chosen edge source
	ReasonEdgeElsewhere                  // not counted: another source counts edge traffic
	ReasonSource                         // counted: internal traffic at the initiator's side
	ReasonDestination                    // not counted: internal traffic at the destination's side
	ReasonHairpinAtEdge                  // not counted: a source-side record of traffic counted as hairpin at the edge
	ReasonNoEdge                         // counted: edge traffic at a spoke or NVA where no edge source is deployed or seen
	ReasonNSGCovered                     // not counted: an NSG record of a NIC that has VNet flow logs
	ReasonNSGNever                       // not counted: nsg: never
	ReasonCoveredByFlowLog               // not counted: internal traffic at a non-edge exporter, flow logs cover it
	ReasonUnknownKind                    // counted: no observation kind known, nothing to compare with
	NumReasons
)

var reasonNames = [NumReasons]string{
	"edge", "edge_elsewhere", "source", "destination", "hairpin_at_edge", "no_edge",
	"nsg_covered", "nsg_never", "covered_by_flowlog", "unknown_kind",
}

// String names the reason.
func (r Reason) String() string {
	if r < NumReasons {
		return reasonNames[r]
	}
	return "invalid"
}

// Counted reports whether records with this reason count.
func (r Reason) Counted() bool {
	switch r {
	case ReasonEdge, ReasonSource, ReasonNoEdge, ReasonUnknownKind:
		return true
	}
	return false
}

// Coverage bits: which kinds of source were seen in a minute.
const (
	seenEdge    uint8 = 1 << iota // edge IPFIX / NetFlow carrying edge traffic
	seenGateway                   // GatewaySubnet flow log
	seenVNet                      // VNet flow log (vnet, subnet, nic)
)

// Who counted an address pair as hairpin (bits of the hairpin table).
const (
	countedAtEdge    uint8 = 1 << iota // an edge IPFIX / NetFlow exporter
	countedAtGateway                   // the GatewaySubnet flow log
)

// ringMinutes is how far back the coverage ring remembers (one slot per minute).
const ringMinutes = 24 * 60

type slot struct {
	minute int64
	bits   uint8
}

// Accountant applies the policy. It is safe for concurrent use.
type Accountant struct {
	cfg    Config
	window int64 // minutes

	mu      sync.Mutex
	ring    [ringMinutes]slot
	hairpin capped[pairKey]
	vnetNIC capped[string]
}

type pairKey struct{ a, b netip.Addr }

func pairOf(x, y netip.Addr) pairKey {
	if y.Less(x) {
		x, y = y, x
	}
	return pairKey{x, y}
}

// New returns an accountant for cfg.
func New(cfg Config) *Accountant {
	if cfg.CoverageWindow <= 0 {
		cfg.CoverageWindow = 15 * time.Minute
	}
	if cfg.MaxEntries <= 0 {
		cfg.MaxEntries = 65536
	}
	w := int64((cfg.CoverageWindow + time.Minute - 1) / time.Minute)
	if w > ringMinutes/2 {
		w = ringMinutes / 2
	}
	return &Accountant{
		cfg: cfg, window: w,
		hairpin: newCapped[pairKey](cfg.MaxEntries),
		vnetNIC: newCapped[string](cfg.MaxEntries),
	}
}

// Decide returns whether o counts, and why, and learns from it.
//
// The default policy (EdgeAuto, NSGAuto):
//   - traffic crossing the edge (to_azure, from_azure), hairpin traffic and traffic of
//     unknown or on-premises direction counts at the edge: at an edge IPFIX exporter; where
//     no edge IPFIX was seen around that time, at the GatewaySubnet flow log (for hairpin:
//     where the edge did not count that address pair), except traffic initiated in Azure,
//     which bypasses the gateway and counts outbound at the initiator's spoke; otherwise
//     never at a spoke's flow log (EdgeNone changes that, for deployments without edge
//     observation);
//   - azure_internal traffic counts once, at the initiator's side: the flow log record seen
//     outbound at the source's NIC (VNet, subnet or NIC flow log), never again inbound at the
//     destination, and not when that address pair was counted as hairpin at the edge;
//   - NSG flow log records follow the same rules but count only for NICs (MAC addresses)
//     that no VNet flow log was seen for.
func (a *Accountant) Decide(o *Observation) (bool, Reason) {
	r := a.decide(o)
	return r.Counted(), r
}

func (a *Accountant) decide(o *Observation) Reason {
	minute := o.Time.Unix() / 60
	a.mu.Lock()
	defer a.mu.Unlock()
	switch {
	case o.Kind == observation.KindEdge:
		return a.edge(o, minute)
	case o.Kind == observation.KindGatewaySubnet:
		return a.gateway(o, minute)
	case o.Kind == observation.KindNSG:
		switch a.cfg.NSG {
		case NSGNever:
			return ReasonNSGNever
		case NSGAuto:
			if o.MAC != "" && a.vnetNIC.has(o.MAC) {
				return ReasonNSGCovered
			}
		}
		return a.spoke(o, minute)
	case o.Kind.FlowLog():
		a.mark(minute, seenVNet)
		if o.MAC != "" {
			a.vnetNIC.put(o.MAC, 1)
		}
		return a.spoke(o, minute)
	}
	return ReasonUnknownKind
}

func (a *Accountant) edge(o *Observation, minute int64) Reason {
	if !o.AtEdge || o.Traffic == TrafficInternal {
		// An exporter inside Azure (an NVA): it counts internal traffic only where no flow
		// log covers it, and edge traffic only where no edge source is present.
		if o.Traffic == TrafficInternal {
			if a.covered(minute, seenVNet) {
				return ReasonCoveredByFlowLog
			}
			return ReasonSource
		}
		if a.covered(minute, seenEdge|seenGateway) {
			return ReasonEdgeElsewhere
		}
		return ReasonNoEdge
	}
	a.mark(minute, seenEdge)
	if a.cfg.EdgeSource == EdgeGatewaySubnet {
		return ReasonEdgeElsewhere
	}
	if o.Traffic == TrafficHairpin {
		a.hairpin.put(pairOf(o.Src, o.Dst), countedAtEdge)
	}
	return ReasonEdge
}

func (a *Accountant) gateway(o *Observation, minute int64) Reason {
	a.mark(minute, seenGateway)
	var counted bool
	switch a.cfg.EdgeSource {
	case EdgeIPFIX:
		counted = false
	case EdgeGatewaySubnet:
		counted = true
	default:
		switch {
		case o.Traffic == TrafficHairpin:
			// An edge router outside Azure does not see spoke-to-spoke traffic hairpinned
			// at the MSEE: the gateway counts it unless the edge did.
			counted = a.hairpin.get(pairOf(o.Src, o.Dst))&countedAtEdge == 0
		case o.Traffic == TrafficCrossing && o.AzureInitiated:
			// Azure to on-premises traffic bypasses the gateway: the initiator's spoke
			// counts it (see spoke).
			counted = false
		default:
			counted = !a.covered(minute, seenEdge)
		}
	}
	if !counted {
		return ReasonEdgeElsewhere
	}
	if o.Traffic == TrafficHairpin || o.Traffic == TrafficInternal {
		a.hairpin.put(pairOf(o.Src, o.Dst), countedAtGateway)
	}
	return ReasonEdge
}

// spoke decides a record of a VNet, subnet, NIC or NSG flow log.
func (a *Accountant) spoke(o *Observation, minute int64) Reason {
	switch o.Traffic {
	case TrafficInternal, TrafficHairpin:
		if o.NIC == NICInbound {
			return ReasonDestination
		}
		if a.hairpin.has(pairOf(o.Src, o.Dst)) {
			return ReasonHairpinAtEdge
		}
		return ReasonSource
	default:
		if a.cfg.EdgeSource == EdgeNone {
			if o.Traffic == TrafficOther && o.NIC == NICInbound {
				return ReasonDestination
			}
			return ReasonNoEdge
		}
		if a.cfg.EdgeSource == EdgeAuto && o.Traffic == TrafficCrossing && o.AzureInitiated && o.NIC != NICInbound {
			// Azure to on-premises traffic bypasses the gateway: counted where it starts,
			// outbound at the initiator's NIC, unless edge IPFIX was seen then.
			if a.covered(minute, seenEdge) {
				return ReasonEdgeElsewhere
			}
			return ReasonSource
		}
		return ReasonEdgeElsewhere
	}
}

func (a *Accountant) mark(minute int64, bit uint8) {
	s := &a.ring[mod(minute)]
	if s.minute != minute {
		*s = slot{minute: minute}
	}
	s.bits |= bit
}

func (a *Accountant) covered(minute int64, bits uint8) bool {
	for m := minute - a.window; m <= minute+a.window; m++ {
		if s := &a.ring[mod(m)]; s.minute == m && s.bits&bits != 0 {
			return true
		}
	}
	return false
}

func mod(m int64) int {
	r := m % ringMinutes
	if r < 0 {
		r += ringMinutes
	}
	return int(r)
}

// Sizes returns the number of entries of the learned tables (for tests and telemetry).
func (a *Accountant) Sizes() (hairpinPairs, vnetNICs int) {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.hairpin.len(), a.vnetNIC.len()
}

// capped maps at most max keys to bit sets: two generations of max/2, the older dropped when
// the newer fills. A key in use is carried over into the new generation.
type capped[K comparable] struct {
	half      int
	cur, prev map[K]uint8
}

func newCapped[K comparable](max int) capped[K] {
	half := max / 2
	if half < 1 {
		half = 1
	}
	return capped[K]{half: half, cur: map[K]uint8{}}
}

// put adds bits to k's set.
func (c *capped[K]) put(k K, bits uint8) {
	if v, ok := c.cur[k]; ok {
		c.cur[k] = v | bits
		return
	}
	bits |= c.prev[k]
	if len(c.cur) >= c.half {
		c.prev, c.cur = c.cur, make(map[K]uint8, c.half)
	}
	c.cur[k] = bits
}

// get returns k's bits (0: unknown).
func (c *capped[K]) get(k K) uint8 {
	if v, ok := c.cur[k]; ok {
		return v
	}
	if v, ok := c.prev[k]; ok {
		c.put(k, v)
		return v
	}
	return 0
}

func (c *capped[K]) has(k K) bool { return c.get(k) != 0 }

func (c *capped[K]) len() int { return len(c.cur) + len(c.prev) }
