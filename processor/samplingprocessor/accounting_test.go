package samplingprocessor

import (
	"context"
	"fmt"
	"runtime"
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

	"github.com/erviz/otelcol-erviz/internal/schema"
	"github.com/erviz/otelcol-erviz/processor/samplingprocessor/internal/metadatatest"
)

// conversation is traffic that happened: the truth the counted records must add up to.
type conversation struct {
	client, server   string
	cport, sport     int64
	fwd, rev         int64 // bytes client->server, server->client
	fwdPkts, revPkts int64
}

const (
	gwID      = "/subscriptions/S/resourceGroups/rg-network/providers/Microsoft.Network/virtualNetworks/vnet-hub/subnets/GatewaySubnet"
	spoke1ID  = "/subscriptions/S/resourceGroups/rg-spoke1/providers/Microsoft.Network/virtualNetworks/vnet-spoke1"
	spoke2ID  = "/subscriptions/S/resourceGroups/rg-spoke2/providers/Microsoft.Network/virtualNetworks/vnet-spoke2"
	nsg2ID    = "/SUBSCRIPTIONS/S/RESOURCEGROUPS/RG-SPOKE2/PROVIDERS/MICROSOFT.NETWORK/NETWORKSECURITYGROUPS/NSG-SPOKE2-DB"
	edgeAddr  = "192.0.2.1"
	spoke1MAC = "000D3A2B1001"
	spoke2MAC = "000D3A2B2001"
)

var (
	// A: on-premises to spoke 1 (to_azure).
	convA = conversation{client: "192.168.1.10", cport: 50000, server: "10.1.0.4", sport: 443, fwd: 10_000, rev: 30_000, fwdPkts: 20, revPkts: 20}
	// B: spoke 2 to on-premises (from_azure).
	convB = conversation{client: "10.2.0.5", cport: 40000, server: "192.168.2.20", sport: 80, fwd: 4_000, rev: 14_000, fwdPkts: 10, revPkts: 10}
	// C: spoke 1 to spoke 2 hairpinned through the gateway (azure_internal, hairpin).
	convC = conversation{client: "10.1.0.4", cport: 52000, server: "10.2.0.4", sport: 1433, fwd: 4_800, rev: 1_600, fwdPkts: 8, revPkts: 8}
	// D: spoke 1 to spoke 2 over peering (azure_internal).
	convD = conversation{client: "10.1.0.6", cport: 33000, server: "10.2.0.7", sport: 5432, fwd: 7_000, rev: 9_000, fwdPkts: 7, revPkts: 9}
)

// edgeRecords: what a stateless edge exporter sends, one record per direction.
func edgeRecords(ld plog.Logs, at time.Time, cs ...conversation) {
	rl := ld.ResourceLogs().AppendEmpty()
	rl.Resource().Attributes().PutStr(schema.FlowExporterAddress, edgeAddr)
	lrs := rl.ScopeLogs().AppendEmpty().LogRecords()
	for _, c := range cs {
		for _, d := range []struct {
			src, dst     string
			sp, dp, b, p int64
			inIf         int64
		}{{c.client, c.server, c.cport, c.sport, c.fwd, c.fwdPkts, 1}, {c.server, c.client, c.sport, c.cport, c.rev, c.revPkts, 2}} {
			lr := lrs.AppendEmpty()
			lr.SetTimestamp(pcommon.NewTimestampFromTime(at))
			a := lr.Attributes()
			a.PutStr(schema.FlowType, schema.FlowTypeIPFIX)
			a.PutStr(schema.SourceAddress, d.src)
			a.PutStr(schema.DestinationAddress, d.dst)
			a.PutInt(schema.SourcePort, d.sp)
			a.PutInt(schema.DestinationPort, d.dp)
			a.PutStr(schema.NetworkTransport, "tcp")
			a.PutInt(schema.FlowIOBytes, d.b)
			a.PutInt(schema.FlowIOPackets, d.p)
			a.PutInt(schema.FlowInIf, d.inIf)
			a.PutInt(schema.FlowSamplingRate, 1)
		}
	}
}

// flowLogRecords: what a flow log at one resource writes, one stateful tuple per conversation.
func flowLogRecords(ld plog.Logs, flowType, resourceID, mac, nicDir string, at time.Time, cs ...conversation) {
	rl := ld.ResourceLogs().AppendEmpty()
	ra := rl.Resource().Attributes()
	ra.PutStr(schema.CloudProvider, schema.CloudProviderAzure)
	ra.PutStr(schema.CloudResourceID, resourceID)
	ra.PutStr(schema.AzureFlowLogMACAddress, mac)
	lrs := rl.ScopeLogs().AppendEmpty().LogRecords()
	for _, c := range cs {
		lr := lrs.AppendEmpty()
		lr.SetTimestamp(pcommon.NewTimestampFromTime(at))
		a := lr.Attributes()
		a.PutStr(schema.FlowType, flowType)
		a.PutStr(schema.SourceAddress, c.client)
		a.PutStr(schema.DestinationAddress, c.server)
		a.PutInt(schema.SourcePort, c.cport)
		a.PutInt(schema.DestinationPort, c.sport)
		a.PutStr(schema.NetworkTransport, "tcp")
		a.PutInt(schema.FlowIOBytes, c.fwd)
		a.PutInt(schema.FlowIOPackets, c.fwdPkts)
		a.PutInt(schema.FlowReverseIOBytes, c.rev)
		a.PutInt(schema.FlowReverseIOPackets, c.revPkts)
		a.PutInt(schema.FlowSamplingRate, 1)
		a.PutStr(schema.AzureFlowLogDirection, nicDir)
	}
}

func accountingConfig() *Config {
	cfg := createDefaultConfig()
	cfg.Direction.AzurePrefixes = []string{"10.0.0.0/16", "10.1.0.0/16", "10.2.0.0/16"}
	cfg.Direction.OnpremPrefixes = []string{"192.168.0.0/16"}
	cfg.Hairpin.EdgeExporters = []string{edgeAddr}
	return cfg
}

// totals is what a user sums: per direction over counted records, and per observation point
// over all records.
type totals struct {
	toAzure, fromAzure, internal int64
	perPoint                     map[string]int64
	perKind                      map[string]string
	uncounted                    int
}

func sum(t *testing.T, outs ...plog.Logs) totals {
	t.Helper()
	tot := totals{perPoint: map[string]int64{}, perKind: map[string]string{}}
	for _, ld := range outs {
		rls := ld.ResourceLogs()
		for i := 0; i < rls.Len(); i++ {
			lrs := rls.At(i).ScopeLogs().At(0).LogRecords()
			for k := 0; k < lrs.Len(); k++ {
				a := lrs.At(k).Attributes().AsRaw()
				point, _ := a[schema.FlowObservationPoint].(string)
				kind, _ := a[schema.FlowObservationKind].(string)
				require.NotEmpty(t, point, "record without an observation point: %v", a)
				tot.perKind[point] = kind
				b, _ := a[schema.FlowIOBytes].(int64)
				rb, _ := a[schema.FlowReverseIOBytes].(int64)
				tot.perPoint[point] += b + rb
				counted, ok := a[schema.FlowCounted].(bool)
				require.True(t, ok, "record without flow.counted: %v", a)
				if !counted {
					tot.uncounted++
					continue
				}
				to, _ := a[schema.FlowToAzureIOBytes].(int64)
				from, _ := a[schema.FlowFromAzureIOBytes].(int64)
				tot.toAzure += to
				tot.fromAzure += from
				if a[schema.FlowDirection] == schema.FlowDirectionAzureInternal {
					tot.internal += b + rb
				}
			}
		}
	}
	return tot
}

// TestCountedEqualsTruth: the same conversations seen at the edge router, the GatewaySubnet,
// both spokes' VNet flow logs and spoke 2's NSG flow log. Counted records add up to the
// traffic that happened; the per-observation view shows what each source saw.
func TestCountedEqualsTruth(t *testing.T) {
	at := time.Date(2025, 6, 2, 9, 1, 0, 0, time.UTC)
	truthTo := convA.fwd + convB.rev
	truthFrom := convA.rev + convB.fwd
	truthInternal := convC.fwd + convC.rev + convD.fwd + convD.rev

	flowLogs := func(ld plog.Logs) {
		// The gateway sees on-prem initiated traffic and hairpinned traffic (Azure to
		// on-premises bypasses it); spokes see their own NICs.
		flowLogRecords(ld, schema.FlowTypeVNetFlowLog, gwID, "000D3A4C0A01", schema.DirectionInbound, at, convA, convC)
		flowLogRecords(ld, schema.FlowTypeVNetFlowLog, spoke1ID, spoke1MAC, schema.DirectionInbound, at, convA)
		flowLogRecords(ld, schema.FlowTypeVNetFlowLog, spoke1ID, spoke1MAC, schema.DirectionOutbound, at, convC, convD)
		flowLogRecords(ld, schema.FlowTypeVNetFlowLog, spoke2ID, spoke2MAC, schema.DirectionOutbound, at, convB)
		flowLogRecords(ld, schema.FlowTypeVNetFlowLog, spoke2ID, spoke2MAC, schema.DirectionInbound, at, convC, convD)
		flowLogRecords(ld, schema.FlowTypeNSGFlowLog, nsg2ID, spoke2MAC, schema.DirectionOutbound, at, convB)
		flowLogRecords(ld, schema.FlowTypeNSGFlowLog, nsg2ID, spoke2MAC, schema.DirectionInbound, at, convC, convD)
	}

	t.Run("edge ipfix and flow logs", func(t *testing.T) {
		p := newTestProcessor(t, accountingConfig())
		edge := plog.NewLogs()
		edgeRecords(edge, at, convA, convB) // the customer edge does not see MSEE hairpin
		logs := plog.NewLogs()
		flowLogs(logs)
		tot := sum(t, p(edge), p(logs))
		assert.Equal(t, truthTo, tot.toAzure, "to_azure")
		assert.Equal(t, truthFrom, tot.fromAzure, "from_azure")
		assert.Equal(t, truthInternal, tot.internal, "azure_internal")
		// Per observation point: each source's own total.
		assert.Equal(t, convA.fwd+convB.fwd, tot.perPoint[edgeAddr+"/if/1"], "edge, ingress interface 1")
		assert.Equal(t, convA.rev+convB.rev, tot.perPoint[edgeAddr+"/if/2"], "edge, ingress interface 2")
		assert.Equal(t, convA.fwd+convA.rev+convC.fwd+convC.rev, tot.perPoint[lower(gwID)])
		assert.Equal(t, "gateway_subnet", tot.perKind[lower(gwID)])
		assert.Equal(t, "vnet", tot.perKind[lower(spoke1ID)])
		assert.Equal(t, "nsg", tot.perKind[lower(nsg2ID)])
		assert.Equal(t, "edge", tot.perKind[edgeAddr+"/if/1"])
		assert.Equal(t, convB.fwd+convB.rev+convC.fwd+convC.rev+convD.fwd+convD.rev, tot.perPoint[lower(nsg2ID)])
	})
	t.Run("flow logs only", func(t *testing.T) {
		p := newTestProcessor(t, accountingConfig())
		logs := plog.NewLogs()
		flowLogs(logs)
		tot := sum(t, p(logs))
		// Without the edge: convA counts at the GatewaySubnet; convB (Azure to
		// on-premises) bypasses the gateway and counts outbound at spoke 2.
		assert.Equal(t, truthTo, tot.toAzure, "to_azure")
		assert.Equal(t, truthFrom, tot.fromAzure, "from_azure")
		assert.Equal(t, truthInternal, tot.internal, "azure_internal")
	})
	t.Run("spoke flow logs only, edge_source none", func(t *testing.T) {
		cfg := accountingConfig()
		cfg.Accounting.EdgeSource = "none"
		p := newTestProcessor(t, cfg)
		logs := plog.NewLogs()
		flowLogRecords(logs, schema.FlowTypeVNetFlowLog, spoke1ID, spoke1MAC, schema.DirectionInbound, at, convA)
		flowLogRecords(logs, schema.FlowTypeVNetFlowLog, spoke1ID, spoke1MAC, schema.DirectionOutbound, at, convD)
		flowLogRecords(logs, schema.FlowTypeVNetFlowLog, spoke2ID, spoke2MAC, schema.DirectionOutbound, at, convB)
		flowLogRecords(logs, schema.FlowTypeVNetFlowLog, spoke2ID, spoke2MAC, schema.DirectionInbound, at, convD)
		tot := sum(t, p(logs))
		assert.Equal(t, truthTo, tot.toAzure)
		assert.Equal(t, truthFrom, tot.fromAzure)
		assert.Equal(t, convD.fwd+convD.rev, tot.internal)
	})
	t.Run("records accounted upstream keep their decision", func(t *testing.T) {
		p := newTestProcessor(t, accountingConfig())
		logs := plog.NewLogs()
		flowLogs(logs)
		first := p(logs)
		again := plog.NewLogs()
		first.CopyTo(again)
		assert.Equal(t, sum(t, first), sum(t, p(again)))
	})
}

func lower(s string) string { return toLowerASCII(s) }

// newTestProcessor returns a function that runs batches through one processor instance (its
// learned state carries over between batches, as in a collector).
func newTestProcessor(t testing.TB, cfg *Config) func(plog.Logs) plog.Logs {
	sink := &consumertest.LogsSink{}
	set := metadatatest.NewSettings(componenttest.NewTelemetry())
	p, err := NewFactory().CreateLogs(context.Background(), set, cfg, sink)
	require.NoError(t, err)
	require.NoError(t, p.Start(context.Background(), componenttest.NewNopHost()))
	t.Cleanup(func() { _ = p.Shutdown(context.Background()) })
	return func(ld plog.Logs) plog.Logs {
		sink.Reset()
		require.NoError(t, p.ConsumeLogs(context.Background(), ld))
		require.Len(t, sink.AllLogs(), 1)
		return sink.AllLogs()[0]
	}
}

// TestSoakDistinctFlows: a million distinct flows, half of them hairpin and internal records
// from ever new addresses and NICs, leave the processor's heap flat once its capped tables
// are full. ACCOUNTING_SOAK=1 prints the measurements (recorded in BENCHMARKS.md).
func TestSoakDistinctFlows(t *testing.T) {
	if testing.Short() {
		t.Skip("soak")
	}
	cfg := accountingConfig()
	cfg.Accounting.MaxEntries = 65536
	p := newTestProcessor(t, cfg)
	const total, batch = 1_000_000, 10_000
	at := time.Date(2025, 6, 2, 9, 0, 0, 0, time.UTC)
	heap := func() uint64 {
		runtime.GC()
		runtime.GC()
		var ms runtime.MemStats
		runtime.ReadMemStats(&ms)
		return ms.HeapAlloc
	}
	var afterFill uint64
	for n := 0; n < total; n += batch {
		ld := plog.NewLogs()
		for i := n; i < n+batch; i += 2 {
			src := fmt.Sprintf("10.1.%d.%d", (i>>8)&0xff, i&0xff)
			dst := fmt.Sprintf("10.2.%d.%d", (i>>16)&0xff, (i>>8)&0xff)
			mac := fmt.Sprintf("000D3A%06X", i)
			ts := at.Add(time.Duration(i) * time.Millisecond * 10)
			c := conversation{client: src, cport: int64(1024 + i%60000), server: dst, sport: 1433, fwd: 100, rev: 100, fwdPkts: 1, revPkts: 1}
			flowLogRecords(ld, schema.FlowTypeVNetFlowLog, gwID, "000D3A4C0A01", schema.DirectionInbound, ts, c)
			flowLogRecords(ld, schema.FlowTypeVNetFlowLog, spoke1ID+fmt.Sprintf("-%d", i%1000), mac, schema.DirectionOutbound, ts, c)
		}
		p(ld)
		if n+batch == 200_000 {
			afterFill = heap()
		}
	}
	end := heap()
	grow := int64(end) - int64(afterFill)
	if testing.Verbose() {
		t.Logf("heap after 200k flows %.1f MiB, after 1M flows %.1f MiB (growth %+.1f MiB)", float64(afterFill)/(1<<20), float64(end)/(1<<20), float64(grow)/(1<<20))
	}
	// The capped tables hold at most 2 x 65536 keys (a few MiB); 800k more distinct flows
	// must not add more than that again.
	assert.Less(t, grow, int64(8<<20), "heap grew by %d bytes between 200k and 1M distinct flows", grow)
}

// TestAccountingTelemetry: every decision is counted by reason.
func TestAccountingTelemetry(t *testing.T) {
	at := time.Date(2025, 6, 2, 9, 1, 0, 0, time.UTC)
	tt := componenttest.NewTelemetry()
	t.Cleanup(func() { require.NoError(t, tt.Shutdown(context.Background())) })
	sink := &consumertest.LogsSink{}
	p, err := NewFactory().CreateLogs(context.Background(), metadatatest.NewSettings(tt), accountingConfig(), sink)
	require.NoError(t, err)
	require.NoError(t, p.Start(context.Background(), componenttest.NewNopHost()))
	edge := plog.NewLogs()
	edgeRecords(edge, at, convA, convB)
	require.NoError(t, p.ConsumeLogs(context.Background(), edge))
	logs := plog.NewLogs()
	flowLogRecords(logs, schema.FlowTypeVNetFlowLog, gwID, "000D3A4C0A01", schema.DirectionInbound, at, convA, convC)
	flowLogRecords(logs, schema.FlowTypeVNetFlowLog, spoke1ID, spoke1MAC, schema.DirectionInbound, at, convA)
	flowLogRecords(logs, schema.FlowTypeVNetFlowLog, spoke1ID, spoke1MAC, schema.DirectionOutbound, at, convC, convD)
	flowLogRecords(logs, schema.FlowTypeVNetFlowLog, spoke2ID, spoke2MAC, schema.DirectionOutbound, at, convB)
	flowLogRecords(logs, schema.FlowTypeVNetFlowLog, spoke2ID, spoke2MAC, schema.DirectionInbound, at, convC, convD)
	flowLogRecords(logs, schema.FlowTypeNSGFlowLog, nsg2ID, spoke2MAC, schema.DirectionOutbound, at, convB)
	flowLogRecords(logs, schema.FlowTypeNSGFlowLog, nsg2ID, spoke2MAC, schema.DirectionInbound, at, convC, convD)
	require.NoError(t, p.ConsumeLogs(context.Background(), logs))
	require.NoError(t, p.Shutdown(context.Background()))
	reason := func(r string, n int64) metricdata.DataPoint[int64] {
		return metricdata.DataPoint[int64]{Value: n, Attributes: attribute.NewSet(attribute.String("reason", r))}
	}
	metadatatest.AssertEqualProcessorSamplingAccounting(t, tt, []metricdata.DataPoint[int64]{
		reason("edge", 5),           // the edge's 4 records, the gateway's hairpin record (C)
		reason("edge_elsewhere", 3), // A at the gateway and spoke 1, B at spoke 2
		reason("hairpin_at_edge", 1),
		reason("source", 1), // D outbound at spoke 1
		reason("destination", 2),
		reason("nsg_covered", 3),
	}, metricdatatest.IgnoreTimestamp())
}
