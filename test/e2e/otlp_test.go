package e2e

import (
	"bytes"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"testing"
	"time"
)

// otlpLogJSON is one flow record shaped like docs/schema.md, as OTLP/HTTP JSON.
func otlpLogJSON(marker string, bytesCount int) []byte {
	return fmt.Appendf(nil, `{"resourceLogs":[{"resource":{"attributes":[
  {"key":"flow.exporter.address","value":{"stringValue":"192.0.2.10"}}]},
 "scopeLogs":[{"scope":{"name":"e2e"},"logRecords":[{
  "timeUnixNano":"%d","body":{"stringValue":"%s"},
  "attributes":[
   {"key":"flow.type","value":{"stringValue":"ipfix"}},
   {"key":"source.address","value":{"stringValue":"192.168.1.10"}},
   {"key":"destination.address","value":{"stringValue":"10.1.0.4"}},
   {"key":"destination.port","value":{"intValue":"443"}},
   {"key":"network.transport","value":{"stringValue":"tcp"}},
   {"key":"flow.io.bytes","value":{"intValue":"%d"}},
   {"key":"flow.test.marker","value":{"stringValue":"%s"}}]}]}]}]}`,
		time.Now().UnixNano(), marker, bytesCount, marker)
}

func otlpGaugeJSON(name string, value int) []byte {
	return fmt.Appendf(nil, `{"resourceMetrics":[{"resource":{"attributes":[
  {"key":"flow.exporter.address","value":{"stringValue":"192.0.2.10"}}]},
 "scopeMetrics":[{"scope":{"name":"e2e"},"metrics":[{"name":"%s","gauge":{"dataPoints":[
  {"timeUnixNano":"%d","asInt":"%d","attributes":[{"key":"flow.link","value":{"stringValue":"primary"}}]}]}}]}]}]}`,
		name, time.Now().UnixNano(), value)
}

// postOTLP sends an OTLP/HTTP JSON request and fails the test unless it is accepted.
func postOTLP(t *testing.T, httpPort int, signal string, body []byte) {
	t.Helper()
	url := "http://127.0.0.1:" + strconv.Itoa(httpPort) + "/v1/" + signal
	resp, err := http.Post(url, "application/json", bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	msg, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("POST %s: %s %s", url, resp.Status, msg)
	}
}

func httpGet(url string) string {
	resp, err := http.Get(url)
	if err != nil {
		return ""
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return string(b)
}
