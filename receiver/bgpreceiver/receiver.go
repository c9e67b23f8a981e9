package bgpreceiver

import (
	"context"
	"fmt"
	"net/netip"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"go.opentelemetry.io/collector/component"
	"go.opentelemetry.io/collector/consumer"
	"go.opentelemetry.io/collector/extension/xextension/storage"
	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/plog"
	"go.opentelemetry.io/collector/receiver"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/metric"
	"go.uber.org/zap"

	"github.com/erviz/otelcol-erviz/internal/schema"
	"github.com/erviz/otelcol-erviz/internal/storageclient"
	"github.com/erviz/otelcol-erviz/pkg/rib"
	"github.com/erviz/otelcol-erviz/receiver/bgpreceiver/internal/bgpconv"
	"github.com/erviz/otelcol-erviz/receiver/bgpreceiver/internal/metadata"
	"github.com/erviz/otelcol-erviz/receiver/bgpreceiver/internal/speaker"
)

// tickInterval is how often the RIB is told that time passed (flap scores decay, windows
// slide) when no route changes.
const tickInterval = 5 * time.Second

// maxBatch bounds the log records sent in one ConsumeLogs call.
const maxBatch = 2048

type itemKind uint8

const (
	itemPeerUp itemKind = iota + 1
	itemPeerDown
	itemUpdate
	itemMessage
	itemStats
	// itemRestartTimer: the restart or stale timer of a graceful restart ran out.
	itemRestartTimer
	// itemRouting runs fn on the RIB goroutine (routing.go: convergence).
	itemRouting
)

// item is one unit of work for the RIB goroutine.
type item struct {
	kind itemKind
	t    time.Time
	peer rib.Peer

	state, reason string
	code, subcode uint8
	hasCode       bool
	bmpReason     int

	update bgpconv.Update
	// session: what the OPENs of a peer up negotiated, when the source has them.
	session    *bgpconv.Session
	postPolicy bool
	hasPolicy  bool
	// dump: the update is an entry of an MRT table dump, not a message.
	dump bool
	// MRT items: the file, where the record ends, the file's identity, and replay: the
	// record was delivered before a restart (the RIB takes it, nothing is emitted).
	mrtPath string
	mrtCkpt mrtCheckpoint
	replay  bool

	msgType, msgDir string
	msgLen          int

	stats []stat

	// Graceful restart (RFC 4724) of the speaker's sessions: a down without NOTIFICATION
	// with the capability negotiated, the peer's restart time, the families its capability
	// names (with the Forwarding State bit), and the generation of a timer item.
	graceful    bool
	restartTime time.Duration
	grFamilies  map[string]bool
	gen         uint64

	fn func()
}

type stat struct {
	typ    string
	value  uint64
	family string
}

type msgKey struct {
	peer     rib.Peer
	typ, dir string
}

type bgpReceiver struct {
	cfg         *Config
	set         receiver.Settings
	logger      *zap.Logger
	logsNext    consumer.Logs
	metricsNext consumer.Metrics
	tb          *metadata.TelemetryBuilder
	mb          *metadata.MetricsBuilder

	rib       *rib.RIB
	ribEvents []rib.Event
	peers     map[netip.Addr]speaker.PeerConfig

	queue chan item
	done  chan struct{}
	wg    sync.WaitGroup
	// closing: the receiver stops; the sessions it closes are not routing events.
	closing atomic.Bool

	sp      *speaker.Speaker
	bmp     *bmpStation
	mrt     *mrtReader
	stopped bool

	// MRT checkpoints (with storage): delivered positions per file, and those handled since
	// the last delivered batch.
	client     storage.Client
	mrtCkpts   map[string]mrtCheckpoint
	mrtPending map[string]mrtCheckpoint
	replaying  bool

	// batch being built by the RIB goroutine
	logs    plog.Logs
	records plog.LogRecordSlice

	msgMu     sync.Mutex
	msgCounts map[msgKey]int64

	// restarts: the graceful restarts in progress, per peer (RIB goroutine).
	restarts  map[rib.Peer]*restart
	staleTime time.Duration

	lim     *limits
	routing routing // the published RIB and its convergence (routing.go)
}

func newReceiver(set receiver.Settings, cfg *Config) (*bgpReceiver, error) {
	r := &bgpReceiver{
		cfg: cfg, set: set, logger: set.Logger,
		peers:     map[netip.Addr]speaker.PeerConfig{},
		msgCounts: map[msgKey]int64{},
		restarts:  map[rib.Peer]*restart{}, staleTime: staleTime,
		lim: newLimits(cfg.MetricsInterval),
	}
	rc, err := cfg.ribConfig()
	if err != nil {
		return nil, err
	}
	rc.OnEvent = func(e rib.Event) { r.ribEvents = append(r.ribEvents, e) }
	if r.rib, err = rib.New(rc); err != nil {
		return nil, err
	}
	for _, p := range cfg.speakerConfig().Peers {
		r.peers[p.Address] = p
	}
	r.publishRIB()
	return r, nil
}

// Start starts the configured sources and the RIB and metrics goroutines.
func (r *bgpReceiver) Start(ctx context.Context, host component.Host) error {
	var err error
	if r.tb, err = metadata.NewTelemetryBuilder(r.set.TelemetrySettings); err != nil {
		return err
	}
	r.mrtCkpts, r.mrtPending = map[string]mrtCheckpoint{}, map[string]mrtCheckpoint{}
	if r.cfg.Storage != nil {
		if r.client, err = storageclient.Open(ctx, host, *r.cfg.Storage, r.set.ID); err != nil {
			return err
		}
		if r.mrtCkpts, err = loadMRTCheckpoints(ctx, r.client); err != nil {
			r.logger.Warn("cannot read the MRT checkpoints; the files are read as new", zap.Error(err))
			r.mrtCkpts = map[string]mrtCheckpoint{}
		}
	}
	r.mb = metadata.NewMetricsBuilder(r.cfg.MetricsBuilderConfig, r.set)
	r.queue = make(chan item, r.cfg.QueueSize)
	r.done = make(chan struct{})
	r.newBatch()
	r.wg.Add(1)
	go r.runRIB()
	if r.cfg.speakerEnabled() {
		sc := r.cfg.speakerConfig()
		sc.Listen = r.speakerListen()
		r.sp, err = speaker.Start(sc, r.logger, r.onSpeaker)
		if err != nil {
			r.stop()
			return err
		}
	}
	if r.cfg.BMP.Endpoint != "" {
		if r.bmp, err = startBMP(r, r.cfg.BMP); err != nil {
			r.stop()
			return err
		}
	}
	if len(r.cfg.MRT.Include) > 0 {
		if r.mrt, err = startMRT(r, r.cfg.MRT); err != nil {
			r.stop()
			return err
		}
	}
	// After the sources: the metrics goroutine reads r.sp.
	r.wg.Add(1)
	go r.runMetrics()
	r.routingStarted()
	return nil
}

// Shutdown stops the sources first (the speaker closes every session), then the goroutines.
func (r *bgpReceiver) Shutdown(context.Context) error {
	r.routing.unregister()
	r.stop()
	return nil
}

func (r *bgpReceiver) stop() {
	if r.done == nil || r.stopped {
		return
	}
	r.stopped = true
	// The speaker's sessions and the BMP sessions end because the collector stops: their
	// downs and implicit withdrawals would raise lost redundancy for every prefix at each
	// restart, so nothing more is taken from the sources.
	r.closing.Store(true)
	if r.sp != nil {
		r.sp.Stop()
	}
	if r.bmp != nil {
		r.bmp.stop()
	}
	if r.mrt != nil {
		r.mrt.stop()
	}
	close(r.done)
	r.wg.Wait()
	r.stopRestarts()
	if r.client != nil {
		if err := r.client.Close(context.Background()); err != nil {
			r.logger.Warn("closing the storage client", zap.Error(err))
		}
	}
	if r.tb != nil {
		r.tb.Shutdown()
	}
}

// enqueue hands an item to the RIB goroutine, waiting for room: a lost routing event would
// leave the RIB wrong until the peer's next session reset, so the sources wait instead (the
// speaker's watch buffers, a BMP session's TCP window fills, the MRT reader pauses).
func (r *bgpReceiver) enqueue(it item) {
	if r.closing.Load() {
		return
	}
	select {
	case r.queue <- it:
	case <-r.done:
	}
}

// onSpeaker is the speaker's callback: cheap, it only queues.
func (r *bgpReceiver) onSpeaker(e speaker.Event) {
	peer := r.speakerPeer(e.Peer, e.PeerASN)
	switch e.Kind {
	case speaker.PeerUp:
		r.enqueue(item{kind: itemPeerUp, t: e.Time, peer: peer, state: speaker.StateName(e.State), session: &e.Session,
			graceful: e.GracefulRestart, restartTime: e.RestartTime, grFamilies: e.GracefulFamilies})
	case speaker.PeerDown:
		r.enqueue(item{kind: itemPeerDown, t: e.Time, peer: peer, state: speaker.StateName(e.State), reason: e.Reason,
			code: e.NotificationCode, subcode: e.NotificationSubcode, hasCode: e.NotificationCode != 0,
			graceful: e.GracefulRestart, restartTime: e.RestartTime, grFamilies: e.GracefulFamilies})
	case speaker.Update:
		r.enqueue(item{kind: itemUpdate, t: e.Time, peer: peer, update: e.Update, postPolicy: true, hasPolicy: true})
	case speaker.Malformed:
		r.countMalformed(schema.BGPSourceBGP)
	case speaker.Message:
		r.enqueue(item{kind: itemMessage, t: e.Time, peer: peer, msgType: e.MessageType, msgDir: e.Direction, msgLen: e.Length,
			code: e.NotificationCode, subcode: e.NotificationSubcode, hasCode: e.MessageType == "notification"})
	}
}

func (r *bgpReceiver) speakerPeer(a netip.Addr, asn uint32) rib.Peer {
	if pc, ok := r.peers[a]; ok {
		return rib.Peer{Kind: rib.SourceBGP, Addr: a, ASN: pc.ASN, Name: pc.Name}
	}
	return rib.Peer{Kind: rib.SourceBGP, Addr: a, ASN: asn}
}

func (r *bgpReceiver) runRIB() {
	defer r.wg.Done()
	tick := time.NewTicker(tickInterval)
	defer tick.Stop()
	for {
		select {
		case it := <-r.queue:
			r.handle(it)
			for n := 0; n < 4096; n++ {
				select {
				case it := <-r.queue:
					r.handle(it)
					continue
				default:
				}
				break
			}
			r.flush()
		case now := <-tick.C:
			r.rib.Tick(now)
			r.forgetIdle(now)
			r.drainRIBEvents()
			r.flush()
		case <-r.done:
			for {
				select {
				case it := <-r.queue:
					r.handle(it)
					continue
				default:
				}
				break
			}
			r.flush()
			return
		}
	}
}

func (r *bgpReceiver) handle(it item) {
	r.replaying = it.replay
	defer func() {
		r.replaying = false
		if it.mrtPath != "" {
			r.mrtPending[it.mrtPath] = it.mrtCkpt
		}
	}()
	switch it.kind {
	case itemPeerUp:
		// During a graceful restart the RIB still has the peer up: PeerUp changes nothing.
		r.rib.PeerUp(it.t, it.peer)
		g := r.restarts[it.peer]
		if lr, ok := r.record(schema.BGPEventPeerUp, it.t, it.peer, plog.SeverityNumberInfo); ok {
			at := lr.Attributes()
			at.PutStr(schema.BGPSessionState, it.state)
			body := fmt.Sprintf("peer %s up", peerText(it.peer))
			if g != nil && g.down {
				at.PutBool(schema.BGPGracefulRestart, true)
				body += fmt.Sprintf(" after a graceful restart (%d stale routes)", len(g.stale))
			}
			if s := it.session; s != nil {
				if s.RouterID.IsValid() {
					at.PutStr(schema.BGPPeerRouterID, s.RouterID.String())
				}
				at.PutInt(schema.BGPHoldTime, int64(s.HoldTime))
				fams := at.PutEmptySlice(schema.BGPFamilies)
				for _, f := range s.Families {
					fams.AppendEmpty().SetStr(f)
				}
				caps := at.PutEmptySlice(schema.BGPPeerCapabilities)
				for _, c := range s.Capabilities {
					caps.AppendEmpty().SetStr(c)
				}
				body += fmt.Sprintf(": router ID %s, hold time %d s, %s", s.RouterID, s.HoldTime, strings.Join(s.Families, " "))
			}
			lr.Body().SetStr(body)
		}
		if g != nil && g.down {
			r.restartUp(it, g)
		}
		r.routingPeerUp(it)
	case itemPeerDown:
		if lr, ok := r.record(schema.BGPEventPeerDown, it.t, it.peer, plog.SeverityNumberWarn); ok {
			at := lr.Attributes()
			at.PutStr(schema.BGPSessionState, it.state)
			reason := it.reason
			if reason == "" {
				reason = "unknown"
			}
			at.PutStr(schema.BGPDownReason, reason)
			if it.hasCode {
				at.PutInt(schema.BGPNotificationCode, int64(it.code))
				at.PutInt(schema.BGPNotificationSubcode, int64(it.subcode))
			}
			if it.bmpReason != 0 {
				at.PutInt(schema.BGPBMPPeerDownReason, int64(it.bmpReason))
			}
			body := fmt.Sprintf("peer %s down: %s", peerText(it.peer), reason)
			if it.graceful {
				at.PutBool(schema.BGPGracefulRestart, true)
				body += fmt.Sprintf("; graceful restart, routes kept as stale for %s", it.restartTime)
			}
			lr.Body().SetStr(body)
		}
		if it.graceful {
			r.gracefulDown(it)
			break
		}
		r.endRestart(it.peer) // down again before its End-of-RIB: the stale routes go too
		r.rib.PeerDown(it.t, it.peer)
	case itemUpdate:
		if it.peer.Kind != rib.SourceBGP && !it.dump {
			// One UPDATE the router (BMP) or the MRT writer received; the speaker counts
			// its own sessions' messages.
			r.countMessage(it.peer, "update", "received")
		}
		var g *restart
		if len(r.restarts) > 0 { // no map lookup per UPDATE when no graceful restart runs
			g = r.restarts[it.peer]
		}
		for _, w := range it.update.Withdrawn {
			if g != nil {
				delete(g.stale, rib.PathKey{Prefix: w.Prefix.Masked(), ID: w.ID})
			}
			r.withdraw(it, w.Prefix, w.ID, "")
		}
		for i := range it.update.Announced {
			refresh := false
			if g != nil {
				k := rib.PathKey{Prefix: it.update.Announced[i].Prefix.Masked(), ID: it.update.Announced[i].ID}
				_, refresh = g.stale[k]
				delete(g.stale, k)
			}
			r.announce(it, &it.update.Announced[i], refresh)
		}
		if g != nil && it.update.EndOfRIB {
			r.endOfRIB(it, g, it.update.EndOfRIBFamily)
		}
		if it.update.EndOfRIB {
			r.routingEndOfRIB(it)
		}
	case itemRestartTimer:
		r.restartTimer(it)
	case itemRouting:
		it.fn()
	case itemMessage:
		if it.peer.Kind != rib.SourceBGP {
			r.countMessage(it.peer, it.msgType, it.msgDir) // the speaker counts its own
		}
		if lr, ok := r.record(schema.BGPEventMessage, it.t, it.peer, plog.SeverityNumberInfo); ok {
			at := lr.Attributes()
			at.PutStr(schema.BGPMessageType, it.msgType)
			at.PutStr(schema.BGPMessageDirection, it.msgDir)
			if it.msgLen > 0 {
				at.PutInt(schema.BGPMessageLength, int64(it.msgLen))
			}
			if it.hasCode {
				at.PutInt(schema.BGPNotificationCode, int64(it.code))
				at.PutInt(schema.BGPNotificationSubcode, int64(it.subcode))
			}
			lr.Body().SetStr(fmt.Sprintf("%s %s %s", it.msgType, it.msgDir, peerText(it.peer)))
		}
	case itemStats:
		for _, s := range it.stats {
			if lr, ok := r.record(schema.BGPEventStatistics, it.t, it.peer, plog.SeverityNumberInfo); ok {
				at := lr.Attributes()
				at.PutStr(schema.BGPStatType, s.typ)
				at.PutInt(schema.BGPStatValue, int64(s.value))
				if s.family != "" {
					at.PutStr(schema.BGPStatFamily, s.family)
				}
				lr.Body().SetStr(fmt.Sprintf("statistics %s %s=%d", peerText(it.peer), s.typ, s.value))
			}
		}
	}
	r.drainRIBEvents()
	if r.records.Len() >= maxBatch {
		r.flush()
	}
}

// withdraw withdraws a path; reason (bgp.event.reason) is set for the withdrawals the
// receiver makes itself (stale routes after a graceful restart).
func (r *bgpReceiver) withdraw(it item, p netip.Prefix, id uint32, reason string) {
	r.rib.WithdrawPath(it.t, it.peer, p, id)
	if lr, ok := r.record(schema.BGPEventWithdraw, it.t, it.peer, plog.SeverityNumberInfo); ok {
		at := lr.Attributes()
		at.PutStr(schema.BGPPrefix, p.String())
		at.PutStr(schema.BGPFamily, familyName(rib.FamilyOf(p)))
		if id != 0 {
			at.PutInt(schema.BGPPathID, int64(id))
		}
		if it.hasPolicy {
			at.PutBool(schema.BGPPostPolicy, it.postPolicy)
		}
		if reason != "" {
			at.PutStr(schema.BGPEventReason, reason)
			lr.Body().SetStr(fmt.Sprintf("withdraw %s from %s (%s)", p, peerText(it.peer), reason))
		} else {
			lr.Body().SetStr(fmt.Sprintf("withdraw %s from %s", p, peerText(it.peer)))
		}
	}
	r.drainRIBEvents()
}

// announce announces a path. refresh: the path is a stale route of a graceful restart
// announced again; with the same attributes it is no change, and no record is emitted.
func (r *bgpReceiver) announce(it item, p *rib.Path, refresh bool) {
	var before *rib.Attrs
	if refresh {
		before = r.pathAttrs(it.peer, p)
	}
	if err := r.rib.Announce(it.t, it.peer, *p); err != nil {
		r.routeRefused(it, p, err)
		return
	}
	if before != nil && r.pathAttrs(it.peer, p) == before {
		return // interned attributes: the same pointer is the same attributes
	}
	if lr, ok := r.record(schema.BGPEventAnnounce, it.t, it.peer, plog.SeverityNumberInfo); ok {
		at := lr.Attributes()
		at.PutStr(schema.BGPPrefix, p.Prefix.String())
		at.PutStr(schema.BGPFamily, familyName(rib.FamilyOf(p.Prefix)))
		if p.ID != 0 {
			at.PutInt(schema.BGPPathID, int64(p.ID))
		}
		if p.NextHop.IsValid() {
			at.PutStr(schema.BGPNextHop, p.NextHop.String())
		}
		var route rib.Route
		for _, rt := range r.rib.Routes(p.Prefix) {
			if rt.Peer == it.peer && rt.ID == p.ID {
				route = rt
				break
			}
		}
		origin := int64(0)
		if route.Attrs != nil {
			at.PutStr(schema.BGPASPath, route.Attrs.ASPath.String())
			at.PutInt(schema.BGPASPathLength, int64(route.Attrs.ASPath.Length))
			at.PutStr(schema.BGPRouteClass, route.Attrs.Class.String())
			origin = int64(route.OriginASN())
		}
		at.PutInt(schema.BGPOriginASN, origin)
		at.PutStr(schema.BGPOrigin, p.Origin.String())
		if p.HasMED {
			at.PutInt(schema.BGPMED, int64(p.MED))
		}
		if p.HasLocalPref {
			at.PutInt(schema.BGPLocalPref, int64(p.LocalPref))
		}
		if len(p.Communities) > 0 {
			s := at.PutEmptySlice(schema.BGPCommunities)
			for _, c := range p.Communities {
				s.AppendEmpty().SetStr(c.String())
			}
		}
		if len(p.Large) > 0 {
			s := at.PutEmptySlice(schema.BGPLargeCommunities)
			for _, c := range p.Large {
				s.AppendEmpty().SetStr(c.String())
			}
		}
		if it.hasPolicy {
			at.PutBool(schema.BGPPostPolicy, it.postPolicy)
		}
		path := ""
		if route.Attrs != nil {
			path = route.Attrs.ASPath.String()
		}
		lr.Body().SetStr(fmt.Sprintf("announce %s via %s as-path [%s] from %s", p.Prefix, p.NextHop, path, peerText(it.peer)))
	}
	r.drainRIBEvents()
}

// pathAttrs returns the attributes of the RIB's path (peer, p.Prefix, p.ID), nil when none.
func (r *bgpReceiver) pathAttrs(peer rib.Peer, p *rib.Path) *rib.Attrs {
	for _, rt := range r.rib.Routes(p.Prefix) {
		if rt.Peer == peer && rt.ID == p.ID {
			return rt.Attrs
		}
	}
	return nil
}

func (r *bgpReceiver) countMessage(p rib.Peer, typ, dir string) {
	r.msgMu.Lock()
	r.msgCounts[msgKey{peer: p, typ: typ, dir: dir}]++
	r.msgMu.Unlock()
}

var eventNames = map[rib.EventKind]string{
	rib.EventWithdraw:       schema.BGPEventWithdraw,
	rib.EventOverlap:        schema.BGPEventOverlap,
	rib.EventLostRedundancy: schema.BGPEventLostRedundancy,
	rib.EventFlap:           schema.BGPEventFlap,
	rib.EventAdjacencyFlap:  schema.BGPEventAdjacencyFlap,
	rib.EventOriginChange:   schema.BGPEventOriginChange,
	rib.EventMOAS:           schema.BGPEventMOAS,
	rib.EventPrefixCount:    schema.BGPEventPrefixCount,
}

func phaseName(p rib.Phase) string {
	switch p {
	case rib.PhaseStart:
		return schema.BGPPhaseStart
	case rib.PhaseResolved:
		return schema.BGPPhaseResolved
	}
	return schema.BGPPhaseInstant
}

// drainRIBEvents turns the events the RIB emitted during the last call into log records.
func (r *bgpReceiver) drainRIBEvents() {
	for i := range r.ribEvents {
		if r.replaying {
			break // emitted before the restart
		}
		r.ribEventRecord(&r.ribEvents[i])
	}
	clear(r.ribEvents)
	r.ribEvents = r.ribEvents[:0]
}

func (r *bgpReceiver) ribEventRecord(e *rib.Event) {
	name := eventNames[e.Kind]
	if e.Kind == rib.EventWithdraw {
		if lr, ok := r.record(name, e.Time, e.Peer, plog.SeverityNumberInfo); ok {
			at := lr.Attributes()
			at.PutStr(schema.BGPPrefix, e.Prefix.String())
			at.PutStr(schema.BGPFamily, familyName(rib.FamilyOf(e.Prefix)))
			if e.PathID != 0 {
				at.PutInt(schema.BGPPathID, int64(e.PathID))
			}
			at.PutStr(schema.BGPEventReason, reasonPeerDown)
			lr.Body().SetStr(fmt.Sprintf("withdraw %s from %s (peer down)", e.Prefix, peerText(e.Peer)))
		}
		return
	}
	sev := plog.SeverityNumberInfo
	if e.Phase == rib.PhaseStart || e.Kind == rib.EventOriginChange {
		sev = plog.SeverityNumberWarn
	}
	lr, ok := r.record(name, e.Time, e.Peer, sev)
	if !ok {
		return
	}
	at := lr.Attributes()
	at.PutStr(schema.BGPEventPhase, phaseName(e.Phase))
	subject := peerText(e.Peer)
	if e.Prefix.IsValid() {
		at.PutStr(schema.BGPPrefix, e.Prefix.String())
		at.PutStr(schema.BGPFamily, familyName(rib.FamilyOf(e.Prefix)))
		subject = e.Prefix.String()
	}
	if !e.Start.IsZero() {
		at.PutStr(schema.BGPEventStart, e.Start.UTC().Format(time.RFC3339Nano))
	}
	if e.Phase == rib.PhaseResolved {
		at.PutDouble(schema.BGPEventDuration, e.Duration.Seconds())
	}
	if e.Reason != "" {
		at.PutStr(schema.BGPEventReason, e.Reason)
	}
	if len(e.Peers) > 0 {
		s := at.PutEmptySlice(schema.BGPPeers)
		for _, p := range e.Peers {
			s.AppendEmpty().SetStr(peerText(p))
		}
	}
	if len(e.Related) > 0 {
		s := at.PutEmptySlice(schema.BGPRelatedPrefixes)
		for _, p := range e.Related {
			s.AppendEmpty().SetStr(p.String())
		}
	}
	if len(e.Origins) > 0 {
		s := at.PutEmptySlice(schema.BGPOrigins)
		for _, o := range e.Origins {
			s.AppendEmpty().SetInt(int64(o))
		}
	}
	switch e.Kind {
	case rib.EventLostRedundancy:
		at.PutInt(schema.BGPPaths, int64(e.Paths))
		if e.Phase == rib.PhaseStart {
			at.PutInt(schema.BGPPathsPrevious, int64(e.Previous))
		}
	case rib.EventFlap:
		at.PutDouble(schema.BGPFlapScore, e.Score)
	case rib.EventAdjacencyFlap:
		at.PutInt(schema.BGPSessionDowns, int64(e.Count))
	case rib.EventPrefixCount:
		at.PutInt(schema.BGPPrefixCount, int64(e.Count))
		at.PutInt(schema.BGPPrefixCountBaseline, int64(e.Previous))
	}
	body := fmt.Sprintf("%s %s %s", name, phaseName(e.Phase), subject)
	if e.Phase == rib.PhaseResolved {
		body += fmt.Sprintf(" after %s", e.Duration.Round(time.Millisecond))
	}
	lr.Body().SetStr(body)
}

// record appends a log record with the common attributes; ok is false when no logs
// pipeline consumes the receiver.
func (r *bgpReceiver) record(event string, t time.Time, peer rib.Peer, sev plog.SeverityNumber) (plog.LogRecord, bool) {
	if r.logsNext == nil || r.replaying {
		return plog.LogRecord{}, false
	}
	lr := r.records.AppendEmpty()
	lr.SetTimestamp(pcommon.NewTimestampFromTime(t))
	lr.SetObservedTimestamp(pcommon.NewTimestampFromTime(time.Now()))
	lr.SetEventName(event)
	lr.SetSeverityNumber(sev)
	lr.SetSeverityText(severityText(sev))
	at := lr.Attributes()
	at.PutStr(schema.BGPEvent, event)
	at.PutStr(schema.BGPSource, sourceName(peer.Kind))
	if peer.Addr.IsValid() {
		if peer.Router.IsValid() {
			at.PutStr(schema.BGPRouterAddress, peer.Router.String())
		}
		at.PutStr(schema.BGPPeerAddress, peer.Addr.String())
		at.PutInt(schema.BGPPeerASN, int64(peer.ASN))
		if peer.Name != "" {
			at.PutStr(schema.BGPPeerName, peer.Name)
		}
	}
	return lr, true
}

func severityText(s plog.SeverityNumber) string {
	if s == plog.SeverityNumberWarn {
		return "WARN"
	}
	return "INFO"
}

func sourceName(k rib.SourceKind) string {
	switch k {
	case rib.SourceBMP:
		return schema.BGPSourceBMP
	case rib.SourceMRT:
		return schema.BGPSourceMRT
	}
	return schema.BGPSourceBGP
}

func familyName(f rib.Family) string {
	if f == rib.IPv6 {
		return speaker.FamilyIPv6Unicast
	}
	return speaker.FamilyIPv4Unicast
}

func peerText(p rib.Peer) string {
	var b strings.Builder
	if p.Router.IsValid() {
		b.WriteString(p.Router.String())
		b.WriteByte('/')
	}
	b.WriteString(p.Addr.String())
	b.WriteString(" AS")
	b.WriteString(strconv.FormatUint(uint64(p.ASN), 10))
	if p.Name != "" {
		b.WriteString(" (" + p.Name + ")")
	}
	return b.String()
}

func (r *bgpReceiver) newBatch() {
	r.logs = plog.NewLogs()
	rl := r.logs.ResourceLogs().AppendEmpty()
	rl.Resource().Attributes().PutStr(schema.BGPReceiver, r.set.ID.String())
	sl := rl.ScopeLogs().AppendEmpty()
	sl.Scope().SetName(metadata.ScopeName)
	sl.Scope().SetVersion(r.set.BuildInfo.Version)
	r.records = sl.LogRecords()
}

func (r *bgpReceiver) flush() {
	if r.records.Len() > 0 && r.logsNext != nil {
		logs := r.logs
		r.newBatch()
		if err := r.logsNext.ConsumeLogs(context.Background(), logs); err != nil {
			r.logger.Warn("BGP events refused by the next consumer", zap.Int("records", logs.LogRecordCount()), zap.Error(err))
			return // the MRT checkpoints stay where they were
		}
	}
	r.commitMRT()
}

func (r *bgpReceiver) runMetrics() {
	defer r.wg.Done()
	t := time.NewTicker(r.cfg.MetricsInterval)
	defer t.Stop()
	for {
		select {
		case <-t.C:
			r.emitMetrics()
		case <-r.done:
			return
		}
	}
}

var classes = func() []rib.Class {
	out := make([]rib.Class, rib.NumClasses)
	for i := range out {
		out[i] = rib.Class(i)
	}
	return out
}()

func (r *bgpReceiver) emitMetrics() {
	if r.metricsNext == nil {
		return
	}
	now := pcommon.NewTimestampFromTime(time.Now())
	mb := r.mb
	ps := r.newPeerSeries(r.lim.start, now)
	r.recordPeers(ps)
	st := r.rib.Stats()
	mb.RecordBgpRibPrefixesDataPoint(now, int64(st.Prefixes4), speaker.FamilyIPv4Unicast)
	mb.RecordBgpRibPrefixesDataPoint(now, int64(st.Prefixes6), speaker.FamilyIPv6Unicast)
	for f := range rib.NumFamilies {
		for _, c := range classes {
			mb.RecordBgpRibPathsDataPoint(now, int64(st.PathsByClass[f][c]), familyName(rib.Family(f)), c.String())
		}
	}
	a := r.rib.Active()
	mb.RecordBgpOverlapsActiveDataPoint(now, int64(a.Overlap))
	mb.RecordBgpRedundancyLostActiveDataPoint(now, int64(a.LostRedundancy))
	mb.RecordBgpFlapsActiveDataPoint(now, int64(a.Flap))
	mb.RecordBgpAdjacencyFlapsActiveDataPoint(now, int64(a.AdjacencyFlap))
	mb.RecordBgpMoasActiveDataPoint(now, int64(a.MOAS))
	mb.RecordBgpPrefixCountActiveDataPoint(now, int64(a.PrefixCount))
	rb := mb.NewResourceBuilder()
	rb.SetBgpReceiver(r.set.ID.String())
	res := rb.Emit()
	md := mb.Emit(metadata.WithResource(res))
	ps.appendTo(md, res)
	if err := r.metricsNext.ConsumeMetrics(context.Background(), md); err != nil {
		r.logger.Warn("BGP metrics refused by the next consumer", zap.Error(err))
	}
}

func peerAttrs(p rib.Peer) (src, router, addr string, asn int64, name string) {
	src = sourceName(p.Kind)
	if p.Router.IsValid() {
		router = p.Router.String()
	}
	return src, router, p.Addr.String(), int64(p.ASN), p.Name
}

// countMalformed counts a malformed BMP message or MRT record.
func (r *bgpReceiver) countMalformed(source string) {
	r.tb.ReceiverBgpMalformed.Add(context.Background(), 1, metric.WithAttributeSet(attribute.NewSet(attribute.String(schema.BGPSource, source))))
}
