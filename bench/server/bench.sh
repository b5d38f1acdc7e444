#!/usr/bin/env bash
# The server benchmark (docs/performance.md): a 3-node cluster on 127.0.0.1 with
# fsync on, measured with unmodified redis-benchmark and build/ballot-bench-probe. Prints
# each figure with the command that produced it and the issue's target beside it.
#
#   bench/server/bench.sh                 everything (about 3 minutes)
#   BENCH_ONLY="set get" bench/server/bench.sh   some parts: floor set pipeline get single
#                                         failover rss trace tls
# Peer links use TLS 1.3 with pairwise keys (ballot keygen) unless BENCH_PEER=insecure; the
# `tls` part measures both, one after the other, on fresh clusters.
# Environment: BUILD (default build), BENCH_DIR (parent of the data dirs, default /tmp; put it
# on the disk you want to measure), BENCH_PORT (first of six ports, default 16381),
# FAILOVER_TRIALS (default 20), RSS_KEYS (default 1000000).
set -euo pipefail
cd "$(dirname "$0")/../.."

build="${BUILD:-build}"
ballotd="$build/ballotd"
probe="$build/ballot-bench-probe"
only="${BENCH_ONLY:-floor set pipeline get single failover rss trace tls}"
peer_mode="${BENCH_PEER:-psk}"
port0="${BENCH_PORT:-16381}"
trials="${FAILOVER_TRIALS:-20}"
rss_keys="${RSS_KEYS:-1000000}"
for tool in "$ballotd" "$probe" "$build/ballot-bench-tls" "$(command -v redis-benchmark)" "$(command -v redis-cli)"; do
  [ -x "$tool" ] || { echo "bench.sh: missing $tool (build first; apt-get install redis-tools)" >&2; exit 1; }
done

work="$(mktemp -d "${BENCH_DIR:-/tmp}/ballot-bench.XXXXXX")"
"$build/ballot" keygen --nodes 3 --out "$work/keys" >/dev/null
source bench/server/cluster.sh
trap cleanup EXIT

echo "== Ballot server benchmark =="
echo "machine: $(nproc) cores, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ *//'),"\
  "$(free -g | awk '/Mem:/ { print $2 }') GB, kernel $(uname -r)"
echo "data: $work on $(df -T "$work" | awk 'NR==2 { print $1 " (" $2 ")" }'), fsync on (fdatasync per group commit)"
echo "load when starting: $(cut -d' ' -f1-3 /proc/loadavg)"
echo

if [[ " $only " == *" floor "* || " $only " == *" single "* ]]; then
  "$probe" fsync "$work" 500 >"$work/floor"
  "$probe" rtt 5000 >>"$work/floor"
  fsync_p50=$(awk '/fdatasync_p50_us/ { print $2 }' "$work/floor")
  rtt_p50=$(awk '/loopback_rtt_p50_us/ { print $2 }' "$work/floor")
  printf '%-34s %10s us   p99 %s us   (ballot-bench-probe fsync DIR 500)\n' "fdatasync (256 B append)" \
    "$fsync_p50" "$(awk '/fdatasync_p99_us/ { print $2 }' "$work/floor")"
  printf '%-34s %10s us   p99 %s us   (ballot-bench-probe rtt 5000)\n' "loopback TCP round trip" \
    "$rtt_p50" "$(awk '/loopback_rtt_p99_us/ { print $2 }' "$work/floor")"
fi

fresh_cluster
L=$(leader); LP=$(client_port "$L")
echo "leader: n$L (port $LP)"
if [[ " $only " == *" set "* ]]; then
  run_bench "SET -c 64 (target >= 25000, p99<=10)" -p "$LP" -t set -n 200000 -c 64
fi
if [[ " $only " == *" pipeline "* ]]; then
  run_bench "SET -c 64 -P 16 (target >= 100000)" -p "$LP" -t set -n 1000000 -c 64 -P 16
fi
if [[ " $only " == *" get "* ]]; then
  run_bench "GET -c 64 lease (target >= 50000)" -p "$LP" -t get -n 200000 -c 64
fi
if [[ " $only " == *" single "* ]]; then
  line="$(redis-benchmark -p "$LP" -t set -n 5000 -c 1 --csv 2>/dev/null | tail -1)"
  p50=$(csv_field "$line" 5)
  bound=$(awk -v f="$fsync_p50" -v r="$rtt_p50" 'BEGIN { printf "%.3f", 1.5 * (f + r) / 1000 }')
  printf '%-34s %10s ms   bound 1.5 x (fdatasync p50 + rtt p50) = %s ms   (redis-benchmark -t set -n 5000 -c 1)\n' \
    "single client SET p50" "$p50" "$bound"
fi

if [[ " $only " == *" failover "* ]]; then
  : >"$work/failover"
  for t in $(seq 1 "$trials"); do
    L=$(leader); caught_up
    others=""
    for id in 1 2 3; do [ "$id" != "$L" ] && others="$others,127.0.0.1:$(client_port "$id")"; done
    "$probe" failover "${pids[$L]}" "${others#,}" | awk '{ print $2 }' >>"$work/failover"
    gone "${pids[$L]}"
    unset "pids[$L]"
    start_node "$L"
  done
  sort -n "$work/failover" | awk -v n="$trials" '{ v[NR] = $1 }
    END { printf "%-34s median %s ms   worst %s ms   over %d trials (kill -9 leader -> first acknowledged SET)\n",
          "failover (target worst <= 1000)", v[int((NR + 1) / 2)], v[NR], n }'
fi

if [[ " $only " == *" rss "* ]]; then
  fresh_cluster
  L=$(leader)
  "$probe" load "127.0.0.1:$(client_port "$L")" "$rss_keys" 16 100 >"$work/load"
  caught_up; sleep 2; caught_up
  rss=""
  for id in 1 2 3; do
    rss="$rss n$id=$(awk '/VmRSS/ { printf "%.0f", $2 / 1024 }' "/proc/${pids[$id]}/status")MB"
  done
  printf '%-34s %s   (%s keys of 16 B, 100 B values, loaded in %ss; target <= 250 MB)\n' \
    "RSS per node" "$rss" "$rss_keys" "$(awk '/load_seconds/ { print $2 }' "$work/load")"
fi

if [[ " $only " == *" trace "* ]]; then
  BENCH_TRACE=1 fresh_cluster
  L=$(leader)
  run_bench "SET -c 64 with --trace FILE" -p "$(client_port "$L")" -t set -n 200000 -c 64
fi

if [[ " $only " == *" tls "* ]]; then
  # Peer TLS on (pairwise keys) and off (--peer-insecure), alternating on fresh clusters so
  # that load from other work on the machine falls on both alike; TLS_ROUNDS rounds each.
  # Also the CPU time all three nodes spent per request (utime + stime from /proc), which
  # other load does not move as much as throughput.
  cpu_ticks() { local t=0; for id in "${!pids[@]}"; do
      t=$((t + $(awk '{ print $14 + $15 }' "/proc/${pids[$id]}/stat"))); done; echo "$t"; }
  hz=$(getconf CLK_TCK)
  # One peer round trip on its own (src/net's connections, 200-byte messages): what TLS adds
  # to the latency of a replicated write, without the disk and other load's noise.
  "$build/ballot-bench-tls" "$((port0 + 10))" 20000
  for round in $(seq 1 "${TLS_ROUNDS:-3}"); do
    for mode in insecure psk; do
      peer_mode="$mode"
      fresh_cluster
      L=$(leader); LP=$(client_port "$L")
      t0=$(cpu_ticks)
      run_bench "r$round SET -c 64, peers $mode" -p "$LP" -t set -n 100000 -c 64
      t1=$(cpu_ticks)
      run_bench "r$round SET -c 1, peers $mode" -p "$LP" -t set -n 3000 -c 1
      awk -v a="$t0" -v b="$t1" -v hz="$hz" -v m="$mode" -v r="$round" 'BEGIN {
        printf "%-34s %10.1f us of CPU per SET (3 nodes, -c 64 run)\n", "r" r " CPU, peers " m,
               (b - a) * 1e6 / hz / 100000 }'
    done
  done
fi
