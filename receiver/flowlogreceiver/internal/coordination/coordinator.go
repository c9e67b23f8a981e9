package coordination

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/sha256"
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
	MetaCheckpoint = "checkpoint"
	// Metadata of the member blob: the instance holding the replica_id.
	metaInstance = "instance" // random nonce drawn at Start
	metaHost     = "host"
	metaStarted  = "started"
	metaLease    = "lease" // lease_duration in seconds: how long its heartbeat stays fresh
	// StaleMargin: Last-Modified and Date have a resolution of one second.
	StaleMargin = 2 * time.Second
	// conflictReminder: how often a replica standing by logs the conflict again.
	conflictReminder = 5 * time.Minute
)

// ErrLeaseLost: the ownership lease of a blob is no longer held; the blob is not read.
var ErrLeaseLost = errors.New("ownership lease lost")

// ErrStandby: another instance runs with this replica_id; this one reads nothing.
var ErrStandby = errors.New("standing by: another instance runs with this replica_id")

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

type Coordinator struct {
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
	// forgotten are the source keys whose leases were forgotten without a release since the
	// last Setup (poll goroutine only): Setup hands them to the caller, which forgets them too.
	forgotten []string

	ready bool // container and member blob exist, and this instance holds the replica_id
	// rejoined: no assignment ran since setup. Leases this replica held before a restart (same
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

// State is one listing of the coordination container.
type State struct {
	// Alive is the number of running replicas (this one included).
	Alive int
	// Owners are the ownership blobs, by ownership blob name (see OwnerName).
	Owners map[string]Owner
}

// Owner is one ownership blob as listed.
type Owner struct {
	ETag azcore.ETag
	// Leased: some replica (maybe this one) holds its lease.
	Leased bool
	// Checkpoint is the checkpoint of the source blob written there (nil when none), in the
	// encoding the caller passed to Commit.
	Checkpoint []byte
}

// Settings configure a Coordinator.
type Settings struct {
	// Container is the coordination container (created when missing).
	Container *container.Client
	// Scope names the part of the account the receiver reads (see Scope).
	Scope string
	// ReplicaID is coordination.replica_id ("" draws one from the host name).
	ReplicaID string
	// Self is the receiver's component ID: it enters the lease ID, so that two receivers of
	// one collector never share leases even with the same replica_id.
	Self          string
	LeaseDuration time.Duration
	Logger        *zap.Logger
	Now           func() time.Time
	Telemetry     *metadata.TelemetryBuilder
}

// New returns a coordinator; nothing is written before the first Setup.
func New(set Settings) *Coordinator {
	scope := set.Scope
	id := set.ReplicaID
	if id == "" {
		id = DefaultReplicaID()
	}
	now := set.Now
	if now == nil {
		now = time.Now
	}
	var nb [16]byte
	_, _ = rand.Read(nb[:])
	host, _ := os.Hostname()
	c := &Coordinator{
		cc:      set.Container,
		scope:   "v1/" + scope + "/",
		id:      id,
		leaseID: leaseIDFor(scope, id+"\x00"+set.Self),
		dur:     set.LeaseDuration,
		logger:  set.Logger.With(zap.String("replica_id", id)),
		now:     now,
		held:    map[string]*heldBlob{},
		nonce:   hex.EncodeToString(nb[:]),
		host:    strings.Map(headerSafe, host),
		started: now(),
		tel:     set.Telemetry,
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

// Scope names the part of an account a receiver reads (its containers and prefix), so that
// receivers reading different parts do not see each other.
func Scope(containers []string, prefix string) string {
	cs := append([]string(nil), containers...)
	sort.Strings(cs)
	h := sha256.Sum256([]byte(strings.Join(cs, "\n") + "\x00" + prefix))
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

// DefaultReplicaID is the replica_id of a replica configured without one: the host name and
// a random suffix.
func DefaultReplicaID() string {
	host, err := os.Hostname()
	if err != nil || host == "" {
		host = "replica"
	}
	host = strings.Map(func(r rune) rune {
		if ValidReplicaRune(r) {
			return r
		}
		return '-'
	}, host)
	var b [4]byte
	_, _ = rand.Read(b[:])
	return fmt.Sprintf("%s-%x", host, b)
}

// ValidReplicaRune reports whether r may appear in a replica_id.
func ValidReplicaRune(r rune) bool {
	return r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '-' || r == '_' || r == '.'
}

// OwnerName is the name of the ownership blob of a source blob.
func (c *Coordinator) OwnerName(key string) string {
	h := sha256.Sum256([]byte(key))
	return c.scope + "blobs/" + hex.EncodeToString(h[:16])
}

func (c *Coordinator) leaseSeconds() int32 { return int32(c.dur / time.Second) }

func (c *Coordinator) newHeld(bb *blockblob.Client) (*heldBlob, error) {
	id := c.leaseID
	lc, err := lease.NewBlobClient(bb, &lease.BlobClientOptions{LeaseID: &id})
	if err != nil {
		return nil, err
	}
	return &heldBlob{lc: lc, bb: bb}, nil
}

// create makes a blob unless it exists.
func (c *Coordinator) create(ctx context.Context, bb *blockblob.Client, content []byte) error {
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

// Score orders blobs for a replica (rendezvous hashing): every replica prefers a different
// share of the blobs, which keeps them from contending for the same leases.
func (c *Coordinator) Score(key string) uint64 {
	h := sha256.Sum256([]byte(c.id + "\x00" + key))
	return binary.BigEndian.Uint64(h[:8])
}

// ownerJSON is the content of an ownership blob, for people looking at the container.
func ownerJSON(key string) []byte {
	b, _ := json.Marshal(map[string]string{"source": key})
	return b
}
