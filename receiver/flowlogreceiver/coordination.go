package flowlogreceiver

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/streaming"
	"github.com/Azure/azure-sdk-for-go/sdk/storage/azblob/blob"
	"github.com/Azure/azure-sdk-for-go/sdk/storage/azblob/bloberror"
	"github.com/Azure/azure-sdk-for-go/sdk/storage/azblob/blockblob"
	"github.com/Azure/azure-sdk-for-go/sdk/storage/azblob/container"
	"github.com/Azure/azure-sdk-for-go/sdk/storage/azblob/lease"
	"go.uber.org/zap"
)

// Replicas coordinate through blobs of their own in a container of the same account (never
// through the source blobs):
//
//	v1/<scope>/members/<replica_id>   one per running replica, held under a lease (heartbeat)
//	v1/<scope>/blobs/<hash of key>    one per source blob: its owner holds a lease on it, and
//	                                  its metadata holds the checkpoint of the source blob
//
// scope is a hash of the containers and prefix read, so that receivers reading different
// parts of the account do not see each other. A replica reads a source blob only while it
// holds the lease of its ownership blob, and writes the checkpoint there with the lease ID
// as a condition: a replica that lost the lease cannot move a checkpoint any more.

const metaCheckpoint = "checkpoint"

// errLeaseLost: the ownership lease of a blob is no longer held; the blob is not read.
var errLeaseLost = errors.New("ownership lease lost")

type heldBlob struct {
	lc *lease.BlobClient
	bb *blockblob.Client
	// validUntil is when the lease expires unless renewed (start of the last successful
	// acquire or renew plus the lease duration).
	validUntil time.Time
	lost       bool
}

type coordinator struct {
	cc      *container.Client
	scope   string // blob name prefix, "v1/<scope>/"
	id      string
	leaseID string
	dur     time.Duration
	logger  *zap.Logger
	now     func() time.Time

	ready bool // container and member blob exist
	// rejoined: no plan ran since setup. Leases this replica held before a restart (same
	// replica_id, same lease ID) can be taken back at once then.
	rejoined   bool
	member     *heldBlob
	memberBB   *blockblob.Client
	memberName string

	mu   sync.Mutex
	held map[string]*heldBlob // by source key

	stopRenew chan struct{}
	renewWG   sync.WaitGroup
}

// coordState is one listing of the coordination container.
type coordState struct {
	alive  int
	owners map[string]ownerEntry // by ownership blob name
}

type ownerEntry struct {
	etag   azcore.ETag
	leased bool
	cp     checkpoint
	hasCP  bool
}

// newCoordinator: self (the receiver's component ID) enters the lease ID, so that two
// receivers of one collector never share leases even with the same replica_id.
func newCoordinator(src *blobSource, cfg *CoordinationConfig, azcfg *AzureBlobConfig, self string, logger *zap.Logger, now func() time.Time) *coordinator {
	scope := coordScope(azcfg)
	id := cfg.ReplicaID
	if id == "" {
		id = defaultReplicaID()
	}
	c := &coordinator{
		cc:      src.client.ServiceClient().NewContainerClient(cfg.Container),
		scope:   "v1/" + scope + "/",
		id:      id,
		leaseID: leaseIDFor(scope, id+"\x00"+self),
		dur:     cfg.LeaseDuration,
		logger:  logger.With(zap.String("replica_id", id)),
		now:     now,
		held:    map[string]*heldBlob{},
	}
	return c
}

func coordScope(a *AzureBlobConfig) string {
	cs := append([]string(nil), a.Containers...)
	sort.Strings(cs)
	h := sha256.Sum256([]byte(strings.Join(cs, "\n") + "\x00" + a.Prefix))
	return hex.EncodeToString(h[:6])
}

// leaseIDFor derives the lease ID (a UUID) from the replica ID: a replica restarted with the
// same replica_id takes its leases back at once instead of waiting for them to expire.
func leaseIDFor(scope, id string) string {
	h := sha256.Sum256([]byte(scope + "\x00" + id))
	h[6] = h[6]&0x0f | 0x40
	h[8] = h[8]&0x3f | 0x80
	x := hex.EncodeToString(h[:16])
	return x[0:8] + "-" + x[8:12] + "-" + x[12:16] + "-" + x[16:20] + "-" + x[20:32]
}

func defaultReplicaID() string {
	host, err := os.Hostname()
	if err != nil || host == "" {
		host = "replica"
	}
	host = strings.Map(func(r rune) rune {
		if validReplicaRune(r) {
			return r
		}
		return '-'
	}, host)
	var b [4]byte
	_, _ = rand.Read(b[:])
	return fmt.Sprintf("%s-%x", host, b)
}

func validReplicaRune(r rune) bool {
	return r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '-' || r == '_' || r == '.'
}

func (c *coordinator) ownerName(key string) string {
	h := sha256.Sum256([]byte(key))
	return c.scope + "blobs/" + hex.EncodeToString(h[:16])
}

func (c *coordinator) leaseSeconds() int32 { return int32(c.dur / time.Second) }

func (c *coordinator) newHeld(bb *blockblob.Client) (*heldBlob, error) {
	id := c.leaseID
	lc, err := lease.NewBlobClient(bb, &lease.BlobClientOptions{LeaseID: &id})
	if err != nil {
		return nil, err
	}
	return &heldBlob{lc: lc, bb: bb}, nil
}

// setup creates the container and the member blob, takes the member lease and starts the
// renewer. It is retried at every poll until it succeeds.
func (c *coordinator) setup(ctx context.Context) error {
	if c.ready {
		c.mu.Lock()
		lost := c.member.lost
		c.mu.Unlock()
		if !lost {
			return nil
		}
		// The member lease was lost (this replica could not renew it in time and another
		// replica removed the member blob): announce this replica again.
		c.logger.Warn("member lease lost; joining again")
		c.stopRenewer()
		c.ready = false
	}
	if _, err := c.cc.Create(ctx, nil); err != nil && !bloberror.HasCode(err, bloberror.ContainerAlreadyExists) {
		return fmt.Errorf("creating the coordination container: %w", err)
	}
	c.memberName = c.scope + "members/" + c.id
	c.memberBB = c.cc.NewBlockBlobClient(c.memberName)
	if err := c.create(ctx, c.memberBB, []byte(c.id)); err != nil {
		return fmt.Errorf("creating the member blob: %w", err)
	}
	h, err := c.newHeld(c.memberBB)
	if err != nil {
		return err
	}
	start := c.now()
	if _, err := h.lc.AcquireLease(ctx, c.leaseSeconds(), nil); err != nil {
		if bloberror.HasCode(err, bloberror.LeaseAlreadyPresent) {
			return fmt.Errorf("replica_id %q: its member blob is leased by another replica", c.id)
		}
		return fmt.Errorf("acquiring the member lease: %w", err)
	}
	h.validUntil = start.Add(c.dur)
	c.member = h
	c.ready = true
	c.rejoined = true
	c.stopRenew = make(chan struct{})
	c.renewWG.Add(1)
	go c.renewer()
	c.logger.Info("coordination started", zap.String("container", c.cc.URL()), zap.Duration("lease_duration", c.dur))
	return nil
}

// create makes a blob unless it exists.
func (c *coordinator) create(ctx context.Context, bb *blockblob.Client, content []byte) error {
	star := azcore.ETagAny
	_, err := bb.Upload(ctx, streaming.NopCloser(bytes.NewReader(content)), &blockblob.UploadOptions{
		AccessConditions: &blob.AccessConditions{ModifiedAccessConditions: &blob.ModifiedAccessConditions{IfNoneMatch: &star}},
	})
	if err != nil && (bloberror.HasCode(err, bloberror.BlobAlreadyExists, bloberror.ConditionNotMet, bloberror.LeaseIDMissing) || statusOf(err) == 409 || statusOf(err) == 412) {
		return nil
	}
	return err
}

func statusOf(err error) int {
	var re *azcore.ResponseError
	if errors.As(err, &re) {
		return re.StatusCode
	}
	return 0
}

func leaseGone(err error) bool {
	return bloberror.HasCode(err, bloberror.LeaseIDMismatchWithBlobOperation, bloberror.LeaseIDMismatchWithLeaseOperation,
		bloberror.LeaseNotPresentWithBlobOperation, bloberror.LeaseNotPresentWithLeaseOperation, bloberror.LeaseLost,
		bloberror.LeaseIDMissing, bloberror.LeaseIsBrokenAndCannotBeRenewed, bloberror.LeaseAlreadyPresent,
		bloberror.BlobNotFound, bloberror.ContainerNotFound)
}

// renewer renews the member lease and every held lease three times per lease duration.
func (c *coordinator) renewer() {
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

func (c *coordinator) renewAll() {
	c.renew("", c.member)
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

func (c *coordinator) renew(key string, h *heldBlob) {
	ctx, cancel := context.WithTimeout(context.Background(), c.dur/3)
	defer cancel()
	start := c.now()
	_, err := h.lc.RenewLease(ctx, nil)
	c.mu.Lock()
	defer c.mu.Unlock()
	switch {
	case err == nil:
		h.validUntil = start.Add(c.dur)
	case leaseGone(err):
		h.lost = true
		c.logger.Warn("a lease was lost", zap.String("blob", key), zap.Error(err))
	default:
		c.logger.Warn("renewing a lease failed; retrying", zap.String("blob", key), zap.Error(err))
	}
}

// list reads the coordination container. It must run before the source is listed: every
// ownership blob it finds then belongs to a source blob that the source listing shows,
// unless that blob was deleted.
func (c *coordinator) list(ctx context.Context) (*coordState, error) {
	st := &coordState{owners: map[string]ownerEntry{}}
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
					st.alive++
				} else if leased {
					st.alive++
				} else if it.Properties.LeaseState != nil && *it.Properties.LeaseState != lease.StateTypeAvailable {
					// The lease of a replica that died expired: remove its member blob.
					c.deleteIf(ctx, name, etag)
				}
			case strings.HasPrefix(name, c.scope+"blobs/"):
				e := ownerEntry{etag: etag, leased: leased}
				e.cp, e.hasCP = metaCP(it.Metadata)
				st.owners[name] = e
			}
		}
	}
	if !selfSeen {
		st.alive++
	}
	return st, nil
}

func metaCP(md map[string]*string) (checkpoint, bool) {
	for k, v := range md {
		if v == nil || !strings.EqualFold(k, metaCheckpoint) {
			continue
		}
		b, err := base64.RawURLEncoding.DecodeString(*v)
		if err != nil {
			return checkpoint{}, false
		}
		cp, err := decodeCheckpoint(b)
		if err != nil {
			return checkpoint{}, false
		}
		return cp, true
	}
	return checkpoint{}, false
}

// deleteIf deletes a blob of the coordination container that is not leased and has not
// changed since it was listed.
func (c *coordinator) deleteIf(ctx context.Context, name string, etag azcore.ETag) {
	_, err := c.cc.NewBlobClient(name).Delete(ctx, &blob.DeleteOptions{
		AccessConditions: &blob.AccessConditions{ModifiedAccessConditions: &blob.ModifiedAccessConditions{IfMatch: &etag}},
	})
	if err != nil && !bloberror.HasCode(err, bloberror.BlobNotFound) {
		c.logger.Debug("not deleting a coordination blob", zap.String("name", name), zap.Error(err))
	}
}

// acquire takes the ownership lease of a source blob and returns its checkpoint as the
// ownership blob holds it now. ok is false when another replica holds it.
func (c *coordinator) acquire(ctx context.Context, key string, exists bool) (cp checkpoint, hasCP, ok bool, err error) {
	name := c.ownerName(key)
	bb := c.cc.NewBlockBlobClient(name)
	if !exists {
		if err := c.create(ctx, bb, ownerJSON(key)); err != nil {
			return checkpoint{}, false, false, err
		}
	}
	h, err := c.newHeld(bb)
	if err != nil {
		return checkpoint{}, false, false, err
	}
	start := c.now()
	if _, err := h.lc.AcquireLease(ctx, c.leaseSeconds(), nil); err != nil {
		if bloberror.HasCode(err, bloberror.LeaseAlreadyPresent, bloberror.LeaseIsBreakingAndCannotBeAcquired, bloberror.BlobNotFound) || statusOf(err) == 409 {
			return checkpoint{}, false, false, nil
		}
		return checkpoint{}, false, false, err
	}
	h.validUntil = start.Add(c.dur)
	// The lease is ours: the metadata cannot change under us any more.
	props, err := bb.GetProperties(ctx, nil)
	if err != nil {
		_, _ = h.lc.ReleaseLease(ctx, nil)
		return checkpoint{}, false, false, err
	}
	cp, hasCP = metaCP(props.Metadata)
	c.mu.Lock()
	c.held[key] = h
	c.mu.Unlock()
	return cp, hasCP, true, nil
}

// canRead reports whether the lease of a source blob is held, with at least a third of its
// duration left.
func (c *coordinator) canRead(key string) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	h := c.held[key]
	return h != nil && !h.lost && c.now().Before(h.validUntil.Add(-c.dur/3))
}

func (c *coordinator) holds(key string) (held, lost bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	h := c.held[key]
	if h == nil {
		return false, false
	}
	return true, h.lost || !c.now().Before(h.validUntil)
}

// commit writes the checkpoint of a source blob into its ownership blob, on condition that
// this replica still holds the lease.
func (c *coordinator) commit(ctx context.Context, key string, cp checkpoint) error {
	c.mu.Lock()
	h := c.held[key]
	c.mu.Unlock()
	if h == nil {
		return errLeaseLost
	}
	v := base64.RawURLEncoding.EncodeToString(encodeCheckpoint(cp))
	_, err := h.bb.SetMetadata(ctx, map[string]*string{metaCheckpoint: &v}, &blob.SetMetadataOptions{
		AccessConditions: &blob.AccessConditions{LeaseAccessConditions: &blob.LeaseAccessConditions{LeaseID: h.lc.LeaseID()}},
	})
	if err != nil {
		if leaseGone(err) {
			c.mu.Lock()
			h.lost = true
			c.mu.Unlock()
			return fmt.Errorf("%w: %w", errLeaseLost, err)
		}
		return err
	}
	return nil
}

// forget removes key from the held blobs and returns its holding, nil when it was not held
// or its lease was lost.
func (c *coordinator) forget(key string) *heldBlob {
	c.mu.Lock()
	defer c.mu.Unlock()
	h := c.held[key]
	delete(c.held, key)
	if h == nil || h.lost {
		return nil
	}
	return h
}

// release gives a blob up (its checkpoint is already written).
func (c *coordinator) release(ctx context.Context, key string) {
	h := c.forget(key)
	if h == nil {
		return
	}
	if _, err := h.lc.ReleaseLease(ctx, nil); err != nil && !leaseGone(err) {
		c.logger.Debug("releasing a lease failed; it will expire", zap.String("blob", key), zap.Error(err))
	}
}

// drop deletes the ownership blob of a source blob that is gone (retention), under its lease.
func (c *coordinator) drop(ctx context.Context, key string) {
	h := c.forget(key)
	if h == nil {
		return
	}
	_, err := h.bb.Delete(ctx, &blob.DeleteOptions{
		AccessConditions: &blob.AccessConditions{LeaseAccessConditions: &blob.LeaseAccessConditions{LeaseID: h.lc.LeaseID()}},
	})
	if err != nil && !bloberror.HasCode(err, bloberror.BlobNotFound) {
		c.logger.Debug("deleting an ownership blob failed", zap.String("blob", key), zap.Error(err))
	}
}

// heldKeys returns the source keys whose leases this replica holds.
func (c *coordinator) heldKeys() []string {
	c.mu.Lock()
	defer c.mu.Unlock()
	keys := make([]string, 0, len(c.held))
	for k := range c.held {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}

// shutdown stops renewing and releases every lease, the member lease last (graceful stop).
func (c *coordinator) shutdown(ctx context.Context) {
	c.stopRenewer()
	if !c.ready {
		return
	}
	for _, k := range c.heldKeys() {
		c.release(ctx, k)
	}
	if _, err := c.memberBB.Delete(ctx, &blob.DeleteOptions{
		AccessConditions: &blob.AccessConditions{LeaseAccessConditions: &blob.LeaseAccessConditions{LeaseID: c.member.lc.LeaseID()}},
	}); err != nil {
		c.logger.Debug("deleting the member blob failed; its lease will expire", zap.Error(err))
	}
	c.ready = false
}

func (c *coordinator) stopRenewer() {
	if c.stopRenew != nil {
		close(c.stopRenew)
		c.renewWG.Wait()
		c.stopRenew = nil
	}
}

// score orders blobs for a replica (rendezvous hashing): every replica prefers a different
// share of the blobs, which keeps them from contending for the same leases.
func (c *coordinator) score(key string) uint64 {
	h := sha256.Sum256([]byte(c.id + "\x00" + key))
	return binary.BigEndian.Uint64(h[:8])
}

// ownerJSON is the content of an ownership blob, for people looking at the container.
func ownerJSON(key string) []byte {
	b, _ := json.Marshal(map[string]string{"source": key})
	return b
}

// plan decides which of the listed blobs this replica reads in this poll: the ones whose
// leases it holds, up to its share, taking free ones when it is below its share and giving
// up those above it (and those it finished). st must have been listed before objs.
func (r *flowlogReceiver) plan(ctx context.Context, st *coordState, objs []object) []object {
	c := r.coord
	listed := make(map[string]bool, len(objs))
	var mine, free, mayBeMine []object
	exists := map[string]bool{}
	work := 0
	for _, obj := range objs {
		name := c.ownerName(obj.Key)
		listed[name] = true
		e, ok := st.owners[name]
		exists[obj.Key] = ok
		held, lost := c.holds(obj.Key)
		if held && lost {
			r.logger.Warn("ownership of a blob lost; another replica may read it", zap.String("blob", obj.Key))
			c.release(ctx, obj.Key)
			r.dropLocal(obj.Key)
			held = false
			e.leased = true
		}
		switch {
		case held:
			if cp, ok := r.cps[obj.Key]; ok && cp.AtEnd && cp.ETag == obj.ETag && r.giveUp(ctx, obj.Key) {
				continue // read to the end and unchanged since
			}
			work++
			mine = append(mine, obj)
		case ok && e.leased:
			work++
			if c.rejoined {
				mayBeMine = append(mayBeMine, obj)
			}
		case ok && e.hasCP && e.cp.AtEnd && e.cp.ETag == obj.ETag:
			// Read to the end by some replica, unchanged since.
		default:
			work++
			free = append(free, obj)
		}
	}
	for _, k := range c.heldKeys() {
		if !listed[c.ownerName(k)] {
			c.drop(ctx, k) // the source blob is gone (retention)
			r.dropLocal(k)
		}
	}
	for name, e := range st.owners {
		if !listed[name] && !e.leased {
			c.deleteIf(ctx, name, e.etag) // checkpoint of a source blob that is gone
		}
	}
	share := (work + st.alive - 1) / st.alive
	byScore := func(objs []object) {
		sort.Slice(objs, func(i, j int) bool { return c.score(objs[i].Key) > c.score(objs[j].Key) })
	}
	if len(mine) > share {
		byScore(mine)
		kept := mine[:0]
		for i, obj := range mine {
			if i < share || !r.giveUp(ctx, obj.Key) {
				kept = append(kept, obj)
			}
		}
		mine = kept
	}
	byScore(free)
	// After a restart with the same replica_id, take back the leases of the previous run
	// first (an acquire with the same lease ID succeeds; one held by another replica fails).
	free = append(mayBeMine, free...)
	c.rejoined = false
	for _, obj := range free {
		if len(mine) >= share || ctx.Err() != nil {
			break
		}
		cp, hasCP, ok, err := c.acquire(ctx, obj.Key, exists[obj.Key])
		if err != nil {
			r.stats.error("", errKindCoordination)
			r.logger.Warn("taking the ownership of a blob failed", zap.String("blob", obj.Key), zap.Error(err))
			continue
		}
		if !ok {
			continue
		}
		switch {
		case hasCP:
			r.cps[obj.Key] = cp
		case exists[obj.Key]:
			// Another replica started on it and never wrote a checkpoint: read it whole,
			// whatever start_at says.
			r.cps[obj.Key] = checkpoint{}
		}
		r.stats.track(obj.Key)
		mine = append(mine, obj)
	}
	sortObjects(mine)
	return mine
}

// giveUp releases the lease of a blob whose checkpoint is written. A blob whose last
// checkpoint write failed is kept until the write succeeds, so that progress is not lost.
func (r *flowlogReceiver) giveUp(ctx context.Context, key string) bool {
	if r.dirty[key] {
		if err := r.coord.commit(ctx, key, r.cps[key]); err != nil && !errors.Is(err, errLeaseLost) {
			return false
		}
		delete(r.dirty, key)
	}
	r.coord.release(ctx, key)
	r.dropLocal(key)
	return true
}
