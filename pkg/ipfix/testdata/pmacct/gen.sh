#!/bin/sh
# Regenerates the pmacct captures used by pmacct_test.go: pmacctd 1.7.7's nfprobe
# plugin (Debian: apt-get install pmacct) exporting ../softflowd/traffic.pcap.
# pmacctd exits when it has read the file; its nfprobe plugin exports every flow
# it still holds as it exits (the default timeouts expire none before).
set -eu
cd "$(dirname "$0")"
pcap="$(pwd)/../softflowd/traffic.pcap"
run() { # name port config-lines...
	name=$1 port=$2
	shift 2
	conf=/tmp/pmacctd-$port.conf
	printf '%s\n' "daemonize: false" "pcap_savefile: $pcap" "plugins: nfprobe" \
		"nfprobe_receiver: 127.0.0.1:$port" "$@" >"$conf"
	rm -f "$name.dgrams"
	python3 ../softflowd/capture.py "$port" "$name.dgrams" &
	cap=$!
	sleep 1
	pmacctd -f "$conf" >/dev/null 2>&1
	wait "$cap"
	rm -f "$conf"
}
run v10 39420 "nfprobe_version: 10"
run v9 39421 "nfprobe_version: 9"
# Random sampling: the capture is one draw, decoded with its exact counts.
run v10_sampled 39422 "nfprobe_version: 10" "sampling_rate: 4"
