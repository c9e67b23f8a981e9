package flowlogreceiver

import (
	"strings"
	"time"
)

// pathTail is what the end of a Network Watcher blob path says: the hour the blob covers
// and the MAC address of the NIC.
type pathTail struct {
	Hour time.Time // UTC, start of the hour
	MAC  string    // 12 upper-case hex digits
}

// tailLen is the length of "y=YYYY/m=MM/d=DD/h=HH/m=00/macAddress=XXXXXXXXXXXX/PT1H.json".
const tailLen = len("y=2024/m=05/d=14/h=09/m=00/macAddress=6045BDA2C3D4/PT1H.json")

// parseTail matches the tail of a flow log blob path (with any prefix, '/' separated):
// y=YYYY/m=MM/d=DD/h=HH/m=00/macAddress=XXXXXXXXXXXX/PT1H.json. The prefix before y= is
// not interpreted: its documented shapes differ between VNet and NSG flow logs.
func parseTail(p string) (pathTail, bool) {
	if len(p) < tailLen {
		return pathTail{}, false
	}
	if len(p) > tailLen && p[len(p)-tailLen-1] != '/' {
		return pathTail{}, false
	}
	s := p[len(p)-tailLen:]
	num := func(at, n int) (int, bool) {
		v := 0
		for i := at; i < at+n; i++ {
			c := s[i]
			if c < '0' || c > '9' {
				return 0, false
			}
			v = v*10 + int(c-'0')
		}
		return v, true
	}
	if s[0:2] != "y=" || s[6:9] != "/m=" || s[11:14] != "/d=" || s[16:19] != "/h=" ||
		s[21:27] != "/m=00/" || s[27:38] != "macAddress=" || s[50:] != "/PT1H.json" {
		return pathTail{}, false
	}
	y, ok1 := num(2, 4)
	mo, ok2 := num(9, 2)
	d, ok3 := num(14, 2)
	h, ok4 := num(19, 2)
	if !ok1 || !ok2 || !ok3 || !ok4 || mo < 1 || mo > 12 || d < 1 || d > 31 || h > 23 {
		return pathTail{}, false
	}
	t := time.Date(y, time.Month(mo), d, h, 0, 0, 0, time.UTC)
	if t.Day() != d { // 31 February
		return pathTail{}, false
	}
	mac := s[38:50]
	for i := 0; i < len(mac); i++ {
		c := mac[i]
		if !(c >= '0' && c <= '9' || c >= 'a' && c <= 'f' || c >= 'A' && c <= 'F') {
			return pathTail{}, false
		}
	}
	return pathTail{Hour: t, MAC: strings.ToUpper(mac)}, true
}
