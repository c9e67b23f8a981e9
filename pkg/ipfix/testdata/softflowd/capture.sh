#!/bin/sh
# capture.sh PCAP PORT OUT [softflowd args...]: runs softflowd 1.1.0 on PCAP, exporting to
# 127.0.0.1:PORT, and writes the datagrams it sent to OUT (capture.py's format).
#
# softflowd 1.1.0 reading a pcap (-r) can block in accept() on its control socket before
# reading any packet (seen under sh, depending on what its stack held): it is poked with
# softflowctl until it exits.
set -eu
here=$(cd "$(dirname "$0")" && pwd)
pcap=$1 port=$2 out=$3
shift 3
ctl=/tmp/softflowd-$port.ctl
rm -f "$out" "$ctl"
python3 "$here/capture.py" "$port" "$out" &
cap=$!
sleep 1
softflowd -d -r "$pcap" -n "127.0.0.1:$port" -p "/tmp/softflowd-$port.pid" \
	-c "$ctl" -6 -a "$@" >/dev/null 2>&1 &
sfd=$!
for i in 1 2 3 4 5 6 7 8 9 10 11 12 13 14 15 16 17 18 19 20; do
	kill -0 "$sfd" 2>/dev/null || break
	sleep 0.5
	softflowctl -c "$ctl" statistics >/dev/null 2>&1 || true
done
wait "$sfd"
wait "$cap"
