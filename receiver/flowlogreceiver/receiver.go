package flowlogreceiver

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"sync"
	"time"

	"go.opentelemetry.io/collector/component"
	"go.opentelemetry.io/collector/consumer"
	"go.opentelemetry.io/collector/consumer/consumererror"
	"go.opentelemetry.io/collector/extension/xextension/storage"
	"go.opentelemetry.io/collector/receiver"
	"go.opentelemetry.io/collector/receiver/receiverhelper"
	"go.uber.org/zap"

	"github.com/erviz/otelcol-erviz/internal/storageclient"
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

	// newSource builds the source at Start (replaced by tests).
	newSource func() (source, error)
	now       func() time.Time

	src    source
	tb     *metadata.TelemetryBuilder
	client storage.Client
	coord  *coordinator
	conv   *converter
	stats  *stats

	cps       map[string]checkpoint
	idPrefix  map[string]string
	retryAt   map[string]time.Time
	failures  map[string]int
	dirty     map[string]bool // checkpoints whose last write failed (coordination)
	firstPoll bool

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
	return r, nil
}

// Start loads the checkpoints and starts polling.
func (r *flowlogReceiver) Start(ctx context.Context, host component.Host) error {
	r.cps = map[string]checkpoint{}
	r.idPrefix = map[string]string{}
	r.retryAt = map[string]time.Time{}
	r.failures = map[string]int{}
	r.dirty = map[string]bool{}
	r.firstPoll = true
	r.stats = newStats(r.now())
	r.conv = newConverter(r.now)
	r.conv.applyBounds(r.cfg)
	r.warnDirectory()
	if r.cfg.Storage != nil {
		if r.nextLogs == nil {
			r.logger.Warn("no logs pipeline uses this receiver: checkpoints are kept in memory only")
		} else {
			client, err := storageclient.Open(ctx, host, *r.cfg.Storage, r.set.ID)
			if err != nil {
				return err
			}
			r.client = client
			if err := r.loadCheckpoints(ctx); err != nil {
				_ = client.Close(ctx)
				r.client = nil
				return err
			}
		}
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
		bs, ok := src.(*blobSource)
		if !ok {
			src.Close()
			r.src = nil
			return errors.New("coordination needs the azure_blob source")
		}
		tb, err := metadata.NewTelemetryBuilder(r.set.TelemetrySettings)
		if err != nil {
			src.Close()
			r.src = nil
			return err
		}
		r.tb = tb
		r.coord = newCoordinator(bs, &r.cfg.Coordination, &r.cfg.AzureBlob, r.set.ID.String(), r.logger, r.now, tb)
		r.coord.dropLocal = r.dropLocal
		tb.ReceiverFlowlogReplicaStandby.Record(ctx, 0)
	}
	runCtx, cancel := context.WithCancel(context.Background())
	r.cancel = cancel
	r.wg.Add(1)
	go r.run(runCtx)
	return nil
}

// Shutdown stops polling, waiting for the batch in flight, and closes the storage client.
func (r *flowlogReceiver) Shutdown(ctx context.Context) error {
	if r.cancel != nil {
		r.cancel()
		r.wg.Wait()
		r.cancel = nil
	}
	if r.coord != nil {
		// After the batch in flight: its checkpoint is written, the leases can go.
		cctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second)
		r.coord.shutdown(cctx)
		cancel()
		r.coord = nil
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

func (r *flowlogReceiver) loadCheckpoints(ctx context.Context) error {
	b, err := r.client.Get(ctx, storageIndexKey)
	if err != nil {
		return fmt.Errorf("reading the checkpoint index: %w", err)
	}
	if b == nil {
		return nil
	}
	keys, err := decodeIndex(b)
	if err != nil {
		r.logger.Error("checkpoint index unreadable, starting without checkpoints", zap.Error(err))
		return nil
	}
	for _, k := range keys {
		v, err := r.client.Get(ctx, storageCPPrefix+k)
		if err != nil {
			return fmt.Errorf("reading the checkpoint of %s: %w", k, err)
		}
		if v == nil {
			continue
		}
		cp, err := decodeCheckpoint(v)
		if err != nil {
			r.logger.Error("checkpoint unreadable, reading the blob again per start_at", zap.String("blob", k), zap.Error(err))
			continue
		}
		r.cps[k] = cp
		r.stats.track(k)
	}
	r.logger.Info("checkpoints loaded", zap.Int("blobs", len(r.cps)))
	return nil
}

func (r *flowlogReceiver) indexOps() *storage.Operation {
	keys := make([]string, 0, len(r.cps))
	for k := range r.cps {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return storage.SetOperation(storageIndexKey, encodeIndex(keys))
}

// save stores a blob's checkpoint (and the index when the blob is new).
func (r *flowlogReceiver) save(ctx context.Context, key string, cp checkpoint) error {
	old, known := r.cps[key]
	r.cps[key] = cp
	r.stats.track(key)
	if r.coord != nil {
		if known && old == cp && !r.dirty[key] {
			return nil
		}
		wctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second)
		defer cancel()
		if err := r.coord.commit(wctx, key, cp); err != nil {
			r.dirty[key] = true
			if !errors.Is(err, errLeaseLost) {
				r.stats.error(key, errKindCoordination)
			}
			r.logger.Warn("writing a checkpoint to the coordination container failed; the blob's last batch may be read again", zap.String("blob", key), zap.Error(err))
			return err
		}
		delete(r.dirty, key)
		return nil
	}
	if r.client == nil || (known && old == cp) {
		return nil
	}
	ops := []*storage.Operation{storage.SetOperation(storageCPPrefix+key, encodeCheckpoint(cp))}
	if !known {
		ops = append(ops, r.indexOps())
	}
	// The checkpoint must be written even when shutdown begins: the batch was accepted.
	wctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second)
	defer cancel()
	if err := r.client.Batch(wctx, ops...); err != nil {
		r.logger.Error("writing a checkpoint failed; the blob's last batch may be read again after a restart", zap.String("blob", key), zap.Error(err))
		return err
	}
	return nil
}

// dropLocal forgets what this replica knows of a blob whose lease it gave up.
func (r *flowlogReceiver) dropLocal(key string) {
	delete(r.cps, key)
	delete(r.idPrefix, key)
	delete(r.retryAt, key)
	delete(r.failures, key)
	delete(r.dirty, key)
	r.stats.forget(key)
}

func (r *flowlogReceiver) forget(ctx context.Context, key, why string) {
	if r.coord != nil {
		r.coord.drop(ctx, key) // the ownership blob (and checkpoint) of a blob that is gone
	}
	if _, ok := r.cps[key]; !ok {
		r.stats.forget(key)
		return
	}
	delete(r.cps, key)
	delete(r.idPrefix, key)
	delete(r.retryAt, key)
	delete(r.failures, key)
	r.stats.forget(key)
	r.logger.Info("checkpoint dropped", zap.String("blob", key), zap.String("reason", why))
	if r.client == nil {
		return
	}
	wctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second)
	defer cancel()
	if err := r.client.Batch(wctx, storage.DeleteOperation(storageCPPrefix+key), r.indexOps()); err != nil {
		r.logger.Warn("removing a checkpoint failed", zap.String("blob", key), zap.Error(err))
	}
}

func (r *flowlogReceiver) run(ctx context.Context) {
	defer r.wg.Done()
	t := time.NewTicker(r.cfg.PollInterval)
	defer t.Stop()
	for {
		r.poll(ctx)
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

// poll lists the source once and reads what is new in every blob.
func (r *flowlogReceiver) poll(ctx context.Context) {
	var cs *coordState
	if r.coord != nil {
		// The coordination container is listed before the source (see coordinator.list).
		err := r.coord.setup(ctx)
		if err == nil {
			cs, err = r.coord.list(ctx)
		}
		if ctx.Err() != nil {
			return
		}
		if errors.Is(err, errStandby) {
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
	if r.coord != nil {
		objs = r.plan(ctx, cs, objs) // only the blobs this replica holds
	}
	for _, obj := range objs {
		if !r.process(ctx, obj) {
			return
		}
	}
	for key := range r.cps {
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
	md := r.stats.metrics(r.now())
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
	now := r.now()
	if t, ok := r.retryAt[obj.Key]; ok && now.Before(t) {
		return true
	}
	cp, known := r.cps[obj.Key]
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
	prefix, ok := r.idPrefix[obj.Key]
	if !ok {
		prefix = recordIDPrefix(obj.Key)
		r.idPrefix[obj.Key] = prefix
	}
	limit := r.cfg.MaxReadSize
	for ctx.Err() == nil {
		if r.coord != nil && !r.coord.canRead(obj.Key) {
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
		delete(r.retryAt, obj.Key)
		delete(r.failures, obj.Key)
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
		if err := r.save(ctx, obj.Key, next); err != nil && r.coord != nil {
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
	n := r.failures[obj.Key] + 1
	r.failures[obj.Key] = n
	wait := retryInitial << min(n, 10)
	if wait > retryMax || wait <= 0 {
		wait = retryMax
	}
	r.retryAt[obj.Key] = r.now().Add(wait)
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
