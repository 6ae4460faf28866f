//! Loom-visible stand-ins for [`index`](super::index) under
//! `--cfg zestor_loom`: the same interface over a loom `Mutex` around a std
//! map. loom cannot see inside crossbeam-skiplist or papaya; with these, it
//! explores every interleaving of the protocol code *around* the maps (I6,
//! unlinking, re-creation) with each map operation as one atomic step —
//! which is the contract the real maps give.

use std::collections::{BTreeMap, HashMap};
use std::ops::{Bound, ControlFlow};

use loom::sync::Mutex;

use super::hash::{KeyHashing, PointHasher};
use crate::sync::Arc;

pub(crate) struct OrderedIndex<V> {
    map: Mutex<BTreeMap<Arc<str>, Arc<V>>>,
}

impl<V: Send + Sync + 'static> OrderedIndex<V> {
    pub(crate) fn new() -> Self {
        OrderedIndex {
            map: Mutex::new(BTreeMap::new()),
        }
    }

    pub(crate) fn with<R>(&self, key: &str, f: impl FnOnce(Option<&Arc<V>>) -> R) -> R {
        let value = self.map.lock().unwrap().get(key).cloned();
        f(value.as_ref())
    }

    pub(crate) fn get_or_insert_with(
        &self,
        key: &str,
        make: impl FnOnce(&Arc<str>) -> Arc<V>,
    ) -> Arc<V> {
        let mut map = self.map.lock().unwrap();
        if let Some(value) = map.get(key) {
            return Arc::clone(value);
        }
        let key: Arc<str> = Arc::from(key);
        let value = make(&key);
        map.insert(key, Arc::clone(&value));
        value
    }

    pub(crate) fn remove_if_same(&self, key: &str, value: &V) -> bool {
        let mut map = self.map.lock().unwrap();
        match map.get(key) {
            Some(existing) if std::ptr::eq(Arc::as_ptr(existing), value) => {
                map.remove(key);
                true
            }
            _ => false,
        }
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
            let next = {
                let map = self.map.lock().unwrap();
                let lower_ref = match &lower {
                    Bound::Included(key) => Bound::Included(&**key),
                    Bound::Excluded(key) => Bound::Excluded(&**key),
                    Bound::Unbounded => Bound::Unbounded,
                };
                map.range::<str, _>((lower_ref, range.1))
                    .next()
                    .map(|(key, value)| (Arc::clone(key), Arc::clone(value)))
            };
            let Some((key, value)) = next else { return };
            if f(&key, &value).is_break() {
                return;
            }
            lower = Bound::Excluded(key);
        }
    }
}

pub(crate) struct PointIndex<V> {
    map: Mutex<HashMap<Arc<str>, Arc<V>, PointHasher>>,
}

impl<V: Send + Sync + 'static> PointIndex<V> {
    pub(crate) fn new(hashing: KeyHashing) -> Self {
        PointIndex {
            map: Mutex::new(HashMap::with_hasher(PointHasher::new(hashing))),
        }
    }

    pub(crate) fn with<R>(&self, key: &str, f: impl FnOnce(Option<&Arc<V>>) -> R) -> R {
        let value = self.map.lock().unwrap().get(key).cloned();
        f(value.as_ref())
    }

    pub(crate) fn insert_unless(
        &self,
        key: &Arc<str>,
        value: &Arc<V>,
        keep: impl Fn(&Arc<V>) -> bool,
    ) {
        let mut map = self.map.lock().unwrap();
        match map.get(&**key) {
            Some(existing) if keep(existing) => {}
            _ => {
                map.insert(Arc::clone(key), Arc::clone(value));
            }
        }
    }

    pub(crate) fn remove_if_same(&self, key: &str, value: &V) {
        let mut map = self.map.lock().unwrap();
        if let Some(existing) = map.get(key) {
            if std::ptr::eq(Arc::as_ptr(existing), value) {
                map.remove(key);
            }
        }
    }
}
