package e2e

import (
	"encoding/json"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

var (
	trafficBytesMetric = regexp.MustCompile(`\bflow_(?:to_azure_|from_azure_)?io_bytes_total\b`)
	observationMetric  = regexp.MustCompile(`\bflow_observation_io_(?:bytes|packets)_total\b`)
	timesEight         = regexp.MustCompile(`^\s*(?:topk\(\s*\d+\s*,\s*)?8\s*\*`)
)

type countingPanel struct {
	Title       string `json:"title"`
	Type        string `json:"type"`
	FieldConfig struct {
		Defaults struct {
			Unit string `json:"unit"`
		} `json:"defaults"`
	} `json:"fieldConfig"`
	Targets []struct {
		Expr string `json:"expr"`
	} `json:"targets"`
}

// dashboardCountingProblems: traffic panels show bits per second of the flowmetrics series
// (which hold counted records only); the per-observation view groups by observation point
// and says so in its title; the direction panel shows 0, not nothing, without traffic.
func dashboardCountingProblems(ps []countingPanel) []string {
	var problems []string
	direction := false
	for _, p := range ps {
		for _, tg := range p.Targets {
			switch {
			case observationMetric.MatchString(tg.Expr):
				if !strings.Contains(tg.Expr, "flow_observation_point") || !strings.Contains(strings.ToLower(p.Title), "observation point") {
					problems = append(problems, p.Title+": per-observation series must be grouped by flow_observation_point in a panel titled as such")
				}
			case trafficBytesMetric.MatchString(tg.Expr) && !strings.Contains(tg.Expr, " / "):
				if !timesEight.MatchString(tg.Expr) || p.FieldConfig.Defaults.Unit != "bps" {
					problems = append(problems, p.Title+": traffic must be shown in bit/s (8 * rate, unit bps)")
				}
			}
			if strings.Contains(tg.Expr, "flow_to_azure_io_bytes_total") && strings.HasPrefix(p.Title, "Direction") {
				direction = true
				if !strings.HasSuffix(strings.TrimSpace(tg.Expr), "or vector(0)") {
					problems = append(problems, p.Title+": no traffic must show as 0 (or vector(0))")
				}
			}
		}
	}
	if !direction {
		problems = append(problems, "no direction panel")
	}
	return problems
}

func TestDashboardCountsOnceInBits(t *testing.T) {
	raw, err := os.ReadFile(filepath.Join(repoRoot(t), dashboardPath))
	if err != nil {
		t.Fatal(err)
	}
	var d struct {
		Panels []countingPanel `json:"panels"`
	}
	if err := json.Unmarshal(raw, &d); err != nil {
		t.Fatal(err)
	}
	for _, p := range dashboardCountingProblems(d.Panels) {
		t.Error(p)
	}
	// The check can fail.
	bad := []countingPanel{{Title: "Direction", Targets: []struct {
		Expr string `json:"expr"`
	}{{Expr: "sum(rate(flow_to_azure_io_bytes_total[5m]))"}}}, {Title: "Sources", Targets: []struct {
		Expr string `json:"expr"`
	}{{Expr: "sum(rate(flow_observation_io_bytes_total[5m]))"}}}}
	if n := len(dashboardCountingProblems(bad)); n != 3 {
		t.Errorf("the check found %d problems in a bad dashboard, want 3", n)
	}
}
