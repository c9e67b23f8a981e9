package report

import (
	"bytes"
	"strings"
	"testing"

	"go.opentelemetry.io/collector/pdata/plog"

	"github.com/erviz/otelcol-erviz/internal/schema"
)

type rec struct {
	state, dstClass, srcClass, cond, dstPrefix string
	fwd, rev                                   int64
}

func routedLogs(recs []rec) plog.Logs {
	ld := plog.NewLogs()
	lrs := ld.ResourceLogs().AppendEmpty().ScopeLogs().AppendEmpty().LogRecords()
	for _, r := range recs {
		a := lrs.AppendEmpty().Attributes()
		a.PutStr(schema.FlowType, schema.FlowTypeVNetFlowLog)
		a.PutInt(schema.FlowIOBytes, r.fwd)
		a.PutInt(schema.FlowIOPackets, 1)
		a.PutInt(schema.FlowReverseIOBytes, r.rev)
		a.PutStr(schema.FlowRouteState, r.state)
		for k, v := range map[string]string{schema.FlowDstRouteClass: r.dstClass, schema.FlowSrcRouteClass: r.srcClass,
			schema.FlowRouteCondition: r.cond, schema.FlowDstRoutePrefix: r.dstPrefix} {
			if v != "" {
				a.PutStr(k, v)
			}
		}
	}
	return ld
}

func TestRouteSections(t *testing.T) {
	b := NewBuilder(10)
	b.Add(routedLogs([]rec{
		{state: "converged", dstClass: "expressroute", srcClass: "onprem", dstPrefix: "10.1.0.0/16", fwd: 1000, rev: 200},
		{state: "converged", dstClass: "vpn", srcClass: "onprem", cond: "redundancy_lost", dstPrefix: "10.2.0.0/16", fwd: 500},
		{state: "converged", dstClass: "vpn", cond: "redundancy_lost", dstPrefix: "10.2.0.0/16", fwd: 50, rev: 7},
		{state: "converged", fwd: 3},
		{state: "pending", dstClass: "expressroute", fwd: 999},
	}))
	r := b.Report()
	if r.RouteTagged != 4 || r.RoutePending != 1 {
		t.Fatalf("tagged %d pending %d", r.RouteTagged, r.RoutePending)
	}
	got := map[string]int64{}
	for _, c := range r.TrafficPerRouteClass {
		got[c.Class] = c.Bytes
	}
	want := map[string]int64{"expressroute": 1000, "onprem": 200, "vpn": 550, noRoute: 10}
	if len(got) != len(want) {
		t.Fatalf("classes %v", got)
	}
	for k, v := range want {
		if got[k] != v {
			t.Errorf("%s: %d bytes, want %d", k, got[k], v)
		}
	}
	if len(r.TrafficAtRisk) != 1 || r.TrafficAtRisk[0] != (AtRisk{Condition: "redundancy_lost", Prefix: "10.2.0.0/16", Class: "vpn", Bytes: 550, Packets: 2, Records: 2}) {
		t.Fatalf("at risk %+v", r.TrafficAtRisk)
	}
	var out bytes.Buffer
	if err := WriteText(&out, r); err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"== Traffic per route class", "== Traffic at risk", "redundancy_lost  10.2.0.0/16"} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("no %q in\n%s", want, out.String())
		}
	}
}

func TestRouteSectionsWithoutRouting(t *testing.T) {
	b := NewBuilder(10)
	ld := plog.NewLogs()
	a := ld.ResourceLogs().AppendEmpty().ScopeLogs().AppendEmpty().LogRecords().AppendEmpty().Attributes()
	a.PutStr(schema.FlowType, schema.FlowTypeIPFIX)
	a.PutInt(schema.FlowIOBytes, 10)
	b.Add(ld)
	var out bytes.Buffer
	if err := WriteText(&out, b.Report()); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(out.String(), "set sampling.routing.source") {
		t.Fatalf("%s", out.String())
	}
}
