package bgpreceiver

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"strconv"
	"time"

	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/metric"
	"go.uber.org/zap"

	"github.com/erviz/otelcol-erviz/internal/schema"
	"github.com/erviz/otelcol-erviz/internal/throttle"
	"github.com/erviz/otelcol-erviz/pkg/rib"
	"github.com/erviz/otelcol-erviz/receiver/bgpreceiver/internal/bmp"
	"github.com/erviz/otelcol-erviz/receiver/bgpreceiver/internal/speaker"
)

// Defaults of the bounds. A BMP station serves a handful of routers; an Azure edge router
// has a few BGP neighbors, a route reflector some hundreds. A full Internet table is about
// 1.2 M routes (716 MiB in the RIB, see BENCHMARKS.md): a BMP peer sending one needs
// bmp.max_prefixes raised.
const (
	defaultBMPMaxConnections          = 64
	defaultBMPMaxConnectionsPerSource = 4
	defaultBMPIdleTimeout             = time.Hour
	defaultBMPMaxPeersPerRouter       = 1000
	defaultBMPMaxPeers                = 10000
	defaultBMPMaxPrefixes             = 100000
	defaultMaxRoutes                  = 3000000
	defaultMaxAttributeBytes          = 256 << 20
	defaultPeerRetention              = time.Hour
	defaultListenMaxConnections       = 64
)

// Reasons of otelcol_receiver_bgp_limited besides the listeners' refusals.
const (
	limitBMPPeersPerRouter = bmp.ReasonPeersPerRouter
	limitBMPPeers          = bmp.ReasonPeers
	limitBMPPrefixes       = "bmp_prefixes"
	limitPeerPrefixes      = "peer_prefixes"
	limitRoutes            = "routes"
	limitAttributeBytes    = "attribute_bytes"
)

func defaultBMPConfig() BMPConfig {
	return BMPConfig{
		MaxConnections:          defaultBMPMaxConnections,
		MaxConnectionsPerSource: defaultBMPMaxConnectionsPerSource,
		IdleTimeout:             defaultBMPIdleTimeout,
		MaxMessageSize:          bmp.MaxMessage,
		MaxPeersPerRouter:       defaultBMPMaxPeersPerRouter,
		MaxPeers:                defaultBMPMaxPeers,
		MaxPrefixes:             defaultBMPMaxPrefixes,
	}
}

// withDefaults returns the configuration with zero bounds set to their defaults.
func (b BMPConfig) withDefaults() BMPConfig {
	d := defaultBMPConfig()
	set := func(v *int, def int) {
		if *v == 0 {
			*v = def
		}
	}
	set(&b.MaxConnections, d.MaxConnections)
	set(&b.MaxConnectionsPerSource, d.MaxConnectionsPerSource)
	set(&b.MaxMessageSize, d.MaxMessageSize)
	set(&b.MaxPeersPerRouter, d.MaxPeersPerRouter)
	set(&b.MaxPeers, d.MaxPeers)
	if b.IdleTimeout == 0 {
		b.IdleTimeout = d.IdleTimeout
	}
	return b
}

func (c *Config) validateLimits() []error {
	var errs []error
	if e := c.BMP.Endpoint; e != "" {
		host, port, err := net.SplitHostPort(e)
		if err == nil {
			if _, perr := strconv.ParseUint(port, 10, 16); perr != nil {
				err = fmt.Errorf("port %q is not a number from 0 to 65535", port)
			} else if host != "" && host != "localhost" {
				if _, aerr := netip.ParseAddr(host); aerr != nil {
					err = fmt.Errorf("host %q is not an IP address", host)
				}
			}
		}
		if err != nil {
			errs = append(errs, fmt.Errorf("bmp.endpoint %q must be host:port (e.g. 0.0.0.0:11019): %w", e, err))
		}
	}
	b := &c.BMP
	if b.MaxConnections < 0 || b.MaxConnectionsPerSource < 0 || b.MaxPeersPerRouter < 0 || b.MaxPeers < 0 || b.IdleTimeout < 0 {
		errs = append(errs, errors.New("bmp: max_connections, max_connections_per_source, max_peers_per_router, max_peers and idle_timeout must not be negative (0: the default)"))
	}
	if b.MaxMessageSize != 0 && (b.MaxMessageSize < 4096 || b.MaxMessageSize > bmp.MaxMessage) {
		errs = append(errs, fmt.Errorf("bmp.max_message_size %d must be from 4096 to %d", b.MaxMessageSize, bmp.MaxMessage))
	}
	if b.MaxPrefixes < 0 || c.MaxRoutes < 0 || c.MaxAttributeBytes < 0 {
		errs = append(errs, errors.New("bmp.max_prefixes, max_routes and max_attribute_bytes must not be negative (0: no limit)"))
	}
	if c.PeerRetention != 0 && c.PeerRetention < time.Minute {
		errs = append(errs, fmt.Errorf("peer_retention %s is below 1m", c.PeerRetention))
	}
	if c.ListenMaxConnections < 0 {
		errs = append(errs, errors.New("listen_max_connections must not be negative (0: the default)"))
	}
	return errs
}

// ribLimits sets the RIB's route bounds: max_routes in total, bmp.max_prefixes per BMP peer.
func (c *Config) ribLimits(rc *rib.Config) {
	rc.MaxPaths = c.MaxRoutes
	rc.MaxAttrBytes = c.MaxAttributeBytes
	if n := c.BMP.MaxPrefixes; n > 0 {
		rc.PeerPathLimit = func(p rib.Peer) int {
			if p.Kind == rib.SourceBMP {
				return n
			}
			return 0
		}
	}
}

// limitKey names what a refusal is logged for: a reason and a source (router or peer).
type limitKey struct {
	reason string
	source string
}

// limits is the receiver's state of the bounds.
type limits struct {
	start    pcommon.Timestamp // start of the cumulative per-peer sums
	logs     *throttle.PerKey[limitKey]
	forgotAt time.Time // last ForgetPeers
}

func newLimits(interval time.Duration) *limits {
	return &limits{start: pcommon.NewTimestampFromTime(time.Now()), logs: throttle.New[limitKey](interval, 4096)}
}

// countLimited counts an input refused by a bound (otelcol_receiver_bgp_limited).
func (r *bgpReceiver) countLimited(source, reason string) {
	if r.tb != nil {
		r.tb.ReceiverBgpLimited.Add(context.Background(), 1, metric.WithAttributeSet(attribute.NewSet(
			attribute.String(schema.BGPSource, source), attribute.String(schema.BGPLimitReason, reason))))
	}
}

// limited counts an input refused by a bound and logs it at most once per interval per
// reason and source.
func (r *bgpReceiver) limited(source, reason, who string, msg string, fields ...zap.Field) {
	r.countLimited(source, reason)
	if ok, suppressed := r.lim.logs.Allow(limitKey{reason, who}); ok {
		r.logger.Warn(msg, append(fields, zap.String("source", source), zap.String("reason", reason),
			zap.Uint64("suppressed_since_last_log", suppressed))...)
	}
}

// routeRefused handles a route the RIB did not take.
func (r *bgpReceiver) routeRefused(peer rib.Peer, p *rib.Path, err error) {
	src := sourceName(peer.Kind)
	switch {
	case errors.Is(err, rib.ErrPeerPathLimit):
		reason := limitPeerPrefixes
		if peer.Kind == rib.SourceBMP {
			reason = limitBMPPrefixes
		}
		r.limited(src, reason, peerText(peer), "route refused: the peer is at its route limit (bmp.max_prefixes)",
			zap.String("peer", peerText(peer)), zap.Stringer("prefix", p.Prefix))
	case errors.Is(err, rib.ErrPathLimit):
		r.limited(src, limitRoutes, src, "route refused: the RIB is at max_routes",
			zap.String("peer", peerText(peer)), zap.Stringer("prefix", p.Prefix))
	case errors.Is(err, rib.ErrAttrLimit):
		r.limited(src, limitAttributeBytes, peerText(peer), "route refused: its attributes would take the RIB's AS paths and communities over max_attribute_bytes",
			zap.String("peer", peerText(peer)), zap.Stringer("prefix", p.Prefix))
	default:
		r.logger.Debug("route not announced to the RIB", zap.Stringer("prefix", p.Prefix), zap.Error(err))
	}
}

// forgetIdle forgets, at most once a minute, the peers down for peer_retention with no route
// left, with their message counters (RIB goroutine).
func (r *bgpReceiver) forgetIdle(now time.Time) {
	if now.Sub(r.lim.forgotAt) < time.Minute {
		return
	}
	r.lim.forgotAt = now
	retention := r.cfg.PeerRetention
	if retention <= 0 {
		retention = defaultPeerRetention
	}
	gone := r.rib.ForgetPeers(now, retention)
	if len(gone) == 0 {
		return
	}
	set := make(map[rib.Peer]bool, len(gone))
	for _, p := range gone {
		set[p] = true
	}
	r.msgMu.Lock()
	for k := range r.msgCounts {
		if set[k.peer] {
			delete(r.msgCounts, k)
		}
	}
	r.msgMu.Unlock()
	r.logger.Info("peers down for peer_retention forgotten", zap.Int("peers", len(gone)))
}

// speakerListen is the speaker's listener configuration, its refusals counted.
func (r *bgpReceiver) speakerListen() speaker.ListenConfig {
	return speaker.ListenConfig{
		MaxConnections: r.cfg.ListenMaxConnections,
		OnRefuse:       func(reason string) { r.countLimited(schema.BGPSourceBGP, reason) },
	}
}
