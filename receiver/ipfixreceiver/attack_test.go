package ipfixreceiver

// Attacks of issue "Under attack and at line rate" against the ipfix receiver, each with its
// own small generator; loopback 127.x source addresses stand in for spoofed ones. Each test
// asserts bounded memory (the peak Go heap, sampled while the attack runs), that a legitimate
// exporter arriving after the attack is served, and that every drop shows in the receiver's
// own telemetry.

import (
	"context"
	"encoding/binary"
	"net"
	"os"
	"runtime"
	"runtime/metrics"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/open-telemetry/opentelemetry-collector-contrib/extension/storage/storagetest"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/component"
	"go.opentelemetry.io/collector/component/componenttest"
	"go.opentelemetry.io/collector/consumer/consumertest"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/sdk/metric/metricdata"
	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
	"go.uber.org/zap/zaptest/observer"

	"github.com/erviz/otelcol-erviz/internal/sharedcomponent"
	"github.com/erviz/otelcol-erviz/internal/testutil"
	"github.com/erviz/otelcol-erviz/receiver/ipfixreceiver/internal/metadatatest"
)

// attacked is a receiver started with observable telemetry and logs.
type attacked struct {
	*running
	tt   *componenttest.Telemetry
	logs *observer.ObservedLogs
}

func startAttacked(t *testing.T, cfg *Config, host component.Host) *attacked {
	t.Helper()
	tt := componenttest.NewTelemetry()
	t.Cleanup(func() { _ = tt.Shutdown(context.Background()) })
	set := metadatatest.NewSettings(tt)
	core, logs := observer.New(zapcore.WarnLevel)
	set.Logger = zap.New(core)
	sink := &consumertest.LogsSink{}
	c, err := NewFactory().CreateLogs(context.Background(), set, cfg, sink)
	require.NoError(t, err)
	if host == nil {
		host = componenttest.NewNopHost()
	}
	require.NoError(t, c.Start(context.Background(), host))
	t.Cleanup(func() { _ = c.Shutdown(context.Background()) })
	return &attacked{running: &running{rx: c.(*sharedcomponent.Component[*ipfixReceiver]).Unwrap(), comp: c, sink: sink},
		tt: tt, logs: logs}
}

// counter sums the data points of a telemetry counter whose attribute key has value val
// (all data points when key is empty).
func (a *attacked) counter(t *testing.T, name, key, val string) int64 {
	t.Helper()
	m, err := a.tt.GetMetric("otelcol_" + name)
	if err != nil {
		return 0
	}
	var n int64
	switch data := m.Data.(type) {
	case metricdata.Sum[int64]:
		for _, dp := range data.DataPoints {
			if v, ok := dp.Attributes.Value(attribute.Key(key)); key == "" || ok && v.AsString() == val {
				n += dp.Value
			}
		}
	case metricdata.Gauge[int64]:
		for _, dp := range data.DataPoints {
			n += dp.Value
		}
	}
	return n
}

// loggedSources returns the exporters named by warnings containing msg.
func (a *attacked) loggedSources(msg string) map[string]int {
	out := map[string]int{}
	for _, e := range a.logs.All() {
		if strings.Contains(e.Message, msg) {
			if s, ok := e.ContextMap()["exporter"].(string); ok {
				out[s]++
			}
		}
	}
	return out
}

// heapWatch samples the Go heap (objects, live or not yet swept) from a collection on until
// stopped and returns its peak.
func heapWatch() (stop func() uint64) {
	runtime.GC()
	sample := []metrics.Sample{{Name: "/memory/classes/heap/objects:bytes"}}
	var peak atomic.Uint64
	done := make(chan struct{})
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		tick := time.NewTicker(5 * time.Millisecond)
		defer tick.Stop()
		for {
			metrics.Read(sample)
			if v := sample[0].Value.Uint64(); v > peak.Load() {
				peak.Store(v)
			}
			select {
			case <-done:
				return
			case <-tick.C:
			}
		}
	}()
	return func() uint64 { close(done); wg.Wait(); return peak.Load() }
}

// peakRSS is the process's high-water resident set (VmHWM), for the log.
func peakRSS() string {
	b, _ := os.ReadFile("/proc/self/status")
	for _, l := range strings.Split(string(b), "\n") {
		if strings.HasPrefix(l, "VmHWM:") {
			return strings.TrimSpace(strings.TrimPrefix(l, "VmHWM:"))
		}
	}
	return "?"
}

// spoofed returns the i-th attacking source address, 127.1.x.y.
func spoofed(i int) net.IP { return net.IPv4(127, 1, byte(i/250), byte(i%250+1)) }

func ipfixHeader(b []byte, length int, seq, domain uint32) []byte {
	b = binary.BigEndian.AppendUint16(b, 10)
	b = binary.BigEndian.AppendUint16(b, uint16(length))
	b = binary.BigEndian.AppendUint32(b, uint32(time.Now().Unix()))
	b = binary.BigEndian.AppendUint32(b, seq)
	return binary.BigEndian.AppendUint32(b, domain)
}

// TestAttackHeaderOnlyDatagrams: 262,144 header-only IPFIX datagrams from 1,024 source
// addresses x 256 observation domains. Nothing of it becomes state, every datagram is either
// counted as unknown_domain or as a drop, and an exporter that comes afterwards is served.
func TestAttackHeaderOnlyDatagrams(t *testing.T) {
	const sources, domains = 1024, 256
	a := startAttacked(t, testConfig("udp"), nil)
	to := a.rx.Addr().(*net.UDPAddr)
	stop := heapWatch()
	sent := 0
	msg := make([]byte, 0, 16)
	for s := range sources {
		c, err := net.DialUDP("udp", &net.UDPAddr{IP: spoofed(s)}, to)
		require.NoError(t, err)
		for d := range uint32(domains) {
			if _, err := c.Write(ipfixHeader(msg[:0], 16, 0, d)); err == nil {
				sent++
			}
		}
		c.Close()
		// While the flood runs the decoders hold nothing.
		if s%256 == 255 {
			require.Zero(t, a.rx.decoder.shared.Exporters(), "state created by header-only datagrams")
		}
	}
	// Probes from fresh sources, one at a time, until every socket has reported its kernel
	// drop counter (it comes with the next datagram a socket queues).
	for p := range 32 {
		before := a.rx.udp.Stats().Datagrams
		c, err := net.DialUDP("udp", &net.UDPAddr{IP: spoofed(sources + p)}, to)
		require.NoError(t, err)
		_, err = c.Write(ipfixHeader(msg[:0], 16, 0, 0))
		require.NoError(t, err)
		c.Close()
		sent++
		require.Eventually(t, func() bool { return a.rx.udp.Stats().Datagrams > before }, 10*time.Second, time.Millisecond)
	}
	accounted := func() int64 {
		return a.counter(t, "receiver_ipfix_decode_errors", "error", "unknown_domain") +
			a.counter(t, "receiver_ipfix_datagrams_dropped", "reason", "queue_full") +
			a.counter(t, "receiver_ipfix_datagrams_dropped", "reason", "kernel")
	}
	require.Eventually(t, func() bool { return accounted() == int64(sent) }, 20*time.Second, 20*time.Millisecond,
		"every datagram is decoded (unknown_domain) or a counted drop: %d of %d", accounted(), sent)
	peak := stop()
	t.Logf("sent %d; unknown_domain %d, queue_full %d, kernel %d; peak heap %d MiB, process peak RSS %s", sent,
		a.counter(t, "receiver_ipfix_decode_errors", "error", "unknown_domain"),
		a.counter(t, "receiver_ipfix_datagrams_dropped", "reason", "queue_full"),
		a.counter(t, "receiver_ipfix_datagrams_dropped", "reason", "kernel"), peak>>20, peakRSS())
	// 262,144 domains of state would take several hundred MiB; none is created.
	require.Less(t, peak, uint64(96<<20), "peak heap")
	require.Zero(t, a.rx.decoder.shared.Exporters())
	require.Zero(t, a.counter(t, "receiver_ipfix_exporters", "", ""))
	// Logged, naming the source, once per source at most.
	logged := a.loggedSources("ipfix: input dropped")
	require.NotEmpty(t, logged)
	for src, n := range logged {
		require.Equal(t, 1, n, "source %s logged %d times", src, n)
	}

	// A legitimate exporter after the attack.
	g := newGoIPFIX(t, "udp", to.String())
	g.template(t)
	g.data(t, 0, 50)
	require.Eventually(t, func() bool { return a.sink.LogRecordCount() == 50 }, 10*time.Second, 10*time.Millisecond)
}

// bombTemplates returns IPFIX messages from one source announcing n templates of 256
// enterprise-specific fields (2,052 bytes each), as many per message as fit.
func bombTemplates(n int) [][]byte {
	const tmplLen = 4 + 256*8
	perMsg := (65000 - 16 - 4) / tmplLen
	var out [][]byte
	for first := 0; first < n; first += perMsg {
		k := min(perMsg, n-first)
		length := 16 + 4 + k*tmplLen
		b := ipfixHeader(make([]byte, 0, length), length, 0, 0)
		b = binary.BigEndian.AppendUint16(b, 2)
		b = binary.BigEndian.AppendUint16(b, uint16(4+k*tmplLen))
		for i := range k {
			b = binary.BigEndian.AppendUint16(b, uint16(256+first+i))
			b = binary.BigEndian.AppendUint16(b, 256)
			for f := range 256 {
				b = binary.BigEndian.AppendUint16(b, 0x8000|uint16(f+1))
				b = binary.BigEndian.AppendUint16(b, 4)
				b = binary.BigEndian.AppendUint32(b, 32473)
			}
		}
		out = append(out, b)
	}
	return out
}

// TestAttackTemplateBomb: 64 sources x 1,024 templates of 256 enterprise fields (134 MB of
// templates). The receiver holds at most max_template_bytes of them, a new exporter still
// gets its template in, the refusals are counted and logged, and a restart restores at most
// the bounded state.
func TestAttackTemplateBomb(t *testing.T) {
	const sources, templates = 64, 1024
	dir := t.TempDir()
	storageID := storagetest.NewStorageID("state")
	host := func() component.Host {
		return storagetest.NewStorageHost().WithExtension(storageID, storagetest.NewFileBackedStorageExtension("state", dir))
	}
	cfg := testConfig("udp")
	cfg.Endpoint = "127.0.0.1:" + strconv.Itoa(testutil.FreeUDPPort(t, "127.0.0.1"))
	cfg.Storage = &storageID
	a := startAttacked(t, cfg, host())
	to := a.rx.Addr().(*net.UDPAddr)
	msgs := bombTemplates(templates)
	stop := heapWatch()
	for s := range sources {
		c, err := net.DialUDP("udp", &net.UDPAddr{IP: spoofed(s)}, to)
		require.NoError(t, err)
		for _, m := range msgs {
			before := a.rx.udp.Stats().Datagrams
			_, err := c.Write(m)
			require.NoError(t, err)
			// One message at a time: this attack is about state, not about the socket buffer.
			require.Eventually(t, func() bool { return a.rx.udp.Stats().Datagrams > before }, 10*time.Second, 100*time.Microsecond)
		}
		c.Close()
	}
	refused := func() int64 {
		return a.counter(t, "receiver_ipfix_decode_errors", "error", "template_bytes_limit") +
			a.counter(t, "receiver_ipfix_decode_errors", "error", "template_limit")
	}
	evicted := func() int64 { return a.counter(t, "receiver_ipfix_decode_errors", "error", "template_evicted") }
	// Every template is held, refused or evicted, and counted.
	require.Eventually(t, func() bool {
		return int64(a.rx.decoder.shared.Templates())+refused()+evicted() == sources*templates
	}, 10*time.Second, 20*time.Millisecond, "held %d + refused %d + evicted %d", a.rx.decoder.shared.Templates(), refused(), evicted())
	peak := stop()
	held := a.rx.decoder.shared.TemplateBytes()
	t.Logf("templates held %d (%d bytes), refused %d, evicted %d; peak heap %d MiB, process peak RSS %s",
		a.rx.decoder.shared.Templates(), held, refused(), evicted(), peak>>20, peakRSS())
	require.LessOrEqual(t, held, cfg.MaxTemplateBytes)
	require.Less(t, peak, uint64(256<<20), "peak heap")
	logged := a.loggedSources("ipfix: input dropped")
	require.NotEmpty(t, logged)
	for src := range logged {
		require.True(t, strings.HasPrefix(src, "127.1."), "logged source %s", src)
	}

	// A legitimate exporter after the bomb gets its template in and is served.
	g := newGoIPFIX(t, "udp", to.String())
	g.template(t)
	g.data(t, 0, 20)
	require.Eventually(t, func() bool { return a.sink.LogRecordCount() == 20 }, 10*time.Second, 10*time.Millisecond,
		"legitimate exporter: %d records; %+v", a.sink.LogRecordCount(), legitStats(a))

	// The saved state is the bounded state, and so is what a restart restores.
	require.NoError(t, a.comp.Shutdown(context.Background()))
	cfg2 := *cfg
	b := startAttacked(t, &cfg2, host())
	snap := b.rx.decoder.Snapshot()
	t.Logf("snapshot after the bomb: %d bytes", len(snap))
	require.Less(t, len(snap), cfg.MaxTemplateBytes+1<<20)
	require.LessOrEqual(t, b.rx.decoder.shared.TemplateBytes(), cfg.MaxTemplateBytes)
	g.data(t, 20, 30) // data only: the template comes from the restored state
	require.Eventually(t, func() bool { return b.sink.LogRecordCount() == 10 }, 10*time.Second, 10*time.Millisecond)
}

// TestAttackIdleTCPConnections: 64 idle connections from addresses allowed_exporters
// excludes, and stalled ones from an allowed address, do not take the slots of a legitimate
// exporter; every refusal and idle close is counted.
func TestAttackIdleTCPConnections(t *testing.T) {
	cfg := testConfig("tcp")
	cfg.AllowedExporters = []string{"127.0.0.0/24"}
	cfg.MaxConnections = 8
	cfg.IdleTimeout = 300 * time.Millisecond
	a := startAttacked(t, cfg, nil)
	to := a.rx.Addr().String()
	stop := heapWatch()
	dial := func(ip net.IP) net.Conn {
		d := net.Dialer{LocalAddr: &net.TCPAddr{IP: ip}, Timeout: 5 * time.Second}
		c, err := d.Dial("tcp", to)
		require.NoError(t, err)
		t.Cleanup(func() { c.Close() })
		return c
	}
	for i := range 64 {
		dial(spoofed(i)) // excluded: closed at accept, kept open on this side
	}
	for range 10 {
		dial(net.IPv4(127, 0, 0, 5)) // allowed, stalled: 4 slots, then source_full
	}
	require.Eventually(t, func() bool {
		return a.counter(t, "receiver_ipfix_connections_refused", "reason", "not_allowed") == 64 &&
			a.counter(t, "receiver_ipfix_connections_refused", "reason", "source_full") == 6
	}, 10*time.Second, 10*time.Millisecond)

	g := newGoIPFIX(t, "tcp", to)
	g.template(t)
	g.data(t, 0, 20)
	require.Eventually(t, func() bool { return a.sink.LogRecordCount() == 20 }, 10*time.Second, 10*time.Millisecond)
	// The stalled ones are closed by the idle timeout; the legitimate one is not idle.
	require.Eventually(t, func() bool {
		return a.counter(t, "receiver_ipfix_connections_refused", "reason", "idle_timeout") >= 4
	}, 10*time.Second, 10*time.Millisecond)
	peak := stop()
	t.Logf("peak heap %d MiB", peak>>20)
	require.Less(t, peak, uint64(64<<20))
}

func legitStats(a *attacked) any {
	st := a.rx.decoder.Stats()
	var out []any
	for _, d := range st.Domains {
		if d.Exporter.String() == "127.0.0.1" {
			out = append(out, d)
		}
	}
	return []any{out, st.Errors, a.rx.udp.Stats()}
}
