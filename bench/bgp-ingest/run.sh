#!/usr/bin/env bash
# Full-table BGP ingest, side by side: our bgp receiver (receiver/bgpreceiver, built through
# its factory in a process of its own) with every analysis on, the same with every analysis
# off, and Debian's gobgpd alone, each fed the same synthetic table (1,000,000 IPv4 + 200,000
# IPv6 routes, 50k AS paths) over one loopback BGP session by the runner's own sender, which
# writes pre-serialized UPDATEs. Prints one table; work files, results.json and gobgpd's logs
# go to runs/<UTC time>/ (gitignored). About 20 minutes with the defaults on 2 shared cores.
#
#   bench/bgp-ingest/run.sh
#   RUNS=1 ROUTES4=100000 ROUTES6=20000 bench/bgp-ingest/run.sh     a quick look
#   TARGETS=ours-on PPROF=1 bench/bgp-ingest/run.sh                  CPU profile of ours
#
# Environment: RUNS (3), ROUTES4 (1000000), ROUTES6 (200000), PATHS (50000), TARGETS
# (ours-on,ours-off,gobgpd), TIMEOUT (8m per target run), QUEUE_SIZE (0: the receiver's
# default queue_size, 100000), PPROF (0).
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
root="$(cd "$here/../.." && pwd)"
cd "$here"

command -v gobgpd >/dev/null || {
  echo "installing gobgpd" >&2
  apt-get install -y gobgpd >/dev/null || { apt-get update >/dev/null && apt-get install -y gobgpd >/dev/null; }
}

mkdir -p build
(cd "$root/bench" && go build -o "$here/build/bgp-ingest" ./bgp-ingest)

out="runs/$(date -u +%Y%m%dT%H%M%SZ)"
mkdir -p "$out"
pprof_args=()
if [ "${PPROF:-0}" = 1 ]; then
  pprof_args=(-cpuprofile "$out")
fi
{
  echo "# $(date -u +%Y-%m-%dT%H:%M:%SZ) commit $(git -C "$root" rev-parse --short HEAD)$(git -C "$root" diff --quiet HEAD -- receiver/bgpreceiver pkg/rib bench/bgp-ingest 2>/dev/null || echo ' (receiver, rib or bench sources modified)')"
  echo "# $(go version); $(nproc) cores; $(uname -r); load average at start: $(cut -d' ' -f1-3 /proc/loadavg)"
  echo "# $(gobgpd --version 2>&1 | head -1); GoBGP in ours: $(cd "$root" && go list -m -f '{{.Version}}' github.com/osrg/gobgp/v3)"
  echo "# ours: queue_size ${QUEUE_SIZE:-0} (0: default 100000)"
  echo
} >"$out/table.md"
cat "$out/table.md"
./build/bgp-ingest -runs "${RUNS:-3}" -routes4 "${ROUTES4:-1000000}" -routes6 "${ROUTES6:-200000}" \
  -paths "${PATHS:-50000}" -targets "${TARGETS:-ours-on,ours-off,gobgpd}" -timeout "${TIMEOUT:-8m}" \
  -queue-size "${QUEUE_SIZE:-0}" \
  -dir "$out" -json "$out/results.json" "${pprof_args[@]}" 2>"$out/runs.log" | tee -a "$out/table.md" || status=$?
echo "load average at end: $(cut -d' ' -f1-3 /proc/loadavg)" | tee -a "$out/table.md"
echo "per run: $here/$out/runs.log; all figures: $here/$out/results.json" >&2
exit "${status:-0}"
