#!/usr/bin/env bash
# Runs the loom models of zestor's protocols (loom-tests/), in release, with
# the crate built under --cfg zestor_loom so its own protocol code is explored.
#
# Each model file runs with its own preemption bound: 3 where the model stays
# well under five minutes on 2 cores, 2 for p1_writes (three threads blocking
# and waking; about 6 minutes at 3).
#
#   LOOM_MAX_PREEMPTIONS  one bound for every model (overrides the table)
#   LOOM_MODELS           the model files to run, e.g. "p1_writes p4_replay"
set -euo pipefail
cd "$(dirname "$0")/.."

declare -A bound=(
  [i6_cells]=3
  [p1_writes]=2
  [p3_ring]=3
  [p4_replay]=3
  [p5_close]=3
)
models=(${LOOM_MODELS:-i6_cells p1_writes p3_ring p4_replay p5_close})

export RUSTFLAGS="${RUSTFLAGS:-} --cfg zestor_loom"
# A separate target dir: the cfg changes every crate's build.
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-target/loom}"

cargo clippy -p loom-tests --release --tests -- -D warnings
cargo build -p loom-tests --release --tests
for model in "${models[@]}"; do
  preemptions="${LOOM_MAX_PREEMPTIONS:-${bound[$model]:-2}}"
  echo "==> loom: ${model} (LOOM_MAX_PREEMPTIONS=${preemptions})"
  start=$SECONDS
  LOOM_MAX_PREEMPTIONS="$preemptions" \
    cargo test -q -p loom-tests --release --test "$model" -- --test-threads=1
  echo "    ${model}: $((SECONDS - start)) s"
done
