#!/usr/bin/env bash
# End-to-end IPFIX benchmark: our ipfix receiver (bin/otelcol-erviz) side by side with the
# contrib netflowreceiver v0.135.0, pmacct nfacctd and nfdump nfcapd, all fed the same paced
# loopback replay by sender/ (20 records of 68 bytes per message, one exporter, template
# first and every 1000 messages). Prints one table; work files and results.json go to
# runs/<UTC time>/ (gitignored). About 17 minutes with the defaults (RUNS=2: about 11).
#
#   bench/ipfix-e2e/run.sh
#   RUNS=1 SECONDS_PER_POINT=5 RATES=100000 bench/ipfix-e2e/run.sh    a quick look
#   RECEIVERS=erviz,netflowreceiver PPROF=1 bench/ipfix-e2e/run.sh     also a CPU profile of ours
#
# Environment: RUNS (3), SECONDS_PER_POINT (10), RATES (50000,100000,200000,500000 records/s),
# RECEIVERS (erviz,netflowreceiver,nfacctd,nfcapd), PEAK_RATE (1500000: offered to ours to find
# its throughput when saturated), BISECT (3 steps to find its peak rate with loss <= 0.1%, then
# every receiver runs at 80% of that peak), PPROF (0).
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
root="$(cd "$here/../.." && pwd)"
cd "$here"

# Peers from Debian's packages.
need=()
command -v nfacctd >/dev/null || need+=(pmacct)
command -v nfcapd >/dev/null || need+=(nfdump)
if [ ${#need[@]} -gt 0 ]; then
  echo "installing ${need[*]}" >&2
  apt-get install -y "${need[@]}" >/dev/null || { apt-get update >/dev/null && apt-get install -y "${need[@]}" >/dev/null; }
fi

# Our collector: built by `make build`; built here only when missing.
if [ ! -x "$root/bin/otelcol-erviz" ]; then
  (cd "$root" && make build)
fi

# The peer: the contrib netflowreceiver in a collector of its own, built under build/ (gitignored).
# Only v0.135.0 resolves through the module proxy, and the checksum database has no entries for it.
peer="$here/build/peer/otelcol-netflow-peer"
if [ ! -x "$peer" ]; then
  echo "building the netflowreceiver peer collector (about 2 minutes)" >&2
  export GONOSUMDB=go.opentelemetry.io,github.com/open-telemetry GOFLAGS=-mod=mod
  mkdir -p build/bin
  [ -x build/bin/builder ] || GOBIN="$here/build/bin" go install go.opentelemetry.io/collector/cmd/builder@v0.135.0
  ./build/bin/builder --config peer-builder.yaml >build/peer-build.log 2>&1 || { tail -30 build/peer-build.log; exit 1; }
  unset GONOSUMDB GOFLAGS
fi

go build -o build/sender ./sender
go build -o build/runner ./runner

out="runs/$(date -u +%Y%m%dT%H%M%SZ)"
mkdir -p "$out"
pprof_args=()
if [ "${PPROF:-0}" = 1 ]; then
  pprof_args=(-pprof -profile "$out/erviz-cpu.pprof")
fi
{
  echo "# $(date -u +%Y-%m-%dT%H:%M:%SZ) commit $(git -C "$root" rev-parse --short HEAD)$(git -C "$root" diff --quiet HEAD -- receiver/ipfixreceiver pkg/ipfix 2>/dev/null || echo ' (ipfix receiver sources modified)')"
  echo "# $(go version); $(nproc) cores; $(uname -r); load average at start: $(cut -d' ' -f1-3 /proc/loadavg)"
  echo "# erviz $("$root/bin/otelcol-erviz" --version 2>&1 | tail -1); nfacctd $(nfacctd -V 2>&1 | grep -o '[0-9][0-9.]*' | head -1); nfcapd $(nfcapd -V 2>&1 | grep -o '[0-9][0-9.]*' | head -1); net.core.rmem_max $(cat /proc/sys/net/core/rmem_max)"
  echo
} >"$out/table.md"
cat "$out/table.md"
./build/runner -out "$out" -sender build/sender -erviz "$root/bin/otelcol-erviz" -peer "$peer" \
  -runs "${RUNS:-3}" -seconds "${SECONDS_PER_POINT:-10}" \
  -rates "${RATES:-50000,100000,200000,500000}" \
  -receivers "${RECEIVERS:-erviz,netflowreceiver,nfacctd,nfcapd}" \
  -peak-rate "${PEAK_RATE:-1500000}" -bisect "${BISECT:-3}" "${pprof_args[@]}" 2>"$out/points.log" | tee -a "$out/table.md"
echo "load average at end: $(cut -d' ' -f1-3 /proc/loadavg)" | tee -a "$out/table.md"
echo "per point: $here/$out/points.log; all figures: $here/$out/results.json" >&2
