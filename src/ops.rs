//! The one implementation of every per-kind operation, which both
//! [`Store`](crate::Store) (by kind name) and [`Kind`](crate::Kind) (by
//! handle) call, and the argument checks that run before it.
//!
//! The checks of the calls that may create a kind (`set`, `set_many`,
//! `watch`) are free functions over a [`Validation`], not methods, so that
//! `Store` can run them *before* the kind exists: a rejected call creates
//! nothing (a kind is kept for good).

use std::ops::{Bound, ControlFlow, RangeBounds};

use crate::error::{BoxError, Error, Result};
use crate::raw::kind::{RawKind, SetResult, Validation};
use crate::raw::store::RawStore;
use crate::raw::version::Version;
use crate::sync::Arc;
use crate::value::Value;
use crate::watch::{Watch, WatchOptions};

/// A borrowed kind plus its store: what every operation runs on.
pub(crate) struct KindRef<'a, T> {
    store: &'a Arc<RawStore<T>>,
    raw: &'a Arc<RawKind<T>>,
}

/// Every key of a kind.
const ALL: (Bound<&str>, Bound<&str>) = (Bound::Unbounded, Bound::Unbounded);

/// The entry pair that list-like reads return.
type Entry<T> = (Arc<str>, Value<T>);

impl<'a, T: Send + Sync + 'static> KindRef<'a, T> {
    pub(crate) fn new(store: &'a Arc<RawStore<T>>, raw: &'a Arc<RawKind<T>>) -> Self {
        KindRef { store, raw }
    }

    /// The kind's validator, for the checks below.
    pub(crate) fn validation(&self) -> Validation<'a, T> {
        self.raw.validation()
    }

    // ----- writes -----

    pub(crate) fn set(&self, key: &str, value: T) -> Result<SetResult> {
        check_set(&self.validation(), key, &value)?;
        Ok(self.set_validated(key, value))
    }

    /// `set` of a key and value that [`check_set`] accepted.
    pub(crate) fn set_validated(&self, key: &str, value: T) -> SetResult {
        self.raw.set(key, value)
    }

    pub(crate) fn set_many<K: AsRef<str>>(&self, items: Vec<(K, T)>) -> Result<()> {
        check_set_many(&self.validation(), &items)?;
        self.set_many_validated(items);
        Ok(())
    }

    /// `set_many` of items that [`check_set_many`] accepted: in key order.
    pub(crate) fn set_many_validated<K: AsRef<str>>(&self, mut items: Vec<(K, T)>) {
        items.sort_by(|(a, _), (b, _)| a.as_ref().cmp(b.as_ref()));
        for (key, value) in items {
            self.raw.set(key.as_ref(), value);
        }
    }

    pub(crate) fn update<F, E>(&self, key: &str, f: F) -> Result<bool>
    where
        F: FnMut(&T) -> std::result::Result<T, E>,
        E: Into<BoxError>,
    {
        check_key(key)?;
        self.raw.update(key, f)
    }

    pub(crate) fn delete(&self, key: &str) -> Result<Option<Value<T>>> {
        check_key(key)?;
        Ok(self.raw.delete(key).map(Value::new))
    }

    // ----- reads -----

    pub(crate) fn get(&self, key: &str) -> Result<Option<Value<T>>> {
        check_key(key)?;
        Ok(self
            .raw
            .with_live(key, |version| Value::new(Arc::clone(version))))
    }

    pub(crate) fn read<R>(&self, key: &str, f: impl FnOnce(&T) -> R) -> Result<Option<R>> {
        check_key(key)?;
        Ok(self
            .raw
            .with_live(key, |version| version.live().map(f))
            .flatten())
    }

    pub(crate) fn contains(&self, key: &str) -> Result<bool> {
        check_key(key)?;
        Ok(self.raw.with_live(key, |_| ()).is_some())
    }

    /// Collects the live entries in `range` that `keep` accepts.
    /// `capacity` is a hint: the live count for whole-kind scans, so the
    /// vector is allocated once instead of doubling its way up.
    fn collect<R>(
        &self,
        range: (Bound<&str>, Bound<&str>),
        capacity: usize,
        mut keep: impl FnMut(&str, &T) -> ControlFlow<(), bool>,
        mut map: impl FnMut(&Arc<Version<T>>) -> R,
    ) -> Vec<R> {
        let mut out = Vec::with_capacity(capacity);
        if range_is_empty(range) {
            return out;
        }
        self.raw.scan_live(range, |version, value| {
            if keep(&version.key, value)? {
                out.push(map(version));
            }
            ControlFlow::Continue(())
        });
        out
    }

    pub(crate) fn list(&self) -> Vec<Entry<T>> {
        let everything = |_: &str, _: &T| ControlFlow::Continue(true);
        self.collect(ALL, self.raw.count(), everything, entry)
    }

    pub(crate) fn list_filtered(&self, mut filter: impl FnMut(&str, &T) -> bool) -> Vec<Entry<T>> {
        let filtered = |key: &str, value: &T| ControlFlow::Continue(filter(key, value));
        self.collect(ALL, 0, filtered, entry)
    }

    pub(crate) fn range<'r>(&self, range: impl RangeBounds<&'r str>) -> Vec<Entry<T>> {
        let bounds = (
            range.start_bound().map(|key| *key),
            range.end_bound().map(|key| *key),
        );
        self.collect(bounds, 0, |_, _| ControlFlow::Continue(true), entry)
    }

    pub(crate) fn prefix(&self, prefix: &str) -> Vec<Entry<T>> {
        // Keys are ordered, so the first key past the prefix ends the walk.
        let matching = |key: &str, _: &T| {
            if key.starts_with(prefix) {
                ControlFlow::Continue(true)
            } else {
                ControlFlow::Break(())
            }
        };
        self.collect(
            (Bound::Included(prefix), Bound::Unbounded),
            0,
            matching,
            entry,
        )
    }

    pub(crate) fn keys(&self) -> Vec<Arc<str>> {
        let everything = |_: &str, _: &T| ControlFlow::Continue(true);
        self.collect(ALL, self.raw.count(), everything, |version| {
            Arc::clone(&version.key)
        })
    }

    pub(crate) fn values(&self) -> Vec<Value<T>> {
        let everything = |_: &str, _: &T| ControlFlow::Continue(true);
        self.collect(ALL, self.raw.count(), everything, |version| {
            Value::new(Arc::clone(version))
        })
    }

    pub(crate) fn count(&self) -> usize {
        self.raw.count()
    }

    /// True if the kind holds no live entry (found by walking, not counting).
    pub(crate) fn is_empty(&self) -> bool {
        let mut empty = true;
        self.raw.scan_live(ALL, |_, _| {
            empty = false;
            ControlFlow::Break(())
        });
        empty
    }

    pub(crate) fn revision(&self) -> u64 {
        self.raw.revision()
    }

    // ----- watch -----

    pub(crate) fn watch(&self, options: WatchOptions) -> Result<Watch<T>> {
        check_watch(self.store, &options)?;
        Ok(self.watch_validated(options))
    }

    /// `watch` with options that [`check_watch`] accepted.
    pub(crate) fn watch_validated(&self, options: WatchOptions) -> Watch<T> {
        let cursor = self
            .raw
            .subscribe(options.replay, options.buffer_size as u64, options.types);
        Watch::new(Arc::clone(self.store), cursor)
    }
}

// ----- argument checks -----

/// [`Error::Closed`] once the store is closed: every call checks it first.
#[inline]
pub(crate) fn check_open<T: Send + Sync + 'static>(store: &RawStore<T>) -> Result<()> {
    if store.is_closed() {
        Err(Error::Closed)
    } else {
        Ok(())
    }
}

pub(crate) fn check_kind(kind: &str) -> Result<()> {
    if kind.is_empty() {
        Err(Error::KindRequired)
    } else {
        Ok(())
    }
}

pub(crate) fn check_key(key: &str) -> Result<()> {
    if key.is_empty() {
        Err(Error::KeyRequired)
    } else {
        Ok(())
    }
}

pub(crate) fn check_set<T>(validation: &Validation<'_, T>, key: &str, value: &T) -> Result<()> {
    check_key(key)?;
    validation.validate(key, value)
}

pub(crate) fn check_set_many<T, K: AsRef<str>>(
    validation: &Validation<'_, T>,
    items: &[(K, T)],
) -> Result<()> {
    items
        .iter()
        .try_for_each(|(key, value)| check_set(validation, key.as_ref(), value))
}

pub(crate) fn check_watch<T: Send + Sync + 'static>(
    store: &RawStore<T>,
    options: &WatchOptions,
) -> Result<()> {
    let capacity = store.ring_capacity();
    if options.buffer_size == 0 || options.buffer_size > capacity {
        return Err(Error::InvalidArgument(format!(
            "buffer_size must be between 1 and the store's ring_capacity ({capacity}), got {}",
            options.buffer_size
        )));
    }
    Ok(())
}

fn entry<T>(version: &Arc<Version<T>>) -> Entry<T> {
    (Arc::clone(&version.key), Value::new(Arc::clone(version)))
}

/// True for a range that can hold no key (inverted, or empty-exclusive),
/// which the skip list would otherwise be asked to walk.
fn range_is_empty((start, end): (Bound<&str>, Bound<&str>)) -> bool {
    match (start, end) {
        (Bound::Included(start), Bound::Included(end)) => start > end,
        (Bound::Included(start), Bound::Excluded(end))
        | (Bound::Excluded(start), Bound::Included(end))
        | (Bound::Excluded(start), Bound::Excluded(end)) => start >= end,
        _ => false,
    }
}
