package listener

import (
	"encoding/binary"
	"net"

	"golang.org/x/sys/unix"
)

// setSockopts sets SO_REUSEPORT (when several sockets share the address) and SO_RXQ_OVFL.
func setSockopts(fd uintptr, reusePort bool) error {
	if reusePort {
		if err := unix.SetsockoptInt(int(fd), unix.SOL_SOCKET, unix.SO_REUSEPORT, 1); err != nil {
			return err
		}
	}
	// Best effort: without it the kernel drop counter stays 0.
	_ = unix.SetsockoptInt(int(fd), unix.SOL_SOCKET, unix.SO_RXQ_OVFL, 1)
	return nil
}

// readBuffer reads back the receive buffer the kernel granted (SO_RCVBUF, halved: Linux
// doubles the value for its bookkeeping).
func readBuffer(conn *net.UDPConn) (int, error) {
	rc, err := conn.SyscallConn()
	if err != nil {
		return 0, err
	}
	var v int
	var gerr error
	if err := rc.Control(func(fd uintptr) { v, gerr = unix.GetsockoptInt(int(fd), unix.SOL_SOCKET, unix.SO_RCVBUF) }); err != nil {
		return 0, err
	}
	return v / 2, gerr
}

// oobSize is the control message buffer the drop counter needs.
func oobSize() int { return unix.CmsgSpace(4) }

// parseDropCount extracts the SO_RXQ_OVFL counter from a control message.
func parseDropCount(oob []byte) (uint32, bool) {
	msgs, err := unix.ParseSocketControlMessage(oob)
	if err != nil {
		return 0, false
	}
	for _, m := range msgs {
		if m.Header.Level == unix.SOL_SOCKET && m.Header.Type == unix.SO_RXQ_OVFL && len(m.Data) >= 4 {
			return binary.NativeEndian.Uint32(m.Data), true
		}
	}
	return 0, false
}
