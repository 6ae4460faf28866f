//! An ordered index that allocates its skip list on the first insert.
//!
//! A crossbeam `SkipList` is 512 bytes before it holds anything (its head
//! tower and a cache-padded counter), which alone is half of what an empty
//! kind may cost (issue 11: at most 1 KB). So each kind's key order starts
//! as a pointer to nothing and gets its list when its first key is created.
//!
//! # Installing once, without waiting
//!
//! The list lives behind an [`ArcCell`] that starts at `None` (a 24-byte
//! allocation). A creator that finds `None` builds a list and CASes it in;
//! a creator that loses the race drops its own list, which nothing else saw,
//! and uses the winner's. A list, once in, is never replaced, so:
//!
//! * every key is inserted into the one list there will ever be: a loser
//!   reloads before inserting, and an insert only goes into a list it
//!   loaded from the cell;
//! * a reader that loads `None` reads an index with no key, which is
//!   exactly what the kind held when the list was not yet there: a key's
//!   cell is inserted into the list before it can hold a value
//!   (`keys.rs`, I6), so a reader that misses the list also misses every
//!   write that needs it. The list's contents are published by its own
//!   operations; the install only publishes the empty list (the cell's
//!   load is Acquire and its CAS Release, `sync.rs`).
//!
//! Nobody waits: the one retry after a lost CAS finds a list.
//!
//! # Cost
//!
//! One `arc-swap` load (a few nanoseconds, no shared-memory write) per
//! ordered operation: scans, key creation and unlinking, and point reads
//! of a kind too small to have its point index yet.

use std::ops::{Bound, ControlFlow};

use super::index::OrderedIndex;
use crate::sync::{lazy_installs, Arc, ArcCell};

/// An [`OrderedIndex`] whose list is allocated on the first insert.
pub(crate) struct LazyOrderedIndex<V> {
    list: ArcCell<Option<Box<OrderedIndex<V>>>>,
}

impl<V: Send + Sync + 'static> LazyOrderedIndex<V> {
    /// An index with no list yet; under loom, unless a model races the
    /// install, with its list already in (`sync.rs`, `LAZY_INSTALLS`).
    pub(crate) fn new() -> Self {
        let list = if lazy_installs() {
            ArcCell::new(Arc::new(None))
        } else {
            ArcCell::fixed(Arc::new(Some(Box::new(OrderedIndex::new()))))
        };
        LazyOrderedIndex { list }
    }

    /// Calls `f` with the value under `key`, if any.
    #[inline]
    pub(crate) fn with<R>(&self, key: &str, f: impl FnOnce(Option<&Arc<V>>) -> R) -> R {
        match &**self.list.load() {
            Some(list) => list.with(key, f),
            None => f(None),
        }
    }

    /// The value under `key`, inserting `make(key)` first if there is none,
    /// and whether this call inserted it (see
    /// [`OrderedIndex::get_or_insert_with`]); allocates the list if it is
    /// the first key.
    pub(crate) fn get_or_insert_with(
        &self,
        key: &str,
        make: impl FnOnce(&Arc<str>) -> Arc<V>,
    ) -> (Arc<V>, bool) {
        let current = self.list.load();
        if let Some(list) = &**current {
            return list.get_or_insert_with(key, make);
        }
        let fresh = Arc::new(Some(Box::new(OrderedIndex::new())));
        // Fails only if another creator installed its list first: use that.
        let _ = self.list.compare_and_swap(&current, &fresh);
        drop(current);
        match &**self.list.load() {
            Some(list) => list.get_or_insert_with(key, make),
            None => unreachable!("a list, once installed, stays"),
        }
    }

    /// Removes the entry under `key` if it holds exactly `value`.
    pub(crate) fn remove_if_same(&self, key: &str, value: &V) -> bool {
        match &**self.list.load() {
            Some(list) => list.remove_if_same(key, value),
            None => false,
        }
    }

    /// Visits the entries whose keys fall in `range`, in ascending key
    /// order, until `f` breaks (see [`OrderedIndex::scan`]).
    pub(crate) fn scan(
        &self,
        range: (Bound<&str>, Bound<&str>),
        f: impl FnMut(&Arc<str>, &Arc<V>) -> ControlFlow<()>,
    ) {
        if let Some(list) = &**self.list.load() {
            list.scan(range, f);
        }
    }
}
