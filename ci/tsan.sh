#!/usr/bin/env bash
# ThreadSanitizer over the stress, watch and linearizability tests (nightly,
# std rebuilt with the sanitizer so its atomics are instrumented).
#
#   TSAN_TESTS        cargo test target selection (default: the three above)
#   ZESTOR_STRESS_OPS stress size per writer (default here: 20000)
set -euo pipefail
cd "$(dirname "$0")/.."

if ! rustup component list --toolchain nightly --installed | grep -q '^rust-src'; then
  rustup component add --toolchain nightly rust-src
fi
target="$(rustc -vV | sed -n 's/^host: //p')"
export RUSTFLAGS="${RUSTFLAGS:-} -Zsanitizer=thread"
export RUSTDOCFLAGS="${RUSTDOCFLAGS:-} -Zsanitizer=thread"
# Suppressions: see ci/tsan.supp (seize's fence-based reclamation).
export TSAN_OPTIONS="${TSAN_OPTIONS:-halt_on_error=1 second_deadlock_stack=1 suppressions=$PWD/ci/tsan.supp}"
export ZESTOR_STRESS_OPS="${ZESTOR_STRESS_OPS:-20000}"
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-target/tsan}"
# shellcheck disable=SC2086
time cargo +nightly test -Zbuild-std --target "$target" \
  ${TSAN_TESTS:---test stress --test watch --test linearizability}
