#!/usr/bin/env bash
# Runs the loom models of zestor's protocols, in release, with the crate
# built under --cfg zestor_loom so its own protocol code is explored:
#
#   1. the unit models beside the protocols (src/raw/tests/loom_*.rs: the
#      ring, the subscriber list), exhaustively (no preemption bound);
#   2. the end-to-end models (loom-tests/), each file with its own bound:
#      3 where the model stays well under five minutes on 2 cores, 2 for
#      p1_writes (three threads blocking and waking), p7_batches (two
#      batches, each several installs and a decision; about 8 minutes a
#      model at 2, since the map stand-ins' reads release nothing, as the
#      real maps': 82-87 s when they released, as the old loom mutex did) and
#      point_fill (four threads racing a kind's hash-index fill, with stale
#      map reads; its four-thread model ran past 13 minutes at 3), which
#      take far longer at 3.
#
#   LOOM_MAX_PREEMPTIONS  one bound for every model (overrides the table)
#   LOOM_MODELS           the end-to-end model files to run, e.g.
#                         "p1_writes p4_replay"; "none" runs only the unit models
set -euo pipefail
cd "$(dirname "$0")/.."

declare -A bound=(
  [history]=3
  [i6_cells]=3
  [lazy_installs]=3
  [p1_writes]=2
  [p3_ring]=3
  [p4_replay]=3
  [p5_close]=3
  [p6_snapshots]=3
  [p7_batches]=2
  [p8_remove]=3
  [point_fill]=2
  [previous_values]=3
)
# Test threads per model file: 2 where two models at a time finish sooner
# on 2 cores (p7_batches 980 -> 725 s, i6_cells 213 -> 207 s; p1_writes,
# p4_replay and p5_close took longer: 161 -> 227, 81 -> 95, 39 -> 43 s),
# else 1. Only files whose models all keep the stand-ins' defaults may
# have 2: a model that flips a process-wide switch refuses to run beside
# another (loom-tests' `Running`).
declare -A threads=(
  [i6_cells]=2
  [p7_batches]=2
)
models=(${LOOM_MODELS:-history i6_cells lazy_installs p1_writes p3_ring p4_replay p5_close p6_snapshots p7_batches p8_remove point_fill previous_values})

export RUSTFLAGS="${RUSTFLAGS:-} --cfg zestor_loom"
# A separate target dir: the cfg changes every crate's build.
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-target/loom}"

cargo clippy -p zestor -p loom-tests --release --tests -- -D warnings
cargo build -p loom-tests --release --tests

echo "==> loom: unit models (src/raw/tests, LOOM_MAX_PREEMPTIONS=${LOOM_MAX_PREEMPTIONS:-none})"
start=$SECONDS
cargo test -q -p zestor --lib --release -- loom_
echo "    unit models: $((SECONDS - start)) s"

for model in "${models[@]}"; do
  [ "$model" = none ] && continue
  preemptions="${LOOM_MAX_PREEMPTIONS:-${bound[$model]:-2}}"
  echo "==> loom: ${model} (LOOM_MAX_PREEMPTIONS=${preemptions}, ${threads[$model]:-1} test threads)"
  start=$SECONDS
  LOOM_MAX_PREEMPTIONS="$preemptions" \
    cargo test -q -p loom-tests --release --test "$model" -- --test-threads="${threads[$model]:-1}"
  echo "    ${model}: $((SECONDS - start)) s"
done
