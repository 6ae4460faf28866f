#!/usr/bin/env bash
# Differential fuzzing of zestor (fuzz/): each target runs the store against
# a BTreeMap model for FUZZ_SECONDS, one target after the other, in one
# process each. A crash (a difference from the model, a panic, a hang)
# fails the script and leaves its input in fuzz/artifacts/<target>/.
#
#   FUZZ_SECONDS  seconds per target (default 60)
#   FUZZ_TARGETS  targets to run, space-separated (default: every target,
#                 as `cargo fuzz list` names them: ops, callbacks, durable)
#
# Reproduce a crash, and print it as the operations it decodes to:
#   cd fuzz && cargo +nightly fuzz run <target> artifacts/<target>/crash-...
#   cd fuzz && cargo +nightly fuzz fmt <target> artifacts/<target>/crash-...
set -euo pipefail
cd "$(dirname "$0")/../fuzz"

seconds="${FUZZ_SECONDS:-60}"

# cargo-fuzz needs nightly (sanitizer and coverage flags).
if ! rustup run nightly rustc --version >/dev/null 2>&1; then
  rustup toolchain install nightly --profile minimal
fi
if ! cargo +nightly fuzz --version >/dev/null 2>&1; then
  cargo install cargo-fuzz --locked
fi

# The default build: optimized, with debug assertions, overflow checks and
# AddressSanitizer.
cargo +nightly fuzz build

if [ -n "${FUZZ_TARGETS:-}" ]; then
  read -ra targets <<<"${FUZZ_TARGETS}"
else
  mapfile -t targets < <(cargo +nightly fuzz list)
fi

for target in "${targets[@]}"; do
  # The corpus is not in git (it grows with every run); the hand-made seeds
  # are, and start every corpus.
  corpus="corpus/${target}"
  mkdir -p "${corpus}"
  if [ -d "seeds/${target}" ]; then
    cp seeds/"${target}"/* "${corpus}/"
  fi
  echo "fuzz: ${target} for ${seconds}s"
  # -timeout: a single input that runs this long is a hang, hence a crash.
  # -detect_leaks=0: the store frees through epoch-based reclamation
  # (crossbeam-epoch, papaya), which defers frees from one input to a later
  # one, so libFuzzer would suspect a leak after nearly every input and rerun
  # it under a full LeakSanitizer scan (30 times slower). LeakSanitizer still
  # checks the whole process when the run ends.
  cargo +nightly fuzz run "${target}" "${corpus}" -- \
    -max_total_time="${seconds}" -timeout=60 -detect_leaks=0 -print_final_stats=1
done
echo "fuzz: no crash in ${targets[*]}"
