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

	"github.com/vmware/go-ipfix/pkg/entities"
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
// lines POSTed to /v2.1/track, and answers like the service does, refusing the items it
// refuses (a MessageData item without a message); it keeps every item for the checks and
// notes each refusal in problems.
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
	type itemError struct {
		Index      int    `json:"index"`
		StatusCode int    `json:"statusCode"`
		Message    string `json:"message"`
	}
	n := 0
	errs := []itemError{}
	sc := bufio.NewScanner(body)
	sc.Buffer(make([]byte, 1<<20), 16<<20)
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		if line == "" {
			continue
		}
		n++
		var e envelope
		if err := json.Unmarshal([]byte(line), &e); err != nil {
			f.problems = append(f.problems, "bad JSON line: "+err.Error())
			errs = append(errs, itemError{n - 1, http.StatusBadRequest, "bad JSON"})
			continue
		}
		f.envelopes = append(f.envelopes, e)
		// The service refuses a trace without a message, item by item (a 206 answer).
		if e.Data.BaseType == "MessageData" && e.Data.BaseData.Message == "" {
			msg := "109: Field 'message' on type 'MessageData' is required but missing or empty. Expected: string, Actual: undefined"
			f.problems = append(f.problems, fmt.Sprintf("%s (properties %v)", msg, e.Data.BaseData.Properties))
			errs = append(errs, itemError{n - 1, http.StatusBadRequest, msg})
		}
	}
	resp, _ := json.Marshal(map[string]any{"itemsReceived": n, "itemsAccepted": n - len(errs), "errors": errs})
	w.Header().Set("Content-Type", "application/json")
	if len(errs) > 0 {
		w.WriteHeader(http.StatusPartialContent)
	}
	_, _ = w.Write(resp)
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

// match returns the envelopes that satisfy ok.
func (f *fakeIngestion) match(ok func(envelope) bool) []envelope {
	f.mu.Lock()
	defer f.mu.Unlock()
	var out []envelope
	for _, e := range f.envelopes {
		if ok(e) {
			out = append(out, e)
		}
	}
	return out
}

// metricSum adds up the values of the MetricData items named name whose properties include props.
func (f *fakeIngestion) metricSum(name string, props map[string]string) float64 {
	var sum float64
	for _, e := range f.match(func(e envelope) bool { return e.Data.BaseType == "MetricData" && hasProps(e, props) }) {
		for _, m := range e.Data.BaseData.Metrics {
			if m.Name == name {
				sum += m.Value
			}
		}
	}
	return sum
}

func hasProps(e envelope, props map[string]string) bool {
	for k, v := range props {
		if got, ok := e.Data.BaseData.Properties[k]; !ok || got != v {
			return false
		}
	}
	return true
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
// every attribute, resource attributes included (integers as their decimal text), in
// Properties and a one-line summary as message; metrics as MetricData.
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
		"--config=yaml:exporters::azure_monitor::maxbatchinterval: 1s",
		"--config=yaml:connectors::flowmetrics::interval: 1s",
		"--config=yaml:receivers::ipfix::collection_interval: 1s"}, p.overrides(false)...)
	c := startCollector(t, "azure-monitor", dir, p, env, args...)
	diag := func() string { return fake.String() + "\n" + c.out.String() }

	postOTLP(t, p.HTTP, "logs", otlpLogJSON("azure-monitor-record", 1500))
	postOTLP(t, p.HTTP, "logs", emptyBodyLogsJSON)
	postOTLP(t, p.HTTP, "metrics", otlpGaugeJSON("erviz_e2e_link_bytes", 4096))
	sendIPFIXRecord(t, p.IPFIX, 7)

	var rec envelope
	eventually(t, 60*time.Second, "the flow record at the ingestion endpoint", func() bool {
		var ok bool
		rec, ok = fake.find("MessageData", "azure-monitor-record")
		return ok
	}, diag)

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

	// Records with an empty body, as the ipfix and flowlog receivers emit them: the message
	// is a summary built from the attributes, and integer resource attributes keep their value.
	// (The record above shows that a body is kept as it is.)
	traces := map[string]struct {
		props   map[string]string // identify the item
		message string
		want    map[string]string
	}{
		"IPFIX record": {
			props:   map[string]string{"flow.type": "ipfix", "flow.exporter.address": "127.0.0.1"},
			message: "flow 192.168.1.10:50123 > 10.1.0.4:443 tcp 1000 B",
			want:    map[string]string{"flow.observation_domain_id": "7", "source.port": "50123", "flow.io.bytes": "1000"},
		},
		"IPv6 OTLP record": {
			props:   map[string]string{"flow.test.marker": "empty-body-ipv6"},
			message: "flow [2001:db8::10]:50123 > [2001:db8:1::4]:443 udp 900 B",
			want:    map[string]string{"flow.observation_domain_id": "42", "flow.exporter.address": "192.0.2.20", "flow.io.bytes": "900"},
		},
		"flow record without ports and counts": {
			props:   map[string]string{"flow.test.marker": "empty-body-sparse"},
			message: "flow 192.0.2.1:? > 192.0.2.2:? ? ? B",
		},
		"log record with an event name": {
			props:   map[string]string{"flow.test.marker": "empty-body-event"},
			message: "e2e.empty_body",
		},
		"log record with nothing to summarize": {
			props:   map[string]string{"flow.test.marker": "empty-body-bare"},
			message: "(empty body)",
		},
		"log record with an empty string as body": {
			props:   map[string]string{"flow.test.marker": "empty-body-string"},
			message: "(empty body)",
		},
	}
	for name, tc := range traces {
		var got []envelope
		eventually(t, 60*time.Second, "the "+name+" at the ingestion endpoint", func() bool {
			got = fake.match(func(e envelope) bool { return e.Data.BaseType == "MessageData" && hasProps(e, tc.props) })
			return len(got) > 0
		}, diag)
		e := got[0]
		if e.Data.BaseData.Message != tc.message {
			t.Errorf("%s: message = %q, want %q", name, e.Data.BaseData.Message, tc.message)
		}
		for k, v := range tc.want {
			if got := e.Data.BaseData.Properties[k]; got != v {
				t.Errorf("%s: Properties[%q] = %q, want %q", name, k, got, v)
			}
		}
	}

	eventually(t, 60*time.Second, "the metric at the ingestion endpoint", func() bool {
		_, ok := fake.find("MetricData", "erviz_e2e_link_bytes")
		return ok
	}, fake.String)
	m, _ := fake.find("MetricData", "erviz_e2e_link_bytes")
	if m.Data.BaseData.Metrics[0].Value != 4096 || m.Data.BaseData.Properties["flow.link"] != "primary" {
		t.Errorf("metric envelope = %+v", m.Data.BaseData)
	}

	// The ipfix receiver's own metrics carry the same integer resource attribute.
	var records []envelope
	eventually(t, 60*time.Second, "ipfix.exporter.records of 127.0.0.1 at the ingestion endpoint", func() bool {
		records = fake.match(func(e envelope) bool {
			return hasMetric(e, "ipfix.exporter.records") && hasProps(e, map[string]string{"flow.exporter.address": "127.0.0.1"})
		})
		return len(records) > 0
	}, diag)
	if got := records[0].Data.BaseData.Properties["flow.observation_domain_id"]; got != "7" {
		t.Errorf("ipfix.exporter.records: Properties[\"flow.observation_domain_id\"] = %q, want \"7\"", got)
	}

	// flowmetrics sums what the records carry, whatever the Azure Monitor transform did to
	// their bodies and resources: per exporter address, the bytes sent above.
	for addr, bytes := range map[string]float64{"192.0.2.10": 1500, "192.0.2.20": 900, "127.0.0.1": 1000} {
		props := map[string]string{"flow.exporter.address": addr}
		eventually(t, 60*time.Second, "flowmetrics' flow.io.bytes of "+addr, func() bool {
			return fake.metricSum("flow.io.bytes", props) >= bytes
		}, diag)
		if got := fake.metricSum("flow.io.bytes", props); got != bytes {
			t.Errorf("flowmetrics flow.io.bytes of %s = %v, want %v", addr, got, bytes)
		}
	}

	// Application Insights requires a message on every MessageData item.
	for _, e := range fake.match(func(e envelope) bool { return e.Data.BaseType == "MessageData" }) {
		if e.Data.BaseData.Message == "" {
			t.Errorf("MessageData item with an empty message: properties %v", e.Data.BaseData.Properties)
		}
	}
	fake.mu.Lock()
	defer fake.mu.Unlock()
	if len(fake.problems) > 0 {
		t.Errorf("ingestion saw problems: %v", fake.problems)
	}
}

// emptyBodyLogsJSON holds log records without a body, as the flow receivers emit them: an
// IPv6 flow record with an integer resource attribute, a flow record that lacks most
// attributes, and records that are not flows (with an event name, without, with "" as body).
var emptyBodyLogsJSON = []byte(`{"resourceLogs":[{"resource":{"attributes":[
  {"key":"flow.exporter.address","value":{"stringValue":"192.0.2.20"}},
  {"key":"flow.observation_domain_id","value":{"intValue":"42"}}]},
 "scopeLogs":[{"scope":{"name":"e2e"},"logRecords":[
  {"attributes":[
   {"key":"flow.type","value":{"stringValue":"ipfix"}},
   {"key":"network.type","value":{"stringValue":"ipv6"}},
   {"key":"source.address","value":{"stringValue":"2001:db8::10"}},
   {"key":"source.port","value":{"intValue":"50123"}},
   {"key":"destination.address","value":{"stringValue":"2001:db8:1::4"}},
   {"key":"destination.port","value":{"intValue":"443"}},
   {"key":"network.transport","value":{"stringValue":"udp"}},
   {"key":"flow.io.bytes","value":{"intValue":"900"}},
   {"key":"flow.test.marker","value":{"stringValue":"empty-body-ipv6"}}]},
  {"attributes":[
   {"key":"flow.type","value":{"stringValue":"ipfix"}},
   {"key":"source.address","value":{"stringValue":"192.0.2.1"}},
   {"key":"destination.address","value":{"stringValue":"192.0.2.2"}},
   {"key":"flow.test.marker","value":{"stringValue":"empty-body-sparse"}}]},
  {"eventName":"e2e.empty_body","attributes":[
   {"key":"flow.test.marker","value":{"stringValue":"empty-body-event"}}]},
  {"attributes":[
   {"key":"flow.test.marker","value":{"stringValue":"empty-body-bare"}}]},
  {"body":{"stringValue":""},"attributes":[
   {"key":"flow.test.marker","value":{"stringValue":"empty-body-string"}}]}]}]}]}`)

// sendIPFIXRecord sends a template and one data record (192.168.1.10:50123 > 10.1.0.4:443,
// tcp, 1000 bytes) from 127.0.0.1 to the collector's IPFIX port, in observation domain domain.
func sendIPFIXRecord(t *testing.T, port int, domain uint32) {
	t.Helper()
	ep, ies := ipfixExporter(t, port, domain, "sourceIPv4Address", "destinationIPv4Address", "sourceTransportPort",
		"destinationTransportPort", "protocolIdentifier", "octetDeltaCount", "packetDeltaCount")
	set, _ := entities.MakeDataSet(400, []entities.InfoElementWithValue{
		entities.NewIPAddressInfoElement(ies[0], net.IPv4(192, 168, 1, 10).To4()),
		entities.NewIPAddressInfoElement(ies[1], net.IPv4(10, 1, 0, 4).To4()),
		entities.NewUnsigned16InfoElement(ies[2], 50123),
		entities.NewUnsigned16InfoElement(ies[3], 443),
		entities.NewUnsigned8InfoElement(ies[4], 6),
		entities.NewUnsigned64InfoElement(ies[5], 1000),
		entities.NewUnsigned64InfoElement(ies[6], 10),
	})
	if _, err := ep.SendSet(set); err != nil {
		t.Fatal(err)
	}
}
