//! [`Kind`]: a handle to one kind of a store.

use std::fmt;
use std::ops::RangeBounds;

use crate::error::{BoxError, Result};
use crate::mirror::Mirror;
use crate::ops::{check_open, KindRef};
use crate::raw::kind::{RawKind, SetResult};
use crate::raw::store::RawStore;
use crate::snapshot::Snapshot;
use crate::sync::Arc;
use crate::transaction::Transaction;
use crate::value::Value;
use crate::watch::{Watch, WatchOptions};

/// A handle to one kind of a [`Store`](crate::Store), from
/// [`Store::kind`](crate::Store::kind).
///
/// It has the store's reads, writes and watch without the kind argument, and
/// skips the kind lookup on every call. Cheap to clone; stays valid for the
/// store's lifetime (after [`close`](crate::Store::close) every call returns
/// [`Error::Closed`](crate::Error::Closed)). If its kind is removed
/// ([`Store::remove_kind`](crate::Store::remove_kind)), the handle follows
/// the name to the kind made next, looking it up on each call as the store
/// does: take a new handle to skip the lookup again.
pub struct Kind<T> {
    store: Arc<RawStore<T>>,
    raw: Arc<RawKind<T>>,
}

impl<T> Clone for Kind<T> {
    fn clone(&self) -> Self {
        Kind {
            store: Arc::clone(&self.store),
            raw: Arc::clone(&self.raw),
        }
    }
}

impl<T: Send + Sync + 'static> Kind<T> {
    /// Whether the kind's hash index is built and filled (loom models).
    #[cfg(zestor_loom)]
    pub(crate) fn point_filled(&self) -> bool {
        self.raw.point_filled()
    }

    pub(crate) fn new(store: Arc<RawStore<T>>, raw: Arc<RawKind<T>>) -> Self {
        Kind { store, raw }
    }

    /// Runs `f` on the kind: the one this handle holds, or, once that one
    /// was removed ([`Store::remove_kind`](crate::Store::remove_kind)), the
    /// one now under its name. A removed kind reads as empty and sends its
    /// writes on to the current one (P8, `raw/gate.rs`), so it stands in
    /// when there is none yet.
    #[inline]
    fn view<R>(&self, f: impl FnOnce(KindRef<'_, T>) -> Result<R>) -> Result<R> {
        check_open(&self.store)?;
        if !self.raw.is_removed() {
            return f(KindRef::new(&self.store, self.raw.name(), &self.raw));
        }
        self.view_moved(f)
    }

    #[cold]
    fn view_moved<R>(&self, f: impl FnOnce(KindRef<'_, T>) -> Result<R>) -> Result<R> {
        let name = self.raw.name();
        let current = self
            .store
            .current_kind(name)
            .unwrap_or_else(|| Arc::clone(&self.raw));
        f(KindRef::new(&self.store, name, &current))
    }

    /// The kind's name.
    pub fn name(&self) -> &str {
        self.raw.name()
    }

    /// [`Store::set`](crate::Store::set) on this kind.
    pub fn set(&self, key: &str, value: T) -> Result<SetResult> {
        self.view(|k| k.set(key, value))
    }

    /// [`Store::set_many`](crate::Store::set_many) on this kind.
    pub fn set_many<K, I>(&self, items: I) -> Result<()>
    where
        K: AsRef<str>,
        I: IntoIterator<Item = (K, T)>,
    {
        self.view(|k| k.set_many(items.into_iter().collect()))
    }

    /// [`Store::update`](crate::Store::update) on this kind.
    pub fn update<F, E>(&self, key: &str, f: F) -> Result<bool>
    where
        F: FnMut(&T) -> std::result::Result<T, E>,
        E: Into<BoxError>,
    {
        self.view(|k| k.update(key, f))
    }

    /// [`Store::delete`](crate::Store::delete) on this kind.
    pub fn delete(&self, key: &str) -> Result<Option<Value<T>>> {
        self.view(|k| k.delete(key))
    }

    /// [`Store::get`](crate::Store::get) on this kind.
    pub fn get(&self, key: &str) -> Result<Option<Value<T>>> {
        self.view(|k| k.get(key))
    }

    /// [`Store::read`](crate::Store::read) on this kind: no shared-memory writes.
    pub fn read<R>(&self, key: &str, f: impl FnOnce(&T) -> R) -> Result<Option<R>> {
        self.view(|k| k.read(key, f))
    }

    /// [`Store::contains`](crate::Store::contains) on this kind.
    pub fn contains(&self, key: &str) -> Result<bool> {
        self.view(|k| k.contains(key))
    }

    /// [`Store::list`](crate::Store::list) on this kind.
    pub fn list(&self) -> Result<Vec<(Arc<str>, Value<T>)>> {
        self.view(|k| Ok(k.list()))
    }

    /// [`Store::list_filtered`](crate::Store::list_filtered) on this kind.
    pub fn list_filtered(
        &self,
        filter: impl FnMut(&str, &T) -> bool,
    ) -> Result<Vec<(Arc<str>, Value<T>)>> {
        self.view(|k| Ok(k.list_filtered(filter)))
    }

    /// [`Store::range`](crate::Store::range) on this kind.
    pub fn range<'r>(&self, range: impl RangeBounds<&'r str>) -> Result<Vec<(Arc<str>, Value<T>)>> {
        self.view(|k| Ok(k.range(range)))
    }

    /// [`Store::prefix`](crate::Store::prefix) on this kind.
    pub fn prefix(&self, prefix: &str) -> Result<Vec<(Arc<str>, Value<T>)>> {
        self.view(|k| Ok(k.prefix(prefix)))
    }

    /// [`Store::keys`](crate::Store::keys) on this kind.
    pub fn keys(&self) -> Result<Vec<Arc<str>>> {
        self.view(|k| Ok(k.keys()))
    }

    /// [`Store::values`](crate::Store::values) on this kind.
    pub fn values(&self) -> Result<Vec<Value<T>>> {
        self.view(|k| Ok(k.values()))
    }

    /// [`Store::count`](crate::Store::count) on this kind.
    pub fn count(&self) -> Result<usize> {
        self.view(|k| Ok(k.count()))
    }

    /// [`Store::batch_retries`](crate::Store::batch_retries) on this kind.
    pub fn batch_retries(&self) -> Result<u64> {
        self.view(|k| Ok(k.batch_retries()))
    }

    /// [`Store::revision`](crate::Store::revision) on this kind.
    pub fn revision(&self) -> Result<u64> {
        self.view(|k| Ok(k.revision()))
    }

    /// [`Store::watch`](crate::Store::watch) on this kind.
    pub fn watch(&self, options: WatchOptions) -> Result<Watch<T>> {
        self.view(|k| k.watch(options))
    }

    /// [`Store::mirror`](crate::Store::mirror) on this kind.
    pub fn mirror(&self) -> Result<Mirror<T>> {
        let buffer = self.store.ring_capacity();
        self.mirror_with(WatchOptions::new().buffer_size(buffer))
    }

    /// [`Store::mirror_with`](crate::Store::mirror_with) on this kind.
    pub fn mirror_with(&self, options: WatchOptions) -> Result<Mirror<T>> {
        self.view(|k| k.mirror(options))
    }

    /// [`Store::transaction`](crate::Store::transaction) on this kind.
    pub fn transaction<R, E, F>(&self, f: F) -> Result<R>
    where
        F: FnMut(&mut Transaction<'_, T>) -> std::result::Result<R, E>,
        E: Into<BoxError>,
    {
        self.view(|k| k.transaction(f))
    }

    /// [`Store::snapshot`](crate::Store::snapshot) on this kind.
    pub fn snapshot(&self) -> Result<Snapshot<T>> {
        self.view(|k| Ok(k.snapshot()))
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
