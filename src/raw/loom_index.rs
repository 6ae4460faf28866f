//! Loom-visible stand-ins for [`index`](super::index) under
//! `--cfg zestor_loom`: the same interface over a std map. loom cannot see
//! inside crossbeam-skiplist or papaya; with these, it explores every
//! interleaving of the protocol code *around* the maps (I6, unlinking,
//! re-creation, the lazy hash index) with each map operation as one atomic
//! step — which is the contract the real maps give.
//!
//! # What synchronization they model
//!
//! What the real maps give and no more: an operation that may change the
//! map is a release (and an acquire), a lookup or a scan step an acquire
//! only, so a write happens-before the reads that see it, and a read
//! happens-before no later write. Each map has a loom `AtomicUsize` clock;
//! every operation is one read-modify-write of it — AcqRel for the
//! operations that may write (even when they end up changing nothing, a
//! little stronger than the real maps), Acquire for the reads — followed at
//! once by the operation on a std map behind a *std* mutex loom does not see
//! (loom runs one thread at a time and switches only at its own
//! operations, so the std map changes atomically with the clock's step and
//! the mutex never contends). An Acquire read-modify-write releases
//! nothing, so it adds no edge a plain Acquire load would not; it always
//! reads the latest state (a read-modify-write reads the last value in
//! modification order), which is what a linearizable map gives. With
//! `stale_map_reads` on (`loom-tests`' `model_point_fill`), a lookup is a
//! plain Acquire load of the clock instead and reads the map version it
//! names, which may be older than the latest, as a skip list's plain loads
//! may be when nothing orders them (each write keeps a new version); that
//! is what lets loom find a missing F4.
//!
//! A loom mutex here, as these stand-ins once were, would hand the
//! protocols a free edge from every read to every later write — one that
//! hid a missing F4 (`keys.rs`): the fill's scan would happen-before a
//! writer's later insert and so carry the `set` of the hash index to it.

use std::collections::{BTreeMap, HashMap};
use std::ops::{Bound, ControlFlow};

use loom::sync::atomic::{AtomicUsize, Ordering};

use super::hash::{KeyHashing, PointHasher};
use crate::sync::{stale_map_reads, Arc};

/// A std map stepped by a loom clock (see the module doc): version `v` of
/// the map is the one the clock's value `v` stands for.
struct Clocked<M> {
    clock: AtomicUsize,
    /// Every version, by clock value. Reading the latest only (the
    /// default), the older ones are let go at once.
    versions: std::sync::Mutex<Vec<Option<Arc<M>>>>,
}

impl<M: Clone> Clocked<M> {
    fn new(map: M) -> Self {
        Clocked {
            clock: AtomicUsize::new(0),
            versions: std::sync::Mutex::new(vec![Some(Arc::new(map))]),
        }
    }

    /// One lookup: an acquire, then `f` on the version it read. By
    /// default an Acquire read-modify-write, which reads the latest
    /// version; with `stale_map_reads` a plain Acquire load, which may
    /// read an older one (as a skip list's or hash table's loads may), for
    /// the models of protocols that a store-buffering race could break.
    fn read<R>(&self, f: impl FnOnce(&M) -> R) -> R {
        let version = if stale_map_reads() {
            self.clock.load(Ordering::Acquire)
        } else {
            self.clock.fetch_add(0, Ordering::Acquire)
        };
        let map = self.versions.lock().unwrap()[version]
            .clone()
            .expect("a version that can be read is kept");
        f(&map)
    }

    /// The latest version, without a step: for deciding nothing the
    /// protocol can observe.
    fn peek<R>(&self, f: impl FnOnce(&M) -> R) -> R {
        let map = self.latest();
        f(&map)
    }

    fn latest(&self) -> Arc<M> {
        let versions = self.versions.lock().unwrap();
        Arc::clone(versions.last().unwrap().as_ref().unwrap())
    }

    /// One operation that may change the map: an acquire and a release,
    /// then `f` on a copy of the latest version, which becomes the next.
    fn write<R>(&self, f: impl FnOnce(&mut M) -> R) -> R {
        let version = self.clock.fetch_add(1, Ordering::AcqRel);
        let mut map = (*self.latest()).clone();
        let result = f(&mut map);
        let replaced = {
            let mut versions = self.versions.lock().unwrap();
            debug_assert_eq!(versions.len(), version + 1, "no step between");
            versions.push(Some(Arc::new(map)));
            if stale_map_reads() {
                None
            } else {
                versions[version].take()
            }
        };
        drop(replaced); // outside the std mutex
        result
    }
}

pub(crate) struct OrderedIndex<V> {
    map: Clocked<BTreeMap<Arc<str>, Arc<V>>>,
}

impl<V: Send + Sync + 'static> OrderedIndex<V> {
    pub(crate) fn new() -> Self {
        OrderedIndex {
            map: Clocked::new(BTreeMap::new()),
        }
    }

    pub(crate) fn with<R>(&self, key: &str, f: impl FnOnce(Option<&Arc<V>>) -> R) -> R {
        let value = self.map.read(|map| map.get(key).cloned());
        f(value.as_ref())
    }

    pub(crate) fn get_or_insert_with(
        &self,
        key: &str,
        make: impl FnOnce(&Arc<str>) -> Arc<V>,
    ) -> (Arc<V>, bool) {
        // Nothing loom sees may run under the std mutex (a switch there
        // would block the next thread on it): `make` runs before the step
        // that inserts its value (the skip list, too, may call it and drop
        // the value when it loses a race), and only when a peek — no step,
        // it decides nothing but whether to make one — finds no entry.
        let key: Arc<str> = Arc::from(key);
        if self.map.peek(|map| map.contains_key(&key)) {
            let existing = self.map.write(|map| map.get(&key).cloned());
            if let Some(value) = existing {
                return (value, false);
            }
        }
        let made = make(&key);
        let existing = self.map.write(|map| match map.get(&key) {
            Some(value) => Some(Arc::clone(value)),
            None => {
                map.insert(key, Arc::clone(&made));
                None
            }
        });
        match existing {
            Some(value) => (value, false),
            None => (made, true),
        }
    }

    pub(crate) fn remove_if_same(&self, key: &str, value: &V) -> bool {
        let removed = self.map.write(|map| match map.get(key) {
            Some(existing) if std::ptr::eq(Arc::as_ptr(existing), value) => map.remove(key),
            _ => None,
        });
        removed.is_some()
    }

    /// Walks a snapshot taken one key at a time, so writers interleave with
    /// the walk as they do with the skip list's iterator.
    pub(crate) fn scan(
        &self,
        range: (Bound<&str>, Bound<&str>),
        mut f: impl FnMut(&Arc<str>, &Arc<V>) -> ControlFlow<()>,
    ) {
        let mut lower: Bound<Arc<str>> = match range.0 {
            Bound::Included(key) => Bound::Included(Arc::from(key)),
            Bound::Excluded(key) => Bound::Excluded(Arc::from(key)),
            Bound::Unbounded => Bound::Unbounded,
        };
        loop {
            let next = self.map.read(|map| {
                let lower_ref = match &lower {
                    Bound::Included(key) => Bound::Included(&**key),
                    Bound::Excluded(key) => Bound::Excluded(&**key),
                    Bound::Unbounded => Bound::Unbounded,
                };
                map.range::<str, _>((lower_ref, range.1))
                    .next()
                    .map(|(key, value)| (Arc::clone(key), Arc::clone(value)))
            });
            let Some((key, value)) = next else { return };
            if f(&key, &value).is_break() {
                return;
            }
            lower = Bound::Excluded(key);
        }
    }
}

pub(crate) struct PointIndex<V> {
    map: Clocked<HashMap<Arc<str>, Arc<V>, PointHasher>>,
}

impl<V: Send + Sync + 'static> PointIndex<V> {
    pub(crate) fn new(hashing: KeyHashing) -> Self {
        PointIndex {
            map: Clocked::new(HashMap::with_hasher(PointHasher::new(hashing))),
        }
    }

    pub(crate) fn with<R>(&self, key: &str, f: impl FnOnce(Option<&Arc<V>>) -> R) -> R {
        let value = self.map.read(|map| map.get(key).cloned());
        f(value.as_ref())
    }

    pub(crate) fn insert_unless(
        &self,
        key: &Arc<str>,
        value: &Arc<V>,
        keep: impl Fn(&Arc<V>) -> bool,
    ) {
        // As papaya: an insert if there is no entry; else `keep` is asked
        // about the entry seen (it loads cells: outside the std mutex, see
        // `get_or_insert_with`), and a replace succeeds only if the entry
        // is still the one asked about, else `keep` is asked again.
        let mut seen = match self.map.write(|map| match map.get(&**key) {
            Some(existing) => Some(Arc::clone(existing)),
            None => {
                map.insert(Arc::clone(key), Arc::clone(value));
                None
            }
        }) {
            Some(existing) => existing,
            None => return,
        };
        loop {
            if keep(&seen) {
                return;
            }
            let step = self.map.write(|map| match map.get(&**key) {
                Some(now) if !Arc::ptr_eq(now, &seen) => Err(Arc::clone(now)),
                _ => Ok(map.insert(Arc::clone(key), Arc::clone(value))),
            });
            match step {
                Ok(displaced) => {
                    drop(displaced);
                    return;
                }
                Err(now) => seen = now,
            }
        }
    }

    pub(crate) fn remove_if_same(&self, key: &str, value: &V) {
        let removed = self.map.write(|map| match map.get(key) {
            Some(existing) if std::ptr::eq(Arc::as_ptr(existing), value) => map.remove(key),
            _ => None,
        });
        drop(removed);
    }
}
