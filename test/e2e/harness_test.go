// Package e2e runs the built otelcol-erviz binary the way users do: the shipped
// configurations, real ports, a second collector as OTLP backend, the .deb installed with
// dpkg. `make test` builds the binary and the package first and passes their paths in
// OTELCOL_ERVIZ_BIN and OTELCOL_ERVIZ_DEB. Without them the tests skip, except under
// CI=true, where a missing dependency is a failure.
package e2e

import (
	"bytes"
	"context"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// repoRoot is the repository root, two levels up from this package.
func repoRoot(t *testing.T) string {
	t.Helper()
	abs, err := filepath.Abs("../..")
	if err != nil {
		t.Fatal(err)
	}
	return abs
}

// need returns the value of an environment variable that names a test dependency,
// skipping the test when it is unset, or failing it under CI=true.
func need(t *testing.T, env, what string) string {
	t.Helper()
	v := os.Getenv(env)
	if v != "" {
		if _, err := os.Stat(v); err == nil {
			return v
		}
	}
	msg := fmt.Sprintf("%s not available (%s=%q); `make test` provides it", what, env, v)
	if os.Getenv("CI") == "true" {
		t.Fatal(msg)
	}
	t.Skip(msg)
	return ""
}

func collectorBin(t *testing.T) string {
	return need(t, "OTELCOL_ERVIZ_BIN", "the otelcol-erviz binary")
}

// freePort returns a TCP port that was free a moment ago on 127.0.0.1.
func freePort(t *testing.T) int {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

// syncBuffer collects a process's output for failure messages.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// collector is a running otelcol-erviz process.
type collector struct {
	t      *testing.T
	name   string
	cmd    *exec.Cmd
	out    *syncBuffer
	done   chan error
	health string
}

// ports are the listening ports of one collector instance, all overridden so that tests
// never collide with each other or with a `make run` on the same machine.
type ports struct {
	Health, GRPC, HTTP, Prometheus, Telemetry, IPFIX, BMP int
}

func newPorts(t *testing.T) ports {
	return ports{freePort(t), freePort(t), freePort(t), freePort(t), freePort(t), freeUDPPort(t), freePort(t)}
}

func freeUDPPort(t *testing.T) int {
	t.Helper()
	c, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	return c.LocalAddr().(*net.UDPAddr).Port
}

// overrides returns --config arguments (yaml provider) that move a shipped configuration
// onto the given ports.
func (p ports) overrides(prometheusExporter bool) []string {
	args := []string{
		fmt.Sprintf("--config=yaml:extensions::health_check::endpoint: 127.0.0.1:%d", p.Health),
		fmt.Sprintf("--config=yaml:receivers::otlp::protocols::grpc::endpoint: 127.0.0.1:%d", p.GRPC),
		fmt.Sprintf("--config=yaml:receivers::otlp::protocols::http::endpoint: 127.0.0.1:%d", p.HTTP),
		fmt.Sprintf("--config=yaml:service::telemetry::metrics::readers: [{pull: {exporter: {prometheus: {host: 127.0.0.1, port: %d}}}}]", p.Telemetry),
		fmt.Sprintf("--config=yaml:receivers::ipfix::endpoint: 127.0.0.1:%d", p.IPFIX),
		fmt.Sprintf("--config=yaml:receivers::bgp::bmp::endpoint: 127.0.0.1:%d", p.BMP),
	}
	if prometheusExporter {
		args = append(args, fmt.Sprintf("--config=yaml:exporters::prometheus::endpoint: 127.0.0.1:%d", p.Prometheus))
	}
	return args
}

// startCollector starts the binary in dir with the given arguments and environment, and
// waits until its health check answers.
func startCollector(t *testing.T, name, dir string, p ports, env []string, args ...string) *collector {
	t.Helper()
	c := &collector{t: t, name: name, out: &syncBuffer{}, done: make(chan error, 1),
		health: fmt.Sprintf("http://127.0.0.1:%d/", p.Health)}
	c.cmd = exec.Command(collectorBin(t), args...)
	c.cmd.Dir = dir
	c.cmd.Env = append(os.Environ(), env...)
	c.cmd.Stdout = c.out
	c.cmd.Stderr = c.out
	if err := c.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() { c.done <- c.cmd.Wait() }()
	t.Cleanup(func() { c.stop() })
	deadline := time.Now().Add(60 * time.Second)
	for {
		select {
		case err := <-c.done:
			c.done <- err
			t.Fatalf("%s exited before becoming healthy: %v\n%s", name, err, c.out)
		default:
		}
		if resp, err := http.Get(c.health); err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return c
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s not healthy after 60s:\n%s", name, c.out)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// stop sends SIGTERM and waits for a clean exit (kills after 30s).
func (c *collector) stop() error {
	if c.cmd.ProcessState != nil {
		return nil
	}
	_ = c.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case err := <-c.done:
		c.done <- err
		return err
	case <-time.After(30 * time.Second):
		_ = c.cmd.Process.Kill()
		err := <-c.done
		c.done <- err
		return fmt.Errorf("%s did not stop within 30s", c.name)
	}
}

// eventually polls cond until it returns true or the timeout passes.
func eventually(t *testing.T, timeout time.Duration, what string, cond func() bool, diag func() string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	for {
		if cond() {
			return
		}
		select {
		case <-ctx.Done():
			t.Fatalf("timed out after %s waiting for %s\n%s", timeout, what, diag())
		case <-time.After(200 * time.Millisecond):
		}
	}
}

func run(t *testing.T, env []string, name string, args ...string) (string, error) {
	t.Helper()
	cmd := exec.Command(name, args...)
	cmd.Env = append(os.Environ(), env...)
	out, err := cmd.CombinedOutput()
	return strings.TrimSpace(string(out)), err
}
