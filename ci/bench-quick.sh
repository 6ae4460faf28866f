#!/usr/bin/env bash
# Smoke-runs every benchmark in quick mode (1K keys, 1–2 threads, ~0.2 s per
# benchmark) to catch a broken bench, not to measure: about 2–3 minutes plus
# the build on 2 cores. The numbers it prints are not worth quoting.
#
#   ci/bench-quick.sh            # all seven bench binaries
#   ci/bench-quick.sh point_get  # some of them
set -euo pipefail
cd "$(dirname "$0")/.."

export ZESTOR_BENCH_QUICK=1
benches=("$@")
if [ ${#benches[@]} -eq 0 ]; then
  benches=(point_get mixed writes ordered watch latency memory)
fi
for bench in "${benches[@]}"; do
  printf '\n==> cargo bench --bench %s (quick)\n' "$bench"
  cargo bench --bench "$bench"
done
printf '\nquick bench run: %d bench binaries ran\n' "${#benches[@]}"
