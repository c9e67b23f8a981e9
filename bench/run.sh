#!/usr/bin/env bash
# Runs every Go benchmark of the project, then the side-by-side benchmarks against the peers
# users would pick instead (bench/ module). Results go to bench/results/<date>.txt; copy the
# figures you quote into BENCHMARKS.md together with the command.
#   bench/run.sh              all benchmarks, 1 core, 5 runs each (benchstat-friendly)
#   BENCH=Decode bench/run.sh only benchmarks matching Decode
#   BGP_INGEST=0 bench/run.sh skip the full-table BGP ingest (bench/bgp-ingest/run.sh, about
#                             20 minutes: our bgp receiver vs Debian's gobgpd; it writes its
#                             own table under bench/bgp-ingest/runs/)
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
pattern="${BENCH:-.}"
count="${COUNT:-5}"
mkdir -p "$root/bench/results"
out="$root/bench/results/$(date -u +%Y%m%dT%H%M%SZ).txt"
{
  echo "# $(go version) on $(nproc) cores, $(uname -m); commit $(git -C "$root" rev-parse --short HEAD)"
  cd "$root"
  go test -run '^$' -bench "$pattern" -benchmem -count "$count" -cpu 1 ./...
  if [ -f "$root/bench/go.mod" ]; then
    cd "$root/bench"
    go test -run '^$' -bench "$pattern" -benchmem -count "$count" -cpu 1 ./...
  fi
} 2>&1 | tee "$out"
echo "bench: results in $out"
if [ "${BGP_INGEST:-1}" = 1 ]; then
  "$root/bench/bgp-ingest/run.sh"
fi
