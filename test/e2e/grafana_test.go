package e2e

import (
	"bufio"
	"context"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/osrg/gobgp/v3/pkg/packet/bgp"
	"github.com/osrg/gobgp/v3/pkg/packet/mrt"
	"go.opentelemetry.io/collector/component"
	"go.opentelemetry.io/collector/component/componenttest"
	"go.opentelemetry.io/collector/consumer/consumertest"
	"go.opentelemetry.io/collector/pdata/plog"
	"go.opentelemetry.io/collector/pdata/pmetric"
	"go.opentelemetry.io/collector/receiver"
	"go.opentelemetry.io/collector/receiver/receivertest"

	"github.com/erviz/otelcol-erviz/receiver/bgpreceiver"
	"github.com/erviz/otelcol-erviz/receiver/flowlogreceiver"
)

// The dashboard in deploy/grafana must query only metric names that the distribution's
// prometheus exporter (and the collector's own telemetry endpoint) really expose.

const dashboardPath = "deploy/grafana/otelcol-erviz.json"

type dashPanel struct {
	Title      string          `json:"title"`
	Type       string          `json:"type"`
	Datasource *dashDatasource `json:"datasource"`
	Targets    []struct {
		Expr       string          `json:"expr"`
		Datasource *dashDatasource `json:"datasource"`
	} `json:"targets"`
	Panels []dashPanel `json:"panels"`
}

type dashDatasource struct {
	Type string `json:"type"`
	UID  string `json:"uid"`
}

type dashboard struct {
	UID        string      `json:"uid"`
	Panels     []dashPanel `json:"panels"`
	Templating struct {
		List []struct {
			Name       string          `json:"name"`
			Type       string          `json:"type"`
			Query      json.RawMessage `json:"query"`
			Definition string          `json:"definition"`
			Datasource *dashDatasource `json:"datasource"`
		} `json:"list"`
	} `json:"templating"`
}

// dashboardExprs reads the dashboard and returns every PromQL expression in it (panel
// targets and query variables), keyed by where it is, after checking that every query goes
// to the ${DS_PROMETHEUS} data source variable.
func dashboardExprs(t *testing.T) map[string]string {
	t.Helper()
	raw, err := os.ReadFile(filepath.Join(repoRoot(t), dashboardPath))
	if err != nil {
		t.Fatal(err)
	}
	var d dashboard
	if err := json.Unmarshal(raw, &d); err != nil {
		t.Fatalf("%s is not valid JSON: %v", dashboardPath, err)
	}
	if d.UID == "" {
		t.Errorf("dashboard has no uid (provisioning keys on it)")
	}
	hasDS := false
	exprs := map[string]string{}
	checkDS := func(where string, ds *dashDatasource) {
		if ds == nil || ds.Type != "prometheus" || ds.UID != "${DS_PROMETHEUS}" {
			t.Errorf("%s: datasource %+v, want {prometheus ${DS_PROMETHEUS}}", where, ds)
		}
	}
	for _, v := range d.Templating.List {
		switch v.Type {
		case "datasource":
			if v.Name == "DS_PROMETHEUS" && strings.Contains(string(v.Query), "prometheus") {
				hasDS = true
			}
		case "query":
			checkDS("variable "+v.Name, v.Datasource)
			m := regexp.MustCompile(`^label_values\(\s*(.+),\s*[a-zA-Z_][a-zA-Z0-9_]*\s*\)$`).FindStringSubmatch(v.Definition)
			if m == nil {
				t.Errorf("variable %s: definition %q is not label_values(<expr>, <label>)", v.Name, v.Definition)
				continue
			}
			exprs["variable "+v.Name] = m[1]
		}
	}
	if !hasDS {
		t.Errorf("dashboard lacks the DS_PROMETHEUS data source variable")
	}
	var walk func(ps []dashPanel)
	walk = func(ps []dashPanel) {
		for _, p := range ps {
			walk(p.Panels)
			if p.Type == "row" {
				continue
			}
			checkDS("panel "+p.Title, p.Datasource)
			if len(p.Targets) == 0 {
				t.Errorf("panel %q has no query", p.Title)
			}
			for i, tg := range p.Targets {
				where := fmt.Sprintf("panel %q target %d", p.Title, i)
				checkDS(where, tg.Datasource)
				if strings.TrimSpace(tg.Expr) == "" {
					t.Errorf("%s: empty expression", where)
					continue
				}
				exprs[where] = tg.Expr
			}
		}
	}
	walk(d.Panels)
	return exprs
}

var promqlKeywords = map[string]bool{
	"by": true, "without": true, "on": true, "ignoring": true, "group_left": true, "group_right": true,
	"bool": true, "and": true, "or": true, "unless": true, "offset": true, "inf": true, "nan": true,
	"atan2": true,
}

// promqlAggregations may be followed by a by/without clause before their "(".
var promqlAggregations = map[string]bool{
	"sum": true, "min": true, "max": true, "avg": true, "group": true, "stddev": true, "stdvar": true,
	"count": true, "count_values": true, "bottomk": true, "topk": true, "quantile": true,
	"limitk": true, "limit_ratio": true,
}

// promqlMetricNames returns the metric names a PromQL expression selects (Grafana variables
// replaced first). It is a lexer, not a parser: it skips strings, label matchers {...},
// range and subquery brackets [...], function and aggregation names (an identifier before
// "("), the label lists of by/without/on/ignoring/group_*, keywords and numbers, and fails
// on unbalanced brackets or a character PromQL does not have.
func promqlMetricNames(expr string) ([]string, error) {
	s := regexp.MustCompile(`\$\{[^}]*\}|\$[A-Za-z_][A-Za-z0-9_]*`).ReplaceAllString(expr, "5m")
	var names []string
	var stack []byte
	labelList := false // inside the (...) after by, without, on, ignoring, group_left/right
	for i := 0; i < len(s); {
		c := s[i]
		switch {
		case c == ' ' || c == '\t' || c == '\n':
			i++
		case c == '"' || c == '\'' || c == '`':
			j := i + 1
			for j < len(s) && s[j] != c {
				if s[j] == '\\' && c != '`' {
					j++
				}
				j++
			}
			if j >= len(s) {
				return nil, fmt.Errorf("unterminated string at %d", i)
			}
			i = j + 1
		case c == '{':
			// label matchers: skip to the matching brace, strings included
			j := i + 1
			for j < len(s) && s[j] != '}' {
				if s[j] == '"' || s[j] == '\'' || s[j] == '`' {
					q := s[j]
					j++
					for j < len(s) && s[j] != q {
						if s[j] == '\\' && q != '`' {
							j++
						}
						j++
					}
				}
				j++
			}
			if j >= len(s) {
				return nil, fmt.Errorf("unterminated label matcher at %d", i)
			}
			i = j + 1
		case c == '[':
			j := strings.IndexByte(s[i:], ']')
			if j < 0 {
				return nil, fmt.Errorf("unterminated range at %d", i)
			}
			if !regexp.MustCompile(`^\[\s*[0-9smhdwy]+\s*(:\s*[0-9smhdwy]*\s*)?\]$`).MatchString(s[i : i+j+1]) {
				return nil, fmt.Errorf("bad range %q", s[i:i+j+1])
			}
			i += j + 1
		case c == '(':
			stack = append(stack, c)
			i++
		case c == ')':
			if len(stack) == 0 {
				return nil, fmt.Errorf("unbalanced ) at %d", i)
			}
			stack = stack[:len(stack)-1]
			labelList = false
			i++
		case c >= '0' && c <= '9' || c == '.':
			for i < len(s) && (s[i] >= '0' && s[i] <= '9' || s[i] == '.' || s[i] == 'e' || strings.IndexByte("smhdwy", s[i]) >= 0) {
				i++
			}
		case c == '_' || c == ':' || c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z':
			j := i
			for j < len(s) && (s[j] == '_' || s[j] == ':' || s[j] >= 'a' && s[j] <= 'z' || s[j] >= 'A' && s[j] <= 'Z' || s[j] >= '0' && s[j] <= '9') {
				j++
			}
			word := s[i:j]
			k := j
			for k < len(s) && s[k] == ' ' {
				k++
			}
			nextParen := k < len(s) && s[k] == '('
			if promqlAggregations[word] && (strings.HasPrefix(s[k:], "by") || strings.HasPrefix(s[k:], "without")) {
				nextParen = true
			}
			switch {
			case labelList:
			case promqlKeywords[strings.ToLower(word)]:
				if nextParen && word != "atan2" {
					labelList = true
				}
			case nextParen:
				// a function or aggregation
			default:
				names = append(names, word)
			}
			i = j
		case strings.IndexByte("+-*/%^=!<>,", c) >= 0:
			i++
		default:
			return nil, fmt.Errorf("unexpected %q at %d", c, i)
		}
	}
	if len(stack) != 0 {
		return nil, fmt.Errorf("unbalanced (")
	}
	return names, nil
}

func TestPromQLMetricNames(t *testing.T) {
	for expr, want := range map[string]string{
		`sum by (flow_link) (rate(flow_to_azure_io_bytes_total{flow_exporter_address=~"$exporter"}[$window]))`:     "flow_to_azure_io_bytes_total",
		`count(max by (a, b) (bgp_peer_state_ratio) == 1) or vector(0)`:                                            "bgp_peer_state_ratio",
		`topk(10, sum by (x) (rate(a_total{l="x{y}"}[5m]))) / scalar(sum(rate(b_total[${window}])))`:               "a_total b_total",
		`max by (exporter) (otelcol_exporter_queue_size) / on (exporter) group_left (x) max by (exporter) (q_cap)`: "otelcol_exporter_queue_size q_cap",
		`sum(rate(x[5m:1m])) > bool 0.5e3`: "x",
	} {
		got, err := promqlMetricNames(expr)
		if err != nil || strings.Join(got, " ") != want {
			t.Errorf("promqlMetricNames(%s) = %v, %v; want %s", expr, got, err, want)
		}
	}
	for _, bad := range []string{`sum(rate(x[5m])`, `x{a="b"`, `rate(x[5m)`, `x; y`} {
		if _, err := promqlMetricNames(bad); err == nil {
			t.Errorf("promqlMetricNames(%s) accepted a broken expression", bad)
		}
	}
	// Every expression of the dashboard lexes and selects at least one metric.
	for where, expr := range dashboardExprs(t) {
		names, err := promqlMetricNames(expr)
		if err != nil {
			t.Errorf("%s: %q: %v", where, expr, err)
		} else if len(names) == 0 {
			t.Errorf("%s: %q selects no metric", where, expr)
		}
	}
}

// exposedNames returns the metric names with at least one sample in a Prometheus text
// exposition.
func exposedNames(body string) map[string]bool {
	out := map[string]bool{}
	sc := bufio.NewScanner(strings.NewReader(body))
	sc.Buffer(make([]byte, 1<<20), 16<<20)
	for sc.Scan() {
		line := sc.Text()
		if line == "" || line[0] == '#' {
			continue
		}
		if i := strings.IndexAny(line, "{ "); i > 0 {
			out[line[:i]] = true
		}
	}
	return out
}

// ipfixMessage builds an IPFIX message (RFC 7011) from raw sets.
func ipfixMessage(seq uint32, domain uint32, sets ...[]byte) []byte {
	n := 16
	for _, s := range sets {
		n += len(s)
	}
	b := make([]byte, 16, n)
	binary.BigEndian.PutUint16(b[0:], 10)
	binary.BigEndian.PutUint16(b[2:], uint16(n))
	binary.BigEndian.PutUint32(b[4:], uint32(time.Now().Unix()))
	binary.BigEndian.PutUint32(b[8:], seq)
	binary.BigEndian.PutUint32(b[12:], domain)
	for _, s := range sets {
		b = append(b, s...)
	}
	return b
}

func ipfixSet(id uint16, body []byte) []byte {
	b := make([]byte, 4, 4+len(body))
	binary.BigEndian.PutUint16(b[0:], id)
	binary.BigEndian.PutUint16(b[2:], uint16(4+len(body)))
	return append(b, body...)
}

// sendIPFIX gives the ipfix receiver an exporter with a template, records, a sequence gap
// and a decode error, and one datagram from an exporter outside allowed_exporters.
func sendIPFIX(t *testing.T, port int) {
	t.Helper()
	dst := &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1), Port: port}
	conn, err := net.DialUDP("udp", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)}, dst)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	// Template 256: sourceIPv4Address(8), destinationIPv4Address(12), destinationTransportPort(11),
	// protocolIdentifier(4), octetDeltaCount(1), packetDeltaCount(2).
	tmpl := []byte{1, 0, 0, 6, 0, 8, 0, 4, 0, 12, 0, 4, 0, 11, 0, 2, 0, 4, 0, 1, 0, 1, 0, 8, 0, 2, 0, 8}
	rec := func(src byte) []byte {
		r := []byte{192, 168, 1, src, 10, 1, 0, 4, 1, 187, 6}
		r = binary.BigEndian.AppendUint64(r, 1500)
		return binary.BigEndian.AppendUint64(r, 3)
	}
	msgs := [][]byte{
		ipfixMessage(0, 7, ipfixSet(2, tmpl), ipfixSet(256, append(rec(10), rec(11)...))),
		// 2 records sent so far, but the header says 12: 10 lost on the way.
		ipfixMessage(12, 7, ipfixSet(256, rec(12))),
		// A data set whose template was never announced.
		ipfixMessage(13, 7, ipfixSet(999, rec(13))),
	}
	for _, m := range msgs {
		if _, err := conn.Write(m); err != nil {
			t.Fatal(err)
		}
	}
	other, err := net.DialUDP("udp", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 2)}, dst)
	if err != nil {
		t.Fatal(err)
	}
	defer other.Close()
	if _, err := other.Write(msgs[0]); err != nil {
		t.Fatal(err)
	}
}

// writeMRT writes a BIRD-like MRT message log: a session to Route Server reaching
// Established, then two UPDATEs.
func writeMRT(t *testing.T, path string) {
	t.Helper()
	ts := uint32(time.Now().Unix())
	var out []byte
	add := func(sub mrt.MRTSubTypeBGP4MP, body mrt.Body) {
		m, err := mrt.NewMRTMessage(ts, mrt.BGP4MP, sub, body)
		if err != nil {
			t.Fatal(err)
		}
		b, err := m.Serialize()
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, b...)
	}
	add(mrt.STATE_CHANGE_AS4, mrt.NewBGP4MPStateChange(65515, 65010, 0, "10.0.0.4", "10.0.1.4", true, mrt.OPENCONFIRM, mrt.ESTABLISHED))
	for _, p := range []string{"10.1.0.0", "192.168.50.0"} {
		u := bgp.NewBGPUpdateMessage(nil, []bgp.PathAttributeInterface{
			bgp.NewPathAttributeOrigin(0),
			bgp.NewPathAttributeAsPath([]bgp.AsPathParamInterface{bgp.NewAs4PathParam(bgp.BGP_ASPATH_ATTR_TYPE_SEQ, []uint32{65515, 12076, 65001})}),
			bgp.NewPathAttributeNextHop("10.0.0.4"),
		}, []*bgp.IPAddrPrefix{bgp.NewIPAddrPrefix(16, p)})
		add(mrt.MESSAGE_AS4, mrt.NewBGP4MPMessage(65515, 65010, 0, "10.0.0.4", "10.0.1.4", true, u))
	}
	if err := os.WriteFile(path, out, 0o644); err != nil {
		t.Fatal(err)
	}
}

// writeFlowLog writes one VNet flow log blob (as a file) with a good tuple and a broken one.
func writeFlowLog(t *testing.T, dir string) {
	t.Helper()
	now := time.Now().UTC()
	p := filepath.Join(dir, "insights-logs-flowlogflowevent", "flowLogResourceID=", "SUB_NETWORKWATCHERRG", "NETWORKWATCHER_WESTEUROPE_FL-HUB",
		now.Format("y=2006/m=01/d=02/h=15"), "m=00", "macAddress=000D3A000001", "PT1H.json")
	if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
		t.Fatal(err)
	}
	ms := now.Add(-30 * time.Second).UnixMilli()
	rec := fmt.Sprintf(`{"time":%q,"flowLogVersion":4,"flowLogGUID":"3c2b1a09-5d6e-4f70-8a9b-0c1d2e3f4a5b","macAddress":"000D3A000001",`+
		`"category":"FlowLogFlowEvent","flowLogResourceID":"/SUBSCRIPTIONS/SUB/RESOURCEGROUPS/NETWORKWATCHERRG/PROVIDERS/MICROSOFT.NETWORK/NETWORKWATCHERS/NETWORKWATCHER_WESTEUROPE/FLOWLOGS/FL-HUB",`+
		`"targetResourceID":"/subscriptions/sub/resourceGroups/hub/providers/Microsoft.Network/virtualNetworks/hub","operationName":"FlowLogFlowEvent",`+
		`"flowRecords":{"flows":[{"aclID":"00000000-1111-2222-3333-444444444401","flowGroups":[{"rule":"DefaultRule_AllowVnetInBound","flowTuples":[`+
		`"%d,192.168.10.25,10.1.0.4,54095,443,6,I,C,NX,338,51431,42,861968","%d,not-an-address,10.1.0.4"]}]}]}}`,
		now.Format(time.RFC3339Nano), ms, ms)
	if err := os.WriteFile(p, []byte(`{"records":[`+rec+`]}`), 0o644); err != nil {
		t.Fatal(err)
	}
}

// receiverMetrics runs a receiver in this process and returns its first metrics batch that
// holds every one of the wanted metric names.
func receiverMetrics(t *testing.T, f receiver.Factory, cfg component.Config, want ...string) pmetric.Metrics {
	t.Helper()
	sink := new(consumertest.MetricsSink)
	set := receivertest.NewNopSettings(f.Type())
	r, err := f.CreateMetrics(context.Background(), set, cfg, sink)
	if err != nil {
		t.Fatal(err)
	}
	// The bgp and flowlog receivers are shared between signals; a logs instance is not needed.
	if err := r.Start(context.Background(), componenttest.NewNopHost()); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = r.Shutdown(context.Background()) })
	var found pmetric.Metrics
	has := func(md pmetric.Metrics) bool {
		seen := map[string]bool{}
		for i := 0; i < md.ResourceMetrics().Len(); i++ {
			sms := md.ResourceMetrics().At(i).ScopeMetrics()
			for j := 0; j < sms.Len(); j++ {
				ms := sms.At(j).Metrics()
				for k := 0; k < ms.Len(); k++ {
					seen[ms.At(k).Name()] = true
				}
			}
		}
		for _, w := range want {
			if !seen[w] {
				return false
			}
		}
		return true
	}
	eventually(t, 30*time.Second, f.Type().String()+" metrics "+strings.Join(want, ", "), func() bool {
		for _, md := range sink.AllMetrics() {
			if has(md) {
				found = md
				return true
			}
		}
		return false
	}, func() string { return fmt.Sprintf("%d batches", len(sink.AllMetrics())) })
	return found
}

// TestDashboardMetricsExposed runs the built collector on config/local.yaml, gives every
// component the dashboard reads from some data, scrapes the prometheus exporter and the
// collector's own telemetry, and checks that every metric name in the dashboard is exposed.
//
// The flowmetrics connector and the ipfix receiver run inside the collector. The bgp and
// flowlog receivers are not in the distribution's builder-config.yaml yet, so they run in
// this process on an MRT file and a flow-log directory, and their metrics are sent to the
// collector over OTLP: names, units, types and temporality reach the same prometheus
// exporter unchanged.
func TestDashboardMetricsExposed(t *testing.T) {
	exprs := dashboardExprs(t)
	root := repoRoot(t)
	dir := t.TempDir()
	p := newPorts(t)
	unreachable := freePort(t)
	args := append([]string{
		"--config=" + filepath.Join(root, "config", "local.yaml"),
		"--config=" + filepath.Join(root, "test", "e2e", "testdata", "article-overlay.yaml"),
		"--config=yaml:connectors::flowmetrics::interval: 1s",
		"--config=yaml:receivers::ipfix::collection_interval: 1s",
		"--config=yaml:receivers::ipfix::allowed_exporters: [127.0.0.1]",
		// An exporter with a sending queue and no retries towards a closed port: queue and
		// send-failure telemetry.
		fmt.Sprintf("--config=yaml:exporters::otlp_http/unreachable: {endpoint: 'http://127.0.0.1:%d', sending_queue: {enabled: true}, retry_on_failure: {enabled: false}}", unreachable),
		"--config=yaml:service::pipelines::logs::exporters: [file/logs, flowmetrics, otlp_http/unreachable]",
	}, p.overrides(true)...)
	c := startCollector(t, "grafana", dir, p, nil, args...)

	// Flow records over OTLP (the sampling processor tags them, flowmetrics sums them).
	body, err := (&plog.JSONMarshaler{}).MarshalLogs(articleLogs())
	if err != nil {
		t.Fatal(err)
	}
	postOTLP(t, p.HTTP, "logs", body)
	sendIPFIX(t, p.IPFIX)

	// bgp receiver on an MRT message log.
	mrtFile := filepath.Join(t.TempDir(), "messages.mrt")
	writeMRT(t, mrtFile)
	bf := bgpreceiver.NewFactory()
	bcfg := bf.CreateDefaultConfig().(*bgpreceiver.Config)
	bcfg.MRT.Include = []string{mrtFile}
	bcfg.MRT.PollInterval = 100 * time.Millisecond
	bcfg.CollectionInterval = time.Second
	bgpMD := receiverMetrics(t, bf, bcfg, "bgp.peer.state", "bgp.peer.messages", "bgp.peer.prefixes", "bgp.peer.flaps",
		"bgp.rib.prefixes", "bgp.rib.paths", "bgp.overlaps.active")

	// flowlog receiver on a directory.
	flDir := t.TempDir()
	writeFlowLog(t, flDir)
	ff := flowlogreceiver.NewFactory()
	fcfg := ff.CreateDefaultConfig().(*flowlogreceiver.Config)
	fcfg.Directory = flDir
	fcfg.PollInterval = 200 * time.Millisecond
	flMD := receiverMetrics(t, ff, fcfg, "flowlog.tuples", "flowlog.bytes_read", "flowlog.blobs", "flowlog.lag", "flowlog.errors")

	for _, md := range []pmetric.Metrics{bgpMD, flMD} {
		b, err := (&pmetric.JSONMarshaler{}).MarshalMetrics(md)
		if err != nil {
			t.Fatal(err)
		}
		postOTLP(t, p.HTTP, "metrics", b)
	}

	want := map[string][]string{} // metric name -> where the dashboard uses it
	for where, expr := range exprs {
		names, err := promqlMetricNames(expr)
		if err != nil {
			t.Fatalf("%s: %q: %v", where, expr, err)
		}
		for _, n := range names {
			want[n] = append(want[n], where)
		}
	}
	if len(want) < 20 {
		t.Fatalf("only %d metric names found in the dashboard: %v", len(want), want)
	}
	exporterURL := "http://127.0.0.1:" + itoa(p.Prometheus) + "/metrics"
	telemetryURL := "http://127.0.0.1:" + itoa(p.Telemetry) + "/metrics"
	var missing []string
	var scraped string
	eventually(t, 60*time.Second, "every dashboard metric on the prometheus exporter or the telemetry endpoint", func() bool {
		scraped = httpGet(exporterURL) + "\n" + httpGet(telemetryURL)
		got := exposedNames(scraped)
		missing = missing[:0]
		for n := range want {
			if !got[n] {
				missing = append(missing, n)
			}
		}
		return len(missing) == 0
	}, func() string {
		sort.Strings(missing)
		var b strings.Builder
		for _, n := range missing {
			fmt.Fprintf(&b, "missing %s (used in %s)\n", n, strings.Join(want[n], "; "))
		}
		names := make([]string, 0)
		for n := range exposedNames(scraped) {
			names = append(names, n)
		}
		sort.Strings(names)
		return b.String() + "exposed: " + strings.Join(names, " ") + "\n" + c.out.String()
	})
	t.Logf("%d dashboard metric names, all exposed", len(want))
}
