package queries

import (
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/erviz/otelcol-erviz/internal/testutil"
)

var (
	propertyKey   = regexp.MustCompile(`Properties\["([^"]+)"\]`)
	propertyUse   = regexp.MustCompile(`Properties\s*(\[|\.)`)
	comparedValue = regexp.MustCompile(`(?:==|!=)\s*"([^"]*)"`)
	inList        = regexp.MustCompile(`\bin\s*\(([^)]*)\)`)
	stringLit     = regexp.MustCompile(`"([^"]*)"`)
	metricName    = regexp.MustCompile(`\bName\s*(?:==\s*"[^"]*"|in\s*\([^)]*\))`)
)

// checkNames returns the problems of a query's names against docs/schema.md (doc): every
// Properties key, every AppMetrics Name and every string value compared with == or in () must
// be a back-quoted name or value there, and every key and metric must be in the header's
// Attributes list. Properties must be indexed as Properties["name"]: the names hold dots.
func checkNames(q query, doc string) []string {
	var problems []string
	documented := func(s string) bool { return strings.Contains(doc, "`"+s+"`") }
	listed := func(s string) bool {
		for _, a := range strings.Split(q.Attributes, ",") {
			f := strings.Fields(a)
			if len(f) > 0 && f[len(f)-1] == s {
				return true
			}
		}
		return false
	}
	keys := propertyKey.FindAllStringSubmatch(q.Text, -1)
	if n := len(propertyUse.FindAllString(q.Text, -1)); n != len(keys) {
		problems = append(problems, "Properties used other than as Properties[\"name\"]")
	}
	for _, m := range keys {
		if !documented(m[1]) {
			problems = append(problems, "Properties key "+m[1]+" is not in docs/schema.md")
		}
		if !listed(m[1]) {
			problems = append(problems, "Properties key "+m[1]+" is not in the Attributes header")
		}
	}
	for _, m := range metricName.FindAllString(q.Text, -1) {
		for _, s := range stringLit.FindAllStringSubmatch(m, -1) {
			if !strings.Contains(doc, "| `"+s[1]+"` |") {
				problems = append(problems, "metric "+s[1]+" is not in a metrics table of docs/schema.md")
			}
			if !listed(s[1]) {
				problems = append(problems, "metric "+s[1]+" is not in the Attributes header")
			}
		}
	}
	var values []string
	for _, m := range comparedValue.FindAllStringSubmatch(q.Text, -1) {
		values = append(values, m[1])
	}
	for _, m := range inList.FindAllStringSubmatch(q.Text, -1) {
		for _, s := range stringLit.FindAllStringSubmatch(m[1], -1) {
			values = append(values, s[1])
		}
	}
	for _, v := range values {
		if !documented(v) {
			problems = append(problems, "compared value "+v+" is not in docs/schema.md")
		}
	}
	return problems
}

func schemaDoc(t *testing.T) string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(testutil.RepoRoot(t), "docs", "schema.md"))
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// TestQueriesUseSchemaNames checks every query's attribute names, metric names and compared
// values against docs/schema.md: a misspelt Properties key is not a KQL error (Properties is
// dynamic), so the language service alone would let it through.
func TestQueriesUseSchemaNames(t *testing.T) {
	doc := schemaDoc(t)
	for _, q := range loadPack(t) {
		for _, p := range checkNames(q, doc) {
			t.Errorf("%s: %s", q.Name, p)
		}
		if len(propertyKey.FindAllString(q.Text, -1)) == 0 && len(metricName.FindAllString(q.Text, -1)) == 0 {
			t.Errorf("%s: uses neither a Properties key nor a metric name", q.Name)
		}
	}
}

// TestCheckNamesCatchesMistakes proves the name check can fail.
func TestCheckNamesCatchesMistakes(t *testing.T) {
	doc := schemaDoc(t)
	good := query{Name: "good", Attributes: "flow.io.bytes, metric flowlog.lag",
		Text: `AppTraces | where tostring(Properties["flow.io.bytes"]) == "ipfix"`}
	if p := checkNames(good, doc); len(p) != 0 {
		t.Fatalf("a correct query gave %v", p)
	}
	cases := map[string]query{
		"Properties key flow.io.byte is not in docs/schema.md": {Attributes: "flow.io.byte",
			Text: `AppTraces | extend b = tolong(Properties["flow.io.byte"])`},
		"Properties key flow.io.packets is not in the Attributes header": {Attributes: "flow.io.bytes",
			Text: `AppTraces | extend b = tolong(Properties["flow.io.packets"])`},
		"metric flowlog.lags is not in a metrics table of docs/schema.md": {Attributes: "metric flowlog.lags",
			Text: `AppMetrics | where Name in ("flowlog.lags")`},
		"compared value vnet_flowlogs is not in docs/schema.md": {Attributes: "flow.type",
			Text: `AppTraces | where tostring(Properties["flow.type"]) in ("vnet_flowlogs")`},
		"compared value to-azure is not in docs/schema.md": {Attributes: "flow.direction",
			Text: `AppTraces | where tostring(Properties["flow.direction"]) == "to-azure"`},
		`Properties used other than as Properties["name"]`: {Attributes: "flow.type",
			Text: `AppTraces | where tostring(Properties.flow) == "ipfix"`},
	}
	for want, q := range cases {
		q.Name = want
		found := false
		for _, p := range checkNames(q, doc) {
			found = found || p == want
		}
		if !found {
			t.Errorf("%s: got %v", q.Text, checkNames(q, doc))
		}
	}
}
