// Package lapeer measures, side by side in one run, the two ways otelcol-erviz sends flow
// records to Azure Monitor: the contrib azure_monitor exporter (Application Insights, AppTraces)
// and our azure_log_analytics exporter (Logs Ingestion API, ErvizFlows_CL), each into a local
// stand-in of its service in the same process, on the same synthetic records: rows per second
// until the service has every row, and bytes sent per row.
package lapeer

import (
	"bufio"
	"compress/gzip"
	"context"
	"encoding/pem"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/open-telemetry/opentelemetry-collector-contrib/exporter/azuremonitorexporter"
	"go.opentelemetry.io/collector/component/componenttest"
	"go.opentelemetry.io/collector/confmap"
	"go.opentelemetry.io/collector/exporter"
	"go.opentelemetry.io/collector/exporter/exportertest"
	"go.opentelemetry.io/collector/pdata/plog"

	"github.com/erviz/otelcol-erviz/bench/internal/flowgen"
	"github.com/erviz/otelcol-erviz/exporter/loganalyticsexporter"
	"github.com/erviz/otelcol-erviz/internal/lafake"
	"github.com/erviz/otelcol-erviz/pkg/loganalytics"
)

const batch = 5000

func records() plog.Logs {
	ld := plog.NewLogs()
	flowgen.New(1).Fill(ld.ResourceLogs().AppendEmpty(), time.Now(), 0, batch, 1000)
	return ld
}

func create(b *testing.B, f exporter.Factory, raw map[string]any) exporter.Logs {
	b.Helper()
	cfg := f.CreateDefaultConfig()
	if err := confmap.NewFromStringMap(raw).Unmarshal(cfg); err != nil {
		b.Fatal(err)
	}
	set := exportertest.NewNopSettings(f.Type())
	exp, err := f.CreateLogs(context.Background(), set, cfg)
	if err != nil {
		b.Fatal(err)
	}
	if err := exp.Start(context.Background(), componenttest.NewNopHost()); err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { _ = exp.Shutdown(context.Background()) })
	return exp
}

// run sends b.N batches and waits until the service counted every row; the time is from the
// first batch to the last row at the service.
func run(b *testing.B, exp exporter.Logs, received, sent, json func() int64) {
	ld := records()
	b.ResetTimer()
	start := time.Now()
	for i := 0; i < b.N; i++ {
		if err := exp.ConsumeLogs(context.Background(), ld); err != nil {
			b.Fatal(err)
		}
	}
	want := int64(b.N * batch)
	deadline := time.Now().Add(5 * time.Minute)
	for received() < want {
		if time.Now().After(deadline) {
			b.Fatalf("the service has %d rows of %d", received(), want)
		}
		time.Sleep(time.Millisecond)
	}
	elapsed := time.Since(start)
	b.StopTimer()
	b.ReportMetric(float64(want)/elapsed.Seconds(), "rows/s")
	b.ReportMetric(float64(sent())/float64(want), "sentB/row")
	b.ReportMetric(float64(json())/float64(want), "jsonB/row")
}

// BenchmarkAzureMonitorExporter: the contrib exporter into a stand-in of the Application
// Insights track endpoint that counts the items of each gzip JSON-lines request.
func BenchmarkAzureMonitorExporter(b *testing.B) {
	var items, bytesIn, jsonIn atomic.Int64
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		bytesIn.Add(int64(len(body)))
		var rd io.Reader = strings.NewReader(string(body))
		if r.Header.Get("Content-Encoding") == "gzip" {
			zr, err := gzip.NewReader(rd)
			if err != nil {
				http.Error(w, err.Error(), http.StatusBadRequest)
				return
			}
			rd = zr
		}
		sc := bufio.NewScanner(rd)
		sc.Buffer(make([]byte, 1<<20), 64<<20)
		n := 0
		for sc.Scan() {
			if len(sc.Bytes()) > 0 {
				n++
				jsonIn.Add(int64(len(sc.Bytes())))
			}
		}
		items.Add(int64(n))
		w.Header().Set("Content-Type", "application/json")
		_, _ = io.WriteString(w, `{"itemsReceived":`+itoa(n)+`,"itemsAccepted":`+itoa(n)+`,"errors":[]}`)
	}))
	defer srv.Close()
	exp := create(b, azuremonitorexporter.NewFactory(), map[string]any{
		"connection_string": "InstrumentationKey=00000000-0000-0000-0000-000000000000;IngestionEndpoint=" + srv.URL + "/",
		"maxbatchsize":      1024,
		"maxbatchinterval":  "100ms",
	})
	run(b, exp, items.Load, bytesIn.Load, jsonIn.Load)
}

// BenchmarkLogAnalyticsExporter: ours into internal/lafake over HTTPS, with the in-memory
// sending queue; like the Application Insights stand-in, the fake only decompresses and counts
// the rows (CountOnly).
func BenchmarkLogAnalyticsExporter(b *testing.B) {
	decl, err := lafake.LoadDeclarations(filepath.Join("..", "..", loganalytics.TemplatePath))
	if err != nil {
		b.Fatal(err)
	}
	f := lafake.Start(decl)
	defer f.Close()
	f.Discard, f.CountOnly = true, true
	dir := b.TempDir()
	token := filepath.Join(dir, "token")
	_ = os.WriteFile(token, []byte(f.Token), 0o600)
	exp := create(b, loganalyticsexporter.NewFactory(), map[string]any{
		"endpoint":         f.URL,
		"dcr_immutable_id": f.RuleID,
		"auth":             map[string]any{"token_file": token},
	})
	run(b, exp, func() int64 { return int64(f.Accepted()) }, f.BytesIn, f.JSONIn)
}

func itoa(n int) string { return strconv.Itoa(n) }

// TestMain trusts the certificate of httptest's TLS servers (lafake uses one): the exporter
// verifies the endpoint against the system roots, which SSL_CERT_FILE extends.
func TestMain(m *testing.M) {
	srv := httptest.NewTLSServer(http.NotFoundHandler())
	f, err := os.CreateTemp("", "lapeer-*.pem")
	if err == nil {
		_ = pem.Encode(f, &pem.Block{Type: "CERTIFICATE", Bytes: srv.Certificate().Raw})
		_ = f.Close()
		_ = os.Setenv("SSL_CERT_FILE", f.Name())
	}
	srv.Close()
	code := m.Run()
	if f != nil {
		_ = os.Remove(f.Name())
	}
	os.Exit(code)
}
