#!/bin/sh
# Regenerates the softflowd captures used by softflowd_test.go.
# Needs python3 and softflowd 1.1.0 (Debian: apt-get install softflowd).
set -eu
cd "$(dirname "$0")"
python3 gen_pcap.py
./capture.sh traffic.pcap 39410 v10.dgrams -v 10
./capture.sh traffic.pcap 39409 v9.dgrams -v 9
./capture.sh traffic.pcap 39411 v10_bidir.dgrams -v 10 -b
./capture.sh traffic.pcap 39412 v10_nano.dgrams -v 10 -A nano
./capture.sh traffic.pcap 39413 v10_sampled.dgrams -v 10 -s 2
