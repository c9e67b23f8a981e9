package flowlogreceiver

import (
	"context"
	"errors"

	"go.uber.org/zap"

	"github.com/erviz/otelcol-erviz/receiver/flowlogreceiver/internal/coordination"
)

// leases is what the receiver needs of the coordination of replicas: the blob leases that
// say which replica reads which blob, and the checkpoints kept next to them.
// *coordination.Coordinator implements it on Azure Blob Storage.
type leases interface {
	// Setup makes this instance hold its replica_id (coordination.ErrStandby while another
	// instance does) and returns the blobs whose leases were forgotten since its last call.
	Setup(ctx context.Context) (forgotten []string, err error)
	// List reads the leases and checkpoints; it runs before the source is listed.
	List(ctx context.Context) (*coordination.State, error)
	OwnerName(key string) string
	// Holds reports whether this replica holds a blob's lease, and whether it was lost.
	Holds(key string) (held, lost bool)
	CanRead(key string) bool
	// Acquire takes a blob's lease and returns its checkpoint (nil: none); ok is false when
	// another replica holds it. exists: the lease's blob was listed.
	Acquire(ctx context.Context, key string, exists bool) (cp []byte, ok bool, err error)
	Commit(ctx context.Context, key string, cp []byte) error
	// Release gives a lease up; Drop deletes the lease and checkpoint of a blob that is gone.
	Release(ctx context.Context, key string)
	Drop(ctx context.Context, key string)
	// Prune drops what belongs to blobs no longer listed and returns the held ones dropped.
	Prune(ctx context.Context, st *coordination.State, listed []string) (dropped []string)
	TakeRejoined() bool
	Score(key string) uint64
	Shutdown(ctx context.Context)
}

// leasedShare returns the listed blobs this replica reads in this poll: the ones whose leases
// it holds, up to its share, taking free ones when it is below its share and giving up those
// above it (and those it finished). st must have been listed before objs.
func (r *flowlogReceiver) leasedShare(ctx context.Context, st *coordination.State, objs []object) []object {
	l := r.leases
	cands := make([]coordination.Candidate, 0, len(objs))
	listed := make([]string, 0, len(objs))
	byKey := make(map[string]object, len(objs))
	exists := map[string]bool{}
	for _, obj := range objs {
		listed = append(listed, obj.Key)
		byKey[obj.Key] = obj
		e, ok := st.Owners[l.OwnerName(obj.Key)]
		exists[obj.Key] = ok
		held, lost := l.Holds(obj.Key)
		if held && lost {
			r.logger.Warn("ownership of a blob lost; another replica may read it", zap.String("blob", obj.Key))
			l.Release(ctx, obj.Key)
			r.forgetLocal(obj.Key)
			held = false
			e.Leased = true
		}
		if held {
			if cp, ok := r.checkpointed(obj.Key); ok && cp.AtEnd && cp.ETag == obj.ETag && r.giveUp(ctx, obj.Key) {
				continue // read to the end and unchanged since
			}
		}
		c := coordination.Candidate{Key: obj.Key, Held: held, Leased: ok && e.Leased}
		if ok && e.Checkpoint != nil {
			if cp, err := decodeCheckpoint(e.Checkpoint); err == nil && cp.AtEnd && cp.ETag == obj.ETag {
				c.Done = true // read to the end by some replica, unchanged since
			}
		}
		cands = append(cands, c)
	}
	for _, k := range l.Prune(ctx, st, listed) {
		r.forgetLocal(k) // the source blob is gone (retention)
	}
	a := coordination.Assign(cands, st.Alive, l.TakeRejoined(), l.Score)
	mine := a.Keep
	for _, k := range a.GiveUp {
		if !r.giveUp(ctx, k) {
			mine = append(mine, k)
		}
	}
	for _, k := range a.Take {
		if len(mine) >= a.Share || ctx.Err() != nil {
			break
		}
		raw, ok, err := l.Acquire(ctx, k, exists[k])
		if err != nil {
			r.stats.error("", errKindCoordination)
			r.logger.Warn("taking the ownership of a blob failed", zap.String("blob", k), zap.Error(err))
			continue
		}
		if !ok {
			continue
		}
		b := r.blob(k)
		if cp, err := decodeCheckpoint(raw); raw != nil && err == nil {
			b.cp, b.known = cp, true
		} else if exists[k] {
			// Another replica started on it and never wrote a checkpoint: read it whole,
			// whatever start_at says.
			b.cp, b.known = checkpoint{}, true
		}
		r.stats.track(k)
		mine = append(mine, k)
	}
	out := make([]object, 0, len(mine))
	for _, k := range mine {
		out = append(out, byKey[k])
	}
	sortObjects(out)
	return out
}

// giveUp releases the lease of a blob whose checkpoint is written. A blob whose last
// checkpoint write failed is kept until the write succeeds, so that progress is not lost.
func (r *flowlogReceiver) giveUp(ctx context.Context, key string) bool {
	if b := r.blobs[key]; b != nil && b.dirty {
		if err := r.leases.Commit(ctx, key, encodeCheckpoint(b.cp)); err != nil && !errors.Is(err, coordination.ErrLeaseLost) {
			return false
		}
		b.dirty = false
	}
	r.leases.Release(ctx, key)
	r.forgetLocal(key)
	return true
}
