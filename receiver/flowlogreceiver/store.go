package flowlogreceiver

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"time"

	"go.opentelemetry.io/collector/extension/xextension/storage"
	"go.uber.org/zap"

	"github.com/erviz/otelcol-erviz/receiver/flowlogreceiver/internal/coordination"
)

// checkpointStore is where the checkpoints live: the storage extension (or memory) for a
// single receiver, the ownership blobs of the coordination container for replicas.
type checkpointStore interface {
	// mayRead reports whether the blob may be read (and its checkpoint moved) now.
	mayRead(key string) bool
	// write stores a blob's checkpoint; isNew is true for the first checkpoint of the blob.
	// An error means the checkpoint is not where the next reader looks: the blob is not read
	// further until a write succeeds.
	write(ctx context.Context, key string, cp checkpoint, isNew bool) error
	// remove deletes the checkpoint of a blob that is gone; known is true when the receiver
	// had a checkpoint for it.
	remove(ctx context.Context, key string, known bool)
}

// writeTimeout bounds one checkpoint write. The write goes on when shutdown begins: the
// batch before it was accepted.
const writeTimeout = 10 * time.Second

// localStore keeps the checkpoints in a storage extension (client nil: in memory only, that
// is in the receiver's blob states and nowhere else).
type localStore struct {
	client storage.Client
	logger *zap.Logger
	// keys returns the keys of every blob with a checkpoint (for the index).
	keys func() []string
}

func (s *localStore) mayRead(string) bool { return true }

func (s *localStore) indexOp() *storage.Operation {
	keys := s.keys()
	sort.Strings(keys)
	return storage.SetOperation(storageIndexKey, encodeIndex(keys))
}

// write stores the checkpoint (and the index when the blob is new). A failed write is
// logged: the blob's last batch may be read again after a restart, but reading goes on.
func (s *localStore) write(ctx context.Context, key string, cp checkpoint, isNew bool) error {
	if s.client == nil {
		return nil
	}
	ops := []*storage.Operation{storage.SetOperation(storageCPPrefix+key, encodeCheckpoint(cp))}
	if isNew {
		ops = append(ops, s.indexOp())
	}
	wctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), writeTimeout)
	defer cancel()
	if err := s.client.Batch(wctx, ops...); err != nil {
		s.logger.Error("writing a checkpoint failed; the blob's last batch may be read again after a restart", zap.String("blob", key), zap.Error(err))
	}
	return nil
}

func (s *localStore) remove(ctx context.Context, key string, known bool) {
	if s.client == nil || !known {
		return
	}
	wctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), writeTimeout)
	defer cancel()
	if err := s.client.Batch(wctx, storage.DeleteOperation(storageCPPrefix+key), s.indexOp()); err != nil {
		s.logger.Warn("removing a checkpoint failed", zap.String("blob", key), zap.Error(err))
	}
}

// load reads every checkpoint of the index from client.
func (s *localStore) load(ctx context.Context, client storage.Client) (map[string]checkpoint, error) {
	cps := map[string]checkpoint{}
	b, err := client.Get(ctx, storageIndexKey)
	if err != nil {
		return nil, fmt.Errorf("reading the checkpoint index: %w", err)
	}
	if b == nil {
		return cps, nil
	}
	keys, err := decodeIndex(b)
	if err != nil {
		s.logger.Error("checkpoint index unreadable, starting without checkpoints", zap.Error(err))
		return cps, nil
	}
	for _, k := range keys {
		v, err := client.Get(ctx, storageCPPrefix+k)
		if err != nil {
			return nil, fmt.Errorf("reading the checkpoint of %s: %w", k, err)
		}
		if v == nil {
			continue
		}
		cp, err := decodeCheckpoint(v)
		if err != nil {
			s.logger.Error("checkpoint unreadable, reading the blob again per start_at", zap.String("blob", k), zap.Error(err))
			continue
		}
		cps[k] = cp
	}
	s.logger.Info("checkpoints loaded", zap.Int("blobs", len(cps)))
	return cps, nil
}

// leaseStore keeps each checkpoint in the ownership blob of its source blob, written under
// the blob's lease.
type leaseStore struct {
	leases leases
	stats  *stats
	logger *zap.Logger
}

// mayRead: the lease is held with at least a third of its duration left.
func (s *leaseStore) mayRead(key string) bool { return s.leases.CanRead(key) }

func (s *leaseStore) write(ctx context.Context, key string, cp checkpoint, _ bool) error {
	wctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), writeTimeout)
	defer cancel()
	err := s.leases.Commit(wctx, key, encodeCheckpoint(cp))
	if err != nil {
		if !errors.Is(err, coordination.ErrLeaseLost) {
			s.stats.error(key, errKindCoordination)
		}
		s.logger.Warn("writing a checkpoint to the coordination container failed; the blob's last batch may be read again", zap.String("blob", key), zap.Error(err))
	}
	return err
}

// remove deletes the ownership blob (and checkpoint) of a blob that is gone.
func (s *leaseStore) remove(ctx context.Context, key string, _ bool) {
	s.leases.Drop(ctx, key)
}
