//! Shared helpers for the loom models in `tests/`.
//!
//! The models drive zestor's public API. Built with `--cfg zestor_loom`, the
//! crate's protocol code runs over loom's atomics and loom-visible stand-ins
//! for the cell register, the maps and parking (`src/sync.rs`,
//! `src/raw/loom_index.rs`), so loom explores the interleavings of the
//! crate's own code. Run them with `ci/loom.sh`.

#![cfg(zestor_loom)]

use std::collections::BTreeMap;

use zestor::{Event, EventType, Store, Watch, WatchError};

/// Applies one event to a replica, as a consumer would.
pub fn apply<T: Clone>(replica: &mut BTreeMap<String, T>, event: &Event<T>) {
    match event.event_type {
        EventType::Create | EventType::Update => {
            replica.insert(event.key.to_string(), (*event.value).clone());
        }
        EventType::Delete => {
            replica.remove(&*event.key);
        }
    }
}

/// The kind's entries as a plain map.
pub fn snapshot<T: Clone + Send + Sync + 'static>(
    store: &Store<T>,
    kind: &str,
) -> BTreeMap<String, T> {
    store
        .list(kind)
        .expect("list")
        .into_iter()
        .map(|(key, value)| (key.to_string(), (*value).clone()))
        .collect()
}

/// What a watch delivered until nothing more was ready.
pub struct Drained<T> {
    pub events: Vec<Event<T>>,
    /// The error that ended the watch, if it ended.
    pub ended: Option<WatchError>,
}

/// Takes every event that is ready without blocking.
pub fn drain<T: Send + Sync + 'static>(watch: &mut Watch<T>) -> Drained<T> {
    let mut events = Vec::new();
    loop {
        match watch.try_recv() {
            Ok(Some(event)) => events.push(event),
            Ok(None) => {
                return Drained {
                    events,
                    ended: None,
                }
            }
            Err(error) => {
                return Drained {
                    events,
                    ended: Some(error),
                }
            }
        }
    }
}

/// Runs a loom model with the preemption bound from `LOOM_MAX_PREEMPTIONS`,
/// or 2 when it is unset (loom's own default, no bound, does not finish
/// for these models; `ci/loom.sh` sets the bound per model file).
pub fn model(f: impl Fn() + Sync + Send + 'static) {
    let mut builder = loom::model::Builder::new();
    if builder.preemption_bound.is_none() {
        builder.preemption_bound = Some(2);
    }
    zestor::loom_reclaim_replaced(false);
    builder.check(f);
}

/// [`model`], with the `ArcCell` stand-in freeing what a compare-and-swap
/// replaced (`src/sync.rs`): for the models of what snapshots pin, where a
/// version nobody holds must really go.
pub fn model_reclaiming(f: impl Fn() + Sync + Send + 'static) {
    let mut builder = loom::model::Builder::new();
    if builder.preemption_bound.is_none() {
        builder.preemption_bound = Some(2);
    }
    // Reclaiming, every `ArcCell` load is a read-modify-write, so an
    // execution has more branch points than loom's default allows; a real
    // spin still exceeds this.
    builder.max_branches = 20_000;
    zestor::loom_reclaim_replaced(true);
    let _reset = Reset(|| zestor::loom_reclaim_replaced(false));
    builder.check(f);
}

/// [`model`] for the models of the lazy hash index (`src/raw/keys.rs`):
/// kinds created in it build their hash index at their `threshold`-th
/// created cell, and the map stand-ins' lookups may read an older version
/// of a map, as a skip list's loads may (`src/raw/loom_index.rs`).
pub fn model_point_fill(threshold: usize, f: impl Fn() + Sync + Send + 'static) {
    zestor::loom_point_threshold(threshold);
    zestor::loom_stale_map_reads(true);
    let _reset = Reset(|| {
        zestor::loom_stale_map_reads(false);
        zestor::loom_point_threshold(0);
    });
    model(f);
}

/// [`model`] for the models of what a kind allocates when first needed
/// (`src/raw/lazy.rs`, `src/raw/ring.rs`' "Lazy buckets"): kinds created
/// in it get their key-order list on their first key and each ring bucket
/// on its first publish, racing for the install, as outside loom (the
/// other models start kinds with both in place: `src/sync.rs`).
pub fn model_lazy_installs(f: impl Fn() + Sync + Send + 'static) {
    zestor::loom_lazy_installs(true);
    let _reset = Reset(|| zestor::loom_lazy_installs(false));
    model(f);
}

/// Puts a model's switches back to the defaults the other models expect,
/// also when the model fails (the next test of the file still runs).
struct Reset(fn());

impl Drop for Reset {
    fn drop(&mut self) {
        (self.0)();
    }
}
