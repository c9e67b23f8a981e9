//go:build !linux

package listener

import (
	"errors"
	"net"
)

// setSockopts: several sockets on one address need SO_REUSEPORT load balancing, which only
// Linux offers; the kernel drop counter (SO_RXQ_OVFL) is Linux-only too.
func setSockopts(_ uintptr, reusePort bool) error {
	if reusePort {
		return errors.New("sockets > 1 needs SO_REUSEPORT load balancing (Linux only)")
	}
	return nil
}

func readBuffer(*net.UDPConn) (int, error) { return 0, errors.ErrUnsupported }

func oobSize() int { return 0 }

func parseDropCount([]byte) (uint32, bool) { return 0, false }
