#!/usr/bin/env bash
# Instructions per operation, counted by callgrind: a repeatable figure on a
# noisy shared machine, where wall-clock timings swing by 2x. Runs the
# profiling driver (benches/profile.rs) once per op under
# `valgrind --tool=callgrind`, counting only its measured loop, and prints
# instructions per op next to the locked design's and papaya's.
#
#   ci/bench-instructions.sh                 # the default ops, 100K keys
#   ci/bench-instructions.sh get locked_get  # some ops
#
# Needs valgrind. Leaves callgrind.out.* files in
# $CARGO_TARGET_DIR/zestor-bench/callgrind for callgrind_annotate.
set -euo pipefail
cd "$(dirname "$0")/.."

target="${CARGO_TARGET_DIR:-target}"
out="$target/zestor-bench/callgrind"
mkdir -p "$out"
ops=("$@")
if [ ${#ops[@]} -eq 0 ]; then
  ops=(get read kind_get kind_read locked_get locked_read papaya_get set locked_set insert_delete list locked_list
    snapshot snapshot_get set_many100 sets100 transfer update2)
fi

# Debug info for line-level annotation, built in a target dir of its own so
# the regular bench build is not invalidated by the changed profile.
export CARGO_PROFILE_BENCH_DEBUG=true
binary="$(CARGO_TARGET_DIR="$target/instructions" cargo bench --bench profile --no-run --message-format=json 2>/dev/null |
  python3 -c 'import json,sys
for line in sys.stdin:
    m = json.loads(line)
    if m.get("reason") == "compiler-artifact" and m["target"]["name"] == "profile" and m.get("executable"):
        print(m["executable"])')"
[ -x "$binary" ] || { echo "could not build the profile driver" >&2; exit 1; }

printf '%-14s %12s %14s\n' op count instr/op
for op in "${ops[@]}"; do
  case "$op" in
    *list) count=200 ;;
    set_many100|sets100) count=2000 ;;
    insert_delete|set|locked_set|transfer|update2|snapshot) count=100000 ;;
    *) count=200000 ;;
  esac
  file="$out/callgrind.out.$op"
  valgrind --tool=callgrind --collect-atstart=no --toggle-collect='profile::run*' \
    --callgrind-out-file="$file" "$binary" --bench "$op" "$count" 2>"$out/$op.log"
  total="$(grep -E '^(summary|totals):' "$file" | head -1 | awk '{print $2}')"
  printf '%-14s %12s %14s\n' "$op" "$count" "$(python3 -c "print(round($total / $count))")"
done
echo "(list ops: per call, 10K entries; insert_delete: per insert + delete pair;"
echo " set_many100, sets100: per 100 keys; transfer, update2: per pair of keys)"
