package main

import (
	"bufio"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"time"
)

// Counting what each receiver delivered: the collectors' Prometheus telemetry and the
// files of nfacctd and nfcapd.

type metrics []string

func scrape(url string) (metrics, error) {
	c := http.Client{Timeout: 3 * time.Second}
	resp, err := c.Get(url)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		return nil, err
	}
	var m metrics
	for _, l := range strings.Split(string(b), "\n") {
		if l != "" && l[0] != '#' {
			m = append(m, l)
		}
	}
	return m, nil
}

// sum adds the samples of metric name (with or without a _total suffix)
// whose labels contain label (empty: all).
func (m metrics) sum(name, label string) float64 {
	var s float64
	for _, l := range m {
		if !strings.HasPrefix(l, name) {
			continue
		}
		rest := l[len(name):]
		rest = strings.TrimPrefix(rest, "_total")
		if rest == "" || (rest[0] != '{' && rest[0] != ' ') {
			continue
		}
		if label != "" && !strings.Contains(rest, label) {
			continue
		}
		i := strings.LastIndexByte(rest, ' ')
		v, err := strconv.ParseFloat(rest[i+1:], 64)
		if err == nil {
			s += v
		}
	}
	return s
}

// nfacctdRecords sums PACKETS over every appended print of out.csv; each
// message carries packetDeltaCount 10..29 over its 20 records (390 packets).
func nfacctdRecords(file string) (int64, string, error) {
	f, err := os.Open(file)
	if err != nil {
		return 0, "", err
	}
	defer f.Close()
	var packets int64
	col := -1
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		fs := strings.Split(sc.Text(), ",")
		if fs[0] == "PROTOCOL" {
			for i, h := range fs {
				if h == "PACKETS" {
					col = i
				}
			}
			continue
		}
		if col < 0 || col >= len(fs) {
			continue
		}
		v, err := strconv.ParseInt(fs[col], 10, 64)
		if err != nil {
			return 0, "", fmt.Errorf("nfacctd csv: %q", sc.Text())
		}
		packets += v
	}
	if packets%390 != 0 {
		return packets * 20 / 390, fmt.Sprintf("packets=%d (not whole messages)", packets), nil
	}
	return packets / 390 * 20, fmt.Sprintf("packets=%d", packets), nil
}

func nfcapdRecords(dir string) (int64, string, error) {
	out, err := exec.Command("nfdump", "-R", dir, "-I", "-N").CombinedOutput()
	if err != nil {
		return 0, "", fmt.Errorf("nfdump -I: %v: %s", err, out)
	}
	for _, l := range strings.Split(string(out), "\n") {
		if v, ok := strings.CutPrefix(l, "Flows: "); ok {
			n, err := strconv.ParseInt(strings.TrimSpace(v), 10, 64)
			return n, "", err
		}
	}
	return 0, "", fmt.Errorf("no Flows: in nfdump -I output: %s", out)
}
