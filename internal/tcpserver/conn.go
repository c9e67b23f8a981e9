package tcpserver

import (
	"errors"
	"fmt"
	"net"
	"net/netip"
	"os"
	"sync"
	"time"
)

// Conn is one accepted connection (TLS already negotiated when the listener serves TLS).
// Each Read re-arms the idle deadline; a read that times out is counted as IdleTimeout.
type Conn struct {
	net.Conn
	mu     sync.Mutex // guards Conn while the TLS handshake replaces it
	srv    *Server
	slot   int
	remote netip.AddrPort
	armed  time.Time // deadline last set
	timed  bool      // idle timeout already counted
}

// Slot is the connection's index in [0, MaxConnections), unique among open connections.
func (c *Conn) Slot() int { return c.slot }

// Source is the peer's address and port (IPv4-mapped addresses unmapped).
func (c *Conn) Source() netip.AddrPort { return c.remote }

// Read reads with the idle deadline armed.
func (c *Conn) Read(b []byte) (int, error) {
	if idle := c.srv.cfg.IdleTimeout; idle > 0 {
		now := time.Now()
		// Re-arm only when a quarter of the timeout has passed: one timer update per burst,
		// not per read.
		if c.armed.Sub(now) < idle-idle/4 {
			c.armed = now.Add(idle)
			_ = c.Conn.SetReadDeadline(c.armed)
		}
	}
	n, err := c.Conn.Read(b)
	if err != nil && !c.timed && errors.Is(err, os.ErrDeadlineExceeded) && c.srv.ctx.Err() == nil {
		c.timed = true
		c.srv.refuse(IdleTimeout, c.remote.Addr(), fmt.Errorf("nothing received for %s", c.srv.cfg.IdleTimeout))
	}
	return n, err
}

// CheckSize reports ErrMessageTooLarge, counted and logged, when a message of n bytes is
// over the listener's MaxMessageSize. Call it with each length read from the wire before
// buffering the message; on an error, close the connection (return from the handler).
func (c *Conn) CheckSize(n int) error {
	if m := c.srv.cfg.MaxMessageSize; m > 0 && n > m {
		c.srv.refuse(MessageTooLarge, c.remote.Addr(), fmt.Errorf("message of %d bytes, maximum %d", n, m))
		return fmt.Errorf("%w: %d > %d", ErrMessageTooLarge, n, m)
	}
	return nil
}

// Close closes the connection (safe to call more than once).
func (c *Conn) Close() error {
	c.mu.Lock()
	nc := c.Conn
	c.mu.Unlock()
	return nc.Close()
}
