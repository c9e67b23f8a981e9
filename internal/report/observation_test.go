package report

import (
	"strings"
	"testing"
	"time"

	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/plog"

	"github.com/erviz/otelcol-erviz/internal/schema"
)

var nine = time.Date(2025, 6, 2, 9, 0, 0, 0, time.UTC)

// record adds one tagged flow record to ld.
func record(ld plog.Logs, at time.Time, point, kind string, counted *bool, dir string, to, from int64) {
	lr := ld.ResourceLogs().AppendEmpty().ScopeLogs().AppendEmpty().LogRecords().AppendEmpty()
	lr.SetTimestamp(pcommon.NewTimestampFromTime(at))
	a := lr.Attributes()
	a.PutStr(schema.FlowType, schema.FlowTypeVNetFlowLog)
	a.PutStr(schema.SourceAddress, "192.168.1.10")
	a.PutStr(schema.DestinationAddress, "10.1.0.4")
	a.PutStr(schema.FlowClientAddress, "192.168.1.10")
	a.PutStr(schema.FlowServerAddress, "10.1.0.4")
	a.PutInt(schema.FlowServerPort, 443)
	a.PutStr(schema.NetworkTransport, "tcp")
	a.PutStr(schema.FlowDirection, dir)
	a.PutInt(schema.FlowIOBytes, to)
	a.PutInt(schema.FlowReverseIOBytes, from)
	a.PutInt(schema.FlowToAzureIOBytes, to)
	a.PutInt(schema.FlowFromAzureIOBytes, from)
	a.PutStr(schema.FlowObservationPoint, point)
	a.PutStr(schema.FlowObservationKind, kind)
	if counted != nil {
		a.PutBool(schema.FlowCounted, *counted)
	}
}

// One conversation seen at three points, counted at one; a gap of two empty bins.
func TestCountedOnceBitsPerSecondEmptyBins(t *testing.T) {
	yes, no := true, false
	ld := plog.NewLogs()
	record(ld, nine, "192.0.2.1/if/1", "edge", &yes, "to_azure", 3000, 9000)
	record(ld, nine.Add(time.Minute), "/x/subnets/gatewaysubnet", "gateway_subnet", &no, "to_azure", 3000, 9000)
	record(ld, nine.Add(2*time.Minute), "/x/virtualnetworks/spoke1", "vnet", &no, "to_azure", 3000, 9000)
	record(ld, nine.Add(17*time.Minute), "192.0.2.1/if/1", "edge", nil, "to_azure", 600, 0) // no flow.counted: counts
	b := NewBuilder(10)
	b.Add(ld)
	r := b.Report()

	if r.DirectionTotals["to_azure"] != 3600 || r.DirectionTotals["from_azure"] != 9000 {
		t.Errorf("totals %v, want to_azure 3600, from_azure 9000", r.DirectionTotals)
	}
	if r.UncountedRecords != 2 || r.FlowRecords != 4 {
		t.Errorf("%d uncounted of %d flow records", r.UncountedRecords, r.FlowRecords)
	}
	if len(r.Directions) != 4 {
		t.Fatalf("%d bins, want 09:00, 09:05 and 09:10 (empty) and 09:15", len(r.Directions))
	}
	for i, want := range []float64{3000 * 8 / 300.0, 0, 0, 600 * 8 / 300.0} {
		d := r.Directions[i]
		if !d.Start.Equal(nine.Add(time.Duration(i) * Bin)) {
			t.Errorf("bin %d starts %s", i, d.Start)
		}
		if got, ok := d.BitsPerSecond["to_azure"]; !ok || got != want {
			t.Errorf("bin %s: to_azure %v bit/s (present %v), want %v", d.Start, got, ok, want)
		}
	}
	if len(r.TopTalkers) != 1 || r.TopTalkers[0].Bytes != 12600 {
		t.Errorf("talkers %+v, want one with 12,600 bytes", r.TopTalkers)
	}
	seen := map[string]ObservationTotal{}
	for _, o := range r.Observations {
		seen[o.Point] = o
	}
	if o := seen["192.0.2.1/if/1"]; o.Bytes != 12600 || o.CountedBytes != 12600 || o.Kind != "edge" {
		t.Errorf("edge: %+v", o)
	}
	if o := seen["/x/subnets/gatewaysubnet"]; o.Bytes != 12000 || o.CountedBytes != 0 || o.Records != 1 {
		t.Errorf("gateway: %+v", o)
	}

	var sb strings.Builder
	if err := WriteText(&sb, r); err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"80 bit/s", "0 bit/s", "16 bit/s", "total bytes", "2 flow records left out", "== Bytes seen at each observation point", "gateway_subnet"} {
		if !strings.Contains(sb.String(), want) {
			t.Errorf("text report lacks %q:\n%s", want, sb.String())
		}
	}
}

func TestBitRate(t *testing.T) {
	for bps, want := range map[float64]string{0: "0 bit/s", 999: "999 bit/s", 1500: "1.50 kbit/s", 2.5e6: "2.50 Mbit/s", 1e10: "10.00 Gbit/s"} {
		if got := bitRate(bps); got != want {
			t.Errorf("bitRate(%v) = %q, want %q", bps, got, want)
		}
	}
}
