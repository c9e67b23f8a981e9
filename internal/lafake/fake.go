// Package lafake is a local stand-in for the Azure Monitor Logs Ingestion API, the one part of
// the Log Analytics path that cannot run here. It implements the documented contract:
//
//	POST {endpoint}/dataCollectionRules/{immutable id}/streams/{stream}?api-version=2023-01-01
//	Authorization: Bearer <token>; Content-Type: application/json; optional Content-Encoding: gzip
//	body: a JSON array of objects, at most 1 MB (compressed and uncompressed)
//	204 No Content on success; 400 with {"error": {"code", "message"}} for a body or row that does
//	not match the stream's declared columns; 401 without a valid token; 404 for an unknown rule or
//	stream; 413 above the size limit; 429 with Retry-After and 503 when told to (Faults).
//
// The declared columns are those of the generated ARM template (deploy/azure), so the fake checks
// every row's columns and JSON types against what Azure would declare.
package lafake

import (
	"bytes"
	"compress/gzip"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"strings"
	"sync"
	"time"
)

// Column is a declared column of a stream.
type Column struct{ Name, Type string }

// Fault is an answer the fake gives instead of processing a request.
type Fault struct {
	Status     int    // 429, 503, ...
	RetryAfter string // the Retry-After header, e.g. "1"
}

// Call is one request the fake answered.
type Call struct {
	Stream  string
	Status  int
	Rows    int
	Bytes   int // body as sent
	At      time.Time
	Message string // the error message of a 4xx
}

// Server is the fake ingestion API.
type Server struct {
	URL      string
	RuleID   string
	Token    string
	MaxBytes int // size limit (1,000,000 unless changed before use)
	// Discard keeps only the count of accepted rows (benchmarks), not the rows.
	Discard bool
	// CountOnly (benchmarks of the exporter alone) skips decoding and checking the rows: it
	// counts them by their first column, {"TimeGenerated": (the exporter writes it first).
	CountOnly bool

	srv *httptest.Server

	mu       sync.Mutex
	streams  map[string][]Column
	rows     map[string][]map[string]any
	calls    []Call
	faults   func(stream string, n int) *Fault // n counts the requests of the stream, from 1
	perCount map[string]int
	problems []string
	accepted int
	bytesIn  int64
	jsonIn   int64
}

// JSONIn returns the bytes of the accepted requests' bodies, uncompressed (CountOnly mode).
func (s *Server) JSONIn() int64 {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.jsonIn
}

// BytesIn returns the bytes of the accepted requests' bodies, as sent (compressed).
func (s *Server) BytesIn() int64 {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.bytesIn
}

// Accepted returns the number of rows accepted on every stream.
func (s *Server) Accepted() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.accepted
}

// LoadDeclarations reads the stream declarations of the generated ARM template.
func LoadDeclarations(templatePath string) (map[string][]Column, error) {
	b, err := os.ReadFile(templatePath)
	if err != nil {
		return nil, err
	}
	var tmpl struct {
		Resources []struct {
			Type       string `json:"type"`
			Properties struct {
				StreamDeclarations map[string]struct {
					Columns []Column `json:"columns"`
				} `json:"streamDeclarations"`
			} `json:"properties"`
		} `json:"resources"`
	}
	if err := json.Unmarshal(b, &tmpl); err != nil {
		return nil, err
	}
	out := map[string][]Column{}
	for _, r := range tmpl.Resources {
		if r.Type == "Microsoft.Insights/dataCollectionRules" {
			for name, d := range r.Properties.StreamDeclarations {
				out[name] = d.Columns
			}
		}
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("%s declares no stream", templatePath)
	}
	return out, nil
}

// Start starts the fake over TLS on 127.0.0.1 with the given stream declarations.
func Start(streams map[string][]Column) *Server {
	s := &Server{RuleID: "dcr-00112233445566778899aabbccddeeff", Token: "fake-token-for-tests", MaxBytes: 1_000_000,
		streams: streams, rows: map[string][]map[string]any{}, perCount: map[string]int{}}
	s.srv = httptest.NewTLSServer(s)
	s.URL = s.srv.URL
	return s
}

// Close stops the fake.
func (s *Server) Close() { s.srv.Close() }

// Client returns an HTTP client that trusts the fake's certificate.
func (s *Server) Client() *http.Client { return s.srv.Client() }

// CertPEM returns the fake's certificate (for SSL_CERT_FILE of a collector process).
func (s *Server) CertPEM() []byte {
	var buf bytes.Buffer
	buf.WriteString("-----BEGIN CERTIFICATE-----\n")
	enc := encodeBase64(s.srv.Certificate().Raw)
	for len(enc) > 64 {
		buf.WriteString(enc[:64] + "\n")
		enc = enc[64:]
	}
	buf.WriteString(enc + "\n-----END CERTIFICATE-----\n")
	return buf.Bytes()
}

// SetFaults installs f, asked before each request is processed: a non-nil answer is sent instead.
func (s *Server) SetFaults(f func(stream string, n int) *Fault) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.faults = f
}

// Declare replaces a stream's declaration (to play a rule whose declaration lags behind).
func (s *Server) Declare(stream string, cols []Column) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.streams[stream] = cols
}

// Rows returns the rows accepted on a stream.
func (s *Server) Rows(stream string) []map[string]any {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]map[string]any(nil), s.rows[stream]...)
}

// Calls returns every request answered so far.
func (s *Server) Calls() []Call {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]Call(nil), s.calls...)
}

// Problems returns contract violations by the client (bad URL, token, headers), which a test
// should report: they are not the 4xx answers a test provokes on purpose.
func (s *Server) Problems() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]string(nil), s.problems...)
}

func (s *Server) fail(w http.ResponseWriter, c *Call, status int, code, msg string) {
	c.Status, c.Message = status, msg
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("x-ms-error-code", code)
	w.WriteHeader(status)
	b, _ := json.Marshal(map[string]any{"error": map[string]string{"code": code, "message": msg}})
	_, _ = w.Write(b)
}

func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	s.mu.Lock()
	defer s.mu.Unlock()
	c := Call{At: time.Now()}
	defer func() {
		if !s.Discard || c.Status != http.StatusNoContent {
			s.calls = append(s.calls, c)
		}
	}()
	problem := func(format string, a ...any) { s.problems = append(s.problems, fmt.Sprintf(format, a...)) }

	rest, ok := strings.CutPrefix(r.URL.Path, "/dataCollectionRules/")
	parts := strings.Split(rest, "/")
	if r.Method != http.MethodPost || !ok || len(parts) != 3 || parts[1] != "streams" {
		problem("unexpected %s %s", r.Method, r.URL.Path)
		s.fail(w, &c, http.StatusNotFound, "NotFound", "no such resource")
		return
	}
	c.Stream = parts[2]
	if v := r.URL.Query().Get("api-version"); v != "2023-01-01" {
		problem("api-version %q", v)
		s.fail(w, &c, http.StatusBadRequest, "InvalidApiVersion", "unsupported api-version "+v)
		return
	}
	if r.Header.Get("Authorization") != "Bearer "+s.Token {
		problem("Authorization %q", r.Header.Get("Authorization"))
		s.fail(w, &c, http.StatusUnauthorized, "InvalidToken", "the bearer token is missing or invalid")
		return
	}
	if parts[0] != s.RuleID {
		problem("rule %q", parts[0])
		s.fail(w, &c, http.StatusNotFound, "InvalidDataCollectionRule", "unknown data collection rule "+parts[0])
		return
	}
	cols, ok := s.streams[c.Stream]
	if !ok {
		problem("stream %q", c.Stream)
		s.fail(w, &c, http.StatusNotFound, "InvalidStream", "the rule declares no stream "+c.Stream)
		return
	}
	if ct := r.Header.Get("Content-Type"); !strings.HasPrefix(ct, "application/json") {
		problem("Content-Type %q", ct)
	}
	raw, err := io.ReadAll(io.LimitReader(r.Body, int64(s.MaxBytes)+1))
	if err != nil {
		s.fail(w, &c, http.StatusBadRequest, "InvalidBody", err.Error())
		return
	}
	c.Bytes = len(raw)
	if len(raw) > s.MaxBytes {
		s.fail(w, &c, http.StatusRequestEntityTooLarge, "ContentLengthLimitExceeded", fmt.Sprintf("the request exceeds %d bytes", s.MaxBytes))
		return
	}
	s.perCount[c.Stream]++
	if s.faults != nil {
		if f := s.faults(c.Stream, s.perCount[c.Stream]); f != nil {
			if f.RetryAfter != "" {
				w.Header().Set("Retry-After", f.RetryAfter)
			}
			s.fail(w, &c, f.Status, http.StatusText(f.Status), "fault injected by the test")
			return
		}
	}
	body := raw
	if enc := r.Header.Get("Content-Encoding"); enc == "gzip" {
		zr, err := gzip.NewReader(bytes.NewReader(raw))
		if err == nil {
			body, err = io.ReadAll(io.LimitReader(zr, int64(s.MaxBytes)+1))
		}
		if err != nil {
			s.fail(w, &c, http.StatusBadRequest, "InvalidContentEncoding", "gzip: "+err.Error())
			return
		}
		if len(body) > s.MaxBytes {
			s.fail(w, &c, http.StatusRequestEntityTooLarge, "ContentLengthLimitExceeded", fmt.Sprintf("the uncompressed request exceeds %d bytes", s.MaxBytes))
			return
		}
	} else if enc != "" {
		s.fail(w, &c, http.StatusBadRequest, "InvalidContentEncoding", "unsupported Content-Encoding "+enc)
		return
	}
	if s.CountOnly {
		n := bytes.Count(body, []byte(`{"TimeGenerated":`))
		s.accepted += n
		s.bytesIn += int64(c.Bytes)
		s.jsonIn += int64(len(body))
		c.Rows, c.Status = n, http.StatusNoContent
		w.WriteHeader(http.StatusNoContent)
		return
	}
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.UseNumber()
	var rows []map[string]any
	if err := dec.Decode(&rows); err != nil {
		s.fail(w, &c, http.StatusBadRequest, "InvalidPayload", "the body is not a JSON array of objects: "+err.Error())
		return
	}
	for i, row := range rows {
		if msg := checkRow(cols, row); msg != "" {
			s.fail(w, &c, http.StatusBadRequest, "InvalidPayload", fmt.Sprintf("row %d of stream %s: %s", i, c.Stream, msg))
			return
		}
	}
	c.Rows = len(rows)
	c.Status = http.StatusNoContent
	s.accepted += len(rows)
	s.bytesIn += int64(c.Bytes)
	if !s.Discard {
		s.rows[c.Stream] = append(s.rows[c.Stream], rows...)
	}
	w.WriteHeader(http.StatusNoContent)
}

// checkRow returns why a row does not match the declared columns, or "".
func checkRow(cols []Column, row map[string]any) string {
	types := make(map[string]string, len(cols))
	for _, c := range cols {
		types[c.Name] = c.Type
	}
	for name, v := range row {
		typ, ok := types[name]
		if !ok {
			return fmt.Sprintf("column %s is not declared", name)
		}
		if msg := checkType(typ, v); msg != "" {
			return fmt.Sprintf("column %s (%s): %s", name, typ, msg)
		}
	}
	return ""
}

func checkType(typ string, v any) string {
	switch typ {
	case "string":
		if _, ok := v.(string); !ok {
			return fmt.Sprintf("%T is not a string", v)
		}
	case "int", "long":
		n, ok := v.(json.Number)
		if !ok {
			return fmt.Sprintf("%T is not a number", v)
		}
		i, err := n.Int64()
		if err != nil {
			return fmt.Sprintf("%s is not an integer", n)
		}
		if typ == "int" && (i > 1<<31-1 || i < -(1<<31)) {
			return fmt.Sprintf("%d does not fit an int", i)
		}
	case "real":
		if _, ok := v.(json.Number); !ok {
			return fmt.Sprintf("%T is not a number", v)
		}
	case "boolean":
		if _, ok := v.(bool); !ok {
			return fmt.Sprintf("%T is not a boolean", v)
		}
	case "datetime":
		s, ok := v.(string)
		if !ok {
			return fmt.Sprintf("%T is not a date", v)
		}
		if _, err := time.Parse(time.RFC3339Nano, s); err != nil {
			return fmt.Sprintf("%q is not an ISO 8601 date", s)
		}
	case "dynamic":
	default:
		return "unknown declared type"
	}
	return ""
}
