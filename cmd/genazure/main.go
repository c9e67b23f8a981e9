// Command genazure writes deploy/azure/loganalytics.json, the ARM template of the Log
// Analytics side of otelcol-erviz (custom tables, data collection rule, role assignment, saved
// functions), from the column list of pkg/loganalytics. Run it with
// `go generate ./pkg/loganalytics`.
package main

import (
	"flag"
	"fmt"
	"os"
	"path/filepath"

	"github.com/erviz/otelcol-erviz/pkg/loganalytics"
)

func main() {
	root := flag.String("root", ".", "repository root")
	flag.Parse()
	fns, err := loganalytics.LoadFunctions(filepath.Join(*root, loganalytics.FunctionsDir))
	if err == nil {
		var b []byte
		if b, err = loganalytics.ARMTemplate(fns); err == nil {
			err = os.WriteFile(filepath.Join(*root, loganalytics.TemplatePath), b, 0o644)
		}
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "genazure:", err)
		os.Exit(1)
	}
}
