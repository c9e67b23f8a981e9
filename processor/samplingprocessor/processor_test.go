package samplingprocessor

import (
	"context"
	"fmt"
	"net/netip"
	"os"
	"path/filepath"
	"runtime"
	"sort"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/component/componenttest"
	"go.opentelemetry.io/collector/consumer/consumertest"
	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/plog"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/sdk/metric/metricdata"
	"go.opentelemetry.io/otel/sdk/metric/metricdata/metricdatatest"
	"go.yaml.in/yaml/v3"

	"github.com/erviz/otelcol-erviz/internal/schema"
	"github.com/erviz/otelcol-erviz/processor/samplingprocessor/internal/metadatatest"
)

// fixtureRecord is one line of testdata/article.yaml.
type fixtureRecord struct {
	ID         string `yaml:"id"`
	Min        int    `yaml:"min"`
	Type       string `yaml:"type"`
	Exporter   string `yaml:"exporter"`
	Resource   string `yaml:"resource"`
	Src        string `yaml:"src"`
	SPort      int64  `yaml:"sport"`
	Dst        string `yaml:"dst"`
	DPort      int64  `yaml:"dport"`
	Proto      string `yaml:"proto"`
	Bytes      int64  `yaml:"bytes"`
	Packets    int64  `yaml:"packets"`
	RevBytes   int64  `yaml:"rev_bytes"`
	RevPackets int64  `yaml:"rev_packets"`
	SrcAS      int64  `yaml:"src_as"`
	DstAS      int64  `yaml:"dst_as"`
	NextHop    string `yaml:"next_hop"`
	InIf       int64  `yaml:"in_if"`
	Rate       int64  `yaml:"rate"`
}

var noon = time.Date(2026, 11, 2, 12, 0, 0, 0, time.UTC)

func loadFixture(t testing.TB) []fixtureRecord {
	raw, err := os.ReadFile(filepath.Join("testdata", "article.yaml"))
	require.NoError(t, err)
	var recs []fixtureRecord
	require.NoError(t, yaml.Unmarshal(raw, &recs))
	require.Len(t, recs, 10)
	return recs
}

// toLogs shapes fixture records the way the receivers emit them.
func toLogs(recs []fixtureRecord) plog.Logs {
	ld := plog.NewLogs()
	for _, r := range recs {
		rl := ld.ResourceLogs().AppendEmpty()
		if r.Exporter != "" {
			rl.Resource().Attributes().PutStr(schema.FlowExporterAddress, r.Exporter)
		}
		if r.Resource != "" {
			rl.Resource().Attributes().PutStr(schema.CloudProvider, schema.CloudProviderAzure)
			rl.Resource().Attributes().PutStr(schema.CloudResourceID, r.Resource)
		}
		lr := rl.ScopeLogs().AppendEmpty().LogRecords().AppendEmpty()
		lr.SetTimestamp(pcommon.NewTimestampFromTime(noon.Add(time.Duration(r.Min) * time.Minute)))
		a := lr.Attributes()
		a.PutStr("test.id", r.ID)
		a.PutStr(schema.FlowType, r.Type)
		a.PutStr(schema.SourceAddress, r.Src)
		a.PutStr(schema.DestinationAddress, r.Dst)
		a.PutInt(schema.SourcePort, r.SPort)
		a.PutInt(schema.DestinationPort, r.DPort)
		a.PutStr(schema.NetworkTransport, r.Proto)
		a.PutInt(schema.FlowIOBytes, r.Bytes)
		a.PutInt(schema.FlowIOPackets, r.Packets)
		if r.Type == schema.FlowTypeVNetFlowLog || r.Type == schema.FlowTypeNSGFlowLog {
			a.PutInt(schema.FlowReverseIOBytes, r.RevBytes)
			a.PutInt(schema.FlowReverseIOPackets, r.RevPackets)
		}
		if r.SrcAS != 0 {
			a.PutInt(schema.FlowSrcAS, r.SrcAS)
		}
		if r.DstAS != 0 {
			a.PutInt(schema.FlowDstAS, r.DstAS)
		}
		if r.NextHop != "" {
			a.PutStr(schema.FlowNextHop, r.NextHop)
		}
		if r.InIf != 0 {
			a.PutInt(schema.FlowInIf, r.InIf)
		}
		a.PutInt(schema.FlowSamplingRate, r.Rate) // 0 = unknown, as the receivers say it
	}
	return ld
}

func runProcessor(t testing.TB, cfg *Config, ld plog.Logs, tt *componenttest.Telemetry) plog.Logs {
	t.Helper()
	sink := &consumertest.LogsSink{}
	set := metadatatest.NewSettings(tt)
	p, err := NewFactory().CreateLogs(context.Background(), set, cfg, sink)
	require.NoError(t, err)
	require.NoError(t, p.Start(context.Background(), componenttest.NewNopHost()))
	require.NoError(t, p.ConsumeLogs(context.Background(), ld))
	require.NoError(t, p.Shutdown(context.Background()))
	require.Len(t, sink.AllLogs(), 1)
	return sink.AllLogs()[0]
}

// row is one output record flattened the way a query sees it (AppTraces Properties).
type row struct {
	ts    time.Time
	attrs map[string]any
}

func (r row) str(k string) string { s, _ := r.attrs[k].(string); return s }
func (r row) int(k string) int64  { i, _ := r.attrs[k].(int64); return i }

func rows(ld plog.Logs) map[string]row {
	out := map[string]row{}
	for i := 0; i < ld.ResourceLogs().Len(); i++ {
		rl := ld.ResourceLogs().At(i)
		for j := 0; j < rl.ScopeLogs().Len(); j++ {
			lrs := rl.ScopeLogs().At(j).LogRecords()
			for k := 0; k < lrs.Len(); k++ {
				lr := lrs.At(k)
				r := row{ts: lr.Timestamp().AsTime(), attrs: lr.Attributes().AsRaw()}
				out[r.str("test.id")] = r
			}
		}
	}
	return out
}

// TestArticleAnalyses reproduces the analyses of the ExpressRoute article on records from
// both IPFIX and flow logs, each as the one query a user writes on the processor's output.
// The expected numbers are derived by hand from testdata/article.yaml in the comments.
func TestArticleAnalyses(t *testing.T) {
	recs := loadFixture(t)
	out := rows(runProcessor(t, loadConfig(t, "article"), toLogs(recs), componenttest.NewTelemetry()))
	require.Len(t, out, 10)

	// 1. Trending: bytes per 5 minutes towards Azure and towards on-premises, rescaled.
	//    12:00 to_azure   = r1 1500*4096 + r7 forward 5000          = 6,149,000
	//    12:00 from_azure = r2 3000*4096 + r7 reverse 80000         = 12,368,000
	//    12:05 to_azure   = r6 1200*1024 (record's rate) + r8 rev 1000 = 1,229,800
	//    12:05 from_azure = r8 forward 20000                         = 20,000
	type bin struct {
		start     time.Time
		to, from_ int64
	}
	bins := map[time.Time]*bin{}
	for _, r := range out {
		b := r.ts.Truncate(5 * time.Minute)
		if bins[b] == nil {
			bins[b] = &bin{start: b}
		}
		bins[b].to += r.int(schema.FlowToAzureIOBytes)
		bins[b].from_ += r.int(schema.FlowFromAzureIOBytes)
	}
	assert.Equal(t, int64(6_149_000), bins[noon].to)
	assert.Equal(t, int64(12_368_000), bins[noon].from_)
	assert.Equal(t, int64(1_229_800), bins[noon.Add(5*time.Minute)].to)
	assert.Equal(t, int64(20_000), bins[noon.Add(5*time.Minute)].from_)

	// 2. One sum instead of four unioned queries: "bytes towards on-premises" today is
	//    ERTC records with SrcAsn 65515 (times 4096) + flow-log forward bytes where the source
	//    is in Azure + flow-log reverse bytes where the destination is in Azure (+ the same for
	//    NSG logs). Computed here from the raw fixture, and compared with one sum of
	//    flow.from_azure.io.bytes: 12,288,000 + 80,000 + 20,000 = 12,388,000.
	inAzure := func(s string) bool {
		a := netip.MustParseAddr(s)
		return netip.MustParsePrefix("10.0.0.0/14").Contains(a)
	}
	var union int64
	for _, r := range recs {
		switch {
		case r.Type == "ipfix" && r.SrcAS == 65515:
			union += r.Bytes * 4096
		case r.Type != "ipfix" && inAzure(r.Src) && !inAzure(r.Dst):
			union += r.Bytes
		case r.Type != "ipfix" && inAzure(r.Dst) && !inAzure(r.Src):
			union += r.RevBytes
		}
	}
	var oneSum int64
	for _, r := range out {
		oneSum += r.int(schema.FlowFromAzureIOBytes)
	}
	assert.Equal(t, int64(12_388_000), union)
	assert.Equal(t, union, oneSum)

	// 3. Top talkers by conversation, with the server side identified: r1 and r2 are the two
	//    halves of one HTTPS conversation (r2 has source port 443) and add up:
	//    6,144,000 + 12,288,000 = 18,432,000.
	type talker struct {
		client, server string
		port           int64
		service        string
		bytes          int64
	}
	agg := map[string]*talker{}
	for _, r := range out {
		if r.str(schema.FlowServerAddress) == "" {
			continue
		}
		k := fmt.Sprint(r.str(schema.FlowClientAddress), r.str(schema.FlowServerAddress), r.int(schema.FlowServerPort))
		if agg[k] == nil {
			agg[k] = &talker{r.str(schema.FlowClientAddress), r.str(schema.FlowServerAddress), r.int(schema.FlowServerPort), r.str(schema.FlowService), 0}
		}
		agg[k].bytes += r.int(schema.FlowIOBytes) + r.int(schema.FlowReverseIOBytes)
	}
	var top []talker
	for _, v := range agg {
		top = append(top, *v)
	}
	sort.Slice(top, func(i, j int) bool { return top[i].bytes > top[j].bytes })
	require.GreaterOrEqual(t, len(top), 4)
	assert.Equal(t, []talker{
		{"192.168.1.10", "10.1.0.4", 443, "https", 18_432_000},
		{"10.1.0.4", "10.2.0.5", 1433, "ms-sql-s", 3_276_800},
		{"192.168.2.20", "10.2.0.5", 445, "microsoft-ds", 1_228_800},
		{"172.16.100.2", "172.16.100.1", 179, "bgp", 409_600},
	}, top[:4])

	// 4. Hairpin: spoke to spoke at the edge router (r3) and in the GatewaySubnet flow log (r9);
	//    not in the spoke's own NSG flow log (r10).
	var hairpin, control []string
	for id, r := range out {
		if h, _ := r.attrs[schema.FlowHairpin].(bool); h {
			hairpin = append(hairpin, id)
		}
		if r.str(schema.FlowClass) == "control_plane" {
			control = append(control, id)
		}
	}
	sort.Strings(hairpin)
	sort.Strings(control)
	assert.Equal(t, []string{"r3", "r9"}, hairpin)
	assert.Equal(t, "azure_internal", out["r10"].str(schema.FlowDirection))

	// 5. Control plane: BGP (r4) and ICMP (r5) between the link addresses.
	assert.Equal(t, []string{"r4", "r5"}, control)

	// 6. Circuit load balancing: bytes per link. primary = r1 (next hop) + r2 (ingress
	//    interface 11) = 18,432,000; secondary = r6 = 1,228,800.
	perLink := map[string]int64{}
	for _, r := range out {
		if l := r.str(schema.FlowLink); l != "" {
			perLink[l] += r.int(schema.FlowIOBytes)
		}
	}
	assert.Equal(t, map[string]int64{"primary": 18_432_000, "secondary": 1_228_800}, perLink)

	// Rescaling bookkeeping.
	assert.Equal(t, int64(1500), out["r1"].int(schema.FlowIOBytesSampled))
	assert.Equal(t, int64(4096), out["r1"].int(schema.FlowSamplingRate))
	assert.Equal(t, "config", out["r1"].str(schema.FlowSamplingRateSource))
	assert.Equal(t, "record", out["r6"].str(schema.FlowSamplingRateSource))
	assert.Equal(t, int64(5000), out["r7"].int(schema.FlowIOBytes), "flow logs are unsampled: rate 1")
	assert.Equal(t, "to_azure", out["r1"].str(schema.FlowDirection))
	assert.Equal(t, "from_azure", out["r2"].str(schema.FlowDirection))
}

func TestNotRescaledTwiceAndNonFlowRecords(t *testing.T) {
	recs := loadFixture(t)
	cfg := loadConfig(t, "article")
	once := runProcessor(t, cfg, toLogs(recs[:1]), componenttest.NewTelemetry())
	bgp := once.ResourceLogs().AppendEmpty().ScopeLogs().AppendEmpty().LogRecords().AppendEmpty()
	bgp.Attributes().PutStr("bgp.event", "announce")
	bgp.Attributes().PutStr("bgp.prefix", "10.1.0.0/16")

	tt := componenttest.NewTelemetry()
	t.Cleanup(func() { require.NoError(t, tt.Shutdown(context.Background())) })
	twice := rows(runProcessor(t, cfg, once, tt))
	assert.Equal(t, int64(1500*4096), twice["r1"].int(schema.FlowIOBytes), "a rescaled record is not rescaled again")
	assert.Equal(t, int64(1500), twice["r1"].int(schema.FlowIOBytesSampled))
	assert.Equal(t, "to_azure", twice["r1"].str(schema.FlowDirection))
	for _, r := range twice {
		if r.str("bgp.event") != "" {
			assert.Len(t, r.attrs, 2, "a non-flow record passes untouched")
		}
	}
	metadatatest.AssertEqualProcessorSamplingRecords(t, tt, []metricdata.DataPoint[int64]{
		{Value: 1, Attributes: attribute.NewSet(attribute.String("outcome", "already_rescaled"))},
		{Value: 1, Attributes: attribute.NewSet(attribute.String("outcome", "not_flow"))},
	}, metricdatatest.IgnoreTimestamp())
}

func TestUnknownRateIsCountedAndTagged(t *testing.T) {
	recs := loadFixture(t)
	r := recs[0]
	r.Exporter = "198.51.100.7" // no rate entry, no default, no rate in the record
	tt := componenttest.NewTelemetry()
	t.Cleanup(func() { require.NoError(t, tt.Shutdown(context.Background())) })
	out := rows(runProcessor(t, loadConfig(t, "article"), toLogs([]fixtureRecord{r}), tt))["r1"]
	assert.Equal(t, int64(1500), out.int(schema.FlowIOBytes), "counts stay as received")
	assert.Equal(t, "unknown", out.str(schema.FlowSamplingRateSource))
	assert.NotContains(t, out.attrs, schema.FlowIOBytesSampled, "an unscaled record is not marked as rescaled")
	assert.Equal(t, "to_azure", out.str(schema.FlowDirection), "tagging still happens")
	metadatatest.AssertEqualProcessorSamplingRecords(t, tt, []metricdata.DataPoint[int64]{
		{Value: 1, Attributes: attribute.NewSet(attribute.String("outcome", "unknown_rate"))},
	}, metricdatatest.IgnoreTimestamp())
}

func TestERTCOverheadAndForcedRate(t *testing.T) {
	cfg := loadConfig(t, "ertc")
	recs := loadFixture(t)
	a, b := recs[0], recs[0]
	a.ID, a.Exporter = "default", "192.0.2.9"
	b.ID, b.Exporter, b.Rate = "forced", "192.0.2.50", 1 // the device claims 1:1
	out := rows(runProcessor(t, cfg, toLogs([]fixtureRecord{a, b}), componenttest.NewTelemetry()))
	assert.Equal(t, int64((1500+14*2)*4096), out["default"].int(schema.FlowIOBytes))
	assert.Equal(t, int64(2*4096), out["default"].int(schema.FlowIOPackets))
	assert.Equal(t, "default", out["default"].str(schema.FlowSamplingRateSource))
	assert.Equal(t, int64((1500+14*2)*100), out["forced"].int(schema.FlowIOBytes))
	assert.Equal(t, int64(100), out["forced"].int(schema.FlowSamplingRate))
	assert.Equal(t, "forced", out["forced"].str(schema.FlowSamplingRateSource))
}

// benchBatch is a batch shaped as the IPFIX receiver emits it: one resource (exporter) and
// 1,000 records of the article's flows in one scope.
func benchBatch(b *testing.B) plog.Logs {
	recs := loadFixture(b)
	ld := plog.NewLogs()
	rl := ld.ResourceLogs().AppendEmpty()
	rl.Resource().Attributes().PutStr(schema.FlowExporterAddress, "192.0.2.1")
	lrs := rl.ScopeLogs().AppendEmpty().LogRecords()
	for i := 0; i < 1000; i++ {
		r := recs[i%6] // the IPFIX records
		one := toLogs([]fixtureRecord{r}).ResourceLogs().At(0).ScopeLogs().At(0).LogRecords().At(0)
		one.CopyTo(lrs.AppendEmpty())
	}
	return ld
}

// benchLoop runs fn on fresh copies of the batch; copying and the garbage collection it
// causes stay outside the timed region. Reports ns and allocations per record.
func benchLoop(b *testing.B, fn func(plog.Logs)) {
	template := benchBatch(b)
	const chunk = 32
	work := make([]plog.Logs, chunk)
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		if i%chunk == 0 {
			b.StopTimer()
			for j := range work {
				work[j] = plog.NewLogs()
				template.CopyTo(work[j])
			}
			runtime.GC()
			b.StartTimer()
		}
		fn(work[i%chunk])
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N)/1000, "ns/record")
	b.ReportMetric(float64(b.N)*1000/b.Elapsed().Seconds(), "records/s")
}

// BenchmarkProcessLogs: the processor on batches of 1,000 IPFIX records.
func BenchmarkProcessLogs(b *testing.B) {
	p, err := newProcessor(metadatatest.NewSettings(componenttest.NewTelemetry()), loadConfig(b, "article"))
	require.NoError(b, err)
	benchLoop(b, func(ld plog.Logs) { _, _ = p.processLogs(context.Background(), ld) })
}

// BenchmarkPdataFloor is the part of the work that any processor adding these attributes
// pays to pdata: one pass over each record's attributes and the same number of attributes
// added (constant values), with no classification at all.
func BenchmarkPdataFloor(b *testing.B) {
	benchLoop(b, func(ld plog.Logs) {
		lrs := ld.ResourceLogs().At(0).ScopeLogs().At(0).LogRecords()
		for k := 0; k < lrs.Len(); k++ {
			a := lrs.At(k).Attributes()
			n := 0
			a.Range(func(string, pcommon.Value) bool { n++; return true })
			a.EnsureCapacity(a.Len() + maxAdded)
			a.PutInt(schema.FlowIOBytesSampled, 1)
			a.PutInt(schema.FlowIOPacketsSampled, 1)
			a.PutStr(schema.FlowSamplingRateSource, "config")
			a.PutStr(schema.FlowDirection, "to_azure")
			a.PutInt(schema.FlowToAzureIOBytes, 1)
			a.PutInt(schema.FlowToAzureIOPackets, 1)
			a.PutInt(schema.FlowFromAzureIOBytes, 0)
			a.PutInt(schema.FlowFromAzureIOPackets, 0)
			a.PutStr(schema.FlowClientAddress, "192.168.1.10")
			a.PutStr(schema.FlowServerAddress, "10.1.0.4")
			a.PutInt(schema.FlowServerPort, 443)
			a.PutStr(schema.FlowService, "https")
			a.PutStr(schema.FlowClass, "data")
		}
	})
}
