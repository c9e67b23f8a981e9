#!/bin/sh
# Regenerates the demo's bundled data in demo/data:
#   ipfix.pcap  IPFIX exported by softflowd 1.1.0 (a real exporter) from the traffic of
#               traffic.py, as two edge routers: 127.0.0.11 (primary) and 127.0.0.12
#               (secondary), sent to 127.0.0.1:4739
#   bgp.mrt     an MRT message log (mrtgen): Route Server-like and edge peers, an overlap,
#               an ExpressRoute path, a backup path that goes away
# Needs python3, softflowd (Debian: apt-get install softflowd) and Go.
set -eu
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
cd "$tmp"
python3 "$here/traffic.py"
capture=$root/pkg/ipfix/testdata/softflowd/capture.py
run() { # pcap port
	ctl=$tmp/softflowd-$2.ctl
	python3 "$capture" "$2" "$1.dgrams" &
	cap=$!
	sleep 1
	softflowd -d -r "$1.pcap" -n "127.0.0.1:$2" -p "$tmp/softflowd-$2.pid" -c "$ctl" -v 10 -a >/dev/null 2>&1 &
	sfd=$!
	# softflowd reading a pcap can block on its control socket: poke it until it exits.
	for i in 1 2 3 4 5 6 7 8 9 10 11 12 13 14 15 16 17 18 19 20; do
		kill -0 "$sfd" 2>/dev/null || break
		sleep 0.5
		softflowctl -c "$ctl" statistics >/dev/null 2>&1 || true
	done
	wait "$sfd"
	wait "$cap"
}
run primary 39501
run secondary 39502
cd "$root"
go run ./demo/gen/mrtgen -ipfix-out demo/data/ipfix.pcap -primary "$tmp/primary.dgrams" -secondary "$tmp/secondary.dgrams" -mrt-out demo/data/bgp.mrt
