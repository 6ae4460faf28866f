#!/usr/bin/env bash
# The full benchmark run behind BENCHMARKS.md: every group at full size,
# then the no-allocation test, then the report (tables, targets) and the
# chart. About 25 minutes on the 2-core VM.
#
#   ci/bench-full.sh
#
# Results: $CARGO_TARGET_DIR/criterion (criterion), $CARGO_TARGET_DIR/
# zestor-bench (latency, memory, the report as report.md), docs/bench.svg.
set -euo pipefail
cd "$(dirname "$0")/.."

target="${CARGO_TARGET_DIR:-target}"
out="$target/zestor-bench"
mkdir -p "$out"
unset ZESTOR_BENCH_QUICK

{
  echo "date: $(date -u +%Y-%m-%dT%H:%MZ)"
  echo "commit: $(git rev-parse --short HEAD 2>/dev/null || echo unknown)$(git diff --quiet 2>/dev/null || echo ' (dirty)')"
  rustc --version
  lscpu | grep -E '^(Model name|CPU\(s\)|Thread|Core|Socket|L1d|L2|L3|Hypervisor)'
  grep MemTotal /proc/meminfo
} > "$out/machine.txt"
cat "$out/machine.txt"

for bench in point_get mixed writes ordered watch latency memory consistency mirror; do
  printf '\n==> cargo bench --bench %s\n' "$bench"
  cargo bench --bench "$bench"
done

printf '\n==> cargo test --test no_alloc\n'
if cargo test --test no_alloc; then
  echo "passed: get/read by store and by Kind, hit and miss: 0 allocations after warm-up" > "$out/no_alloc.txt"
else
  echo "FAILED: see the cargo test --test no_alloc output" > "$out/no_alloc.txt"
fi

printf '\n==> ci/bench-report.py\n'
python3 ci/bench-report.py --markdown "$out/report.md" --svg docs/bench.svg \
  --subtitle "$(grep -E '^(date|commit)' "$out/machine.txt" | tr '\n' ' ')· 2-core shared VM"
