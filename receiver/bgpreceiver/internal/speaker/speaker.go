// Package speaker runs the embedded GoBGP v3 speaker of the bgp receiver: it peers with the
// configured neighbors, accepts every route, never advertises one, and hands peer state
// changes and post-policy routes to a callback as they happen. It is a pure adapter: it
// keeps no routing state of its own (pkg/rib does).
package speaker

import (
	"context"
	"errors"
	"fmt"
	"net/netip"
	"strconv"
	"strings"
	"sync"
	"time"

	api "github.com/osrg/gobgp/v3/api"
	"github.com/osrg/gobgp/v3/pkg/apiutil"
	gobgplog "github.com/osrg/gobgp/v3/pkg/log"
	"github.com/osrg/gobgp/v3/pkg/packet/bgp"
	"github.com/osrg/gobgp/v3/pkg/server"
	"go.uber.org/zap"

	"github.com/erviz/otelcol-erviz/pkg/rib"
	"github.com/erviz/otelcol-erviz/receiver/bgpreceiver/internal/bgpconv"
)

// Family names accepted in PeerConfig.Families.
const (
	FamilyIPv4Unicast = "ipv4_unicast"
	FamilyIPv6Unicast = "ipv6_unicast"
)

// Config of the speaker.
type Config struct {
	ASN      uint32
	RouterID netip.Addr
	// ListenAddresses and ListenPort: where passive peers connect; ListenPort -1 disables
	// listening.
	ListenAddresses []string
	ListenPort      int32
	Peers           []PeerConfig
}

// PeerConfig is one neighbor.
type PeerConfig struct {
	Address      netip.Addr
	ASN          uint32
	Name         string
	Port         uint16 // remote port for active sessions (default 179)
	LocalAddress netip.Addr
	Passive      bool
	MultihopTTL  uint8 // 0: directly connected eBGP (TTL 1)
	Password     string
	Families     []string
	HoldTime     time.Duration
	ConnectRetry time.Duration
}

// EventKind is the kind of an Event.
type EventKind uint8

const (
	// PeerUp: the session reached Established.
	PeerUp EventKind = iota + 1
	// PeerDown: an established session went down; Reason says why when GoBGP logged it.
	PeerDown
	// Paths: Paths carries post-policy announcements and withdrawals of Peer.
	Paths
)

// Event is handed to the callback. Paths are GoBGP API paths, converted later by Convert
// so that the callback stays cheap.
type Event struct {
	Kind    EventKind
	Time    time.Time
	Peer    netip.Addr
	PeerASN uint32
	// State is the session state reached (established, idle, active, ...).
	State string
	// Reason of a PeerDown as GoBGP logged it ("hold-timer-expired",
	// "notification-received cease/peer-deconfigured", ...); empty when unknown.
	Reason string
	// NotificationCode and NotificationSubcode when the reason is a NOTIFICATION.
	NotificationCode, NotificationSubcode uint8
	Paths                                 []*api.Path
}

// Speaker is a running GoBGP server.
type Speaker struct {
	srv    *server.BgpServer
	cancel context.CancelFunc
	logger *zap.Logger
	emit   func(Event)

	mu      sync.Mutex
	reasons map[netip.Addr]downReason // "Peer Down" logged, state event not yet seen
	state   map[netip.Addr]bool       // established
}

type downReason struct {
	text          string
	code, subcode uint8
}

// Start starts the speaker and its peers. emit is called from one goroutine, in order; it
// must return quickly.
func Start(cfg Config, logger *zap.Logger, emit func(Event)) (*Speaker, error) {
	s := &Speaker{logger: logger, emit: emit, reasons: map[netip.Addr]downReason{}, state: map[netip.Addr]bool{}}
	s.srv = server.NewBgpServer(server.LoggerOption(&gobgpLogger{s: s, l: logger.Named("gobgp")}))
	go s.srv.Serve()
	ctx, cancel := context.WithCancel(context.Background())
	s.cancel = cancel
	global := &api.Global{
		Asn:             cfg.ASN,
		RouterId:        cfg.RouterID.String(),
		ListenPort:      cfg.ListenPort,
		ListenAddresses: cfg.ListenAddresses,
	}
	if err := s.srv.StartBgp(ctx, &api.StartBgpRequest{Global: global}); err != nil {
		s.srv.Stop()
		cancel()
		return nil, fmt.Errorf("start BGP: %w", err)
	}
	// Never advertise: reject everything towards every peer, before any peer exists.
	if err := s.srv.SetPolicyAssignment(ctx, &api.SetPolicyAssignmentRequest{Assignment: &api.PolicyAssignment{
		Name: "global", Direction: api.PolicyDirection_EXPORT, DefaultAction: api.RouteAction_REJECT,
	}}); err != nil {
		s.Stop()
		return nil, fmt.Errorf("set the global export policy to reject: %w", err)
	}
	if err := s.srv.SetPolicyAssignment(ctx, &api.SetPolicyAssignmentRequest{Assignment: &api.PolicyAssignment{
		Name: "global", Direction: api.PolicyDirection_IMPORT, DefaultAction: api.RouteAction_ACCEPT,
	}}); err != nil {
		s.Stop()
		return nil, fmt.Errorf("set the global import policy to accept: %w", err)
	}
	err := s.srv.WatchEvent(ctx, &api.WatchEventRequest{
		Peer: &api.WatchEventRequest_Peer{},
		Table: &api.WatchEventRequest_Table{Filters: []*api.WatchEventRequest_Table_Filter{
			// The Adj-RIB-In: one event per UPDATE. The import policy accepts everything, so
			// these are the post-policy routes too; POST_POLICY would notify once per path,
			// each time with a copy of the peer's configuration (a third of the CPU of a
			// full-table ingest). Session downs withdraw nothing here: the RIB removes the
			// peer's routes on PeerDown.
			{Type: api.WatchEventRequest_Table_Filter_ADJIN, Init: true},
		}},
	}, s.onWatch)
	if err != nil {
		s.Stop()
		return nil, fmt.Errorf("watch events: %w", err)
	}
	for _, p := range cfg.Peers {
		if err := s.srv.AddPeer(ctx, &api.AddPeerRequest{Peer: apiPeer(p)}); err != nil {
			s.Stop()
			return nil, fmt.Errorf("add peer %s: %w", p.Address, err)
		}
	}
	return s, nil
}

func apiPeer(p PeerConfig) *api.Peer {
	fams := p.Families
	if len(fams) == 0 {
		if p.Address.Is4() {
			fams = []string{FamilyIPv4Unicast}
		} else {
			fams = []string{FamilyIPv6Unicast}
		}
	}
	var afis []*api.AfiSafi
	for _, f := range fams {
		fam := &api.Family{Afi: api.Family_AFI_IP, Safi: api.Family_SAFI_UNICAST}
		if f == FamilyIPv6Unicast {
			fam.Afi = api.Family_AFI_IP6
		}
		afis = append(afis, &api.AfiSafi{Config: &api.AfiSafiConfig{Family: fam, Enabled: true}})
	}
	hold := uint64(p.HoldTime / time.Second)
	if hold == 0 {
		hold = 90
	}
	retry := uint64(p.ConnectRetry / time.Second)
	if retry == 0 {
		retry = 10
	}
	ap := &api.Peer{
		Conf: &api.PeerConf{
			NeighborAddress: p.Address.String(),
			PeerAsn:         p.ASN,
			AuthPassword:    p.Password,
			Description:     p.Name,
		},
		Timers: &api.Timers{Config: &api.TimersConfig{
			HoldTime: hold, KeepaliveInterval: max(hold/3, 1), ConnectRetry: retry,
			IdleHoldTimeAfterReset: retry,
		}},
		Transport: &api.Transport{PassiveMode: p.Passive, RemotePort: uint32(p.Port)},
		AfiSafis:  afis,
	}
	if p.LocalAddress.IsValid() {
		ap.Transport.LocalAddress = p.LocalAddress.String()
	}
	if p.MultihopTTL > 0 {
		ap.EbgpMultihop = &api.EbgpMultihop{Enabled: true, MultihopTtl: uint32(p.MultihopTTL)}
	}
	return ap
}

// Stop stops the speaker: every session is closed with a CEASE NOTIFICATION.
//
// GoBGP v3's Serve loop has no exit: one goroutine, parked, stays behind per stopped
// speaker.
func (s *Speaker) Stop() {
	s.srv.Stop()
	s.cancel()
}

func (s *Speaker) onWatch(r *api.WatchEventResponse) {
	switch ev := r.Event.(type) {
	case *api.WatchEventResponse_Peer:
		pe := ev.Peer
		if pe.GetType() != api.WatchEventResponse_PeerEvent_STATE || pe.Peer == nil || pe.Peer.State == nil {
			return
		}
		st := pe.Peer.State
		addr, err := netip.ParseAddr(st.NeighborAddress)
		if err != nil {
			return
		}
		addr = addr.Unmap()
		established := st.SessionState == api.PeerState_ESTABLISHED
		s.mu.Lock()
		was := s.state[addr]
		s.state[addr] = established
		reason, hasReason := s.reasons[addr]
		if established || was {
			delete(s.reasons, addr)
		}
		s.mu.Unlock()
		e := Event{Time: time.Now(), Peer: addr, PeerASN: st.PeerAsn, State: sessionState(st.SessionState)}
		switch {
		case established && !was:
			e.Kind = PeerUp
		case !established && was:
			e.Kind = PeerDown
			if hasReason {
				e.Reason, e.NotificationCode, e.NotificationSubcode = reason.text, reason.code, reason.subcode
			}
		default:
			return
		}
		s.emit(e)
	case *api.WatchEventResponse_Table:
		paths := ev.Table.Paths
		if len(paths) == 0 {
			return
		}
		// Group by peer (a watch batch belongs to one peer in practice).
		start := 0
		for i := 1; i <= len(paths); i++ {
			if i < len(paths) && paths[i].NeighborIp == paths[start].NeighborIp {
				continue
			}
			s.emitPaths(paths[start:i])
			start = i
		}
	}
}

func (s *Speaker) emitPaths(paths []*api.Path) {
	addr, err := netip.ParseAddr(paths[0].NeighborIp)
	if err != nil {
		return // locally originated (we originate nothing) or an EoR marker
	}
	addr = addr.Unmap()
	s.mu.Lock()
	_, going := s.reasons[addr]
	s.mu.Unlock()
	if going {
		// The session is going down: GoBGP withdraws the peer's routes before the state
		// event. Those withdrawals are the session down itself (the RIB removes the
		// peer's routes on PeerDown), not routing changes of their own.
		kept := paths[:0:0]
		for _, p := range paths {
			if !p.IsWithdraw {
				kept = append(kept, p)
			}
		}
		if len(kept) == 0 {
			return
		}
		paths = kept
	}
	s.emit(Event{Kind: Paths, Time: time.Now(), Peer: addr, PeerASN: paths[0].SourceAsn, Paths: paths})
}

func sessionState(st api.PeerState_SessionState) string {
	return strings.ToLower(strings.TrimPrefix(st.String(), "SESSION_STATE_"))
}

// Convert turns a GoBGP API path into a RIB path; withdraw says whether it withdraws.
// ok is false for families other than IPv4/IPv6 unicast and End-of-RIB markers.
func Convert(p *api.Path, dst *rib.Path) (withdraw, ok bool, err error) {
	nlri, err := apiutil.GetNativeNlri(p)
	if err != nil {
		return false, false, err
	}
	pfx, _, ok := bgpconv.Prefix(nlri)
	if !ok {
		return false, false, nil
	}
	*dst = rib.Path{Prefix: pfx, ID: p.Identifier, ASPath: dst.ASPath[:0], Communities: dst.Communities[:0], Large: dst.Large[:0]}
	if p.IsWithdraw {
		return true, true, nil
	}
	attrs, err := apiutil.GetNativePathAttributes(p)
	if err != nil {
		return false, false, err
	}
	bgpconv.Attrs(attrs, dst)
	return false, true, nil
}

// PeerInfo is what ListPeer reports for one neighbor.
type PeerInfo struct {
	Address     netip.Addr
	ASN         uint32
	Name        string
	State       string
	Established bool
	// Received and Sent message counters, cumulative over the life of the speaker.
	Received, Sent Messages
}

// Messages are counts per BGP message type.
type Messages struct {
	Open, Update, Notification, Keepalive, Refresh uint64
}

// Peers lists the configured neighbors with their state and message counters.
func (s *Speaker) Peers(ctx context.Context) ([]PeerInfo, error) {
	var out []PeerInfo
	err := s.srv.ListPeer(ctx, &api.ListPeerRequest{}, func(p *api.Peer) {
		if p.Conf == nil || p.State == nil {
			return
		}
		a, err := netip.ParseAddr(p.Conf.NeighborAddress)
		if err != nil {
			return
		}
		pi := PeerInfo{Address: a.Unmap(), ASN: p.Conf.PeerAsn, Name: p.Conf.Description,
			State: sessionState(p.State.SessionState), Established: p.State.SessionState == api.PeerState_ESTABLISHED}
		if m := p.State.Messages; m != nil {
			pi.Received = messages(m.Received)
			pi.Sent = messages(m.Sent)
		}
		out = append(out, pi)
	})
	return out, err
}

func messages(m *api.Message) Messages {
	if m == nil {
		return Messages{}
	}
	return Messages{Open: m.Open, Update: m.Update, Notification: m.Notification, Keepalive: m.Keepalive, Refresh: m.Refresh}
}

// gobgpLogger forwards GoBGP's log to zap and captures the reason of every "Peer Down".
type gobgpLogger struct {
	s     *Speaker
	l     *zap.Logger
	level gobgplog.LogLevel
}

func (g *gobgpLogger) fields(f gobgplog.Fields) []zap.Field {
	out := make([]zap.Field, 0, len(f))
	for k, v := range f {
		out = append(out, zap.Any(k, v))
	}
	return out
}

func (g *gobgpLogger) Panic(msg string, f gobgplog.Fields) {
	g.l.Error(msg, g.fields(f)...)
	panic(errors.New(msg))
}
func (g *gobgpLogger) Fatal(msg string, f gobgplog.Fields) { g.l.Error(msg, g.fields(f)...) }
func (g *gobgpLogger) Error(msg string, f gobgplog.Fields) { g.l.Error(msg, g.fields(f)...) }
func (g *gobgpLogger) Warn(msg string, f gobgplog.Fields)  { g.l.Warn(msg, g.fields(f)...) }
func (g *gobgpLogger) Debug(msg string, f gobgplog.Fields) { g.l.Debug(msg, g.fields(f)...) }
func (g *gobgpLogger) SetLevel(l gobgplog.LogLevel)        { g.level = l }
func (g *gobgpLogger) GetLevel() gobgplog.LogLevel         { return gobgplog.InfoLevel }

func (g *gobgpLogger) Info(msg string, f gobgplog.Fields) {
	if msg == "Peer Down" {
		g.s.peerDownLogged(f)
	}
	g.l.Info(msg, g.fields(f)...)
}

func (s *Speaker) peerDownLogged(f gobgplog.Fields) {
	key, _ := f["Key"].(string)
	a, err := netip.ParseAddr(key)
	if err != nil {
		return
	}
	reason := fmt.Sprint(f["Reason"])
	r := downReason{text: reason}
	r.code, r.subcode = parseNotification(reason)
	s.mu.Lock()
	s.reasons[a.Unmap()] = r
	s.mu.Unlock()
}

// parseNotification finds the code and subcode in a reason such as
// "notification-received cease/peer-deconfigured" (GoBGP's NotificationErrorCode strings).
func parseNotification(reason string) (code, subcode uint8) {
	_, rest, ok := strings.Cut(reason, "notification-")
	if !ok {
		return 0, 0
	}
	_, text, _ := strings.Cut(rest, " ")
	for c := uint8(1); c <= 7; c++ {
		for sc := uint8(0); sc <= 11; sc++ {
			if bgp.NewNotificationErrorCode(c, sc).String() == text {
				return c, sc
			}
		}
	}
	// Unknown subcodes print as numbers.
	if i := strings.LastIndexByte(text, '/'); i > 0 {
		if n, err := strconv.Atoi(text[i+1:]); err == nil && n < 256 {
			for c := uint8(1); c <= 7; c++ {
				if strings.HasPrefix(bgp.NewNotificationErrorCode(c, 0).String(), text[:i]) {
					return c, uint8(n)
				}
			}
		}
	}
	return 0, 0
}
