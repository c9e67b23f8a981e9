//go:build !unix

package mrt

import "os"

// fileID is the device and inode of a file: none on this system (0, 0).
func fileID(os.FileInfo) (dev, ino uint64) { return 0, 0 }
