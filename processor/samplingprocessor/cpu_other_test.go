//go:build !linux

package samplingprocessor

// cpuNanos is not measured outside Linux (benchmarks report 0 cpu-ns/record).
func cpuNanos() int64 { return 0 }
