//! [`Kind`]: a handle to one kind, and the one implementation of every
//! per-kind operation that both `Store` and `Kind` call.

use std::fmt;
use std::ops::{Bound, ControlFlow, RangeBounds};

use crate::error::{BoxError, Error, Result};
use crate::raw::kind::{RawKind, Validation};
use crate::store::{SetResult, Shared, Value};
use crate::sync::Arc;
use crate::watch::{Watch, WatchOptions};

/// A handle to one kind of a [`Store`](crate::Store), from
/// [`Store::kind`](crate::Store::kind).
///
/// It has the store's reads, writes and watch without the kind argument, and
/// skips the kind lookup on every call. Cheap to clone; stays valid for the
/// store's lifetime (after [`close`](crate::Store::close) every call returns
/// [`Error::Closed`]).
pub struct Kind<T> {
    shared: Arc<Shared<T>>,
    raw: Arc<RawKind<T>>,
}

impl<T> Clone for Kind<T> {
    fn clone(&self) -> Self {
        Kind {
            shared: Arc::clone(&self.shared),
            raw: Arc::clone(&self.raw),
        }
    }
}

/// A borrowed kind plus its store: what every operation runs on.
pub(crate) struct KindRef<'a, T> {
    shared: &'a Arc<Shared<T>>,
    raw: &'a Arc<RawKind<T>>,
}

fn check_key(key: &str) -> Result<()> {
    if key.is_empty() {
        Err(Error::KeyRequired)
    } else {
        Ok(())
    }
}

/// Every key of a kind.
const ALL: (Bound<&str>, Bound<&str>) = (Bound::Unbounded, Bound::Unbounded);

/// The entry pair that list-like reads return.
type Entry<T> = (Arc<str>, Value<T>);

impl<'a, T: Send + Sync + 'static> KindRef<'a, T> {
    pub(crate) fn new(shared: &'a Arc<Shared<T>>, raw: &'a Arc<RawKind<T>>) -> Self {
        KindRef { shared, raw }
    }

    /// The kind's validator, for the checks below.
    pub(crate) fn validation(&self) -> Validation<'a, T> {
        self.raw.validation()
    }

    pub(crate) fn set(&self, key: &str, value: T) -> Result<SetResult> {
        check_set(&self.validation(), key, &value)?;
        Ok(self.set_checked(key, value))
    }

    /// `set` once `check_set` passed.
    pub(crate) fn set_checked(&self, key: &str, value: T) -> SetResult {
        self.raw.set(key, value)
    }

    pub(crate) fn set_many<K: AsRef<str>>(&self, items: Vec<(K, T)>) -> Result<()> {
        check_set_many(&self.validation(), &items)?;
        self.set_many_checked(items);
        Ok(())
    }

    /// `set_many` once `check_set_many` passed: in key order.
    pub(crate) fn set_many_checked<K: AsRef<str>>(&self, mut items: Vec<(K, T)>) {
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
        mut map: impl FnMut(&Arc<crate::raw::version::Version<T>>) -> R,
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

    pub(crate) fn watch(&self, options: WatchOptions) -> Result<Watch<T>> {
        check_watch(self.shared, &options)?;
        Ok(self.watch_checked(options))
    }

    /// `watch` once `check_watch` passed.
    pub(crate) fn watch_checked(&self, options: WatchOptions) -> Watch<T> {
        let cursor = self
            .raw
            .subscribe(options.replay, options.buffer_size as u64, options.types);
        Watch::new(Arc::clone(self.shared), cursor)
    }
}

// The argument checks of the calls that may create a kind, kept apart from
// the calls themselves so `Store` can run them before creating it.

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
    shared: &Shared<T>,
    options: &WatchOptions,
) -> Result<()> {
    let capacity = shared.ring_capacity();
    if options.buffer_size == 0 || options.buffer_size > capacity {
        return Err(Error::InvalidArgument(format!(
            "buffer_size must be between 1 and the store's ring_capacity ({capacity}), got {}",
            options.buffer_size
        )));
    }
    Ok(())
}

fn entry<T>(version: &Arc<crate::raw::version::Version<T>>) -> Entry<T> {
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

impl<T: Send + Sync + 'static> Kind<T> {
    pub(crate) fn new(shared: Arc<Shared<T>>, raw: Arc<RawKind<T>>) -> Self {
        Kind { shared, raw }
    }

    fn view(&self) -> Result<KindRef<'_, T>> {
        self.shared.check_open()?;
        Ok(KindRef::new(&self.shared, &self.raw))
    }

    /// The kind's name.
    pub fn name(&self) -> &str {
        self.raw.name()
    }

    /// [`Store::set`](crate::Store::set) on this kind.
    pub fn set(&self, key: &str, value: T) -> Result<SetResult> {
        self.view()?.set(key, value)
    }

    /// [`Store::set_many`](crate::Store::set_many) on this kind.
    pub fn set_many<K, I>(&self, items: I) -> Result<()>
    where
        K: AsRef<str>,
        I: IntoIterator<Item = (K, T)>,
    {
        self.view()?.set_many(items.into_iter().collect())
    }

    /// [`Store::update`](crate::Store::update) on this kind.
    pub fn update<F, E>(&self, key: &str, f: F) -> Result<bool>
    where
        F: FnMut(&T) -> std::result::Result<T, E>,
        E: Into<BoxError>,
    {
        self.view()?.update(key, f)
    }

    /// [`Store::delete`](crate::Store::delete) on this kind.
    pub fn delete(&self, key: &str) -> Result<Option<Value<T>>> {
        self.view()?.delete(key)
    }

    /// [`Store::get`](crate::Store::get) on this kind.
    pub fn get(&self, key: &str) -> Result<Option<Value<T>>> {
        self.view()?.get(key)
    }

    /// [`Store::read`](crate::Store::read) on this kind: no shared-memory writes.
    pub fn read<R>(&self, key: &str, f: impl FnOnce(&T) -> R) -> Result<Option<R>> {
        self.view()?.read(key, f)
    }

    /// [`Store::contains`](crate::Store::contains) on this kind.
    pub fn contains(&self, key: &str) -> Result<bool> {
        self.view()?.contains(key)
    }

    /// [`Store::list`](crate::Store::list) on this kind.
    pub fn list(&self) -> Result<Vec<(Arc<str>, Value<T>)>> {
        Ok(self.view()?.list())
    }

    /// [`Store::list_filtered`](crate::Store::list_filtered) on this kind.
    pub fn list_filtered(
        &self,
        filter: impl FnMut(&str, &T) -> bool,
    ) -> Result<Vec<(Arc<str>, Value<T>)>> {
        Ok(self.view()?.list_filtered(filter))
    }

    /// [`Store::range`](crate::Store::range) on this kind.
    pub fn range<'r>(&self, range: impl RangeBounds<&'r str>) -> Result<Vec<(Arc<str>, Value<T>)>> {
        Ok(self.view()?.range(range))
    }

    /// [`Store::prefix`](crate::Store::prefix) on this kind.
    pub fn prefix(&self, prefix: &str) -> Result<Vec<(Arc<str>, Value<T>)>> {
        Ok(self.view()?.prefix(prefix))
    }

    /// [`Store::keys`](crate::Store::keys) on this kind.
    pub fn keys(&self) -> Result<Vec<Arc<str>>> {
        Ok(self.view()?.keys())
    }

    /// [`Store::values`](crate::Store::values) on this kind.
    pub fn values(&self) -> Result<Vec<Value<T>>> {
        Ok(self.view()?.values())
    }

    /// [`Store::count`](crate::Store::count) on this kind.
    pub fn count(&self) -> Result<usize> {
        Ok(self.view()?.count())
    }

    /// [`Store::revision`](crate::Store::revision) on this kind.
    pub fn revision(&self) -> Result<u64> {
        Ok(self.view()?.revision())
    }

    /// [`Store::watch`](crate::Store::watch) on this kind.
    pub fn watch(&self, options: WatchOptions) -> Result<Watch<T>> {
        self.view()?.watch(options)
    }
}

// Unwind safe for the reason given on `Store`'s impls.
impl<T: std::panic::RefUnwindSafe> std::panic::UnwindSafe for Kind<T> {}
impl<T: std::panic::RefUnwindSafe> std::panic::RefUnwindSafe for Kind<T> {}

impl<T: Send + Sync + 'static> fmt::Debug for Kind<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Kind")
            .field("name", &self.name())
            .finish_non_exhaustive()
    }
}
