package bgpreceiver

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
	"github.com/erviz/otelcol-erviz/internal/schema"
	"github.com/erviz/otelcol-erviz/internal/tcpserver"
	"github.com/erviz/otelcol-erviz/pkg/rib"
	"github.com/erviz/otelcol-erviz/receiver/bgpreceiver/internal/event"
)

// bmpStation accepts BMP sessions from routers on the hardened TCP server: the allow-list is
// checked at accept, connections are capped per listener and per router, a session that
// sends nothing for bmp.idle_timeout is closed, and a message longer than
// bmp.max_message_size closes its session. The peers a router reports are bounded per router
// and in total.
type bmpStation struct {
	r   *bgpReceiver
	cfg BMPConfig
	srv *tcpserver.Server

	mu        sync.Mutex
	perRouter map[netip.Addr]int // BMP peers admitted, per router
	total     int
}

func startBMP(r *bgpReceiver, cfg BMPConfig) (*bmpStation, error) {
	cfg = cfg.withDefaults()
	allowed, err := cidrset.NewSet(cfg.Allowed)
	if err != nil {
		return nil, err
	}
	ln, err := net.Listen("tcp", cfg.Endpoint)
	if err != nil {
		return nil, fmt.Errorf("bmp: %w", err)
	}
	s := &bmpStation{r: r, cfg: cfg, perRouter: map[netip.Addr]int{}}
	tc := tcpserver.Config{
		Name:           "bmp",
		MaxConnections: cfg.MaxConnections,
		MaxPerSource:   cfg.MaxConnectionsPerSource,
		IdleTimeout:    cfg.IdleTimeout,
		MaxMessageSize: cfg.MaxMessageSize,
		LogInterval:    r.cfg.MetricsInterval,
		Logger:         r.logger,
		OnRefuse: func(reason tcpserver.Reason, _ netip.Addr) {
			r.countLimited(schema.BGPSourceBMP, reason.String())
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
func (s *bmpStation) admit(router netip.Addr, peer rib.Peer) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	reason := ""
	switch {
	case s.perRouter[router] >= s.cfg.MaxPeersPerRouter:
		reason = limitBMPPeersPerRouter
	case s.total >= s.cfg.MaxPeers:
		reason = limitBMPPeers
	default:
		s.perRouter[router]++
		s.total++
		return true
	}
	s.r.limited(schema.BGPSourceBMP, reason, router.String(),
		"bmp: message of a peer beyond the peer limit dropped (bmp.max_peers_per_router, bmp.max_peers)",
		zap.Stringer("router", router), zap.String("peer", peerText(peer)))
	return false
}

// release gives back the peers a session admitted.
func (s *bmpStation) release(router netip.Addr, n int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.total -= n
	if s.perRouter[router] -= n; s.perRouter[router] <= 0 {
		delete(s.perRouter, router)
	}
}

func (s *bmpStation) serve(c *tcpserver.Conn) {
	router := c.Source().Addr()
	s.r.logger.Info("bmp: session up", zap.Stringer("router", router))
	up := map[rib.Peer]bool{}
	known := map[rib.Peer]bool{} // peers admitted in this session
	br := bufio.NewReaderSize(c, 64<<10)
	var buf []byte
	for {
		msg, err := readBMPChecked(br, buf, c.CheckSize)
		buf = msg
		if err != nil {
			if errors.Is(err, errBMPFraming) || errors.Is(err, io.ErrUnexpectedEOF) {
				s.r.countMalformed(schema.BGPSourceBMP)
				s.r.logger.Warn("bmp: session closed on a malformed message", zap.Stringer("router", router), zap.Error(err))
			}
			break
		}
		if cap(buf) > 64<<10 {
			buf = nil // one large message does not keep its buffer for the session's life
		}
		res, err := decodeBMP(router, msg)
		if err != nil {
			s.r.countMalformed(schema.BGPSourceBMP)
			s.r.logger.Debug("bmp: malformed message skipped", zap.Stringer("router", router), zap.Error(err))
			continue
		}
		// The events of one message are of one peer.
		if len(res.events) > 0 && !known[res.events[0].Head().Peer] {
			if !s.admit(router, res.events[0].Head().Peer) {
				continue
			}
			known[res.events[0].Head().Peer] = true
		}
		for _, e := range res.events {
			switch e := e.(type) {
			case *event.PeerUp:
				up[e.Peer] = true
			case *event.PeerDown:
				delete(up, e.Peer)
			}
			s.r.enqueue(e)
		}
		if res.terminate {
			break
		}
	}
	// Without the session the station knows nothing about the router's peers any more.
	for p := range up {
		s.r.enqueue(&event.PeerDown{Header: event.Header{Time: time.Now(), Peer: p}, State: "down", Reason: "bmp-session-closed"})
	}
	s.release(router, len(known))
	s.r.logger.Info("bmp: session down", zap.Stringer("router", router))
}

func (s *bmpStation) stop() { s.srv.Close() }
