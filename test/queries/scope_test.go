package queries

import (
	"encoding/json"
	"os"
	"path/filepath"
	"regexp"
	"testing"
)

// Azure Monitor names the Application Insights tables differently depending on the scope a query
// runs in: in the Log Analytics workspace AppTraces, AppMetrics, AppRequests...; inside the
// Application Insights resource (microsoft.insights/components) traces, customMetrics,
// requests... A workbook item whose scope does not own the tables it reads fails to resolve
// them in the portal ("Failed to resolve table expression").
var tablesOfScope = map[string]*regexp.Regexp{
	"microsoft.operationalinsights/workspaces": regexp.MustCompile(`\b(AppTraces|AppMetrics|AppRequests|AppDependencies|AppExceptions|AppEvents)\b`),
	"microsoft.insights/components":            regexp.MustCompile(`\b(traces|customMetrics|requests|dependencies|exceptions|customEvents)\b`),
}

// scopeTableMismatch returns why a query text does not fit the scope, or "" when it does: it
// must read at least one table of its scope and none of the other scope.
func scopeTableMismatch(scope, query string) string {
	own, ok := tablesOfScope[scope]
	if !ok {
		return "unknown resourceType " + scope
	}
	if !own.MatchString(query) {
		return "reads no table of scope " + scope
	}
	for other, re := range tablesOfScope {
		if other != scope {
			if m := re.FindString(query); m != "" {
				return "reads " + m + ", a table of scope " + other
			}
		}
	}
	return ""
}

// TestWorkbookScopeMatchesTables checks that every item of docs/queries/workbook.json is scoped to
// the resource type whose tables its query reads.
func TestWorkbookScopeMatchesTables(t *testing.T) {
	b, err := os.ReadFile(filepath.Join(packDir(t), "workbook.json"))
	if err != nil {
		t.Fatal(err)
	}
	var wb workbook
	if err := json.Unmarshal(b, &wb); err != nil {
		t.Fatal(err)
	}
	n := 0
	for _, it := range wb.Items {
		scope, _ := it.Content["resourceType"].(string)
		if it.Type == 9 && scope != resourceType {
			t.Errorf("%s: parameters scoped to %q, want %q like the queries", it.Name, scope, resourceType)
		}
		if it.Type != 3 {
			continue
		}
		n++
		q, _ := it.Content["query"].(string)
		if why := scopeTableMismatch(scope, q); why != "" {
			t.Errorf("%s: %s", it.Name, why)
		}
	}
	if n == 0 {
		t.Fatal("the workbook has no query item")
	}
}

// TestScopeCheckCanFail: the pairing the workbook had before (components scope, workspace table
// names) is reported, and the two right pairings are not.
func TestScopeCheckCanFail(t *testing.T) {
	if scopeTableMismatch("microsoft.insights/components", "AppTraces | take 1") == "" {
		t.Error("components scope reading AppTraces passed")
	}
	if scopeTableMismatch("microsoft.operationalinsights/workspaces", "traces | take 1") == "" {
		t.Error("workspace scope reading traces passed")
	}
	if why := scopeTableMismatch("microsoft.operationalinsights/workspaces", "AppMetrics | take 1"); why != "" {
		t.Error(why)
	}
	if why := scopeTableMismatch("microsoft.insights/components", "customMetrics | take 1"); why != "" {
		t.Error(why)
	}
}
