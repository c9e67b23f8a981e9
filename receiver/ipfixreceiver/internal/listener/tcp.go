package listener

import (
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net"
	"net/netip"
	"sync"
	"sync/atomic"
	"time"
)

// TCPConfig configures IPFIX over TCP (RFC 7011 section 10.4): a stream of messages, each
// carrying its length in the header. NetFlow v9 has no length field and is UDP only.
type TCPConfig struct {
	MaxConnections int           // concurrent exporter connections; more are refused
	IdleTimeout    time.Duration // a connection silent this long is closed; 0 = never
}

// TCPStats are cumulative counters.
type TCPStats struct {
	Connections   uint64 // accepted
	Refused       uint64 // over MaxConnections
	Messages      uint64
	Bytes         uint64
	FramingErrors uint64 // bad version or length: the connection is closed
}

// TCP serves one listener (plain or TLS). Each connection is read by its own goroutine and
// handed to the handler as worker 0..MaxConnections-1 (one worker per connection).
type TCP struct {
	cfg TCPConfig
	ln  net.Listener
	wg  sync.WaitGroup

	mu    sync.Mutex
	conns map[net.Conn]struct{}
	slots []bool
	pool  sync.Pool

	connections, refused, messages, bytes, framingErrors atomic.Uint64
}

// NewTCP wraps a listener; Start serves it.
func NewTCP(ln net.Listener, cfg TCPConfig) *TCP {
	if cfg.MaxConnections < 1 {
		cfg.MaxConnections = 64
	}
	t := &TCP{cfg: cfg, ln: ln, conns: map[net.Conn]struct{}{}, slots: make([]bool, cfg.MaxConnections)}
	t.pool.New = func() any { b := make([]byte, MaxDatagram); return &b }
	return t
}

// Addr is the bound address.
func (t *TCP) Addr() net.Addr { return t.ln.Addr() }

// Start accepts connections until Close.
func (t *TCP) Start(h Handler) {
	t.wg.Add(1)
	go func() {
		defer t.wg.Done()
		for {
			c, err := t.ln.Accept()
			if err != nil {
				if errors.Is(err, net.ErrClosed) {
					return
				}
				time.Sleep(10 * time.Millisecond)
				continue
			}
			slot := t.take(c)
			if slot < 0 {
				t.refused.Add(1)
				c.Close()
				continue
			}
			t.connections.Add(1)
			t.wg.Add(1)
			go t.serve(slot, c, h)
		}
	}()
}

func (t *TCP) take(c net.Conn) int {
	t.mu.Lock()
	defer t.mu.Unlock()
	for i, used := range t.slots {
		if !used {
			t.slots[i] = true
			t.conns[c] = struct{}{}
			return i
		}
	}
	return -1
}

func (t *TCP) release(slot int, c net.Conn) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.slots[slot] = false
	delete(t.conns, c)
}

func (t *TCP) serve(slot int, c net.Conn, h Handler) {
	defer t.wg.Done()
	defer t.release(slot, c)
	defer c.Close()
	from := exporterOf(c.RemoteAddr())
	for {
		if t.cfg.IdleTimeout > 0 {
			_ = c.SetReadDeadline(time.Now().Add(t.cfg.IdleTimeout))
		}
		bp := t.pool.Get().(*[]byte)
		msg, err := ReadMessage(c, *bp)
		if err != nil {
			t.pool.Put(bp)
			var fe *FramingError
			if errors.As(err, &fe) {
				t.framingErrors.Add(1)
			}
			return
		}
		t.messages.Add(1)
		t.bytes.Add(uint64(len(msg)))
		p := &Packet{Exporter: from, Data: msg, Received: time.Now(), buf: bp, pool: &t.pool}
		h(slot, p)
		p.Release()
	}
}

func exporterOf(a net.Addr) netip.AddrPort {
	if ta, ok := a.(*net.TCPAddr); ok {
		ap := ta.AddrPort()
		return netip.AddrPortFrom(ap.Addr().Unmap(), ap.Port())
	}
	return netip.AddrPort{}
}

// FramingError is a stream that does not carry IPFIX messages.
type FramingError struct{ Reason string }

func (e *FramingError) Error() string { return "ipfix over tcp: " + e.Reason }

// ReadMessage reads one IPFIX message from a stream into buf (at least 65535 bytes) and
// returns it. io.EOF at a message boundary is a clean end.
func ReadMessage(r io.Reader, buf []byte) ([]byte, error) {
	if _, err := io.ReadFull(r, buf[:4]); err != nil {
		return nil, err
	}
	version := binary.BigEndian.Uint16(buf[0:2])
	length := int(binary.BigEndian.Uint16(buf[2:4]))
	if version != 10 {
		return nil, &FramingError{fmt.Sprintf("version %d (only IPFIX, version 10, runs over TCP)", version)}
	}
	if length < 16 {
		return nil, &FramingError{fmt.Sprintf("message length %d is shorter than the 16-byte header", length)}
	}
	if _, err := io.ReadFull(r, buf[4:length]); err != nil {
		if errors.Is(err, io.EOF) {
			err = io.ErrUnexpectedEOF
		}
		return nil, err
	}
	return buf[:length], nil
}

// Stats returns the counters.
func (t *TCP) Stats() TCPStats {
	return TCPStats{Connections: t.connections.Load(), Refused: t.refused.Load(), Messages: t.messages.Load(),
		Bytes: t.bytes.Load(), FramingErrors: t.framingErrors.Load()}
}

// Close stops accepting, closes every connection and waits for the readers.
func (t *TCP) Close() error {
	err := t.ln.Close()
	t.mu.Lock()
	for c := range t.conns {
		c.Close()
	}
	t.mu.Unlock()
	t.wg.Wait()
	if errors.Is(err, net.ErrClosed) {
		err = nil
	}
	return err
}
