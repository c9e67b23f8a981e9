package bgpreceiver

import (
	"context"
	"fmt"
	"net/netip"
	"strconv"
	"strings"
	"time"

	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/plog"
	"go.uber.org/zap"

	"github.com/erviz/otelcol-erviz/internal/schema"
	"github.com/erviz/otelcol-erviz/pkg/rib"
	"github.com/erviz/otelcol-erviz/receiver/bgpreceiver/internal/event"
	"github.com/erviz/otelcol-erviz/receiver/bgpreceiver/internal/metadata"
	"github.com/erviz/otelcol-erviz/receiver/bgpreceiver/internal/speaker"
)

// Records: the log record (pdata) of each kind of BGP event and of the RIB's events.

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
	if r.nextLogs == nil || r.replaying {
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

// flush sends the batch to the next consumer; a refused batch is reported through the
// collector's obsreport (receiver.refused_log_records) and logged, and the MRT checkpoints
// stay where they were.
func (r *bgpReceiver) flush() {
	if r.records.Len() > 0 && r.nextLogs != nil {
		logs := r.logs
		r.newBatch()
		n := logs.LogRecordCount()
		ctx := r.obs.StartLogsOp(context.Background())
		err := r.nextLogs.ConsumeLogs(ctx, logs)
		r.obs.EndLogsOp(ctx, metadata.Type.String(), n, err)
		if err != nil {
			r.logger.Warn("BGP events refused by the next consumer", zap.Int("records", n), zap.Error(err))
			return // the MRT checkpoints stay where they were
		}
	}
	if r.mrt != nil {
		r.mrt.Commit()
	}
}

func (r *bgpReceiver) peerUpRecord(e *event.PeerUp, g *restart) {
	lr, ok := r.record(schema.BGPEventPeerUp, e.Time, e.Peer, plog.SeverityNumberInfo)
	if !ok {
		return
	}
	at := lr.Attributes()
	at.PutStr(schema.BGPSessionState, e.State)
	body := fmt.Sprintf("peer %s up", peerText(e.Peer))
	if g != nil && g.down {
		at.PutBool(schema.BGPGracefulRestart, true)
		body += fmt.Sprintf(" after a graceful restart (%d stale routes)", len(g.stale))
	}
	if s := e.Session; s != nil {
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

func (r *bgpReceiver) peerDownRecord(e *event.PeerDown) {
	lr, ok := r.record(schema.BGPEventPeerDown, e.Time, e.Peer, plog.SeverityNumberWarn)
	if !ok {
		return
	}
	at := lr.Attributes()
	at.PutStr(schema.BGPSessionState, e.State)
	reason := e.Reason
	if reason == "" {
		reason = "unknown"
	}
	at.PutStr(schema.BGPDownReason, reason)
	if e.HasNotification {
		at.PutInt(schema.BGPNotificationCode, int64(e.NotificationCode))
		at.PutInt(schema.BGPNotificationSubcode, int64(e.NotificationSubcode))
	}
	if e.BMPReason != 0 {
		at.PutInt(schema.BGPBMPPeerDownReason, int64(e.BMPReason))
	}
	body := fmt.Sprintf("peer %s down: %s", peerText(e.Peer), reason)
	if e.GracefulRestart {
		at.PutBool(schema.BGPGracefulRestart, true)
		body += fmt.Sprintf("; graceful restart, routes kept as stale for %s", e.RestartTime)
	}
	lr.Body().SetStr(body)
}

func (r *bgpReceiver) messageRecord(e *event.Message) {
	lr, ok := r.record(schema.BGPEventMessage, e.Time, e.Peer, plog.SeverityNumberInfo)
	if !ok {
		return
	}
	at := lr.Attributes()
	at.PutStr(schema.BGPMessageType, e.MessageType)
	at.PutStr(schema.BGPMessageDirection, e.Direction)
	if e.Length > 0 {
		at.PutInt(schema.BGPMessageLength, int64(e.Length))
	}
	if e.HasNotification {
		at.PutInt(schema.BGPNotificationCode, int64(e.NotificationCode))
		at.PutInt(schema.BGPNotificationSubcode, int64(e.NotificationSubcode))
	}
	lr.Body().SetStr(fmt.Sprintf("%s %s %s", e.MessageType, e.Direction, peerText(e.Peer)))
}

func (r *bgpReceiver) statsRecords(e *event.Stats) {
	for _, s := range e.Stats {
		lr, ok := r.record(schema.BGPEventStatistics, e.Time, e.Peer, plog.SeverityNumberInfo)
		if !ok {
			return
		}
		at := lr.Attributes()
		at.PutStr(schema.BGPStatType, s.Type)
		at.PutInt(schema.BGPStatValue, int64(s.Value))
		if s.Family != "" {
			at.PutStr(schema.BGPStatFamily, s.Family)
		}
		lr.Body().SetStr(fmt.Sprintf("statistics %s %s=%d", peerText(e.Peer), s.Type, s.Value))
	}
}

func (r *bgpReceiver) withdrawRecord(h *event.Header, pol event.Policy, p netip.Prefix, id uint32, reason string) {
	lr, ok := r.record(schema.BGPEventWithdraw, h.Time, h.Peer, plog.SeverityNumberInfo)
	if !ok {
		return
	}
	at := lr.Attributes()
	at.PutStr(schema.BGPPrefix, p.String())
	at.PutStr(schema.BGPFamily, familyName(rib.FamilyOf(p)))
	if id != 0 {
		at.PutInt(schema.BGPPathID, int64(id))
	}
	putPolicy(at, pol)
	if reason != "" {
		at.PutStr(schema.BGPEventReason, reason)
		lr.Body().SetStr(fmt.Sprintf("withdraw %s from %s (%s)", p, peerText(h.Peer), reason))
	} else {
		lr.Body().SetStr(fmt.Sprintf("withdraw %s from %s", p, peerText(h.Peer)))
	}
}

// announceRecord: attrs are those the RIB stored for the path.
func (r *bgpReceiver) announceRecord(e *event.Update, p *rib.Path, attrs *rib.Attrs) {
	lr, ok := r.record(schema.BGPEventAnnounce, e.Time, e.Peer, plog.SeverityNumberInfo)
	if !ok {
		return
	}
	at := lr.Attributes()
	at.PutStr(schema.BGPPrefix, p.Prefix.String())
	at.PutStr(schema.BGPFamily, familyName(rib.FamilyOf(p.Prefix)))
	if p.ID != 0 {
		at.PutInt(schema.BGPPathID, int64(p.ID))
	}
	if p.NextHop.IsValid() {
		at.PutStr(schema.BGPNextHop, p.NextHop.String())
	}
	origin := int64(0)
	path := ""
	if attrs != nil {
		path = attrs.ASPath.String()
		at.PutStr(schema.BGPASPath, path)
		at.PutInt(schema.BGPASPathLength, int64(attrs.ASPath.Length))
		at.PutStr(schema.BGPRouteClass, attrs.Class.String())
		origin = int64(rib.Route{Peer: e.Peer, Attrs: attrs}.OriginASN())
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
	putPolicy(at, e.Policy)
	lr.Body().SetStr(fmt.Sprintf("announce %s via %s as-path [%s] from %s", p.Prefix, p.NextHop, path, peerText(e.Peer)))
}

// putPolicy sets bgp.post_policy when the source says which side of the policy it saw.
func putPolicy(at pcommon.Map, pol event.Policy) {
	if pol != event.PolicyUnknown {
		at.PutBool(schema.BGPPostPolicy, pol == event.PostPolicy)
	}
}
