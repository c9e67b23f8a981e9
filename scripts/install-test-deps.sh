#!/usr/bin/env bash
# Installs what the integration tests need: Debian packages listed in scripts/test-deps.apt
# and npm packages listed in scripts/test-deps.npm (into ./build/node). Idempotent: only
# what is missing is installed, and `apt-get update` runs only when something is missing.
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
sudo=""
[ "$(id -u)" -eq 0 ] || sudo="sudo"

mapfile -t apt_pkgs < <(grep -v -E '^\s*(#|$)' "$root/scripts/test-deps.apt" || true)
missing=()
for p in "${apt_pkgs[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
  echo "install-test-deps: installing ${missing[*]}"
  # Wait for another apt/dpkg run (unattended upgrades on a fresh VM) instead of failing on its
  # lock.
  lock=(-o DPkg::Lock::Timeout=600)
  $sudo apt-get "${lock[@]}" update -qq
  DEBIAN_FRONTEND=noninteractive $sudo apt-get "${lock[@]}" install -y -qq --no-install-recommends "${missing[@]}"
fi

if [ -s "$root/scripts/test-deps.npm" ] && grep -q -v -E '^\s*(#|$)' "$root/scripts/test-deps.npm"; then
  mkdir -p "$root/build/node"
  mapfile -t npm_pkgs < <(grep -v -E '^\s*(#|$)' "$root/scripts/test-deps.npm")
  need=0
  for p in "${npm_pkgs[@]}"; do
    name="${p%@*}"; [ -n "$name" ] || name="$p"
    [ -d "$root/build/node/node_modules/$name" ] || need=1
  done
  if [ $need -eq 1 ]; then
    echo "install-test-deps: npm install ${npm_pkgs[*]}"
    (cd "$root/build/node" && npm install --no-audit --no-fund --silent "${npm_pkgs[@]}")
  fi
fi
echo "install-test-deps: ok"
