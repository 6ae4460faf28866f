//! Shared helpers for the loom models in `tests/`.
//!
//! The models drive zestor's public API. Built with `--cfg zestor_loom`, the
//! crate's protocol code runs over loom's atomics and loom-visible stand-ins
//! for the cell register, the maps and parking (`src/sync.rs`,
//! `src/raw/loom_index.rs`), so loom explores the interleavings of the
//! crate's own code. Run them with `ci/loom.sh`.

#![cfg(zestor_loom)]

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering::SeqCst};

use zestor::{Event, EventType, Kind, Store, Watch, WatchError};

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

/// Writers on loom threads of their own, each setting one key through a
/// kind handle and saying when its `set` has returned.
pub struct Setters {
    returned: loom::sync::Arc<Vec<loom::sync::atomic::AtomicBool>>,
    threads: Vec<loom::thread::JoinHandle<()>>,
}

impl Setters {
    /// Spawns one thread per `(key, value)`, which sets it through `kind`.
    pub fn spawn(kind: &Kind<u32>, writes: &[(&'static str, u32)]) -> Self {
        let returned = loom::sync::Arc::new(
            writes
                .iter()
                .map(|_| loom::sync::atomic::AtomicBool::new(false))
                .collect::<Vec<_>>(),
        );
        let threads = writes
            .iter()
            .enumerate()
            .map(|(i, &(key, value))| {
                let kind = kind.clone();
                let returned = loom::sync::Arc::clone(&returned);
                loom::thread::spawn(move || {
                    kind.set(key, value).unwrap();
                    // Release: a reader that sees the flag (Acquire) sees
                    // the write as returned before its own read began.
                    returned[i].store(true, loom::sync::atomic::Ordering::Release);
                })
            })
            .collect();
        Setters { returned, threads }
    }

    /// Whether writer `i`'s `set` has returned (Acquire, paired with the
    /// writer's Release).
    pub fn returned(&self, i: usize) -> bool {
        self.returned[i].load(loom::sync::atomic::Ordering::Acquire)
    }

    /// Waits for every writer.
    pub fn join(self) {
        for thread in self.threads {
            thread.join().unwrap();
        }
    }
}

/// Runs a loom model with the preemption bound from `LOOM_MAX_PREEMPTIONS`,
/// or 2 when it is unset (loom's own default, no bound, does not finish
/// for these models; `ci/loom.sh` sets the bound per model file). Models
/// that use only this may run side by side (`ci/loom.sh` gives some of
/// their files two test threads): the stand-ins' switches are
/// process-wide, and a model that flips one refuses to run beside another
/// (`Running`).
pub fn model(f: impl Fn() + Sync + Send + 'static) {
    let _running = Running::plain();
    builder().check(f);
}

fn builder() -> loom::model::Builder {
    let mut builder = loom::model::Builder::new();
    if builder.preemption_bound.is_none() {
        builder.preemption_bound = Some(2);
    }
    builder
}

/// [`model`], with the `ArcCell` stand-in freeing what a compare-and-swap
/// replaced (`src/sync.rs`): for the models of what snapshots pin, where a
/// version nobody holds must really go.
pub fn model_reclaiming(f: impl Fn() + Sync + Send + 'static) {
    let _running = Running::switched(
        || zestor::loom_reclaim_replaced(true),
        || zestor::loom_reclaim_replaced(false),
    );
    reclaiming_builder().check(f);
}

/// [`model_reclaiming`], with publishers attaching previous values
/// (`src/raw/ring.rs`, "Previous values"; off in the other models:
/// `src/sync.rs`): for the model of what an update event carries.
pub fn model_attaching_previous(f: impl Fn() + Sync + Send + 'static) {
    let _running = Running::switched(
        || {
            zestor::loom_reclaim_replaced(true);
            zestor::loom_attach_previous(true);
        },
        || {
            zestor::loom_attach_previous(false);
            zestor::loom_reclaim_replaced(false);
        },
    );
    reclaiming_builder().check(f);
}

fn reclaiming_builder() -> loom::model::Builder {
    let mut builder = builder();
    // Reclaiming, every `ArcCell` load is a read-modify-write, so an
    // execution has more branch points than loom's default allows; a real
    // spin still exceeds this.
    builder.max_branches = 20_000;
    builder
}

/// [`model`] for the models of the lazy hash index (`src/raw/keys.rs`):
/// kinds created in it build their hash index at their `threshold`-th
/// created cell, and the map stand-ins' lookups may read an older version
/// of a map, as a skip list's loads may (`src/raw/loom_index.rs`).
pub fn model_point_fill(threshold: usize, f: impl Fn() + Sync + Send + 'static) {
    let _running = Running::switched(
        || zestor::loom_stale_map_reads(true),
        || {
            zestor::loom_stale_map_reads(false);
            zestor::loom_point_threshold(0);
        },
    );
    zestor::loom_point_threshold(threshold);
    builder().check(f);
}

/// [`model`] for the models of what a kind allocates when first needed
/// (`src/raw/lazy.rs`, `src/raw/ring.rs`' "Lazy buckets"): kinds created
/// in it get their key-order list on their first key and each ring bucket
/// on its first publish, racing for the install, as outside loom (the
/// other models start kinds with both in place: `src/sync.rs`).
pub fn model_lazy_installs(f: impl Fn() + Sync + Send + 'static) {
    let _running = Running::switched(
        || zestor::loom_lazy_installs(true),
        || zestor::loom_lazy_installs(false),
    );
    builder().check(f);
}

/// Models running in this process, and whether one of them has flipped a
/// stand-in switch (std atomics: loom must not see them).
static RUNNING: AtomicUsize = AtomicUsize::new(0);
static SWITCHED: AtomicBool = AtomicBool::new(false);

/// A model running: with the defaults, beside other such models; or with a
/// switch flipped, alone. Its drop puts the switch back, also when the
/// model fails (the next test of the file still runs).
struct Running(Option<fn()>);

impl Running {
    fn plain() -> Self {
        RUNNING.fetch_add(1, SeqCst);
        let running = Running(None);
        assert!(
            !SWITCHED.load(SeqCst),
            "a model with a stand-in switch flipped is running: run its file with --test-threads=1"
        );
        running
    }

    fn switched(on: fn(), off: fn()) -> Self {
        let others = RUNNING.fetch_add(1, SeqCst);
        // Refused, it must not switch the other model's stand-ins back.
        let mut running = Running(None);
        assert_eq!(
            others, 0,
            "a model that flips a stand-in switch runs alone: run its file with --test-threads=1"
        );
        SWITCHED.store(true, SeqCst);
        on();
        running.0 = Some(off);
        running
    }
}

impl Drop for Running {
    fn drop(&mut self) {
        if let Some(off) = self.0 {
            off();
            SWITCHED.store(false, SeqCst);
        }
        RUNNING.fetch_sub(1, SeqCst);
    }
}
