package speaker

// The state machine of one session (RFC 4271 section 8): OpenSent and OpenConfirm
// (establish), Established (receive) and the keepalive timer.

import (
	"errors"
	"fmt"
	"io"
	"net"
	"time"

	"github.com/osrg/gobgp/v3/pkg/packet/bgp"

	"github.com/erviz/otelcol-erviz/receiver/bgpreceiver/internal/bgpconv"
	"github.com/erviz/otelcol-erviz/receiver/bgpreceiver/internal/event"
)

// establish exchanges OPEN and KEEPALIVE (OpenSent, OpenConfirm).
func (ses *session) establish() error {
	p := ses.p
	cfg := p.s.cfg
	p.setState(StateOpenSent)
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
	p.setState(StateOpenConfirm)
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
	p.setState(StateEstablished)
	s := bgpconv.SessionOf(open.Body.(*bgp.BGPOpen), o)
	up := &event.PeerUp{Header: p.header(), State: StateName(StateEstablished), Session: &s}
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

// receive reads the messages of an Established session until it ends.
func (ses *session) receive() error {
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
			p.s.emit(&event.Update{Header: p.header(), Update: u, Policy: event.PostPolicy})
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

// down is the PeerDown of an established session that ended with err: why, with the
// NOTIFICATION's code when one was exchanged, and a graceful restart of the peer when the
// session ended without NOTIFICATION.
func (ses *session) down(err error) *event.PeerDown {
	p := ses.p
	e := &event.PeerDown{Header: p.header(), State: StateName(StateIdle)}
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
	e.HasNotification = e.NotificationCode != 0
	if e.NoNotification {
		e.GracefulRestart, e.RestartTime, e.GracefulFamilies = ses.graceful()
	}
	return e
}
