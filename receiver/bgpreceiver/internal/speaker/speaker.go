// Package speaker is the BGP speaker of the bgp receiver: it keeps one BGP-4 session per
// configured neighbor (RFC 4271: OPEN with capabilities, KEEPALIVE and hold timers,
// NOTIFICATION), accepts every route and never advertises one, and hands session changes
// and the content of every UPDATE to a callback as they happen. Messages are encoded and
// decoded with GoBGP's pkg/packet/bgp; the speaker keeps no routing state of its own
// (pkg/rib does), unlike a full BGP implementation whose Adj-RIB-In and Loc-RIB would hold a
// second and third copy of every route.
package speaker

import (
	"context"
	"fmt"
	"net"
	"net/netip"
	"strconv"
	"sync"
	"time"

	"go.uber.org/zap"

	"github.com/erviz/otelcol-erviz/receiver/bgpreceiver/internal/event"
)

// Family names accepted in PeerConfig.Families.
const (
	FamilyIPv4Unicast = "ipv4_unicast"
	FamilyIPv6Unicast = "ipv6_unicast"
)

// Config of the speaker.
type Config struct {
	ASN      uint32
	RouterID netip.Addr
	// ListenAddresses and ListenPort: where passive peers connect; ListenPort -1 disables
	// listening. No address: 0.0.0.0 and [::].
	ListenAddresses []string
	ListenPort      int32
	Peers           []PeerConfig
	// Listen bounds the listener (see listen.go).
	Listen ListenConfig
}

// PeerConfig is one neighbor.
type PeerConfig struct {
	Address      netip.Addr
	ASN          uint32
	Name         string
	Port         uint16 // remote port for active sessions (default 179)
	LocalAddress netip.Addr
	Passive      bool
	MultihopTTL  uint8 // 0: directly connected eBGP (TTL 1)
	Password     string
	Families     []string
	HoldTime     time.Duration
	ConnectRetry time.Duration
	// MaxPrefixes > 0: more distinct routes than this close the session with CEASE /
	// Maximum Number of Prefixes Reached, and no session is opened or accepted for
	// MaxPrefixesRestart (default 5m).
	MaxPrefixes        int
	MaxPrefixesRestart time.Duration
	// AddPath asks the peer to send every path of a prefix (ADD-PATH receive, RFC 7911) for
	// the configured families; the peer's OPEN decides per family.
	AddPath bool
	// GracefulRestart advertises the Graceful Restart capability (RFC 4724) as a receiving
	// speaker only (restart time RestartTime, no family preserved by this speaker) and,
	// when the peer advertised it too, sends End-of-RIB after the session is established and
	// marks a session that ends without NOTIFICATION as a graceful restart of the peer.
	GracefulRestart bool
}

// RestartTime is the restart time this speaker advertises in its Graceful Restart
// capability.
const RestartTime = 120 * time.Second

// Speaker runs the sessions.
type Speaker struct {
	cfg    Config
	logger *zap.Logger
	emit   func(event.Event)

	peers     map[netip.Addr]*peer
	order     []*peer
	listeners []net.Listener
	lst       listenState

	ctx    context.Context
	cancel context.CancelFunc
	wg     sync.WaitGroup
}

// Start starts the speaker: the listeners (when ListenPort >= 0) and one goroutine per
// peer. emit may be called from several goroutines at once (the events of one peer in
// order); it may block, which pauses that peer's session reading (TCP then slows the peer).
func Start(cfg Config, logger *zap.Logger, emit func(event.Event)) (*Speaker, error) {
	s := &Speaker{cfg: cfg, logger: logger, emit: emit, peers: map[netip.Addr]*peer{}}
	if !cfg.RouterID.Is4() {
		return nil, fmt.Errorf("router ID %s is not an IPv4 address", cfg.RouterID)
	}
	for _, pc := range cfg.Peers {
		if _, dup := s.peers[pc.Address]; dup {
			return nil, fmt.Errorf("peer %s configured twice", pc.Address)
		}
		p := newPeer(s, pc)
		s.peers[pc.Address] = p
		s.order = append(s.order, p)
	}
	s.ctx, s.cancel = context.WithCancel(context.Background())
	if cfg.ListenPort >= 0 {
		if err := s.listen(); err != nil {
			s.Stop()
			return nil, err
		}
	}
	for _, p := range s.order {
		s.wg.Add(1)
		go p.run()
	}
	return s, nil
}

// Stop closes every session with a CEASE NOTIFICATION (administrative shutdown) and waits
// for every goroutine of the speaker to end.
func (s *Speaker) Stop() {
	s.cancel()
	for _, l := range s.listeners {
		_ = l.Close()
	}
	s.wg.Wait()
	s.closeServers()
}

func (s *Speaker) listen() error {
	type bind struct{ network, addr string }
	var binds []bind
	if len(s.cfg.ListenAddresses) == 0 {
		binds = []bind{{"tcp4", "0.0.0.0"}, {"tcp6", "::"}}
	}
	for _, a := range s.cfg.ListenAddresses {
		binds = append(binds, bind{"tcp", a})
	}
	port := strconv.Itoa(int(s.cfg.ListenPort))
	for i, b := range binds {
		lc := net.ListenConfig{}
		// Multipath TCP listeners (the default since Go 1.24) refuse TCP-MD5 and TTL options.
		lc.SetMultipathTCP(false)
		l, err := lc.Listen(s.ctx, b.network, net.JoinHostPort(b.addr, port))
		if err != nil {
			if len(s.cfg.ListenAddresses) == 0 && i == 1 && len(s.listeners) == 1 {
				s.logger.Debug("no IPv6 listener", zap.Error(err))
				continue // no IPv6 on this host
			}
			return fmt.Errorf("listen on %s: %w", net.JoinHostPort(b.addr, port), err)
		}
		s.listeners = append(s.listeners, l)
		if err := s.setListenerKeys(l.(*net.TCPListener)); err != nil {
			return err
		}
		s.serve(l)
	}
	return nil
}

// setListenerKeys installs the TCP-MD5 key of every peer with a password on a listener.
func (s *Speaker) setListenerKeys(l *net.TCPListener) error {
	v4 := l.Addr().(*net.TCPAddr).IP.To4() != nil
	rc, err := l.SyscallConn()
	if err != nil {
		return err
	}
	for _, p := range s.order {
		if p.cfg.Password == "" || (v4 && !p.cfg.Address.Is4()) {
			continue
		}
		addr := p.cfg.Address
		if !v4 && addr.Is4() {
			addr = netip.AddrFrom16(addr.As16()) // IPv4-mapped on a dual-stack socket
		}
		var serr error
		if err := rc.Control(func(fd uintptr) { serr = setMD5(int(fd), addr, p.cfg.Password) }); err != nil {
			return err
		}
		if serr != nil {
			return fmt.Errorf("TCP-MD5 key for peer %s on %s: %w", p.cfg.Address, l.Addr(), serr)
		}
	}
	return nil
}
