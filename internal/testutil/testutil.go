// Package testutil holds helpers for tests that use real peers (BGP daemons, IPFIX exporters,
// the Azurite emulator): a missing dependency skips the test on a developer's machine and
// fails it under CI=true, where scripts/install-test-deps.sh must have installed it.
package testutil

import (
	"math/rand/v2"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"sync"
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

// Test ports come from below the kernel's ephemeral range (32768-60999 by default), at
// random, and each only once per test binary: a port from bind(0) lies in the ephemeral range,
// where the kernel may hand it out again as the source port of any outgoing connection (a
// speaker dialing a daemon, say) before the daemon binds it.
const (
	testPortMin = 20000
	testPortMax = 32767
)

var (
	portsMu sync.Mutex
	given   = map[int]bool{}
)

func pickPort(t testing.TB, free func(port int) bool) int {
	t.Helper()
	portsMu.Lock()
	defer portsMu.Unlock()
	for range 1000 {
		p := testPortMin + rand.IntN(testPortMax-testPortMin+1)
		if given[p] || !free(p) {
			continue
		}
		given[p] = true
		return p
	}
	t.Fatal("no free test port")
	return 0
}

// FreeTCPPort returns a TCP port that was free a moment ago on the given loopback address
// (and on the wildcard address), never the same twice in one test binary.
func FreeTCPPort(t testing.TB, host string) int {
	t.Helper()
	network, wildcard := "tcp4", "0.0.0.0"
	if strings.Contains(host, ":") {
		network, wildcard = "tcp6", "::"
	}
	return pickPort(t, func(p int) bool {
		for _, h := range []string{host, wildcard} {
			l, err := net.Listen(network, net.JoinHostPort(h, strconv.Itoa(p)))
			if err != nil {
				return false
			}
			_ = l.Close()
		}
		return true
	})
}

// FreeUDPPort returns a UDP port that was free a moment ago on the given loopback address,
// never the same twice in one test binary.
func FreeUDPPort(t testing.TB, host string) int {
	t.Helper()
	return pickPort(t, func(p int) bool {
		c, err := net.ListenPacket("udp4", net.JoinHostPort(host, strconv.Itoa(p)))
		if err != nil {
			return false
		}
		_ = c.Close()
		return true
	})
}
