#!/bin/sh
# Regenerates the demo's bundled data in demo/data:
#   ipfix.pcap  IPFIX exported by softflowd 1.1.0 (a real exporter) from the traffic of
#               traffic.py, as two edge routers: 127.0.0.11 (primary) and 127.0.0.12
#               (secondary), sent to 127.0.0.1:4739
#   bgp.mrt     an MRT message log (mrtgen): Route Server-like and edge peers, an overlap,
#               an ExpressRoute path, a backup path that goes away
#   flowlogs/   the same packets as Azure's flow logs record them (traffic.py): VNet flow
#               logs of the GatewaySubnet and both spokes, NSG flow logs of spoke 2
#   truth.json  what crossed, summed from the packets: per direction, link, conversation
# Needs python3, softflowd (Debian: apt-get install softflowd) and Go.
set -eu
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
cd "$tmp"
python3 "$here/traffic.py"
capture=$root/pkg/ipfix/testdata/softflowd/capture.sh
"$capture" primary.pcap 39501 primary.dgrams -v 10
"$capture" secondary.pcap 39502 secondary.dgrams -v 10
cd "$root"
rm -rf demo/data/flowlogs
cp -r "$tmp/flowlogs" demo/data/flowlogs
cp "$tmp/truth.json" demo/data/truth.json
go run ./demo/gen/mrtgen -ipfix-out demo/data/ipfix.pcap -primary "$tmp/primary.dgrams" -secondary "$tmp/secondary.dgrams" -mrt-out demo/data/bgp.mrt
