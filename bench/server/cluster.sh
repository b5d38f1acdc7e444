# Shared by bench/server/bench.sh and bench/compare.sh: start, find and stop a 3-node
# ballotd cluster on 127.0.0.1. The caller sets ballotd, build, work (a scratch directory
# holding keys/ from `ballot keygen --nodes 3`), port0 (first of six ports) and peer_mode
# (psk or insecure), then sources this file.
# shellcheck shell=bash
declare -A pids=()
client_port() { echo $((port0 + $1 - 1)); }
peer_port() { echo $((port0 + 2 + $1)); }
peers="1=127.0.0.1:$(peer_port 1),2=127.0.0.1:$(peer_port 2),3=127.0.0.1:$(peer_port 3)"

peer_args() { # id
  if [ "$peer_mode" = insecure ]; then echo "--peer-insecure"; else echo "--peer-key-file $work/keys/node$1.key"; fi
}
start_node() { # id [extra flags...]
  local id="$1"; shift
  local trace=()
  [ "${BENCH_TRACE:-0}" = 1 ] && trace=(--trace "$work/node$id.trace")
  "$ballotd" --id "$id" --data-dir "$work/node$id" --client "127.0.0.1:$(client_port "$id")" \
    --peers "$peers" --cluster-id 77 --bootstrap "${trace[@]}" $(peer_args "$id") "$@" \
    >>"$work/node$id.log" 2>&1 &
  pids[$id]=$!
  disown "${pids[$id]}" # no job notices when the failover trials kill -9 it
  for _ in $(seq 1 200); do
    redis-cli -p "$(client_port "$id")" ping >/dev/null 2>&1 && return 0
    sleep 0.05
  done
  echo "${0##*/}: node $id did not start; see $work/node$id.log" >&2
  exit 1
}
gone() { # pid: waits (bounded, 20 s) until the process has exited
  for _ in $(seq 1 2000); do kill -0 "$1" 2>/dev/null || return 0; sleep 0.01; done
}
stop_node() { kill -TERM "${pids[$1]}" 2>/dev/null || true; gone "${pids[$1]}"; unset "pids[$1]"; }
stop_all() { for id in "${!pids[@]}"; do stop_node "$id"; done; }
cleanup() { stop_all; rm -rf "$work"; }

info_field() { # port field
  redis-cli -p "$1" info 2>/dev/null | tr -d '\r' | awk -F: -v k="$2" '$1 == k { print $2 }'
}
leader() { # prints the leader's id once one holds a lease
  for _ in $(seq 1 400); do
    for id in "${!pids[@]}"; do
      if [ "$(info_field "$(client_port "$id")" role)" = leader ] &&
         [ "$(info_field "$(client_port "$id")" lease_held)" = 1 ]; then
        echo "$id"; return 0
      fi
    done
    sleep 0.025
  done
  echo "${0##*/}: no leader" >&2; exit 1
}
caught_up() { # waits until every running node has applied the same index
  for _ in $(seq 1 600); do
    local seen=""
    for id in "${!pids[@]}"; do seen="$seen $(info_field "$(client_port "$id")" applied_index)"; done
    [ "$(echo "$seen" | tr ' ' '\n' | sed '/^$/d' | sort -u | wc -l)" = 1 ] && return 0
    sleep 0.05
  done
}
fresh_cluster() { # [extra flags...]
  stop_all; rm -rf "$work"/node*
  for id in 1 2 3; do start_node "$id" "$@"; done
  leader >/dev/null
}
csv_field() { # csv-line column(1-based)
  echo "$1" | tr -d '"' | awk -F, -v c="$2" '{ print $c }'
}
run_bench() { # label args... ; prints rps and p99 from redis-benchmark --csv
  local label="$1"; shift
  local line
  line="$(redis-benchmark "$@" --csv 2>/dev/null | grep -v '^"test"' | tail -1)"
  printf '%-34s %10s req/s   p50 %6s ms   p99 %6s ms   (redis-benchmark %s)\n' "$label" \
    "$(csv_field "$line" 2)" "$(csv_field "$line" 5)" "$(csv_field "$line" 7)" "$*"
}

