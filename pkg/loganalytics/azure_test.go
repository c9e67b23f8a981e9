package loganalytics

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"regexp"
	"testing"
)

func repoRoot() string { return filepath.Join("..", "..") }

// TestTemplateInSync fails when deploy/azure/loganalytics.json is not what the column list and
// the saved functions make: run `go generate ./pkg/loganalytics`.
func TestTemplateInSync(t *testing.T) {
	fns, err := LoadFunctions(filepath.Join(repoRoot(), FunctionsDir))
	if err != nil {
		t.Fatal(err)
	}
	if _, ok := fns["ErvizAtcIpfix"]; !ok {
		t.Errorf("no ErvizAtcIpfix function in %s", FunctionsDir)
	}
	want, err := ARMTemplate(fns)
	if err != nil {
		t.Fatal(err)
	}
	got, err := os.ReadFile(filepath.Join(repoRoot(), TemplatePath))
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got, want) {
		t.Fatalf("%s drifted from pkg/loganalytics: run go generate ./pkg/loganalytics", TemplatePath)
	}
}

type armTemplate struct {
	Resources []struct {
		Type       string          `json:"type"`
		Name       string          `json:"name"`
		Kind       string          `json:"kind"`
		Properties json.RawMessage `json:"properties"`
	} `json:"resources"`
}

// TestTemplateDeclaresEveryColumn reads the template as Azure would and checks that each table,
// its stream declaration and its data flow carry exactly the exporter's columns and types.
func TestTemplateDeclaresEveryColumn(t *testing.T) {
	b, err := os.ReadFile(filepath.Join(repoRoot(), TemplatePath))
	if err != nil {
		t.Fatal(err)
	}
	var tmpl armTemplate
	if err := json.Unmarshal(b, &tmpl); err != nil {
		t.Fatal(err)
	}
	type column struct{ Name, Type string }
	tables := map[string][]column{}
	var dcr struct {
		StreamDeclarations map[string]struct{ Columns []column } `json:"streamDeclarations"`
		DataFlows          []struct {
			Streams      []string `json:"streams"`
			OutputStream string   `json:"outputStream"`
			TransformKql string   `json:"transformKql"`
		} `json:"dataFlows"`
	}
	roles := 0
	for _, r := range tmpl.Resources {
		switch r.Type {
		case "Microsoft.OperationalInsights/workspaces/tables":
			var p struct {
				Schema struct {
					Name    string
					Columns []column
				}
			}
			_ = json.Unmarshal(r.Properties, &p)
			tables[p.Schema.Name] = p.Schema.Columns
		case "Microsoft.Insights/dataCollectionRules":
			if r.Kind != "Direct" {
				t.Errorf("DCR kind %q, want Direct (its own logs ingestion endpoint)", r.Kind)
			}
			_ = json.Unmarshal(r.Properties, &dcr)
		case "Microsoft.Authorization/roleAssignments":
			if !bytes.Contains(r.Properties, []byte(MonitoringMetricsPublisher)) {
				t.Errorf("role assignment is not Monitoring Metrics Publisher: %s", r.Properties)
			}
			roles++
		}
	}
	if roles != 1 {
		t.Errorf("%d role assignments, want 1", roles)
	}
	valid := regexp.MustCompile(`^[A-Za-z][A-Za-z0-9_]{0,44}$`)
	allowed := map[string]bool{TypeString: true, TypeInt: true, TypeLong: true, TypeReal: true, TypeBoolean: true, TypeDatetime: true, TypeDynamic: true}
	for _, tb := range Tables {
		want := []column{}
		seen := map[string]bool{}
		for _, c := range tb.Columns {
			want = append(want, column{c.Name, c.Type})
			if seen[c.Name] || !valid.MatchString(c.Name) || !allowed[c.Type] {
				t.Errorf("%s: column %s %s is repeated, badly named or of an unknown type", tb.Name, c.Name, c.Type)
			}
			seen[c.Name] = true
		}
		if !seen["TimeGenerated"] {
			t.Errorf("%s has no TimeGenerated", tb.Name)
		}
		for what, got := range map[string][]column{"table " + tb.Name: tables[tb.Name], "stream " + tb.Stream: dcr.StreamDeclarations[tb.Stream].Columns} {
			if len(got) != len(want) {
				t.Errorf("%s: %d columns, want %d", what, len(got), len(want))
				continue
			}
			for i := range got {
				if got[i] != want[i] {
					t.Errorf("%s column %d: %v, want %v", what, i, got[i], want[i])
				}
			}
		}
		found := false
		for _, f := range dcr.DataFlows {
			if len(f.Streams) == 1 && f.Streams[0] == tb.Stream && f.OutputStream == "Custom-"+tb.Name && f.TransformKql != "" {
				found = true
			}
		}
		if !found {
			t.Errorf("no data flow from %s to %s", tb.Stream, tb.Name)
		}
	}
}
