package flowlogreceiver

import (
	"context"
	"errors"
	"sync"
	"sync/atomic"
	"time"

	"go.opentelemetry.io/collector/component"
	"go.opentelemetry.io/collector/consumer"
	"go.opentelemetry.io/collector/consumer/consumererror"
	"go.opentelemetry.io/collector/extension/xextension/storage"
	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/receiver"
	"go.opentelemetry.io/collector/receiver/receiverhelper"
	"go.uber.org/zap"

	"github.com/erviz/otelcol-erviz/internal/storageclient"
	"github.com/erviz/otelcol-erviz/receiver/flowlogreceiver/internal/coordination"
	"github.com/erviz/otelcol-erviz/receiver/flowlogreceiver/internal/metadata"
)

const (
	retryInitial = 500 * time.Millisecond
	retryMax     = 30 * time.Second
)

// flowlogReceiver is one receiver instance, shared by its logs and metrics pipelines.
type flowlogReceiver struct {
	cfg    *Config
	set    receiver.Settings
	logger *zap.Logger
	obs    *receiverhelper.ObsReport

	nextLogs    consumer.Logs
	nextMetrics consumer.Metrics

	// newSource builds the source at Start, newLeases the coordination of replicas
	// (replaced by tests).
	newSource func() (source, error)
	newLeases func(source, *metadata.TelemetryBuilder) (leases, error)
	now       func() time.Time

	src    source
	tb     *metadata.TelemetryBuilder
	client storage.Client
	// leases is nil without coordination.
	leases leases
	store  checkpointStore
	conv   *converter
	stats  *stats
	mb     *metadata.MetricsBuilder

	blobs     map[string]*blobState // by blob key
	firstPoll bool
	// polls counts the polls done (tests wait on it).
	polls atomic.Int64

	cancel context.CancelFunc
	wg     sync.WaitGroup
}

func newReceiver(set receiver.Settings, cfg *Config) (*flowlogReceiver, error) {
	obs, err := receiverhelper.NewObsReport(receiverhelper.ObsReportSettings{
		ReceiverID:             set.ID,
		Transport:              "blob",
		ReceiverCreateSettings: set,
	})
	if err != nil {
		return nil, err
	}
	r := &flowlogReceiver{cfg: cfg, set: set, logger: set.Logger, obs: obs, now: time.Now}
	r.newSource = func() (source, error) {
		if cfg.Directory != "" {
			settle := 2 * cfg.PollInterval
			if settle < 5*time.Second {
				settle = 5 * time.Second
			}
			return &dirSource{root: cfg.Directory, settle: settle, now: r.now}, nil
		}
		bs, err := newBlobSource(&cfg.AzureBlob, set.Logger, func(kind string) { r.stats.error("", kind) })
		if err != nil {
			return nil, err
		}
		bs.maxBlock = cfg.MaxRecordSize
		return bs, nil
	}
	r.newLeases = r.newCoordinator
	return r, nil
}

// Start loads the checkpoints and starts polling.
func (r *flowlogReceiver) Start(ctx context.Context, host component.Host) error {
	r.blobs = map[string]*blobState{}
	r.firstPoll = true
	start := r.now()
	r.stats = newStats()
	r.mb = metadata.NewMetricsBuilder(r.cfg.MetricsBuilderConfig, r.set, metadata.WithStartTime(pcommon.NewTimestampFromTime(start)))
	r.conv = newConverter(r.now)
	r.conv.applyBounds(r.cfg)
	r.warnDirectory()
	if err := r.openLocalStore(ctx, host); err != nil {
		return err
	}
	src, err := r.newSource()
	if err != nil {
		if r.client != nil {
			_ = r.client.Close(ctx)
			r.client = nil
		}
		return err
	}
	r.src = src
	if r.cfg.Coordination.Enabled {
		if err := r.startCoordination(ctx); err != nil {
			src.Close()
			r.src = nil
			return err
		}
	}
	runCtx, cancel := context.WithCancel(context.Background())
	r.cancel = cancel
	r.wg.Add(1)
	go r.run(runCtx)
	return nil
}

// openLocalStore keeps the checkpoints in the storage extension when one is configured (and
// loads them), else in memory.
func (r *flowlogReceiver) openLocalStore(ctx context.Context, host component.Host) error {
	local := &localStore{logger: r.logger, keys: r.checkpointKeys}
	r.store = local
	if r.cfg.Storage == nil {
		return nil
	}
	if r.nextLogs == nil {
		r.logger.Warn("no logs pipeline uses this receiver: checkpoints are kept in memory only")
		return nil
	}
	client, err := storageclient.Open(ctx, host, *r.cfg.Storage, r.set.ID)
	if err != nil {
		return err
	}
	cps, err := local.load(ctx, client)
	if err != nil {
		_ = client.Close(ctx)
		return err
	}
	local.client, r.client = client, client
	for k, cp := range cps {
		r.blobs[k] = &blobState{cp: cp, known: true}
		r.stats.track(k)
	}
	return nil
}

// startCoordination shares the blobs with the other replicas: the checkpoints move to the
// coordination container.
func (r *flowlogReceiver) startCoordination(ctx context.Context) error {
	tb, err := metadata.NewTelemetryBuilder(r.set.TelemetrySettings)
	if err != nil {
		return err
	}
	l, err := r.newLeases(r.src, tb)
	if err != nil {
		tb.Shutdown()
		return err
	}
	r.tb, r.leases = tb, l
	r.store = &leaseStore{leases: l, stats: r.stats, logger: r.logger}
	tb.ReceiverFlowlogReplicaStandby.Record(ctx, 0)
	return nil
}

// Shutdown stops polling, waiting for the batch in flight, and closes the storage client.
func (r *flowlogReceiver) Shutdown(ctx context.Context) error {
	if r.cancel != nil {
		r.cancel()
		r.wg.Wait()
		r.cancel = nil
	}
	if r.leases != nil {
		// After the batch in flight: its checkpoint is written, the leases can go.
		cctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second)
		r.leases.Shutdown(cctx)
		cancel()
		r.leases = nil
	}
	if r.tb != nil {
		r.tb.Shutdown()
		r.tb = nil
	}
	var err error
	if r.client != nil {
		err = r.client.Close(ctx)
		r.client = nil
	}
	if r.src != nil {
		r.src.Close()
		r.src = nil
	}
	return err
}

// save moves a blob's checkpoint, in the receiver and in the checkpoint store.
func (r *flowlogReceiver) save(ctx context.Context, key string, cp checkpoint) error {
	b := r.blob(key)
	old, known := b.cp, b.known
	b.cp, b.known = cp, true
	r.stats.track(key)
	if known && old == cp && !b.dirty {
		return nil
	}
	err := r.store.write(ctx, key, cp, !known)
	b.dirty = err != nil
	return err
}

// forget drops the checkpoint of a blob that is gone.
func (r *flowlogReceiver) forget(ctx context.Context, key, why string) {
	_, known := r.checkpointed(key)
	r.forgetLocal(key) // first: the store's index lists the blobs still known
	r.store.remove(ctx, key, known)
	if known {
		r.logger.Info("checkpoint dropped", zap.String("blob", key), zap.String("reason", why))
	}
}

func (r *flowlogReceiver) run(ctx context.Context) {
	defer r.wg.Done()
	t := time.NewTicker(r.cfg.PollInterval)
	defer t.Stop()
	for {
		r.poll(ctx)
		r.polls.Add(1)
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

// poll lists the source once and reads what is new in every blob.
func (r *flowlogReceiver) poll(ctx context.Context) {
	var cs *coordination.State
	if r.leases != nil {
		// The coordination container is listed before the source (see Coordinator.List).
		forgotten, err := r.leases.Setup(ctx)
		for _, k := range forgotten {
			r.forgetLocal(k)
		}
		if err == nil {
			cs, err = r.leases.List(ctx)
		}
		if ctx.Err() != nil {
			return
		}
		if errors.Is(err, coordination.ErrStandby) {
			r.emitMetrics(ctx) // another instance has this replica_id: nothing is read
			return
		}
		if err != nil {
			r.logger.Warn("coordination failed; retrying at the next poll", zap.Error(err))
			r.stats.error("", errKindCoordination)
			r.emitMetrics(ctx)
			return
		}
	}
	objs, err := r.src.List(ctx)
	if ctx.Err() != nil {
		return
	}
	if err != nil {
		r.logger.Warn("listing flow log blobs failed; retrying at the next poll", zap.Error(err))
		r.stats.error("", errKindList)
		r.emitMetrics(ctx)
		return
	}
	seen := make(map[string]bool, len(objs))
	for _, obj := range objs {
		seen[obj.Key] = true
	}
	if r.leases != nil {
		objs = r.leasedShare(ctx, cs, objs) // only the blobs this replica holds
	}
	for _, obj := range objs {
		if !r.process(ctx, obj) {
			return
		}
	}
	for key := range r.blobs {
		if !seen[key] {
			r.forget(ctx, key, "no longer listed")
		}
	}
	r.firstPoll = false
	r.emitMetrics(ctx)
}

func (r *flowlogReceiver) emitMetrics(ctx context.Context) {
	if r.nextMetrics == nil {
		return
	}
	md := r.stats.metrics(r.mb, r.now())
	n := md.DataPointCount()
	if n == 0 {
		return
	}
	octx := r.obs.StartMetricsOp(ctx)
	err := r.nextMetrics.ConsumeMetrics(octx, md)
	r.obs.EndMetricsOp(octx, "flowlog", n, err)
	if err != nil {
		r.logger.Debug("metrics refused", zap.Error(err))
	}
}

// process reads everything new in one blob. It returns false when the receiver stops.
func (r *flowlogReceiver) process(ctx context.Context, obj object) bool {
	b := r.blob(obj.Key)
	if r.now().Before(b.retryAt) {
		return true
	}
	cp, known := b.cp, b.known
	if known && cp.AtEnd && cp.ETag == obj.ETag {
		return true // unchanged since it was read to the end (finished hours stay here)
	}
	discard := false
	if !known && r.firstPoll && r.cfg.StartAt == StartAtEnd {
		end, ok, err := r.src.End(ctx, obj)
		if err != nil {
			r.readFailed(ctx, obj, err)
			return ctx.Err() == nil
		}
		if ok {
			_ = r.save(ctx, obj.Key, end)
			return true
		}
		discard = true // walk the records without emitting them to find where they end
	}
	if b.idPrefix == "" {
		b.idPrefix = recordIDPrefix(obj.Key)
	}
	prefix := b.idPrefix
	limit := r.cfg.MaxReadSize
	for ctx.Err() == nil {
		if !r.store.mayRead(obj.Key) {
			return true // the lease is lost or about to expire: not read any more
		}
		if cp.Skip {
			var more bool
			if cp, more = r.skipRecord(ctx, obj, cp, false); !more {
				return ctx.Err() == nil
			}
			continue
		}
		ch, err := r.src.Read(ctx, obj, cp, limit)
		if err != nil {
			r.readFailed(ctx, obj, err)
			return ctx.Err() == nil
		}
		b.retryAt, b.failures = time.Time{}, 0
		if ch.Oversized {
			var more bool
			if cp, more = r.skipBlock(ctx, obj, ch); !more {
				return ctx.Err() == nil
			}
			continue
		}
		if ch.Reset != "" {
			r.logger.Warn("blob changed under its checkpoint; reading it again from the start", zap.String("blob", obj.Key), zap.String("reason", ch.Reset))
			cp = checkpoint{}
		}
		res := r.conv.convert(obj, prefix, ch, discard)
		r.stats.chunk(obj.Key, ch.Downloaded, &res)
		if len(res.Problems) > 0 {
			r.logger.Warn("skipped malformed flow log data", zap.String("blob", obj.Key), zap.Any("errors", res.Errors), zap.Strings("first", res.Problems))
		}
		if res.Tuples > 0 && !discard {
			if !r.deliver(ctx, obj, &res) {
				return false
			}
		}
		next := checkpoint{Offset: ch.Offset + int64(res.Consumed)}
		if res.Consumed == len(ch.Data) {
			next.BlockID = ch.EndBlockID
		}
		if ch.AtEnd {
			next.ETag, next.AtEnd = ch.ETag, true
		}
		if err := r.save(ctx, obj.Key, next); err != nil {
			return true // read again once the checkpoint is written (or by the new owner)
		}
		if ch.AtEnd {
			return true
		}
		if res.Consumed == 0 {
			// One record is larger than the read: read more at once, up to max_record_size.
			var grow bool
			if limit, grow = r.growRead(limit); !grow {
				var more bool
				if next, more = r.skipRecord(ctx, obj, next, true); !more {
					return ctx.Err() == nil
				}
				limit = r.cfg.MaxReadSize
			}
		}
		cp = next
	}
	return false
}

func (r *flowlogReceiver) readFailed(ctx context.Context, obj object, err error) {
	if ctx.Err() != nil {
		return
	}
	if errors.Is(err, errNotFound) {
		r.stats.error(obj.Key, errKindBlobDeleted)
		r.forget(ctx, obj.Key, "blob deleted while being read")
		r.logger.Warn("flow log blob deleted while being read; dropped from the checkpoints", zap.String("blob", obj.Key))
		return
	}
	r.stats.error(obj.Key, errKindRead)
	b := r.blob(obj.Key)
	b.failures++
	wait := retryInitial << min(b.failures, 10)
	if wait > retryMax || wait <= 0 {
		wait = retryMax
	}
	b.retryAt = r.now().Add(wait)
	r.logger.Warn("reading a flow log blob failed; will retry", zap.String("blob", obj.Key), zap.Duration("retry_after", wait), zap.Error(err))
}

// deliver hands a batch to the logs consumer, retrying until it is accepted or the
// receiver stops. It returns false when the receiver stops before the batch was accepted.
func (r *flowlogReceiver) deliver(ctx context.Context, obj object, res *chunkResult) bool {
	if r.nextLogs == nil {
		return true
	}
	wait := retryInitial
	for {
		octx := r.obs.StartLogsOp(ctx)
		err := r.nextLogs.ConsumeLogs(octx, res.Logs)
		r.obs.EndLogsOp(octx, "flowlog", res.Tuples, err)
		if err == nil {
			return true
		}
		r.stats.error(obj.Key, errKindConsumer)
		if consumererror.IsPermanent(err) {
			r.logger.Error("the pipeline rejected a batch permanently; it is dropped", zap.String("blob", obj.Key), zap.Int("records", res.Tuples), zap.Error(err))
			return true
		}
		r.logger.Warn("the pipeline refused a batch; retrying", zap.String("blob", obj.Key), zap.Duration("retry_after", wait), zap.Error(err))
		select {
		case <-ctx.Done():
			return false
		case <-time.After(wait):
		}
		wait = min(2*wait, retryMax)
	}
}
