//go:build unix

package mrt

import (
	"os"
	"syscall"
)

// fileID is the device and inode of a file (0, 0 where the system has none).
func fileID(info os.FileInfo) (dev, ino uint64) {
	if st, ok := info.Sys().(*syscall.Stat_t); ok {
		return uint64(st.Dev), st.Ino
	}
	return 0, 0
}
