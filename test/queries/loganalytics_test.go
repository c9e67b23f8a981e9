package queries

import (
	"bytes"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
	"testing"

	"github.com/erviz/otelcol-erviz/internal/testutil"
	"github.com/erviz/otelcol-erviz/pkg/loganalytics"
)

// The second query pack, docs/queries/log-analytics, reads the typed tables of the
// azure_log_analytics exporter. Its queries are analyzed against the tables' declared columns
// (pkg/loganalytics, the list deploy/azure is generated from), with the saved function
// ErvizAtcIpfix defined as deploy/azure defines it.

func laPackDir(t *testing.T) string {
	return filepath.Join(testutil.RepoRoot(t), "docs", "queries", "log-analytics")
}

// kustoType maps a column type of a custom table to the language service's schema syntax.
var kustoType = map[string]string{"boolean": "bool", "string": "string", "int": "int", "long": "long",
	"real": "real", "datetime": "datetime", "dynamic": "dynamic"}

// laTables returns the typed tables in the language service's schema syntax, with the standard
// columns every Log Analytics table has.
func laTables() map[string]string {
	out := map[string]string{}
	for _, tb := range loganalytics.Tables {
		var cols []string
		for _, c := range tb.Columns {
			cols = append(cols, c.Name+":"+kustoType[c.Type])
		}
		cols = append(cols, "TenantId:string", "Type:string", "_BilledSize:real", "_IsBillable:string", "_ResourceId:string", "_SubscriptionId:string")
		out[tb.Name] = "(" + strings.Join(cols, ", ") + ")"
	}
	return out
}

// analyzeWith is analyze (queries_test.go) against other tables.
func analyzeWith(t *testing.T, tables map[string]string, queries []namedQuery) map[string][]diagnostic {
	t.Helper()
	node := testutil.NeedBinary(t, "node")
	pkg := filepath.Join(testutil.RepoRoot(t), "build", "node", "node_modules", "@kusto", "language-service-next")
	if _, err := os.Stat(filepath.Join(pkg, "Kusto.Language.Bridge.js")); err != nil {
		testutil.Missing(t, "npm package @kusto/language-service-next (in build/node)")
	}
	req, err := json.Marshal(map[string]any{"database": "workspace", "tables": tables, "queries": queries})
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(node, "analyze.js", pkg)
	cmd.Stdin = bytes.NewReader(req)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("node analyze.js: %v\n%s", err, stderr.String())
	}
	var res []result
	if err := json.Unmarshal(out, &res); err != nil {
		t.Fatalf("analyze.js output: %v\n%s", err, out)
	}
	m := map[string][]diagnostic{}
	for _, r := range res {
		m[r.Name] = r.Diagnostics
	}
	if len(m) != len(queries) {
		t.Fatalf("analyze.js answered %d queries, want %d", len(m), len(queries))
	}
	return m
}

// withFunctions defines the saved functions in front of a query that calls them.
func withFunctions(t *testing.T, text string) string {
	t.Helper()
	fns, err := loganalytics.LoadFunctions(filepath.Join(testutil.RepoRoot(t), loganalytics.FunctionsDir))
	if err != nil {
		t.Fatal(err)
	}
	var prefix strings.Builder
	for _, name := range sortedNames(fns) {
		if strings.Contains(text, name+"(") {
			prefix.WriteString("let " + name + " = () {\n" + fns[name].Query + "\n};\n")
		}
	}
	return prefix.String() + text
}

func sortedNames(m map[string]loganalytics.Function) []string {
	var out []string
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

func loadLAPack(t *testing.T) []query {
	t.Helper()
	names, err := filepath.Glob(filepath.Join(laPackDir(t), "*.kql"))
	if err != nil {
		t.Fatal(err)
	}
	sort.Strings(names)
	if len(names) < 15 {
		t.Fatalf("%s holds %d .kql files, want at least 15", laPackDir(t), len(names))
	}
	var qs []query
	for _, n := range names {
		b, err := os.ReadFile(n)
		if err != nil {
			t.Fatal(err)
		}
		q, err := parseQuery(filepath.Base(n), string(b))
		if err != nil {
			t.Fatal(err)
		}
		qs = append(qs, q)
	}
	return qs
}

// TestLAQueriesAnalyze analyzes every query of the Log Analytics pack, and the saved function
// ErvizAtcIpfix, against the declared columns and fails on any error diagnostic.
func TestLAQueriesAnalyze(t *testing.T) {
	files := loadLAPack(t)
	var qs []namedQuery
	for _, f := range files {
		qs = append(qs, namedQuery{f.Name, withFunctions(t, f.Text)})
	}
	fns, err := loganalytics.LoadFunctions(filepath.Join(testutil.RepoRoot(t), loganalytics.FunctionsDir))
	if err != nil {
		t.Fatal(err)
	}
	for name, f := range fns {
		qs = append(qs, namedQuery{"function " + name, f.Query})
	}
	diags := analyzeWith(t, laTables(), qs)
	for _, q := range qs {
		for _, d := range diags[q.Name] {
			if d.Severity == "Error" {
				t.Errorf("%s: %s %s at %q", q.Name, d.Code, d.Message, snippet(q.Text, d.Start, d.Length))
			}
		}
	}
}

// TestErvizAtcIpfixColumns: the function presents the columns an ExpressRoute Traffic Collector
// query reads, with ERTC's types (Protocol a number: arithmetic on it is fine, while the same on a
// text column is an error).
func TestErvizAtcIpfixColumns(t *testing.T) {
	ertc := `ErvizAtcIpfix()
| where Protocol == 6 and DestinationPort == 443 and SrcAsn != DstAsn
| project FlowRecordTime, SourceIp, DestinationIp, SourcePort, DestinationPort, Protocol,
    NumberOfBytes, NumberOfPackets, SrcAsn, DstAsn, NextHop, BgpNextHop, TcpFlag, Dot1qVlanId, IpClassOfService
| summarize Bytes = sum(NumberOfBytes) by bin(FlowRecordTime, 5m), SourceIp, DestinationIp`
	qs := []namedQuery{
		{"ertc", withFunctions(t, ertc)},
		{"protocol arithmetic", withFunctions(t, `ErvizAtcIpfix() | extend Next = Protocol + 1, Kb = NumberOfBytes / 1024`)},
		{"text arithmetic", withFunctions(t, `ErvizAtcIpfix() | extend Next = SourceIp + 1`)},
		{"ertc column that does not exist", withFunctions(t, `ErvizAtcIpfix() | project NumberOfByte`)},
	}
	diags := analyzeWith(t, laTables(), qs)
	if errs := errorsOf(diags["ertc"]); len(errs) > 0 {
		t.Errorf("an ERTC-style query fails on ErvizAtcIpfix(): %v", errs)
	}
	if errs := errorsOf(diags["protocol arithmetic"]); len(errs) > 0 {
		t.Errorf("Protocol or NumberOfBytes is not a number: %v", errs)
	}
	if len(errorsOf(diags["text arithmetic"])) == 0 {
		t.Errorf("arithmetic on a text column gave no error: the type check proves nothing")
	}
	if len(errorsOf(diags["ertc column that does not exist"])) == 0 {
		t.Errorf("a misspelt column gave no error: the check proves nothing")
	}
}

// TestLAAnalyzerCatchesMistakes: a misspelt column, a column of another table and a misspelt
// table give errors against the typed tables, their corrections none.
func TestLAAnalyzerCatchesMistakes(t *testing.T) {
	cases := []struct{ name, bad, good string }{
		{"misspelt column", `ErvizFlows_CL | summarize sum(Byte)`, `ErvizFlows_CL | summarize sum(Bytes)`},
		{"column of another table", `ErvizFlows_CL | summarize sum(Flows)`, `ErvizFlowRollups_CL | summarize sum(Flows)`},
		{"misspelt table", `ErvizFlow_CL | take 1`, `ErvizFlows_CL | take 1`},
		{"typed column used as text", `ErvizFlows_CL | where ServerPort startswith "44"`, `ErvizFlows_CL | where ServerPort == 443`},
	}
	var qs []namedQuery
	for _, c := range cases {
		qs = append(qs, namedQuery{c.name + " (bad)", c.bad}, namedQuery{c.name + " (good)", c.good})
	}
	diags := analyzeWith(t, laTables(), qs)
	for _, c := range cases {
		if len(errorsOf(diags[c.name+" (bad)"])) == 0 {
			t.Errorf("%s: %q gave no error", c.name, c.bad)
		}
		if errs := errorsOf(diags[c.name+" (good)"]); len(errs) > 0 {
			t.Errorf("%s: %q gave %v", c.name, c.good, errs)
		}
	}
}

const laResourceType = "microsoft.operationalinsights/workspaces"

func buildLAWorkbook(qs []query) workbook {
	wb := buildWorkbook(qs)
	wb.Items[0].Content = map[string]any{"json": "# otelcol-erviz: hybrid network visibility (Log Analytics tables)\n" +
		"Flow records, one-minute flow rollups, routing events and routing conditions of otelcol-erviz as the " +
		"`azure_log_analytics` exporter writes them to the typed tables `ErvizFlows_CL`, `ErvizFlowRollups_CL`, " +
		"`ErvizRouting_CL` and `ErvizRoutingConditions_CL`. Open it from the Log Analytics workspace. " +
		"Each query is a file of `docs/queries/log-analytics/`, whose header says the question it answers."}
	for i := range wb.Items {
		if _, ok := wb.Items[i].Content["resourceType"]; ok {
			wb.Items[i].Content["resourceType"] = laResourceType
		}
		if wb.Items[i].Type == 3 {
			wb.Items[i].Name = "la " + wb.Items[i].Name
		}
	}
	return wb
}

var laTableRef = regexp.MustCompile(`\b(Erviz\w+_CL|ErvizAtcIpfix)\b`)

// TestLAWorkbook checks docs/queries/log-analytics/workbook.json: exactly what the .kql files
// make (-update rewrites it), every item scoped to the workspace, every query reading our tables.
func TestLAWorkbook(t *testing.T) {
	qs := loadLAPack(t)
	path := filepath.Join(laPackDir(t), "workbook.json")
	want := marshalWorkbook(t, buildLAWorkbook(qs))
	if *update {
		if err := os.WriteFile(path, want, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	got, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got, want) {
		t.Errorf("%s is not what the .kql files make: go test ./test/queries -run TestLAWorkbook -args -update", path)
	}
	var wb workbook
	if err := json.Unmarshal(got, &wb); err != nil {
		t.Fatal(err)
	}
	n := 0
	for _, it := range wb.Items {
		if it.Type == 1 {
			continue
		}
		if it.Content["resourceType"] != laResourceType {
			t.Errorf("%s: scope %v, want %s (the tables live in the workspace)", it.Name, it.Content["resourceType"], laResourceType)
		}
		if it.Type == 3 {
			n++
			q, _ := it.Content["query"].(string)
			if !laTableRef.MatchString(q) || scopeTableMismatch("microsoft.insights/components", q) == "" {
				t.Errorf("%s reads no typed table, or an Application Insights one", it.Name)
			}
		}
	}
	if n != len(qs) {
		t.Errorf("%d query items, want %d", n, len(qs))
	}
}

// TestLAReadmeListsEveryQuery: the pack's README links every file with its question.
func TestLAReadmeListsEveryQuery(t *testing.T) {
	b, err := os.ReadFile(filepath.Join(laPackDir(t), "README.md"))
	if err != nil {
		t.Fatal(err)
	}
	for _, q := range loadLAPack(t) {
		if !strings.Contains(string(b), "("+q.Name+")") || !strings.Contains(string(b), q.Question) {
			t.Errorf("README.md does not link %s with its question", q.Name)
		}
	}
}
