package speaker

// One configured neighbor: connecting (dialing or waiting for the peer), its state and
// message counters.

import (
	"context"
	"net"
	"net/netip"
	"strconv"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/osrg/gobgp/v3/pkg/packet/bgp"
	"go.uber.org/zap"

	"github.com/erviz/otelcol-erviz/pkg/rib"
	"github.com/erviz/otelcol-erviz/receiver/bgpreceiver/internal/event"
)

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
	state State
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
	return &peer{s: s, cfg: pc, incoming: make(chan net.Conn, 1), state: StateIdle}
}

// header is the header of the peer's events, stamped now.
func (p *peer) header() event.Header {
	return event.Header{Time: time.Now(), Peer: rib.Peer{Kind: rib.SourceBGP, Addr: p.cfg.Address, ASN: p.cfg.ASN, Name: p.cfg.Name}}
}

func (p *peer) setState(st State) {
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
	p.setState(StateIdle)
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
			p.setState(StateActive)
			select {
			case c := <-p.incoming:
				return c, false
			case <-ctx.Done():
				return nil, false
			}
		}
		if delay > 0 {
			p.setState(StateActive)
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
		p.setState(StateConnect)
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

// PeerInfo is the state of one neighbor.
type PeerInfo struct {
	Address     netip.Addr
	ASN         uint32
	Name        string
	State       State
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
			Established: st == StateEstablished, Received: messages(&p.recv), Sent: messages(&p.sent)})
	}
	return out, nil
}
