//! The one implementation of every per-kind operation, which both
//! [`Store`](crate::Store) (by kind name) and [`Kind`](crate::Kind) (by
//! handle) call, and the argument checks that run before it.
//!
//! The checks of the calls that may create a kind (`set`, `set_many`,
//! `watch`) are free functions over a [`Validation`], not methods, so that
//! `Store` can run them *before* the kind exists: a rejected call creates
//! nothing (a kind stays until `Store::remove_kind` removes it).

use std::borrow::Cow;
use std::ops::RangeBounds;

use crate::error::{BoxError, Error, Result};
use crate::mirror::Mirror;
use crate::raw::batch::{BatchOp, BatchWrite, Conflict};
use crate::raw::cursor::{Filter, Start};
use crate::raw::gate::Removed;
use crate::raw::kind::{RawKind, SetResult, Validation};
use crate::raw::store::RawStore;
use crate::snapshot::{self, Entry, Snapshot};
use crate::sync::Arc;
use crate::transaction::Transaction;
use crate::value::Value;
use crate::watch::{Watch, WatchOptions};

/// A borrowed kind plus its store: what every operation runs on.
pub(crate) struct KindRef<'a, T> {
    store: &'a Arc<RawStore<T>>,
    /// The kind's name as the caller gave it (`raw` may be the stand-in of
    /// a kind never written, whose own name is empty).
    name: &'a str,
    raw: &'a Arc<RawKind<T>>,
}

impl<'a, T: Send + Sync + 'static> KindRef<'a, T> {
    pub(crate) fn new(
        store: &'a Arc<RawStore<T>>,
        name: &'a str,
        raw: &'a Arc<RawKind<T>>,
    ) -> Self {
        KindRef { store, name, raw }
    }

    /// The kind's validator, for the checks below.
    pub(crate) fn validation(&self) -> Validation<'a, T> {
        self.raw.validation()
    }

    // ----- writes -----

    /// J2 (`raw/journal.rs`): once a write is applied, waits until the
    /// store's journal, if any, keeps everything `kind` held after it (its
    /// own revision, and any it observed), then hands back its result.
    /// Admission came first, in the write's checks ([`check_admitted`]).
    #[inline]
    fn synced<R>(&self, kind: &RawKind<T>, result: R) -> Result<R> {
        if let Some(journal) = self.store.journal() {
            // The stand-in of a kind never written holds nothing to keep.
            if !kind.name().is_empty() {
                journal
                    .sync(kind.name(), kind.revision())
                    .map_err(Error::NotDurable)?;
            }
        }
        Ok(result)
    }

    pub(crate) fn set(&self, key: &str, value: T) -> Result<SetResult> {
        check_set(&self.validation(), key, &value)?;
        check_admitted(self.store)?;
        self.set_validated(key, value)
    }

    /// Runs `op` on this kind and, each time it finds a kind removed (P8,
    /// `raw/gate.rs`), on the kind now under the name: made if `create`,
    /// else `None` once there is none. Returns the kind it ran on, to sync.
    #[inline]
    fn on_current<R>(
        &self,
        create: bool,
        mut op: impl FnMut(&Arc<RawKind<T>>) -> Result<R, Removed>,
    ) -> Option<(R, Cow<'a, Arc<RawKind<T>>>)> {
        match op(self.raw) {
            Ok(result) => Some((result, Cow::Borrowed(self.raw))),
            Err(Removed) => self.on_current_slow(create, op),
        }
    }

    #[cold]
    fn on_current_slow<R>(
        &self,
        create: bool,
        mut op: impl FnMut(&Arc<RawKind<T>>) -> Result<R, Removed>,
    ) -> Option<(R, Cow<'a, Arc<RawKind<T>>>)> {
        loop {
            let kind = if create {
                self.store.kind_or_create(self.name)
            } else {
                self.store.current_kind(self.name)?
            };
            if let Ok(result) = op(&kind) {
                return Some((result, Cow::Owned(kind)));
            }
        }
    }

    /// `set` of a key and value that [`check_set`] and [`check_admitted`]
    /// accepted.
    #[inline]
    pub(crate) fn set_validated(&self, key: &str, value: T) -> Result<SetResult> {
        // Not through `on_current`: the value moves only on the slow path.
        match self.raw.set(key, value) {
            Ok(result) => self.synced(self.raw, result),
            Err(value) => self.set_moved(key, value),
        }
    }

    /// `set` on a kind that was removed (P8): on the one now under the name.
    #[cold]
    fn set_moved(&self, key: &str, mut value: T) -> Result<SetResult> {
        loop {
            let kind = self.store.kind_or_create(self.name);
            match kind.set(key, value) {
                Ok(result) => return self.synced(&kind, result),
                Err(returned) => value = returned,
            }
        }
    }

    pub(crate) fn set_many<K: AsRef<str>>(&self, items: Vec<(K, T)>) -> Result<()> {
        check_set_many(&self.validation(), &items)?;
        check_admitted(self.store)?;
        self.set_many_validated(items)
    }

    /// `set_many` of items that [`check_set_many`] and [`check_admitted`]
    /// accepted: one atomic batch (P7), in key order; of two items with one
    /// key the later wins.
    pub(crate) fn set_many_validated<K: AsRef<str>>(&self, mut items: Vec<(K, T)>) -> Result<()> {
        // A stable sort keeps equal keys in the order given.
        items.sort_by(|(a, _), (b, _)| a.as_ref().cmp(b.as_ref()));
        // The values are shared (`Arc`), so an aborted attempt can install
        // them again.
        let items: Vec<(K, Arc<T>)> = items
            .into_iter()
            .map(|(key, value)| (key, Arc::new(value)))
            .collect();
        let mut writes: Vec<BatchWrite<'_, T>> = Vec::with_capacity(items.len());
        for (key, value) in &items {
            let write = BatchWrite {
                key: key.as_ref(),
                op: BatchOp::Set(Arc::clone(value)),
            };
            match writes.last_mut() {
                Some(last) if last.key == write.key => *last = write,
                _ => writes.push(write),
            }
        }
        let ((), kind) = self
            .on_current(true, |kind| {
                kind.apply_batch(&writes, &[]).map(|outcome| {
                    if let Err(Conflict) = outcome {
                        unreachable!("a batch that reads nothing cannot conflict");
                    }
                })
            })
            .expect("a kind is made when there is none");
        self.synced(&kind, ())
    }

    /// Runs `f` in a [`Transaction`] until it commits (or fails).
    pub(crate) fn transaction<R, E, F>(&self, mut f: F) -> Result<R>
    where
        F: FnMut(&mut Transaction<'_, T>) -> std::result::Result<R, E>,
        E: Into<BoxError>,
    {
        check_admitted(self.store)?;
        let mut kind = Arc::clone(self.raw);
        loop {
            let mut tx = Transaction::new(&kind);
            let result = f(&mut tx).map_err(|error| Error::Transaction(error.into()))?;
            if kind.name().is_empty() && tx.writes_anything() {
                // It ran on the stand-in of a kind never written: create the
                // kind only now that something will be written, and run again.
                drop(tx);
                kind = self.store.kind_or_create(self.name);
                continue;
            }
            let (writes, reads) = tx.batch()?;
            match kind.apply_batch(&writes, &reads) {
                Ok(Ok(_)) => return self.synced(&kind, result),
                Ok(Err(Conflict)) => continue,
                Err(Removed) => {
                    // Its reads were of a removed kind (P8): run again on
                    // the kind now under the name.
                    drop(tx);
                    kind = self.store.kind_or_create(self.name);
                }
            }
        }
    }

    pub(crate) fn update<F, E>(&self, key: &str, f: F) -> Result<bool>
    where
        F: FnMut(&T) -> std::result::Result<T, E>,
        E: Into<BoxError>,
    {
        check_key(key)?;
        check_admitted(self.store)?;
        let mut f = f;
        // A name with no kind left: the removed kind's deletes were seen.
        let (outcome, kind) = self
            .on_current(false, |kind| kind.update(key, &mut f))
            .unwrap_or((Err(Error::KeyNotFound), Cow::Borrowed(self.raw)));
        match outcome {
            // Not found is an observation too (J2): the delete it saw must
            // be kept before the caller is told.
            Err(Error::KeyNotFound) => self
                .synced(&kind, ())
                .and_then(|()| Err(Error::KeyNotFound)),
            result => self.synced(&kind, result?),
        }
    }

    pub(crate) fn delete(&self, key: &str) -> Result<Option<Value<T>>> {
        check_key(key)?;
        check_admitted(self.store)?;
        let (deleted, kind) = self
            .on_current(false, |kind| kind.delete(key))
            .unwrap_or((None, Cow::Borrowed(self.raw)));
        self.synced(&kind, deleted.map(Value::new))
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

    /// A snapshot of the kind, for the point-in-time reads below.
    pub(crate) fn snapshot(&self) -> Snapshot<T> {
        Snapshot::new(self.raw.snapshot(), self.name)
    }

    pub(crate) fn list(&self) -> Vec<Entry<T>> {
        snapshot::list(&self.raw.snapshot())
    }

    pub(crate) fn list_filtered(&self, filter: impl FnMut(&str, &T) -> bool) -> Vec<Entry<T>> {
        snapshot::list_filtered(&self.raw.snapshot(), filter)
    }

    pub(crate) fn range<'r>(&self, range: impl RangeBounds<&'r str>) -> Vec<Entry<T>> {
        snapshot::range(&self.raw.snapshot(), range)
    }

    pub(crate) fn prefix(&self, prefix: &str) -> Vec<Entry<T>> {
        snapshot::prefix(&self.raw.snapshot(), prefix)
    }

    pub(crate) fn keys(&self) -> Vec<Arc<str>> {
        snapshot::keys(&self.raw.snapshot())
    }

    pub(crate) fn values(&self) -> Vec<Value<T>> {
        snapshot::values(&self.raw.snapshot())
    }

    pub(crate) fn count(&self) -> usize {
        self.raw.count()
    }

    /// True if the kind holds no live entry (found by walking, not counting).
    pub(crate) fn is_empty(&self) -> bool {
        !self.raw.has_live()
    }

    pub(crate) fn revision(&self) -> u64 {
        self.raw.revision()
    }

    pub(crate) fn batch_retries(&self) -> u64 {
        self.raw.batch_retries()
    }

    // ----- watch -----

    pub(crate) fn watch(&self, options: WatchOptions) -> Result<Watch<T>> {
        check_watch(self.store, &options)?;
        self.watch_validated(options)
    }

    /// `watch` with options that [`check_watch`] accepted. Fails only with
    /// [`Error::Compacted`], for a `start_revision` the kind no longer keeps.
    pub(crate) fn watch_validated(&self, options: WatchOptions) -> Result<Watch<T>> {
        let start = match (options.replay, options.start_revision) {
            (_, Some(revision)) => Start::At(revision),
            (true, None) => Start::Replay,
            (false, None) => Start::Now,
        };
        let filter = Filter {
            buffer: options.buffer_size as u64,
            types: options.types,
            prefix: options.prefix.clone(),
            previous: true,
        };
        // The kind it ran on is not synced: a watch observes, writes nothing.
        let (subscribed, _) = self
            .on_current(true, |kind| kind.subscribe(start, filter.clone()))
            .expect("a kind is made when there is none");
        let cursor = subscribed.map_err(|compacted| Error::Compacted {
            requested: compacted.requested,
            oldest: compacted.oldest,
        })?;
        Ok(Watch::new(Arc::clone(self.store), cursor))
    }
}

impl<'a, T: Send + Sync + 'static> KindRef<'a, T> {
    // ----- mirror -----

    pub(crate) fn mirror(&self, options: WatchOptions) -> Result<Mirror<T>> {
        check_mirror(self.store, &options)?;
        self.mirror_validated(options)
    }

    /// `mirror` with options that [`check_mirror`] accepted.
    pub(crate) fn mirror_validated(&self, options: WatchOptions) -> Result<Mirror<T>> {
        // A mirror syncs until it succeeds; it fails only on a closed store.
        Mirror::new(Arc::clone(self.store), Arc::clone(self.raw), options)
            .map_err(|_closed| Error::Closed)
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

/// [`Error::Refused`] if the store's journal refuses writes now: checked
/// before a write may create its kind, so a refused write creates nothing.
#[inline]
pub(crate) fn check_admitted<T: Send + Sync + 'static>(store: &RawStore<T>) -> Result<()> {
    match store.journal() {
        Some(journal) => journal.admit().map_err(Error::Refused),
        None => Ok(()),
    }
}

#[inline]
pub(crate) fn check_kind(kind: &str) -> Result<()> {
    if kind.is_empty() {
        Err(Error::KindRequired)
    } else {
        Ok(())
    }
}

#[inline]
pub(crate) fn check_key(key: &str) -> Result<()> {
    if key.is_empty() {
        Err(Error::KeyRequired)
    } else {
        Ok(())
    }
}

#[inline]
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
    if options.replay && options.start_revision.is_some() {
        return Err(Error::InvalidArgument(
            "replay and start_revision exclude each other: a replay starts at the kind's \
             current revision; to resume, take a snapshot and watch from its revision + 1"
                .to_owned(),
        ));
    }
    Ok(())
}

/// A mirror takes a watch's options but starts from a snapshot of its own.
pub(crate) fn check_mirror<T: Send + Sync + 'static>(
    store: &RawStore<T>,
    options: &WatchOptions,
) -> Result<()> {
    check_watch(store, options)?;
    if options.replay || options.start_revision.is_some() {
        return Err(Error::InvalidArgument(
            "a mirror always starts from a snapshot of the kind: leave replay and \
             start_revision unset (use a watch to resume from a revision)"
                .to_owned(),
        ));
    }
    Ok(())
}
