//! The two lock-free maps the store is built on, behind the narrow interface
//! the protocols use (so `loom_index.rs` can stand in for them under loom).
//!
//! * [`OrderedIndex`]: `crossbeam_skiplist::base::SkipList`, used through
//!   an explicit `epoch::Guard` and borrowed `Entry`s. `SkipMap::get`/`iter`
//!   would CAS a per-node reference count on every step and again on drop — a
//!   contended cache line on hot keys — so it is never used on a read path.
//! * [`PointIndex`]: `papaya::HashMap`, for O(1) point operations.
//!
//! Both hand out borrowed values to a closure rather than returning guards,
//! so the guard's lifetime is this module's business alone.
//!
//! # Reads that write no shared memory
//!
//! A point read is the kind lookup (`OrderedIndex::with`, under an epoch
//! pin), `PointIndex::with` (under a papaya guard), then the cell's load,
//! which `arc-swap` serves from a thread-local debt slot instead of a
//! reference-count increment: readers of one hot key share no written cache
//! line. A closure read (`read`) stops there; `get` adds the one increment
//! that a `Value` handle is. Neither allocates (`tests/no_alloc.rs`);
//! instructions per call are measured by `ci/bench-instructions.sh`
//! (BENCHMARKS.md). A `Kind` handle skips the kind lookup.

use std::ops::{Bound, ControlFlow};

use crossbeam_epoch as epoch;
use crossbeam_skiplist::base::SkipList;
use papaya::{Compute, Operation};

use super::hash::{KeyHashing, PointHasher};
use crate::sync::Arc;

/// A lock-free ordered map from `Arc<str>` to `Arc<V>`.
pub(crate) struct OrderedIndex<V> {
    list: SkipList<Arc<str>, Arc<V>>,
}

impl<V: Send + Sync + 'static> OrderedIndex<V> {
    pub(crate) fn new() -> Self {
        OrderedIndex {
            list: SkipList::new(epoch::default_collector().clone()),
        }
    }

    /// Calls `f` with the value under `key`, borrowed under an epoch guard.
    #[inline]
    pub(crate) fn with<R>(&self, key: &str, f: impl FnOnce(Option<&Arc<V>>) -> R) -> R {
        let guard = epoch::pin();
        let entry = self.list.get(key, &guard);
        f(entry.as_ref().map(|entry| entry.value()))
    }

    /// The value under `key`, inserting `make(key)` first if there is none,
    /// and whether this call inserted it. Concurrent callers agree on one
    /// value: the skip list decides.
    ///
    /// Callers come here after a lookup missed, so the key is allocated up
    /// front rather than paying a second search to avoid it.
    pub(crate) fn get_or_insert_with(
        &self,
        key: &str,
        make: impl FnOnce(&Arc<str>) -> Arc<V>,
    ) -> (Arc<V>, bool) {
        let guard = epoch::pin();
        let key: Arc<str> = Arc::from(key);
        // The skip list may call `make` and then lose the race to another
        // inserter (its node is dropped): only the value it returns counts.
        let mut made: *const V = std::ptr::null();
        let entry = self.list.get_or_insert_with(
            Arc::clone(&key),
            || {
                let value = make(&key);
                made = Arc::as_ptr(&value);
                value
            },
            &guard,
        );
        let value = Arc::clone(entry.value());
        entry.release(&guard);
        let inserted = std::ptr::eq(Arc::as_ptr(&value), made);
        (value, inserted)
    }

    /// Removes the entry under `key` if it holds exactly `value` (pointer
    /// identity), so a newer value under the same key is never removed.
    pub(crate) fn remove_if_same(&self, key: &str, value: &V) -> bool {
        let guard = epoch::pin();
        match self.list.get(key, &guard) {
            Some(entry) if std::ptr::eq(Arc::as_ptr(entry.value()), value) => entry.remove(),
            _ => false,
        }
    }

    /// Visits the entries whose keys fall in `range`, in ascending key order,
    /// until `f` breaks. Entries inserted or removed during the walk may or
    /// may not be visited; every key is visited at most once.
    pub(crate) fn scan(
        &self,
        range: (Bound<&str>, Bound<&str>),
        mut f: impl FnMut(&Arc<str>, &Arc<V>) -> ControlFlow<()>,
    ) {
        let guard = epoch::pin();
        for entry in self.list.range::<str, _>(range, &guard) {
            if f(entry.key(), entry.value()).is_break() {
                break;
            }
        }
    }
}

/// Entries a thread adds to hash indexes between two hand-backs of its
/// retired papaya tables ([`PointIndex::hand_back_retired`]).
const HAND_BACK_EVERY: u32 = 4096;

thread_local! {
    /// Entries this thread added to hash indexes (wrapping).
    static ENTRIES_ADDED: std::cell::Cell<u32> = const { std::cell::Cell::new(0) };
}

/// A lock-free hash map from `Arc<str>` to `Arc<V>`.
pub(crate) struct PointIndex<V> {
    map: papaya::HashMap<Arc<str>, Arc<V>, PointHasher>,
}

impl<V: Send + Sync + 'static> PointIndex<V> {
    pub(crate) fn new(hashing: KeyHashing) -> Self {
        PointIndex {
            map: papaya::HashMap::with_hasher(PointHasher::new(hashing)),
        }
    }

    /// Calls `f` with the value under `key`, borrowed under a papaya guard.
    #[inline]
    pub(crate) fn with<R>(&self, key: &str, f: impl FnOnce(Option<&Arc<V>>) -> R) -> R {
        let map = self.map.pin();
        f(map.get(key))
    }

    /// Maps `key` to `value` unless the entry already there satisfies `keep`.
    ///
    /// The common case — no entry — goes through `try_insert`, which helps
    /// move entries along during an incremental resize. `compute` does not
    /// (papaya 0.2.5), and a map whose inserts all went through it piled up a
    /// chain of unfinished tables that every lookup then walked: about 15×
    /// the instructions per `get` at 100K keys. `compute` is kept for the
    /// rare conditional replace of an entry `keep` rejects.
    pub(crate) fn insert_unless(
        &self,
        key: &Arc<str>,
        value: &Arc<V>,
        keep: impl Fn(&Arc<V>) -> bool,
    ) {
        let map = self.map.pin();
        match map.try_insert(Arc::clone(key), Arc::clone(value)) {
            Ok(_) => {
                drop(map);
                // `try_with`: a thread being torn down skips its turn.
                let due = ENTRIES_ADDED.try_with(|added| {
                    added.set(added.get().wrapping_add(1));
                    added.get() % HAND_BACK_EVERY == 0
                });
                if due == Ok(true) {
                    self.hand_back_retired();
                }
                return;
            }
            Err(occupied) if keep(occupied.current) => return,
            Err(_) => {}
        }
        let outcome = map.compute(Arc::clone(key), |entry| match entry {
            Some((_, existing)) if keep(existing) => Operation::Abort(()),
            _ => Operation::Insert(Arc::clone(value)),
        });
        debug_assert!(!matches!(outcome, Compute::Removed(..)));
    }

    /// Hands what this thread's papaya batch holds for this map — tables a
    /// resize replaced, removed entries — to the map's collector now, so
    /// it is freed once no guard can see it, instead of when the batch
    /// reaches seize's 32 retirements. A fill that only grows the map
    /// retires one table per doubling and so never fills a batch: every
    /// replaced table stayed allocated, 19 B per key at 1M keys (upstream:
    /// papaya issue #60). Costs a process-wide memory barrier (seize's
    /// `membarrier::heavy`), hence once per [`HAND_BACK_EVERY`] entries
    /// (`keys.rs`, "Freeing the tables a growing hash index replaced").
    fn hand_back_retired(&self) {
        use papaya::Guard as _;
        // A guard of its own: the batch joins its reservation list and is
        // freed when it drops, at the end of this statement.
        self.map.guard().flush();
    }

    /// Removes the entry under `key` if it holds exactly `value`.
    pub(crate) fn remove_if_same(&self, key: &str, value: &V) {
        let map = self.map.pin();
        let _ = map.remove_if(key, |_, existing| {
            std::ptr::eq(Arc::as_ptr(existing), value)
        });
    }
}
