package flowlogreceiver

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/component"
	"go.opentelemetry.io/collector/consumer"
	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/plog"
	"go.opentelemetry.io/collector/receiver"
	"go.opentelemetry.io/collector/receiver/receivertest"
	"go.uber.org/zap"

	"github.com/erviz/otelcol-erviz/internal/schema"
	"github.com/erviz/otelcol-erviz/internal/sharedcomponent"
	"github.com/erviz/otelcol-erviz/receiver/flowlogreceiver/internal/metadata"
)

// tupleKey identifies a tuple by content: type, time in ms, addresses, ports, forward bytes.
func tupleKey(typ string, ms int64, src, dst string, sport, dport int64, bytes string) string {
	return fmt.Sprintf("%s|%d|%s|%s|%d|%d|%s", typ, ms, src, dst, sport, dport, bytes)
}

// refTuples decodes flow log documents with encoding/json and strings.Split, independently
// of pkg/flowlog, and returns the multiset of tuple keys. Only valid tuples may be present.
func refTuples(t testing.TB, docs ...[]byte) map[string]int {
	t.Helper()
	out := map[string]int{}
	for _, doc := range docs {
		var d struct {
			Records []struct {
				FlowRecords *struct {
					Flows []struct {
						FlowGroups []struct {
							FlowTuples []string `json:"flowTuples"`
						} `json:"flowGroups"`
					} `json:"flows"`
				} `json:"flowRecords"`
				Properties *struct {
					Version int `json:"Version"`
					Flows   []struct {
						Flows []struct {
							FlowTuples []string `json:"flowTuples"`
						} `json:"flows"`
					} `json:"flows"`
				} `json:"properties"`
			} `json:"records"`
		}
		require.NoError(t, json.Unmarshal(doc, &d))
		add := func(typ, tup string, bytesField int) {
			f := strings.Split(tup, ",")
			ts, _ := strconv.ParseInt(f[0], 10, 64)
			if len(f[0]) <= 10 {
				ts *= 1000
			}
			sp, _ := strconv.ParseInt(f[3], 10, 64)
			dp, _ := strconv.ParseInt(f[4], 10, 64)
			b := "-"
			if bytesField > 0 && bytesField < len(f) {
				b = f[bytesField]
				if b == "" {
					b = "0"
				}
			}
			out[tupleKey(typ, ts, f[1], f[2], sp, dp, b)]++
		}
		for _, r := range d.Records {
			if r.FlowRecords != nil {
				for _, fl := range r.FlowRecords.Flows {
					for _, g := range fl.FlowGroups {
						for _, tup := range g.FlowTuples {
							add(schema.FlowTypeVNetFlowLog, tup, 10)
						}
					}
				}
			}
			if r.Properties != nil {
				for _, fl := range r.Properties.Flows {
					for _, g := range fl.Flows {
						for _, tup := range g.FlowTuples {
							bf := 0
							if r.Properties.Version >= 2 {
								bf = 10
							}
							add(schema.FlowTypeNSGFlowLog, tup, bf)
						}
					}
				}
			}
		}
	}
	return out
}

// sink collects log records and can refuse batches.
type sink struct {
	mu      sync.Mutex
	records []plog.LogRecord
	res     []pcommon.Resource
	batches int
	refuse  int // refuse this many batches first
	calls   int
}

func (s *sink) Capabilities() consumer.Capabilities { return consumer.Capabilities{} }

func (s *sink) ConsumeLogs(_ context.Context, ld plog.Logs) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.calls++
	if s.refuse > 0 {
		s.refuse--
		return fmt.Errorf("refused (test)")
	}
	s.batches++
	for i := 0; i < ld.ResourceLogs().Len(); i++ {
		rl := ld.ResourceLogs().At(i)
		for j := 0; j < rl.ScopeLogs().Len(); j++ {
			lrs := rl.ScopeLogs().At(j).LogRecords()
			for k := 0; k < lrs.Len(); k++ {
				lr := plog.NewLogRecord()
				lrs.At(k).CopyTo(lr)
				s.records = append(s.records, lr)
				r := pcommon.NewResource()
				rl.Resource().CopyTo(r)
				s.res = append(s.res, r)
			}
		}
	}
	return nil
}

func (s *sink) nbatches() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.batches
}

func (s *sink) count() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.records)
}

// keys returns the multiset of tuple keys received.
func (s *sink) keys() map[string]int {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := map[string]int{}
	for _, lr := range s.records {
		a := lr.Attributes()
		get := func(k string) pcommon.Value { v, _ := a.Get(k); return v }
		b := "-"
		if v, ok := a.Get(schema.FlowIOBytes); ok {
			b = strconv.FormatInt(v.Int(), 10)
		}
		out[tupleKey(get(schema.FlowType).Str(), lr.Timestamp().AsTime().UnixMilli(), get(schema.SourceAddress).Str(), get(schema.DestinationAddress).Str(),
			get(schema.SourcePort).Int(), get(schema.DestinationPort).Int(), b)]++
	}
	return out
}

// uids returns how often each log.record.uid was received.
func (s *sink) uids() map[string]int {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := map[string]int{}
	for _, lr := range s.records {
		v, _ := lr.Attributes().Get(schema.LogRecordUID)
		out[v.Str()]++
	}
	return out
}

func sum(m map[string]int) int {
	n := 0
	for _, v := range m {
		n += v
	}
	return n
}

// readDocs reads every PT1H.json below dir.
func readDocs(t testing.TB, dir string) [][]byte {
	t.Helper()
	var docs [][]byte
	require.NoError(t, filepath.Walk(dir, func(p string, info os.FileInfo, err error) error {
		if err == nil && !info.IsDir() && info.Name() == "PT1H.json" {
			b, err := os.ReadFile(p)
			require.NoError(t, err)
			docs = append(docs, b)
		}
		return err
	}))
	return docs
}

// startReceiver creates the receiver through the factory, for logs (and metrics when ms is
// not nil), and starts it with host.
func startReceiver(t testing.TB, cfg *Config, logs consumer.Logs, ms consumer.Metrics, host component.Host) component.Component {
	t.Helper()
	f := NewFactory()
	set := receiverSettings()
	lr, err := f.CreateLogs(context.Background(), set, cfg, logs)
	require.NoError(t, err)
	if ms != nil {
		mr, err := f.CreateMetrics(context.Background(), set, cfg, ms)
		require.NoError(t, err)
		require.Same(t, lr, mr, "one instance serves both pipelines")
	}
	require.NoError(t, lr.Start(context.Background(), host))
	return lr
}

func waitFor(t testing.TB, what string, timeout time.Duration, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// nwDoc renders records the way Network Watcher lays out a blob: head, records separated
// by commas, tail.
func nwDoc(records []string) []byte {
	return []byte(`{"records":[` + strings.Join(records, ",") + `]}`)
}

// receiverSettings are nop settings with a stable ID, as a collector's across restarts.
func receiverSettings() receiver.Settings {
	set := receivertest.NewNopSettings(metadata.Type)
	if os.Getenv("FLOWLOG_TEST_LOG") != "" {
		set.Logger, _ = zap.NewDevelopment()
	}
	set.ID = component.NewID(metadata.Type)
	return set
}

// afterPolls waits until the receiver behind c has done n more polls than when called: with
// n >= 2 at least one whole poll ran after the call, so anything the receiver would read
// from the source as it is now has been read (and delivered: a poll waits for its batches).
func afterPolls(t testing.TB, c component.Component, n int64) {
	t.Helper()
	r := c.(*sharedcomponent.Component[*flowlogReceiver]).Unwrap()
	afterPollsOf(t, r, n)
}

func afterPollsOf(t testing.TB, r *flowlogReceiver, n int64) {
	t.Helper()
	target := r.polls.Load() + n
	waitFor(t, "more polls", time.Minute, func() bool { return r.polls.Load() >= target })
}
