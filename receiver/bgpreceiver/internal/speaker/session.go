package speaker

// One TCP connection of a peer: reading and writing BGP messages, collision handling
// (RFC 4271 6.8), the end of a session and why it ended.

import (
	"bufio"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net"
	"net/netip"
	"sync"
	"sync/atomic"
	"time"

	"github.com/osrg/gobgp/v3/pkg/packet/bgp"
	"go.uber.org/zap"

	"github.com/erviz/otelcol-erviz/receiver/bgpreceiver/internal/bgpconv"
	"github.com/erviz/otelcol-erviz/receiver/bgpreceiver/internal/event"
)

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
		err = ses.receive()
	}
	if ses.established {
		e := ses.down(err)
		p.setState(StateIdle)
		p.s.emit(e)
	} else {
		p.setState(StateIdle)
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
	ses.p.s.emit(&event.Message{Header: ses.p.header(), MessageType: typ, Direction: dir, Length: length,
		Notification: event.Notification{NotificationCode: code, NotificationSubcode: subcode, HasNotification: typ == "notification"}})
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
	ses.p.s.emit(&event.Malformed{Header: ses.p.header(),
		Reason: handling + ": " + me.Message, Notification: event.NotificationOf(me.TypeCode, me.SubTypeCode)})
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
