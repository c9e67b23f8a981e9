//go:build unix

package ipfixreceiver

import (
	"syscall"
	"time"
)

// processCPU is the user and system CPU time the process has used, every thread (garbage
// collector included). Benchmarks report it per record: on a shared machine it varies less
// than elapsed time, which counts the time other processes hold the cores.
func processCPU() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
