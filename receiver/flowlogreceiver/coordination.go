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
	"strconv"
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

	"github.com/erviz/otelcol-erviz/receiver/flowlogreceiver/internal/metadata"
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
//
// The lease ID is derived from the replica ID, so two running instances with the same
// replica_id would share every lease. The member blob is therefore also the claim of one
// instance on its replica_id: each instance draws a random nonce at Start and writes it in
// the member blob's metadata, and rewrites it (heartbeat) three times per lease duration,
// each write on condition of the ETag of its previous one. An instance that finds another
// instance's nonce written less than a lease duration ago (by the service's clock) waits: if
// that record is written again, the other instance runs, and this one stands by (reads
// nothing, takes and renews no lease) until the record is deleted (graceful stop) or goes
// stale (the other died); if it goes stale first, its instance had died, and this one takes
// the replica_id over. A heartbeat that fails on its condition means another instance took
// the replica_id over (this one was paused or cut off for longer than a lease duration):
// this one stands by at once. Lease operations and checkpoint writes are made only while the
// last successful heartbeat is younger than a lease duration, so an instance that lost its
// claim never releases, or writes under, the leases the other instance now holds.

const (
	metaCheckpoint = "checkpoint"
	// Metadata of the member blob: the instance holding the replica_id.
	metaInstance = "instance" // random nonce drawn at Start
	metaHost     = "host"
	metaStarted  = "started"
	metaLease    = "lease" // lease_duration in seconds: how long its heartbeat stays fresh
	// staleMargin: Last-Modified and Date have a resolution of one second.
	staleMargin = 2 * time.Second
	// conflictReminder: how often a replica standing by logs the conflict again.
	conflictReminder = 5 * time.Minute
)

// errLeaseLost: the ownership lease of a blob is no longer held; the blob is not read.
var errLeaseLost = errors.New("ownership lease lost")

// errStandby: another instance runs with this replica_id; this one reads nothing.
var errStandby = errors.New("standing by: another instance runs with this replica_id")

// errConflict: a heartbeat found that another instance took this replica_id over.
var errConflict = errors.New("another instance took this replica_id over")

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

	// nonce identifies this instance (drawn at Start); host and started are written next to
	// it for the operator of the other instance.
	nonce   string
	host    string
	started time.Time
	tel     *metadata.TelemetryBuilder
	// dropLocal makes the receiver forget a blob whose lease is forgotten without a release
	// (called on the poll goroutine only).
	dropLocal func(key string)

	ready bool // container and member blob exist, and this instance holds the replica_id
	// rejoined: no plan ran since setup. Leases this replica held before a restart (same
	// replica_id, same lease ID) can be taken back at once then.
	rejoined   bool
	member     *heldBlob
	memberBB   *blockblob.Client
	memberName string

	// Poll goroutine only: standby is true while another instance holds the replica_id;
	// watched is the last record of another instance seen in the member blob.
	standby       bool
	watched       *memberRecord
	conflictLogAt time.Time

	beatMu sync.Mutex // one heartbeat at a time (renewer and poll goroutine)

	mu   sync.Mutex
	held map[string]*heldBlob // by source key
	// memberETag is the ETag of this instance's last write of the member blob, beatAt the
	// start of that write: the claim on the replica_id holds until beatAt + dur.
	memberETag azcore.ETag
	beatAt     time.Time
	// conflict is the record of the instance that took the replica_id over, found by a
	// heartbeat (renewer goroutine); the poll goroutine stands by when it sees it.
	conflict *memberRecord

	stopRenew chan struct{}
	renewWG   sync.WaitGroup
}

// memberRecord is what the member blob says of the instance holding the replica_id.
type memberRecord struct {
	exists   bool
	etag     azcore.ETag
	instance string
	host     string
	started  string
	lease    time.Duration
	// age is the time since the last write, by the service's clock (Date - Last-Modified).
	age time.Duration
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
func newCoordinator(src *blobSource, cfg *CoordinationConfig, azcfg *AzureBlobConfig, self string, logger *zap.Logger, now func() time.Time, tel *metadata.TelemetryBuilder) *coordinator {
	scope := coordScope(azcfg)
	id := cfg.ReplicaID
	if id == "" {
		id = defaultReplicaID()
	}
	var nb [16]byte
	_, _ = rand.Read(nb[:])
	host, _ := os.Hostname()
	c := &coordinator{
		cc:        src.client.ServiceClient().NewContainerClient(cfg.Container),
		scope:     "v1/" + scope + "/",
		id:        id,
		leaseID:   leaseIDFor(scope, id+"\x00"+self),
		dur:       cfg.LeaseDuration,
		logger:    logger.With(zap.String("replica_id", id)),
		now:       now,
		held:      map[string]*heldBlob{},
		nonce:     hex.EncodeToString(nb[:]),
		host:      strings.Map(headerSafe, host),
		started:   now(),
		tel:       tel,
		dropLocal: func(string) {},
	}
	c.memberName = c.scope + "members/" + c.id
	c.memberBB = c.cc.NewBlockBlobClient(c.memberName)
	return c
}

// headerSafe keeps metadata values printable ASCII.
func headerSafe(r rune) rune {
	if r < 0x20 || r > 0x7e {
		return '?'
	}
	return r
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

// setup makes this instance hold its replica_id (container, member blob, member lease,
// claim, renewer) and is called at every poll. It returns errStandby while another instance
// holds the replica_id; nothing may be read then.
func (c *coordinator) setup(ctx context.Context) error {
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
			return errStandby
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
func (c *coordinator) join(ctx context.Context) error {
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
				return errStandby
			case seen != nil && seen.etag != rec.etag:
				// Written again since: another instance runs with this replica_id.
				c.enterStandby(rec)
				return errStandby
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
func (c *coordinator) readMember(ctx context.Context) (memberRecord, error) {
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
func (c *coordinator) staleAfter(rec memberRecord) time.Duration {
	return max(c.dur, rec.lease) + staleMargin
}

func (c *coordinator) stale(rec memberRecord) bool { return rec.age >= c.staleAfter(rec) }

func (c *coordinator) memberMeta() map[string]*string {
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
func (c *coordinator) claim(ctx context.Context, rec memberRecord) (ok bool, err error) {
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

// beat renews the member lease and rewrites this instance's record on condition of the
// ETag of its previous write. On a mismatch it reads the record: another instance's means
// the replica_id was taken over (c.conflict is set and every held blob is lost).
func (c *coordinator) beat(ctx context.Context) error {
	c.beatMu.Lock()
	defer c.beatMu.Unlock()
	start := c.now()
	c.renew("", c.member)
	for try := 0; ; try++ {
		c.mu.Lock()
		etag, lost := c.memberETag, c.member.lost
		c.mu.Unlock()
		if lost {
			return errLeaseLost
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
				return errLeaseLost
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
func (c *coordinator) claimedLocked() bool {
	return c.conflict == nil && c.now().Before(c.beatAt.Add(c.dur))
}

func (c *coordinator) claimed() bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.claimedLocked()
}

// leaseEnd is when a lease renewed (or acquired) at start stops counting as held: the
// lease duration after start, or after the last heartbeat if that is older.
func (c *coordinator) leaseEnd(start time.Time) time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.beatAt.Before(start) {
		start = c.beatAt
	}
	return start.Add(c.dur)
}

// standDown stops this instance after a heartbeat found that another instance took its
// replica_id over. Nothing is released or deleted: the leases, shared through the lease ID,
// are the other instance's now.
func (c *coordinator) standDown(rec *memberRecord) {
	c.stopRenewer()
	c.ready = false
	c.mu.Lock()
	c.conflict = nil
	c.mu.Unlock()
	c.forgetAll()
	c.watched = rec
	c.enterStandby(*rec)
}

func (c *coordinator) enterStandby(rec memberRecord) {
	c.standby = true
	c.tel.ReceiverFlowlogReplicaIDConflicts.Add(context.Background(), 1)
	c.tel.ReceiverFlowlogReplicaStandby.Record(context.Background(), 1)
	c.logConflict(rec, "")
}

func (c *coordinator) logConflict(rec memberRecord, still string) {
	c.conflictLogAt = c.now()
	c.logger.Error(fmt.Sprintf("replica_id %q is %sused by another running instance: this instance stands by and reads nothing until that one stops; give every replica its own coordination.replica_id (for example the pod name)", c.id, still),
		zap.String("instance", c.nonce), zap.String("other_instance", rec.instance), zap.String("other_host", rec.host),
		zap.String("other_started", rec.started), zap.Duration("other_heartbeat_age", rec.age))
}

// forgetAll forgets every held blob here and in the receiver, without releasing.
func (c *coordinator) forgetAll() {
	c.mu.Lock()
	keys := make([]string, 0, len(c.held))
	for k := range c.held {
		keys = append(keys, k)
	}
	c.held = map[string]*heldBlob{}
	c.mu.Unlock()
	for _, k := range keys {
		c.dropLocal(k)
	}
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

// renewer writes the heartbeat, renews the member lease and every held lease three times per
// lease duration.
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
	ctx, cancel := context.WithTimeout(context.Background(), c.dur/3)
	err := c.beat(ctx)
	cancel()
	if errors.Is(err, errConflict) {
		// Another instance holds the replica_id: renew nothing (the poll stands down).
		return
	}
	if err != nil && !errors.Is(err, errLeaseLost) {
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

func (c *coordinator) renew(key string, h *heldBlob) {
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
	if !c.claimed() {
		return checkpoint{}, false, false, nil
	}
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
	h.validUntil = c.leaseEnd(start)
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
	claimed := c.claimedLocked()
	c.mu.Unlock()
	if h == nil || !claimed {
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

// release gives a blob up (its checkpoint is already written). Without a claim on the
// replica_id the blob is only forgotten: the lease may be another instance's.
func (c *coordinator) release(ctx context.Context, key string) {
	h := c.forget(key)
	if h == nil || !c.claimed() {
		return
	}
	if _, err := h.lc.ReleaseLease(ctx, nil); err != nil && !leaseGone(err) {
		c.logger.Debug("releasing a lease failed; it will expire", zap.String("blob", key), zap.Error(err))
	}
}

// drop deletes the ownership blob of a source blob that is gone (retention), under its lease.
func (c *coordinator) drop(ctx context.Context, key string) {
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
// An instance standing by, or whose claim on the replica_id lapsed, leaves everything as it
// is (the leases may be another instance's).
func (c *coordinator) shutdown(ctx context.Context) {
	c.stopRenewer()
	if !c.ready {
		return
	}
	c.ready = false
	if !c.claimed() {
		c.logger.Info("not releasing the leases: this instance's claim on the replica_id lapsed")
		return
	}
	for _, k := range c.heldKeys() {
		c.release(ctx, k)
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
