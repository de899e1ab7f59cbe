#!/usr/bin/env bash
# Installs the Debian 12 packages Siegetank needs, skipping those already
# installed. Usage: scripts/deps.sh [--bench]   (--bench adds nginx, wrk and perf)
set -euo pipefail

packages=(
  build-essential cmake pkg-config git openssl ca-certificates
  libh2o-evloop-dev libjansson-dev libsodium-dev libcurl4-openssl-dev
  libsqlite3-dev libpq-dev zlib1g-dev libssl-dev libcmocka-dev
  postgresql haproxy clang libclang-rt-14-dev
  python3-numpy python3-mdtraj # the XTC interop test
  python3-simtk python3-matplotlib jq # tools/*.py and docs/tutorial.md
  libopenmm-dev libopenmm-plugins libexpat1-dev # the OpenMM engine of siegetank core
  prometheus # promtool checks every /metrics page; tests scrape with a private Prometheus
  libjs-dygraphs # the dashboard's charts, compiled into the CC
  chromium # the dashboard's browser test
)
if [ "${1:-}" = "--bench" ]; then
  packages+=(nginx-light wrk linux-perf) # perf: bench/p99_trace.sh
fi

missing=()
for p in "${packages[@]}"; do
  if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed"; then
    missing+=("$p")
  fi
done
[ ${#missing[@]} -eq 0 ] && exit 0

sudo=()
if [ "$(id -u)" -ne 0 ]; then
  command -v sudo >/dev/null || { echo "deps: need root or sudo to install: ${missing[*]}" >&2; exit 1; }
  sudo=(sudo)
fi
echo "deps: installing ${missing[*]}" >&2
export DEBIAN_FRONTEND=noninteractive
"${sudo[@]}" apt-get update -qq
"${sudo[@]}" apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
