// Package testutil holds helpers for tests that use real peers (BGP daemons, IPFIX exporters,
// the Azurite emulator): a missing dependency skips the test on a developer's machine and
// fails it under CI=true, where scripts/install-test-deps.sh must have installed it.
package testutil

import (
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"testing"
)

// CI reports whether the tests run in CI (CI=true).
func CI() bool { return os.Getenv("CI") == "true" }

// Missing skips the test, or fails it under CI=true, naming what is missing.
func Missing(t testing.TB, what string) {
	t.Helper()
	msg := what + " is not installed (scripts/install-test-deps.sh installs it; `make deps`)"
	if CI() {
		t.Fatal(msg)
	}
	t.Skip(msg)
}

// NeedBinary returns the path of a program from PATH (or /usr/sbin, /usr/lib/frr and the
// repository's build/node/node_modules/.bin), or calls Missing.
func NeedBinary(t testing.TB, name string) string {
	t.Helper()
	if p, err := exec.LookPath(name); err == nil {
		return p
	}
	dirs := []string{"/usr/sbin", "/sbin", "/usr/lib/frr", filepath.Join(RepoRoot(t), "build", "node", "node_modules", ".bin")}
	for _, d := range dirs {
		p := filepath.Join(d, name)
		if st, err := os.Stat(p); err == nil && !st.IsDir() && st.Mode()&0o111 != 0 {
			return p
		}
	}
	Missing(t, name)
	return ""
}

// RepoRoot is the repository root (the directory holding go.mod of this module).
func RepoRoot(t testing.TB) string {
	t.Helper()
	_, file, _, ok := runtime.Caller(0)
	if !ok {
		t.Fatal("cannot locate the repository")
	}
	return filepath.Clean(filepath.Join(filepath.Dir(file), "..", ".."))
}

// FreeTCPPort returns a TCP port that was free a moment ago on the given loopback address.
func FreeTCPPort(t testing.TB, host string) int {
	t.Helper()
	l, err := net.Listen("tcp", net.JoinHostPort(host, "0"))
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

// FreeUDPPort returns a UDP port that was free a moment ago on the given loopback address.
func FreeUDPPort(t testing.TB, host string) int {
	t.Helper()
	c, err := net.ListenPacket("udp", net.JoinHostPort(host, "0"))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	return c.LocalAddr().(*net.UDPAddr).Port
}
