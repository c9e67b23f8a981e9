package flowlogreceiver

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/storage/azblob/container"
	"github.com/Azure/azure-sdk-for-go/sdk/storage/azblob/lease"
	"github.com/open-telemetry/opentelemetry-collector-contrib/extension/storage/storagetest"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/component"
	"go.opentelemetry.io/collector/component/componenttest"
	"go.opentelemetry.io/collector/config/configopaque"
	"go.opentelemetry.io/collector/consumer"
	"go.opentelemetry.io/collector/consumer/consumertest"
	"go.opentelemetry.io/collector/pdata/plog"
	"go.uber.org/zap"
	"go.uber.org/zap/zaptest"

	"github.com/erviz/otelcol-erviz/internal/schema"
	"github.com/erviz/otelcol-erviz/internal/sharedcomponent"
	"github.com/erviz/otelcol-erviz/internal/testutil"
	"github.com/erviz/otelcol-erviz/receiver/flowlogreceiver/internal/coordination"
)

// The tests here run receivers as child processes (this test binary re-executed with
// FLOWLOG_HELPER set) so that they can be killed with SIGKILL: no deferred code, no lease
// released, no checkpoint flushed.

const helperEnv = "FLOWLOG_HELPER"

// helperSpec configures a helper process.
type helperSpec struct {
	ConnStr     string
	Coordinate  bool
	ReplicaID   string
	LeaseSec    int
	StateDir    string // file_storage directory (without coordination)
	Out         string // file receiving one JSON line per accepted batch
	PollMS      int
	MaxReadSize int64
	// DieAt kills the process (SIGKILL to itself) during the DieAt-th batch: after the batch
	// was accepted (written to Out) and before its checkpoint, or with DieBefore, before it
	// was accepted.
	DieAt     int
	DieBefore bool
}

// batchLine is one accepted batch as a helper writes it.
type batchLine struct {
	N    int      `json:"n"`
	UIDs []string `json:"uids"`
	Keys []string `json:"keys"`
}

// fileSink writes every accepted batch to a file before accepting it.
type fileSink struct {
	f    *os.File
	spec helperSpec
	mu   sync.Mutex
	n    int
}

func (s *fileSink) Capabilities() consumer.Capabilities { return consumer.Capabilities{} }

func (s *fileSink) ConsumeLogs(_ context.Context, ld plog.Logs) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.n++
	die := s.spec.DieAt == s.n
	if die && s.spec.DieBefore {
		killSelf()
	}
	tmp := &sink{}
	_ = tmp.ConsumeLogs(context.Background(), ld)
	line := batchLine{N: s.n}
	for uid, c := range tmp.uids() {
		for range c {
			line.UIDs = append(line.UIDs, uid)
		}
	}
	for k, c := range tmp.keys() {
		for range c {
			line.Keys = append(line.Keys, k)
		}
	}
	b, _ := json.Marshal(line)
	if _, err := s.f.Write(append(b, '\n')); err != nil {
		return err
	}
	if die {
		killSelf()
	}
	return nil
}

func killSelf() {
	_ = syscall.Kill(os.Getpid(), syscall.SIGKILL)
	select {}
}

// TestFlowlogHelperProcess is not a test: it is the body of the helper processes.
func TestFlowlogHelperProcess(t *testing.T) {
	raw := os.Getenv(helperEnv)
	if raw == "" {
		t.Skip("runs only as a helper process of the replica tests")
	}
	var spec helperSpec
	require.NoError(t, json.Unmarshal([]byte(raw), &spec))
	f, err := os.OpenFile(spec.Out, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o600)
	require.NoError(t, err)
	defer f.Close()
	cfg := createDefaultConfig().(*Config)
	cfg.AzureBlob.ConnectionString = configopaque.String(spec.ConnStr)
	cfg.PollInterval = time.Duration(spec.PollMS) * time.Millisecond
	if spec.MaxReadSize > 0 {
		cfg.MaxReadSize = spec.MaxReadSize
	}
	var host component.Host = componenttest.NewNopHost()
	if spec.Coordinate {
		cfg.Coordination.Enabled = true
		cfg.Coordination.ReplicaID = spec.ReplicaID
		cfg.Coordination.LeaseDuration = time.Duration(spec.LeaseSec) * time.Second
	} else {
		id := storagetest.NewStorageID("flowlog")
		cfg.Storage = &id
		host = storagetest.NewStorageHost().WithExtension(id, &durableStorage{path: spec.StateDir + "/checkpoints.json"})
	}
	require.NoError(t, cfg.Validate())
	set := receiverSettings()
	set.Logger = zaptest.NewLogger(t, zaptest.Level(zap.InfoLevel))
	r, err := NewFactory().CreateLogs(context.Background(), set, cfg, &fileSink{f: f, spec: spec})
	require.NoError(t, err)
	require.NoError(t, r.Start(context.Background(), host))
	stopPolls := make(chan struct{})
	pollsDone := make(chan struct{})
	go reportPolls(r.(*sharedcomponent.Component[*flowlogReceiver]).Unwrap(), spec.Out+".polls", stopPolls, pollsDone)
	// Run until stdin closes, then stop gracefully.
	_, _ = io.Copy(io.Discard, os.Stdin)
	close(stopPolls)
	<-pollsDone
	require.NoError(t, r.Shutdown(context.Background()))
}

// reportPolls writes the number of polls the receiver did to a file whenever it changes,
// for afterHelperPolls.
func reportPolls(r *flowlogReceiver, path string, stop <-chan struct{}, done chan<- struct{}) {
	defer close(done)
	t := time.NewTicker(10 * time.Millisecond)
	defer t.Stop()
	last := int64(-1)
	for {
		select {
		case <-stop:
			return
		case <-t.C:
		}
		if n := r.polls.Load(); n != last {
			last = n
			if os.WriteFile(path+".tmp", []byte(strconv.FormatInt(n, 10)), 0o600) == nil {
				_ = os.Rename(path+".tmp", path)
			}
		}
	}
}

// polls is the number of polls the helper reported.
func (h *helper) polls() int64 {
	b, err := os.ReadFile(h.out + ".polls")
	if err != nil {
		return 0
	}
	n, _ := strconv.ParseInt(string(b), 10, 64)
	return n
}

// afterHelperPolls waits until the helper did n more polls than when called (see afterPolls).
func afterHelperPolls(t *testing.T, h *helper, n int64) {
	t.Helper()
	target := h.polls() + n
	waitFor(t, "more polls of the helper", time.Minute, func() bool { return h.polls() >= target })
}

type helper struct {
	t     *testing.T
	cmd   *exec.Cmd
	stdin io.WriteCloser
	out   string
	done  chan struct{}
	err   error
	log   *strings.Builder
	logMu *sync.Mutex
}

// output is what the helper printed so far (its log lines among them).
func (h *helper) output() string {
	h.logMu.Lock()
	defer h.logMu.Unlock()
	return h.log.String()
}

func startHelper(t *testing.T, spec helperSpec) *helper {
	t.Helper()
	if spec.Out == "" {
		spec.Out = t.TempDir() + "/out.jsonl"
	}
	if spec.PollMS == 0 {
		spec.PollMS = 150
	}
	raw, err := json.Marshal(spec)
	require.NoError(t, err)
	cmd := exec.Command(os.Args[0], "-test.run=^TestFlowlogHelperProcess$", "-test.count=1", "-test.v")
	cmd.Env = append(os.Environ(), helperEnv+"="+string(raw))
	h := &helper{t: t, cmd: cmd, out: spec.Out, done: make(chan struct{}), log: &strings.Builder{}}
	var mu sync.Mutex
	h.logMu = &mu
	cmd.Stdout = writerFunc(func(p []byte) (int, error) { mu.Lock(); defer mu.Unlock(); return h.log.Write(p) })
	cmd.Stderr = cmd.Stdout
	h.stdin, err = cmd.StdinPipe()
	require.NoError(t, err)
	require.NoError(t, cmd.Start())
	go func() {
		h.err = cmd.Wait()
		close(h.done)
	}()
	t.Cleanup(func() {
		_ = cmd.Process.Kill()
		<-h.done
		if t.Failed() || os.Getenv("FLOWLOG_HELPER_LOGS") != "" {
			mu.Lock()
			t.Logf("helper %s output:\n%s", spec.ReplicaID, h.log.String())
			mu.Unlock()
		}
	})
	return h
}

type writerFunc func(p []byte) (int, error)

func (f writerFunc) Write(p []byte) (int, error) { return f(p) }

// batches reads the batches the helper accepted so far (a line cut by a kill is ignored:
// that batch was not accepted).
func (h *helper) batches() []batchLine {
	f, err := os.Open(h.out)
	if errors.Is(err, os.ErrNotExist) {
		return nil
	}
	require.NoError(h.t, err)
	defer f.Close()
	var out []batchLine
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 1<<20), 64<<20)
	for sc.Scan() {
		var b batchLine
		if json.Unmarshal(sc.Bytes(), &b) == nil {
			out = append(out, b)
		}
	}
	return out
}

func (h *helper) exited() bool {
	select {
	case <-h.done:
		return true
	default:
		return false
	}
}

// stop closes stdin (graceful shutdown) and waits for the exit; the helper must exit 0
// (its test passed, no goroutine leaked).
func (h *helper) stop() {
	h.t.Helper()
	require.NoError(h.t, h.stdin.Close())
	select {
	case <-h.done:
	case <-time.After(60 * time.Second):
		h.t.Fatal("helper did not stop")
	}
	require.NoError(h.t, h.err, "graceful stop")
}

func (h *helper) waitKilled() {
	h.t.Helper()
	select {
	case <-h.done:
	case <-time.After(60 * time.Second):
		h.t.Fatal("helper did not die")
	}
	var ee *exec.ExitError
	require.True(h.t, errors.As(h.err, &ee), "helper exit: %v", h.err)
	ws, ok := ee.Sys().(syscall.WaitStatus)
	require.True(h.t, ok && ws.Signaled() && ws.Signal() == syscall.SIGKILL, "helper exit: %v", h.err)
}

func countAll(bs ...[]batchLine) (uids, keys map[string]int) {
	uids, keys = map[string]int{}, map[string]int{}
	for _, list := range bs {
		for _, b := range list {
			for _, u := range b.UIDs {
				uids[u]++
			}
			for _, k := range b.Keys {
				keys[k]++
			}
		}
	}
	return uids, keys
}

func covers(got, want map[string]int) bool {
	for k := range want {
		if got[k] == 0 {
			return false
		}
	}
	return true
}

// repeats returns the uids received more than once.
func repeats(uids map[string]int) map[string]int {
	out := map[string]int{}
	for u, n := range uids {
		if n > 1 {
			out[u] = n
		}
	}
	return out
}

func asSet(xs []string) map[string]int {
	m := map[string]int{}
	for _, x := range xs {
		m[x] = 2
	}
	return m
}

// coordBlobs lists the coordination container: names and whether they are leased.
func coordBlobs(t *testing.T, az *azurite) map[string]bool {
	t.Helper()
	out := map[string]bool{}
	pager := az.client.ServiceClient().NewContainerClient(DefaultCoordinationContainer).NewListBlobsFlatPager(&container.ListBlobsFlatOptions{})
	for pager.More() {
		page, err := pager.NextPage(context.Background())
		require.NoError(t, err)
		for _, it := range page.Segment.BlobItems {
			out[*it.Name] = it.Properties.LeaseState != nil && *it.Properties.LeaseState == lease.StateTypeLeased
		}
	}
	return out
}

func assertSourcesUntouched(t *testing.T, blobs []*nwBlob, etags []string) {
	t.Helper()
	for i, b := range blobs {
		p, err := b.bb.GetProperties(context.Background(), nil)
		require.NoError(t, err)
		assert.Equal(t, etags[i], string(*p.ETag), "source blob modified")
		require.NotNil(t, p.LeaseState)
		assert.Equal(t, lease.StateTypeAvailable, *p.LeaseState, "a source blob was leased")
	}
}

// TestAzuriteReplicasOneKilled: two replicas share four NICs over two hours (one finished,
// one growing); one is killed with SIGKILL right after the pipeline accepted a batch and
// before its checkpoint. Every tuple arrives; the only repeats are the tuples of that batch,
// read again by the survivor once the dead replica's leases expired.
func TestAzuriteReplicasOneKilled(t *testing.T) {
	az := startAzurite(t)
	sec := int64(1748854800)
	macs := []string{"000D3A2B1001", "000D3A2B1002", "000D3A2B1003", "000D3A2B1004"}
	var blobs, growing []*nwBlob
	for i, mac := range macs {
		old := az.newBlob(t, ContainerVNet, vnetBlobName(8, mac))
		for m := 0; m < 4; m++ {
			old.add(vnetRecord(sec-3600+int64(60*m), mac, 1000*i+100*m, 15))
		}
		blobs = append(blobs, old)
	}
	for i, mac := range macs {
		b := az.newBlob(t, ContainerVNet, vnetBlobName(9, mac))
		b.add(vnetRecord(sec, mac, 50000+1000*i, 10))
		blobs, growing = append(blobs, b), append(growing, b)
	}
	minute := 1
	grow := func() {
		for i, b := range growing {
			b.add(vnetRecord(sec+int64(60*minute), macs[i], 50000+1000*i+100*minute, 5+minute%4))
		}
		minute++
	}

	spec := helperSpec{ConnStr: az.connStr, Coordinate: true, LeaseSec: 15, MaxReadSize: 64 << 10}
	specB := spec
	specB.ReplicaID = "replica-b"
	b := startHelper(t, specB)
	waitFor(t, "replica b's first batch", 30*time.Second, func() bool { return len(b.batches()) > 0 })
	specA := spec
	specA.ReplicaID = "replica-a"
	specA.DieAt = 10
	a := startHelper(t, specA)
	for !a.exited() && minute < 200 {
		grow()
		time.Sleep(150 * time.Millisecond)
	}
	a.waitKilled()
	for i := 0; i < 5; i++ {
		grow()
	}
	var etags []string
	for _, bl := range blobs {
		etags = append(etags, bl.etag())
	}
	var docs [][]byte
	for _, bl := range blobs {
		docs = append(docs, bl.doc())
	}
	want := refTuples(t, docs...)
	aBatches := a.batches()
	require.Len(t, aBatches, specA.DieAt, "the killed replica accepted its batches up to the one it died in")
	waitFor(t, "the survivor to read everything", 90*time.Second, func() bool {
		_, keys := countAll(aBatches, b.batches())
		return covers(keys, want)
	})
	afterHelperPolls(t, b, 2) // anything read twice would have arrived
	b.stop()

	bBatches := b.batches()
	uids, keys := countAll(aBatches, bBatches)
	for k := range keys {
		assert.Contains(t, want, k, "a tuple that was never written")
	}
	aUIDs, _ := countAll(aBatches)
	bUIDs, _ := countAll(bBatches)
	t.Logf("replica a: %d batches, %d records before it was killed; replica b: %d batches, %d records; %d tuples written",
		len(aBatches), sum(aUIDs), len(bBatches), sum(bUIDs), sum(want))
	assert.NotEmpty(t, aUIDs, "replica a read a share")
	assert.NotEmpty(t, bUIDs, "replica b read a share")
	// The batch in flight when a was killed is read again by b, and nothing else is.
	inFlight := aBatches[len(aBatches)-1].UIDs
	require.NotEmpty(t, inFlight)
	assert.Equal(t, asSet(inFlight), repeats(uids), "repeats are exactly the killed replica's batch in flight")
	for _, u := range inFlight {
		assert.Equal(t, 1, aUIDs[u])
		assert.Equal(t, 1, bUIDs[u], "the survivor took the dead replica's blob over")
	}
	assert.Equal(t, sum(want), sum(keys)-len(inFlight), "every tuple, once apart from the batch in flight")

	assertSourcesUntouched(t, blobs, etags)
	left := coordBlobs(t, az)
	for name, leased := range left {
		assert.False(t, leased, "lease %s still held after the survivor stopped", name)
		assert.NotContains(t, name, "/members/", "member blobs are removed (the dead one's once expired)")
	}
}

// TestAzuriteKillBeforeCheckpoint: a replica is killed with SIGKILL in the middle of its
// second batch, before or after the pipeline accepted it, with checkpoints in file_storage
// or in the coordination container; data is added while it is down. The restarted replica
// loses nothing, and repeats only the batch that was accepted but not checkpointed.
func TestAzuriteKillBeforeCheckpoint(t *testing.T) {
	for _, tc := range []struct {
		name       string
		coordinate bool
		before     bool
	}{
		{"file_storage/after_accept", false, false},
		{"file_storage/before_accept", false, true},
		{"coordination/after_accept", true, false},
		{"coordination/before_accept", true, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			az := startAzurite(t)
			sec := int64(1748854800)
			macs := []string{"000D3A2B1001", "000D3A2B1002", "000D3A2B1003"}
			var blobs []*nwBlob
			for i, mac := range macs {
				b := az.newBlob(t, ContainerVNet, vnetBlobName(9, mac))
				for m := 0; m < 6; m++ {
					b.add(vnetRecord(sec+int64(60*m), mac, 1000*i+100*m, 12))
				}
				blobs = append(blobs, b)
			}
			nsg := az.newBlob(t, ContainerNSG, nsgBlobName(9, "000D3A2B2001"))
			nsg.add(nsgRecord(sec, "000D3A2B2001", 0, 6))
			blobs = append(blobs, nsg)

			spec := helperSpec{ConnStr: az.connStr, Coordinate: tc.coordinate, ReplicaID: "replica-0", LeaseSec: 15, StateDir: t.TempDir(), DieAt: 2, DieBefore: tc.before}
			run1 := startHelper(t, spec)
			run1.waitKilled()
			first := run1.batches()
			if tc.before {
				require.Len(t, first, 1, "the batch it died in was not accepted")
			} else {
				require.Len(t, first, 2, "the batch it died in was accepted")
			}
			// Data added while no replica runs.
			for i, b := range blobs[:3] {
				b.add(vnetRecord(sec+600, macs[i], 9000+100*i, 4))
			}
			nsg.add(nsgRecord(sec+600, "000D3A2B2001", 500, 3))
			var docs [][]byte
			for _, b := range blobs {
				docs = append(docs, b.doc())
			}
			want := refTuples(t, docs...)

			spec.DieAt, spec.Out = 0, ""
			run2 := startHelper(t, spec)
			waitFor(t, "the restarted replica to read everything", 60*time.Second, func() bool {
				_, keys := countAll(first, run2.batches())
				return covers(keys, want)
			})
			afterHelperPolls(t, run2, 2)
			run2.stop()
			second := run2.batches()
			uids, keys := countAll(first, second)
			var lost []string
			for k := range want {
				if keys[k] == 0 {
					lost = append(lost, k)
				}
			}
			assert.Empty(t, lost, "tuples lost")
			if tc.before {
				assert.Empty(t, repeats(uids), "nothing was accepted twice")
				assert.Equal(t, want, keys)
			} else {
				assert.Equal(t, asSet(first[len(first)-1].UIDs), repeats(uids), "repeats are exactly the batch accepted but not checkpointed")
			}
		})
	}
}

// throttler answers some requests with 503 or 429 and Retry-After instead of passing them
// to the storage service, as a busy storage account does.
type throttler struct {
	next   http.Handler
	mu     sync.Mutex
	seen   int
	every  int
	budget int
	sent   int
}

func (th *throttler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	th.mu.Lock()
	th.seen++
	throttle := th.sent < th.budget && th.seen%th.every == 0
	if throttle {
		th.sent++
	}
	n := th.sent
	th.mu.Unlock()
	if !throttle {
		th.next.ServeHTTP(w, r)
		return
	}
	_, _ = io.Copy(io.Discard, r.Body)
	w.Header().Set("Retry-After", "1")
	w.Header().Set("x-ms-error-code", "ServerBusy")
	code := http.StatusServiceUnavailable
	if n%2 == 0 {
		code = http.StatusTooManyRequests
	}
	w.WriteHeader(code)
	_, _ = fmt.Fprintf(w, `<?xml version="1.0" encoding="utf-8"?><Error><Code>ServerBusy</Code><Message>throttled (test)</Message></Error>`)
}

func (th *throttler) throttled() int {
	th.mu.Lock()
	defer th.mu.Unlock()
	return th.sent
}

// TestAzuriteThrottled: a proxy in front of the emulator throttles every third request
// (503 and 429 with Retry-After) for a while, with coordination on. All data arrives once,
// and the throttled answers are counted in flowlog.errors{error.type=throttled}.
func TestAzuriteThrottled(t *testing.T) {
	az := startAzurite(t)
	sec := int64(1748854800)
	var blobs []*nwBlob
	for i, mac := range []string{"000D3A2B1001", "000D3A2B1002"} {
		b := az.newBlob(t, ContainerVNet, vnetBlobName(9, mac))
		for m := 0; m < 3; m++ {
			b.add(vnetRecord(sec+int64(60*m), mac, 1000*i+100*m, 10))
		}
		blobs = append(blobs, b)
	}
	target, err := url.Parse(az.endpoint)
	require.NoError(t, err)
	target.Path = ""
	th := &throttler{next: httputil.NewSingleHostReverseProxy(target), every: 3, budget: 6}
	proxy := httptest.NewServer(th)
	defer proxy.Close()

	cfg := blobConfig(az)
	cfg.AzureBlob.ConnectionString = configopaque.String(strings.Replace(az.connStr, "BlobEndpoint="+az.endpoint, "BlobEndpoint="+proxy.URL+"/"+testutil.AzuriteAccount, 1))
	cfg.Coordination.Enabled = true
	cfg.Coordination.LeaseDuration = 15 * time.Second
	s, ms := &sink{}, new(consumertest.MetricsSink)
	r := startReceiver(t, cfg, s, ms, componenttest.NewNopHost())
	var docs [][]byte
	for _, b := range blobs {
		docs = append(docs, b.doc())
	}
	want := refTuples(t, docs...)
	waitFor(t, "all tuples", 60*time.Second, func() bool { return s.count() >= sum(want) })
	waitFor(t, "the throttled answers to be counted", 60*time.Second, func() bool {
		all := ms.AllMetrics()
		return th.throttled() == th.budget && len(all) > 0 && errorCount(all[len(all)-1], errKindThrottled) == int64(th.budget)
	})
	require.NoError(t, r.Shutdown(context.Background()))
	assert.Equal(t, want, s.keys())
	for uid, n := range s.uids() {
		require.Equal(t, 1, n, "uid %s", uid)
	}
	md := lastMetrics(t, ms)
	assert.Equal(t, int64(th.budget), errorCount(md, errKindThrottled), "each throttled answer counted once")
	assert.Zero(t, errorCount(md, errKindRead), "the SDK's retries absorbed the throttling")
	tuples, _ := metricTotal(md, schema.FlowLogTuples)
	assert.Equal(t, float64(sum(want)), tuples)
}

// coordConfig is blobConfig with coordination on, for an in-process replica.
func coordConfig(az *azurite, id string) *Config {
	cfg := blobConfig(az)
	cfg.Coordination.Enabled = true
	cfg.Coordination.ReplicaID = id
	cfg.Coordination.LeaseDuration = 15 * time.Second
	return cfg
}

func memberBlobs(t *testing.T, az *azurite) []string {
	var out []string
	for name := range coordBlobs(t, az) {
		if strings.Contains(name, "/members/") {
			out = append(out, name[strings.LastIndex(name, "/")+1:])
		}
	}
	return out
}

// TestAzuriteReplicasGracefulHandover: two in-process replicas share growing blobs; one is
// shut down gracefully midway. It releases its leases and leaves, and the other reads on:
// every tuple exactly once.
func TestAzuriteReplicasGracefulHandover(t *testing.T) {
	az := startAzurite(t)
	sec := int64(1748854800)
	macs := []string{"000D3A2B1001", "000D3A2B1002", "000D3A2B1003", "000D3A2B1004", "000D3A2B1005"}
	var blobs []*nwBlob
	for _, mac := range macs {
		blobs = append(blobs, az.newBlob(t, ContainerVNet, vnetBlobName(9, mac)))
	}
	minute := 0
	grow := func() {
		for i, b := range blobs {
			b.add(vnetRecord(sec+int64(60*minute), macs[i], 1000*i+100*minute, 4+minute%3))
		}
		minute++
	}
	grow()
	s1, s2 := &sink{}, &sink{}
	r1 := startReceiver(t, coordConfig(az, "one"), s1, nil, componenttest.NewNopHost())
	r2 := startReceiver(t, coordConfig(az, "two"), s2, nil, componenttest.NewNopHost())
	for ; minute < 15; afterPolls(t, r1, 1) {
		grow()
	}
	waitFor(t, "both replicas to read", 30*time.Second, func() bool { return s1.count() > 0 && s2.count() > 0 })
	require.NoError(t, r1.Shutdown(context.Background()))
	assert.Equal(t, []string{"two"}, memberBlobs(t, az), "the stopped replica left")
	for ; minute < 25; afterPolls(t, r2, 1) {
		grow()
	}
	var docs [][]byte
	for _, b := range blobs {
		docs = append(docs, b.doc())
	}
	want := refTuples(t, docs...)
	waitFor(t, "the remaining replica to read everything", 60*time.Second, func() bool { return s1.count()+s2.count() >= sum(want) })
	afterPolls(t, r2, 2)
	require.NoError(t, r2.Shutdown(context.Background()))
	got := s1.keys()
	for k, n := range s2.keys() {
		got[k] += n
	}
	assert.Equal(t, want, got, "every tuple exactly once")
	uids := s1.uids()
	for k, n := range s2.uids() {
		uids[k] += n
	}
	assert.Empty(t, repeats(uids))
	assert.Empty(t, memberBlobs(t, az))
}

// TestAzuriteLeaseTakenAway: the ownership lease of the blob a replica reads is taken by
// someone else. The replica cannot move the checkpoint any more and stops reading the blob
// (at most the batch in flight is delivered); once the lease is free again it takes the
// blob back from the stored checkpoint: nothing lost, repeats only of that one batch.
func TestAzuriteLeaseTakenAway(t *testing.T) {
	az := startAzurite(t)
	sec := int64(1748854800)
	mac := "000D3A2B1001"
	b := az.newBlob(t, ContainerVNet, vnetBlobName(9, mac))
	b.add(vnetRecord(sec, mac, 0, 10))
	s := &sink{}
	cfg := coordConfig(az, "victim")
	r := startReceiver(t, cfg, s, nil, componenttest.NewNopHost())
	waitFor(t, "the first batch", 20*time.Second, func() bool { return s.count() >= 10 })

	var owner string
	for name := range coordBlobs(t, az) {
		if strings.Contains(name, "/blobs/") {
			owner = name
		}
	}
	require.NotEmpty(t, owner)
	ob := az.client.ServiceClient().NewContainerClient(DefaultCoordinationContainer).NewBlockBlobClient(owner)
	cpOf := func() string {
		p, err := ob.GetProperties(context.Background(), nil)
		require.NoError(t, err)
		for k, v := range p.Metadata {
			if strings.EqualFold(k, coordination.MetaCheckpoint) && v != nil {
				return *v
			}
		}
		return ""
	}
	waitFor(t, "the first checkpoint", 20*time.Second, func() bool { return cpOf() != "" })
	// Take the lease away: break it, then acquire it with another ID.
	thief := "00000000-0000-4000-8000-000000000001"
	lc, err := lease.NewBlobClient(ob, &lease.BlobClientOptions{LeaseID: &thief})
	require.NoError(t, err)
	zero := int32(0)
	_, err = lc.BreakLease(context.Background(), &lease.BlobBreakOptions{BreakPeriod: &zero})
	require.NoError(t, err)
	_, err = lc.AcquireLease(context.Background(), -1, nil)
	require.NoError(t, err)
	stolenAt := cpOf()
	before := s.nbatches()

	for m := 1; m <= 8; m++ {
		b.add(vnetRecord(sec+int64(60*m), mac, 100*m, 10))
		afterPolls(t, r, 1)
	}
	// The replica notices when a checkpoint write or the renewer (every 5 s) fails on the
	// lease; the polls after that read nothing of the blob.
	key := ContainerVNet + "/" + vnetBlobName(9, mac)
	leases := r.(*sharedcomponent.Component[*flowlogReceiver]).Unwrap().leases
	waitFor(t, "the replica to notice", 30*time.Second, func() bool {
		held, lost := leases.Holds(key)
		return !held || lost
	})
	afterPolls(t, r, 3)
	assert.Equal(t, stolenAt, cpOf(), "a replica without the lease cannot move the checkpoint")
	assert.LessOrEqual(t, s.nbatches()-before, 1, "at most the batch in flight is delivered after the lease is gone")
	inFlight := s.count() - 10
	t.Logf("%d records delivered after the lease was taken", inFlight)

	_, err = lc.ReleaseLease(context.Background(), nil)
	require.NoError(t, err)
	want := refTuples(t, b.doc())
	waitFor(t, "the replica to take the blob back", 30*time.Second, func() bool { return covers(s.keys(), want) })
	afterPolls(t, r, 2)
	require.NoError(t, r.Shutdown(context.Background()))
	assert.Equal(t, sum(want)+inFlight, s.count(), "repeats only of the batch in flight")
	assert.Len(t, repeats(s.uids()), inFlight)
}
