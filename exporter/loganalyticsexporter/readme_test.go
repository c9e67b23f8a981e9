package loganalyticsexporter

import (
	"os"
	"strings"
	"testing"

	"github.com/erviz/otelcol-erviz/pkg/loganalytics"
)

// TestReadmeListsEveryColumn: the README's tables list every column with its type.
func TestReadmeListsEveryColumn(t *testing.T) {
	b, err := os.ReadFile("README.md")
	if err != nil {
		t.Fatal(err)
	}
	readme := string(b)
	for _, tb := range loganalytics.Tables {
		i := strings.Index(readme, "### "+tb.Name+" ")
		if i < 0 {
			t.Errorf("README.md has no section for %s", tb.Name)
			continue
		}
		section := readme[i:]
		if j := strings.Index(section[4:], "\n### "); j >= 0 {
			section = section[:j+4]
		}
		for _, c := range tb.Columns {
			row := "| `" + c.Name + "` | " + c.Type + " | "
			if !strings.Contains(section, row) {
				t.Errorf("README.md, %s: no row %q", tb.Name, row)
			}
			if c.Attr != "" && !strings.Contains(section, row+"`"+c.Attr+"`") {
				t.Errorf("README.md, %s: column %s does not name its attribute %s", tb.Name, c.Name, c.Attr)
			}
		}
	}
}
