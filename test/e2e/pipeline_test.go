package e2e

import (
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"
)

// TestLocalPipeline runs config/local.yaml as `make run` does and checks the three outputs
// a user looks at: the OTLP JSON files, the Prometheus endpoint and the health check.
func TestLocalPipeline(t *testing.T) {
	root := repoRoot(t)
	dir := t.TempDir()
	p := newPorts(t)
	args := append([]string{"--config=" + filepath.Join(root, "config", "local.yaml")}, p.overrides(true)...)
	c := startCollector(t, "local", dir, p, nil, args...)

	postOTLP(t, p.HTTP, "logs", otlpLogJSON("local-pipeline-record", 1500))
	postOTLP(t, p.HTTP, "metrics", otlpGaugeJSON("erviz_e2e_link_bytes", 4096))

	logs := filepath.Join(dir, "data", "out", "logs.json")
	eventually(t, 30*time.Second, "the log record in data/out/logs.json", func() bool {
		b, _ := os.ReadFile(logs)
		s := string(b)
		return strings.Contains(s, "local-pipeline-record") && strings.Contains(s, `"flow.io.bytes"`) &&
			strings.Contains(s, `"intValue":"1500"`) && strings.Contains(s, "192.0.2.10")
	}, c.out.String)

	metricsURL := "http://127.0.0.1:" + itoa(p.Prometheus) + "/metrics"
	eventually(t, 30*time.Second, "the gauge on the Prometheus endpoint", func() bool {
		body := httpGet(metricsURL)
		return strings.Contains(body, "erviz_e2e_link_bytes") && strings.Contains(body, `flow_link="primary"`) &&
			strings.Contains(body, " 4096")
	}, func() string { return httpGet(metricsURL) + "\n" + c.out.String() })

	eventually(t, 30*time.Second, "the metric in data/out/metrics.json", func() bool {
		b, _ := os.ReadFile(filepath.Join(dir, "data", "out", "metrics.json"))
		return strings.Contains(string(b), "erviz_e2e_link_bytes")
	}, c.out.String)

	// The collector's own telemetry is served too (what operators scrape).
	tel := httpGet("http://127.0.0.1:" + itoa(p.Telemetry) + "/metrics")
	if !strings.Contains(tel, "otelcol_receiver_accepted_log_records") {
		t.Errorf("internal telemetry lacks otelcol_receiver_accepted_log_records:\n%.2000s", tel)
	}
	if _, err := os.Stat(filepath.Join(dir, "data", "state")); err != nil {
		t.Errorf("file_storage directory not created: %v", err)
	}
	if err := c.stop(); err != nil {
		t.Errorf("collector did not stop cleanly: %v\n%s", err, c.out)
	}
}

// TestOTLPForwardingSurvivesBackendOutage runs config/otlp.yaml in front of a second
// otelcol-erviz (config/local.yaml) as its OTLP backend. Data sent while the backend is
// down is queued on disk and delivered once it is back.
func TestOTLPForwardingSurvivesBackendOutage(t *testing.T) {
	root := repoRoot(t)
	backendDir, edgeDir := t.TempDir(), t.TempDir()
	bp, ep := newPorts(t), newPorts(t)
	backendArgs := append([]string{"--config=" + filepath.Join(root, "config", "local.yaml")}, bp.overrides(true)...)
	backend := startCollector(t, "backend", backendDir, bp, nil, backendArgs...)

	edgeEnv := []string{
		"OTLP_ENDPOINT=127.0.0.1:" + itoa(bp.GRPC),
		"OTLP_INSECURE=true",
		"STATE_DIR=" + filepath.Join(edgeDir, "state"),
		// The flow-log receiver of the shipped config reads this account: nothing listens here.
		"FLOWLOG_ACCOUNT_URL=https://127.0.0.1:9",
	}
	edgeArgs := append([]string{"--config=" + filepath.Join(root, "config", "otlp.yaml")}, ep.overrides(false)...)
	edge := startCollector(t, "edge", edgeDir, ep, edgeEnv, edgeArgs...)

	backendLogs := filepath.Join(backendDir, "data", "out", "logs.json")
	has := func(marker string) func() bool {
		return func() bool {
			b, _ := os.ReadFile(backendLogs)
			return strings.Contains(string(b), marker)
		}
	}
	diag := func() string { return "edge:\n" + edge.out.String() + "\nbackend:\n" + backend.out.String() }

	postOTLP(t, ep.HTTP, "logs", otlpLogJSON("forwarded-before-outage", 100))
	eventually(t, 30*time.Second, "the first record at the backend", has("forwarded-before-outage"), diag)

	if err := backend.stop(); err != nil {
		t.Fatal(err)
	}
	postOTLP(t, ep.HTTP, "logs", otlpLogJSON("sent-during-outage", 200))
	time.Sleep(2 * time.Second) // let the edge try and fail at least once

	backend = startCollector(t, "backend-again", backendDir, bp, nil, backendArgs...)
	eventually(t, 90*time.Second, "the record sent during the outage at the restarted backend", has("sent-during-outage"), diag)
}

func itoa(i int) string { return strconv.Itoa(i) }
