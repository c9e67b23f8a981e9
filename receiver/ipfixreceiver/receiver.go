package ipfixreceiver

import (
	"context"
	"errors"
	"net"
	"sync"
	"time"

	"go.opentelemetry.io/collector/component"
	"go.opentelemetry.io/collector/consumer"
	"go.opentelemetry.io/collector/extension/xextension/storage"
	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/receiver"
	"go.opentelemetry.io/collector/receiver/receiverhelper"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/metric"
	"go.uber.org/zap"

	"github.com/erviz/otelcol-erviz/internal/cidrset"
	"github.com/erviz/otelcol-erviz/internal/storageclient"
	"github.com/erviz/otelcol-erviz/pkg/ipfix"
	"github.com/erviz/otelcol-erviz/receiver/ipfixreceiver/internal/listener"
	"github.com/erviz/otelcol-erviz/receiver/ipfixreceiver/internal/metadata"
)

// stateKey is where templates and sampling state are kept in the storage extension.
const stateKey = "ipfix.decoder.state"

type ipfixReceiver struct {
	cfg         *Config
	set         receiver.Settings
	nextLogs    consumer.Logs
	nextMetrics consumer.Metrics
	decoder     *decoderSet
	allowed     *cidrset.Set
	obs         *receiverhelper.ObsReport
	telemetry   *metadata.TelemetryBuilder
	mb          *metadata.MetricsBuilder
	dropOpts    map[string]metric.MeasurementOption

	udp     *listener.UDP
	tcp     *tcpInput
	workers []*worker
	client  storage.Client
	saved   uint64 // decoder generation last persisted

	// reported counters, to turn the listener's cumulative stats into deltas
	lastQueueDrops, lastKernelDrops, lastReceived uint64

	cancel context.CancelFunc
	wg     sync.WaitGroup

	guard
}

// worker decodes the packets of one socket (UDP) or one connection slot (TCP) with its own
// decoder and converts the records it produces straight into its batch. Its mutex is held
// while decoding a message and while flushing (uncontended but for the flush timer).
type worker struct {
	r        *ipfixReceiver
	mu       sync.Mutex
	dec      *ipfix.Decoder
	b        *batch
	first    time.Time // when the oldest record of the batch arrived
	received pcommon.Timestamp
	collect  func(*ipfix.Record)
}

func newReceiver(set receiver.Settings, cfg *Config) (*ipfixReceiver, error) {
	allowed, err := cidrset.NewSet(cfg.AllowedExporters)
	if err != nil {
		return nil, err
	}
	obs, err := receiverhelper.NewObsReport(receiverhelper.ObsReportSettings{
		ReceiverID: set.ID, Transport: string(cfg.Transport), ReceiverCreateSettings: set,
	})
	if err != nil {
		return nil, err
	}
	tb, err := metadata.NewTelemetryBuilder(set.TelemetrySettings)
	if err != nil {
		return nil, err
	}
	r := &ipfixReceiver{cfg: cfg, set: set, allowed: allowed, obs: obs, telemetry: tb,
		mb:       metadata.NewMetricsBuilder(cfg.MetricsBuilderConfig, set),
		dropOpts: map[string]metric.MeasurementOption{}, guard: newGuard()}
	if allowed.Len() == 0 {
		r.allowed = nil
	}
	for _, reason := range []string{"queue_full", "kernel", "not_allowed"} {
		r.dropOpts[reason] = metric.WithAttributeSet(attribute.NewSet(attribute.String("reason", reason)))
	}
	return r, nil
}

func (r *ipfixReceiver) Start(ctx context.Context, host component.Host) error {
	nworkers := r.cfg.Sockets
	if r.cfg.Transport == "tcp" {
		nworkers = r.cfg.MaxConnections
	}
	r.decoder = newDecoderSet(nworkers, r.cfg.decoderConfig())
	if r.cfg.Storage != nil {
		if err := r.openStorage(ctx, host); err != nil {
			return err
		}
	}

	r.workers = make([]*worker, nworkers)
	for i := range r.workers {
		w := &worker{r: r, dec: r.decoder.workers[i], b: newBatch(newAddrNames(8192), r.cfg.BatchSize)}
		w.collect = func(rec *ipfix.Record) { w.b.add(rec, w.received) }
		r.workers[i] = w
	}

	switch r.cfg.Transport {
	case "udp":
		u, err := listener.ListenUDP(listener.UDPConfig{Endpoint: r.cfg.Endpoint, Sockets: r.cfg.Sockets,
			ReceiveBuffer: r.cfg.ReceiveBuffer, QueueLength: r.cfg.QueueLength})
		if err != nil {
			r.closeStorage(ctx)
			return err
		}
		if g := u.GrantedReceiveBuffer(); r.cfg.ReceiveBuffer > 0 && g < r.cfg.ReceiveBuffer {
			r.set.Logger.Warn("the kernel granted a smaller UDP receive buffer than requested: raise net.core.rmem_max to avoid drops in bursts",
				zap.Int("requested", r.cfg.ReceiveBuffer), zap.Int("granted", g))
		}
		r.udp = u
		u.Start(r.handle)
	case "tcp":
		if err := r.startTCP(ctx); err != nil {
			r.closeStorage(ctx)
			return err
		}
	}

	bg, cancel := context.WithCancel(context.Background())
	r.cancel = cancel
	r.wg.Add(1)
	go r.background(bg)
	return nil
}

// Addr is the bound address (tests listen on port 0).
func (r *ipfixReceiver) Addr() net.Addr {
	if r.udp != nil {
		return r.udp.Addr()
	}
	if r.tcp != nil {
		return r.tcp.srv.Addr()
	}
	return nil
}

// handle runs on a listener worker goroutine.
func (r *ipfixReceiver) handle(worker int, p *listener.Packet) {
	if r.allowed != nil && !r.allowed.Contains(p.Exporter.Addr()) {
		r.telemetry.ReceiverIpfixDatagramsDropped.Add(context.Background(), 1, r.dropOpts["not_allowed"])
		r.logSource(p.Exporter.Addr(), "ipfix: input from an address outside allowed_exporters dropped")
		return
	}
	w := r.workers[worker]
	w.mu.Lock()
	defer w.mu.Unlock()
	var fn func(*ipfix.Record)
	if r.nextLogs != nil {
		fn = w.collect
		if w.b.records == 0 {
			w.first = p.Received
		}
		w.received = pcommon.NewTimestampFromTime(p.Received)
	}
	// Errors are counted by the decoder and exported by reportDecoder.
	if err := w.dec.Decode(p.Exporter.Addr(), p.Data, fn); err != nil {
		r.noteDecodeError(p.Exporter.Addr(), err)
	}
	if w.b.records >= r.cfg.BatchSize {
		w.flushLocked()
	}
}

// flushLocked sends the batch to the logs pipeline. A refusal drops the records (UDP
// exporters do not resend) and counts them.
func (w *worker) flushLocked() {
	if w.b.records == 0 {
		return
	}
	ld, n := w.b.take()
	ctx := w.r.obs.StartLogsOp(context.Background())
	err := w.r.nextLogs.ConsumeLogs(ctx, ld)
	w.r.obs.EndLogsOp(ctx, "ipfix", n, err)
	if err != nil {
		w.r.telemetry.ReceiverIpfixRecordsDropped.Add(context.Background(), int64(n))
		w.r.set.Logger.Warn("the logs pipeline refused flow records; they are dropped", zap.Int("records", n), zap.Error(err))
	}
}

// background flushes aged batches, persists decoder state when it changes and emits
// metrics, until ctx ends.
func (r *ipfixReceiver) background(ctx context.Context) {
	defer r.wg.Done()
	flush := time.NewTicker(r.cfg.BatchTimeout / 2)
	defer flush.Stop()
	persist := time.NewTicker(time.Second)
	defer persist.Stop()
	emit := time.NewTicker(r.cfg.CollectionInterval)
	defer emit.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case now := <-flush.C:
			r.flushAged(now)
			r.reportListener(ctx)
		case now := <-persist.C:
			r.persistPaced(ctx, now)
			r.reportDecoder(ctx)
			r.decoder.expirePool()
		case <-emit.C:
			r.emitMetrics(ctx)
		}
	}
}

func (r *ipfixReceiver) flushAged(now time.Time) {
	for _, w := range r.workers {
		w.mu.Lock()
		if w.b.records > 0 && now.Sub(w.first) >= r.cfg.BatchTimeout {
			w.flushLocked()
		}
		w.mu.Unlock()
	}
}

// reportListener turns the listener's cumulative counters into telemetry.
func (r *ipfixReceiver) reportListener(ctx context.Context) {
	var received, queue, kernel uint64
	if r.udp != nil {
		st := r.udp.Stats()
		received, queue, kernel = st.Datagrams, st.QueueDrops, st.KernelDrops
	}
	if r.tcp != nil {
		received = r.tcp.messages.Load()
	}
	if d := received - r.lastReceived; d > 0 {
		r.telemetry.ReceiverIpfixDatagramsReceived.Add(ctx, int64(d))
	}
	if d := queue - r.lastQueueDrops; d > 0 {
		r.telemetry.ReceiverIpfixDatagramsDropped.Add(ctx, int64(d), r.dropOpts["queue_full"])
	}
	if kernel > r.lastKernelDrops {
		r.telemetry.ReceiverIpfixDatagramsDropped.Add(ctx, int64(kernel-r.lastKernelDrops), r.dropOpts["kernel"])
		r.lastKernelDrops = kernel
	}
	r.lastReceived, r.lastQueueDrops = received, queue
}

// emitMetrics sends the per-exporter health metrics.
func (r *ipfixReceiver) emitMetrics(ctx context.Context) {
	if r.nextMetrics == nil {
		return
	}
	st := r.decoder.Stats()
	now := pcommon.NewTimestampFromTime(time.Now())
	if over := len(st.Domains) - r.cfg.MaxExporterSeries; over > 0 {
		r.telemetry.ReceiverIpfixExporterSeriesDropped.Add(ctx, int64(over))
		st.Domains = mostActive(st.Domains, r.cfg.MaxExporterSeries)
	}
	for _, d := range st.Domains {
		r.mb.RecordIpfixExporterPacketsDataPoint(now, clampInt(d.Packets))
		r.mb.RecordIpfixExporterRecordsDataPoint(now, clampInt(d.Records))
		r.mb.RecordIpfixExporterSequenceGapsDataPoint(now, clampInt(d.SequenceLost))
		r.mb.RecordIpfixExporterTemplatesDataPoint(now, int64(d.Templates))
		r.mb.RecordIpfixExporterSamplingRateDataPoint(now, clampInt(d.SamplingRate))
		for k, n := range d.Errors {
			if n > 0 {
				r.mb.RecordIpfixExporterDecodeErrorsDataPoint(now, clampInt(n), ipfix.ErrorKind(k).String())
			}
		}
		rb := r.mb.NewResourceBuilder()
		rb.SetFlowExporterAddress(d.Exporter.String())
		rb.SetFlowObservationDomainID(int64(d.ObservationDomain))
		rb.SetFlowType(d.FlowType.String())
		r.mb.EmitForResource(metadata.WithResource(rb.Emit()))
	}
	md := r.mb.Emit()
	if md.DataPointCount() == 0 {
		return
	}
	obsCtx := r.obs.StartMetricsOp(ctx)
	err := r.nextMetrics.ConsumeMetrics(obsCtx, md)
	r.obs.EndMetricsOp(obsCtx, "ipfix", md.DataPointCount(), err)
}

func (r *ipfixReceiver) openStorage(ctx context.Context, host component.Host) error {
	client, err := storageclient.Open(ctx, host, *r.cfg.Storage, r.set.ID)
	if err != nil {
		return err
	}
	r.client = client
	b, err := client.Get(ctx, stateKey)
	if err != nil {
		r.set.Logger.Warn("cannot read saved templates; starting without them", zap.Error(err))
		return nil
	}
	if len(b) > 0 {
		if err := r.decoder.Restore(b); err != nil {
			r.set.Logger.Warn("saved templates are unreadable; starting without them", zap.Error(err))
		} else {
			st := r.decoder.Stats()
			r.set.Logger.Info("restored templates and sampling state", zap.Int("exporters", st.Exporters), zap.Int("templates", st.Templates))
		}
	}
	r.saved = r.decoder.Generation()
	return nil
}

// persist saves templates and sampling state when they changed since the last save.
// It returns the bytes written (0 when nothing changed).
func (r *ipfixReceiver) persist(ctx context.Context) int {
	if r.client == nil {
		return 0
	}
	g := r.decoder.Generation()
	if g == r.saved {
		return 0
	}
	snap := r.decoder.Snapshot()
	if err := r.client.Set(ctx, stateKey, snap); err != nil {
		r.set.Logger.Warn("cannot save templates", zap.Error(err))
		return 0
	}
	r.saved = g
	return len(snap)
}

func (r *ipfixReceiver) closeStorage(ctx context.Context) {
	if r.client != nil {
		if err := r.client.Close(ctx); err != nil {
			r.set.Logger.Warn("closing storage", zap.Error(err))
		}
		r.client = nil
	}
}

func (r *ipfixReceiver) Shutdown(ctx context.Context) error {
	var errs []error
	if r.udp != nil {
		errs = append(errs, r.udp.Close())
	}
	if r.tcp != nil {
		errs = append(errs, r.tcp.srv.Close())
	}
	if r.cancel != nil {
		r.cancel()
		r.wg.Wait()
	}
	for _, w := range r.workers {
		w.mu.Lock()
		if r.nextLogs != nil {
			w.flushLocked()
		}
		w.mu.Unlock()
	}
	if r.decoder != nil {
		r.persist(ctx)
		r.reportDecoder(ctx)
	}
	r.closeStorage(ctx)
	r.telemetry.Shutdown()
	return errors.Join(errs...)
}
