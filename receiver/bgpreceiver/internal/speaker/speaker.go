// Package speaker is the BGP speaker of the bgp receiver: it keeps one BGP-4 session per
// configured neighbor (RFC 4271: OPEN with capabilities, KEEPALIVE and hold timers,
// NOTIFICATION), accepts every route and never advertises one, and hands session changes
// and the content of every UPDATE to a callback as they happen. Messages are encoded and
// decoded with GoBGP's pkg/packet/bgp; the speaker keeps no routing state of its own
// (pkg/rib does), unlike a full BGP implementation whose Adj-RIB-In and Loc-RIB would hold a
// second and third copy of every route.
package speaker

import (
	"bufio"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net"
	"net/netip"
	"os"
	"strconv"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/osrg/gobgp/v3/pkg/packet/bgp"
	"go.uber.org/zap"
	"golang.org/x/sys/unix"

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
	// listening. No address: 0.0.0.0 and [::].
	ListenAddresses []string
	ListenPort      int32
	Peers           []PeerConfig
	// Listen bounds the listener (see listen.go).
	Listen ListenConfig
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
	// MaxPrefixes > 0: more distinct routes than this close the session with CEASE /
	// Maximum Number of Prefixes Reached, and no session is opened or accepted for
	// MaxPrefixesRestart (default 5m).
	MaxPrefixes        int
	MaxPrefixesRestart time.Duration
	// AddPath asks the peer to send every path of a prefix (ADD-PATH receive, RFC 7911) for
	// the configured families; the peer's OPEN decides per family.
	AddPath bool
	// GracefulRestart advertises the Graceful Restart capability (RFC 4724) as a receiving
	// speaker only (restart time RestartTime, no family preserved by this speaker) and,
	// when the peer advertised it too, sends End-of-RIB after the session is established and
	// marks a session that ends without NOTIFICATION as a graceful restart of the peer.
	GracefulRestart bool
}

// RestartTime is the restart time this speaker advertises in its Graceful Restart
// capability.
const RestartTime = 120 * time.Second

// EventKind is the kind of an Event.
type EventKind uint8

const (
	// PeerUp: the session reached Established.
	PeerUp EventKind = iota + 1
	// PeerDown: an established session went down; Reason says why.
	PeerDown
	// Update: Update carries the announcements and withdrawals of one UPDATE of Peer.
	Update
	// Message: an OPEN or NOTIFICATION was sent or received (MessageType, Direction).
	Message
	// Malformed: an UPDATE of Peer did not parse cleanly and was handled as RFC 7606 says
	// (treated as withdraw, or an attribute discarded); Reason says what was wrong.
	Malformed
)

// Event is handed to the callback.
type Event struct {
	Kind    EventKind
	Time    time.Time
	Peer    netip.Addr
	PeerASN uint32
	// State is the session state reached (established, idle, active, ...).
	State string
	// Reason of a PeerDown: "notification-received code 6(cease) subcode 2(...)",
	// "notification-sent ...", "hold-timer-expired", "connection-closed",
	// "connection-error: ...", "speaker-stopped".
	Reason string
	// NotificationCode and NotificationSubcode of a NOTIFICATION (PeerDown or Message).
	NotificationCode, NotificationSubcode uint8
	Update                                bgpconv.Update
	// MessageType ("open", "notification"), Direction ("sent", "received") and Length of
	// a Message.
	MessageType, Direction string
	Length                 int
	// Session: what the OPENs of a PeerUp negotiated.
	Session bgpconv.Session
	// NoNotification (PeerDown): the session ended without a NOTIFICATION sent or received
	// (the connection closed or failed).
	NoNotification bool
	// GracefulRestart: both OPENs of the session carried the Graceful Restart capability
	// (RFC 4724) and the peer's names a restart time and at least one negotiated family.
	// On a PeerDown it is set only with NoNotification: the peer is taken to be restarting,
	// its routes are to be kept as stale for RestartTime.
	GracefulRestart bool
	// RestartTime the peer's capability announced (with GracefulRestart).
	RestartTime time.Duration
	// GracefulFamilies: the negotiated families the peer's capability names (schema
	// spelling), each with its Forwarding State bit. With GracefulRestart.
	GracefulFamilies map[string]bool
}

// Speaker runs the sessions.
type Speaker struct {
	cfg    Config
	logger *zap.Logger
	emit   func(Event)

	peers     map[netip.Addr]*peer
	order     []*peer
	listeners []net.Listener
	lst       listenState

	ctx    context.Context
	cancel context.CancelFunc
	wg     sync.WaitGroup
}

// Start starts the speaker: the listeners (when ListenPort >= 0) and one goroutine per
// peer. emit may be called from several goroutines at once (the events of one peer in
// order); it may block, which pauses that peer's session reading (TCP then slows the peer).
func Start(cfg Config, logger *zap.Logger, emit func(Event)) (*Speaker, error) {
	s := &Speaker{cfg: cfg, logger: logger, emit: emit, peers: map[netip.Addr]*peer{}}
	if !cfg.RouterID.Is4() {
		return nil, fmt.Errorf("router ID %s is not an IPv4 address", cfg.RouterID)
	}
	for _, pc := range cfg.Peers {
		if _, dup := s.peers[pc.Address]; dup {
			return nil, fmt.Errorf("peer %s configured twice", pc.Address)
		}
		p := newPeer(s, pc)
		s.peers[pc.Address] = p
		s.order = append(s.order, p)
	}
	s.ctx, s.cancel = context.WithCancel(context.Background())
	if cfg.ListenPort >= 0 {
		if err := s.listen(); err != nil {
			s.Stop()
			return nil, err
		}
	}
	for _, p := range s.order {
		s.wg.Add(1)
		go p.run()
	}
	return s, nil
}

// Stop closes every session with a CEASE NOTIFICATION (administrative shutdown) and waits
// for every goroutine of the speaker to end.
func (s *Speaker) Stop() {
	s.cancel()
	for _, l := range s.listeners {
		_ = l.Close()
	}
	s.wg.Wait()
	s.closeServers()
}

func (s *Speaker) listen() error {
	type bind struct{ network, addr string }
	var binds []bind
	if len(s.cfg.ListenAddresses) == 0 {
		binds = []bind{{"tcp4", "0.0.0.0"}, {"tcp6", "::"}}
	}
	for _, a := range s.cfg.ListenAddresses {
		binds = append(binds, bind{"tcp", a})
	}
	port := strconv.Itoa(int(s.cfg.ListenPort))
	for i, b := range binds {
		lc := net.ListenConfig{}
		// Multipath TCP listeners (the default since Go 1.24) refuse TCP-MD5 and TTL options.
		lc.SetMultipathTCP(false)
		l, err := lc.Listen(s.ctx, b.network, net.JoinHostPort(b.addr, port))
		if err != nil {
			if len(s.cfg.ListenAddresses) == 0 && i == 1 && len(s.listeners) == 1 {
				s.logger.Debug("no IPv6 listener", zap.Error(err))
				continue // no IPv6 on this host
			}
			return fmt.Errorf("listen on %s: %w", net.JoinHostPort(b.addr, port), err)
		}
		s.listeners = append(s.listeners, l)
		if err := s.setListenerKeys(l.(*net.TCPListener)); err != nil {
			return err
		}
		s.serve(l)
	}
	return nil
}

// setListenerKeys installs the TCP-MD5 key of every peer with a password on a listener.
func (s *Speaker) setListenerKeys(l *net.TCPListener) error {
	v4 := l.Addr().(*net.TCPAddr).IP.To4() != nil
	rc, err := l.SyscallConn()
	if err != nil {
		return err
	}
	for _, p := range s.order {
		if p.cfg.Password == "" || (v4 && !p.cfg.Address.Is4()) {
			continue
		}
		addr := p.cfg.Address
		if !v4 && addr.Is4() {
			addr = netip.AddrFrom16(addr.As16()) // IPv4-mapped on a dual-stack socket
		}
		var serr error
		if err := rc.Control(func(fd uintptr) { serr = setMD5(int(fd), addr, p.cfg.Password) }); err != nil {
			return err
		}
		if serr != nil {
			return fmt.Errorf("TCP-MD5 key for peer %s on %s: %w", p.cfg.Address, l.Addr(), serr)
		}
	}
	return nil
}

func setMD5(fd int, a netip.Addr, key string) error {
	if len(key) > unix.TCP_MD5SIG_MAXKEYLEN {
		return fmt.Errorf("password longer than %d bytes", unix.TCP_MD5SIG_MAXKEYLEN)
	}
	var sig unix.TCPMD5Sig
	if a.Is4() {
		sig.Addr.Family = unix.AF_INET
		b := a.As4()
		copy(sig.Addr.Data[2:], b[:])
	} else {
		sig.Addr.Family = unix.AF_INET6
		b := a.As16()
		copy(sig.Addr.Data[6:], b[:])
	}
	sig.Keylen = uint16(len(key))
	copy(sig.Key[:], key)
	return os.NewSyscallError("setsockopt TCP_MD5SIG", unix.SetsockoptTCPMD5Sig(fd, unix.IPPROTO_TCP, unix.TCP_MD5SIG, &sig))
}

func setTTL(fd int, v4 bool, ttl int) error {
	if v4 {
		return os.NewSyscallError("setsockopt IP_TTL", unix.SetsockoptInt(fd, unix.IPPROTO_IP, unix.IP_TTL, ttl))
	}
	return os.NewSyscallError("setsockopt IPV6_UNICAST_HOPS", unix.SetsockoptInt(fd, unix.IPPROTO_IPV6, unix.IPV6_UNICAST_HOPS, ttl))
}

func controlConn(c net.Conn, f func(fd int) error) error {
	tc, ok := c.(*net.TCPConn)
	if !ok {
		return nil
	}
	rc, err := tc.SyscallConn()
	if err != nil {
		return err
	}
	var ferr error
	if err := rc.Control(func(fd uintptr) { ferr = f(int(fd)) }); err != nil {
		return err
	}
	return ferr
}

// Message type indexes of the counters.
const (
	msgOpen = iota
	msgUpdate
	msgNotification
	msgKeepalive
	msgRefresh
	numMsgTypes
)

func msgIndex(t uint8) int {
	switch t {
	case bgp.BGP_MSG_OPEN:
		return msgOpen
	case bgp.BGP_MSG_UPDATE:
		return msgUpdate
	case bgp.BGP_MSG_NOTIFICATION:
		return msgNotification
	case bgp.BGP_MSG_KEEPALIVE:
		return msgKeepalive
	case bgp.BGP_MSG_ROUTE_REFRESH:
		return msgRefresh
	}
	return -1
}

type peer struct {
	s        *Speaker
	cfg      PeerConfig
	incoming chan net.Conn

	mu    sync.Mutex
	state string
	// holdDown: the session ends for MaxPrefixes; wait MaxPrefixesRestart.
	holdDown atomic.Bool

	recv, sent [numMsgTypes]atomic.Uint64
}

func newPeer(s *Speaker, pc PeerConfig) *peer {
	if pc.HoldTime == 0 {
		pc.HoldTime = 90 * time.Second
	}
	if pc.ConnectRetry == 0 {
		pc.ConnectRetry = 10 * time.Second
	}
	if pc.Port == 0 {
		pc.Port = 179
	}
	if pc.MaxPrefixesRestart == 0 {
		pc.MaxPrefixesRestart = 5 * time.Minute
	}
	if len(pc.Families) == 0 {
		if pc.Address.Is4() {
			pc.Families = []string{FamilyIPv4Unicast}
		} else {
			pc.Families = []string{FamilyIPv6Unicast}
		}
	}
	return &peer{s: s, cfg: pc, incoming: make(chan net.Conn, 1), state: "idle"}
}

func (p *peer) setState(st string) {
	p.mu.Lock()
	p.state = st
	p.mu.Unlock()
}

// ttl is the TTL of the session's packets: 1 for a directly connected eBGP neighbor, the
// multihop TTL when set, the system default (0) for iBGP.
func (p *peer) ttl() int {
	if p.cfg.MultihopTTL > 0 {
		return int(p.cfg.MultihopTTL)
	}
	if p.cfg.ASN != p.s.cfg.ASN {
		return 1
	}
	return 0
}

func (p *peer) families() map[bgp.RouteFamily]bool {
	out := map[bgp.RouteFamily]bool{}
	for _, f := range p.cfg.Families {
		switch f {
		case FamilyIPv4Unicast:
			out[bgp.RF_IPv4_UC] = true
		case FamilyIPv6Unicast:
			out[bgp.RF_IPv6_UC] = true
		}
	}
	return out
}

func (p *peer) run() {
	defer p.s.wg.Done()
	delay := time.Duration(0)
	for {
		c, outgoing := p.connect(delay)
		for c != nil {
			// A session that lost a collision hands over the peer's connection.
			c = p.session(c, outgoing)
			outgoing = false
		}
		if p.s.ctx.Err() != nil {
			return
		}
		delay = p.cfg.ConnectRetry
		if p.holdDown.Load() {
			ok := p.wait(p.cfg.MaxPrefixesRestart)
			p.holdDown.Store(false)
			if !ok {
				return
			}
		}
	}
}

// wait refuses the peer's connections for d; false when the speaker stops meanwhile.
func (p *peer) wait(d time.Duration) bool {
	p.setState("idle")
	t := time.NewTimer(d)
	defer t.Stop()
	for {
		select {
		case <-t.C:
			return true
		case c := <-p.incoming:
			rejectWith(c, bgp.BGP_ERROR_SUB_CONNECTION_REJECTED)
		case <-p.s.ctx.Done():
			return false
		}
	}
}

// connect returns the next connection of the peer (nil when the speaker stops): one it
// opens itself (unless passive), or one the peer opened, whichever comes first. delay is
// the wait before the first attempt. outgoing: the speaker opened it.
func (p *peer) connect(delay time.Duration) (c net.Conn, outgoing bool) {
	ctx := p.s.ctx
	for {
		if p.cfg.Passive {
			p.setState("active")
			select {
			case c := <-p.incoming:
				return c, false
			case <-ctx.Done():
				return nil, false
			}
		}
		if delay > 0 {
			p.setState("active")
			t := time.NewTimer(delay)
			select {
			case <-t.C:
			case c := <-p.incoming:
				t.Stop()
				return c, false
			case <-ctx.Done():
				t.Stop()
				return nil, false
			}
		}
		delay = p.cfg.ConnectRetry
		p.setState("connect")
		dctx, cancel := context.WithTimeout(ctx, max(p.cfg.ConnectRetry, 5*time.Second))
		type result struct {
			c   net.Conn
			err error
		}
		ch := make(chan result, 1)
		go func() {
			c, err := p.dialer().DialContext(dctx, "tcp", net.JoinHostPort(p.cfg.Address.String(), strconv.Itoa(int(p.cfg.Port))))
			ch <- result{c, err}
		}()
		select {
		case r := <-ch:
			cancel()
			if r.err == nil {
				return r.c, true
			}
			p.s.logger.Debug("connect", zap.Stringer("peer", p.cfg.Address), zap.Error(r.err))
		case c := <-p.incoming:
			cancel()
			if r := <-ch; r.c != nil {
				_ = r.c.Close()
			}
			return c, false
		case <-ctx.Done():
			cancel()
			if r := <-ch; r.c != nil {
				_ = r.c.Close()
			}
			return nil, false
		}
	}
}

func (p *peer) dialer() *net.Dialer {
	d := &net.Dialer{
		Control: func(_, _ string, rc syscall.RawConn) error {
			var err error
			cerr := rc.Control(func(fd uintptr) {
				if p.cfg.Password != "" {
					if err = setMD5(int(fd), p.cfg.Address, p.cfg.Password); err != nil {
						return
					}
				}
				if ttl := p.ttl(); ttl > 0 {
					err = setTTL(int(fd), p.cfg.Address.Is4(), ttl)
				}
			})
			if cerr != nil {
				return cerr
			}
			return err
		},
	}
	d.SetMultipathTCP(false)
	if p.cfg.LocalAddress.IsValid() {
		d.LocalAddr = &net.TCPAddr{IP: p.cfg.LocalAddress.AsSlice()}
	}
	return d
}

// errHoldExpired ends a session whose hold timer expired.
var errHoldExpired = errors.New("hold-timer-expired")

// sessionError ends a session with a reason and, when a NOTIFICATION was exchanged, its
// code and subcode.
type sessionError struct {
	reason        string
	code, subcode uint8
}

func (e *sessionError) Error() string { return e.reason }

func notificationText(dir string, code, subcode uint8) string {
	return fmt.Sprintf("notification-%s %s", dir, bgp.NewNotificationErrorCode(code, subcode).String())
}

// session runs one connection through OpenSent, OpenConfirm and Established until it ends.
// It returns the peer's connection to go on with when this one lost a collision.
func (p *peer) session(c net.Conn, outgoing bool) net.Conn {
	ses := &session{p: p, c: c, r: bufio.NewReaderSize(c, 64<<10), done: make(chan struct{}), outgoing: outgoing}
	ses.run()
	return ses.switchTo
}

type session struct {
	p    *peer
	c    net.Conn
	r    *bufio.Reader
	wmu  sync.Mutex
	done chan struct{}
	hdr  [bgp.BGP_HEADER_LENGTH]byte
	body []byte
	// opts: ADD-PATH decoding once negotiated (nil before and without it).
	opts *bgp.MarshallingOption

	hold    time.Duration
	peerASN uint32
	// gr: the peer's Graceful Restart capability, when both sides advertised it.
	gr       *bgp.CapGracefulRestart
	families map[bgp.RouteFamily]bgp.BGPAddPathMode
	stopping atomic.Bool
	// routes the peer announced, counted when PeerConfig.MaxPrefixes is set.
	routes map[routeKey]struct{}

	// Collision detection (RFC 4271 6.8), under cmu: outgoing (the speaker opened this
	// connection), the peer's BGP identifier once its OPEN arrived, a connection of the peer
	// waiting for that OPEN, and the connection that won.
	cmu         sync.Mutex
	outgoing    bool
	established bool
	remoteID    net.IP
	pending     net.Conn
	switchTo    net.Conn
}

type routeKey struct {
	prefix netip.Prefix
	id     uint32
}

// countRoutes applies an UPDATE to the session's route count; false when it goes beyond
// MaxPrefixes.
func (ses *session) countRoutes(u *bgpconv.Update) bool {
	if ses.routes == nil {
		ses.routes = map[routeKey]struct{}{}
	}
	for _, w := range u.Withdrawn {
		delete(ses.routes, routeKey{w.Prefix, w.ID})
	}
	for _, a := range u.Announced {
		ses.routes[routeKey{a.Prefix, a.ID}] = struct{}{}
	}
	return len(ses.routes) <= ses.p.cfg.MaxPrefixes
}

// reject closes a connection of the peer that lost a collision.
func reject(c net.Conn) { rejectWith(c, bgp.BGP_ERROR_SUB_CONNECTION_COLLISION_RESOLUTION) }

// rejectWith closes a connection with a CEASE of the given subcode.
func rejectWith(c net.Conn, subcode uint8) {
	b, _ := bgp.NewBGPNotificationMessage(bgp.BGP_ERROR_CEASE, subcode, nil).Serialize()
	_ = c.SetWriteDeadline(time.Now().Add(time.Second))
	_, _ = c.Write(b)
	_ = c.Close()
}

// yields reports whether this speaker's connection gives way to the peer's: RFC 4271 6.8
// keeps the connection opened by the side with the higher BGP identifier. Under cmu.
func (ses *session) yields() bool {
	local := ses.p.s.cfg.RouterID.As4()
	return binary.BigEndian.Uint32(local[:]) < binary.BigEndian.Uint32(ses.remoteID.To4())
}

// collision handles a second connection of the peer while this session runs. An established
// session, or one the peer opened, always wins. Against a connection this speaker opened the
// BGP identifiers decide, as soon as the peer's OPEN tells its identifier.
func (ses *session) collision(c net.Conn) {
	if ses.p.holdDown.Load() {
		rejectWith(c, bgp.BGP_ERROR_SUB_CONNECTION_REJECTED) // the session ends for max_prefixes
		return
	}
	ses.cmu.Lock()
	defer ses.cmu.Unlock()
	switch {
	case ses.established || !ses.outgoing || ses.pending != nil || ses.switchTo != nil:
		reject(c)
	case ses.remoteID == nil:
		ses.pending = c // decided when the OPEN arrives
	case ses.yields():
		ses.switchTo = c
		_ = ses.notify(bgp.BGP_ERROR_CEASE, bgp.BGP_ERROR_SUB_CONNECTION_COLLISION_RESOLUTION)
		_ = ses.c.Close()
	default:
		reject(c)
	}
}

func (ses *session) run() {
	p := ses.p
	var helpers sync.WaitGroup
	defer func() {
		close(ses.done)
		_ = ses.c.Close()
		helpers.Wait()
		if ses.pending != nil {
			reject(ses.pending)
		}
		if ses.switchTo != nil && p.s.ctx.Err() != nil {
			_ = ses.switchTo.Close()
			ses.switchTo = nil
		}
	}()
	// The speaker stops: CEASE, then close, which ends the read below.
	helpers.Add(2)
	go func() {
		defer helpers.Done()
		select {
		case <-p.s.ctx.Done():
			ses.stopping.Store(true)
			_ = ses.notify(bgp.BGP_ERROR_CEASE, bgp.BGP_ERROR_SUB_ADMINISTRATIVE_SHUTDOWN)
			_ = ses.c.Close()
		case <-ses.done:
		}
	}()
	go func() {
		defer helpers.Done()
		for {
			select {
			case c := <-p.incoming:
				ses.collision(c)
			case <-ses.done:
				return
			}
		}
	}()
	err := ses.establish()
	if err == nil {
		helpers.Add(1)
		go func() {
			defer helpers.Done()
			ses.keepalives()
		}()
		err = ses.established1()
	}
	if ses.established {
		e := Event{Kind: PeerDown, Time: time.Now(), Peer: p.cfg.Address, PeerASN: ses.peerASN, State: "idle"}
		var se *sessionError
		switch {
		case ses.stopping.Load():
			e.Reason = "speaker-stopped"
			e.NotificationCode, e.NotificationSubcode = bgp.BGP_ERROR_CEASE, bgp.BGP_ERROR_SUB_ADMINISTRATIVE_SHUTDOWN
		case errors.As(err, &se):
			e.Reason, e.NotificationCode, e.NotificationSubcode = se.reason, se.code, se.subcode
		case errors.Is(err, errHoldExpired):
			e.Reason = err.Error()
			e.NotificationCode, e.NotificationSubcode = bgp.BGP_ERROR_HOLD_TIMER_EXPIRED, 0
		case errors.Is(err, io.EOF):
			e.Reason = "connection-closed"
			e.NoNotification = true
		default:
			e.Reason = "connection-error: " + err.Error()
			e.NoNotification = true
		}
		if e.NoNotification {
			e.GracefulRestart, e.RestartTime, e.GracefulFamilies = ses.graceful()
		}
		p.setState("idle")
		p.s.emit(e)
	} else {
		p.setState("idle")
		if err != nil && !ses.stopping.Load() {
			p.s.logger.Debug("session not established", zap.Stringer("peer", p.cfg.Address), zap.Error(err))
		}
	}
}

// write sends one message.
func (ses *session) write(m *bgp.BGPMessage) error {
	b, err := m.Serialize()
	if err != nil {
		return err
	}
	ses.wmu.Lock()
	defer ses.wmu.Unlock()
	_ = ses.c.SetWriteDeadline(time.Now().Add(max(ses.hold, 10*time.Second)))
	if _, err := ses.c.Write(b); err != nil {
		return err
	}
	if i := msgIndex(m.Header.Type); i >= 0 {
		ses.p.sent[i].Add(1)
	}
	return nil
}

// notify sends a NOTIFICATION and reports it as a message event.
func (ses *session) notify(code, subcode uint8) error {
	m := bgp.NewBGPNotificationMessage(code, subcode, nil)
	err := ses.write(m)
	if err == nil {
		ses.message("notification", "sent", int(m.Header.Len), code, subcode)
	}
	return err
}

// fail sends the NOTIFICATION of a protocol error and returns the error ending the session.
func (ses *session) fail(err error) error {
	var me *bgp.MessageError
	if errors.As(err, &me) {
		_ = ses.notify(me.TypeCode, me.SubTypeCode)
		return &sessionError{reason: notificationText("sent", me.TypeCode, me.SubTypeCode) + ": " + me.Message, code: me.TypeCode, subcode: me.SubTypeCode}
	}
	return err
}

func (ses *session) message(typ, dir string, length int, code, subcode uint8) {
	if ses.stopping.Load() && dir == "sent" {
		return // the speaker's own shutdown is not a routing event
	}
	ses.p.s.emit(Event{Kind: Message, Time: time.Now(), Peer: ses.p.cfg.Address, PeerASN: ses.peerASN,
		MessageType: typ, Direction: dir, Length: length, NotificationCode: code, NotificationSubcode: subcode})
}

// read reads one message; a nil message with a nil error never happens.
func (ses *session) read(deadline time.Duration) (*bgp.BGPMessage, error) {
	if deadline > 0 {
		_ = ses.c.SetReadDeadline(time.Now().Add(deadline))
	} else {
		_ = ses.c.SetReadDeadline(time.Time{})
	}
	if _, err := io.ReadFull(ses.r, ses.hdr[:]); err != nil {
		return nil, readErr(err)
	}
	for _, b := range ses.hdr[:16] {
		if b != 0xff {
			return nil, ses.fail(bgp.NewMessageError(bgp.BGP_ERROR_MESSAGE_HEADER_ERROR, bgp.BGP_ERROR_SUB_CONNECTION_NOT_SYNCHRONIZED, nil, "bad marker"))
		}
	}
	var h bgp.BGPHeader
	if err := h.DecodeFromBytes(ses.hdr[:]); err != nil {
		return nil, ses.fail(err)
	}
	if h.Len > bgp.BGP_MAX_MESSAGE_LENGTH {
		return nil, ses.fail(bgp.NewMessageError(bgp.BGP_ERROR_MESSAGE_HEADER_ERROR, bgp.BGP_ERROR_SUB_BAD_MESSAGE_LENGTH, ses.hdr[16:18], "message longer than 4096 bytes"))
	}
	n := int(h.Len) - bgp.BGP_HEADER_LENGTH
	if cap(ses.body) < n {
		ses.body = make([]byte, n, bgp.BGP_MAX_MESSAGE_LENGTH)
	}
	body := ses.body[:n]
	if _, err := io.ReadFull(ses.r, body); err != nil {
		return nil, readErr(err)
	}
	if i := msgIndex(h.Type); i >= 0 {
		ses.p.recv[i].Add(1)
	}
	var m *bgp.BGPMessage
	var err error
	if ses.opts != nil {
		m, err = bgp.ParseBGPBody(&h, body, ses.opts)
	} else {
		m, err = bgp.ParseBGPBody(&h, body)
	}
	if err != nil {
		if h.Type == bgp.BGP_MSG_UPDATE && m != nil {
			var me *bgp.MessageError
			if errors.As(err, &me) && me.ErrorHandling != bgp.ERROR_HANDLING_SESSION_RESET && me.ErrorHandling != bgp.ERROR_HANDLING_NONE {
				if u, ok := m.Body.(*bgp.BGPUpdate); ok {
					return ses.revised(m, u, me), nil
				}
			}
		}
		return nil, ses.fail(err)
	}
	return m, nil
}

// revised applies the error handling of RFC 7606 to an UPDATE that did not parse cleanly.
func (ses *session) revised(m *bgp.BGPMessage, u *bgp.BGPUpdate, me *bgp.MessageError) *bgp.BGPMessage {
	handling := "treated as withdraw"
	if me.ErrorHandling == bgp.ERROR_HANDLING_ATTRIBUTE_DISCARD {
		handling = "attribute discarded"
	} else {
		m.Body = bgp.TreatAsWithdraw(u)
	}
	ses.p.s.logger.Warn("malformed UPDATE "+handling, zap.Stringer("peer", ses.p.cfg.Address), zap.Error(me))
	ses.p.s.emit(Event{Kind: Malformed, Time: time.Now(), Peer: ses.p.cfg.Address, PeerASN: ses.peerASN,
		Reason: handling + ": " + me.Message, NotificationCode: me.TypeCode, NotificationSubcode: me.SubTypeCode})
	return m
}

func readErr(err error) error {
	var ne net.Error
	if errors.As(err, &ne) && ne.Timeout() {
		return errHoldExpired
	}
	if errors.Is(err, io.ErrUnexpectedEOF) {
		return io.EOF
	}
	return err
}

// establish exchanges OPEN and KEEPALIVE (OpenSent, OpenConfirm).
func (ses *session) establish() error {
	p := ses.p
	cfg := p.s.cfg
	p.setState("opensent")
	fams := p.families()
	var caps []bgp.ParameterCapabilityInterface
	for _, rf := range []bgp.RouteFamily{bgp.RF_IPv4_UC, bgp.RF_IPv6_UC} {
		if fams[rf] {
			caps = append(caps, bgp.NewCapMultiProtocol(rf))
		}
	}
	caps = append(caps, bgp.NewCapRouteRefresh(), bgp.NewCapFourOctetASNumber(cfg.ASN))
	if p.cfg.AddPath {
		var tuples []*bgp.CapAddPathTuple
		for _, rf := range []bgp.RouteFamily{bgp.RF_IPv4_UC, bgp.RF_IPv6_UC} {
			if fams[rf] {
				tuples = append(tuples, bgp.NewCapAddPathTuple(rf, bgp.BGP_ADD_PATH_RECEIVE))
			}
		}
		caps = append(caps, bgp.NewCapAddPath(tuples))
	}
	if p.cfg.GracefulRestart {
		// Receiving speaker only: no family whose routes this speaker would keep.
		caps = append(caps, bgp.NewCapGracefulRestart(false, false, uint16(RestartTime/time.Second), nil))
	}
	myAS := uint16(bgp.AS_TRANS)
	if cfg.ASN <= 0xffff {
		myAS = uint16(cfg.ASN)
	}
	holdSecs := uint16(min(p.cfg.HoldTime/time.Second, 0xffff))
	open := bgp.NewBGPOpenMessage(myAS, holdSecs, cfg.RouterID.String(), []bgp.OptionParameterInterface{bgp.NewOptionParameterCapability(caps)})
	if err := ses.write(open); err != nil {
		return err
	}
	ses.message("open", "sent", int(open.Header.Len), 0, 0)
	// RFC 4271 8.2.2: a large hold time until the OPEN arrives.
	m, err := ses.read(4 * time.Minute)
	if err != nil {
		return err
	}
	code, subcode := notifCode(m)
	ses.message(bgpconv.MessageType(m.Header.Type), "received", int(m.Header.Len), code, subcode)
	if n, ok := m.Body.(*bgp.BGPNotification); ok {
		return &sessionError{reason: notificationText("received", n.ErrorCode, n.ErrorSubcode), code: n.ErrorCode, subcode: n.ErrorSubcode}
	}
	o, ok := m.Body.(*bgp.BGPOpen)
	if !ok {
		return ses.fail(bgp.NewMessageError(bgp.BGP_ERROR_FSM_ERROR, bgp.BGP_ERROR_SUB_RECEIVE_UNEXPECTED_MESSAGE_IN_OPENSENT_STATE, nil, "expected OPEN"))
	}
	asn, err := bgp.ValidateOpenMsg(o, p.cfg.ASN, cfg.ASN, net.IP(cfg.RouterID.AsSlice()))
	if err != nil {
		return ses.fail(err)
	}
	ses.cmu.Lock()
	ses.remoteID = o.ID.To4()
	if c := ses.pending; c != nil {
		ses.pending = nil
		if ses.yields() {
			ses.switchTo = c
			ses.cmu.Unlock()
			return ses.fail(bgp.NewMessageError(bgp.BGP_ERROR_CEASE, bgp.BGP_ERROR_SUB_CONNECTION_COLLISION_RESOLUTION, nil, "the peer's connection wins"))
		}
		reject(c)
	}
	ses.cmu.Unlock()
	ses.peerASN = asn
	ses.hold = min(p.cfg.HoldTime, time.Duration(o.HoldTime)*time.Second)
	// Families: those both sides name (IPv4 unicast when the peer names none, RFC 4760).
	theirs := map[bgp.RouteFamily]bool{}
	sends := map[bgp.RouteFamily]bool{} // families the peer sends with path IDs
	for _, op := range o.OptParams {
		if pc, ok := op.(*bgp.OptionParameterCapability); ok {
			for _, c := range pc.Capability {
				switch v := c.(type) {
				case *bgp.CapMultiProtocol:
					theirs[v.CapValue] = true
				case *bgp.CapGracefulRestart:
					if p.cfg.GracefulRestart {
						ses.gr = v
					}
				case *bgp.CapAddPath:
					for _, t := range v.Tuples {
						if t.Mode&bgp.BGP_ADD_PATH_SEND != 0 {
							sends[t.RouteFamily] = true
						}
					}
				}
			}
		}
	}
	if len(theirs) == 0 {
		theirs[bgp.RF_IPv4_UC] = true
	}
	ses.families = map[bgp.RouteFamily]bgp.BGPAddPathMode{}
	for rf := range fams {
		if !theirs[rf] {
			continue
		}
		ses.families[rf] = bgp.BGP_ADD_PATH_NONE
		if p.cfg.AddPath && sends[rf] {
			ses.families[rf] = bgp.BGP_ADD_PATH_RECEIVE
			if ses.opts == nil {
				ses.opts = &bgp.MarshallingOption{AddPath: map[bgp.RouteFamily]bgp.BGPAddPathMode{}}
			}
			ses.opts.AddPath[rf] = bgp.BGP_ADD_PATH_RECEIVE
		}
	}
	p.setState("openconfirm")
	if err := ses.write(bgp.NewBGPKeepAliveMessage()); err != nil {
		return err
	}
	m, err = ses.read(ses.hold)
	if err != nil {
		if errors.Is(err, errHoldExpired) {
			_ = ses.notify(bgp.BGP_ERROR_HOLD_TIMER_EXPIRED, 0)
		}
		return err
	}
	switch b := m.Body.(type) {
	case *bgp.BGPKeepAlive:
	case *bgp.BGPNotification:
		ses.message("notification", "received", int(m.Header.Len), b.ErrorCode, b.ErrorSubcode)
		return &sessionError{reason: notificationText("received", b.ErrorCode, b.ErrorSubcode), code: b.ErrorCode, subcode: b.ErrorSubcode}
	default:
		return ses.fail(bgp.NewMessageError(bgp.BGP_ERROR_FSM_ERROR, bgp.BGP_ERROR_SUB_RECEIVE_UNEXPECTED_MESSAGE_IN_OPENCONFIRM_STATE, nil, "expected KEEPALIVE"))
	}
	ses.cmu.Lock()
	if ses.switchTo != nil {
		ses.cmu.Unlock()
		return errors.New("collision: the peer's connection wins")
	}
	ses.established = true
	ses.cmu.Unlock()
	p.setState("established")
	up := Event{Kind: PeerUp, Time: time.Now(), Peer: p.cfg.Address, PeerASN: asn, State: "established",
		Session: bgpconv.SessionOf(open.Body.(*bgp.BGPOpen), o)}
	up.GracefulRestart, up.RestartTime, up.GracefulFamilies = ses.graceful()
	p.s.emit(up)
	if ses.gr != nil {
		// RFC 4724 section 2: End-of-RIB once the initial updates are sent (there are none).
		for _, rf := range []bgp.RouteFamily{bgp.RF_IPv4_UC, bgp.RF_IPv6_UC} {
			if _, ok := ses.families[rf]; ok {
				if err := ses.write(bgp.NewEndOfRib(rf)); err != nil {
					return err
				}
			}
		}
	}
	return nil
}

// graceful reads the peer's Graceful Restart capability: whether it applies (a restart
// time and at least one negotiated family), the restart time, and the negotiated families
// it names with their Forwarding State bit.
func (ses *session) graceful() (bool, time.Duration, map[string]bool) {
	if ses.gr == nil {
		return false, 0, nil
	}
	fams := map[string]bool{}
	for _, t := range ses.gr.Tuples {
		rf := bgp.AfiSafiToRouteFamily(t.AFI, t.SAFI)
		if _, ok := ses.families[rf]; ok {
			fams[bgpconv.FamilyName(rf)] = t.Flags&0x80 != 0
		}
	}
	if ses.gr.Time == 0 || len(fams) == 0 {
		return false, 0, nil
	}
	return true, time.Duration(ses.gr.Time) * time.Second, fams
}

// established1 reads the messages of an established session until it ends.
func (ses *session) established1() error {
	p := ses.p
	for {
		m, err := ses.read(ses.hold)
		if err != nil {
			if errors.Is(err, errHoldExpired) {
				_ = ses.notify(bgp.BGP_ERROR_HOLD_TIMER_EXPIRED, 0)
			}
			return err
		}
		switch b := m.Body.(type) {
		case *bgp.BGPUpdate:
			ok, verr := bgp.ValidateUpdateMsg(b, ses.families, p.cfg.ASN != p.s.cfg.ASN, false, true)
			if !ok {
				var me *bgp.MessageError
				if !errors.As(verr, &me) || me.ErrorHandling == bgp.ERROR_HANDLING_SESSION_RESET || me.ErrorHandling == bgp.ERROR_HANDLING_NONE {
					return ses.fail(verr)
				}
				ses.revised(m, b, me)
				b = m.Body.(*bgp.BGPUpdate)
			}
			u := bgpconv.FromUpdate(b)
			if p.cfg.MaxPrefixes > 0 && !ses.countRoutes(&u) {
				p.holdDown.Store(true)
				return ses.fail(bgp.NewMessageError(bgp.BGP_ERROR_CEASE, bgp.BGP_ERROR_SUB_MAXIMUM_NUMBER_OF_PREFIXES_REACHED, nil,
					fmt.Sprintf("%d routes, max_prefixes %d; next session in %s", len(ses.routes), p.cfg.MaxPrefixes, p.cfg.MaxPrefixesRestart)))
			}
			p.s.emit(Event{Kind: Update, Time: time.Now(), Peer: p.cfg.Address, PeerASN: ses.peerASN, Update: u})
		case *bgp.BGPNotification:
			ses.message("notification", "received", int(m.Header.Len), b.ErrorCode, b.ErrorSubcode)
			return &sessionError{reason: notificationText("received", b.ErrorCode, b.ErrorSubcode), code: b.ErrorCode, subcode: b.ErrorSubcode}
		case *bgp.BGPKeepAlive, *bgp.BGPRouteRefresh:
			// Nothing to refresh: this speaker advertises nothing.
		case *bgp.BGPOpen:
			return ses.fail(bgp.NewMessageError(bgp.BGP_ERROR_FSM_ERROR, bgp.BGP_ERROR_SUB_RECEIVE_UNEXPECTED_MESSAGE_IN_ESTABLISHED_STATE, nil, "OPEN in Established"))
		}
	}
}

func (ses *session) keepalives() {
	if ses.hold <= 0 {
		return
	}
	t := time.NewTicker(max(ses.hold/3, time.Second))
	defer t.Stop()
	for {
		select {
		case <-t.C:
			if err := ses.write(bgp.NewBGPKeepAliveMessage()); err != nil {
				_ = ses.c.Close()
				return
			}
		case <-ses.done:
			return
		}
	}
}

func notifCode(m *bgp.BGPMessage) (uint8, uint8) {
	if n, ok := m.Body.(*bgp.BGPNotification); ok {
		return n.ErrorCode, n.ErrorSubcode
	}
	return 0, 0
}

// PeerInfo is the state of one neighbor.
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

func messages(c *[numMsgTypes]atomic.Uint64) Messages {
	return Messages{Open: c[msgOpen].Load(), Update: c[msgUpdate].Load(), Notification: c[msgNotification].Load(),
		Keepalive: c[msgKeepalive].Load(), Refresh: c[msgRefresh].Load()}
}

// Peers lists the configured neighbors with their state and message counters.
func (s *Speaker) Peers(context.Context) ([]PeerInfo, error) {
	out := make([]PeerInfo, 0, len(s.order))
	for _, p := range s.order {
		p.mu.Lock()
		st := p.state
		p.mu.Unlock()
		out = append(out, PeerInfo{Address: p.cfg.Address, ASN: p.cfg.ASN, Name: p.cfg.Name, State: st,
			Established: st == "established", Received: messages(&p.recv), Sent: messages(&p.sent)})
	}
	return out, nil
}
