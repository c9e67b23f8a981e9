package e2e

import (
	"encoding/json"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/erviz/otelcol-erviz/internal/report"
)

// TestDemo runs `make demo`'s script with the built binaries and checks the report it prints
// against the known truth of the bundled data: the traffic demo/gen/traffic.py generated
// (exported by softflowd as two edge routers), the sample flow logs (summed here with a plain
// encoding/json reading of the blobs) and the scripted MRT message log of demo/gen/mrtgen.
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
	for _, want := range []string{"== Bytes per direction per 5 minutes", "== Top talkers", "== Hairpin flows", "== Routing conditions",
		"== Traffic per route class", "== Traffic at risk"} {
		if !strings.Contains(string(out), want) {
			t.Errorf("the demo's report has no %q section:\n%s", want, out)
		}
	}
	r := readReport(t, erviz, filepath.Join(dir, "out", "logs.json"))

	checkFlowReport(t, r, root)
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

// checkFlowReport checks the flow part of the demo's report: the traffic of
// demo/gen/traffic.py as the two edge routers export it, plus the sample flow logs.
func checkFlowReport(t *testing.T, r report.Report, root string) {
	t.Helper()
	// Directions: IPFIX truth (traffic.py) plus the flow logs' own counts.
	fl, _ := flowLogTruth(t, filepath.Join(root, "receiver", "flowlogreceiver", "testdata", "hubspoke"))
	want := map[string]int64{
		"to_azure":       14800 + fl["to_azure"],
		"from_azure":     45200 + fl["from_azure"],
		"azure_internal": 6400 + fl["azure_internal"],
		"unknown":        708 + 420 + 236 + fl["unknown"], // BGP and ICMP between link addresses
	}
	for k, v := range want {
		if r.DirectionTotals[k] != v {
			t.Errorf("bytes %s = %d, want %d", k, r.DirectionTotals[k], v)
		}
	}
	if r.DirectionTotals["onprem_internal"] != fl["onprem_internal"] {
		t.Errorf("onprem_internal = %d, want %d", r.DirectionTotals["onprem_internal"], fl["onprem_internal"])
	}

	// Client and server, with the reply of a stateless record (source port 80) on the same
	// conversation.
	talker := func(client, server string, port int64) report.Talker {
		for _, tk := range r.TopTalkers {
			if tk.Client == client && tk.Server == server && tk.ServerPort == port {
				return tk
			}
		}
		t.Errorf("no talker %s -> %s:%d in %+v", client, server, port, r.TopTalkers)
		return report.Talker{}
	}
	if tk := talker("192.168.1.10", "10.1.0.4", 443); tk.Bytes != 40000 || tk.Service != "https" || tk.Records != 2 {
		t.Errorf("https talker: %+v", tk)
	}
	if tk := talker("192.168.2.20", "10.2.0.5", 80); tk.Bytes != 18000 || tk.Service != "http" || tk.Records != 2 {
		t.Errorf("http talker (server seen as source in the reply): %+v", tk)
	}
	if tk := talker("192.168.1.11", "10.1.0.6", 22); tk.Bytes != 2000 {
		t.Errorf("ssh talker: %+v", tk)
	}

	// Hairpin: the spoke-to-spoke conversation through the edge, both ways (and the gateway
	// subnet's flow logs of spoke-to-spoke traffic).
	hp := map[string]int64{}
	for _, f := range r.Hairpin {
		hp[f.Source+">"+f.Destination] += f.Bytes
	}
	if hp["10.1.0.4>10.2.0.5"] != 4800 || hp["10.2.0.5>10.1.0.4"] != 1600 {
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
	// Links: every record of each edge router.
	if r.Links["primary"] != 40000+18000+708+420 || r.Links["secondary"] != 6400+2000+236 {
		t.Errorf("bytes per link: %v", r.Links)
	}

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
	if r.RoutePending != 0 || r.RouteTagged != r.FlowRecords {
		t.Errorf("records tagged from routes: %d of %d, pending %d", r.RouteTagged, r.FlowRecords, r.RoutePending)
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
