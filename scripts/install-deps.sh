#!/usr/bin/env bash
# Installs the Debian 12 packages Ballot builds and tests with (needs root or sudo), and the
# npm packages of the client-library tests (tests/security/clients, from its lock file).
set -euo pipefail
cd "$(dirname "$0")/.."
packages=(build-essential cmake pkg-config clang libclang-rt-14-dev clang-format
          libcmocka-dev libuv1-dev libssl-dev openssl redis-tools python3 python3-redis strace
          iproute2 util-linux libmicrohttpd-dev python3-prometheus-client libfaketime
          chromium)  # the timeline page's browser test (tests/trace/test_trace_html.py)
# Node.js and npm for ioredis: Debian's, unless a node with npm is already installed.
command -v node >/dev/null 2>&1 || packages+=(nodejs)
command -v npm >/dev/null 2>&1 || packages+=(npm)
missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
sudo=""
[ "$(id -u)" -eq 0 ] || sudo="sudo"
if [ "${#missing[@]}" -ne 0 ]; then
  export DEBIAN_FRONTEND=noninteractive
  $sudo apt-get update -qq
  $sudo apt-get install -y -qq "${missing[@]}"
fi
if [ ! -d tests/security/clients/node_modules/ioredis ]; then
  (cd tests/security/clients && npm ci --no-audit --no-fund)
fi
