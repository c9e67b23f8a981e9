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
	t        testing.TB
	path     string
	routerID string
	dir      string
	sock     string
	cmd      *exec.Cmd
	done     chan struct{}
}

// StartBird starts BIRD with conf (after the router id, a log file and a device protocol)
// and waits until its control socket answers; the daemon stops with the test, and its log
// is printed when the test failed.
func StartBird(t testing.TB, routerID, conf string) *Bird {
	t.Helper()
	path := NeedBinary(t, "bird")
	NeedBinary(t, "birdc")
	dir := t.TempDir()
	b := &Bird{t: t, path: path, routerID: routerID, dir: dir, sock: filepath.Join(dir, "bird.ctl")}
	t.Cleanup(func() {
		b.stop(syscall.SIGTERM)
		if t.Failed() {
			if log, err := os.ReadFile(filepath.Join(dir, "bird.log")); err == nil {
				t.Logf("bird %s log:\n%s", routerID, log)
			}
		}
	})
	b.Start(conf)
	return b
}

// Start starts the daemon again (after Kill) with conf, or with its last config when conf
// is empty, and the extra command-line arguments (e.g. -R: graceful restart recovery), and
// waits until its control socket answers.
func (b *Bird) Start(conf string, args ...string) {
	t := b.t
	t.Helper()
	cfg := filepath.Join(b.dir, "bird.conf")
	if conf != "" {
		full := fmt.Sprintf("router id %s;\nlog %q all;\nprotocol device {}\n%s", b.routerID, filepath.Join(b.dir, "bird.log"), conf)
		if err := os.WriteFile(cfg, []byte(full), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	b.cmd = exec.Command(b.path, append([]string{"-f", "-c", cfg, "-s", b.sock, "-P", filepath.Join(b.dir, "bird.pid")}, args...)...)
	b.cmd.Stdout, b.cmd.Stderr = os.Stderr, os.Stderr
	if err := b.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	done := make(chan struct{})
	b.done = done
	go func(cmd *exec.Cmd) { _ = cmd.Wait(); close(done) }(b.cmd)
	deadline := time.Now().Add(10 * time.Second)
	for {
		select {
		case <-done:
			t.Fatalf("bird exited: %v", b.cmd.ProcessState)
		default:
		}
		out, err := exec.Command("birdc", "-s", b.sock, "show", "status").CombinedOutput()
		if err == nil && strings.Contains(string(out), "Daemon is up") {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("bird's control socket did not answer: %s", out)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// Kill kills the daemon with SIGKILL, as a crash would: its sessions end without
// NOTIFICATION. Start runs it again.
func (b *Bird) Kill() { b.stop(syscall.SIGKILL) }

func (b *Bird) stop(sig syscall.Signal) {
	if b.cmd == nil {
		return
	}
	select {
	case <-b.done:
		b.cmd = nil
		return
	default:
	}
	_ = b.cmd.Process.Signal(sig)
	select {
	case <-b.done:
	case <-time.After(5 * time.Second):
		_ = b.cmd.Process.Kill()
		<-b.done
	}
	b.cmd = nil
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

// Reconfigure replaces the daemon's configuration with conf (completed as in Start) and
// makes it load it ("birdc configure"); it returns birdc's answer.
func (b *Bird) Reconfigure(conf string) string {
	b.t.Helper()
	full := fmt.Sprintf("router id %s;\nlog %q all;\nprotocol device {}\n%s", b.routerID, filepath.Join(b.dir, "bird.log"), conf)
	if err := os.WriteFile(filepath.Join(b.dir, "bird.conf"), []byte(full), 0o644); err != nil {
		b.t.Fatal(err)
	}
	return b.Ctl("configure")
}
