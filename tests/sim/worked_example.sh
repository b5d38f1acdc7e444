#!/bin/sh
# docs/debugging.md walks through ballot-sim seed 140; this keeps its story from changing
# unnoticed: the generation summary must match the golden file the document quotes.
# Usage: worked_example.sh BALLOT_SIM BALLOT_TRACE WORKDIR GOLDEN
set -eu
sim=$1
view=$2
dir=$3
golden=$4
mkdir -p "$dir"
"$sim" --seed 140 --nodes 3 --steps 2000 --crash-rate 0.1 --partition-rate 0 \
    --transfer-rate 0 --trace "$dir/seed140.trace" >/dev/null 2>&1
"$view" --summary "$dir/seed140.trace" >"$dir/seed140.summary.txt"
if ! diff -u "$golden" "$dir/seed140.summary.txt"; then
    echo "seed 140's story changed: update docs/debugging.md and $golden" >&2
    exit 1
fi
echo "seed 140 tells the story docs/debugging.md tells"
