package e2e

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"go.yaml.in/yaml/v3"
)

type componentsOutput struct {
	BuildInfo struct {
		Command string `yaml:"command"`
		Version string `yaml:"version"`
	} `yaml:"buildinfo"`
	Receivers  []struct{ Name string } `yaml:"receivers"`
	Processors []struct{ Name string } `yaml:"processors"`
	Exporters  []struct{ Name string } `yaml:"exporters"`
	Connectors []struct{ Name string } `yaml:"connectors"`
	Extensions []struct{ Name string } `yaml:"extensions"`
	Providers  []struct {
		Scheme string `yaml:"scheme"`
	} `yaml:"providers"`
}

func names(list []struct{ Name string }) map[string]bool {
	m := map[string]bool{}
	for _, c := range list {
		m[c.Name] = true
	}
	return m
}

// TestComponents checks that `otelcol-erviz components` lists every component the
// distribution promises, and that the version comes from git.
func TestComponents(t *testing.T) {
	out, err := run(t, nil, collectorBin(t), "components")
	if err != nil {
		t.Fatalf("components: %v\n%s", err, out)
	}
	var got componentsOutput
	if err := yaml.Unmarshal([]byte(out), &got); err != nil {
		t.Fatalf("components output is not YAML: %v\n%s", err, out)
	}
	if got.BuildInfo.Command != "otelcol-erviz" {
		t.Errorf("command = %q", got.BuildInfo.Command)
	}
	want := map[string][]string{
		"receivers":  {"otlp", "ipfix", "flowlog", "bgp"},
		"processors": {"sampling", "batch", "memory_limiter", "transform", "filter", "attributes"},
		"connectors": {"flowmetrics", "flowrollup"},
		// v0.161.0 names the OTLP and Azure Monitor exporters otlp_grpc, otlp_http and azure_monitor.
		"exporters":  {"debug", "otlp_grpc", "otlp_http", "file", "prometheus", "azure_monitor", "clickhouse", "azure_log_analytics"},
		"extensions": {"file_storage", "health_check", "pprof", "zpages"},
	}
	have := map[string]map[string]bool{
		"receivers": names(got.Receivers), "processors": names(got.Processors),
		"exporters": names(got.Exporters), "extensions": names(got.Extensions),
		"connectors": names(got.Connectors),
	}
	for kind, list := range want {
		for _, n := range list {
			if !have[kind][n] {
				t.Errorf("%s: %q missing from `components`", kind, n)
			}
		}
	}
	schemes := map[string]bool{}
	for _, p := range got.Providers {
		schemes[p.Scheme] = true
	}
	for _, s := range []string{"file", "env", "yaml"} {
		if !schemes[s] {
			t.Errorf("confmap provider %q missing", s)
		}
	}

	// The version is stamped from git by `make build`: it names the commit (or the tag).
	root := repoRoot(t)
	if sha, err := exec.Command("git", "-C", root, "rev-parse", "--short", "HEAD").Output(); err == nil {
		short := strings.TrimSpace(string(sha))
		tag, _ := exec.Command("git", "-C", root, "describe", "--tags", "--exact-match", "HEAD").Output()
		v := got.BuildInfo.Version
		if !strings.Contains(v, short) && (len(tag) == 0 || !strings.Contains("v"+v, strings.TrimSpace(string(tag)))) {
			t.Errorf("version %q names neither commit %s nor tag %q", v, short, strings.TrimSpace(string(tag)))
		}
	}
	if ver, err := run(t, nil, collectorBin(t), "--version"); err != nil || !strings.Contains(ver, got.BuildInfo.Version) {
		t.Errorf("--version = %q (%v), want it to carry %q", ver, err, got.BuildInfo.Version)
	}
}

// validateEnv is what the shipped configurations read from the environment.
var validateEnv = []string{
	"APPLICATIONINSIGHTS_CONNECTION_STRING=InstrumentationKey=00000000-0000-0000-0000-000000000000;IngestionEndpoint=http://127.0.0.1:9/",
	"OTLP_ENDPOINT=127.0.0.1:4317",
	"MY_POD_IP=127.0.0.1",
	"FLOWLOG_ACCOUNT_URL=https://stflowlogs.blob.core.windows.net",
	"LOGS_INGESTION_ENDPOINT=https://dcr-erviz-0000.westeurope-1.ingest.monitor.azure.com",
	"DCR_IMMUTABLE_ID=dcr-00000000000000000000000000000000",
}

// TestShippedConfigsValidate runs `otelcol-erviz validate` on every configuration the
// project ships: config/*.yaml, the package's default config, and the configuration
// embedded in each Helm values file.
func TestShippedConfigsValidate(t *testing.T) {
	bin := collectorBin(t)
	root := repoRoot(t)
	files, _ := filepath.Glob(filepath.Join(root, "config", "*.yaml"))
	files = append(files, filepath.Join(root, "deploy", "config.yaml"))
	if len(files) < 4 {
		t.Fatalf("expected at least local, otlp, azure-monitor and the package config, found %v", files)
	}
	helm, _ := filepath.Glob(filepath.Join(root, "deploy", "helm", "values-*.yaml"))
	if len(helm) < 2 {
		t.Fatalf("expected DaemonSet and Deployment Helm values, found %v", helm)
	}
	for _, h := range helm {
		raw, err := os.ReadFile(h)
		if err != nil {
			t.Fatal(err)
		}
		var values struct {
			Mode            string         `yaml:"mode"`
			Command         map[string]any `yaml:"command"`
			AlternateConfig map[string]any `yaml:"alternateConfig"`
		}
		if err := yaml.Unmarshal(raw, &values); err != nil {
			t.Fatalf("%s: %v", h, err)
		}
		if values.Command["name"] != "otelcol-erviz" {
			t.Errorf("%s: command.name = %v, want otelcol-erviz", h, values.Command["name"])
		}
		if values.Mode != "daemonset" && values.Mode != "deployment" {
			t.Errorf("%s: mode = %q", h, values.Mode)
		}
		cfg, _ := yaml.Marshal(values.AlternateConfig)
		f := filepath.Join(t.TempDir(), filepath.Base(h))
		if err := os.WriteFile(f, cfg, 0o644); err != nil {
			t.Fatal(err)
		}
		files = append(files, f)
	}
	for _, f := range files {
		if out, err := run(t, validateEnv, bin, "validate", "--config="+f); err != nil {
			t.Errorf("validate %s: %v\n%s", f, err, out)
		}
	}

	// validate must also reject a broken configuration, or the loop above proves nothing.
	bad := filepath.Join(t.TempDir(), "bad.yaml")
	_ = os.WriteFile(bad, []byte("receivers:\n  otlp:\n    protocols:\n      grpc:\n        endpoint: [not, an, endpoint]\nexporters:\n  debug:\nservice:\n  pipelines:\n    logs:\n      receivers: [otlp]\n      exporters: [nope]\n"), 0o644)
	if out, err := run(t, nil, bin, "validate", "--config="+bad); err == nil {
		t.Errorf("validate accepted a broken configuration:\n%s", out)
	}
}
