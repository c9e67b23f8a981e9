package speaker

import (
	"net"
	"net/netip"
	"sync"

	"go.uber.org/zap"

	"github.com/erviz/otelcol-erviz/internal/tcpserver"
)

// ListenConfig bounds the listener for passive peers.
type ListenConfig struct {
	// MaxConnections bounds the connections open at once on each listener (default 64).
	MaxConnections int
	// OnRefuse, when set, is told of every connection the listener refuses or closes, with
	// the reason (not_allowed, listener_full, source_full, fd_exhausted, ...).
	OnRefuse func(reason string)
}

// listenState holds the hardened servers of the listeners.
type listenState struct {
	servers []*tcpserver.Server
	done    chan struct{} // closed once every session ended: handlers still waiting return
}

// serve runs the hardened TCP server on l: only the addresses of configured peers are
// accepted (checked at accept, before a slot is taken), at most two connections per peer
// (one waiting while a session runs: a collision) and Listen.MaxConnections in all. The read
// deadline of a session is its hold timer (set on each read), and a message is at most 4096
// bytes (checked by the session), so the server adds no idle timeout of its own.
func (s *Speaker) serve(l net.Listener) {
	if s.lst.done == nil {
		s.lst.done = make(chan struct{})
	}
	cfg := tcpserver.Config{
		Name:           "bgp",
		Allowed:        func(a netip.Addr) bool { return s.peers[a] != nil }, // read-only after Start
		MaxConnections: s.cfg.Listen.MaxConnections,
		MaxPerSource:   2,
		IdleTimeout:    -1,
		Logger:         s.logger,
	}
	if f := s.cfg.Listen.OnRefuse; f != nil {
		cfg.OnRefuse = func(r tcpserver.Reason, _ netip.Addr) { f(r.String()) }
	}
	srv := tcpserver.New(l, cfg)
	s.lst.servers = append(s.lst.servers, srv)
	srv.Start(s.handle)
}

// heldConn is an accepted connection handed to a peer: closing it (the session ending, a
// rejection) releases the server's handler.
type heldConn struct {
	*tcpserver.Conn
	once sync.Once
	done chan struct{}
}

func (h *heldConn) Close() error {
	err := h.Conn.Close()
	h.once.Do(func() { close(h.done) })
	return err
}

// handle hands an accepted connection to its peer and waits until it is closed.
func (s *Speaker) handle(c *tcpserver.Conn) {
	ra := c.Source().Addr()
	p := s.peers[ra]
	if p == nil {
		return
	}
	if ttl := p.ttl(); ttl > 0 {
		ip, _ := netip.AddrFromSlice(c.Conn.RemoteAddr().(*net.TCPAddr).IP) // 4 bytes on an IPv4 socket
		if err := controlConn(c.Conn, func(fd int) error { return setTTL(fd, ip.Is4(), ttl) }); err != nil {
			s.logger.Debug("set TTL", zap.Stringer("peer", p.cfg.Address), zap.Error(err))
		}
	}
	h := &heldConn{Conn: c, done: make(chan struct{})}
	select {
	case p.incoming <- h:
	default:
		return // one is already waiting: the server closes this one
	}
	select {
	case <-h.done:
	case <-s.lst.done:
	}
}

// closeServers ends the handlers still waiting and closes the servers (after the sessions
// ended, so that each could send its NOTIFICATION).
func (s *Speaker) closeServers() {
	if s.lst.done != nil {
		close(s.lst.done)
	}
	for _, srv := range s.lst.servers {
		_ = srv.Close()
	}
}
