#!/usr/bin/env bash
# `make run`: a 3-node Ballot cluster on 127.0.0.1, in the foreground.
#   RESP (redis-cli) on ports 6381, 6382, 6383; peers on 7381, 7382, 7383;
#   Prometheus /metrics and /health on http://127.0.0.1:9381, 9382, 9383 (docs/metrics.md);
#   data under ./data/node1..3 (kept: running again restarts with the same data).
# Peer links are TLS 1.3 with pairwise keys: the first start makes them with `ballot keygen`
# into ./data/keys/node1..3.key (mode 0600); later starts reuse them (docs/security.md).
# The first start also founds the cluster (--bootstrap, a random cluster id in
# ./data/cluster-id); later starts find their data.
# Each node's log lines are prefixed with [n1], [n2], [n3]. When a node stops (killed, or a
# fatal error), the others keep running and run.sh prints how to start it again; Ctrl-C
# stops every node, also those started again with --restart.
#
#   scripts/run.sh                      start the cluster
#   scripts/run.sh --restart N [FLAGS]  start node N again (from another terminal), with the
#                                       same flags and data, plus FLAGS (e.g. --rejoin)
#
# Environment: BALLOTD (binary, default build/ballotd), BALLOT_DATA (default ./data),
# BALLOT_RUN_ARGS (extra flags for every node, e.g. "--log-level debug"),
# BALLOT_CLIENT_PORT_BASE (default 6380: node N serves RESP on base+N),
# BALLOT_PEER_PORT_BASE (default 7380: node N listens for peers on base+N),
# BALLOT_METRICS_PORT_BASE (default 9380: node N serves /metrics and /health on base+N).
set -euo pipefail
cd "$(dirname "$0")/.."

ballotd="${BALLOTD:-build/ballotd}"
ballot="${BALLOT:-$(dirname "$ballotd")/ballot}"
data="${BALLOT_DATA:-data}"
if [ ! -x "$ballotd" ]; then
  echo "run.sh: $ballotd not found; run 'make' first" >&2
  exit 1
fi

keys="$data/keys"
if [ ! -f "$keys/node1.key" ]; then
  mkdir -p "$data"
  "$ballot" keygen --nodes 3 --out "$keys" >&2
fi

# The cluster is founded once: on the first start (no cluster-id yet) every node bootstraps
# with a random cluster id kept in $data/cluster-id. Later starts find their data; a node
# whose directory was emptied meanwhile rejoins instead of voting with its promises
# forgotten (docs/operations.md, "Bootstrap and node identity").
bootstrap=()
if [ ! -f "$data/cluster-id" ] && [ -d "$data/node1" ]; then
  echo 1 > "$data/cluster-id" # made by an earlier run.sh, which always used cluster id 1
elif [ ! -f "$data/cluster-id" ] && [ "${1:-}" != "--restart" ]; then
  echo $(( $(od -An -N4 -tu4 /dev/urandom | tr -d " ") + 1 )) > "$data/cluster-id.tmp"
  mv "$data/cluster-id.tmp" "$data/cluster-id"
  bootstrap=(--bootstrap)
  echo "run.sh: founding a new cluster (id $(cat "$data/cluster-id")) in $data" >&2
fi
if [ ! -f "$data/cluster-id" ]; then
  echo "run.sh: no cluster in $data yet: start it with scripts/run.sh first" >&2
  exit 1
fi
cluster_id="$(cat "$data/cluster-id")"

# ---- nodes and supervision ------------------------------------------------------------
client_base="${BALLOT_CLIENT_PORT_BASE:-6380}"
peer_base="${BALLOT_PEER_PORT_BASE:-7380}"
metrics_base="${BALLOT_METRICS_PORT_BASE:-9380}"
ids=(1 2 3)
peers=""
clients=""
for id in "${ids[@]}"; do
  peers+="${peers:+,}$id=127.0.0.1:$((peer_base + id))"
  clients+="${clients:+,}$id=127.0.0.1:$((client_base + id))"
done

# Starts node $1 in the background (extra ballotd flags after it); its pid goes to $started
# and to $data/node$1/run.pid, so a Ctrl-C of the first run.sh also stops a restarted node.
start_node() {
  local id="$1"
  shift
  mkdir -p "$data/node$id"
  # shellcheck disable=SC2086
  "$ballotd" --id "$id" --cluster-id "$cluster_id" --data-dir "$data/node$id" \
    --client "127.0.0.1:$((client_base + id))" --peers "$peers" --peer-clients "$clients" \
    --metrics-addr "127.0.0.1:$((metrics_base + id))" \
    --peer-key-file "$keys/node$id.key" ${BALLOT_RUN_ARGS:-} "$@" > >(trap '' INT TERM; exec sed -u "s/^/[n$id] /") 2>&1 &
  started=$!
  echo "$started" > "$data/node$id/run.pid"
}

# The command that starts node $1 again, with the environment this run.sh was given.
restart_command() {
  local cmd=""
  local var
  for var in BALLOTD BALLOT_DATA BALLOT_RUN_ARGS BALLOT_CLIENT_PORT_BASE BALLOT_PEER_PORT_BASE \
    BALLOT_METRICS_PORT_BASE; do
    if [ -n "${!var:-}" ]; then
      cmd+="$var=$(printf '%q' "${!var}") "
    fi
  done
  echo "${cmd}scripts/run.sh --restart $1"
}

# True when the pid in $data/node$1/run.pid is a live ballotd of this data directory.
recorded_node_alive() {
  local pidfile="$data/node$1/run.pid"
  local pid
  [ -f "$pidfile" ] && pid="$(cat "$pidfile")" && [ -n "$pid" ] && [ -r "/proc/$pid/cmdline" ] &&
    tr '\0' ' ' 2>/dev/null < "/proc/$pid/cmdline" | grep -qF -- "--data-dir $data/node$1 "
}

stop_all() {
  trap - INT TERM
  echo "run.sh: stopping the cluster" >&2
  local id
  local pid
  for id in "${ids[@]}"; do
    if recorded_node_alive "$id"; then
      kill -TERM "$(cat "$data/node$id/run.pid")" 2>/dev/null || true
    fi
  done
  for pid in "${pids[@]}"; do
    kill -TERM "$pid" 2>/dev/null || true
  done
  for pid in "${pids[@]}"; do
    wait "$pid" 2>/dev/null || true
  done
  for id in "${ids[@]}"; do
    while recorded_node_alive "$id"; do sleep 0.1; done
  done
  exit 0
}

if [ "${1:-}" = "--restart" ]; then
  id="${2:-}"
  if [[ ! "$id" =~ ^[123]$ ]]; then
    echo "run.sh: --restart takes a node id (1, 2 or 3)" >&2
    exit 2
  fi
  shift 2
  if recorded_node_alive "$id"; then
    echo "run.sh: node $id is already running (pid $(cat "$data/node$id/run.pid"))" >&2
    exit 1
  fi
  pids=()
  trap 'trap - INT TERM; kill -TERM "${pids[@]}" 2>/dev/null; wait; exit 0' INT TERM
  start_node "$id" "$@"
  pids=("$started")
  echo "run.sh: node $id started again (pid $started); Ctrl-C here or in the first run.sh stops it" >&2
  set +e
  wait "$started"
  status=$?
  echo "run.sh: node $id stopped (exit status $status)" >&2
  exit "$status"
fi

pids=()
node_of_pid=()
trap stop_all INT TERM
for id in "${ids[@]}"; do
  start_node "$id" "${bootstrap[@]}"
  pids+=("$started")
  node_of_pid[started]=$id
done

echo "run.sh: 3 nodes up; try: redis-cli -p $((client_base + 1)) set greeting hello && redis-cli -p $((client_base + 3)) get greeting" >&2
echo "run.sh: metrics: curl http://127.0.0.1:$((metrics_base + 1))/metrics; health: curl http://127.0.0.1:$((metrics_base + 1))/health" >&2
echo "run.sh: ballot status: build/ballot --cluster 127.0.0.1:$((client_base + 1)),127.0.0.1:$((client_base + 2)),127.0.0.1:$((client_base + 3)) status" >&2

# A node that stops is reported with how to start it again; the others keep running. Once
# no node started here runs, run.sh stays until every restarted node has stopped too.
set +e
live=("${pids[@]}")
while [ "${#live[@]}" -gt 0 ]; do
  exited=""
  wait -n -p exited "${live[@]}"
  status=$?
  [ -n "$exited" ] || continue
  id="${node_of_pid[exited]}"
  how="exit status $status"
  if [ "$status" -gt 128 ]; then
    how+=" (killed by SIG$(kill -l $((status - 128))))"
  fi
  echo "run.sh: node $id (pid $exited) stopped with $how; the other nodes keep running" >&2
  echo "run.sh: to start it again with the same flags and data, from another terminal:" >&2
  echo "run.sh:     $(restart_command "$id")" >&2
  if [ "$status" -eq 1 ]; then
    echo "run.sh: (exit status 1 is a fatal error: read its last lines; for a damaged WAL see docs/operations.md, add --rejoin)" >&2
  fi
  remaining=()
  for pid in "${live[@]}"; do
    [ "$pid" != "$exited" ] && remaining+=("$pid")
  done
  live=("${remaining[@]+"${remaining[@]}"}")
done
while true; do
  any=""
  for id in "${ids[@]}"; do
    recorded_node_alive "$id" && any=1
  done
  [ -n "$any" ] || break
  sleep 1
done
echo "run.sh: every node has stopped" >&2
