// Command bgp-ingest measures a full-table ingest side by side: our bgp receiver with every
// analysis on, the same with every analysis off, and Debian's gobgpd alone, each receiving the
// same synthetic table (1M IPv4 + 200k IPv6 routes by default) from the same sender over one
// loopback BGP session.
//
// The runner starts three kinds of processes, all from its own binary or from Debian:
//
//	-mode send    the sender: builds the UPDATE messages once, then serves one session at a time
//	-mode ours    our receiver (built through its factory) with a counting logs consumer
//	gobgpd        Debian's, with one neighbor (the sender), polled over its gRPC API
//
// Per target and run it reports the wall time from the first UPDATE written by the sender to
// the last route installed, the CPU seconds of the target's process in that window, its peak
// RSS (VmHWM) at the end of the window, and routes/s. Runs are interleaved.
package main

import (
	"bufio"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"runtime"
	"runtime/pprof"
	"strconv"
	"strings"
	"syscall"
	"time"

	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
)

func main() {
	mode := flag.String("mode", "run", "run (the side-by-side benchmark), send (the sender) or ours (our receiver, for one run)")
	routes4 := flag.Int("routes4", 1_000_000, "IPv4 routes in the table")
	routes6 := flag.Int("routes6", 200_000, "IPv6 routes in the table")
	paths := flag.Int("paths", 50_000, "distinct AS paths (attribute sets) in the table")
	seed := flag.Uint64("seed", 7, "seed of the synthetic table")
	runs := flag.Int("runs", 3, "runs of every target (interleaved)")
	targets := flag.String("targets", "ours-on,ours-off,gobgpd", "targets, comma-separated: ours-on, ours-off, gobgpd")
	timeout := flag.Duration("timeout", 5*time.Minute, "bound on one target's run")
	total := flag.Duration("total", 60*time.Minute, "bound on the whole benchmark")
	gobgpdPath := flag.String("gobgpd", "gobgpd", "Debian's gobgpd")
	cpuprofile := flag.String("cpuprofile", "", "run: directory for a CPU profile of every ours-* run; ours: the profile file")
	jsonOut := flag.String("json", "", "run: write every run's figures to this file")
	workDir := flag.String("dir", "", "run: work directory (gobgpd's config and log); default a temporary one")
	// child flags
	listen := flag.String("listen", "127.0.0.61:0", "send: address to listen on")
	senderAddr := flag.String("sender", "", "ours: the sender's address")
	local := flag.String("local", "127.0.0.62", "ours: local address of the session")
	analyses := flag.Bool("analyses", true, "ours: every analysis on (false: every analysis off)")
	poll := flag.Duration("poll", time.Second, "run: how often gobgpd's accepted count is polled")
	queueSize := flag.Int("queue-size", 0, "run, ours: the receiver's queue_size (0: its default, 100000)")
	flag.Parse()

	var err error
	switch *mode {
	case "send":
		err = runSender(*listen, *routes4, *routes6, *paths, *seed)
	case "ours":
		err = runOurs(*senderAddr, *local, *analyses, *queueSize, int64(*routes4+*routes6), *timeout, *cpuprofile)
	case "run":
		err = runBench(benchConfig{
			routes4: *routes4, routes6: *routes6, paths: *paths, seed: *seed, runs: *runs,
			targets: strings.Split(*targets, ","), timeout: *timeout, total: *total,
			gobgpd: *gobgpdPath, profileDir: *cpuprofile, jsonOut: *jsonOut, dir: *workDir, queueSize: *queueSize, poll: *poll,
		})
	default:
		err = fmt.Errorf("unknown -mode %q", *mode)
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "bgp-ingest:", err)
		os.Exit(1)
	}
}

// runSender builds the table, prints "ready <addr> <messages> <bytes> <routes>", then one line
// per session event ("first <unix ns>", "sent <unix ns>", "closed <unix ns> [error]") until
// its stdin closes.
func runSender(addr string, n4, n6, paths int, seed uint64) error {
	t := newTable(n4, n6, paths, seed)
	s, err := newSender(addr, t)
	if err != nil {
		return err
	}
	routes := t.routes()
	t = nil
	runtime.GC()
	out := bufio.NewWriter(os.Stdout)
	fmt.Fprintf(out, "ready %s %d %d %d\n", s.ln.Addr(), s.msgs, len(s.data), routes)
	_ = out.Flush()
	lines := make(chan string, 16)
	go s.serve(func(ev string, at time.Time, err error) {
		line := fmt.Sprintf("%s %d", ev, at.UnixNano())
		if err != nil {
			line += " " + err.Error()
		}
		lines <- line
	})
	stdin := make(chan struct{})
	go func() { _, _ = io.Copy(io.Discard, os.Stdin); close(stdin) }()
	sig := make(chan os.Signal, 1)
	signal.Notify(sig, syscall.SIGTERM, syscall.SIGINT)
	for {
		select {
		case l := <-lines:
			fmt.Fprintln(out, l)
			_ = out.Flush()
		case <-stdin:
			return s.ln.Close()
		case <-sig:
			return s.ln.Close()
		}
	}
}

// oursResult is what an ours child prints after its run ("result <json>").
type oursResult struct {
	Done     bool             `json:"done"`
	Error    string           `json:"error,omitempty"`
	DoneNS   int64            `json:"done_unix_ns"`
	Announce int64            `json:"announce"`
	Records  int64            `json:"records"`
	Events   map[string]int64 `json:"events"`
	HeapMiB  float64          `json:"heap_inuse_mib"`
}

// runOurs runs our receiver until it has n announces: prints "done <unix ns>" at once (the
// parent then reads this process's CPU time and VmHWM), then "result <json>", then waits for
// its stdin to close and shuts the receiver down.
func runOurs(senderAddr, local string, analyses bool, queueSize int, n int64, timeout time.Duration, profile string) error {
	zc := zap.NewProductionConfig()
	zc.Level = zap.NewAtomicLevelAt(zapcore.WarnLevel)
	zc.Sampling = nil
	logger, err := zc.Build()
	if err != nil {
		return err
	}
	if profile != "" {
		f, err := os.Create(profile)
		if err != nil {
			return err
		}
		defer f.Close()
		if err := pprof.StartCPUProfile(f); err != nil {
			return err
		}
	}
	o, err := startOurs(senderAddr, local, analyses, queueSize, logger)
	if err != nil {
		return err
	}
	at, werr := o.wait(n, 30*time.Second, time.Now().Add(timeout))
	res := oursResult{Done: werr == nil, DoneNS: at.UnixNano()}
	if werr == nil {
		fmt.Printf("done %d\n", at.UnixNano())
	} else {
		res.Error = werr.Error()
		fmt.Printf("fail %d %s\n", at.UnixNano(), werr)
	}
	if profile != "" {
		pprof.StopCPUProfile()
	}
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	res.Announce, res.Records, res.Events = o.count.announce.Load(), o.count.records.Load(), o.count.events()
	res.HeapMiB = float64(ms.HeapInuse) / (1 << 20)
	b, _ := json.Marshal(res)
	fmt.Printf("result %s\n", b)
	stdin := make(chan struct{})
	go func() { _, _ = io.Copy(io.Discard, os.Stdin); close(stdin) }()
	select {
	case <-stdin:
	case <-time.After(timeout):
	}
	return o.shutdown()
}

// procCPU returns utime+stime of a process, from /proc/<pid>/stat.
func procCPU(pid int) (time.Duration, error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0, err
	}
	s := string(b)
	i := strings.LastIndexByte(s, ')')
	if i < 0 {
		return 0, fmt.Errorf("unreadable /proc/%d/stat", pid)
	}
	f := strings.Fields(s[i+2:])
	// Fields after the command: state(3) ... utime(14) stime(15), so indexes 11 and 12 here.
	if len(f) < 13 {
		return 0, fmt.Errorf("short /proc/%d/stat", pid)
	}
	ut, _ := strconv.ParseInt(f[11], 10, 64)
	st, _ := strconv.ParseInt(f[12], 10, 64)
	const hz = 100 // USER_HZ on Linux
	return time.Duration(ut+st) * time.Second / hz, nil
}

// procHWM returns VmHWM (peak RSS) of a process in bytes.
func procHWM(pid int) (int64, error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0, err
	}
	for _, l := range strings.Split(string(b), "\n") {
		if strings.HasPrefix(l, "VmHWM:") {
			f := strings.Fields(l)
			if len(f) >= 2 {
				kb, err := strconv.ParseInt(f[1], 10, 64)
				return kb << 10, err
			}
		}
	}
	return 0, fmt.Errorf("no VmHWM in /proc/%d/status", pid)
}

func loadavg() string {
	b, err := os.ReadFile("/proc/loadavg")
	if err != nil {
		return "?"
	}
	f := strings.Fields(string(b))
	if len(f) < 3 {
		return "?"
	}
	return strings.Join(f[:3], " ")
}
