// Package queries checks the query pack in docs/queries: every .kql file is analyzed by Kusto's
// own language service (@kusto/language-service-next, run by node) against the AppTraces and
// AppMetrics schemas of Azure Monitor Logs, uses only attribute names docs/schema.md defines,
// and appears, unchanged, in docs/queries/workbook.json.
//
// Regenerate the workbook after editing a query: go test ./test/queries -run TestWorkbook -args -update
package queries

import (
	"bytes"
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
	"testing"

	"github.com/erviz/otelcol-erviz/internal/testutil"
)

var update = flag.Bool("update", false, "rewrite docs/queries/workbook.json from the .kql files")

// Columns of the tables the azuremonitor exporter writes to, as the Azure Monitor Logs table
// reference lists them (AppTraces, AppMetrics), in the language service's schema syntax.
var tables = map[string]string{
	"AppTraces": "(AppRoleInstance:string, AppRoleName:string, AppVersion:string, _BilledSize:real, " +
		"ClientBrowser:string, ClientCity:string, ClientCountryOrRegion:string, ClientIP:string, " +
		"ClientModel:string, ClientOS:string, ClientStateOrProvince:string, ClientType:string, " +
		"IKey:string, _IsBillable:string, ItemCount:int, Measurements:dynamic, Message:string, " +
		"OperationId:string, OperationName:string, ParentId:string, Properties:dynamic, " +
		"ReferencedItemId:string, ReferencedType:string, ResourceGUID:string, _ResourceId:string, " +
		"SDKVersion:string, SessionId:string, SeverityLevel:int, SourceSystem:string, " +
		"SyntheticSource:string, TenantId:string, TimeGenerated:datetime, Type:string, " +
		"UserAccountId:string, UserAuthenticatedId:string, UserId:string)",
	"AppMetrics": "(AppRoleInstance:string, AppRoleName:string, AppVersion:string, _BilledSize:real, " +
		"ClientBrowser:string, ClientCity:string, ClientCountryOrRegion:string, ClientIP:string, " +
		"ClientModel:string, ClientOS:string, ClientStateOrProvince:string, ClientType:string, " +
		"IKey:string, _IsBillable:string, ItemCount:int, Max:real, Min:real, Name:string, " +
		"OperationId:string, OperationName:string, ParentId:string, Properties:dynamic, " +
		"ResourceGUID:string, _ResourceId:string, SDKVersion:string, SessionId:string, " +
		"SourceSystem:string, Sum:real, SyntheticSource:string, TenantId:string, " +
		"TimeGenerated:datetime, Type:string, UserAccountId:string, UserAuthenticatedId:string, UserId:string)",
}

type diagnostic struct {
	Severity string `json:"severity"`
	Code     string `json:"code"`
	Message  string `json:"message"`
	Start    int    `json:"start"`
	Length   int    `json:"length"`
}

type result struct {
	Name        string       `json:"name"`
	Diagnostics []diagnostic `json:"diagnostics"`
}

type namedQuery struct {
	Name string `json:"name"`
	Text string `json:"text"`
}

// analyze runs analyze.js on the queries and returns the diagnostics of each, by name.
func analyze(t *testing.T, queries []namedQuery) map[string][]diagnostic {
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
	if len(res) != len(queries) {
		t.Fatalf("analyze.js answered %d queries, want %d", len(res), len(queries))
	}
	m := make(map[string][]diagnostic, len(res))
	for _, r := range res {
		m[r.Name] = r.Diagnostics
	}
	return m
}

func errorsOf(ds []diagnostic) []diagnostic {
	var errs []diagnostic
	for _, d := range ds {
		if d.Severity == "Error" {
			errs = append(errs, d)
		}
	}
	return errs
}

// TestQueriesAnalyze analyzes every query of the pack and fails on any error diagnostic:
// syntax, an unknown table or column, a wrong type, an unknown function.
func TestQueriesAnalyze(t *testing.T) {
	files := loadPack(t)
	var qs []namedQuery
	for _, f := range files {
		qs = append(qs, namedQuery{f.Name, f.Text})
	}
	diags := analyze(t, qs)
	for _, f := range files {
		for _, d := range diags[f.Name] {
			if d.Severity == "Error" {
				t.Errorf("%s: %s %s at %q", f.Name, d.Code, d.Message, snippet(f.Text, d.Start, d.Length))
			} else {
				t.Logf("%s: %s %s %s at %q", f.Name, d.Severity, d.Code, d.Message, snippet(f.Text, d.Start, d.Length))
			}
		}
	}
}

// TestAnalyzerCatchesMistakes proves the check can fail: queries with a misspelt column, a
// column of the other table, a misspelt table and a syntax error must each give an error
// diagnostic, while their corrected twins give none.
func TestAnalyzerCatchesMistakes(t *testing.T) {
	cases := []struct {
		name, bad, good, code, mentions string
	}{
		{"misspelt AppTraces column",
			`AppTraces | summarize count() by bin(TimeGenrated, 5m)`,
			`AppTraces | summarize count() by bin(TimeGenerated, 5m)`, "KS142", "TimeGenrated"},
		{"misspelt AppMetrics column",
			`AppMetrics | where Name == "flowlog.lag" | summarize max(Maximum) by bin(TimeGenerated, 5m)`,
			`AppMetrics | where Name == "flowlog.lag" | summarize max(Max) by bin(TimeGenerated, 5m)`, "KS142", "Maximum"},
		{"AppMetrics column on AppTraces",
			`AppTraces | summarize sum(Sum)`,
			`AppMetrics | summarize sum(Sum)`, "KS142", "Sum"},
		{"misspelt table",
			`AppTrace | take 1`,
			`AppTraces | take 1`, "KS204", "AppTrace"},
		{"misspelt Properties column",
			`AppTraces | extend b = tolong(Propertys["flow.io.bytes"])`,
			`AppTraces | extend b = tolong(Properties["flow.io.bytes"])`, "KS142", "Propertys"},
	}
	var qs []namedQuery
	for _, c := range cases {
		qs = append(qs, namedQuery{c.name + " (bad)", c.bad}, namedQuery{c.name + " (good)", c.good})
	}
	qs = append(qs, namedQuery{"syntax error", `AppTraces | where | summarize count() by`})
	diags := analyze(t, qs)
	for _, c := range cases {
		errs := errorsOf(diags[c.name+" (bad)"])
		found := false
		for _, d := range errs {
			if d.Code == c.code && strings.Contains(d.Message, "'"+c.mentions+"'") {
				found = true
			}
		}
		if !found {
			t.Errorf("%s: %q gave %v, want an error %s naming %q", c.name, c.bad, errs, c.code, c.mentions)
		}
		if errs := errorsOf(diags[c.name+" (good)"]); len(errs) > 0 {
			t.Errorf("%s: corrected query %q gave %v", c.name, c.good, errs)
		}
	}
	if len(errorsOf(diags["syntax error"])) == 0 {
		t.Errorf("a syntax error gave no error diagnostic")
	}
}

func snippet(s string, start, length int) string {
	if start < 0 || start > len(s) {
		return ""
	}
	end := start + length
	if end > len(s) || length <= 0 {
		end = min(len(s), start+20)
	}
	return s[start:end]
}

// query is one .kql file of the pack: its header fields and the query text after the header.
type query struct {
	Name          string // file name
	Question      string
	Section       string
	Source        string
	Attributes    string
	Visualization string
	Text          string // the query, without the leading comment block
}

var headerField = regexp.MustCompile(`^//\s*(Question|Section|Source|Attributes|Visualization):\s*(.*)$`)

func packDir(t *testing.T) string {
	return filepath.Join(testutil.RepoRoot(t), "docs", "queries")
}

// parseQuery splits a .kql file into its header (the leading // lines) and its query.
func parseQuery(name, src string) (query, error) {
	q := query{Name: name}
	lines := strings.Split(strings.ReplaceAll(src, "\r\n", "\n"), "\n")
	i := 0
	for ; i < len(lines) && strings.HasPrefix(strings.TrimSpace(lines[i]), "//"); i++ {
		if m := headerField.FindStringSubmatch(strings.TrimSpace(lines[i])); m != nil {
			v := strings.TrimSpace(m[2])
			switch m[1] {
			case "Question":
				q.Question = v
			case "Section":
				q.Section = v
			case "Source":
				q.Source = v
			case "Attributes":
				q.Attributes = v
			case "Visualization":
				q.Visualization = v
			}
		}
	}
	q.Text = strings.TrimSpace(strings.Join(lines[i:], "\n"))
	var missing []string
	for k, v := range map[string]string{"Question": q.Question, "Section": q.Section, "Source": q.Source,
		"Attributes": q.Attributes, "Visualization": q.Visualization} {
		if v == "" {
			missing = append(missing, k)
		}
	}
	sort.Strings(missing)
	if len(missing) > 0 {
		return q, fmt.Errorf("%s: header lacks %s", name, strings.Join(missing, ", "))
	}
	switch q.Visualization {
	case "timechart", "table", "barchart":
	default:
		return q, fmt.Errorf("%s: visualization %q is not timechart, table or barchart", name, q.Visualization)
	}
	if q.Text == "" {
		return q, fmt.Errorf("%s: no query after the header", name)
	}
	return q, nil
}

// loadPack reads every .kql file of docs/queries, in name order.
func loadPack(t *testing.T) []query {
	t.Helper()
	names, err := filepath.Glob(filepath.Join(packDir(t), "*.kql"))
	if err != nil {
		t.Fatal(err)
	}
	sort.Strings(names)
	if len(names) < 15 {
		t.Fatalf("docs/queries holds %d .kql files, want at least 15", len(names))
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
