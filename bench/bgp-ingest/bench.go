package main

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"maps"
	"net"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	api "github.com/osrg/gobgp/v3/api"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
)

type benchConfig struct {
	routes4, routes6, paths int
	seed                    uint64
	runs                    int
	targets                 []string
	timeout, total          time.Duration
	gobgpd                  string
	profileDir, jsonOut     string
	dir                     string
	queueSize               int
	poll                    time.Duration
}

// runResult holds the figures of one target's run.
type runResult struct {
	Target     string      `json:"target"`
	Run        int         `json:"run"`
	OK         bool        `json:"ok"`
	Error      string      `json:"error,omitempty"`
	Routes     int64       `json:"routes"`
	WallS      float64     `json:"wall_s"`       // first UPDATE written -> last route installed
	SendS      float64     `json:"send_s"`       // first UPDATE written -> last byte written
	CPUS       float64     `json:"cpu_s"`        // the target's utime+stime in the window
	SenderCPUS float64     `json:"sender_cpu_s"` // the sender's in the window
	RSSMiB     float64     `json:"rss_mib"`      // VmHWM at the end of the window
	RoutesPerS float64     `json:"routes_per_s"`
	LoadStart  string      `json:"load_start"`
	LoadEnd    string      `json:"load_end"`
	Ours       *oursResult `json:"ours,omitempty"`
}

// senderProc is the sender child and its event lines.
type senderProc struct {
	cmd    *exec.Cmd
	stdin  io.WriteCloser
	addr   string
	routes int64
	events chan senderEvent
}

type senderEvent struct {
	kind string
	at   time.Time
	rest string
}

// children are the processes the runner started and has not stopped yet; a signal to the
// runner stops them all.
var children = struct {
	sync.Mutex
	m map[*exec.Cmd]chan struct{}
}{m: map[*exec.Cmd]chan struct{}{}}

// track registers a started child; the returned channel closes when it has exited.
func track(cmd *exec.Cmd) chan struct{} {
	done := make(chan struct{})
	children.Lock()
	children.m[cmd] = done
	children.Unlock()
	go func() {
		_ = cmd.Wait()
		children.Lock()
		delete(children.m, cmd)
		children.Unlock()
		close(done)
	}()
	return done
}

// stopOnSignal stops every child on SIGINT or SIGTERM, then exits.
func stopOnSignal() {
	sig := make(chan os.Signal, 1)
	signal.Notify(sig, syscall.SIGINT, syscall.SIGTERM)
	go func() {
		s := <-sig
		children.Lock()
		m := maps.Clone(children.m)
		children.Unlock()
		for cmd, done := range m {
			killGroup(cmd, done, 3*time.Second)
		}
		fmt.Fprintf(os.Stderr, "bgp-ingest: %s: stopped %d processes\n", s, len(m))
		os.Exit(1)
	}()
}

// killGroup ends a child we started and its process group: SIGTERM, then SIGKILL after grace.
func killGroup(cmd *exec.Cmd, done <-chan struct{}, grace time.Duration) {
	if cmd.Process == nil {
		return
	}
	_ = syscall.Kill(-cmd.Process.Pid, syscall.SIGTERM)
	select {
	case <-done:
	case <-time.After(grace):
		_ = syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
		<-done
	}
}

func startSender(self string, c benchConfig) (*senderProc, func(), error) {
	cmd := exec.Command(self, "-mode", "send", "-routes4", strconv.Itoa(c.routes4), "-routes6", strconv.Itoa(c.routes6),
		"-paths", strconv.Itoa(c.paths), "-seed", strconv.FormatUint(c.seed, 10))
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	cmd.Stderr = os.Stderr
	stdin, err := cmd.StdinPipe()
	if err != nil {
		return nil, nil, err
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		return nil, nil, err
	}
	if err := cmd.Start(); err != nil {
		return nil, nil, err
	}
	done := track(cmd)
	stop := func() { _ = stdin.Close(); killGroup(cmd, done, 5*time.Second) }
	sp := &senderProc{cmd: cmd, stdin: stdin, events: make(chan senderEvent, 64)}
	ready := make(chan string, 1)
	go func() {
		sc := bufio.NewScanner(stdout)
		for sc.Scan() {
			f := strings.SplitN(sc.Text(), " ", 3)
			if f[0] == "ready" {
				ready <- sc.Text()
				continue
			}
			if len(f) < 2 {
				continue
			}
			ns, _ := strconv.ParseInt(f[1], 10, 64)
			ev := senderEvent{kind: f[0], at: time.Unix(0, ns)}
			if len(f) == 3 {
				ev.rest = f[2]
			}
			sp.events <- ev
		}
		close(sp.events)
	}()
	select {
	case l := <-ready:
		f := strings.Fields(l) // ready addr msgs bytes routes
		sp.addr = f[1]
		sp.routes, _ = strconv.ParseInt(f[4], 10, 64)
		fmt.Fprintf(os.Stderr, "sender on %s: %s UPDATE messages, %s bytes, %d routes\n", f[1], f[2], f[3], sp.routes)
	case <-done:
		return nil, nil, errors.New("the sender exited before it was ready")
	case <-time.After(5 * time.Minute):
		stop()
		return nil, nil, errors.New("the sender was not ready within 5 minutes")
	}
	return sp, stop, nil
}

// waitEvent waits for the sender's next event of kind, skipping others.
func (sp *senderProc) waitEvent(kind string, d time.Duration) (senderEvent, error) {
	deadline := time.After(d)
	for {
		select {
		case ev, ok := <-sp.events:
			if !ok {
				return ev, errors.New("the sender exited")
			}
			if ev.kind == "closed" && ev.rest != "" && kind != "closed" {
				return ev, fmt.Errorf("sender session: %s", ev.rest)
			}
			if ev.kind == kind {
				return ev, nil
			}
		case <-deadline:
			return senderEvent{}, fmt.Errorf("no %q from the sender within %s", kind, d)
		}
	}
}

// drain drops pending sender events.
func (sp *senderProc) drain() {
	for {
		select {
		case <-sp.events:
		default:
			return
		}
	}
}

func runBench(c benchConfig) error {
	stopOnSignal()
	deadline := time.Now().Add(c.total)
	self, err := os.Executable()
	if err != nil {
		return err
	}
	dir := c.dir
	if dir == "" {
		if dir, err = os.MkdirTemp("", "bgp-ingest-"); err != nil {
			return err
		}
		defer os.RemoveAll(dir)
	} else if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	for _, t := range c.targets {
		if t != "ours-on" && t != "ours-off" && t != "gobgpd" {
			return fmt.Errorf("unknown target %q", t)
		}
		if t == "gobgpd" {
			if _, err := exec.LookPath(c.gobgpd); err != nil {
				return fmt.Errorf("gobgpd: %w (apt-get install gobgpd)", err)
			}
		}
	}
	fmt.Fprintf(os.Stderr, "building the table (%d IPv4 + %d IPv6 routes, %d AS paths); load average %s\n",
		c.routes4, c.routes6, c.paths, loadavg())
	sp, stopSender, err := startSender(self, c)
	if err != nil {
		return err
	}
	defer stopSender()

	var results []runResult
	for run := 1; run <= c.runs; run++ {
		// Interleave: rotate the order each run.
		order := slices.Clone(c.targets)
		k := (run - 1) % len(order)
		order = append(order[k:], order[:k]...)
		for _, t := range order {
			if time.Now().After(deadline) {
				fmt.Fprintln(os.Stderr, "total time bound reached; stopping")
				break
			}
			r := measure(self, c, sp, t, run, dir)
			results = append(results, r)
			b, _ := json.Marshal(r)
			fmt.Fprintf(os.Stderr, "run: %s\n", b)
			time.Sleep(2 * time.Second)
		}
	}
	if c.jsonOut != "" {
		b, _ := json.MarshalIndent(results, "", "  ")
		if err := os.WriteFile(c.jsonOut, b, 0o644); err != nil {
			return err
		}
	}
	printTable(os.Stdout, c, results)
	for _, r := range results {
		if !r.OK {
			return errors.New("some runs failed (see the table)")
		}
	}
	return nil
}

// measure runs one target once.
func measure(self string, c benchConfig, sp *senderProc, target string, run int, dir string) runResult {
	r := runResult{Target: target, Run: run, Routes: sp.routes, LoadStart: loadavg()}
	sp.drain()
	var err error
	switch target {
	case "gobgpd":
		err = measureGobgpd(c, sp, &r, dir)
	default:
		err = measureOurs(self, c, sp, &r, target == "ours-on")
	}
	r.LoadEnd = loadavg()
	// The target is stopped: the sender's session ends (if one started).
	if _, cerr := sp.waitEvent("closed", 15*time.Second); cerr != nil {
		fmt.Fprintln(os.Stderr, "warning:", cerr)
	}
	if err != nil {
		r.Error = err.Error()
		return r
	}
	r.OK = true
	r.RoutesPerS = float64(r.Routes) / r.WallS
	return r
}

// window holds the measurement of the receive window.
type window struct {
	first            senderEvent
	cpu0, senderCPU0 time.Duration
	pid              int
	failed           bool
}

func (w *window) start(sp *senderProc, pid int, d time.Duration) error {
	ev, err := sp.waitEvent("first", d)
	if err != nil {
		return err
	}
	w.first, w.pid = ev, pid
	w.cpu0, _ = procCPU(pid)
	w.senderCPU0, _ = procCPU(sp.cmd.Process.Pid)
	return nil
}

func (w *window) finish(sp *senderProc, r *runResult, done time.Time) {
	cpu1, _ := procCPU(w.pid)
	scpu1, _ := procCPU(sp.cmd.Process.Pid)
	hwm, _ := procHWM(w.pid)
	r.WallS = done.Sub(w.first.at).Seconds()
	r.CPUS = (cpu1 - w.cpu0).Seconds()
	r.SenderCPUS = (scpu1 - w.senderCPU0).Seconds()
	r.RSSMiB = float64(hwm) / (1 << 20)
	if ev, err := sp.waitEvent("sent", 10*time.Second); err == nil {
		r.SendS = ev.at.Sub(w.first.at).Seconds()
	}
}

func measureOurs(self string, c benchConfig, sp *senderProc, r *runResult, analyses bool) error {
	args := []string{"-mode", "ours", "-sender", sp.addr, "-local", "127.0.0.62",
		"-analyses=" + strconv.FormatBool(analyses), "-routes4", strconv.FormatInt(sp.routes, 10), "-routes6", "0",
		"-timeout", c.timeout.String(), "-queue-size", strconv.Itoa(c.queueSize)}
	if c.profileDir != "" {
		args = append(args, "-cpuprofile", filepath.Join(c.profileDir, fmt.Sprintf("%s-run%d.pprof", r.Target, r.Run)))
	}
	cmd := exec.Command(self, args...)
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	cmd.Stderr = os.Stderr
	stdin, err := cmd.StdinPipe()
	if err != nil {
		return err
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		return err
	}
	if err := cmd.Start(); err != nil {
		return err
	}
	lines := make(chan string, 4)
	go func() {
		sc := bufio.NewScanner(stdout)
		sc.Buffer(make([]byte, 1<<20), 1<<20)
		for sc.Scan() {
			lines <- sc.Text()
		}
		close(lines)
	}()
	exited := track(cmd)
	defer func() { _ = stdin.Close(); killGroup(cmd, exited, 20*time.Second) }()

	var w window
	if err := w.start(sp, cmd.Process.Pid, 60*time.Second); err != nil {
		return err
	}
	timeout := time.After(c.timeout + 10*time.Second)
	for {
		select {
		case l, ok := <-lines:
			if !ok {
				return errors.New("our receiver exited early")
			}
			f := strings.SplitN(l, " ", 3)
			switch f[0] {
			case "done":
				ns, _ := strconv.ParseInt(f[1], 10, 64)
				w.finish(sp, r, time.Unix(0, ns))
			case "fail":
				// Peak RSS and CPU up to giving up (the stall included), for the record.
				w.failed = true
				cpu1, _ := procCPU(w.pid)
				hwm, _ := procHWM(w.pid)
				r.CPUS, r.RSSMiB = (cpu1 - w.cpu0).Seconds(), float64(hwm)/(1<<20)
			case "result":
				var res oursResult
				if err := json.Unmarshal([]byte(strings.TrimPrefix(l, "result ")), &res); err != nil {
					return err
				}
				r.Ours = &res
				if w.failed {
					return errors.New(res.Error)
				}
				return nil
			}
		case <-timeout:
			return fmt.Errorf("no result from our receiver within %s", c.timeout)
		}
	}
}

func measureGobgpd(c benchConfig, sp *senderProc, r *runResult, dir string) error {
	host, port, _ := net.SplitHostPort(sp.addr)
	apiPort, err := freePort("127.0.0.1")
	if err != nil {
		return err
	}
	conf := fmt.Sprintf(`[global.config]
  as = %d
  router-id = "192.0.2.100"
  port = -1

[[neighbors]]
  [neighbors.config]
    neighbor-address = %q
    peer-as = %d
  [neighbors.transport.config]
    remote-port = %s
    local-address = "127.0.0.63"
  [neighbors.timers.config]
    connect-retry = 1
  [[neighbors.afi-safis]]
    [neighbors.afi-safis.config]
      afi-safi-name = "ipv4-unicast"
  [[neighbors.afi-safis]]
    [neighbors.afi-safis.config]
      afi-safi-name = "ipv6-unicast"
`, receiverASN, host, senderASN, port)
	cfgPath := filepath.Join(dir, "gobgpd.toml")
	if err := os.WriteFile(cfgPath, []byte(conf), 0o644); err != nil {
		return err
	}
	logf, err := os.Create(filepath.Join(dir, fmt.Sprintf("gobgpd-run%d.log", r.Run)))
	if err != nil {
		return err
	}
	defer logf.Close()
	apiAddr := fmt.Sprintf("127.0.0.1:%d", apiPort)
	cmd := exec.Command(c.gobgpd, "-f", cfgPath, "-t", "toml", "--api-hosts", apiAddr, "--pprof-disable", "-l", "warn", "-p")
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	cmd.Stdout, cmd.Stderr = logf, logf
	if err := cmd.Start(); err != nil {
		return err
	}
	exited := track(cmd)
	defer killGroup(cmd, exited, 20*time.Second)

	conn, err := grpc.NewClient(apiAddr, grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		return err
	}
	defer conn.Close()
	client := api.NewGobgpApiClient(conn)

	var w window
	if err := w.start(sp, cmd.Process.Pid, 60*time.Second); err != nil {
		return err
	}
	deadline := time.Now().Add(c.timeout)
	for {
		n, err := gobgpdAccepted(client, host)
		now := time.Now()
		if err == nil && n >= sp.routes {
			w.finish(sp, r, now)
			return nil
		}
		select {
		case <-exited:
			return errors.New("gobgpd exited (see its log in the work directory)")
		default:
		}
		if now.After(deadline) {
			return fmt.Errorf("gobgpd: %d of %d routes accepted at the deadline (last error %v)", n, sp.routes, err)
		}
		// Every ListPeer walks gobgpd's whole Adj-RIB-In to count the received routes (GoBGP's
		// AdjRib.Count), so polling often would slow gobgpd down: once per poll interval.
		time.Sleep(c.poll)
	}
}

// gobgpdAccepted sums the routes gobgpd accepted from the neighbor over both families.
func gobgpdAccepted(client api.GobgpApiClient, neighbor string) (int64, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	stream, err := client.ListPeer(ctx, &api.ListPeerRequest{Address: neighbor})
	if err != nil {
		return 0, err
	}
	var n int64
	for {
		resp, err := stream.Recv()
		if err == io.EOF {
			return n, nil
		}
		if err != nil {
			return n, err
		}
		for _, af := range resp.GetPeer().GetAfiSafis() {
			n += int64(af.GetState().GetAccepted())
		}
	}
}

func freePort(host string) (int, error) {
	l, err := net.Listen("tcp", host+":0")
	if err != nil {
		return 0, err
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}

func median(v []float64) float64 {
	if len(v) == 0 {
		return 0
	}
	s := slices.Clone(v)
	sort.Float64s(s)
	if len(s)%2 == 1 {
		return s[len(s)/2]
	}
	return (s[len(s)/2-1] + s[len(s)/2]) / 2
}

// printTable prints every run, then the medians per target with ratios to gobgpd.
func printTable(w io.Writer, c benchConfig, results []runResult) {
	fmt.Fprintf(w, "| target | run | wall s | send s | CPU s | sender CPU s | peak RSS MiB | routes/s | load avg (start; end) | note |\n")
	fmt.Fprintf(w, "|---|---:|---:|---:|---:|---:|---:|---:|---|---|\n")
	for _, r := range results {
		note := r.Error
		if r.Ours != nil {
			note = fmt.Sprintf("%d records (%d overlap), heap %.0f MiB", r.Ours.Records,
				r.Ours.Events["bgp.overlap"], r.Ours.HeapMiB)
			if r.Error != "" {
				note += "; " + r.Error
			}
		}
		if !r.OK {
			fmt.Fprintf(w, "| %s | %d | failed | | %.1f (to giving up) | | %.0f | | %s; %s | %s |\n", r.Target, r.Run, r.CPUS, r.RSSMiB,
				r.LoadStart, r.LoadEnd, note)
			continue
		}
		fmt.Fprintf(w, "| %s | %d | %.1f | %.1f | %.1f | %.1f | %.0f | %.0f | %s; %s | %s |\n", r.Target, r.Run, r.WallS, r.SendS,
			r.CPUS, r.SenderCPUS, r.RSSMiB, r.RoutesPerS, r.LoadStart, r.LoadEnd, note)
	}
	type agg struct{ wall, cpu, rss, rps []float64 }
	m := map[string]*agg{}
	for _, r := range results {
		if !r.OK {
			continue
		}
		a := m[r.Target]
		if a == nil {
			a = &agg{}
			m[r.Target] = a
		}
		a.wall, a.cpu, a.rss, a.rps = append(a.wall, r.WallS), append(a.cpu, r.CPUS), append(a.rss, r.RSSMiB), append(a.rps, r.RoutesPerS)
	}
	fmt.Fprintf(w, "\nMedians (%d routes):\n\n", results[0].Routes)
	fmt.Fprintf(w, "| target | runs | wall s | CPU s | peak RSS MiB | routes/s | wall / gobgpd | CPU / gobgpd | RSS / gobgpd |\n")
	fmt.Fprintf(w, "|---|---:|---:|---:|---:|---:|---:|---:|---:|\n")
	g := m["gobgpd"]
	for _, t := range c.targets {
		a := m[t]
		if a == nil {
			fmt.Fprintf(w, "| %s | 0 | | | | | | | |\n", t)
			continue
		}
		ratio := func(x, y []float64) string { return fmt.Sprintf("%.2f", median(x)/median(y)) }
		var rw, rc, rr string
		if g != nil {
			rw, rc, rr = ratio(a.wall, g.wall), ratio(a.cpu, g.cpu), ratio(a.rss, g.rss)
		}
		fmt.Fprintf(w, "| %s | %d | %.1f | %.1f | %.0f | %.0f | %s | %s | %s |\n", t, len(a.wall), median(a.wall), median(a.cpu),
			median(a.rss), median(a.rps), rw, rc, rr)
	}
}
