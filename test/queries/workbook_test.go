package queries

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// The workbook (Azure Monitor Workbooks, schema Notebook/1.0) is generated from the .kql files:
// a time-range parameter, then per section a text header followed by one query item per file,
// in file-name order. Item types: 1 text, 3 query, 9 parameters. queryType 0 = Logs (Analytics).

type workbook struct {
	Version             string   `json:"version"`
	Items               []item   `json:"items"`
	FallbackResourceIDs []string `json:"fallbackResourceIds"`
	Schema              string   `json:"$schema"`
}

type item struct {
	Type    int            `json:"type"`
	Content map[string]any `json:"content"`
	Name    string         `json:"name"`
}

// The queries read AppTraces and AppMetrics, the names these tables have in the Log Analytics
// workspace (inside an Application Insights resource they are traces and customMetrics), so the
// workbook is scoped to the workspace (scope_test.go checks the pairing).
const resourceType = "microsoft.operationalinsights/workspaces"

func buildWorkbook(qs []query) workbook {
	wb := workbook{
		Version: "Notebook/1.0",
		Items: []item{{
			Type: 1,
			Content: map[string]any{"json": "# otelcol-erviz: hybrid network visibility\n" +
				"Flow records and BGP events of otelcol-erviz as the `azuremonitor` exporter writes them: " +
				"`AppTraces` (attributes in `Properties`, as strings) and `AppMetrics`. " +
				"Each query is a file of `docs/queries/`, whose header says the question it answers."},
			Name: "text - title",
		}, {
			Type: 9,
			Content: map[string]any{
				"version": "KqlParameterItem/1.0",
				"parameters": []any{map[string]any{
					"id":         "5f0c1d2e-7a3b-4c6d-9e8f-0a1b2c3d4e5f",
					"version":    "KqlParameterItem/1.0",
					"name":       "TimeRange",
					"label":      "Time range",
					"type":       4,
					"isRequired": true,
					"value":      map[string]any{"durationMs": 14400000},
					"typeSettings": map[string]any{
						"selectableValues": []any{
							map[string]any{"durationMs": 3600000},
							map[string]any{"durationMs": 14400000},
							map[string]any{"durationMs": 43200000},
							map[string]any{"durationMs": 86400000},
							map[string]any{"durationMs": 604800000},
						},
						"allowCustom": true,
					},
				}},
				"style":        "pills",
				"queryType":    0,
				"resourceType": resourceType,
			},
			Name: "parameters - time range",
		}},
		FallbackResourceIDs: []string{},
		Schema:              "https://github.com/Microsoft/Application-Insights-Workbooks/blob/master/schema/workbook.json",
	}
	section := ""
	for _, q := range qs {
		if q.Section != section {
			section = q.Section
			wb.Items = append(wb.Items, item{Type: 1, Content: map[string]any{"json": "## " + section},
				Name: "text - " + section})
		}
		wb.Items = append(wb.Items, item{
			Type: 3,
			Content: map[string]any{
				"version":                  "KqlItem/1.0",
				"query":                    q.Text,
				"size":                     0,
				"title":                    q.Question,
				"timeContextFromParameter": "TimeRange",
				"queryType":                0,
				"resourceType":             resourceType,
				"visualization":            q.Visualization,
			},
			Name: "query - " + strings.TrimSuffix(q.Name, ".kql"),
		})
	}
	return wb
}

func marshalWorkbook(t *testing.T, wb workbook) []byte {
	t.Helper()
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	enc.SetIndent("", "  ")
	if err := enc.Encode(wb); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

// TestWorkbook checks that docs/queries/workbook.json is exactly what the .kql files make
// (no drift: every query, unchanged, and nothing else), and that its items are what
// Azure Monitor Workbooks expects. -update rewrites it.
func TestWorkbook(t *testing.T) {
	qs := loadPack(t)
	path := filepath.Join(packDir(t), "workbook.json")
	want := marshalWorkbook(t, buildWorkbook(qs))
	if *update {
		if err := os.WriteFile(path, want, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	got, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var wb workbook
	if err := json.Unmarshal(got, &wb); err != nil {
		t.Fatalf("workbook.json: %v", err)
	}
	if wb.Version != "Notebook/1.0" {
		t.Errorf("version = %q, want Notebook/1.0", wb.Version)
	}
	// Every query item against its file, by name, so a failure says which query drifted.
	byName := map[string]query{}
	for _, q := range qs {
		byName["query - "+strings.TrimSuffix(q.Name, ".kql")] = q
	}
	seen := map[string]bool{}
	for _, it := range wb.Items {
		switch it.Type {
		case 1, 9:
			continue
		case 3:
		default:
			t.Errorf("item %q has type %d", it.Name, it.Type)
			continue
		}
		q, ok := byName[it.Name]
		if !ok {
			t.Errorf("workbook query %q has no .kql file", it.Name)
			continue
		}
		seen[it.Name] = true
		c := it.Content
		if c["query"] != q.Text {
			t.Errorf("%s: the workbook's query differs from %s", it.Name, q.Name)
		}
		if c["title"] != q.Question {
			t.Errorf("%s: title %q, want the question %q", it.Name, c["title"], q.Question)
		}
		if c["queryType"] != float64(0) || c["resourceType"] != resourceType || c["visualization"] != q.Visualization ||
			c["version"] != "KqlItem/1.0" {
			t.Errorf("%s: content %v", it.Name, c)
		}
	}
	for name, q := range byName {
		if !seen[name] {
			t.Errorf("%s is not in the workbook", q.Name)
		}
	}
	if !bytes.Equal(got, want) {
		t.Errorf("docs/queries/workbook.json is not what the .kql files make: go test ./test/queries -run TestWorkbook -args -update")
	}
}

// TestReadmeListsEveryQuery checks that docs/queries/README.md names every .kql file and the
// question it answers.
func TestReadmeListsEveryQuery(t *testing.T) {
	b, err := os.ReadFile(filepath.Join(packDir(t), "README.md"))
	if err != nil {
		t.Fatal(err)
	}
	readme := string(b)
	for _, q := range loadPack(t) {
		if !strings.Contains(readme, "("+q.Name+")") {
			t.Errorf("README.md does not link %s", q.Name)
		}
		if !strings.Contains(readme, q.Question) {
			t.Errorf("README.md does not state the question of %s: %q", q.Name, q.Question)
		}
	}
}
