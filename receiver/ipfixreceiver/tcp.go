package ipfixreceiver

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/netip"
	"sync/atomic"
	"time"

	"go.uber.org/zap"

	"github.com/erviz/otelcol-erviz/internal/tcpserver"
	"github.com/erviz/otelcol-erviz/receiver/ipfixreceiver/internal/listener"
)

// tcpInput serves IPFIX over TCP (and TLS) on the hardened server: allow-list at accept,
// connection caps per listener and per exporter, idle timeout, refusals counted.
type tcpInput struct {
	srv      *tcpserver.Server
	messages atomic.Uint64
}

func (r *ipfixReceiver) startTCP(ctx context.Context) error {
	ln, err := net.Listen("tcp", r.cfg.Endpoint)
	if err != nil {
		return fmt.Errorf("listen tcp %s: %w", r.cfg.Endpoint, err)
	}
	cfg := tcpserver.Config{
		Name:           "ipfix",
		MaxConnections: r.cfg.MaxConnections,
		MaxPerSource:   r.cfg.MaxConnectionsPerExporter,
		IdleTimeout:    r.cfg.IdleTimeout,
		MaxMessageSize: listener.MaxDatagram,
		Logger:         r.set.Logger,
		OnRefuse:       r.countRefusal,
	}
	if r.allowed != nil {
		cfg.Allowed = r.allowed.Contains
	}
	if r.cfg.TLS != nil {
		if cfg.TLS, err = r.cfg.TLS.LoadTLSConfig(ctx); err != nil {
			ln.Close()
			return err
		}
	}
	r.tcp = &tcpInput{srv: tcpserver.New(ln, cfg)}
	r.tcp.srv.Start(r.serveTCP)
	return nil
}

// serveTCP reads the messages of one connection; its slot is its worker.
func (r *ipfixReceiver) serveTCP(c *tcpserver.Conn) {
	buf := make([]byte, listener.MaxDatagram)
	for {
		msg, err := listener.ReadMessage(c, buf)
		if err != nil {
			var fe *listener.FramingError
			if errors.As(err, &fe) || errors.Is(err, io.ErrUnexpectedEOF) {
				r.telemetry.ReceiverIpfixDecodeErrors.Add(context.Background(), 1, r.errorOpt("tcp_framing"))
				r.logSource(c.Source().Addr(), "ipfix over tcp: connection closed on a framing error", zap.Error(err))
			}
			return
		}
		r.tcp.messages.Add(1)
		r.handle(c.Slot(), &listener.Packet{Exporter: c.Source(), Data: msg, Received: time.Now()})
	}
}

func (r *ipfixReceiver) countRefusal(reason tcpserver.Reason, _ netip.Addr) {
	r.telemetry.ReceiverIpfixConnectionsRefused.Add(context.Background(), 1, r.refusalOpts[reason])
}
