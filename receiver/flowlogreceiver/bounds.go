package flowlogreceiver

import (
	"bytes"
	"context"
	"fmt"
	"os"

	"go.uber.org/zap"

	"github.com/erviz/otelcol-erviz/pkg/flowlog"
)

// Defaults of the per-record bounds. A record is one NIC's minute: hundreds to thousands of
// tuples of about 100 bytes each. Converted, a tuple allocates about 4 KB of log record, so
// the tuple bound also bounds the memory of one batch (about 200 MB at the default).
const (
	defaultMaxRecordSize   = 32 << 20
	defaultMaxRecordTuples = 50_000
)

// Error kinds of the bounds.
const (
	errKindTooLarge      = "record_too_large"
	errKindTooManyTuples = "too_many_tuples"
)

// skipOverlap is how far a search window reaches back into the previous one, so that a
// record start cut by a window boundary is still seen whole.
const skipOverlap = 256

func (c *Config) validateBounds() []error {
	var errs []error
	if c.MaxRecordSize < 64<<10 {
		errs = append(errs, fmt.Errorf("max_record_size %d is below 65536", c.MaxRecordSize))
	}
	if c.MaxRecordTuples < 1 {
		errs = append(errs, fmt.Errorf("max_record_tuples %d must be positive", c.MaxRecordTuples))
	}
	if c.Directory != "" {
		// A directory that does not exist yet may be mounted later; one that exists must be
		// a directory, or nothing would ever be listed in it.
		if info, err := os.Stat(c.Directory); err == nil && !info.IsDir() {
			errs = append(errs, fmt.Errorf("directory %q is not a directory", c.Directory))
		}
	}
	return errs
}

// applyBounds sets the parser's bounds from the configuration.
func (c *converter) applyBounds(cfg *Config) {
	c.p.MaxTuples = cfg.MaxRecordTuples
	c.p.MaxRecordBytes = int(min(cfg.MaxRecordSize, int64(^uint(0)>>1)))
}

// warnDirectory logs, at start, a configured directory that does not exist (yet).
func (r *flowlogReceiver) warnDirectory() {
	if r.cfg.Directory == "" {
		return
	}
	info, err := os.Stat(r.cfg.Directory)
	switch {
	case err != nil:
		r.logger.Warn("the flow log directory cannot be read (yet); nothing is listed until it can", zap.String("directory", r.cfg.Directory), zap.Error(err))
	case !info.IsDir():
		r.logger.Warn("the flow log directory is not a directory; nothing is listed", zap.String("directory", r.cfg.Directory))
	}
}

// growRead returns the next read size after a read that held no whole record, and false when
// the record at the checkpoint is larger than max_record_size.
func (r *flowlogReceiver) growRead(limit int64) (int64, bool) {
	if limit >= r.cfg.MaxRecordSize {
		return limit, false
	}
	return min(2*limit, r.cfg.MaxRecordSize), true
}

// skipRecord moves the checkpoint past a record larger than max_record_size without holding
// it: the bytes after its start are read in windows of max_read_size and searched for the
// start of the next record. When the data ends first, the checkpoint stays inside the
// record, marked Skip, and the next reads go on searching from there: the record is skipped
// once, never read again. fresh is true when the record was just found (it is then counted
// and logged). It returns the new checkpoint, already saved, and whether the blob may be read
// further in this poll.
func (r *flowlogReceiver) skipRecord(ctx context.Context, obj object, cp checkpoint, fresh bool) (checkpoint, bool) {
	if fresh {
		r.stats.error(obj.Key, errKindTooLarge)
		r.logger.Warn("a flow log record is larger than max_record_size; skipped",
			zap.String("blob", obj.Key), zap.Int64("offset", cp.Offset), zap.Int64("max_record_size", r.cfg.MaxRecordSize))
		cp.Skip = true
	}
	from := 0
	for ctx.Err() == nil {
		ch, err := r.src.Read(ctx, obj, checkpoint{Offset: cp.Offset}, r.cfg.MaxReadSize)
		if err != nil {
			r.readFailed(ctx, obj, err)
			return cp, false
		}
		r.stats.chunk(obj.Key, ch.Downloaded, nil)
		if ch.Reset != "" || ch.Offset != cp.Offset {
			// The blob changed under the checkpoint: read it again from its start.
			r.logger.Warn("blob changed while a record was skipped; reading it again from the start", zap.String("blob", obj.Key), zap.String("reason", ch.Reset))
			next := checkpoint{}
			_ = r.save(ctx, obj.Key, next)
			return next, true
		}
		if fresh {
			// The window starts at the oversized record (after a comma, maybe): search after
			// its opening brace.
			from = bytes.IndexByte(ch.Data, '{') + 1
			fresh = false
		}
		if j := flowlog.NextRecord(ch.Data, from); j >= 0 {
			next := checkpoint{Offset: ch.Offset + int64(j)}
			r.logger.Info("reading again after a skipped record", zap.String("blob", obj.Key), zap.Int64("offset", next.Offset))
			if err := r.save(ctx, obj.Key, next); err != nil {
				return next, false
			}
			return next, true
		}
		end := ch.Offset + int64(len(ch.Data))
		if ch.AtEnd {
			next := checkpoint{Offset: end, ETag: ch.ETag, AtEnd: true}
			if !ch.Complete {
				// The record may still be growing: search on from here at the next change.
				next.Offset = max(cp.Offset, end-skipOverlap)
				next.Skip = true
			}
			_ = r.save(ctx, obj.Key, next)
			return next, false
		}
		cp = checkpoint{Offset: max(cp.Offset+1, end-skipOverlap), Skip: true}
		from = 0
	}
	return cp, false
}

// skipBlock moves the checkpoint past a block larger than max_record_size, which the source
// did not download. It returns the new checkpoint and whether the blob may be read further.
func (r *flowlogReceiver) skipBlock(ctx context.Context, obj object, ch chunk) (checkpoint, bool) {
	r.stats.error(obj.Key, errKindTooLarge)
	r.logger.Warn("a flow log block is larger than max_record_size; skipped without downloading it",
		zap.String("blob", obj.Key), zap.Int64("offset", ch.Offset), zap.Int64("size", ch.SkipEnd-ch.Offset),
		zap.Int64("max_record_size", r.cfg.MaxRecordSize))
	next := checkpoint{Offset: ch.SkipEnd, BlockID: ch.EndBlockID}
	if ch.AtEnd {
		next.ETag, next.AtEnd = ch.ETag, true
	}
	if err := r.save(ctx, obj.Key, next); err != nil {
		return next, false
	}
	return next, !ch.AtEnd
}
