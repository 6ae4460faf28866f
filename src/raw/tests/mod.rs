//! loom unit models of the raw structures, beside the code they check (as
//! tokio keeps `src/sync/tests/loom_*.rs`). Each drives one structure
//! directly — the ring, the subscriber list — so it stays small enough for
//! a higher preemption bound than the end-to-end models in `loom-tests/`,
//! which drive whole protocols through the public API.
//!
//! Run with `ci/loom.sh` (which builds with `--cfg zestor_loom`), or:
//!
//! ```text
//! RUSTFLAGS="--cfg zestor_loom" cargo test --lib --release -- loom_
//! ```

mod loom_ring;
mod loom_subscriber;

/// Runs a loom model. With `LOOM_MAX_PREEMPTIONS` unset there is no
/// preemption bound: the unit models are small enough to be explored
/// exhaustively (all five in seconds).
fn model(f: impl Fn() + Sync + Send + 'static) {
    loom::model(f);
}
