package bgpreceiver

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/component"
	"go.opentelemetry.io/collector/component/componenttest"
	"go.opentelemetry.io/collector/consumer/consumertest"
	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/plog"
	"go.opentelemetry.io/collector/pdata/pmetric"
	"go.opentelemetry.io/collector/receiver"
	"go.opentelemetry.io/collector/receiver/receivertest"

	"github.com/erviz/otelcol-erviz/internal/schema"
	"github.com/erviz/otelcol-erviz/internal/testutil"
	"github.com/erviz/otelcol-erviz/receiver/bgpreceiver/internal/metadata"
)

// eventually polls cond every 50ms until it holds or the deadline passes.
func eventually(t testing.TB, d time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(d)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %s waiting for %s", d, what)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// bird is a BIRD 2 daemon run by a test (internal/testutil).
type bird struct{ *testutil.Bird }

func startBird(t testing.TB, routerID, conf string) *bird {
	t.Helper()
	return &bird{testutil.StartBird(t, routerID, conf)}
}

func (b *bird) ctl(args ...string) string { return b.Ctl(args...) }

func (b *bird) established(proto string) bool { return b.Established(proto) }

// start builds and starts a receiver with sinks for both signals.
func startReceiver(t testing.TB, cfg *Config) (*consumertest.LogsSink, *consumertest.MetricsSink) {
	t.Helper()
	return startReceiverWith(t, cfg, receivertest.NewNopSettings(metadata.Type))
}

func startReceiverWith(t testing.TB, cfg *Config, set receiver.Settings) (*consumertest.LogsSink, *consumertest.MetricsSink) {
	t.Helper()
	require.NoError(t, cfg.Validate())
	f := NewFactory()
	logs, metrics := new(consumertest.LogsSink), new(consumertest.MetricsSink)
	lr, err := f.CreateLogs(context.Background(), set, cfg, logs)
	require.NoError(t, err)
	mr, err := f.CreateMetrics(context.Background(), set, cfg, metrics)
	require.NoError(t, err)
	require.NoError(t, lr.Start(context.Background(), componenttest.NewNopHost()))
	require.NoError(t, mr.Start(context.Background(), componenttest.NewNopHost()))
	t.Cleanup(func() {
		require.NoError(t, lr.Shutdown(context.Background()))
		require.NoError(t, mr.Shutdown(context.Background()))
	})
	return logs, metrics
}

var _ receiver.Logs = (component.Component)(nil)

// records flattens the sink's log records.
func records(sink *consumertest.LogsSink) []plog.LogRecord {
	var out []plog.LogRecord
	for _, l := range sink.AllLogs() {
		for i := 0; i < l.ResourceLogs().Len(); i++ {
			sls := l.ResourceLogs().At(i).ScopeLogs()
			for j := 0; j < sls.Len(); j++ {
				lrs := sls.At(j).LogRecords()
				for k := 0; k < lrs.Len(); k++ {
					out = append(out, lrs.At(k))
				}
			}
		}
	}
	return out
}

func str(lr plog.LogRecord, key string) string {
	v, ok := lr.Attributes().Get(key)
	if !ok {
		return ""
	}
	return v.AsString()
}

func intAttr(lr plog.LogRecord, key string) (int64, bool) {
	v, ok := lr.Attributes().Get(key)
	if !ok || v.Type() != pcommon.ValueTypeInt {
		return 0, false
	}
	return v.Int(), true
}

// find returns the records matching every key=value (values compared as strings).
func find(sink *consumertest.LogsSink, kv ...string) []plog.LogRecord {
	var out []plog.LogRecord
	for _, lr := range records(sink) {
		ok := true
		for i := 0; i+1 < len(kv); i += 2 {
			if str(lr, kv[i]) != kv[i+1] {
				ok = false
				break
			}
		}
		if ok {
			out = append(out, lr)
		}
	}
	return out
}

// metricValue returns the latest value of a metric data point whose attributes include attrs.
func metricValue(sink *consumertest.MetricsSink, name string, attrs map[string]string) (int64, bool) {
	all := sink.AllMetrics()
	for i := len(all) - 1; i >= 0; i-- {
		rms := all[i].ResourceMetrics()
		for a := 0; a < rms.Len(); a++ {
			sms := rms.At(a).ScopeMetrics()
			for b := 0; b < sms.Len(); b++ {
				ms := sms.At(b).Metrics()
				for c := 0; c < ms.Len(); c++ {
					m := ms.At(c)
					if m.Name() != name {
						continue
					}
					var dps pmetric.NumberDataPointSlice
					switch m.Type() {
					case pmetric.MetricTypeGauge:
						dps = m.Gauge().DataPoints()
					case pmetric.MetricTypeSum:
						dps = m.Sum().DataPoints()
					default:
						continue
					}
				points:
					for d := 0; d < dps.Len(); d++ {
						dp := dps.At(d)
						for k, v := range attrs {
							got, ok := dp.Attributes().Get(k)
							if !ok || got.AsString() != v {
								continue points
							}
						}
						return dp.IntValue(), true
					}
				}
			}
		}
	}
	return 0, false
}

var _ = schema.BGPEvent

// startFRR runs FRR's bgpd standalone (no zebra, no privilege drop) with the BMP module,
// listening for BGP on addr:port.
func startFRR(t testing.TB, addr string, port int, conf string) {
	t.Helper()
	startFRRStoppable(t, addr, port, conf)
}

// startFRRStoppable is startFRR returning a function that stops bgpd (SIGTERM: it closes its
// sessions with a NOTIFICATION); the test's cleanup stops it otherwise.
func startFRRStoppable(t testing.TB, addr string, port int, conf string) (stop func()) {
	t.Helper()
	path := testutil.NeedBinary(t, "bgpd")
	dir := t.TempDir()
	cfg := filepath.Join(dir, "bgpd.conf")
	require.NoError(t, os.WriteFile(cfg, []byte("frr defaults traditional\nhostname r1\nlog file "+filepath.Join(dir, "bgpd.log")+"\n"+conf), 0o644))
	cmd := exec.Command(path, "-f", cfg, "-M", "bmp", "-S", "-Z", "-p", fmt.Sprint(port), "-l", addr,
		"-i", filepath.Join(dir, "bgpd.pid"), "--vty_socket", dir, "-P", "0")
	cmd.Stdout, cmd.Stderr = os.Stderr, os.Stderr
	require.NoError(t, cmd.Start())
	done := make(chan struct{})
	go func() { _ = cmd.Wait(); close(done) }()
	var once sync.Once
	stop = func() {
		once.Do(func() {
			_ = cmd.Process.Signal(syscall.SIGTERM)
			select {
			case <-done:
			case <-time.After(5 * time.Second):
				_ = cmd.Process.Kill()
				<-done
			}
		})
	}
	t.Cleanup(func() {
		stop()
		if t.Failed() {
			if log, err := os.ReadFile(filepath.Join(dir, "bgpd.log")); err == nil {
				t.Logf("bgpd log:\n%s", log)
			}
		}
	})
	return stop
}
