#!/usr/bin/env bash
# Ballot side by side with the stores it is measured against (docs/performance.md
# "Side by side"), in one run on this machine, fsync on everywhere:
#
#   ballot     3 ballotd nodes (peer TLS with pairwise keys unless COMPARE_PEER=insecure)
#   redis      one redis-server, appendonly yes, appendfsync always (Debian redis-server)
#   etcd       3 etcd members (Debian etcd-server), puts through the v3 HTTP gateway (wrk)
#   redisraft  3 redis-server nodes with the RedisRaft module, raft.log-fsync yes; only when
#              REDISRAFT_MODULE=/path/to/redisraft.so is given (no Debian package exists)
#
# Rounds are interleaved (round 1 of every system, then round 2, ...) so that other load on
# the machine falls on all of them alike; each round starts every store afresh. At the end
# it prints, per workload, the median of each system and the ratios to Ballot. Nothing is
# asserted on time.
#
#   bench/compare.sh                                 3 rounds of everything (~6 minutes)
#   ROUNDS=5 COMPARE_SYSTEMS="ballot redis" bench/compare.sh
#   REDISRAFT_MODULE=$HOME/redisraft/redisraft.so bench/compare.sh
#
# Workloads (redis-benchmark for the Redis-protocol stores, wrk for etcd):
#   set64     SET, 64 clients                      -t set -n $N -c 64
#   pipe16    SET, 64 clients, pipeline 16         -t set -n 8N -c 64 -P 16
#   get64     GET (linearizable in Ballot), 64 clients
#   single    SET, 1 client: p50, p99, max
# and the floor of one durable replicated write: fdatasync p50 + two loopback round trips
# (ballot-bench-probe, same run).
# Environment: BUILD (default build), ROUNDS (3), N (requests per 64-client run, 200000),
# COMPARE_DIR (parent of data dirs, default /tmp), COMPARE_PORT (first of 20 ports, 17381),
# WRK_SECONDS (20, etcd runs), COMPARE_SYSTEMS, COMPARE_PEER, REDISRAFT_MODULE, REDISRAFT_SERVER (the redis-server that
# loads it, default redis-server).
set -euo pipefail
cd "$(dirname "$0")/.."

build="${BUILD:-build}"
ballotd="$build/ballotd"
probe="$build/ballot-bench-probe"
rounds="${ROUNDS:-3}"
n="${N:-200000}"
port0="${COMPARE_PORT:-17381}"
peer_mode="${COMPARE_PEER:-psk}"
systems="${COMPARE_SYSTEMS:-ballot redis etcd redisraft}"
rr_module="${REDISRAFT_MODULE:-}"
rr_server="${REDISRAFT_SERVER:-redis-server}"
[ -z "$rr_module" ] && systems="${systems//redisraft/}"

need() { command -v "$1" >/dev/null || { echo "compare.sh: missing $1 ($2)" >&2; exit 1; }; }
need redis-benchmark "apt-get install redis-tools"
need redis-cli "apt-get install redis-tools"
for tool in "$ballotd" "$probe" "$build/ballot"; do
  [ -x "$tool" ] || { echo "compare.sh: missing $tool (make build first)" >&2; exit 1; }
done
[[ " $systems " == *" redis "* ]] && need redis-server "apt-get install redis-server"
if [[ " $systems " == *" etcd "* ]]; then
  need etcd "apt-get install etcd-server"
  need wrk "apt-get install wrk"
fi
if [ -n "$rr_module" ]; then
  [ -r "$rr_module" ] || { echo "compare.sh: REDISRAFT_MODULE $rr_module is not readable" >&2; exit 1; }
  need "$rr_server" "REDISRAFT_SERVER names the redis-server that loads the module"
fi

work="$(mktemp -d "${COMPARE_DIR:-/tmp}/ballot-compare.XXXXXX")"
results="$work/results" # lines: system workload metric value
: >"$results"
"$build/ballot" keygen --nodes 3 --out "$work/keys" >/dev/null
# shellcheck source=bench/server/cluster.sh
source bench/server/cluster.sh
others=() # pids of redis, etcd and redisraft processes
stop_others() {
  for p in "${others[@]}"; do kill -TERM "$p" 2>/dev/null || true; done
  for p in "${others[@]}"; do gone "$p"; done
  others=()
}
trap 'stop_all; stop_others; rm -rf "$work"' EXIT

record() { echo "$1 $2 $3 $4" >>"$results"; }
wait_port() { # port what
  for _ in $(seq 1 400); do
    redis-cli -p "$1" ping 2>/dev/null | grep -q PONG && return 0
    sleep 0.05
  done
  echo "compare.sh: $2 did not answer on port $1" >&2; exit 1
}

# redis-benchmark --csv columns: test, rps, avg, min, p50, p95, p99, max.
bench_redis() { # system port
  local sys="$1" port="$2" line
  line="$(redis-benchmark -p "$port" -t set -n "$n" -c 64 -r 100000 --csv 2>/dev/null | tail -1 | tr -d '"')"
  record "$sys" set64 rps "$(echo "$line" | cut -d, -f2)"
  record "$sys" set64 p99_ms "$(echo "$line" | cut -d, -f7)"
  record "$sys" set64 max_ms "$(echo "$line" | cut -d, -f8)"
  line="$(redis-benchmark -p "$port" -t set -n $((n * 8)) -c 64 -P 16 -r 100000 --csv 2>/dev/null | tail -1 | tr -d '"')"
  record "$sys" pipe16 rps "$(echo "$line" | cut -d, -f2)"
  line="$(redis-benchmark -p "$port" -t get -n "$n" -c 64 -r 100000 --csv 2>/dev/null | tail -1 | tr -d '"')"
  record "$sys" get64 rps "$(echo "$line" | cut -d, -f2)"
  record "$sys" get64 p99_ms "$(echo "$line" | cut -d, -f7)"
  line="$(redis-benchmark -p "$port" -t set -n 5000 -c 1 --csv 2>/dev/null | tail -1 | tr -d '"')"
  record "$sys" single p50_ms "$(echo "$line" | cut -d, -f5)"
  record "$sys" single p99_ms "$(echo "$line" | cut -d, -f7)"
  record "$sys" single max_ms "$(echo "$line" | cut -d, -f8)"
}

run_ballot() {
  fresh_cluster
  local L
  L=$(leader)
  bench_redis ballot "$(client_port "$L")"
  stop_all
  rm -rf "$work"/node*
}

run_redis() {
  local port=$((port0 + 10))
  rm -rf "$work/redis" && mkdir -p "$work/redis"
  redis-server --port "$port" --bind 127.0.0.1 --dir "$work/redis" --appendonly yes \
    --appendfsync always --save '' --daemonize no --logfile "$work/redis/log" &
  others+=($!)
  wait_port "$port" redis-server
  bench_redis redis "$port"
  stop_others
}

run_redisraft() {
  local i port
  rm -rf "$work/rr" && mkdir -p "$work/rr"
  for i in 1 2 3; do
    port=$((port0 + 10 + i))
    mkdir -p "$work/rr/$i"
    "$rr_server" --port "$port" --bind 127.0.0.1 --dir "$work/rr/$i" --save '' --daemonize no \
      --logfile "$work/rr/$i/log" --loadmodule "$rr_module" \
      --raft.addr "127.0.0.1:$port" --raft.log-filename "raftlog$i.db" --raft.log-fsync yes &
    others+=($!)
    wait_port "$port" "redisraft node $i"
  done
  redis-cli -p $((port0 + 11)) raft.cluster init >/dev/null
  for i in 2 3; do
    redis-cli -p $((port0 + 10 + i)) raft.cluster join "127.0.0.1:$((port0 + 11))" >/dev/null
  done
  for _ in $(seq 1 400); do # the first node leads once the others have joined
    [ "$(redis-cli -p $((port0 + 11)) raft.info 2>/dev/null | tr -d '\r' | awk -F: '$1 == "num_nodes" { print $2 }')" = 3 ] && break
    sleep 0.05
  done
  bench_redis redisraft $((port0 + 11))
  stop_others
}

# etcd through its v3 HTTP gateway: POST /v3/kv/put with base64 key and value, keys drawn
# from 100000 as redis-benchmark's -r does. wrk prints rps and latency percentiles.
cat >"$work/put.lua" <<'EOF'
local b64 = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/"
local function enc(s)
  return ((s:gsub('.', function(x)
    local r, b = '', x:byte()
    for i = 8, 1, -1 do r = r .. (b % 2 ^ i - b % 2 ^ (i - 1) > 0 and '1' or '0') end
    return r
  end) .. '0000'):gsub('%d%d%d?%d?%d?%d?', function(x)
    if #x < 6 then return '' end
    local c = 0
    for i = 1, 6 do c = c + (x:sub(i, i) == '1' and 2 ^ (6 - i) or 0) end
    return b64:sub(c + 1, c + 1)
  end) .. ({ '', '==', '=' })[#s % 3 + 1])
end
local value = enc("xxx")
wrk.method = "POST"
wrk.headers["Content-Type"] = "application/json"
request = function()
  local key = enc(string.format("key:%012d", math.random(0, 99999)))
  return wrk.format(nil, "/v3/kv/put", nil, '{"key":"' .. key .. '","value":"' .. value .. '"}')
end
done = function(summary, latency, requests)
  io.write(string.format("WRK rps %.1f p50_ms %.3f p99_ms %.3f max_ms %.3f errors %d\n",
    summary.requests / (summary.duration / 1e6), latency:percentile(50) / 1000,
    latency:percentile(99) / 1000, latency.max / 1000,
    summary.errors.status + summary.errors.connect + summary.errors.read +
    summary.errors.write + summary.errors.timeout))
end
EOF

run_etcd() {
  local i cluster="" cport line
  rm -rf "$work/etcd" && mkdir -p "$work/etcd"
  for i in 1 2 3; do cluster="$cluster,e$i=http://127.0.0.1:$((port0 + 13 + i))"; done
  for i in 1 2 3; do
    etcd --name "e$i" --data-dir "$work/etcd/e$i" \
      --listen-client-urls "http://127.0.0.1:$((port0 + 16 + i))" \
      --advertise-client-urls "http://127.0.0.1:$((port0 + 16 + i))" \
      --listen-peer-urls "http://127.0.0.1:$((port0 + 13 + i))" \
      --initial-advertise-peer-urls "http://127.0.0.1:$((port0 + 13 + i))" \
      --initial-cluster "${cluster#,}" --initial-cluster-state new \
      --log-level error >"$work/etcd/e$i.log" 2>&1 &
    others+=($!)
  done
  cport=$((port0 + 17))
  for _ in $(seq 1 400); do
    ETCDCTL_API=3 etcdctl --endpoints "http://127.0.0.1:$cport" put warm up >/dev/null 2>&1 && break
    sleep 0.05
  done
  line="$(wrk -t 2 -c 64 -d "${WRK_SECONDS:-20}s" -s "$work/put.lua" "http://127.0.0.1:$cport" | grep '^WRK')"
  record etcd set64 rps "$(echo "$line" | awk '{ print $3 }')"
  record etcd set64 p99_ms "$(echo "$line" | awk '{ print $7 }')"
  record etcd set64 max_ms "$(echo "$line" | awk '{ print $9 }')"
  line="$(wrk -t 1 -c 1 -d "$(( (${WRK_SECONDS:-20} + 1) / 2 ))s" -s "$work/put.lua" "http://127.0.0.1:$cport" | grep '^WRK')"
  record etcd single p50_ms "$(echo "$line" | awk '{ print $5 }')"
  record etcd single p99_ms "$(echo "$line" | awk '{ print $7 }')"
  record etcd single max_ms "$(echo "$line" | awk '{ print $9 }')"
  stop_others
}

echo "== Ballot side by side =="
echo "machine: $(nproc) cores, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ *//'),"\
  "$(free -g | awk '/Mem:/ { print $2 }') GB, kernel $(uname -r)"
echo "data: $work on $(df -T "$work" | awk 'NR==2 { print $1 " (" $2 ")" }'); systems:$systems; rounds: $rounds; peers: $peer_mode"
echo "versions: $(redis-server --version 2>/dev/null | awk '{ print $1, $3 }'), etcd $(etcd --version 2>/dev/null | awk '/etcd Version/ { print $3 }')"
for round in $(seq 1 "$rounds"); do
  echo "round $round: load $(cut -d' ' -f1-3 /proc/loadavg)"
  "$probe" fsync "$work" 500 >"$work/floor"
  "$probe" rtt 5000 >>"$work/floor"
  f=$(awk '/fdatasync_p50_us/ { print $2 }' "$work/floor")
  r=$(awk '/loopback_rtt_p50_us/ { print $2 }' "$work/floor")
  record floor single p50_ms "$(awk -v f="$f" -v r="$r" 'BEGIN { printf "%.3f", (f + 2 * r) / 1000 }')"
  for sys in $systems; do "run_$sys"; done
done

# Medians per system, workload and metric; ratios of Ballot to each other system.
echo
echo "medians over $rounds rounds (each cell: median (min-max)):"
awk '
  { key = $1 " " $2 " " $3; vals[key] = vals[key] " " $4; seen[$1] = 1; wl[$2 " " $3] = 1 }
  function median(list,   a, k, i, j, t) {
    k = split(list, a, " ")
    for (i = 1; i <= k; i++) for (j = i + 1; j <= k; j++) if (a[j] + 0 < a[i] + 0) { t = a[i]; a[i] = a[j]; a[j] = t }
    lo = a[1]; hi = a[k]
    return (k % 2) ? a[(k + 1) / 2] : (a[k / 2] + a[k / 2 + 1]) / 2
  }
  END {
    n = split("ballot redisraft redis etcd floor", order, " ")
    split("set64 rps|set64 p99_ms|set64 max_ms|pipe16 rps|get64 rps|get64 p99_ms|single p50_ms|single p99_ms|single max_ms", rows, "|")
    printf "%-16s", "workload"
    for (s = 1; s <= n; s++) if (order[s] in seen) printf " %22s", order[s]
    printf "\n"
    for (w = 1; w <= 9; w++) {
      if (!(rows[w] in wl)) continue
      printf "%-16s", rows[w]
      for (s = 1; s <= n; s++) {
        if (!(order[s] in seen)) continue
        key = order[s] " " rows[w]
        if (key in vals) { m = median(vals[key]); med[key] = m; printf " %10s (%s-%s)", m, lo, hi }
        else printf " %22s", "-"
      }
      printf "\n"
    }
    printf "\nratios (Ballot / other; for rps higher is better, for latency lower is better):\n"
    for (w = 1; w <= 9; w++) {
      b = "ballot " rows[w]
      if (!(b in med)) continue
      line = ""
      for (s = 2; s <= n; s++) {
        o = order[s] " " rows[w]
        if ((o in med) && med[o] + 0 > 0) line = line sprintf("  vs %s %.2fx", order[s], med[b] / med[o])
      }
      if (line != "") printf "%-16s%s\n", rows[w], line
    }
  }' "$results"
