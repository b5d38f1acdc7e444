#!/usr/bin/env bash
# Installs the Debian 12 packages Ballot builds and tests with (needs root or sudo).
set -euo pipefail
packages=(build-essential cmake pkg-config clang libclang-rt-14-dev clang-format
          libcmocka-dev libuv1-dev libssl-dev openssl redis-tools python3 strace)
missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
[ "${#missing[@]}" -eq 0 ] && exit 0
sudo=""
[ "$(id -u)" -eq 0 ] || sudo="sudo"
export DEBIAN_FRONTEND=noninteractive
$sudo apt-get update -qq
$sudo apt-get install -y -qq "${missing[@]}"
