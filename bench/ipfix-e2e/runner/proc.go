package main

import (
	"bytes"
	"fmt"
	"os"
	"strconv"
	"strings"
)

// Process accounting from /proc: a receiver's process tree, its CPU time and peak RSS, and
// the machine's load.

// tree returns pid and its live descendants.
func tree(pid int) []int {
	parent := map[int]int{}
	ents, _ := os.ReadDir("/proc")
	for _, e := range ents {
		id, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		f := statFields(id)
		if len(f) > 2 {
			pp, _ := strconv.Atoi(f[1])
			parent[id] = pp
		}
	}
	out := []int{pid}
	for i := 0; i < len(out); i++ {
		for c, pp := range parent {
			if pp == out[i] {
				out = append(out, c)
			}
		}
	}
	return out
}

// statFields returns the fields of /proc/pid/stat after the command name
// (index 0 is the state, field 3 of proc(5)).
func statFields(pid int) []string {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return nil
	}
	i := bytes.LastIndexByte(b, ')')
	if i < 0 {
		return nil
	}
	return strings.Fields(string(b[i+1:]))
}

// treeCPU is utime+stime+cutime+cstime of the process tree, seconds: live
// processes count themselves, reaped children count in their parent.
func treeCPU(pid int) float64 {
	const hz = 100.0 // USER_HZ on Linux
	var ticks float64
	for _, id := range tree(pid) {
		f := statFields(id)
		if len(f) < 15 {
			continue
		}
		for _, k := range []int{11, 12, 13, 14} { // utime stime cutime cstime
			v, _ := strconv.ParseFloat(f[k], 64)
			ticks += v
		}
	}
	return ticks / hz
}

// treeHWM is the sum of VmHWM over the process tree, KiB.
func treeHWM(pid int) int64 {
	var kib int64
	for _, id := range tree(pid) {
		b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", id))
		if err != nil {
			continue
		}
		for _, line := range strings.Split(string(b), "\n") {
			if strings.HasPrefix(line, "VmHWM:") {
				f := strings.Fields(line)
				v, _ := strconv.ParseInt(f[1], 10, 64)
				kib += v
			}
		}
	}
	return kib
}

func loadavg() string {
	b, _ := os.ReadFile("/proc/loadavg")
	f := strings.Fields(string(b))
	if len(f) < 3 {
		return "?"
	}
	return strings.Join(f[:3], " ")
}
