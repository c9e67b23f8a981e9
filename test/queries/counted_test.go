package queries

import (
	"regexp"
	"strings"
	"testing"
)

var (
	// trafficSum: a query that adds up flow bytes or packets from the records.
	trafficRecordKey = regexp.MustCompile(`Properties\["flow\.(?:reverse\.|to_azure\.|from_azure\.)?io\.(?:bytes|packets)"\]`)
	countedFilter    = regexp.MustCompile(`\|\s*where\s+tostring\(Properties\["flow\.counted"\]\)\s*(?:!=\s*"false"|==\s*"true")`)
	perObservation   = regexp.MustCompile(`\bby\b[^|]*\b(?:Point|ObservationPoint)\b`)
	observationKey   = regexp.MustCompile(`Properties\["flow\.observation\.point"\]`)
)

// countProblems returns why a query would add traffic up more than once: a query summing
// flow record bytes must filter on flow.counted, unless it is a per-observation view that
// groups by flow.observation.point and says so; metric queries read the flowmetrics sums,
// which hold counted records only, or the per-observation metrics grouped by point.
func countProblems(q query) []string {
	var problems []string
	text := q.Text
	if trafficRecordKey.MatchString(text) && strings.Contains(text, "AppTraces") && !countedFilter.MatchString(text) {
		perObs := observationKey.MatchString(text) && perObservation.MatchString(text) &&
			strings.Contains(strings.ToLower(q.Question), "observation point")
		if !perObs {
			problems = append(problems, "sums flow bytes over every observation: filter on flow.counted, or group by flow.observation.point as a labelled per-observation view")
		}
	}
	if strings.Contains(text, "AppMetrics") && strings.Contains(text, `"flow.observation.io.`) && !observationKey.MatchString(text) {
		problems = append(problems, "adds flow.observation.io.* up without grouping by flow.observation.point")
	}
	return problems
}

// TestTrafficTotalsCountOnce: every traffic total of the pack counts every byte once.
func TestTrafficTotalsCountOnce(t *testing.T) {
	n := 0
	for _, q := range loadPack(t) {
		if trafficRecordKey.MatchString(q.Text) {
			n++
		}
		for _, p := range countProblems(q) {
			t.Errorf("%s: %s", q.Name, p)
		}
	}
	if n < 6 {
		t.Fatalf("only %d queries sum flow bytes", n)
	}
}

// TestCountProblemsCatchesMistakes proves the check can fail.
func TestCountProblemsCatchesMistakes(t *testing.T) {
	bad := []query{
		{Name: "sum of every observation", Question: "How many bytes towards Azure?",
			Text: `AppTraces | summarize sum(tolong(Properties["flow.to_azure.io.bytes"])) by bin(TimeGenerated, 5m)`},
		{Name: "filter on something else", Question: "Top talkers?",
			Text: `AppTraces | where tostring(Properties["flow.class"]) == "data" | summarize sum(tolong(Properties["flow.io.bytes"])) by Client`},
		{Name: "per point, unlabelled", Question: "How many bytes per resource?",
			Text: "AppTraces | extend Point = tostring(Properties[\"flow.observation.point\"]) | summarize sum(tolong(Properties[\"flow.io.bytes\"])) by Point"},
	}
	for _, q := range bad {
		if len(countProblems(q)) == 0 {
			t.Errorf("%s: not caught", q.Name)
		}
	}
	good := query{Name: "counted", Question: "How many bytes towards Azure?",
		Text: `AppTraces | where tostring(Properties["flow.counted"]) != "false" | summarize sum(tolong(Properties["flow.to_azure.io.bytes"]))`}
	if p := countProblems(good); len(p) != 0 {
		t.Errorf("a counted query gave %v", p)
	}
}
