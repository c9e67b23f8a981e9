//go:build linux

package speaker

import (
	"fmt"
	"net/netip"
	"os"

	"golang.org/x/sys/unix"
)

// setMD5 installs the TCP-MD5 key (RFC 2385) of peer a on socket fd.
func setMD5(fd int, a netip.Addr, key string) error {
	if len(key) > unix.TCP_MD5SIG_MAXKEYLEN {
		return fmt.Errorf("password longer than %d bytes", unix.TCP_MD5SIG_MAXKEYLEN)
	}
	var sig unix.TCPMD5Sig
	if a.Is4() {
		sig.Addr.Family = unix.AF_INET
		b := a.As4()
		copy(sig.Addr.Data[2:], b[:])
	} else {
		sig.Addr.Family = unix.AF_INET6
		b := a.As16()
		copy(sig.Addr.Data[6:], b[:])
	}
	sig.Keylen = uint16(len(key))
	copy(sig.Key[:], key)
	return os.NewSyscallError("setsockopt TCP_MD5SIG", unix.SetsockoptTCPMD5Sig(fd, unix.IPPROTO_TCP, unix.TCP_MD5SIG, &sig))
}

// setTTL sets the TTL (IPv4) or hop limit (IPv6) of the packets of socket fd.
func setTTL(fd int, v4 bool, ttl int) error {
	if v4 {
		return os.NewSyscallError("setsockopt IP_TTL", unix.SetsockoptInt(fd, unix.IPPROTO_IP, unix.IP_TTL, ttl))
	}
	return os.NewSyscallError("setsockopt IPV6_UNICAST_HOPS", unix.SetsockoptInt(fd, unix.IPPROTO_IPV6, unix.IPV6_UNICAST_HOPS, ttl))
}
