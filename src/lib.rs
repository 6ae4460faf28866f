#![doc = include_str!("../README.md")]
#![forbid(unsafe_code)]
#![deny(missing_docs)]
#![warn(rust_2018_idioms, missing_debug_implementations)]

// The protocol core: `raw` names only `sync`, `error` and itself.
mod error;
mod raw;
mod sync;

// The public layer, split by concept. Its imports form a tree, each
// module naming only those to its right (and the three above):
//   store (Store, StoreBuilder) -> kind (Kind) -> ops (KindRef: each per-kind
//   operation, and the argument checks) -> mirror (Mirror) -> transaction (Transaction) ->
//   watch (WatchOptions, Event, Watch, WatchStream) -> snapshot (Snapshot, and
//   the multi-key reads) -> value (Value) -> journal (Journal, Record: the hook
//   a copy of record plugs into).
mod journal;
mod kind;
mod mirror;
mod ops;
mod snapshot;
mod store;
mod transaction;
mod value;
mod watch;

pub use error::{BoxError, Error, Result, WatchError};
pub use journal::{Change, Journal, Record};
pub use kind::Kind;
pub use mirror::{Mirror, MirrorStream};
pub use raw::hash::KeyHashing;
pub use raw::kind::SetResult;
pub use raw::version::EventType;
pub use snapshot::Snapshot;
pub use store::{Store, StoreBuilder, UsePartialEq};
pub use transaction::Transaction;
pub use value::Value;
pub use watch::{Event, Watch, WatchOptions, WatchStream};

/// For the loom models only (`loom-tests/`): whether the `ArcCell` stand-in
/// frees what a compare-and-swap replaced (see `src/sync.rs`).
#[cfg(zestor_loom)]
#[doc(hidden)]
pub fn loom_reclaim_replaced(on: bool) {
    sync::reclaim_replaced(on);
}

/// For the loom models only (`loom-tests/`): how many cells a kind created
/// from now on creates before it builds its hash index (see `src/sync.rs`).
#[cfg(zestor_loom)]
#[doc(hidden)]
pub fn loom_point_threshold(threshold: usize) {
    sync::set_point_threshold(threshold);
}

/// For the loom models only (`loom-tests/`): whether kinds created from now
/// on allocate their key-order list and ring buckets when first needed, as
/// outside loom, or up front, the default under loom (see `src/sync.rs`).
#[cfg(zestor_loom)]
#[doc(hidden)]
pub fn loom_lazy_installs(on: bool) {
    sync::set_lazy_installs(on);
}

/// For the loom models only (`loom-tests/`): whether `kind`'s hash index is
/// built and filled (`src/raw/keys.rs`).
#[cfg(zestor_loom)]
#[doc(hidden)]
pub fn loom_point_filled<T: Send + Sync + 'static>(kind: &Kind<T>) -> bool {
    kind.point_filled()
}

/// For the loom models only (`loom-tests/`): whether the map stand-ins'
/// lookups may read an older version of a map (see `src/raw/loom_index.rs`).
#[cfg(zestor_loom)]
#[doc(hidden)]
pub fn loom_stale_map_reads(on: bool) {
    sync::set_stale_map_reads(on);
}

/// For the loom models only (`loom-tests/`): whether publishers attach
/// previous values to watched updates (see `src/sync.rs`).
#[cfg(zestor_loom)]
#[doc(hidden)]
pub fn loom_attach_previous(on: bool) {
    sync::attach_previous(on);
}
