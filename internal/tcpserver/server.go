package tcpserver

import (
	"context"
	"crypto/tls"
	"errors"
	"net"
	"net/netip"
	"os"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"go.uber.org/zap"

	"github.com/erviz/otelcol-erviz/internal/throttle"
)

// Defaults applied by New to zero Config fields.
const (
	DefaultMaxConnections   = 64
	DefaultMaxPerSource     = 8
	DefaultIdleTimeout      = 10 * time.Minute
	DefaultHandshakeTimeout = 10 * time.Second
	DefaultLogInterval      = time.Minute
	DefaultMinBackoff       = 5 * time.Millisecond
	DefaultMaxBackoff       = time.Second
	maxLogSources           = 4096
)

// Config of one listener.
type Config struct {
	// Name appears in log lines ("bmp", "ipfix", "bgp").
	Name string
	// Allowed reports whether a source address may connect; nil allows any.
	Allowed func(netip.Addr) bool
	// MaxConnections bounds concurrent connections of the listener (default 64).
	MaxConnections int
	// MaxPerSource bounds concurrent connections from one address (default 8, at most
	// MaxConnections).
	MaxPerSource int
	// IdleTimeout closes a connection that sends nothing for this long (default 10 min;
	// negative: never).
	IdleTimeout time.Duration
	// MaxMessageSize is the largest message length CheckSize accepts; 0: no limit.
	MaxMessageSize int
	// TLS, when set, serves TLS: the handshake runs after the allow-list and caps.
	TLS *tls.Config
	// HandshakeTimeout bounds the TLS handshake (default 10 s).
	HandshakeTimeout time.Duration
	// LogInterval: refusals are logged at most once per interval per source (default 1 min).
	LogInterval time.Duration
	// Logger receives refusals and accept errors; nil logs nothing.
	Logger *zap.Logger
	// OnRefuse, when set, is called for every refusal (for the caller's telemetry). It must
	// not block.
	OnRefuse func(reason Reason, source netip.Addr)
	// MinBackoff and MaxBackoff bound the pause after a failed accept (defaults 5 ms, 1 s).
	MinBackoff, MaxBackoff time.Duration
}

// Handler serves one connection; the server closes it when the handler returns. Handlers
// of different connections run concurrently.
type Handler func(c *Conn)

// Stats are cumulative counters of one listener.
type Stats struct {
	Accepted uint64 // connections handed to the handler
	Active   int    // connections open now
	Refused  [NumReasons]uint64
}

// Server is one hardened listener.
type Server struct {
	cfg  Config
	ln   net.Listener
	logs *throttle.PerKey[netip.Addr]

	ctx    context.Context
	cancel context.CancelFunc
	wg     sync.WaitGroup

	mu        sync.Mutex
	conns     map[*Conn]struct{}
	perSource map[netip.Addr]int
	slots     []bool
	closed    bool

	accepted atomic.Uint64
	refused  [NumReasons]atomic.Uint64

	// sleep waits d or until ctx ends (tests replace it).
	sleep func(ctx context.Context, d time.Duration)
	// reserve is a descriptor held back to take a connection off the queue when the process
	// is out of descriptors.
	reserve *os.File
}

// New wraps a listener (plain TCP: TLS is layered by the server when Config.TLS is set).
// Start serves it.
func New(ln net.Listener, cfg Config) *Server {
	if cfg.MaxConnections < 1 {
		cfg.MaxConnections = DefaultMaxConnections
	}
	if cfg.MaxPerSource < 1 {
		cfg.MaxPerSource = DefaultMaxPerSource
	}
	cfg.MaxPerSource = min(cfg.MaxPerSource, cfg.MaxConnections)
	if cfg.IdleTimeout == 0 {
		cfg.IdleTimeout = DefaultIdleTimeout
	}
	if cfg.HandshakeTimeout <= 0 {
		cfg.HandshakeTimeout = DefaultHandshakeTimeout
	}
	if cfg.LogInterval <= 0 {
		cfg.LogInterval = DefaultLogInterval
	}
	if cfg.MinBackoff <= 0 {
		cfg.MinBackoff = DefaultMinBackoff
	}
	if cfg.MaxBackoff < cfg.MinBackoff {
		cfg.MaxBackoff = max(DefaultMaxBackoff, cfg.MinBackoff)
	}
	if cfg.Logger == nil {
		cfg.Logger = zap.NewNop()
	}
	ctx, cancel := context.WithCancel(context.Background())
	s := &Server{cfg: cfg, ln: ln, logs: throttle.New[netip.Addr](cfg.LogInterval, maxLogSources),
		ctx: ctx, cancel: cancel, conns: map[*Conn]struct{}{}, perSource: map[netip.Addr]int{},
		slots: make([]bool, cfg.MaxConnections), sleep: sleepCtx}
	s.reserve, _ = os.Open(os.DevNull)
	return s
}

func sleepCtx(ctx context.Context, d time.Duration) {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
	case <-ctx.Done():
	}
}

// Addr is the bound address.
func (s *Server) Addr() net.Addr { return s.ln.Addr() }

// Config returns the configuration with defaults applied.
func (s *Server) Config() Config { return s.cfg }

// Start runs the accept loop until Close.
func (s *Server) Start(h Handler) {
	s.wg.Add(1)
	go s.acceptLoop(h)
}

func (s *Server) acceptLoop(h Handler) {
	defer s.wg.Done()
	backoff := time.Duration(0)
	for {
		nc, err := s.ln.Accept()
		if err != nil {
			if s.ctx.Err() != nil || errors.Is(err, net.ErrClosed) {
				return
			}
			reason := AcceptError
			if isFDExhausted(err) {
				reason = FDExhausted
				s.shed()
			}
			s.refuse(reason, netip.Addr{}, err)
			if backoff == 0 {
				backoff = s.cfg.MinBackoff
			} else {
				backoff = min(2*backoff, s.cfg.MaxBackoff)
			}
			s.sleep(s.ctx, backoff)
			continue
		}
		backoff = 0
		s.admit(nc, h)
	}
}

// shed uses the reserve descriptor to accept one waiting connection and close it at once.
func (s *Server) shed() {
	if s.reserve == nil {
		return
	}
	s.reserve.Close()
	s.reserve = nil
	// The connection that failed is still queued; a deadline keeps an empty queue from
	// holding the reserve while the loop waits.
	if d, ok := s.ln.(interface{ SetDeadline(time.Time) error }); ok {
		_ = d.SetDeadline(time.Now().Add(10 * time.Millisecond))
		defer d.SetDeadline(time.Time{})
	}
	if nc, err := s.ln.Accept(); err == nil {
		nc.Close()
	}
	s.reserve, _ = os.Open(os.DevNull)
}

func isFDExhausted(err error) bool {
	return errors.Is(err, syscall.EMFILE) || errors.Is(err, syscall.ENFILE) ||
		errors.Is(err, syscall.ENOBUFS) || errors.Is(err, syscall.ENOMEM)
}

// admit applies the allow-list and the caps, then serves the connection.
func (s *Server) admit(nc net.Conn, h Handler) {
	src := sourceOf(nc.RemoteAddr())
	if s.cfg.Allowed != nil && !s.cfg.Allowed(src.Addr()) {
		nc.Close()
		s.refuse(NotAllowed, src.Addr(), nil)
		return
	}
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		nc.Close()
		return
	}
	slot, reason := -1, Reason(-1)
	if s.perSource[src.Addr()] >= s.cfg.MaxPerSource {
		reason = SourceFull
	} else {
		for i, used := range s.slots {
			if !used {
				slot = i
				break
			}
		}
		if slot < 0 {
			reason = ListenerFull
		}
	}
	if reason >= 0 {
		s.mu.Unlock()
		nc.Close()
		s.refuse(reason, src.Addr(), nil)
		return
	}
	c := &Conn{Conn: nc, srv: s, slot: slot, remote: src}
	s.slots[slot] = true
	s.perSource[src.Addr()]++
	s.conns[c] = struct{}{}
	s.wg.Add(1)
	s.mu.Unlock()
	go s.serve(c, h)
}

func (s *Server) serve(c *Conn, h Handler) {
	defer s.wg.Done()
	defer s.release(c)
	if s.cfg.TLS != nil {
		tc := tls.Server(c.Conn, s.cfg.TLS)
		_ = tc.SetDeadline(time.Now().Add(s.cfg.HandshakeTimeout))
		if err := tc.HandshakeContext(s.ctx); err != nil {
			tc.Close()
			if s.ctx.Err() == nil {
				s.refuse(TLSHandshake, c.remote.Addr(), err)
			}
			return
		}
		_ = tc.SetDeadline(time.Time{})
		c.mu.Lock()
		c.Conn = tc
		c.mu.Unlock()
	}
	s.accepted.Add(1)
	h(c)
}

func (s *Server) release(c *Conn) {
	c.Close()
	s.mu.Lock()
	defer s.mu.Unlock()
	s.slots[c.slot] = false
	if n := s.perSource[c.remote.Addr()]; n <= 1 {
		delete(s.perSource, c.remote.Addr())
	} else {
		s.perSource[c.remote.Addr()] = n - 1
	}
	delete(s.conns, c)
}

// refuse counts a refusal, tells OnRefuse and logs it at most once per interval per source.
func (s *Server) refuse(r Reason, src netip.Addr, err error) {
	s.refused[r].Add(1)
	if s.cfg.OnRefuse != nil {
		s.cfg.OnRefuse(r, src)
	}
	ok, suppressed := s.logs.Allow(src)
	if !ok {
		return
	}
	fields := []zap.Field{zap.String("listener", s.cfg.Name), zap.String("reason", r.String()),
		zap.Uint64("suppressed_since_last", suppressed)}
	if src.IsValid() {
		fields = append(fields, zap.Stringer("source", src))
	}
	if err != nil {
		fields = append(fields, zap.Error(err))
	}
	s.cfg.Logger.Warn(r.message(), fields...)
}

// Stats returns the counters.
func (s *Server) Stats() Stats {
	st := Stats{Accepted: s.accepted.Load()}
	for i := range s.refused {
		st.Refused[i] = s.refused[i].Load()
	}
	s.mu.Lock()
	st.Active = len(s.conns)
	s.mu.Unlock()
	return st
}

// Close stops accepting, closes every connection and waits for the handlers to return.
func (s *Server) Close() error {
	s.cancel()
	err := s.ln.Close()
	s.mu.Lock()
	s.closed = true
	for c := range s.conns {
		c.Close()
	}
	s.mu.Unlock()
	s.wg.Wait()
	if s.reserve != nil {
		s.reserve.Close()
		s.reserve = nil
	}
	if errors.Is(err, net.ErrClosed) {
		err = nil
	}
	return err
}

func sourceOf(a net.Addr) netip.AddrPort {
	if ta, ok := a.(*net.TCPAddr); ok {
		ap := ta.AddrPort()
		return netip.AddrPortFrom(ap.Addr().Unmap(), ap.Port())
	}
	if a != nil {
		if ap, err := netip.ParseAddrPort(a.String()); err == nil {
			return netip.AddrPortFrom(ap.Addr().Unmap(), ap.Port())
		}
	}
	return netip.AddrPort{}
}

// ErrMessageTooLarge is returned by CheckSize.
var ErrMessageTooLarge = errors.New("message larger than the listener's maximum")
