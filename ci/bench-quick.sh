#!/usr/bin/env bash
# Smoke-runs every bench target in Cargo.toml in quick mode (1K keys, 1–2
# threads, ~0.2 s per benchmark), and every op of the profiling driver, to
# catch a broken bench, not to measure: about 3–4 minutes plus the build on
# 2 cores. The numbers it prints are not worth quoting.
#
#   ci/bench-quick.sh            # every [[bench]] target in Cargo.toml
#   ci/bench-quick.sh point_get  # some of them
set -euo pipefail
cd "$(dirname "$0")/.."

export ZESTOR_BENCH_QUICK=1
benches=("$@")
if [ ${#benches[@]} -eq 0 ]; then
  # Every [[bench]] name, so a new target cannot be forgotten here.
  mapfile -t benches < <(awk '/^\[\[bench\]\]/ { inside = 1; next }
    inside && /^name *=/ { gsub(/^name *= *"|"$/, ""); print; inside = 0 }' Cargo.toml)
fi
[ ${#benches[@]} -gt 0 ] || { echo "no [[bench]] targets found in Cargo.toml" >&2; exit 1; }

# The profiling driver's ops (benches/profile.rs), each on a short loop.
profile_ops=(get read kind_get kind_read set insert_delete list
  locked_get locked_read locked_set locked_list papaya_get
  snapshot snapshot_get set_many100 sets100 transfer update2)

for bench in "${benches[@]}"; do
  if [ "$bench" = profile ]; then
    for op in "${profile_ops[@]}"; do
      printf '\n==> cargo bench --bench profile -- %s 1000 (quick)\n' "$op"
      cargo bench -q --bench profile -- "$op" 1000
    done
  else
    printf '\n==> cargo bench --bench %s (quick)\n' "$bench"
    cargo bench --bench "$bench"
  fi
done
# zestor-durable's table printer (its own package), unless targets were named.
if [ $# -eq 0 ]; then
  printf '\n==> cargo bench -p zestor-durable --bench durable (quick)\n'
  cargo bench -p zestor-durable --bench durable
  benches+=(zestor-durable/durable)
fi
printf '\nquick bench run: %d bench targets ran: %s\n' "${#benches[@]}" "${benches[*]}"
