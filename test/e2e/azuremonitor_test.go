package e2e

import (
	"bufio"
	"compress/gzip"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"
)

// envelope is the Application Insights telemetry envelope (one JSON line per item).
type envelope struct {
	Name string `json:"name"`
	Time string `json:"time"`
	IKey string `json:"iKey"`
	Data struct {
		BaseType string `json:"baseType"`
		BaseData struct {
			Message    string            `json:"message"`
			Properties map[string]string `json:"properties"`
			Metrics    []struct {
				Name  string  `json:"name"`
				Value float64 `json:"value"`
			} `json:"metrics"`
		} `json:"baseData"`
	} `json:"data"`
}

// fakeIngestion stands in for the Application Insights ingestion endpoint, the one part
// that cannot run here. It decodes exactly what the exporter sends: gzip-compressed JSON
// lines POSTed to /v2.1/track, and answers like the service does.
type fakeIngestion struct {
	mu        sync.Mutex
	envelopes []envelope
	problems  []string
}

func (f *fakeIngestion) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if r.Method != http.MethodPost || r.URL.Path != "/v2.1/track" {
		f.problems = append(f.problems, fmt.Sprintf("unexpected %s %s", r.Method, r.URL.Path))
		http.NotFound(w, r)
		return
	}
	if ct := r.Header.Get("Content-Type"); ct != "application/x-json-stream" {
		f.problems = append(f.problems, "Content-Type "+ct)
	}
	var body io.Reader = r.Body
	if r.Header.Get("Content-Encoding") == "gzip" {
		zr, err := gzip.NewReader(r.Body)
		if err != nil {
			f.problems = append(f.problems, "gzip: "+err.Error())
			http.Error(w, "bad gzip", http.StatusBadRequest)
			return
		}
		body = zr
	}
	n := 0
	sc := bufio.NewScanner(body)
	sc.Buffer(make([]byte, 1<<20), 16<<20)
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		if line == "" {
			continue
		}
		var e envelope
		if err := json.Unmarshal([]byte(line), &e); err != nil {
			f.problems = append(f.problems, "bad JSON line: "+err.Error())
			continue
		}
		f.envelopes = append(f.envelopes, e)
		n++
	}
	w.Header().Set("Content-Type", "application/json")
	fmt.Fprintf(w, `{"itemsReceived":%d,"itemsAccepted":%d,"errors":[]}`, n, n)
}

func (f *fakeIngestion) find(baseType, marker string) (envelope, bool) {
	f.mu.Lock()
	defer f.mu.Unlock()
	for _, e := range f.envelopes {
		if e.Data.BaseType != baseType {
			continue
		}
		if marker == "" || e.Data.BaseData.Message == marker || hasMetric(e, marker) {
			return e, true
		}
	}
	return envelope{}, false
}

func hasMetric(e envelope, name string) bool {
	for _, m := range e.Data.BaseData.Metrics {
		if m.Name == name {
			return true
		}
	}
	return false
}

func (f *fakeIngestion) String() string {
	f.mu.Lock()
	defer f.mu.Unlock()
	b, _ := json.Marshal(f.envelopes)
	return fmt.Sprintf("problems: %v\nenvelopes: %.3000s", f.problems, b)
}

// TestAzureMonitorPayload runs config/azure-monitor.yaml against a fake ingestion
// endpoint and checks what lands there: flow records as MessageData (AppTraces) with
// every attribute, resource attributes included, in Properties; metrics as MetricData.
func TestAzureMonitorPayload(t *testing.T) {
	root := repoRoot(t)
	fake := &fakeIngestion{}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := &http.Server{Handler: fake, ReadHeaderTimeout: 5 * time.Second}
	go func() { _ = srv.Serve(l) }()
	t.Cleanup(func() { _ = srv.Close() })

	const ikey = "11111111-2222-3333-4444-555555555555"
	dir := t.TempDir()
	p := newPorts(t)
	env := []string{
		"APPLICATIONINSIGHTS_CONNECTION_STRING=InstrumentationKey=" + ikey + ";IngestionEndpoint=http://" + l.Addr().String() + "/",
		"STATE_DIR=" + filepath.Join(dir, "state"),
		// The flow-log receiver of the shipped config reads this account: nothing listens here.
		"FLOWLOG_ACCOUNT_URL=https://127.0.0.1:9",
	}
	args := append([]string{"--config=" + filepath.Join(root, "config", "azure-monitor.yaml"),
		"--config=yaml:exporters::azure_monitor::maxbatchinterval: 1s"}, p.overrides(false)...)
	c := startCollector(t, "azure-monitor", dir, p, env, args...)

	postOTLP(t, p.HTTP, "logs", otlpLogJSON("azure-monitor-record", 1500))
	postOTLP(t, p.HTTP, "metrics", otlpGaugeJSON("erviz_e2e_link_bytes", 4096))

	var rec envelope
	eventually(t, 60*time.Second, "the flow record at the ingestion endpoint", func() bool {
		var ok bool
		rec, ok = fake.find("MessageData", "azure-monitor-record")
		return ok
	}, func() string { return fake.String() + "\n" + c.out.String() })

	if rec.IKey != ikey {
		t.Errorf("iKey = %q, want %q", rec.IKey, ikey)
	}
	if !strings.HasSuffix(rec.Name, ".Message") {
		t.Errorf("envelope name = %q, want Microsoft.ApplicationInsights.*.Message", rec.Name)
	}
	want := map[string]string{
		"flow.type":             "ipfix",
		"source.address":        "192.168.1.10",
		"destination.address":   "10.1.0.4",
		"destination.port":      "443",
		"network.transport":     "tcp",
		"flow.io.bytes":         "1500",
		"flow.exporter.address": "192.0.2.10", // resource attribute
	}
	for k, v := range want {
		if got := rec.Data.BaseData.Properties[k]; got != v {
			t.Errorf("Properties[%q] = %q, want %q", k, got, v)
		}
	}
	if _, err := time.Parse(time.RFC3339Nano, rec.Time); err != nil {
		t.Errorf("envelope time %q: %v", rec.Time, err)
	}

	eventually(t, 60*time.Second, "the metric at the ingestion endpoint", func() bool {
		_, ok := fake.find("MetricData", "erviz_e2e_link_bytes")
		return ok
	}, fake.String)
	m, _ := fake.find("MetricData", "erviz_e2e_link_bytes")
	if m.Data.BaseData.Metrics[0].Value != 4096 || m.Data.BaseData.Properties["flow.link"] != "primary" {
		t.Errorf("metric envelope = %+v", m.Data.BaseData)
	}
	fake.mu.Lock()
	defer fake.mu.Unlock()
	if len(fake.problems) > 0 {
		t.Errorf("ingestion saw problems: %v", fake.problems)
	}
}
