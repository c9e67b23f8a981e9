#!/usr/bin/env bash
# Runs every Go fuzz target in the module for a short time each (default 20s).
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
t="${1:-20s}"
cd "$root"
found=0
while IFS= read -r pkgdir; do
  for target in $(grep -h -o -E '^func (Fuzz[A-Za-z0-9_]+)\(' "$pkgdir"/*_test.go | sed -E 's/^func (Fuzz[A-Za-z0-9_]+)\(/\1/' | sort -u); do
    found=$((found+1))
    echo "fuzz: $pkgdir $target ($t)"
    go test -run '^$' -fuzz "^${target}\$" -fuzztime "$t" "./$pkgdir"
  done
done < <(grep -l -E '^func Fuzz' $(git ls-files '*_test.go') 2>/dev/null | xargs -r -n1 dirname | sort -u)
echo "fuzz: ran $found targets"
