package coordination

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/storage/azblob/blob"
	"github.com/Azure/azure-sdk-for-go/sdk/storage/azblob/bloberror"
	"go.uber.org/zap"
)

// Setup makes this instance hold its replica_id (container, member blob, member lease,
// claim, renewer) and is called at every poll. It returns ErrStandby while another instance
// holds the replica_id; nothing may be read then. forgotten are the source blobs whose leases
// were forgotten without a release since the last call (another instance may have moved
// their checkpoints): the caller forgets what it knows of them.
func (c *Coordinator) Setup(ctx context.Context) (forgotten []string, err error) {
	err = c.setup(ctx)
	forgotten, c.forgotten = c.forgotten, nil
	return forgotten, err
}

func (c *Coordinator) setup(ctx context.Context) error {
	if c.ready {
		c.mu.Lock()
		lost, conflict, claimed := c.member.lost, c.conflict, c.claimedLocked()
		c.mu.Unlock()
		if conflict == nil && !lost && !claimed {
			// No heartbeat for a lease duration (storage trouble, or this process was
			// paused): find out whether the replica_id is still this instance's before
			// anything else.
			if err := c.beat(ctx); err != nil {
				c.mu.Lock()
				lost, conflict = c.member.lost, c.conflict
				c.mu.Unlock()
				if conflict == nil && !lost {
					return fmt.Errorf("heartbeat: %w", err)
				}
			}
		}
		switch {
		case conflict != nil:
			c.standDown(conflict)
			return ErrStandby
		case lost:
			// The member lease or blob was lost (this replica could not renew it in time
			// and another replica removed the member blob): announce this replica again.
			c.logger.Warn("member lease lost; joining again")
			c.stopRenewer()
			c.ready = false
		default:
			return nil
		}
	}
	return c.join(ctx)
}

// join claims the replica_id for this instance, or waits while the member blob shows a
// recent heartbeat of another instance: if that heartbeat goes on, the other instance runs
// and this one stands by; if it goes stale, that instance died and this one takes over.
func (c *Coordinator) join(ctx context.Context) error {
	if _, err := c.cc.Create(ctx, nil); err != nil && !bloberror.HasCode(err, bloberror.ContainerAlreadyExists) {
		return fmt.Errorf("creating the coordination container: %w", err)
	}
	for tries := 0; ; tries++ {
		if tries == 10 {
			return errors.New("the member blob keeps changing; retrying at the next poll")
		}
		rec, err := c.readMember(ctx)
		if err != nil {
			return fmt.Errorf("reading the member blob: %w", err)
		}
		if !rec.exists {
			if err := c.create(ctx, c.memberBB, []byte(c.id)); err != nil {
				return fmt.Errorf("creating the member blob: %w", err)
			}
			continue
		}
		if rec.instance != "" && rec.instance != c.nonce && !c.stale(rec) {
			seen := c.watched
			c.watched = &rec
			switch {
			case c.standby:
				if c.now().Sub(c.conflictLogAt) >= conflictReminder {
					c.logConflict(rec, "still ")
				}
				return ErrStandby
			case seen != nil && seen.etag != rec.etag:
				// Written again since: another instance runs with this replica_id.
				c.enterStandby(rec)
				return ErrStandby
			case seen == nil:
				c.logger.Info("the member blob holds a recent heartbeat of another instance with this replica_id; waiting to see whether it still runs",
					zap.String("other_instance", rec.instance), zap.String("other_host", rec.host),
					zap.Duration("heartbeat_age", rec.age), zap.Duration("wait_at_most", c.staleAfter(rec)-rec.age))
			}
			select {
			case <-ctx.Done():
				return ctx.Err()
			case <-time.After(c.dur / 6):
			}
			tries = -1 // waiting is bounded by the record going stale
			continue
		}
		ok, err := c.claim(ctx, rec)
		if err != nil || ok {
			return err
		}
		// Another instance wrote the member blob between the read and the claim: look again.
	}
}

// readMember reads the member blob's record.
func (c *Coordinator) readMember(ctx context.Context) (memberRecord, error) {
	p, err := c.memberBB.GetProperties(ctx, nil)
	if err != nil {
		if bloberror.HasCode(err, bloberror.BlobNotFound) || statusOf(err) == 404 {
			return memberRecord{}, nil
		}
		return memberRecord{}, err
	}
	rec := memberRecord{exists: true}
	if p.ETag != nil {
		rec.etag = *p.ETag
	}
	now := c.now()
	if p.Date != nil {
		now = *p.Date
	}
	if p.LastModified != nil {
		rec.age = now.Sub(*p.LastModified)
	}
	for k, v := range p.Metadata {
		if v == nil {
			continue
		}
		switch strings.ToLower(k) {
		case metaInstance:
			rec.instance = *v
		case metaHost:
			rec.host = *v
		case metaStarted:
			rec.started = *v
		case metaLease:
			if n, err := strconv.Atoi(*v); err == nil && n > 0 && n <= 3600 {
				rec.lease = time.Duration(n) * time.Second
			}
		}
	}
	return rec, nil
}

// staleAfter is the age after which a record's instance is taken as dead: the longer of
// the two lease durations (its heartbeat comes every third of its own), plus the resolution
// of the service's timestamps.
func (c *Coordinator) staleAfter(rec memberRecord) time.Duration {
	return max(c.dur, rec.lease) + StaleMargin
}

func (c *Coordinator) stale(rec memberRecord) bool { return rec.age >= c.staleAfter(rec) }

func (c *Coordinator) memberMeta() map[string]*string {
	v := func(s string) *string { return &s }
	return map[string]*string{
		metaInstance: v(c.nonce),
		metaHost:     v(c.host),
		metaStarted:  v(c.started.UTC().Format(time.RFC3339)),
		metaLease:    v(strconv.Itoa(int(c.leaseSeconds()))),
	}
}

// claim takes the member lease and writes this instance's record on condition that the
// member blob did not change since rec was read. ok is false when it did.
func (c *Coordinator) claim(ctx context.Context, rec memberRecord) (ok bool, err error) {
	h, err := c.newHeld(c.memberBB)
	if err != nil {
		return false, err
	}
	start := c.now()
	if _, err := h.lc.AcquireLease(ctx, c.leaseSeconds(), nil); err != nil {
		switch {
		case bloberror.HasCode(err, bloberror.BlobNotFound):
			return false, nil
		case bloberror.HasCode(err, bloberror.LeaseAlreadyPresent):
			return false, fmt.Errorf("replica_id %q: its member blob is leased by another replica", c.id)
		}
		return false, fmt.Errorf("acquiring the member lease: %w", err)
	}
	etag := rec.etag
	resp, err := c.memberBB.SetMetadata(ctx, c.memberMeta(), &blob.SetMetadataOptions{AccessConditions: &blob.AccessConditions{
		LeaseAccessConditions:    &blob.LeaseAccessConditions{LeaseID: h.lc.LeaseID()},
		ModifiedAccessConditions: &blob.ModifiedAccessConditions{IfMatch: &etag},
	}})
	if err != nil {
		if bloberror.HasCode(err, bloberror.ConditionNotMet, bloberror.BlobNotFound) {
			return false, nil
		}
		return false, fmt.Errorf("writing the member blob: %w", err)
	}
	c.mu.Lock()
	// Unless the member blob is as this instance left it, another instance may have held
	// the replica_id meanwhile and moved the checkpoints: forget what is held here.
	keep := c.memberETag != "" && c.memberETag == rec.etag
	if resp.ETag != nil {
		c.memberETag = *resp.ETag
	}
	c.beatAt = start
	c.conflict = nil
	c.mu.Unlock()
	if !keep {
		c.forgetAll()
	}
	if rec.instance != "" && rec.instance != c.nonce {
		c.logger.Info("replica_id taken over from an instance that stopped without leaving (its heartbeat is stale)",
			zap.String("other_instance", rec.instance), zap.String("other_host", rec.host), zap.String("other_started", rec.started),
			zap.Duration("heartbeat_age", rec.age))
	}
	if c.standby {
		c.standby = false
		c.tel.ReceiverFlowlogReplicaStandby.Record(context.Background(), 0)
		c.logger.Info("the other instance with this replica_id is gone; this one reads now")
	}
	c.watched = nil
	h.validUntil = start.Add(c.dur)
	c.member = h
	c.ready = true
	c.rejoined = true
	c.stopRenew = make(chan struct{})
	c.renewWG.Add(1)
	go c.renewer()
	c.logger.Info("coordination started", zap.String("container", c.cc.URL()), zap.Duration("lease_duration", c.dur), zap.String("instance", c.nonce))
	return true, nil
}

// standDown stops this instance after a heartbeat found that another instance took its
// replica_id over. Nothing is released or deleted: the leases, shared through the lease ID,
// are the other instance's now.
func (c *Coordinator) standDown(rec *memberRecord) {
	c.stopRenewer()
	c.ready = false
	c.mu.Lock()
	c.conflict = nil
	c.mu.Unlock()
	c.forgetAll()
	c.watched = rec
	c.enterStandby(*rec)
}

func (c *Coordinator) enterStandby(rec memberRecord) {
	c.standby = true
	c.tel.ReceiverFlowlogReplicaIDConflicts.Add(context.Background(), 1)
	c.tel.ReceiverFlowlogReplicaStandby.Record(context.Background(), 1)
	c.logConflict(rec, "")
}

func (c *Coordinator) logConflict(rec memberRecord, still string) {
	c.conflictLogAt = c.now()
	c.logger.Error(fmt.Sprintf("replica_id %q is %sused by another running instance: this instance stands by and reads nothing until that one stops; give every replica its own coordination.replica_id (for example the pod name)", c.id, still),
		zap.String("instance", c.nonce), zap.String("other_instance", rec.instance), zap.String("other_host", rec.host),
		zap.String("other_started", rec.started), zap.Duration("other_heartbeat_age", rec.age))
}

// forgetAll forgets every held blob without releasing, and notes it for the caller (Setup).
func (c *Coordinator) forgetAll() {
	c.mu.Lock()
	keys := make([]string, 0, len(c.held))
	for k := range c.held {
		keys = append(keys, k)
	}
	c.held = map[string]*heldBlob{}
	c.mu.Unlock()
	sort.Strings(keys)
	c.forgotten = append(c.forgotten, keys...)
}
