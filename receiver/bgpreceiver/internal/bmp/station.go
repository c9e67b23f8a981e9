package bmp

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"net"
	"net/netip"
	"sync"
	"time"

	"go.uber.org/zap"

	"github.com/erviz/otelcol-erviz/internal/cidrset"
	"github.com/erviz/otelcol-erviz/internal/tcpserver"
	"github.com/erviz/otelcol-erviz/pkg/rib"
	"github.com/erviz/otelcol-erviz/receiver/bgpreceiver/internal/event"
)

// Station accepts BMP sessions from routers on the hardened TCP server: the allow-list is
// checked at accept, connections are capped per listener and per router, a session that
// sends nothing for bmp.idle_timeout is closed, and a message longer than
// bmp.max_message_size closes its session. The peers a router reports are bounded per router
// and in total.
type Station struct {
	cfg    Config
	logger *zap.Logger
	hooks  Hooks
	srv    *tcpserver.Server

	mu        sync.Mutex
	perRouter map[netip.Addr]int // BMP peers admitted, per router
	total     int
}

// Config is the station's (the receiver's bmp section, defaults applied).
type Config struct {
	Endpoint                string
	Allowed                 []string
	MaxConnections          int
	MaxConnectionsPerSource int
	IdleTimeout             time.Duration
	MaxMessageSize          int
	MaxPeersPerRouter       int
	MaxPeers                int
	// LogInterval bounds how often the server logs refused connections.
	LogInterval time.Duration
}

// Reasons of the peers refused by the peer bounds (bgp.limit.reason).
const (
	ReasonPeersPerRouter = "bmp_peers_per_router"
	ReasonPeers          = "bmp_peers"
)

// Hooks are the station's calls to its user: Emit hands over an event (it may block, which
// pauses the session: its TCP window fills), Malformed counts a malformed message, Refused
// counts a connection the server refused or closed, Limited a peer beyond the peer bounds
// (its messages are dropped).
type Hooks struct {
	Emit      func(event.Event)
	Malformed func()
	Refused   func(reason string)
	Limited   func(reason string, router netip.Addr, peer rib.Peer)
}

// Start listens on cfg.Endpoint and serves the routers' sessions.
func Start(cfg Config, logger *zap.Logger, hooks Hooks) (*Station, error) {
	allowed, err := cidrset.NewSet(cfg.Allowed)
	if err != nil {
		return nil, err
	}
	ln, err := net.Listen("tcp", cfg.Endpoint)
	if err != nil {
		return nil, fmt.Errorf("bmp: %w", err)
	}
	s := &Station{cfg: cfg, logger: logger, hooks: hooks, perRouter: map[netip.Addr]int{}}
	tc := tcpserver.Config{
		Name:           "bmp",
		MaxConnections: cfg.MaxConnections,
		MaxPerSource:   cfg.MaxConnectionsPerSource,
		IdleTimeout:    cfg.IdleTimeout,
		MaxMessageSize: cfg.MaxMessageSize,
		LogInterval:    cfg.LogInterval,
		Logger:         logger,
		OnRefuse: func(reason tcpserver.Reason, _ netip.Addr) {
			hooks.Refused(reason.String())
		},
	}
	if allowed.Len() > 0 {
		tc.Allowed = allowed.Contains
	}
	s.srv = tcpserver.New(ln, tc)
	s.srv.Start(s.serve)
	return s, nil
}

// admit reports whether a peer new to a session of router may be taken, and takes it.
func (s *Station) admit(router netip.Addr, peer rib.Peer) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	reason := ""
	switch {
	case s.perRouter[router] >= s.cfg.MaxPeersPerRouter:
		reason = ReasonPeersPerRouter
	case s.total >= s.cfg.MaxPeers:
		reason = ReasonPeers
	default:
		s.perRouter[router]++
		s.total++
		return true
	}
	s.hooks.Limited(reason, router, peer)
	return false
}

// release gives back the peers a session admitted.
func (s *Station) release(router netip.Addr, n int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.total -= n
	if s.perRouter[router] -= n; s.perRouter[router] <= 0 {
		delete(s.perRouter, router)
	}
}

func (s *Station) serve(c *tcpserver.Conn) {
	router := c.Source().Addr()
	s.logger.Info("bmp: session up", zap.Stringer("router", router))
	up := map[rib.Peer]bool{}
	known := map[rib.Peer]bool{} // peers admitted in this session
	br := bufio.NewReaderSize(c, 64<<10)
	var buf []byte
	for {
		msg, err := ReadChecked(br, buf, c.CheckSize)
		buf = msg
		if err != nil {
			if errors.Is(err, ErrFraming) || errors.Is(err, io.ErrUnexpectedEOF) {
				s.hooks.Malformed()
				s.logger.Warn("bmp: session closed on a malformed message", zap.Stringer("router", router), zap.Error(err))
			}
			break
		}
		if cap(buf) > 64<<10 {
			buf = nil // one large message does not keep its buffer for the session's life
		}
		res, err := Decode(router, msg)
		if err != nil {
			s.hooks.Malformed()
			s.logger.Debug("bmp: malformed message skipped", zap.Stringer("router", router), zap.Error(err))
			continue
		}
		// The events of one message are of one peer.
		if len(res.Events) > 0 && !known[res.Events[0].Head().Peer] {
			if !s.admit(router, res.Events[0].Head().Peer) {
				continue
			}
			known[res.Events[0].Head().Peer] = true
		}
		for _, e := range res.Events {
			switch e := e.(type) {
			case *event.PeerUp:
				up[e.Peer] = true
			case *event.PeerDown:
				delete(up, e.Peer)
			}
			s.hooks.Emit(e)
		}
		if res.Terminate {
			break
		}
	}
	// Without the session the station knows nothing about the router's peers any more.
	for p := range up {
		s.hooks.Emit(&event.PeerDown{Header: event.Header{Time: time.Now(), Peer: p}, State: event.StateDown, Reason: "bmp-session-closed"})
	}
	s.release(router, len(known))
	s.logger.Info("bmp: session down", zap.Stringer("router", router))
}

// Stop closes the listener and every session.
func (s *Station) Stop() { s.srv.Close() }
