#!/usr/bin/env bash
# `make demo`: starts the collector on config/demo.yaml, feeds it the bundled data of demo/
# (an IPFIX replay, the sample flow logs, an MRT message log), stops it once the output has
# settled and prints `erviz report` on what it wrote. Needs bin/otelcol-erviz and bin/erviz.
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
cd "$root"
export DEMO_DIR="${DEMO_DIR:-$root/data/demo}"
rm -rf "$DEMO_DIR"
mkdir -p "$DEMO_DIR/flowlogs"
logs="$DEMO_DIR/out/logs.json"

"${OTELCOL_ERVIZ_BIN:-bin/otelcol-erviz}" --config config/demo.yaml >"$DEMO_DIR/collector.log" 2>&1 &
pid=$!
trap 'kill $pid 2>/dev/null || true' EXIT
for _ in $(seq 100); do
  curl -sf http://127.0.0.1:13133/ >/dev/null 2>&1 && break
  kill -0 $pid 2>/dev/null || { cat "$DEMO_DIR/collector.log"; echo "demo: the collector did not start"; exit 1; }
  sleep 0.2
done
echo "demo: collector up (log: $DEMO_DIR/collector.log); replaying IPFIX, reading flow logs and MRT"
"${ERVIZ_BIN:-bin/erviz}" replay -pcap demo/data/ipfix.pcap -to 127.0.0.1:4739
# Flow logs of the same traffic land minutes later (Network Watcher writes them every minute);
# the receiver polls the directory. Copied once the IPFIX records are written.
for _ in $(seq 100); do
  [ -s "$logs" ] && break
  sleep 0.1
done
cp -r demo/data/flowlogs/. "$DEMO_DIR/flowlogs/"

# The output has settled when the logs file stops growing for 3 s (at most 60 s).
last=-1 same=0
for _ in $(seq 120); do
  size=$(stat -c %s "$logs" 2>/dev/null || echo 0)
  if [ "$size" -gt 0 ] && [ "$size" -eq "$last" ]; then
    same=$((same + 1))
    [ $same -ge 6 ] && break
  else
    same=0
  fi
  last=$size
  sleep 0.5
done
kill -TERM $pid
wait $pid || true
trap - EXIT
echo "demo: collector stopped; output in $DEMO_DIR/out/"
echo
"${ERVIZ_BIN:-bin/erviz}" report "$logs"
