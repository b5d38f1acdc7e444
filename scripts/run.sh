#!/usr/bin/env bash
# `make run`: a 3-node Ballot cluster on 127.0.0.1, in the foreground.
#   RESP (redis-cli) on ports 6381, 6382, 6383; peers on 7381, 7382, 7383;
#   data under ./data/node1..3 (kept: running again restarts with the same data).
# Peer links are TLS 1.3 with pairwise keys: the first start makes them with `ballot keygen`
# into ./data/keys/node1..3.key (mode 0600); later starts reuse them (docs/security.md).
# Each node's log lines are prefixed with [n1], [n2], [n3]. Ctrl-C stops all three cleanly.
#
# Environment: BALLOTD (binary, default build/ballotd), BALLOT_DATA (default ./data),
# BALLOT_RUN_ARGS (extra flags for every node, e.g. "--log-level debug").
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

peers="1=127.0.0.1:7381,2=127.0.0.1:7382,3=127.0.0.1:7383"
clients="1=127.0.0.1:6381,2=127.0.0.1:6382,3=127.0.0.1:6383"
pids=()

stop_all() {
  trap - INT TERM
  echo "run.sh: stopping the cluster" >&2
  for pid in "${pids[@]}"; do
    kill -TERM "$pid" 2>/dev/null || true
  done
  for pid in "${pids[@]}"; do
    wait "$pid" 2>/dev/null || true
  done
  exit 0
}
trap stop_all INT TERM

# The cluster is founded once: on the first start (no $data yet) every node bootstraps with
# a random cluster id kept in $data/cluster-id. Later starts find their data; a node whose
# directory was emptied meanwhile rejoins instead of voting with its promises forgotten.
bootstrap=()
mkdir -p "$data"
if [ ! -f "$data/cluster-id" ] && [ -d "$data/node1" ]; then
  echo 1 > "$data/cluster-id" # made by an earlier run.sh, which always used cluster id 1
elif [ ! -f "$data/cluster-id" ]; then
  echo $(( $(od -An -N4 -tu4 /dev/urandom | tr -d " ") + 1 )) > "$data/cluster-id.tmp"
  mv "$data/cluster-id.tmp" "$data/cluster-id"
  bootstrap=(--bootstrap)
  echo "run.sh: founding a new cluster (id $(cat "$data/cluster-id")) in $data" >&2
fi
cluster_id="$(cat "$data/cluster-id")"

for id in 1 2 3; do
  mkdir -p "$data/node$id"
  # shellcheck disable=SC2086
  "$ballotd" --id "$id" --cluster-id "$cluster_id" --data-dir "$data/node$id" "${bootstrap[@]}" \
    --client "127.0.0.1:638$id" --peers "$peers" --peer-clients "$clients" \
    --peer-key-file "$keys/node$id.key" \
    ${BALLOT_RUN_ARGS:-} > >(trap '' INT TERM; exec sed -u "s/^/[n$id] /") 2>&1 &
  pids+=("$!")
done

echo "run.sh: 3 nodes up; try: redis-cli -p 6381 set greeting hello && redis-cli -p 6383 get greeting" >&2
echo "run.sh: ballot status: build/ballot --cluster 127.0.0.1:6381,127.0.0.1:6382,127.0.0.1:6383 status" >&2

# Wait until one node exits on its own (a fatal error), then stop the others.
set +e
wait -n "${pids[@]}"
status=$?
echo "run.sh: a node stopped (exit status $status); stopping the others" >&2
stop_all
