package ipfixreceiver

import (
	"context"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"github.com/vmware/go-ipfix/pkg/entities"
	"github.com/vmware/go-ipfix/pkg/exporter"
	"github.com/vmware/go-ipfix/pkg/registry"
	"go.opentelemetry.io/collector/component"
	"go.opentelemetry.io/collector/component/componenttest"
	"go.opentelemetry.io/collector/config/confignet"
	"go.opentelemetry.io/collector/consumer/consumertest"
	"go.opentelemetry.io/collector/receiver/receivertest"
	"k8s.io/klog/v2"

	"github.com/open-telemetry/opentelemetry-collector-contrib/extension/storage/storagetest"

	"github.com/erviz/otelcol-erviz/internal/schema"
	"github.com/erviz/otelcol-erviz/internal/sharedcomponent"
	"github.com/erviz/otelcol-erviz/internal/testutil"
	"github.com/erviz/otelcol-erviz/pkg/ipfix"
	"github.com/erviz/otelcol-erviz/receiver/ipfixreceiver/internal/metadata"
)

// trafficPcap has flows with known counts, written by pkg/ipfix/testdata/softflowd/gen_pcap.py:
// 205 unidirectional flows, 630 packets, 62,232 bytes (IP lengths), one IPv6 flow.
var trafficPcap = filepath.Join("..", "..", "pkg", "ipfix", "testdata", "softflowd", "traffic.pcap")

type running struct {
	rx   *ipfixReceiver
	comp component.Component
	sink *consumertest.LogsSink
}

func startReceiver(t *testing.T, cfg *Config, host component.Host) *running {
	t.Helper()
	sink := &consumertest.LogsSink{}
	set := receivertest.NewNopSettings(metadata.Type)
	set.ID = component.NewIDWithName(metadata.Type, "test") // stable, as in a collector: storage clients are per ID
	c, err := NewFactory().CreateLogs(context.Background(), set, cfg, sink)
	require.NoError(t, err)
	if host == nil {
		host = componenttest.NewNopHost()
	}
	require.NoError(t, c.Start(context.Background(), host))
	r := &running{rx: c.(*sharedcomponent.Component[*ipfixReceiver]).Unwrap(), comp: c, sink: sink}
	t.Cleanup(func() { _ = c.Shutdown(context.Background()) })
	return r
}

func testConfig(transport string) *Config {
	cfg := createDefaultConfig()
	cfg.Endpoint = "127.0.0.1:0"
	cfg.Transport = confignet.TransportType(transport)
	cfg.Sockets = 2
	cfg.BatchTimeout = 50 * time.Millisecond
	return cfg
}

// flow is one received record, keyed by its 5-tuple.
type flow struct {
	typ                 string
	bytes, packets      int64
	rate                int64
	network             string
	start               int64
	exporter, transport string
}

// flows sums what the sink received per 5-tuple.
func flows(sink *consumertest.LogsSink) (map[string]flow, int) {
	out := map[string]flow{}
	n := 0
	for _, ld := range sink.AllLogs() {
		for i := 0; i < ld.ResourceLogs().Len(); i++ {
			rl := ld.ResourceLogs().At(i)
			exp, _ := rl.Resource().Attributes().Get(schema.FlowExporterAddress)
			for j := 0; j < rl.ScopeLogs().Len(); j++ {
				lrs := rl.ScopeLogs().At(j).LogRecords()
				for k := 0; k < lrs.Len(); k++ {
					n++
					a := lrs.At(k).Attributes().AsRaw()
					key := fmt.Sprintf("%v %v:%v > %v:%v", a[schema.NetworkTransport], a[schema.SourceAddress], a[schema.SourcePort], a[schema.DestinationAddress], a[schema.DestinationPort])
					f := out[key]
					f.typ, _ = a[schema.FlowType].(string)
					f.network, _ = a[schema.NetworkType].(string)
					f.transport, _ = a[schema.NetworkTransport].(string)
					f.bytes += a[schema.FlowIOBytes].(int64)
					f.packets += a[schema.FlowIOPackets].(int64)
					f.rate, _ = a[schema.FlowSamplingRate].(int64)
					f.start, _ = a[schema.FlowStart].(int64)
					f.exporter = exp.Str()
					out[key] = f
				}
			}
		}
	}
	return out, n
}

func totals(fs map[string]flow) (bytes, packets int64) {
	for _, f := range fs {
		bytes += f.bytes
		packets += f.packets
	}
	return
}

// runExporter runs an exporter until it exits by itself, calling poke (if not nil) every
// 300 ms while it runs. It fails the test if the exporter fails (unless cleanExit, when not
// nil, says its output shows a clean end anyway) or runs for more than a minute; the process
// is killed when the test ends.
func runExporter(t *testing.T, cmd *exec.Cmd, poke func(), cleanExit func(out string) bool) {
	t.Helper()
	out := &syncBuf{}
	cmd.Stdout, cmd.Stderr = out, out
	require.NoError(t, cmd.Start())
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	t.Cleanup(func() {
		_ = cmd.Process.Kill()
		<-done
	})
	name := filepath.Base(cmd.Path)
	deadline := time.After(60 * time.Second)
	for {
		select {
		case err := <-done:
			done <- err // for the cleanup
			if err != nil && cleanExit != nil && cleanExit(out.String()) {
				return
			}
			require.NoError(t, err, "%s: %s", name, out)
			return
		case <-deadline:
			t.Fatalf("%s did not finish: %s", name, out)
		case <-time.After(300 * time.Millisecond):
			if poke != nil {
				poke()
			}
		}
	}
}

// runSoftflowd replays the pcap through softflowd towards addr. softflowd 1.1.0 reading a
// pcap can block in accept() on its control socket; poking it with softflowctl unblocks it.
func runSoftflowd(t *testing.T, addr string, args ...string) {
	t.Helper()
	sfd := testutil.NeedBinary(t, "softflowd")
	ctl := testutil.NeedBinary(t, "softflowctl")
	dir := t.TempDir()
	sock := filepath.Join(dir, "ctl")
	cmdArgs := append([]string{"-d", "-r", trafficPcap, "-n", addr, "-p", filepath.Join(dir, "pid"), "-c", sock, "-6", "-a"}, args...)
	runExporter(t, exec.Command(sfd, cmdArgs...), func() { _ = exec.Command(ctl, "-c", sock, "statistics").Run() }, nil)
}

type syncBuf struct {
	mu sync.Mutex
	b  []byte
}

func (s *syncBuf) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.b = append(s.b, p...)
	return len(p), nil
}

func (s *syncBuf) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return string(s.b)
}

func waitRecords(t *testing.T, sink *consumertest.LogsSink, n int) {
	t.Helper()
	require.Eventually(t, func() bool { return sink.LogRecordCount() >= n }, 30*time.Second, 20*time.Millisecond,
		"received %d of %d records", sink.LogRecordCount(), n)
	time.Sleep(200 * time.Millisecond) // nothing more may arrive: checked below by exact totals
}

// waitIdle waits for records to arrive and then to stop arriving, for exports whose record
// count is not known in advance (random sampling). The exporter has exited: what it sent is
// in the receiver's socket buffer.
func waitIdle(t *testing.T, sink *consumertest.LogsSink) {
	t.Helper()
	require.Eventually(t, func() bool { return sink.LogRecordCount() > 0 }, 30*time.Second, 20*time.Millisecond, "no records")
	last := -1
	require.Eventually(t, func() bool {
		n := sink.LogRecordCount()
		idle := n == last
		last = n
		return idle
	}, 30*time.Second, 300*time.Millisecond)
}

// trafficFlows are the unidirectional flows of trafficPcap (see gen_pcap.py) keyed as flows
// keys them, with their packets, bytes (IP lengths), network and transport. icmpDstPort is
// what the exporter puts in the destination port of the ICMP echo flow (type 8, code 0).
func trafficFlows(icmpDstPort int) map[string]flow {
	v4 := func(transport string, packets, size int64) flow {
		return flow{packets: packets, bytes: packets * size, network: "ipv4", transport: transport}
	}
	m := map[string]flow{
		"tcp 10.0.0.1:40000 > 192.0.2.10:443":                     v4("tcp", 10, 100),
		"tcp 192.0.2.10:443 > 10.0.0.1:40000":                     v4("tcp", 8, 1500),
		"udp 10.0.0.2:5353 > 10.0.0.3:53":                         v4("udp", 5, 80),
		fmt.Sprintf("icmp 10.0.0.4:0 > 10.0.0.5:%d", icmpDstPort): v4("icmp", 3, 84),
		"tcp 2001:db8::1:1234 > 2001:db8::2:80":                   {packets: 4, bytes: 480, network: "ipv6", transport: "tcp"},
	}
	for i := range 200 {
		m[fmt.Sprintf("udp 10.1.0.%d:%d > 10.2.0.1:53", i, 10000+i)] = v4("udp", int64(i%5+1), int64(60+i%40))
	}
	return m
}

// assertTraffic checks that the records are exactly the flows of trafficPcap, one record
// per flow, all from the same exporter on loopback with the given type and sampling rate.
func assertTraffic(t *testing.T, fs map[string]flow, records int, want map[string]flow, flowType string, rate int64) {
	t.Helper()
	b, p := totals(fs)
	assert.Equal(t, int64(630), p, "packets")
	assert.Equal(t, int64(62232), b, "bytes")
	assert.Equal(t, len(want), records, "records")
	assert.Len(t, fs, len(want), "5-tuples: %v", keys(fs))
	for k, w := range want {
		g, ok := fs[k]
		if !assert.True(t, ok, "flow %s missing", k) {
			continue
		}
		w.typ, w.rate, w.exporter = flowType, rate, "127.0.0.1"
		// NetFlow v9 times may be relative to a header that carries whole seconds.
		if k == "tcp 10.0.0.1:40000 > 192.0.2.10:443" {
			assert.WithinDuration(t, time.Date(2025, 6, 1, 12, 0, 0, 0, time.UTC), time.Unix(0, g.start), time.Second, "start of %s", k)
		}
		g.start = 0
		assert.Equal(t, w, g, k)
	}
}

// assertSampled checks sampled records of trafficPcap replayed `replays` times: each is a
// flow of the capture with the given type and rate, with no more packets than the capture has
// and the bytes of that many of its packets (each flow's packets have one size). It returns
// the sampled packets.
func assertSampled(t *testing.T, fs map[string]flow, want map[string]flow, flowType string, rate, replays int64) int64 {
	t.Helper()
	require.NotEmpty(t, fs)
	for k, g := range fs {
		w, ok := want[k]
		require.True(t, ok, "%s is not a flow of the capture", k)
		assert.Equal(t, rate, g.rate, "sampling rate of %s", k)
		assert.Equal(t, flowType, g.typ, k)
		assert.LessOrEqual(t, g.packets, w.packets*replays, k)
		assert.Equal(t, g.packets*(w.bytes/w.packets), g.bytes, "bytes of %s", k)
	}
	_, p := totals(fs)
	return p
}

func TestSoftflowd(t *testing.T) {
	want := trafficFlows(0) // softflowd exports ICMP type and code in icmpTypeCodeIPv4 (32)
	for _, tc := range []struct {
		name, version, flowType string
		rate                    int64
	}{
		// Unsampled, softflowd announces a rate of 1.
		{"ipfix", "10", "ipfix", 1},
		{"netflow_v9", "9", "netflow_v9", 1},
		// 1-in-2 sampling: softflowd counts every other packet and announces the rate.
		{"ipfix sampled 1:2", "10", "ipfix", 2},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := startReceiver(t, testConfig("udp"), nil)
			args := []string{"-v", tc.version}
			if tc.rate > 1 {
				args = append(args, "-s", strconv.FormatInt(tc.rate, 10))
			}
			runSoftflowd(t, r.rx.Addr().String(), args...)
			if tc.rate == 1 {
				waitRecords(t, r.sink, 205)
				fs, n := flows(r.sink)
				assertTraffic(t, fs, n, want, tc.flowType, tc.rate)
				return
			}
			require.Eventually(t, func() bool { _, p := totals(mustFlows(r.sink)); return p >= 630/tc.rate }, 30*time.Second, 20*time.Millisecond)
			time.Sleep(200 * time.Millisecond) // nothing more may arrive
			assert.Equal(t, 630/tc.rate, assertSampled(t, mustFlows(r.sink), want, tc.flowType, tc.rate, 1), "sampled packets")
		})
	}
}

// runPmacctd replays the pcap `replays` times through pmacctd's nfprobe plugin towards addr,
// with a configuration of its own (not the Debian service's). pmacctd exits when it has read
// the file and its nfprobe plugin exports the flows it still holds as it exits: the default
// timeouts (60 s and more) expire none before, so each flow is one record.
func runPmacctd(t *testing.T, addr string, version, rate, replays int) {
	t.Helper()
	bin := testutil.NeedBinary(t, "pmacctd")
	pcap, err := filepath.Abs(trafficPcap)
	require.NoError(t, err)
	conf := fmt.Sprintf("daemonize: false\npcap_savefile: %s\npcap_savefile_replay: %d\n"+
		"plugins: nfprobe\nnfprobe_receiver: %s\nnfprobe_version: %d\n", pcap, replays, addr, version)
	if rate > 1 {
		conf += fmt.Sprintf("sampling_rate: %d\n", rate)
	}
	path := filepath.Join(t.TempDir(), "pmacctd.conf")
	require.NoError(t, os.WriteFile(path, []byte(conf), 0o600))
	// At the end of the file pmacctd stops its nfprobe plugin, which flushes every flow and
	// logs "Shutting down on user request"; the core sometimes sees the plugin gone first and
	// exits 1 ("no more plugins active"). The records are checked by the caller either way.
	runExporter(t, exec.Command(bin, "-f", path), nil, func(out string) bool {
		return strings.Contains(out, "nfprobe ): Shutting down on user request") && strings.Contains(out, "no more plugins active")
	})
}

// TestPmacct: pmacctd (Debian's pmacct) reading the capture, exporting with its nfprobe plugin.
func TestPmacct(t *testing.T) {
	// pmacct, like NetFlow v5, exports ICMP type and code as the destination port
	// (type<<8 | code): 2048 for an echo request.
	want := trafficFlows(8 << 8)
	for _, tc := range []struct {
		name, flowType string
		version, rate  int
	}{
		// Unsampled, pmacct announces no sampling: the rate is unknown (0).
		{"ipfix", "ipfix", 10, 0},
		{"netflow_v9", "netflow_v9", 9, 0},
		// sampling_rate 4: pmacct keeps one packet in a random 1..7 (mean 4), marks each
		// record with samplerId 1 and announces samplerRandomInterval 4 for that sampler in an
		// options record.
		{"ipfix sampled 1:4", "ipfix", 10, 4},
		{"netflow_v9 sampled 1:4", "netflow_v9", 9, 4},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := startReceiver(t, testConfig("udp"), nil)
			if tc.rate == 0 {
				runPmacctd(t, r.rx.Addr().String(), tc.version, 0, 1)
				waitRecords(t, r.sink, 205)
				fs, n := flows(r.sink)
				assertTraffic(t, fs, n, want, tc.flowType, 0)
				return
			}
			// Ten replays (6,300 packets) so that the count tells the rate: with skips uniform
			// in 1..7, the sampled packets are 1,575 +- 20 (one standard deviation); 1-in-3
			// would give 2,100 and 1-in-5 1,260. Flows add up across replays.
			const replays = 10
			runPmacctd(t, r.rx.Addr().String(), tc.version, tc.rate, replays)
			waitIdle(t, r.sink)
			p := assertSampled(t, mustFlows(r.sink), want, tc.flowType, int64(tc.rate), replays)
			t.Logf("%d sampled packets", p)
			assert.True(t, p > 6300*2/9 && p < 6300*2/7, "%d sampled packets of 6,300, want 1 in 4: within 6300/4.5 .. 6300/3.5", p)
		})
	}
}

func mustFlows(s *consumertest.LogsSink) map[string]flow { f, _ := flows(s); return f }

func keys(m map[string]flow) []string {
	var out []string
	for k := range m {
		out = append(out, k)
	}
	return out
}

// goIPFIX sends n records over go-ipfix's exporting process: a template set, then data sets.
type goIPFIX struct {
	ep  *exporter.ExportingProcess
	ies []*entities.InfoElement
}

func newGoIPFIX(t *testing.T, proto, addr string) *goIPFIX {
	t.Helper()
	registry.LoadRegistry()
	ep, err := exporter.InitExportingProcess(exporter.ExporterInput{CollectorAddress: addr, CollectorProtocol: proto, ObservationDomainID: 7})
	require.NoError(t, err)
	t.Cleanup(ep.CloseConnToCollector)
	g := &goIPFIX{ep: ep}
	for _, name := range []string{"sourceIPv4Address", "destinationIPv4Address", "sourceTransportPort", "destinationTransportPort",
		"protocolIdentifier", "octetDeltaCount", "packetDeltaCount", "flowStartSeconds"} {
		ie, err := registry.GetInfoElement(name, 0)
		require.NoError(t, err)
		g.ies = append(g.ies, ie)
	}
	return g
}

func (g *goIPFIX) template(t *testing.T) {
	set, err := entities.MakeTemplateSet(300, g.ies)
	require.NoError(t, err)
	_, err = g.ep.SendSet(set)
	require.NoError(t, err)
}

// data sends records i = from..to-1: 10.9.0.i:(20000+i) -> 10.1.0.4:443, (i+1)*100 bytes, i+1 packets.
func (g *goIPFIX) data(t *testing.T, from, to int) {
	for i := from; i < to; i++ {
		vals := []entities.InfoElementWithValue{
			entities.NewIPAddressInfoElement(g.ies[0], net.IPv4(10, 9, byte(i>>8), byte(i)).To4()),
			entities.NewIPAddressInfoElement(g.ies[1], net.IPv4(10, 1, 0, 4).To4()),
			entities.NewUnsigned16InfoElement(g.ies[2], uint16(20000+i)),
			entities.NewUnsigned16InfoElement(g.ies[3], 443),
			entities.NewUnsigned8InfoElement(g.ies[4], 6),
			entities.NewUnsigned64InfoElement(g.ies[5], uint64((i+1)*100)),
			entities.NewUnsigned64InfoElement(g.ies[6], uint64(i+1)),
			entities.NewDateTimeSecondsInfoElement(g.ies[7], 1748779200),
		}
		set, err := entities.MakeDataSet(300, vals)
		require.NoError(t, err)
		_, err = g.ep.SendSet(set)
		require.NoError(t, err)
	}
}

func TestGoIPFIXExporter(t *testing.T) {
	for _, proto := range []string{"udp", "tcp"} {
		t.Run(proto, func(t *testing.T) {
			r := startReceiver(t, testConfig(proto), nil)
			g := newGoIPFIX(t, proto, r.rx.Addr().String())
			g.template(t)
			g.data(t, 0, 100)
			waitRecords(t, r.sink, 100)
			fs, n := flows(r.sink)
			b, p := totals(fs)
			assert.Equal(t, 100, n)
			assert.Equal(t, int64(100*101/2*100), b) // sum (i+1)*100
			assert.Equal(t, int64(100*101/2), p)
			f := fs["tcp 10.9.0.41:20041 > 10.1.0.4:443"]
			assert.Equal(t, int64(4200), f.bytes)
			assert.Equal(t, int64(0), f.rate, "no sampling announced: rate unknown")
		})
	}
}

// TestTemplatesSurviveRestart: with a storage extension, data that arrives after a restart
// decodes with the templates learned before it.
func TestTemplatesSurviveRestart(t *testing.T) {
	dir := t.TempDir()
	storageID := storagetest.NewStorageID("state")
	host := func() component.Host {
		return storagetest.NewStorageHost().WithExtension(storageID, storagetest.NewFileBackedStorageExtension("state", dir))
	}
	port := testutil.FreeUDPPort(t, "127.0.0.1")
	cfg := testConfig("udp")
	cfg.Endpoint = "127.0.0.1:" + strconv.Itoa(port)
	cfg.Storage = &storageID

	first := startReceiver(t, cfg, host())
	g := newGoIPFIX(t, "udp", first.rx.Addr().String())
	g.template(t)
	require.Eventually(t, func() bool { return first.rx.decoder.Generation() > 0 }, 10*time.Second, 10*time.Millisecond)
	require.Eventually(t, func() bool {
		b, _ := first.rx.client.Get(context.Background(), stateKey)
		return len(b) > 0
	}, 10*time.Second, 50*time.Millisecond, "templates are saved while running, not only at shutdown")
	require.NoError(t, first.comp.Shutdown(context.Background()))

	cfg2 := *cfg // a new configuration object: a new receiver instance
	second := startReceiver(t, &cfg2, host())
	g.data(t, 0, 10) // data only: the exporter does not resend its template
	require.Eventually(t, func() bool { return second.sink.LogRecordCount() >= 10 }, 10*time.Second, 20*time.Millisecond,
		"after restart: %+v", second.rx.decoder.Stats())
	fs, _ := flows(second.sink)
	b, _ := totals(fs)
	assert.Equal(t, int64(55*100), b)

	// Without storage the same data after a restart is undecodable (and counted, without
	// creating state for the exporter).
	require.NoError(t, second.comp.Shutdown(context.Background()))
	cfg3 := *cfg
	cfg3.Storage = nil
	third := startReceiver(t, &cfg3, nil)
	g.data(t, 0, 5)
	require.Eventually(t, func() bool {
		st := third.rx.decoder.Stats()
		return len(st.Domains) == 0 && st.Errors[ipfix.ErrUnknownDomain] > 0
	}, 10*time.Second, 20*time.Millisecond)
	assert.Equal(t, 0, third.sink.LogRecordCount())
}

func TestAllowedExporters(t *testing.T) {
	cfg := testConfig("udp")
	cfg.AllowedExporters = []string{"192.0.2.0/24"} // not loopback
	r := startReceiver(t, cfg, nil)
	g := newGoIPFIX(t, "udp", r.rx.Addr().String())
	g.template(t)
	g.data(t, 0, 5)
	require.Eventually(t, func() bool { return r.rx.udp.Stats().Datagrams >= 6 }, 10*time.Second, 10*time.Millisecond)
	time.Sleep(100 * time.Millisecond)
	assert.Equal(t, 0, r.sink.LogRecordCount())
	assert.Empty(t, r.rx.decoder.Stats().Domains, "dropped before decoding")
}

func init() {
	// go-ipfix's exporter logs every connection through klog.
	klog.LogToStderr(false)
	klog.SetOutput(io.Discard)
}

// TestExporterMetrics: one receiver instance feeds a logs and a metrics pipeline; the
// metrics describe each exporter and domain.
func TestExporterMetrics(t *testing.T) {
	cfg := testConfig("udp")
	cfg.CollectionInterval = time.Second
	set := receivertest.NewNopSettings(metadata.Type)
	logs, metrics := &consumertest.LogsSink{}, &consumertest.MetricsSink{}
	lr, err := NewFactory().CreateLogs(context.Background(), set, cfg, logs)
	require.NoError(t, err)
	mr, err := NewFactory().CreateMetrics(context.Background(), set, cfg, metrics)
	require.NoError(t, err)
	require.Same(t, lr.(*sharedcomponent.Component[*ipfixReceiver]).Unwrap(), mr.(*sharedcomponent.Component[*ipfixReceiver]).Unwrap(),
		"one instance serves both pipelines")
	require.NoError(t, lr.Start(context.Background(), componenttest.NewNopHost()))
	require.NoError(t, mr.Start(context.Background(), componenttest.NewNopHost()))
	t.Cleanup(func() { _ = lr.Shutdown(context.Background()); _ = mr.Shutdown(context.Background()) })

	rx := lr.(*sharedcomponent.Component[*ipfixReceiver]).Unwrap()
	g := newGoIPFIX(t, "udp", rx.Addr().String())
	g.template(t)
	g.data(t, 0, 20)
	waitRecords(t, logs, 20)

	values := func() map[string]int64 {
		out := map[string]int64{}
		for _, md := range metrics.AllMetrics() {
			rms := md.ResourceMetrics()
			for i := 0; i < rms.Len(); i++ {
				ra := rms.At(i).Resource().Attributes().AsRaw()
				if ra[schema.FlowExporterAddress] != "127.0.0.1" || ra[schema.FlowObservationDomainID] != int64(7) || ra["flow.type"] != "ipfix" {
					continue
				}
				ms := rms.At(i).ScopeMetrics().At(0).Metrics()
				for k := 0; k < ms.Len(); k++ {
					m := ms.At(k)
					switch m.Type().String() {
					case "Sum":
						out[m.Name()] = m.Sum().DataPoints().At(0).IntValue()
					case "Gauge":
						out[m.Name()] = m.Gauge().DataPoints().At(0).IntValue()
					}
				}
			}
		}
		return out
	}
	require.Eventually(t, func() bool { return values()["ipfix.exporter.records"] == 20 }, 10*time.Second, 50*time.Millisecond)
	v := values()
	assert.Equal(t, int64(21), v["ipfix.exporter.packets"], "one template message and 20 data messages")
	assert.Equal(t, int64(1), v["ipfix.exporter.templates"])
	assert.Equal(t, int64(0), v["ipfix.exporter.sequence_gaps"])
	assert.Equal(t, int64(0), v["ipfix.exporter.sampling_rate"])
}
