// Package report reads what otelcol-erviz wrote (the file exporter's OTLP JSON logs, one
// batch per line) and answers the questions network engineers ask of it: bytes per direction
// per 5 minutes, top talkers with client and server, hairpin and control-plane flows, bytes
// per link, BGP events over time, prefixes by origin class, overlaps and lost redundancy.
package report

import (
	"bufio"
	"fmt"
	"io"
	"sort"
	"strings"
	"time"

	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/plog"

	"github.com/erviz/otelcol-erviz/internal/schema"
)

// Bin is the width of the time buckets.
const Bin = 5 * time.Minute

// DirectionBin is the traffic of one 5-minute bucket, by direction (bytes, rescaled, of
// counted records), with its average rate in bits per second.
type DirectionBin struct {
	Start         time.Time          `json:"start"`
	Bytes         map[string]int64   `json:"bytes"`
	BitsPerSecond map[string]float64 `json:"bits_per_second"`
}

// Talker is one conversation: client, server and service, both directions summed.
type Talker struct {
	Client     string `json:"client"`
	Server     string `json:"server"`
	ServerPort int64  `json:"server_port"`
	Transport  string `json:"transport"`
	Service    string `json:"service,omitempty"`
	Bytes      int64  `json:"bytes"`
	Packets    int64  `json:"packets"`
	Records    int    `json:"records"`
}

// FlowSummary is a flow seen under a condition (hairpin, control plane).
type FlowSummary struct {
	Source      string `json:"source"`
	Destination string `json:"destination"`
	Transport   string `json:"transport"`
	Service     string `json:"service,omitempty"`
	Bytes       int64  `json:"bytes"`
	Packets     int64  `json:"packets"`
	Records     int    `json:"records"`
}

// Condition is a BGP analysis condition: opened, and resolved when Resolved is set.
type Condition struct {
	Kind     string    `json:"kind"`
	Prefix   string    `json:"prefix"`
	Start    time.Time `json:"start"`
	Resolved bool      `json:"resolved"`
	Duration float64   `json:"duration_seconds,omitempty"`
	Detail   string    `json:"detail,omitempty"`
}

// Report is everything the report tells.
type Report struct {
	Records     int            `json:"records"`
	FlowRecords int            `json:"flow_records"`
	BGPEvents   int            `json:"bgp_events"`
	Unreadable  int            `json:"unreadable_lines"`
	Directions  []DirectionBin `json:"bytes_per_direction"`
	// DirectionTotals sums Directions.
	DirectionTotals map[string]int64 `json:"direction_totals"`
	TopTalkers      []Talker         `json:"top_talkers"`
	Hairpin         []FlowSummary    `json:"hairpin"`
	ControlPlane    []FlowSummary    `json:"control_plane"`
	Links           map[string]int64 `json:"bytes_per_link"`
	// BGPOverTime counts BGP events per 5 minutes by kind (open, keepalive, notification,
	// announce, withdraw, peer_up, peer_down, ...).
	BGPOverTime []CountBin `json:"bgp_events_over_time"`
	// Prefixes counts the prefixes announced at the end of the output, by origin class.
	Prefixes   map[string]int `json:"prefixes_by_class"`
	Conditions []Condition    `json:"conditions"`
	// UncountedRecords are flow records marked flow.counted=false: the same traffic counted
	// at another observation point. They appear only in Observations.
	UncountedRecords int `json:"uncounted_flow_records"`
	// Observations: bytes seen at each observation point (every record, counted or not).
	Observations []ObservationTotal `json:"bytes_seen_per_observation_point"`

	// Routing sections (routes.go): records tagged from a converged RIB and while pending,
	// traffic per route class and traffic at risk.
	RouteTagged          int            `json:"route_tagged_records"`
	RoutePending         int            `json:"route_pending_records"`
	TrafficPerRouteClass []RouteTraffic `json:"traffic_per_route_class"`
	TrafficAtRisk        []AtRisk       `json:"traffic_at_risk"`
}

// CountBin counts events of one 5-minute bucket by kind.
type CountBin struct {
	Start  time.Time      `json:"start"`
	Counts map[string]int `json:"counts"`
}

// Builder accumulates log records.
type Builder struct {
	top        int
	r          Report
	dirs       map[time.Time]map[string]int64
	talkers    map[Talker]*Talker
	hairpin    map[FlowSummary]*FlowSummary
	control    map[FlowSummary]*FlowSummary
	bgpBins    map[time.Time]map[string]int
	routes     map[routeKey]string // announced route -> class
	conditions map[condKey]int     // open condition -> index in r.Conditions
	obs        map[string]*ObservationTotal
	routing    *routeAcc // routes.go
}

type routeKey struct{ source, router, peer, prefix string }

type condKey struct{ kind, prefix, peer string }

// NewBuilder returns a builder listing top talkers.
func NewBuilder(top int) *Builder {
	return &Builder{
		top: top,
		r: Report{DirectionTotals: map[string]int64{}, Links: map[string]int64{}, Prefixes: map[string]int{},
			Conditions: []Condition{}},
		dirs: map[time.Time]map[string]int64{}, talkers: map[Talker]*Talker{},
		hairpin: map[FlowSummary]*FlowSummary{}, control: map[FlowSummary]*FlowSummary{},
		bgpBins: map[time.Time]map[string]int{}, routes: map[routeKey]string{}, conditions: map[condKey]int{},
	}
}

// ReadJSONLines adds every batch of an OTLP JSON lines stream (the file exporter's format).
// Lines that are not OTLP logs (metrics files, garbage) are counted as unreadable.
func (b *Builder) ReadJSONLines(r io.Reader) error {
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 0, 1<<20), 256<<20)
	var u plog.JSONUnmarshaler
	for sc.Scan() {
		line := sc.Bytes()
		if len(strings.TrimSpace(string(line))) == 0 {
			continue
		}
		ld, err := u.UnmarshalLogs(line)
		if err != nil || (ld.ResourceLogs().Len() == 0 && !strings.Contains(string(line), "resourceLogs")) {
			b.r.Unreadable++
			continue
		}
		b.Add(ld)
	}
	return sc.Err()
}

// Add adds a batch of log records.
func (b *Builder) Add(ld plog.Logs) {
	for i := 0; i < ld.ResourceLogs().Len(); i++ {
		rl := ld.ResourceLogs().At(i)
		for j := 0; j < rl.ScopeLogs().Len(); j++ {
			lrs := rl.ScopeLogs().At(j).LogRecords()
			for k := 0; k < lrs.Len(); k++ {
				b.addRecord(lrs.At(k))
			}
		}
	}
}

func str(m pcommon.Map, k string) string {
	if v, ok := m.Get(k); ok {
		return v.AsString()
	}
	return ""
}

func num(m pcommon.Map, k string) (int64, bool) {
	v, ok := m.Get(k)
	if !ok {
		return 0, false
	}
	switch v.Type() {
	case pcommon.ValueTypeInt:
		return v.Int(), true
	case pcommon.ValueTypeDouble:
		return int64(v.Double()), true
	}
	return 0, false
}

func recordTime(lr plog.LogRecord) time.Time {
	if lr.Timestamp() != 0 {
		return lr.Timestamp().AsTime().UTC()
	}
	return lr.ObservedTimestamp().AsTime().UTC()
}

func (b *Builder) addRecord(lr plog.LogRecord) {
	b.r.Records++
	at := lr.Attributes()
	if ev := str(at, schema.BGPEvent); ev != "" {
		b.r.BGPEvents++
		b.addBGP(lr, at, ev)
		return
	}
	if str(at, schema.FlowType) == "" {
		return
	}
	b.r.FlowRecords++
	fwd, _ := num(at, schema.FlowIOBytes)
	rev, _ := num(at, schema.FlowReverseIOBytes)
	pk, _ := num(at, schema.FlowIOPackets)
	rpk, _ := num(at, schema.FlowReverseIOPackets)
	bytes, packets := fwd+rev, pk+rpk
	counted := counts(at)
	b.addObservation(at, bytes, packets, counted)
	if !counted {
		b.r.UncountedRecords++
		return
	}

	bin := recordTime(lr).Truncate(Bin)
	d := b.dirs[bin]
	if d == nil {
		d = map[string]int64{}
		b.dirs[bin] = d
	}
	dir := str(at, schema.FlowDirection)
	if dir == "" {
		dir = schema.FlowDirectionUnknown
	}
	to, hasTo := num(at, schema.FlowToAzureIOBytes)
	from, hasFrom := num(at, schema.FlowFromAzureIOBytes)
	if hasTo || hasFrom {
		// Forward and reverse counts already split by the processor: one sum per direction.
		d[schema.FlowDirectionToAzure] += to
		d[schema.FlowDirectionFromAzure] += from
	} else {
		d[dir] += bytes
	}

	transport := str(at, schema.NetworkTransport)
	if srv := str(at, schema.FlowServerAddress); srv != "" {
		port, _ := num(at, schema.FlowServerPort)
		k := Talker{Client: str(at, schema.FlowClientAddress), Server: srv, ServerPort: port, Transport: transport, Service: str(at, schema.FlowService)}
		t := b.talkers[k]
		if t == nil {
			t = &Talker{}
			*t = k
			b.talkers[k] = t
		}
		t.Bytes += bytes
		t.Packets += packets
		t.Records++
	}
	fs := FlowSummary{Source: str(at, schema.SourceAddress), Destination: str(at, schema.DestinationAddress), Transport: transport, Service: str(at, schema.FlowService)}
	if v, ok := at.Get(schema.FlowHairpin); ok && v.Type() == pcommon.ValueTypeBool && v.Bool() {
		addSummary(b.hairpin, fs, bytes, packets)
	}
	if str(at, schema.FlowClass) == schema.FlowClassControlPlane {
		addSummary(b.control, fs, bytes, packets)
	}
	if l := str(at, schema.FlowLink); l != "" {
		b.r.Links[l] += bytes
	}
	b.addRoutes(at, fwd, rev, pk, rpk)
}

func addSummary(m map[FlowSummary]*FlowSummary, k FlowSummary, bytes, packets int64) {
	s := m[k]
	if s == nil {
		s = &FlowSummary{}
		*s = k
		m[k] = s
	}
	s.Bytes += bytes
	s.Packets += packets
	s.Records++
}

// bgpKind names an event for the over-time counts.
func bgpKind(ev string, at pcommon.Map) string {
	switch ev {
	case schema.BGPEventMessage:
		return str(at, schema.BGPMessageType)
	case schema.BGPEventAnnounce:
		return "announce"
	case schema.BGPEventWithdraw:
		return "withdraw"
	case schema.BGPEventPeerUp:
		return "peer_up"
	case schema.BGPEventPeerDown:
		return "peer_down"
	}
	return strings.TrimPrefix(ev, "bgp.")
}

func (b *Builder) addBGP(lr plog.LogRecord, at pcommon.Map, ev string) {
	t := recordTime(lr)
	bin := t.Truncate(Bin)
	c := b.bgpBins[bin]
	if c == nil {
		c = map[string]int{}
		b.bgpBins[bin] = c
	}
	c[bgpKind(ev, at)]++

	rk := routeKey{source: str(at, schema.BGPSource), router: str(at, schema.BGPRouterAddress), peer: str(at, schema.BGPPeerAddress), prefix: str(at, schema.BGPPrefix)}
	switch ev {
	case schema.BGPEventAnnounce:
		if p, ok := num(at, schema.BGPPathID); ok {
			rk.prefix += fmt.Sprintf("#%d", p)
		}
		b.routes[rk] = str(at, schema.BGPRouteClass)
		return
	case schema.BGPEventWithdraw:
		if p, ok := num(at, schema.BGPPathID); ok {
			rk.prefix += fmt.Sprintf("#%d", p)
		}
		delete(b.routes, rk)
		return
	case schema.BGPEventOverlap, schema.BGPEventLostRedundancy, schema.BGPEventFlap, schema.BGPEventAdjacencyFlap,
		schema.BGPEventMOAS, schema.BGPEventOriginChange, schema.BGPEventPrefixCount:
	default:
		return
	}
	kind := strings.TrimPrefix(ev, "bgp.")
	prefix := str(at, schema.BGPPrefix)
	key := condKey{kind: kind, prefix: prefix}
	if prefix == "" {
		key.peer = str(at, schema.BGPPeerAddress)
		prefix = key.peer
	}
	switch str(at, schema.BGPEventPhase) {
	case schema.BGPPhaseResolved:
		if i, ok := b.conditions[key]; ok {
			c := &b.r.Conditions[i]
			c.Resolved = true
			if v, ok := at.Get(schema.BGPEventDuration); ok && v.Type() == pcommon.ValueTypeDouble {
				c.Duration = v.Double()
			}
			delete(b.conditions, key)
		}
	default: // start or instant
		cond := Condition{Kind: kind, Prefix: prefix, Start: t, Resolved: str(at, schema.BGPEventPhase) == schema.BGPPhaseInstant}
		switch ev {
		case schema.BGPEventOverlap:
			cond.Detail = "overlaps " + str(at, schema.BGPRelatedPrefixes) + ", origins " + str(at, schema.BGPOrigins)
		case schema.BGPEventLostRedundancy:
			paths, _ := num(at, schema.BGPPaths)
			prev, _ := num(at, schema.BGPPathsPrevious)
			cond.Detail = fmt.Sprintf("%d of %d paths left: %s", paths, prev, str(at, schema.BGPPeers))
		default:
			cond.Detail = lr.Body().AsString()
		}
		b.r.Conditions = append(b.r.Conditions, cond)
		if !cond.Resolved {
			b.conditions[key] = len(b.r.Conditions) - 1
		}
	}
}

// Report returns the report of what was added.
func (b *Builder) Report() Report {
	r := b.r
	r.Directions = directionBins(b.dirs)
	r.DirectionTotals = map[string]int64{}
	for _, d := range r.Directions {
		for k, v := range d.Bytes {
			r.DirectionTotals[k] += v
		}
	}
	r.Observations = b.observations()
	r.TopTalkers = nil
	for _, t := range b.talkers {
		r.TopTalkers = append(r.TopTalkers, *t)
	}
	sort.Slice(r.TopTalkers, func(i, j int) bool {
		a, c := r.TopTalkers[i], r.TopTalkers[j]
		if a.Bytes != c.Bytes {
			return a.Bytes > c.Bytes
		}
		return a.Client+a.Server < c.Client+c.Server
	})
	if b.top > 0 && len(r.TopTalkers) > b.top {
		r.TopTalkers = r.TopTalkers[:b.top]
	}
	r.Hairpin, r.ControlPlane = summaries(b.hairpin), summaries(b.control)
	r.BGPOverTime = nil
	for _, t := range sortedTimes(b.bgpBins) {
		r.BGPOverTime = append(r.BGPOverTime, CountBin{Start: t, Counts: b.bgpBins[t]})
	}
	r.Prefixes = map[string]int{}
	seen := map[string]bool{}
	for k, class := range b.routes {
		p, _, _ := strings.Cut(k.prefix, "#")
		if !seen[class+" "+p] {
			seen[class+" "+p] = true
			r.Prefixes[class]++
		}
	}
	b.routeReport(&r)
	return r
}

func summaries(m map[FlowSummary]*FlowSummary) []FlowSummary {
	out := []FlowSummary{}
	for _, s := range m {
		out = append(out, *s)
	}
	sort.Slice(out, func(i, j int) bool {
		if out[i].Bytes != out[j].Bytes {
			return out[i].Bytes > out[j].Bytes
		}
		return out[i].Source+out[i].Destination < out[j].Source+out[j].Destination
	})
	return out
}

func sortedTimes[V any](m map[time.Time]V) []time.Time {
	ts := make([]time.Time, 0, len(m))
	for t := range m {
		ts = append(ts, t)
	}
	sort.Slice(ts, func(i, j int) bool { return ts[i].Before(ts[j]) })
	return ts
}
