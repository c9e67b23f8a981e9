package e2e

import (
	"math"
	"sort"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/erviz/otelcol-erviz/internal/report"
)

// routeBytes is the traffic of a report's routing sections: bytes per route class, and bytes
// at risk per "condition class".
type routeBytes struct {
	classes map[string]int64
	risk    map[string]int64
}

func reportRouteBytes(r report.Report) routeBytes {
	b := routeBytes{classes: map[string]int64{}, risk: map[string]int64{}}
	for _, c := range r.TrafficPerRouteClass {
		b.classes[c.Class] += c.Bytes
	}
	for _, a := range r.TrafficAtRisk {
		b.risk[a.Condition+" "+a.Class] += a.Bytes
	}
	return b
}

// minus is b - o, key by key, without the zeros.
func (b routeBytes) minus(o routeBytes) routeBytes {
	d := routeBytes{classes: map[string]int64{}, risk: map[string]int64{}}
	for _, m := range []struct{ out, x, y map[string]int64 }{{d.classes, b.classes, o.classes}, {d.risk, b.risk, o.risk}} {
		for k, v := range m.x {
			if v-m.y[k] != 0 {
				m.out[k] = v - m.y[k]
			}
		}
	}
	return d
}

// panelExpr returns the only target of the dashboard panel whose title starts with title.
func panelExpr(t *testing.T, exprs map[string]string, title string) string {
	t.Helper()
	var out []string
	for where, e := range exprs {
		if strings.HasPrefix(where, `panel "`+title) {
			out = append(out, e)
		}
	}
	if len(out) != 1 {
		t.Fatalf("panel %q: targets %v", title, out)
	}
	return out[0]
}

// checkRoutePanels runs the dashboard's "Traffic per route class" and "Traffic at risk"
// panels at instant last over window and compares them, series by series, with the traffic
// `erviz report` found per route class and at risk in the same replay (want, in bytes).
func checkRoutePanels(t *testing.T, prom promAPI, exprs map[string]string, window time.Duration, last time.Time, want routeBytes) {
	t.Helper()
	if len(want.classes) < 2 || len(want.risk) == 0 {
		t.Fatalf("the demo's report has too little routing to check the panels: %+v", want)
	}
	windowArg := strconv.FormatInt(window.Milliseconds(), 10) + "ms"
	for _, pc := range []struct {
		title  string
		labels []string
		want   map[string]int64
	}{
		{"Traffic per route class", []string{"flow_dst_route_class"}, want.classes},
		{"Traffic at risk", []string{"flow_route_condition", "flow_dst_route_class"}, want.risk},
	} {
		q := strings.NewReplacer("$window", windowArg, "$exporter", ".*").Replace(panelExpr(t, exprs, pc.title))
		res, err := prom.query(q, last)
		if err != nil {
			t.Fatalf("%s: %v", q, err)
		}
		got := map[string]float64{}
		for _, s := range res {
			var key []string
			for _, l := range pc.labels {
				key = append(key, s.Metric[l])
			}
			v, _ := strconv.ParseFloat(s.Value[1].(string), 64)
			if v != 0 {
				got[strings.Join(key, " ")] = v
			}
		}
		keys := map[string]bool{}
		for k := range got {
			keys[k] = true
		}
		for k := range pc.want {
			keys[k] = true
		}
		var sorted []string
		for k := range keys {
			sorted = append(sorted, k)
		}
		sort.Strings(sorted)
		for _, k := range sorted {
			w := float64(pc.want[k]) * 8 / window.Seconds()
			if math.Abs(got[k]-w) > w*0.005 || (w == 0) != (got[k] == 0) {
				t.Errorf("%s: %q = %.2f bit/s, erviz report: %d bytes in %s = %.2f bit/s", pc.title, k, got[k], pc.want[k], window, w)
			} else {
				t.Logf("%s: %q = %.2f bit/s (erviz report: %.2f bit/s)", pc.title, k, got[k], w)
			}
		}
	}
}

// logSeriesCount reports the flowmetrics series of the demo with the routing dimensions and
// without them (the same series summed over them), and fails above the connector's cap.
func logSeriesCount(t *testing.T, prom promAPI) {
	t.Helper()
	with := prom.scalar(`count({__name__=~"flow_(to_azure_|from_azure_)?io_(bytes|packets)_total"})`)
	without := prom.scalar(`count(count by (__name__, flow_direction, flow_link, flow_class, flow_service, flow_exporter_address, cloud_resource_id) ({__name__=~"flow_(to_azure_|from_azure_)?io_(bytes|packets)_total"}))`)
	t.Logf("flowmetrics series on the demo: %v with flow.dst.route.class and flow.route.condition, %v without", with, without)
	if math.IsNaN(with) || with > 10000 {
		t.Errorf("flowmetrics series: %v (max_series 10000)", with)
	}
}
