//go:build !race

// The race detector's runtime opens and closes files of its own, so it can free a descriptor
// while the child holds them all: this test runs without -race.

package tcpserver

import (
	"bufio"
	"encoding/json"
	"fmt"
	"net"
	"os"
	"os/exec"
	"strings"
	"syscall"
	"testing"
	"time"
)

// TestFDExhaustionSubprocess runs two servers in a child process whose RLIMIT_NOFILE is
// lowered and whose descriptors are then used up: connections to both are shed (closed at
// once, not left hanging), counted as fd_exhausted, and once descriptors are free again both
// listeners serve.
func TestFDExhaustionSubprocess(t *testing.T) {
	if os.Getenv("TCPSERVER_FD_CHILD") == "1" {
		fdChild()
		return
	}
	cmd := exec.Command(os.Args[0], "-test.run=^TestFDExhaustionSubprocess$", "-test.count=1")
	cmd.Env = append(os.Environ(), "TCPSERVER_FD_CHILD=1")
	stdin, err := cmd.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	cmd.Stderr = os.Stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer cmd.Process.Kill()
	lines := bufio.NewScanner(stdout)
	next := func(prefix string) string {
		t.Helper()
		for lines.Scan() {
			if s, ok := strings.CutPrefix(lines.Text(), prefix); ok {
				return s
			}
		}
		t.Fatalf("child ended before %q: %v", prefix, lines.Err())
		return ""
	}
	addrs := strings.Fields(next("ADDRS "))
	next("EXHAUSTED")
	// With no descriptor left, a connection is shed: closed at once, never left hanging
	// (served fails the test on a hang). The two listeners share the process's descriptors,
	// so the one a listener frees while shedding can be taken by the other listener's
	// accept, which then serves: either outcome is correct, a hang is not.
	shedAny := false
	for _, a := range addrs {
		if !served(t, dialFrom(t, "127.0.0.1", tcpAddr(t, a))) {
			shedAny = true
		}
	}
	if !shedAny {
		t.Fatal("no connection was shed with no descriptor left")
	}
	fmt.Fprintln(stdin, "free")
	next("FREED")
	accepted := make([]int, len(addrs))
	for i, a := range addrs {
		// A listener still backing off from the last exhaustion may shed one more
		// connection; it must serve within a few attempts.
		for try := 0; ; try++ {
			if served(t, dialFrom(t, "127.0.0.1", tcpAddr(t, a))) {
				accepted[i]++
				break
			}
			if try == 5 {
				t.Fatalf("%s not serving once descriptors are free", a)
			}
		}
	}
	stdin.Close()
	var stats []Stats
	if err := json.Unmarshal([]byte(next("STATS ")), &stats); err != nil {
		t.Fatal(err)
	}
	exhausted := uint64(0)
	for i, st := range stats {
		exhausted += uint64(st.Refused[FDExhausted])
		if int(st.Accepted) < accepted[i] {
			t.Fatalf("listener %d accepted %d, the test was served %d times: %+v", i, st.Accepted, accepted[i], st)
		}
	}
	if exhausted < 1 {
		t.Fatalf("no fd_exhausted refusal counted: %+v", stats)
	}
	if err := cmd.Wait(); err != nil {
		t.Fatal(err)
	}
}

func tcpAddr(t *testing.T, s string) net.Addr {
	a, err := net.ResolveTCPAddr("tcp", s)
	if err != nil {
		t.Fatal(err)
	}
	return a
}

func fdChild() {
	fail := func(err error) { fmt.Fprintln(os.Stderr, "child:", err); os.Exit(2) }
	var servers []*Server
	var addrs []string
	for range 2 {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			fail(err)
		}
		s := New(ln, Config{Name: "child", MinBackoff: time.Millisecond, MaxBackoff: 20 * time.Millisecond})
		s.Start(greet)
		servers = append(servers, s)
		addrs = append(addrs, ln.Addr().String())
	}
	if err := syscall.Setrlimit(syscall.RLIMIT_NOFILE, &syscall.Rlimit{Cur: 64, Max: 64}); err != nil {
		fail(err)
	}
	var hogs []*os.File
	for {
		f, err := os.Open(os.DevNull)
		if err != nil {
			break
		}
		hogs = append(hogs, f)
	}
	fmt.Println("ADDRS " + strings.Join(addrs, " "))
	fmt.Println("EXHAUSTED")
	in := bufio.NewScanner(os.Stdin)
	in.Scan() // "free"
	for _, f := range hogs {
		f.Close()
	}
	fmt.Println("FREED")
	for in.Scan() {
	}
	var stats []Stats
	for _, s := range servers {
		stats = append(stats, s.Stats())
		s.Close()
	}
	b, _ := json.Marshal(stats)
	fmt.Println("STATS " + string(b))
	os.Exit(0)
}
