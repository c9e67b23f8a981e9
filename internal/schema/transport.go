package schema

import "strconv"

// transportNames maps IANA protocol numbers to their lower-case IANA keyword, as
// network.transport carries them. Numbers without an entry are rendered as decimal text.
var transportNames = [256]string{
	0: "hopopt", 1: "icmp", 2: "igmp", 4: "ipv4", 6: "tcp", 8: "egp", 9: "igp",
	17: "udp", 27: "rdp", 33: "dccp", 41: "ipv6", 43: "ipv6-route", 44: "ipv6-frag",
	46: "rsvp", 47: "gre", 50: "esp", 51: "ah", 58: "ipv6-icmp", 59: "ipv6-nonxt",
	60: "ipv6-opts", 88: "eigrp", 89: "ospf", 94: "ipip", 103: "pim", 112: "vrrp",
	115: "l2tp", 132: "sctp", 137: "mpls-in-ip",
}

var transportNumbers [256]string

func init() {
	for i := range transportNumbers {
		transportNumbers[i] = strconv.Itoa(i)
	}
}

// Transport returns the network.transport value for an IANA protocol number:
// the lower-case IANA keyword, or the number as text when it has none. It does not allocate.
func Transport(proto uint8) string {
	if n := transportNames[proto]; n != "" {
		return n
	}
	return transportNumbers[proto]
}

// TransportNumber is the inverse of Transport; ok is false for an unknown keyword.
func TransportNumber(name string) (proto uint8, ok bool) {
	for i, n := range transportNames {
		if n == name {
			return uint8(i), true
		}
	}
	v, err := strconv.ParseUint(name, 10, 8)
	if err != nil {
		return 0, false
	}
	return uint8(v), true
}
