package testutil

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

// Bird is a BIRD 2 daemon run by a test, with its own config, control socket and log.
type Bird struct {
	t    testing.TB
	dir  string
	sock string
	cmd  *exec.Cmd
}

// StartBird starts BIRD with conf (after the router id, a log file and a device protocol)
// and waits until its control socket answers; the daemon stops with the test, and its log
// is printed when the test failed.
func StartBird(t testing.TB, routerID, conf string) *Bird {
	t.Helper()
	path := NeedBinary(t, "bird")
	NeedBinary(t, "birdc")
	dir := t.TempDir()
	b := &Bird{t: t, dir: dir, sock: filepath.Join(dir, "bird.ctl")}
	full := fmt.Sprintf("router id %s;\nlog %q all;\nprotocol device {}\n%s", routerID, filepath.Join(dir, "bird.log"), conf)
	cfg := filepath.Join(dir, "bird.conf")
	if err := os.WriteFile(cfg, []byte(full), 0o644); err != nil {
		t.Fatal(err)
	}
	b.cmd = exec.Command(path, "-f", "-c", cfg, "-s", b.sock, "-P", filepath.Join(dir, "bird.pid"))
	b.cmd.Stdout, b.cmd.Stderr = os.Stderr, os.Stderr
	if err := b.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	done := make(chan struct{})
	go func() { _ = b.cmd.Wait(); close(done) }()
	t.Cleanup(func() {
		_ = b.cmd.Process.Signal(syscall.SIGTERM)
		select {
		case <-done:
		case <-time.After(5 * time.Second):
			_ = b.cmd.Process.Kill()
			<-done
		}
		if t.Failed() {
			if log, err := os.ReadFile(filepath.Join(dir, "bird.log")); err == nil {
				t.Logf("bird %s log:\n%s", routerID, log)
			}
		}
	})
	deadline := time.Now().Add(10 * time.Second)
	for {
		select {
		case <-done:
			t.Fatalf("bird exited: %v", b.cmd.ProcessState)
		default:
		}
		out, err := exec.Command("birdc", "-s", b.sock, "show", "status").CombinedOutput()
		if err == nil && strings.Contains(string(out), "Daemon is up") {
			return b
		}
		if time.Now().After(deadline) {
			t.Fatalf("bird's control socket did not answer: %s", out)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// Ctl runs a birdc command and returns its output.
func (b *Bird) Ctl(args ...string) string {
	b.t.Helper()
	out, err := exec.Command("birdc", append([]string{"-s", b.sock}, args...)...).CombinedOutput()
	if err != nil {
		b.t.Fatalf("birdc %v: %v\n%s", args, err, out)
	}
	return string(out)
}

// Established reports whether the BGP protocol proto is established.
func (b *Bird) Established(proto string) bool {
	return strings.Contains(b.Ctl("show", "protocols", proto), "Established")
}
