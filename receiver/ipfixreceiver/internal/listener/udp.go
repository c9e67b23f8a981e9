// Package listener receives flow export datagrams (UDP) and messages (IPFIX over TCP) and
// hands them to a handler, without knowing anything about their content or the collector.
//
// UDP: several sockets bound to one address with SO_REUSEPORT (the kernel spreads exporters
// over them by source address and port, so one exporter always lands on the same socket),
// each with a receive buffer of the requested size (the size the kernel grants is read
// back), the kernel's drop counter (SO_RXQ_OVFL) read from every datagram, pooled buffers,
// and per socket a bounded queue between the reading goroutine and the worker that calls the
// handler. A full queue drops the datagram and counts it: back-pressure never blocks the
// socket reader.
package listener

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"sync"
	"sync/atomic"
	"syscall"
	"time"
)

// MaxDatagram is the largest UDP payload.
const MaxDatagram = 65535

// A datagram waits in its socket's queue in a buffer of the smallest of these sizes that
// holds it (a 1,400-byte datagram in 2 KiB, not 64 KiB), so a full queue of QueueLength
// datagrams holds what the traffic needs: 4096 MTU-sized datagrams take 8 MiB, not 256 MiB.
// The socket is always read into one 64 KiB buffer per reader, then copied.
var bufferClasses = [...]int{2048, 9216, MaxDatagram}

type bufferPools [len(bufferClasses)]sync.Pool

func newBufferPools() *bufferPools {
	var bp bufferPools
	for i, size := range bufferClasses {
		bp[i].New = func() any { b := make([]byte, size); return &b }
	}
	return &bp
}

// get returns a buffer of at least n bytes and the pool it goes back to.
func (bp *bufferPools) get(n int) (*[]byte, *sync.Pool) {
	for i, size := range bufferClasses {
		if n <= size {
			return bp[i].Get().(*[]byte), &bp[i]
		}
	}
	last := &bp[len(bufferClasses)-1]
	return last.Get().(*[]byte), last
}

// Packet is one datagram or one framed TCP message. Data is valid until Release.
type Packet struct {
	Exporter netip.AddrPort
	Data     []byte
	Received time.Time
	buf      *[]byte
	pool     *sync.Pool
}

// Release returns the packet's buffer to the pool. Call it once the handler is done with Data.
func (p *Packet) Release() {
	if p.pool != nil && p.buf != nil {
		p.pool.Put(p.buf)
		p.buf, p.Data = nil, nil
	}
}

// Handler processes packets of one worker; calls for one worker are sequential.
type Handler func(worker int, p *Packet)

// UDPConfig configures the UDP listener.
type UDPConfig struct {
	Endpoint      string // host:port
	Sockets       int    // SO_REUSEPORT sockets (and workers); at least 1
	ReceiveBuffer int    // SO_RCVBUF requested, bytes; 0 = system default
	QueueLength   int    // datagrams queued per socket between reader and worker
}

// Stats are cumulative counters.
type Stats struct {
	Datagrams  uint64 // read from the sockets
	Bytes      uint64
	QueueDrops uint64 // dropped because a worker queue was full
	// KernelDrops were dropped by the kernel (socket buffer full), from SO_RXQ_OVFL; the
	// kernel reports them with the next datagram it queues.
	KernelDrops uint64
	ReadErrors  uint64
	// ReceiveBuffer is what the kernel granted per socket (as SO_RCVBUF reports it, halved:
	// Linux doubles the value for its bookkeeping).
	ReceiveBuffer int
}

// UDP is a running UDP listener.
type UDP struct {
	cfg     UDPConfig
	conns   []*net.UDPConn
	pools   *bufferPools
	wg      sync.WaitGroup
	addr    net.Addr
	granted int

	datagrams, bytes, queueDrops, readErrors atomic.Uint64
	kernelDrops                              []atomic.Uint64 // latest cumulative value per socket
}

// ListenUDP opens the sockets. Start begins reading.
func ListenUDP(cfg UDPConfig) (*UDP, error) {
	if cfg.Sockets < 1 {
		cfg.Sockets = 1
	}
	if cfg.QueueLength < 1 {
		cfg.QueueLength = 1024
	}
	u := &UDP{cfg: cfg, kernelDrops: make([]atomic.Uint64, cfg.Sockets)}
	u.pools = newBufferPools()
	lc := net.ListenConfig{Control: func(_, _ string, c syscall.RawConn) error {
		var serr error
		err := c.Control(func(fd uintptr) { serr = setSockopts(fd, cfg.Sockets > 1) })
		if err != nil {
			return err
		}
		return serr
	}}
	endpoint := cfg.Endpoint
	for i := 0; i < cfg.Sockets; i++ {
		pc, err := lc.ListenPacket(context.Background(), "udp", endpoint)
		if err != nil {
			u.closeAll()
			return nil, fmt.Errorf("listen udp %s: %w", endpoint, err)
		}
		conn := pc.(*net.UDPConn)
		u.conns = append(u.conns, conn)
		if i == 0 {
			u.addr = conn.LocalAddr()
			endpoint = u.addr.String() // a ":0" endpoint: the other sockets share the chosen port
		}
		if cfg.ReceiveBuffer > 0 {
			if err := conn.SetReadBuffer(cfg.ReceiveBuffer); err != nil {
				u.closeAll()
				return nil, fmt.Errorf("set receive buffer: %w", err)
			}
		}
		if g, err := readBuffer(conn); err == nil {
			u.granted = g
		}
	}
	return u, nil
}

// Addr is the bound address (useful with port 0).
func (u *UDP) Addr() net.Addr { return u.addr }

// GrantedReceiveBuffer is the per-socket buffer the kernel granted; lower than requested
// means net.core.rmem_max capped it.
func (u *UDP) GrantedReceiveBuffer() int { return u.granted }

// Start runs one reader and one worker per socket until Close.
func (u *UDP) Start(h Handler) {
	for i, c := range u.conns {
		q := make(chan *Packet, u.cfg.QueueLength)
		u.wg.Add(2)
		go u.read(i, c, q)
		go func(worker int) {
			defer u.wg.Done()
			for p := range q {
				h(worker, p)
				p.Release()
			}
		}(i)
	}
}

func (u *UDP) read(i int, c *net.UDPConn, q chan<- *Packet) {
	defer u.wg.Done()
	defer close(q)
	oob := make([]byte, oobSize())
	rbuf := make([]byte, MaxDatagram)
	for {
		n, oobn, _, from, err := c.ReadMsgUDPAddrPort(rbuf, oob)
		if err != nil {
			if errors.Is(err, net.ErrClosed) {
				return
			}
			u.readErrors.Add(1)
			continue
		}
		if oobn > 0 {
			if d, ok := parseDropCount(oob[:oobn]); ok {
				u.kernelDrops[i].Store(uint64(d))
			}
		}
		u.datagrams.Add(1)
		u.bytes.Add(uint64(n))
		bp, pool := u.pools.get(n)
		copy(*bp, rbuf[:n])
		p := &Packet{Exporter: netip.AddrPortFrom(from.Addr().Unmap(), from.Port()), Data: (*bp)[:n],
			Received: time.Now(), buf: bp, pool: pool}
		select {
		case q <- p:
		default:
			u.queueDrops.Add(1)
			p.Release()
		}
	}
}

// Stats returns the counters.
func (u *UDP) Stats() Stats {
	s := Stats{Datagrams: u.datagrams.Load(), Bytes: u.bytes.Load(), QueueDrops: u.queueDrops.Load(),
		ReadErrors: u.readErrors.Load(), ReceiveBuffer: u.granted}
	for i := range u.kernelDrops {
		s.KernelDrops += u.kernelDrops[i].Load()
	}
	return s
}

// Close stops reading, lets the workers finish what is queued, and waits for them.
func (u *UDP) Close() error {
	err := u.closeAll()
	u.wg.Wait()
	return err
}

func (u *UDP) closeAll() error {
	var errs []error
	for _, c := range u.conns {
		if err := c.Close(); err != nil && !errors.Is(err, net.ErrClosed) {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}
