#!/bin/sh
# Regenerates the softflowd captures used by softflowd_test.go.
# Needs python3 and softflowd 1.1.0 (Debian: apt-get install softflowd).
#
# softflowd 1.1.0 reading a pcap (-r) can block in accept() on its control
# socket before reading any packet (seen under sh, depending on what its
# stack held): we poke the control socket with softflowctl until it exits.
set -eu
cd "$(dirname "$0")"
python3 gen_pcap.py
run() { # name port softflowd-args...
	name=$1 port=$2
	shift 2
	ctl=/tmp/softflowd-$port.ctl
	rm -f "$name.dgrams" "$ctl"
	python3 capture.py "$port" "$name.dgrams" &
	cap=$!
	sleep 1
	softflowd -d -r traffic.pcap -n "127.0.0.1:$port" -p "/tmp/softflowd-$port.pid" \
		-c "$ctl" -6 -a "$@" >/dev/null 2>&1 &
	sfd=$!
	for i in 1 2 3 4 5 6 7 8 9 10 11 12 13 14 15 16 17 18 19 20; do
		kill -0 "$sfd" 2>/dev/null || break
		sleep 0.5
		softflowctl -c "$ctl" statistics >/dev/null 2>&1 || true
	done
	wait "$sfd"
	wait "$cap"
}
run v10 39410 -v 10
run v9 39409 -v 9
run v10_bidir 39411 -v 10 -b
run v10_nano 39412 -v 10 -A nano
run v10_sampled 39413 -v 10 -s 2
