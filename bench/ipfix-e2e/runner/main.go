//go:build linux

// Command runner drives the end-to-end IPFIX benchmark: for each receiver and
// offered rate it starts the receiver on a fresh loopback port, replays the
// same traffic with the sender, waits for the receiver to drain, and reads
// what the receiver itself says it decoded, its CPU time and peak RSS from
// /proc. It prints one table (Markdown) and writes every point as JSON.
//
// Receivers:
//   - erviz: bin/otelcol-erviz with the ipfix receiver and the debug
//     exporter (basic verbosity, sampled output), counted by the collector's
//     own otelcol_exporter_sent_log_records (also accepted/dropped).
//   - netflowreceiver: the contrib netflowreceiver v0.135.0 in a collector
//     built for the benchmark, same exporter, same counter.
//   - nfacctd: pmacct's print plugin aggregated by protocol, appended every
//     second; records = packets / 19.5 (every message carries 20 records
//     with packetDeltaCount 10..29, so whole messages are counted exactly).
//   - nfcapd: nfdump's collector writing its file; records = "Flows:" of
//     nfdump -I -N on the file after a clean stop.
package main

import (
	"bytes"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"math"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"syscall"
	"time"
)

type point struct {
	Receiver      string  `json:"receiver"`
	Run           int     `json:"run"`
	OfferedRate   float64 `json:"offered_records_per_sec"`
	AchievedRate  float64 `json:"achieved_records_per_sec"`
	SendSeconds   float64 `json:"send_seconds"`
	Sent          int64   `json:"records_sent"`
	Received      int64   `json:"records_received"`
	LossPct       float64 `json:"loss_pct"`
	CPUSeconds    float64 `json:"cpu_seconds"`
	CPUusPerRec   float64 `json:"cpu_us_per_record"`
	RecPerCoreSec float64 `json:"records_per_core_second"`
	RSSKiB        int64   `json:"rss_hwm_kib"`
	SenderCPU     float64 `json:"sender_cpu_seconds"`
	Load1         string  `json:"loadavg"`
	Extra         string  `json:"extra,omitempty"`
	Err           string  `json:"error,omitempty"`
}

type senderSummary struct {
	DataMessages  int64   `json:"data_messages"`
	Records       int64   `json:"records"`
	SendErrors    int64   `json:"send_errors"`
	Seconds       float64 `json:"seconds"`
	RecordsPerSec float64 `json:"records_per_sec"`
	SenderCPU     float64 `json:"sender_cpu_seconds"`
}

var (
	flagOut      = flag.String("out", "runs", "directory for per-point work files and results.json")
	flagRates    = flag.String("rates", "50000,100000,200000,500000", "offered rates, records/s, comma-separated")
	flagSeconds  = flag.Float64("seconds", 10, "seconds of traffic per point")
	flagRuns     = flag.Int("runs", 1, "repetitions of the whole matrix")
	flagRecv     = flag.String("receivers", "erviz,netflowreceiver,nfacctd,nfcapd", "receivers to run")
	flagSender   = flag.String("sender", "build/sender", "sender binary")
	flagErviz    = flag.String("erviz", "../../bin/otelcol-erviz", "our collector binary")
	flagPeer     = flag.String("peer", "build/peer/otelcol-netflow-peer", "contrib netflowreceiver collector binary")
	flagPort     = flag.Int("port", 47400, "first UDP port; each point uses the next one")
	flagPprof    = flag.Bool("pprof", false, "enable the pprof extension on 127.0.0.1:1777 in both collectors")
	flagProfile  = flag.String("profile", "", "with -pprof: save a 10 s CPU profile of erviz taken during its first point to this file")
	flagPeak     = flag.Bool("peak", true, "also probe erviz saturated, find its peak rate with loss <= 0.1%, and run every receiver at 80% of it")
	flagPeakRate = flag.Float64("peak-rate", 1500000, "rate offered to ours to measure its throughput when saturated, records/s")
	flagBisect   = flag.Int("bisect", 3, "bisection steps to find ours' peak rate with loss <= 0.1% (first run)")
)

func main() {
	flag.Parse()
	if err := os.MkdirAll(*flagOut, 0o755); err != nil {
		fatal(err)
	}
	rates := parseRates(*flagRates)
	recvs := strings.Split(*flagRecv, ",")
	port := *flagPort
	var all []point
	peak := 0.0
	save := func() {
		b, _ := json.MarshalIndent(all, "", "  ")
		_ = os.WriteFile(filepath.Join(*flagOut, "results.json"), b, 0o644)
	}
	for run := 1; run <= *flagRuns; run++ {
		for _, rate := range rates {
			for _, r := range recvs {
				p := measure(r, rate, run, port)
				port++
				all = append(all, p)
				logPoint(p)
				save()
			}
		}
		if *flagPeak && contains(recvs, "erviz") {
			// Throughput when saturated: what ours decodes when offered far more than it can take.
			p := measure("erviz", *flagPeakRate, run, port)
			port++
			p.Extra = strings.TrimSpace("saturation probe " + p.Extra)
			all = append(all, p)
			logPoint(p)
			// Peak = the highest rate ours takes with loss <= 0.1%: bisection (first run only)
			// between the highest tested rate within it and the lowest beyond it.
			if peak == 0 {
				lo, hi := 0.0, *flagPeakRate
				for _, q := range all {
					if q.Receiver != "erviz" || q.Run != run || q.Err != "" {
						continue
					}
					if q.LossPct <= 0.1 && q.OfferedRate > lo {
						lo = q.OfferedRate
					}
					if q.LossPct > 0.1 && q.OfferedRate < hi {
						hi = q.OfferedRate
					}
				}
				for i := 0; i < *flagBisect && lo > 0 && hi-lo > 10000; i++ {
					mid := math.Round((lo+hi)/2/1000) * 1000
					q := measure("erviz", mid, run, port)
					port++
					q.Extra = strings.TrimSpace("peak search " + q.Extra)
					all = append(all, q)
					logPoint(q)
					if q.Err == "" && q.LossPct <= 0.1 {
						lo = mid
					} else {
						hi = mid
					}
				}
				peak = lo
				fmt.Fprintf(os.Stderr, "erviz peak (loss <= 0.1%%): %.0f records/s; 80%% = %.0f\n", peak, math.Round(0.8*peak/1000)*1000)
			}
			if peak > 0 {
				rate80 := math.Round(0.8*peak/1000) * 1000
				for _, r := range recvs {
					q := measure(r, rate80, run, port)
					port++
					q.Extra = strings.TrimSpace("80% of erviz peak " + q.Extra)
					all = append(all, q)
					logPoint(q)
				}
			}
			save()
		}
	}
	save()
	printTable(os.Stdout, all)
}

func logPoint(p point) {
	fmt.Fprintf(os.Stderr, "run %d %-16s offered %8.0f/s sent %9d received %9d loss %6.2f%% cpu %6.2fs %6.2f us/rec rss %d KiB load %s %s %s\n",
		p.Run, p.Receiver, p.OfferedRate, p.Sent, p.Received, p.LossPct, p.CPUSeconds, p.CPUusPerRec, p.RSSKiB, p.Load1, p.Extra, p.Err)
}

// receiver is one started receiver process.
type receiver struct {
	cmd     *exec.Cmd
	dir     string
	count   func() (int64, string, error) // records decoded so far (collectors only, live)
	final   func() (int64, string, error) // records decoded, after stop
	stopSig syscall.Signal
}

func measure(name string, rate float64, run, port int) point {
	p := point{Receiver: name, Run: run, OfferedRate: rate}
	dir, _ := filepath.Abs(filepath.Join(*flagOut, fmt.Sprintf("%s-%d-%d-%d", name, int(rate), run, port)))
	_ = os.RemoveAll(dir)
	_ = os.MkdirAll(dir, 0o755)
	r, err := start(name, dir, port)
	if err != nil {
		p.Err = err.Error()
		return p
	}
	defer r.kill()
	if err := waitUDP(port, 15*time.Second); err != nil {
		p.Err = err.Error()
		return p
	}
	time.Sleep(time.Second) // let start-up work settle before the CPU snapshot
	pid := r.cmd.Process.Pid
	cpu0 := treeCPU(pid)

	messages := int64(rate * *flagSeconds / 20)
	var profErr chan error
	if *flagPprof && *flagProfile != "" && name == "erviz" && run == 1 {
		profErr = make(chan error, 1)
		file := *flagProfile
		go func() { profErr <- fetchProfile(file, 10) }()
		*flagProfile = "" // only the first point
	}
	out, err := exec.Command(*flagSender, "-addr", fmt.Sprintf("127.0.0.1:%d", port),
		"-rate", fmt.Sprint(rate), "-messages", fmt.Sprint(messages),
		"-max-duration", fmt.Sprintf("%.0fs", *flagSeconds*1.5+5)).Output()
	if err != nil {
		p.Err = "sender: " + err.Error()
		return p
	}
	var s senderSummary
	if err := json.Unmarshal(out, &s); err != nil {
		p.Err = "sender output: " + err.Error()
		return p
	}
	p.Sent, p.AchievedRate, p.SenderCPU, p.SendSeconds = s.Records, s.RecordsPerSec, s.SenderCPU, s.Seconds

	// Drain: collectors until their count stops moving; others a fixed pause.
	if r.count != nil {
		last, stable := int64(-1), 0
		deadline := time.Now().Add(20 * time.Second)
		for time.Now().Before(deadline) && stable < 3 {
			time.Sleep(500 * time.Millisecond)
			n, _, err := r.count()
			if err == nil && n == last {
				stable++
			} else {
				stable = 0
			}
			last = n
			if last >= p.Sent {
				break
			}
		}
	} else {
		time.Sleep(2 * time.Second)
	}
	cpu1 := treeCPU(pid)
	p.RSSKiB = treeHWM(pid)
	p.Load1 = loadavg()
	if profErr != nil {
		if err := <-profErr; err != nil {
			fmt.Fprintln(os.Stderr, "profile:", err)
		}
	}
	var extra string
	if r.count != nil {
		p.Received, extra, err = r.count()
	}
	if err == nil {
		err = r.stop()
	}
	if err == nil && r.final != nil {
		p.Received, extra, err = r.final()
	}
	if err != nil {
		p.Err = err.Error()
	}
	p.Extra = extra
	p.CPUSeconds = cpu1 - cpu0
	if p.Sent > 0 {
		p.LossPct = 100 * float64(p.Sent-p.Received) / float64(p.Sent)
	}
	if p.Received > 0 {
		p.CPUusPerRec = p.CPUSeconds * 1e6 / float64(p.Received)
		if p.CPUSeconds > 0 {
			p.RecPerCoreSec = float64(p.Received) / p.CPUSeconds
		}
	}
	return p
}

func start(name, dir string, port int) (*receiver, error) {
	r := &receiver{dir: dir, stopSig: syscall.SIGTERM}
	metricsPort := port + 10000
	pprof := ""
	pprofExt := ""
	if *flagPprof {
		pprof = "extensions:\n  pprof:\n    endpoint: 127.0.0.1:1777\n"
		pprofExt = "  extensions: [pprof]\n"
	}
	exporter := `exporters:
  debug:
    verbosity: basic
    sampling_initial: 1
    sampling_thereafter: 1000000
`
	telemetry := fmt.Sprintf(`  telemetry:
    logs:
      level: info
    metrics:
      level: normal
      readers:
        - pull:
            exporter:
              prometheus:
                host: 127.0.0.1
                port: %d
`, metricsPort)
	switch name {
	case "erviz", "netflowreceiver":
		var recv, bin, id string
		if name == "erviz" {
			bin, id = *flagErviz, "ipfix"
			recv = fmt.Sprintf("receivers:\n  ipfix:\n    endpoint: 127.0.0.1:%d\n", port)
		} else {
			bin, id = *flagPeer, "netflow"
			recv = fmt.Sprintf("receivers:\n  netflow:\n    scheme: netflow\n    hostname: 127.0.0.1\n    port: %d\n    sockets: 1\n    workers: 2\n", port)
		}
		cfg := recv + exporter + pprof + "service:\n" + pprofExt + telemetry +
			fmt.Sprintf("  pipelines:\n    logs:\n      receivers: [%s]\n      exporters: [debug]\n", id)
		file := filepath.Join(dir, "config.yaml")
		if err := os.WriteFile(file, []byte(cfg), 0o644); err != nil {
			return nil, err
		}
		r.cmd = exec.Command(bin, "--config", file)
		url := fmt.Sprintf("http://127.0.0.1:%d/metrics", metricsPort)
		r.count = func() (int64, string, error) {
			m, err := scrape(url)
			if err != nil {
				return 0, "", err
			}
			n := int64(m.sum("otelcol_exporter_sent_log_records", `exporter="debug"`))
			extra := ""
			if name == "erviz" {
				extra = fmt.Sprintf("accepted=%.0f dgram_dropped=%.0f kernel=%.0f queue_full=%.0f rec_dropped=%.0f",
					m.sum("otelcol_receiver_accepted_log_records", ""),
					m.sum("otelcol_receiver_ipfix_datagrams_dropped", ""),
					m.sum("otelcol_receiver_ipfix_datagrams_dropped", `reason="kernel"`),
					m.sum("otelcol_receiver_ipfix_datagrams_dropped", `reason="queue_full"`),
					m.sum("otelcol_receiver_ipfix_records_dropped", ""))
			}
			return n, extra, nil
		}
	case "nfacctd":
		cfg := fmt.Sprintf(`daemonize: false
nfacctd_ip: 127.0.0.1
nfacctd_port: %d
nfacctd_pipe_size: 4194304
plugins: print[out]
aggregate[out]: proto
print_output[out]: csv
print_output_file[out]: %s/out.csv
print_output_file_append[out]: true
print_refresh_time[out]: 1
plugin_pipe_size[out]: 10485760
plugin_buffer_size[out]: 40960
logfile: %s/nfacctd.log
`, port, dir, dir)
		file := filepath.Join(dir, "nfacctd.conf")
		if err := os.WriteFile(file, []byte(cfg), 0o644); err != nil {
			return nil, err
		}
		r.cmd = exec.Command("nfacctd", "-f", file)
		r.stopSig = syscall.SIGINT
		r.final = func() (int64, string, error) { return nfacctdRecords(filepath.Join(dir, "out.csv")) }
	case "nfcapd":
		flows := filepath.Join(dir, "flows")
		_ = os.MkdirAll(flows, 0o755)
		r.cmd = exec.Command("nfcapd", "-b", "127.0.0.1", "-p", fmt.Sprint(port), "-w", flows, "-t", "3600", "-B", "4194304")
		r.final = func() (int64, string, error) { return nfcapdRecords(flows) }
	default:
		return nil, fmt.Errorf("unknown receiver %q", name)
	}
	logf, err := os.Create(filepath.Join(dir, "stderr.log"))
	if err != nil {
		return nil, err
	}
	r.cmd.Stdout, r.cmd.Stderr = logf, logf
	r.cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := r.cmd.Start(); err != nil {
		return nil, err
	}
	return r, nil
}

func (r *receiver) stop() error {
	if r.cmd.ProcessState != nil {
		return nil
	}
	_ = r.cmd.Process.Signal(r.stopSig)
	done := make(chan error, 1)
	go func() { done <- r.cmd.Wait() }()
	select {
	case <-done:
		return nil
	case <-time.After(15 * time.Second):
		_ = syscall.Kill(-r.cmd.Process.Pid, syscall.SIGKILL)
		<-done
		return errors.New("receiver did not stop within 15 s")
	}
}

// kill ends the receiver's process group (its own, from Setpgid) if still there.
func (r *receiver) kill() {
	if r.cmd.ProcessState == nil {
		_ = r.stop()
	}
	_ = syscall.Kill(-r.cmd.Process.Pid, syscall.SIGKILL)
}

// waitUDP waits until something listens on 127.0.0.1:port (UDP).
func waitUDP(port int, d time.Duration) error {
	want := fmt.Sprintf("0100007F:%04X", port)
	deadline := time.Now().Add(d)
	for time.Now().Before(deadline) {
		b, _ := os.ReadFile("/proc/net/udp")
		if bytes.Contains(b, []byte(want)) {
			return nil
		}
		time.Sleep(100 * time.Millisecond)
	}
	return fmt.Errorf("nothing listens on udp 127.0.0.1:%d after %s", port, d)
}

func fetchProfile(file string, secs int) error {
	c := http.Client{Timeout: time.Duration(secs+10) * time.Second}
	time.Sleep(500 * time.Millisecond)
	resp, err := c.Get(fmt.Sprintf("http://127.0.0.1:1777/debug/pprof/profile?seconds=%d", secs))
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	f, err := os.Create(file)
	if err != nil {
		return err
	}
	defer f.Close()
	_, err = io.Copy(f, resp.Body)
	return err
}

// printTable prints the median over runs of each (receiver, offered rate).
func printTable(w io.Writer, all []point) {
	type key struct {
		r     string
		rate  float64
		extra string
	}
	groups := map[key][]point{}
	var keys []key
	for _, p := range all {
		k := key{p.Receiver, p.OfferedRate, ""}
		switch {
		case strings.HasPrefix(p.Extra, "80%"):
			k = key{p.Receiver, -1, "80% of erviz peak"} // the rate is the same within a run
		case strings.HasPrefix(p.Extra, "saturation"):
			k.extra = "saturated"
		case strings.HasPrefix(p.Extra, "peak search"):
			k.extra = "peak search"
		}
		if _, ok := groups[k]; !ok {
			keys = append(keys, k)
		}
		groups[k] = append(groups[k], p)
	}
	order := map[string]int{"erviz": 0, "netflowreceiver": 1, "nfacctd": 2, "nfcapd": 3}
	rank := map[string]int{"": 0, "peak search": 1, "saturated": 2, "80% of erviz peak": 3}
	sort.SliceStable(keys, func(i, j int) bool {
		if rank[keys[i].extra] != rank[keys[j].extra] {
			return rank[keys[i].extra] < rank[keys[j].extra]
		}
		if keys[i].rate != keys[j].rate {
			return keys[i].rate < keys[j].rate
		}
		return order[keys[i].r] < order[keys[j].r]
	})
	fmt.Fprintln(w, "| receiver | offered rec/s | sent (achieved rec/s) | records received | loss % | CPU µs/record | records/s per core | RSS (VmHWM) MiB | runs |")
	fmt.Fprintln(w, "|---|---:|---:|---:|---:|---:|---:|---:|---:|")
	for _, k := range keys {
		ps := groups[k]
		med := func(f func(point) float64) float64 {
			var v []float64
			for _, p := range ps {
				if p.Err == "" {
					v = append(v, f(p))
				}
			}
			if len(v) == 0 {
				return math.NaN()
			}
			sort.Float64s(v)
			if len(v)%2 == 1 {
				return v[len(v)/2]
			}
			return (v[len(v)/2-1] + v[len(v)/2]) / 2
		}
		label := k.r
		if k.extra != "" {
			label += " (" + k.extra + ")"
		}
		errs := 0
		for _, p := range ps {
			if p.Err != "" {
				errs++
			}
		}
		runs := fmt.Sprint(len(ps) - errs)
		if errs > 0 {
			runs += fmt.Sprintf(" (+%d failed)", errs)
		}
		fmt.Fprintf(w, "| %s | %.0f | %.0f (%.0f) | %.0f | %.2f | %.2f | %.0f | %.0f | %s |\n", label,
			med(func(p point) float64 { return p.OfferedRate }),
			med(func(p point) float64 { return float64(p.Sent) }),
			med(func(p point) float64 { return p.AchievedRate }),
			med(func(p point) float64 { return float64(p.Received) }),
			med(func(p point) float64 { return p.LossPct }),
			med(func(p point) float64 { return p.CPUusPerRec }),
			med(func(p point) float64 { return p.RecPerCoreSec }),
			med(func(p point) float64 { return float64(p.RSSKiB) / 1024 }),
			runs)
	}
	fmt.Fprintln(w, "\nMedians over runs. Peak of erviz = highest rate with loss <= 0.1% (bisection in the first run); saturated = erviz offered -peak-rate. CPU: utime+stime of the receiver's process tree from /proc while the traffic ran and drained.")
}

func parseRates(s string) []float64 {
	var out []float64
	for _, f := range strings.Split(s, ",") {
		v, err := strconv.ParseFloat(strings.TrimSpace(f), 64)
		if err != nil || v <= 0 {
			fatal(fmt.Errorf("bad rate %q", f))
		}
		out = append(out, v)
	}
	return out
}

func contains(s []string, v string) bool {
	for _, x := range s {
		if x == v {
			return true
		}
	}
	return false
}

func fatal(err error) {
	fmt.Fprintln(os.Stderr, "runner:", err)
	os.Exit(1)
}
