//go:build !linux

package speaker

import (
	"errors"
	"net/netip"
)

// errNoMD5: TCP-MD5 (RFC 2385) is set only on Linux; a peer with a password cannot connect
// elsewhere.
var errNoMD5 = errors.New("TCP-MD5 is supported on Linux only")

func setMD5(int, netip.Addr, string) error { return errNoMD5 }

// setTTL leaves the system's default TTL on the sessions' packets outside Linux.
func setTTL(int, bool, int) error { return nil }
