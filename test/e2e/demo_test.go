package e2e

import (
	"bufio"
	"encoding/json"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"go.opentelemetry.io/collector/pdata/pmetric"

	"github.com/erviz/otelcol-erviz/internal/report"
)

// TestDemo runs `make demo`'s script with the built binaries and checks the report it prints
// against the known truth of the bundled data: the traffic demo/gen/traffic.py generated
// (exported by softflowd as two edge routers, and recorded by the flow logs of the
// GatewaySubnet, two spokes and an NSG: counted once), and the scripted MRT message log of
// demo/gen/mrtgen.
func TestDemo(t *testing.T) {
	bin := collectorBin(t)
	erviz := need(t, "ERVIZ_BIN", "the erviz command")
	root := repoRoot(t)
	dir := t.TempDir()
	cmd := exec.Command("bash", filepath.Join(root, "scripts", "demo.sh"))
	cmd.Dir = root
	cmd.Env = append(os.Environ(), "DEMO_DIR="+dir, "OTELCOL_ERVIZ_BIN="+bin, "ERVIZ_BIN="+erviz)
	out, err := cmd.CombinedOutput()
	if err != nil {
		log, _ := os.ReadFile(filepath.Join(dir, "collector.log"))
		t.Fatalf("demo: %v\n%s\ncollector log:\n%s", err, out, log)
	}
	for _, want := range []string{"== Traffic per direction, bit/s", "== Bytes seen at each observation point", "== Top talkers", "== Hairpin flows", "== Routing conditions",
		"== Traffic per route class", "== Traffic at risk"} {
		if !strings.Contains(string(out), want) {
			t.Errorf("the demo's report has no %q section:\n%s", want, out)
		}
	}
	r := readReport(t, erviz, filepath.Join(dir, "out", "logs.json"))

	checkFlowReport(t, r, root, filepath.Join(root, "demo", "data", "flowlogs"))
	checkCountedSums(t, readTruth(t, root), filepath.Join(dir, "out"))
	checkRouteReport(t, r)

	// BGP: 3 OPENs, 41 keepalives (two Route Server instances for 14 minutes, the VPN NVA for
	// 13), one NOTIFICATION; the routes left at the end; the conditions.
	counts := map[string]int{}
	for _, b := range r.BGPOverTime {
		for k, v := range b.Counts {
			counts[k] += v
		}
	}
	if counts["open"] != 3 || counts["keepalive"] != 41 || counts["notification"] != 1 || counts["peer_up"] != 3 || counts["peer_down"] != 1 {
		t.Errorf("BGP events: %v", counts)
	}
	if r.Prefixes["azure"] != 2 || r.Prefixes["expressroute"] != 2 || len(r.Prefixes) != 2 {
		t.Errorf("prefixes by class at the end: %v", r.Prefixes)
	}
	var overlaps, lostResolved, lostActive int
	for _, c := range r.Conditions {
		switch {
		case c.Kind == "overlap" && !c.Resolved:
			overlaps++
		case c.Kind == "redundancy.lost" && c.Prefix == "192.168.0.0/16" && c.Resolved && c.Duration == 240:
			lostResolved++
		case c.Kind == "redundancy.lost" && c.Prefix == "192.168.0.0/16" && !c.Resolved:
			lostActive++
		}
	}
	if overlaps != 2 || lostResolved != 1 || lostActive != 1 {
		t.Errorf("conditions: %+v", r.Conditions)
	}
}

// readReport runs `erviz report -json` on the file exporter's logs.
func readReport(t *testing.T, erviz, logs string) report.Report {
	t.Helper()
	js, err := exec.Command(erviz, "report", "-json", "-top", "100", logs).Output()
	if err != nil {
		t.Fatalf("erviz report -json: %v", err)
	}
	var r report.Report
	if err := json.Unmarshal(js, &r); err != nil {
		t.Fatal(err)
	}
	return r
}

// demoTruth is demo/data/truth.json: what demo/gen/traffic.py sent, summed from its packets.
type demoTruth struct {
	Directions    map[string]int64 `json:"bytes_per_direction"`
	Links         map[string]int64 `json:"bytes_per_link"`
	Conversations []struct {
		Client     string `json:"client"`
		Server     string `json:"server"`
		ServerPort int64  `json:"server_port"`
		Bytes      int64  `json:"bytes"`
	} `json:"conversations"`
}

func readTruth(t *testing.T, root string) demoTruth {
	t.Helper()
	raw, err := os.ReadFile(filepath.Join(root, "demo", "data", "truth.json"))
	if err != nil {
		t.Fatal(err)
	}
	var tr demoTruth
	if err := json.Unmarshal(raw, &tr); err != nil {
		t.Fatal(err)
	}
	if len(tr.Directions) == 0 || len(tr.Conversations) == 0 {
		t.Fatalf("truth.json is empty: %s", raw)
	}
	return tr
}

// checkFlowReport checks the flow part of the demo's report against the traffic generator's
// truth (demo/data/truth.json): every conversation is seen at the edge router and at two to
// four flow logs (flowLogs: the directory of their blobs), and counted once.
func checkFlowReport(t *testing.T, r report.Report, root, flowLogs string) {
	t.Helper()
	truth := readTruth(t, root)
	for _, k := range []string{"to_azure", "from_azure", "azure_internal", "onprem_internal", "unknown"} {
		if r.DirectionTotals[k] != truth.Directions[k] {
			t.Errorf("bytes %s = %d, the generator sent %d", k, r.DirectionTotals[k], truth.Directions[k])
		}
	}
	// Bit/s per 5-minute bin: bytes x 8 / 300, every bin from the first to the last, empty
	// ones as zero; the bins add up to the totals.
	var sum int64
	for i, d := range r.Directions {
		if i > 0 && d.Start.Sub(r.Directions[i-1].Start) != report.Bin {
			t.Errorf("bins %s and %s are not adjacent", r.Directions[i-1].Start, d.Start)
		}
		for k, b := range d.Bytes {
			if got, want := d.BitsPerSecond[k], float64(b)*8/300; got != want {
				t.Errorf("bin %s %s: %v bit/s, want %v", d.Start, k, got, want)
			}
			sum += b
		}
	}
	var total int64
	for _, v := range truth.Directions {
		total += v
	}
	if sum != total || len(r.Directions) != 3 {
		t.Errorf("%d bins adding up to %d bytes, want 3 (09:00, 09:05, 09:10) adding up to %d", len(r.Directions), sum, total)
	}

	// Top talkers: every conversation the generator sent, with its bytes (both directions).
	for _, c := range truth.Conversations {
		found := false
		for _, tk := range r.TopTalkers {
			if (tk.Client == c.Client && tk.Server == c.Server || tk.Client == c.Server && tk.Server == c.Client) && tk.Bytes == c.Bytes {
				found = true
			}
		}
		if !found && c.ServerPort != 0 { // ICMP has no client and server
			t.Errorf("no talker %s <-> %s with %d bytes in %+v", c.Client, c.Server, c.Bytes, r.TopTalkers)
		}
	}
	talker := func(client, server string, port int64) report.Talker {
		for _, tk := range r.TopTalkers {
			if tk.Client == client && tk.Server == server && tk.ServerPort == port {
				return tk
			}
		}
		t.Errorf("no talker %s -> %s:%d in %+v", client, server, port, r.TopTalkers)
		return report.Talker{}
	}
	// Client and server, with the reply of a stateless record (source port 80) on the same
	// conversation; counted at the edge (two IPFIX records), not again in the flow logs.
	if tk := talker("192.168.1.10", "10.1.0.4", 443); tk.Bytes != 40000 || tk.Service != "https" || tk.Records != 2 {
		t.Errorf("https talker: %+v", tk)
	}
	if tk := talker("192.168.2.20", "10.2.0.5", 80); tk.Bytes != 18000 || tk.Service != "http" || tk.Records != 2 {
		t.Errorf("http talker (server seen as source in the reply): %+v", tk)
	}

	// Hairpin: the spoke-to-spoke conversation through the edge, both ways, counted once
	// (the edge saw it; the GatewaySubnet's and the spokes' records of it do not count).
	hp := map[string]int64{}
	for _, f := range r.Hairpin {
		hp[f.Source+">"+f.Destination] += f.Bytes
	}
	if len(hp) != 2 || hp["10.1.0.4>10.2.0.5"] != 4800 || hp["10.2.0.5>10.1.0.4"] != 1600 {
		t.Errorf("hairpin flows: %+v", r.Hairpin)
	}
	// Control plane: BGP both ways on the primary link, ICMP, BGP on the secondary link.
	cp := map[string]int64{}
	for _, f := range r.ControlPlane {
		cp[f.Source+">"+f.Destination+"/"+f.Transport] = f.Bytes
	}
	wantCP := map[string]int64{"169.254.0.1>169.254.0.2/tcp": 354, "169.254.0.2>169.254.0.1/tcp": 354,
		"169.254.0.1>169.254.0.2/icmp": 420, "169.254.0.9>169.254.0.10/tcp": 236}
	if len(cp) != len(wantCP) {
		t.Errorf("control-plane flows: %+v", r.ControlPlane)
	}
	for k, v := range wantCP {
		if cp[k] != v {
			t.Errorf("control plane %s: %d bytes, want %d", k, cp[k], v)
		}
	}
	// Links: every packet of each edge router.
	for k, v := range truth.Links {
		if r.Links[k] != v {
			t.Errorf("bytes on link %s = %d, the generator sent %d", k, r.Links[k], v)
		}
	}

	// Per observation point: each flow log's own total (read from its blobs here), each
	// edge router's the packets it forwarded; only the edge's bytes count.
	seen := map[string]int64{}
	counted := map[string]int64{}
	for _, o := range r.Observations {
		seen[o.Kind] += o.Bytes
		counted[o.Kind] += o.CountedBytes
	}
	if seen["edge"] != total || counted["edge"] != total {
		t.Errorf("edge observation points saw %d bytes, %d counted; the generator sent %d", seen["edge"], counted["edge"], total)
	}
	perResource := flowLogBytesPerResource(t, flowLogs)
	if len(perResource) != 4 {
		t.Errorf("flow log resources: %v", perResource)
	}
	for id, b := range perResource {
		found := false
		for _, o := range r.Observations {
			if o.Point == strings.ToLower(id) {
				found = true
				if o.Bytes != b {
					t.Errorf("observation point %s saw %d bytes, its blobs hold %d", o.Point, o.Bytes, b)
				}
				if o.CountedBytes != 0 {
					t.Errorf("observation point %s: %d bytes counted, want 0 (the edge counts them)", o.Point, o.CountedBytes)
				}
			}
		}
		if !found {
			t.Errorf("no observation point %s in %+v", strings.ToLower(id), r.Observations)
		}
	}
	if seen["gateway_subnet"] == 0 || seen["vnet"] == 0 || seen["nsg"] == 0 {
		t.Errorf("observation kinds: %v", seen)
	}
}

// checkCountedSums checks the generator's truth against the flow.counted=true records of the
// file output, summed here without the report's code, and against the flowmetrics series.
func checkCountedSums(t *testing.T, truth demoTruth, out string) {
	t.Helper()
	recs := readLogRecords(t, filepath.Join(out, "logs.json"), "")
	got := map[string]int64{}
	links := map[string]int64{}
	for _, a := range recs {
		if a["flow.type"] == nil {
			continue
		}
		counted, ok := a["flow.counted"].(bool)
		if !ok {
			t.Fatalf("flow record without flow.counted: %v", a)
		}
		if !counted {
			continue
		}
		i := func(k string) int64 { v, _ := a[k].(int64); return v }
		switch d := a["flow.direction"].(string); d {
		case "to_azure", "from_azure":
			got["to_azure"] += i("flow.to_azure.io.bytes")
			got["from_azure"] += i("flow.from_azure.io.bytes")
		default:
			got[d] += i("flow.io.bytes") + i("flow.reverse.io.bytes")
		}
		if l, _ := a["flow.link"].(string); l != "" {
			links[l] += i("flow.io.bytes") + i("flow.reverse.io.bytes")
		}
	}
	for k, v := range truth.Directions {
		if got[k] != v {
			t.Errorf("counted records: %s = %d bytes, the generator sent %d", k, got[k], v)
		}
	}
	for k, v := range truth.Links {
		if links[k] != v {
			t.Errorf("counted records: link %s = %d bytes, the generator sent %d", k, links[k], v)
		}
	}

	// The flowmetrics series (file exporter of the metrics pipeline): counted records only.
	f, err := os.Open(filepath.Join(out, "metrics.json"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	series := map[string]int64{}
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 1<<20), 64<<20)
	for sc.Scan() {
		md, err := (&pmetric.JSONUnmarshaler{}).UnmarshalMetrics(sc.Bytes())
		if err != nil {
			t.Fatalf("metrics.json: %v", err)
		}
		rms := md.ResourceMetrics()
		for i := 0; i < rms.Len(); i++ {
			sms := rms.At(i).ScopeMetrics()
			for j := 0; j < sms.Len(); j++ {
				ms := sms.At(j).Metrics()
				for k := 0; k < ms.Len(); k++ {
					m := ms.At(k)
					if m.Type() != pmetric.MetricTypeSum {
						continue
					}
					dps := m.Sum().DataPoints()
					for d := 0; d < dps.Len(); d++ {
						attr := func(k string) string {
							if v, ok := dps.At(d).Attributes().Get(k); ok {
								return v.AsString()
							}
							return ""
						}
						series[m.Name()] += dps.At(d).IntValue()
						series[m.Name()+" "+attr("flow.direction")] += dps.At(d).IntValue()
						series[m.Name()+" link "+attr("flow.link")] += dps.At(d).IntValue()
					}
				}
			}
		}
	}
	for name, want := range map[string]int64{
		"flow.to_azure.io.bytes":       truth.Directions["to_azure"],
		"flow.from_azure.io.bytes":     truth.Directions["from_azure"],
		"flow.io.bytes azure_internal": truth.Directions["azure_internal"], // IPFIX: one record per direction
		"flow.io.bytes unknown":        truth.Directions["unknown"],
		"flow.io.bytes link primary":   truth.Links["primary"],
		"flow.io.bytes link secondary": truth.Links["secondary"],
	} {
		if series[name] != want {
			t.Errorf("flowmetrics %s = %d, the generator sent %d", name, series[name], want)
		}
	}
	var total int64
	for _, v := range truth.Directions {
		total += v
	}
	if series["flow.observation.io.bytes"] <= total {
		t.Errorf("the per-observation view adds up to %d bytes, want more than the %d sent (each conversation is seen at several points)", series["flow.observation.io.bytes"], total)
	}
}

// flowLogBytesPerResource sums the bytes (both ways) of every tuple of the blobs under dir by
// the record's target resource (VNet flow logs) or resource (NSG flow logs), reading them
// with encoding/json and strings.Split, independently of pkg/flowlog.
func flowLogBytesPerResource(t *testing.T, dir string) map[string]int64 {
	t.Helper()
	type tuples struct{ FlowTuples []string }
	var doc struct {
		Records []struct {
			TargetResourceID string
			ResourceID       string
			FlowRecords      struct {
				Flows []struct{ FlowGroups []tuples }
			}
			Properties struct {
				Flows []struct{ Flows []tuples }
			}
		}
	}
	out := map[string]int64{}
	add := func(id string, ts []string) {
		for _, tu := range ts {
			f := strings.Split(tu, ",")
			if len(f) < 13 {
				continue
			}
			fwd, _ := strconv.ParseInt(f[10], 10, 64)
			rev, _ := strconv.ParseInt(f[12], 10, 64)
			out[id] += fwd + rev
		}
	}
	err := filepath.WalkDir(dir, func(p string, d os.DirEntry, err error) error {
		if err != nil || d.IsDir() || d.Name() != "PT1H.json" {
			return err
		}
		raw, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		doc.Records = nil
		if err := json.Unmarshal(raw, &doc); err != nil {
			return err
		}
		for _, rec := range doc.Records {
			for _, f := range rec.FlowRecords.Flows {
				for _, g := range f.FlowGroups {
					add(rec.TargetResourceID, g.FlowTuples)
				}
			}
			for _, f := range rec.Properties.Flows {
				for _, g := range f.Flows {
					add(rec.ResourceID, g.FlowTuples)
				}
			}
		}
		return nil
	})
	if err != nil || len(out) == 0 {
		t.Fatalf("reading the flow logs under %s: %v", dir, err)
	}
	return out
}

// flowLogTruth sums the bytes of every tuple of the sample blobs by direction relative to
// the demo's Azure (10.0.0.0/16, 10.1.0.0/16, 10.2.0.0/16) and on-premises (192.168.0.0/16) space,
// reading them with encoding/json and strings.Split, independently of pkg/flowlog.
func flowLogTruth(t *testing.T, dir string) (map[string]int64, int) {
	t.Helper()
	azure := []netip.Prefix{netip.MustParsePrefix("10.0.0.0/16"), netip.MustParsePrefix("10.1.0.0/16"), netip.MustParsePrefix("10.2.0.0/16")}
	onprem := netip.MustParsePrefix("192.168.0.0/16")
	side := func(s string) string {
		a := netip.MustParseAddr(s)
		for _, p := range azure {
			if p.Contains(a) {
				return "azure"
			}
		}
		if onprem.Contains(a) {
			return "onprem"
		}
		return "other"
	}
	type tuples struct{ FlowTuples []string }
	var doc struct {
		Records []struct {
			FlowRecords struct {
				Flows []struct{ FlowGroups []tuples }
			}
			Properties struct {
				Flows []struct{ Flows []tuples }
			}
		}
	}
	out := map[string]int64{}
	n := 0
	err := filepath.WalkDir(dir, func(p string, d os.DirEntry, err error) error {
		if err != nil || d.IsDir() || d.Name() != "PT1H.json" {
			return err
		}
		raw, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		doc.Records = nil
		if err := json.Unmarshal(raw, &doc); err != nil {
			return err
		}
		var all []string
		for _, rec := range doc.Records {
			for _, f := range rec.FlowRecords.Flows {
				for _, g := range f.FlowGroups {
					all = append(all, g.FlowTuples...)
				}
			}
			for _, f := range rec.Properties.Flows {
				for _, g := range f.Flows {
					all = append(all, g.FlowTuples...)
				}
			}
		}
		for _, tu := range all {
			n++ // one record per tuple
			f := strings.Split(tu, ",")
			// VNet v4: bytes at 11 and 13 (1-based); NSG v2: at 11 and 13 too; v1 has none.
			if len(f) < 13 {
				continue
			}
			fwd, _ := strconv.ParseInt(f[10], 10, 64)
			rev, _ := strconv.ParseInt(f[12], 10, 64)
			switch s, d := side(f[1]), side(f[2]); {
			case s == "onprem" && d == "azure":
				out["to_azure"] += fwd
				out["from_azure"] += rev
			case s == "azure" && d == "onprem":
				out["from_azure"] += fwd
				out["to_azure"] += rev
			case s == "azure" && d == "azure":
				out["azure_internal"] += fwd + rev
			case s == "onprem" && d == "onprem":
				out["onprem_internal"] += fwd + rev
			default: // outside the demo's address plan (the sample's IPv6 tuples)
				out["unknown"] += fwd + rev
			}
		}
		return nil
	})
	if err != nil || n == 0 {
		t.Fatalf("reading the sample flow logs: %d tuples, %v", n, err)
	}
	return out, n
}

// checkRouteReport checks the routing sections: config/demo.yaml has no prefix list, so the
// directions checkFlowReport found right came from the MRT log's routes; every flow record was
// tagged from the converged RIB (its final state: the VPN backup of 192.168.0.0/16 is gone,
// 10.1.0.0/16 overlaps 10.1.128.0/17 of another origin).
func checkRouteReport(t *testing.T, r report.Report) {
	t.Helper()
	// Every counted record is tagged from a converged RIB (the route sections sum counted records only).
	if r.RoutePending != 0 || r.RouteTagged != r.FlowRecords-r.UncountedRecords {
		t.Errorf("counted records tagged from routes: %d of %d, pending %d", r.RouteTagged, r.FlowRecords-r.UncountedRecords, r.RoutePending)
	}
	classes := map[string]int64{}
	for _, c := range r.TrafficPerRouteClass {
		classes[c.Class] = c.Bytes
	}
	if classes["azure"] == 0 || classes["expressroute"] == 0 || classes["(no route)"] != 708+420+236 {
		t.Errorf("traffic per route class: %+v", r.TrafficPerRouteClass)
	}
	risk := map[string]string{}
	for _, a := range r.TrafficAtRisk {
		risk[a.Condition+" "+a.Prefix] = a.Class
	}
	if risk["redundancy_lost 192.168.0.0/16"] != "expressroute" || risk["overlap 10.1.0.0/16"] != "azure" || len(risk) != 2 {
		t.Errorf("traffic at risk: %+v", r.TrafficAtRisk)
	}
}
