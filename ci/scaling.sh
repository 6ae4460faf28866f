#!/usr/bin/env bash
# Thread sweep of the mixed group (95/5 and 50/50 read/update, uniform and
# Zipf, 100K keys) for zestor, the locked design and the lock-free hash maps,
# then a table of aggregate throughput and speed-up over 1 thread.
#
#   ci/scaling.sh                 # 1, 2, 4, 8, 16 threads, full timings
#   ci/scaling.sh --quick         # a short run, to check that it works
#   THREADS=1,2,4,8,16,32 ci/scaling.sh
#
# Meant for a machine with many cores; on 2 cores anything past 2 threads
# measures oversubscription.
set -euo pipefail
cd "$(dirname "$0")/.."

threads="${THREADS:-1,2,4,8,16}"
filter='^mixed_r(95|50)_(uniform|zipf)/(zestor|locked|papaya|scc_hashindex|dashmap)/'
if [ "${1:-}" = "--quick" ]; then
  export ZESTOR_BENCH_QUICK=1
fi
nproc_out="$(nproc)"
echo "threads: $threads on $nproc_out cores"
ZESTOR_BENCH_THREADS="$threads" cargo bench --bench mixed -- "$filter"
python3 ci/bench-report.py scaling --threads "$threads"
