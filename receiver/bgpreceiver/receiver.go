package bgpreceiver

import (
	"context"
	"net/netip"
	"sync"
	"sync/atomic"
	"time"

	"go.opentelemetry.io/collector/component"
	"go.opentelemetry.io/collector/consumer"
	"go.opentelemetry.io/collector/extension/xextension/storage"
	"go.opentelemetry.io/collector/pdata/plog"
	"go.opentelemetry.io/collector/receiver"
	"go.opentelemetry.io/collector/receiver/receiverhelper"
	"go.uber.org/zap"

	"github.com/erviz/otelcol-erviz/internal/schema"
	"github.com/erviz/otelcol-erviz/internal/storageclient"
	"github.com/erviz/otelcol-erviz/pkg/rib"
	"github.com/erviz/otelcol-erviz/receiver/bgpreceiver/internal/bmp"
	"github.com/erviz/otelcol-erviz/receiver/bgpreceiver/internal/event"
	"github.com/erviz/otelcol-erviz/receiver/bgpreceiver/internal/metadata"
	"github.com/erviz/otelcol-erviz/receiver/bgpreceiver/internal/mrt"
	"github.com/erviz/otelcol-erviz/receiver/bgpreceiver/internal/speaker"
)

// tickInterval is how often the RIB is told that time passed (flap scores decay, windows
// slide) when no route changes.
const tickInterval = 5 * time.Second

// maxBatch bounds the log records sent in one ConsumeLogs call.
const maxBatch = 2048

type msgKey struct {
	peer     rib.Peer
	typ, dir string
}

type bgpReceiver struct {
	cfg         *Config
	set         receiver.Settings
	logger      *zap.Logger
	nextLogs    consumer.Logs
	nextMetrics consumer.Metrics
	tb          *metadata.TelemetryBuilder
	obs         *receiverhelper.ObsReport
	mb          *metadata.MetricsBuilder

	rib       *rib.RIB
	ribEvents []rib.Event
	peers     map[netip.Addr]speaker.PeerConfig

	queue chan event.Event
	done  chan struct{}
	wg    sync.WaitGroup
	// closing: the receiver stops; the sessions it closes are not routing events.
	closing atomic.Bool

	sp      *speaker.Speaker
	bmp     *bmp.Station
	mrt     *mrt.Reader
	stopped bool

	// client: the storage extension's client (MRT checkpoints), when configured.
	client storage.Client
	// replaying: the event handled was delivered before a restart (nothing is emitted).
	replaying bool

	// batch being built by the RIB goroutine
	logs    plog.Logs
	records plog.LogRecordSlice

	msgMu     sync.Mutex
	msgCounts map[msgKey]int64

	// restarts: the graceful restarts in progress, per peer (RIB goroutine).
	restarts  map[rib.Peer]*restart
	staleTime time.Duration

	lim     *limits
	routing routing // the published RIB and its convergence (routing.go)
}

func newReceiver(set receiver.Settings, cfg *Config) (*bgpReceiver, error) {
	r := &bgpReceiver{
		cfg: cfg, set: set, logger: set.Logger,
		peers:     map[netip.Addr]speaker.PeerConfig{},
		msgCounts: map[msgKey]int64{},
		restarts:  map[rib.Peer]*restart{}, staleTime: staleTime,
		lim: newLimits(cfg.CollectionInterval),
	}
	rc, err := cfg.ribConfig()
	if err != nil {
		return nil, err
	}
	if r.obs, err = receiverhelper.NewObsReport(receiverhelper.ObsReportSettings{ReceiverID: set.ID, ReceiverCreateSettings: set}); err != nil {
		return nil, err
	}
	rc.OnEvent = func(e rib.Event) { r.ribEvents = append(r.ribEvents, e) }
	if r.rib, err = rib.New(rc); err != nil {
		return nil, err
	}
	for _, p := range cfg.speakerConfig().Peers {
		r.peers[p.Address] = p
	}
	r.publishRIB()
	return r, nil
}

// Start starts the configured sources and the RIB and metrics goroutines.
func (r *bgpReceiver) Start(ctx context.Context, host component.Host) error {
	var err error
	if r.tb, err = metadata.NewTelemetryBuilder(r.set.TelemetrySettings); err != nil {
		return err
	}
	if r.cfg.Storage != nil {
		if r.client, err = storageclient.Open(ctx, host, *r.cfg.Storage, r.set.ID); err != nil {
			return err
		}
	}
	r.mb = metadata.NewMetricsBuilder(r.cfg.MetricsBuilderConfig, r.set)
	r.queue = make(chan event.Event, r.cfg.QueueSize)
	r.done = make(chan struct{})
	r.newBatch()
	r.wg.Add(1)
	go r.runRIB()
	if r.cfg.speakerEnabled() {
		sc := r.cfg.speakerConfig()
		sc.Listen = r.speakerListen()
		r.sp, err = speaker.Start(sc, r.logger, r.onSpeaker)
		if err != nil {
			r.stop()
			return err
		}
	}
	if r.cfg.BMP.Endpoint != "" {
		if r.bmp, err = r.startBMP(); err != nil {
			r.stop()
			return err
		}
	}
	if len(r.cfg.MRT.Include) > 0 {
		if r.mrt, err = mrt.Start(ctx, mrt.Config{Include: r.cfg.MRT.Include, PollInterval: r.cfg.MRT.PollInterval}, r.logger, r.client, mrt.Hooks{
			Emit:      r.enqueue,
			Malformed: func() { r.countMalformed(schema.BGPSourceMRT) },
			Loaded:    func() { r.enqueue(&routingStep{fn: r.routingMRTLoaded}) },
		}); err != nil {
			r.stop()
			return err
		}
	}
	// After the sources: the metrics goroutine reads r.sp.
	r.wg.Add(1)
	go r.runMetrics()
	r.routingStarted()
	return nil
}

// Shutdown stops the sources first (the speaker closes every session), then the goroutines.
func (r *bgpReceiver) Shutdown(context.Context) error {
	r.routing.unregister()
	r.stop()
	return nil
}

func (r *bgpReceiver) stop() {
	if r.done == nil || r.stopped {
		return
	}
	r.stopped = true
	// The speaker's sessions and the BMP sessions end because the collector stops: their
	// downs and implicit withdrawals would raise lost redundancy for every prefix at each
	// restart, so nothing more is taken from the sources.
	r.closing.Store(true)
	if r.sp != nil {
		r.sp.Stop()
	}
	if r.bmp != nil {
		r.bmp.Stop()
	}
	if r.mrt != nil {
		r.mrt.Stop()
	}
	close(r.done)
	r.wg.Wait()
	r.stopRestarts()
	if r.client != nil {
		if err := r.client.Close(context.Background()); err != nil {
			r.logger.Warn("closing the storage client", zap.Error(err))
		}
	}
	if r.tb != nil {
		r.tb.Shutdown()
	}
}

// onSpeaker is the speaker's callback: cheap, it only queues (a malformed UPDATE is only
// counted).
func (r *bgpReceiver) onSpeaker(e event.Event) {
	if _, ok := e.(*event.Malformed); ok {
		r.countMalformed(schema.BGPSourceBGP)
		return
	}
	r.enqueue(e)
}

// startBMP starts the BMP station: its events go to the pipeline, its refusals to the
// limits' telemetry (limits.go).
func (r *bgpReceiver) startBMP() (*bmp.Station, error) {
	c := r.cfg.BMP.withDefaults()
	return bmp.Start(bmp.Config{
		Endpoint: c.Endpoint, Allowed: c.Allowed, MaxConnections: c.MaxConnections,
		MaxConnectionsPerSource: c.MaxConnectionsPerSource, IdleTimeout: c.IdleTimeout,
		MaxMessageSize: c.MaxMessageSize, MaxPeersPerRouter: c.MaxPeersPerRouter, MaxPeers: c.MaxPeers,
		LogInterval: r.cfg.CollectionInterval,
	}, r.logger, bmp.Hooks{
		Emit:      r.enqueue,
		Malformed: func() { r.countMalformed(schema.BGPSourceBMP) },
		Refused:   func(reason string) { r.countLimited(schema.BGPSourceBMP, reason) },
		Limited: func(reason string, router netip.Addr, peer rib.Peer) {
			r.limited(schema.BGPSourceBMP, reason, router.String(),
				"bmp: message of a peer beyond the peer limit dropped (bmp.max_peers_per_router, bmp.max_peers)",
				zap.Stringer("router", router), zap.String("peer", peerText(peer)))
		},
	})
}
