package speaker

// Socket options of the sessions; the options themselves are per OS
// (sockopt_linux.go, sockopt_other.go).

import "net"

func controlConn(c net.Conn, f func(fd int) error) error {
	tc, ok := c.(*net.TCPConn)
	if !ok {
		return nil
	}
	rc, err := tc.SyscallConn()
	if err != nil {
		return err
	}
	var ferr error
	if err := rc.Control(func(fd uintptr) { ferr = f(int(fd)) }); err != nil {
		return err
	}
	return ferr
}
