#!/bin/sh
# A seed replays exactly: two runs of the same seed print the same bytes and write the
# same trace. Usage: replay_identical.sh BALLOT_SIM WORKDIR SEED [flags...]
set -eu
sim=$1
dir=$2
seed=$3
shift 3
mkdir -p "$dir"
"$sim" --seed "$seed" --trace "$dir/a.trace" "$@" >"$dir/a.out" 2>/dev/null || true
"$sim" --seed "$seed" --trace "$dir/b.trace" "$@" >"$dir/b.out" 2>/dev/null || true
sed 's/--trace [^ ]*//' "$dir/a.out" >"$dir/a.cmp"
sed 's/--trace [^ ]*//' "$dir/b.out" >"$dir/b.cmp"
cmp "$dir/a.cmp" "$dir/b.cmp"
cmp "$dir/a.trace" "$dir/b.trace"
test -s "$dir/a.trace"
echo "seed $seed replayed identically ($(wc -l <"$dir/a.trace") trace lines)"
