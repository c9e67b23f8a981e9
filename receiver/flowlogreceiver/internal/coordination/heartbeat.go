package coordination

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/storage/azblob/blob"
	"github.com/Azure/azure-sdk-for-go/sdk/storage/azblob/bloberror"
	"go.uber.org/zap"
)

// beat renews the member lease and rewrites this instance's record on condition of the
// ETag of its previous write. On a mismatch it reads the record: another instance's means
// the replica_id was taken over (c.conflict is set and every held blob is lost).
func (c *Coordinator) beat(ctx context.Context) error {
	c.beatMu.Lock()
	defer c.beatMu.Unlock()
	start := c.now()
	c.renew("", c.member)
	for try := 0; ; try++ {
		c.mu.Lock()
		etag, lost := c.memberETag, c.member.lost
		c.mu.Unlock()
		if lost {
			return ErrLeaseLost
		}
		resp, err := c.memberBB.SetMetadata(ctx, c.memberMeta(), &blob.SetMetadataOptions{AccessConditions: &blob.AccessConditions{
			LeaseAccessConditions:    &blob.LeaseAccessConditions{LeaseID: c.member.lc.LeaseID()},
			ModifiedAccessConditions: &blob.ModifiedAccessConditions{IfMatch: &etag},
		}})
		switch {
		case err == nil:
			c.mu.Lock()
			if resp.ETag != nil {
				c.memberETag = *resp.ETag
			}
			if start.After(c.beatAt) {
				c.beatAt = start
			}
			c.mu.Unlock()
			return nil
		case bloberror.HasCode(err, bloberror.ConditionNotMet):
			rec, rerr := c.readMember(ctx)
			if rerr != nil {
				return fmt.Errorf("%w; reading the member blob: %w", err, rerr)
			}
			c.mu.Lock()
			switch {
			case !rec.exists:
				c.member.lost = true
				c.mu.Unlock()
				return ErrLeaseLost
			case rec.instance == c.nonce && try == 0:
				// This instance's own write, whose answer was lost (and retried): go on
				// from it.
				c.memberETag = rec.etag
				c.mu.Unlock()
				continue
			case rec.instance == c.nonce:
				c.mu.Unlock()
				return err
			}
			c.conflict = &rec
			for _, h := range c.held {
				h.lost = true
			}
			c.mu.Unlock()
			return errConflict
		case leaseGone(err):
			c.mu.Lock()
			c.member.lost = true
			c.mu.Unlock()
			return err
		default:
			return err
		}
	}
}

// claimedLocked reports whether this instance still holds its replica_id for sure: no
// conflict was found and its last heartbeat is younger than a lease duration (another
// instance takes a replica_id over only once its heartbeat is older). Lease operations and
// checkpoint writes are made only then. c.mu is held.
func (c *Coordinator) claimedLocked() bool {
	return c.conflict == nil && c.now().Before(c.beatAt.Add(c.dur))
}

func (c *Coordinator) claimed() bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.claimedLocked()
}

// leaseEnd is when a lease renewed (or acquired) at start stops counting as held: the
// lease duration after start, or after the last heartbeat if that is older.
func (c *Coordinator) leaseEnd(start time.Time) time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.beatAt.Before(start) {
		start = c.beatAt
	}
	return start.Add(c.dur)
}

// renewer writes the heartbeat, renews the member lease and every held lease three times per
// lease duration.
func (c *Coordinator) renewer() {
	defer c.renewWG.Done()
	t := time.NewTicker(c.dur / 3)
	defer t.Stop()
	for {
		select {
		case <-c.stopRenew:
			return
		case <-t.C:
		}
		c.renewAll()
	}
}

func (c *Coordinator) renewAll() {
	ctx, cancel := context.WithTimeout(context.Background(), c.dur/3)
	err := c.beat(ctx)
	cancel()
	if errors.Is(err, errConflict) {
		// Another instance holds the replica_id: renew nothing (the poll stands down).
		return
	}
	if err != nil && !errors.Is(err, ErrLeaseLost) {
		c.logger.Warn("writing the heartbeat failed; retrying", zap.Error(err))
	}
	c.mu.Lock()
	keys := make([]string, 0, len(c.held))
	for k, h := range c.held {
		if !h.lost {
			keys = append(keys, k)
		}
	}
	c.mu.Unlock()
	for _, k := range keys {
		c.mu.Lock()
		h := c.held[k]
		c.mu.Unlock()
		if h != nil {
			c.renew(k, h)
		}
	}
}

func (c *Coordinator) renew(key string, h *heldBlob) {
	ctx, cancel := context.WithTimeout(context.Background(), c.dur/3)
	defer cancel()
	start := c.now()
	_, err := h.lc.RenewLease(ctx, nil)
	end := start.Add(c.dur)
	if key != "" {
		end = c.leaseEnd(start)
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	switch {
	case err == nil:
		h.validUntil = end
	case leaseGone(err):
		h.lost = true
		c.logger.Warn("a lease was lost", zap.String("blob", key), zap.Error(err))
	default:
		c.logger.Warn("renewing a lease failed; retrying", zap.String("blob", key), zap.Error(err))
	}
}

func (c *Coordinator) stopRenewer() {
	if c.stopRenew != nil {
		close(c.stopRenew)
		c.renewWG.Wait()
		c.stopRenew = nil
	}
}
