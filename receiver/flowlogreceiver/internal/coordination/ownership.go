package coordination

import (
	"context"
	"encoding/base64"
	"fmt"
	"sort"
	"strings"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore"
	"github.com/Azure/azure-sdk-for-go/sdk/storage/azblob/blob"
	"github.com/Azure/azure-sdk-for-go/sdk/storage/azblob/bloberror"
	"github.com/Azure/azure-sdk-for-go/sdk/storage/azblob/container"
	"github.com/Azure/azure-sdk-for-go/sdk/storage/azblob/lease"
	"go.uber.org/zap"
)

// List reads the coordination container. It must run before the source is listed: every
// ownership blob it finds then belongs to a source blob that the source listing shows,
// unless that blob was deleted.
func (c *Coordinator) List(ctx context.Context) (*State, error) {
	st := &State{Owners: map[string]Owner{}}
	prefix := c.scope
	pager := c.cc.NewListBlobsFlatPager(&container.ListBlobsFlatOptions{Prefix: &prefix, Include: container.ListBlobsInclude{Metadata: true}})
	selfSeen := false
	for pager.More() {
		page, err := pager.NextPage(ctx)
		if err != nil {
			return nil, fmt.Errorf("listing the coordination container: %w", err)
		}
		for _, it := range page.Segment.BlobItems {
			if it.Name == nil || it.Properties == nil {
				continue
			}
			name := *it.Name
			leased := it.Properties.LeaseState != nil && *it.Properties.LeaseState == lease.StateTypeLeased
			var etag azcore.ETag
			if it.Properties.ETag != nil {
				etag = *it.Properties.ETag
			}
			switch {
			case strings.HasPrefix(name, c.scope+"members/"):
				if name == c.memberName {
					selfSeen = true
					st.Alive++
				} else if leased {
					st.Alive++
				} else if it.Properties.LeaseState != nil && *it.Properties.LeaseState != lease.StateTypeAvailable {
					// The lease of a replica that died expired: remove its member blob.
					c.DeleteIf(ctx, name, etag)
				}
			case strings.HasPrefix(name, c.scope+"blobs/"):
				st.Owners[name] = Owner{ETag: etag, Leased: leased, Checkpoint: metaCheckpointOf(it.Metadata)}
			}
		}
	}
	if !selfSeen {
		st.Alive++
	}
	return st, nil
}

// metaCheckpointOf returns the checkpoint held in an ownership blob's metadata, nil when
// there is none (or it is not base64).
func metaCheckpointOf(md map[string]*string) []byte {
	for k, v := range md {
		if v == nil || !strings.EqualFold(k, MetaCheckpoint) {
			continue
		}
		b, err := base64.RawURLEncoding.DecodeString(*v)
		if err != nil {
			return nil
		}
		return b
	}
	return nil
}

// DeleteIf deletes a blob of the coordination container that is not leased and has not
// changed since it was listed.
func (c *Coordinator) DeleteIf(ctx context.Context, name string, etag azcore.ETag) {
	_, err := c.cc.NewBlobClient(name).Delete(ctx, &blob.DeleteOptions{
		AccessConditions: &blob.AccessConditions{ModifiedAccessConditions: &blob.ModifiedAccessConditions{IfMatch: &etag}},
	})
	if err != nil && !bloberror.HasCode(err, bloberror.BlobNotFound) {
		c.logger.Debug("not deleting a coordination blob", zap.String("name", name), zap.Error(err))
	}
}

// Acquire takes the ownership lease of a source blob and returns its checkpoint as the
// ownership blob holds it now. ok is false when another replica holds it.
func (c *Coordinator) Acquire(ctx context.Context, key string, exists bool) (cp []byte, ok bool, err error) {
	if !c.claimed() {
		return nil, false, nil
	}
	name := c.OwnerName(key)
	bb := c.cc.NewBlockBlobClient(name)
	if !exists {
		if err := c.create(ctx, bb, ownerJSON(key)); err != nil {
			return nil, false, err
		}
	}
	h, err := c.newHeld(bb)
	if err != nil {
		return nil, false, err
	}
	start := c.now()
	if _, err := h.lc.AcquireLease(ctx, c.leaseSeconds(), nil); err != nil {
		if bloberror.HasCode(err, bloberror.LeaseAlreadyPresent, bloberror.LeaseIsBreakingAndCannotBeAcquired, bloberror.BlobNotFound) || statusOf(err) == 409 {
			return nil, false, nil
		}
		return nil, false, err
	}
	h.validUntil = c.leaseEnd(start)
	// The lease is ours: the metadata cannot change under us any more.
	props, err := bb.GetProperties(ctx, nil)
	if err != nil {
		_, _ = h.lc.ReleaseLease(ctx, nil)
		return nil, false, err
	}
	cp = metaCheckpointOf(props.Metadata)
	c.mu.Lock()
	c.held[key] = h
	c.mu.Unlock()
	return cp, true, nil
}

// CanRead reports whether the lease of a source blob is held, with at least a third of its
// duration left.
func (c *Coordinator) CanRead(key string) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	h := c.held[key]
	return h != nil && !h.lost && c.now().Before(h.validUntil.Add(-c.dur/3))
}

func (c *Coordinator) Holds(key string) (held, lost bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	h := c.held[key]
	if h == nil {
		return false, false
	}
	return true, h.lost || !c.now().Before(h.validUntil)
}

// Commit writes the checkpoint of a source blob into its ownership blob, on condition that
// this replica still holds the lease.
func (c *Coordinator) Commit(ctx context.Context, key string, cp []byte) error {
	c.mu.Lock()
	h := c.held[key]
	claimed := c.claimedLocked()
	c.mu.Unlock()
	if h == nil || !claimed {
		return ErrLeaseLost
	}
	v := base64.RawURLEncoding.EncodeToString(cp)
	_, err := h.bb.SetMetadata(ctx, map[string]*string{MetaCheckpoint: &v}, &blob.SetMetadataOptions{
		AccessConditions: &blob.AccessConditions{LeaseAccessConditions: &blob.LeaseAccessConditions{LeaseID: h.lc.LeaseID()}},
	})
	if err != nil {
		if leaseGone(err) {
			c.mu.Lock()
			h.lost = true
			c.mu.Unlock()
			return fmt.Errorf("%w: %w", ErrLeaseLost, err)
		}
		return err
	}
	return nil
}

// forget removes key from the held blobs and returns its holding, nil when it was not held
// or its lease was lost.
func (c *Coordinator) forget(key string) *heldBlob {
	c.mu.Lock()
	defer c.mu.Unlock()
	h := c.held[key]
	delete(c.held, key)
	if h == nil || h.lost {
		return nil
	}
	return h
}

// Release gives a blob up (its checkpoint is already written). Without a claim on the
// replica_id the blob is only forgotten: the lease may be another instance's.
func (c *Coordinator) Release(ctx context.Context, key string) {
	h := c.forget(key)
	if h == nil || !c.claimed() {
		return
	}
	if _, err := h.lc.ReleaseLease(ctx, nil); err != nil && !leaseGone(err) {
		c.logger.Debug("releasing a lease failed; it will expire", zap.String("blob", key), zap.Error(err))
	}
}

// Drop deletes the ownership blob of a source blob that is gone (retention), under its lease.
func (c *Coordinator) Drop(ctx context.Context, key string) {
	h := c.forget(key)
	if h == nil || !c.claimed() {
		return
	}
	_, err := h.bb.Delete(ctx, &blob.DeleteOptions{
		AccessConditions: &blob.AccessConditions{LeaseAccessConditions: &blob.LeaseAccessConditions{LeaseID: h.lc.LeaseID()}},
	})
	if err != nil && !bloberror.HasCode(err, bloberror.BlobNotFound) {
		c.logger.Debug("deleting an ownership blob failed", zap.String("blob", key), zap.Error(err))
	}
}

// HeldKeys returns the source keys whose leases this replica holds.
func (c *Coordinator) HeldKeys() []string {
	c.mu.Lock()
	defer c.mu.Unlock()
	keys := make([]string, 0, len(c.held))
	for k := range c.held {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}

// Shutdown stops renewing and releases every lease, the member lease last (graceful stop).
// An instance standing by, or whose claim on the replica_id lapsed, leaves everything as it
// is (the leases may be another instance's).
func (c *Coordinator) Shutdown(ctx context.Context) {
	c.stopRenewer()
	if !c.ready {
		return
	}
	c.ready = false
	if !c.claimed() {
		c.logger.Info("not releasing the leases: this instance's claim on the replica_id lapsed")
		return
	}
	for _, k := range c.HeldKeys() {
		c.Release(ctx, k)
	}
	c.mu.Lock()
	etag := c.memberETag
	c.mu.Unlock()
	if _, err := c.memberBB.Delete(ctx, &blob.DeleteOptions{AccessConditions: &blob.AccessConditions{
		LeaseAccessConditions:    &blob.LeaseAccessConditions{LeaseID: c.member.lc.LeaseID()},
		ModifiedAccessConditions: &blob.ModifiedAccessConditions{IfMatch: &etag},
	}}); err != nil {
		c.logger.Debug("deleting the member blob failed; its lease will expire", zap.Error(err))
	}
}

// TakeRejoined reports whether no assignment ran since this instance (re)claimed its
// replica_id, and notes that one runs now. Leases this replica held before a restart (same
// replica_id, same lease ID) can be taken back at once then.
func (c *Coordinator) TakeRejoined() bool {
	r := c.rejoined
	c.rejoined = false
	return r
}

// Prune removes what belongs to source blobs that are no longer listed (retention): the
// ownership blobs of held ones, under their leases, and those nobody holds. It returns the
// held source keys it dropped. st must have been listed before the source.
func (c *Coordinator) Prune(ctx context.Context, st *State, listed []string) (dropped []string) {
	names := make(map[string]bool, len(listed))
	for _, k := range listed {
		names[c.OwnerName(k)] = true
	}
	for _, k := range c.HeldKeys() {
		if !names[c.OwnerName(k)] {
			c.Drop(ctx, k)
			dropped = append(dropped, k)
		}
	}
	for name, e := range st.Owners {
		if !names[name] && !e.Leased {
			c.DeleteIf(ctx, name, e.ETag) // checkpoint of a source blob that is gone
		}
	}
	return dropped
}
