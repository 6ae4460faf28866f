//! [`Store`]: the store handle and its every operation by kind name, and
//! [`StoreBuilder`], its configuration.

use std::collections::{BTreeMap, HashMap};
use std::fmt;
use std::io;
use std::ops::{ControlFlow, RangeBounds};

use crate::error::{BoxError, Result};
use crate::journal::{Hook, Journal};
use crate::kind::Kind;
use crate::mirror::Mirror;
use crate::ops::{
    check_admitted, check_kind, check_mirror, check_open, check_set, check_set_many, check_watch,
    KindRef,
};
use crate::raw::gate::Refusal;
use crate::raw::hash::KeyHashing;
use crate::raw::journal::JournalHook;
use crate::raw::kind::{CompareFn, RestoreError, SetResult, ValidateFn, Validation};
use crate::raw::store::{KindConfig, RawStore};
use crate::snapshot::Snapshot;
use crate::sync::{thread, Arc};
use crate::transaction::Transaction;
use crate::value::Value;
use crate::watch::{Watch, WatchOptions};

/// How often [`Store::remove_kind`] tries again when a thread was inside
/// the kind, before it reports [`Error::KindBusy`](crate::Error::KindBusy). Once under loom, whose
/// models take `KindBusy` as an outcome and need no more interleavings.
#[cfg(not(zestor_loom))]
const REMOVE_ATTEMPTS: u32 = 8;
#[cfg(zestor_loom)]
const REMOVE_ATTEMPTS: u32 = 1;

/// A typed, in-memory, lock-free key-value store organized by kind.
///
/// `Store` is a cheap handle: clone it to share the store between threads.
/// Every method takes `&self`. Reads never block and never wait for writers;
/// writers never block each other; watchers never slow writers.
///
/// See the [crate documentation](crate) for the guarantees.
pub struct Store<T> {
    raw: Arc<RawStore<T>>,
}

impl<T> Clone for Store<T> {
    fn clone(&self) -> Self {
        Store {
            raw: Arc::clone(&self.raw),
        }
    }
}

impl<T: PartialEq + Send + Sync + 'static> Store<T> {
    /// An empty store whose compare function is `PartialEq`.
    pub fn new() -> Self {
        Self::builder().build()
    }
}

impl<T: PartialEq + Send + Sync + 'static> Default for Store<T> {
    fn default() -> Self {
        Self::new()
    }
}

/// Where [`Store::write`] found its kind: the result, or — the kind does not
/// exist yet — the call's own arguments handed back, so that it can check
/// them before creating the kind.
enum Lookup<R, Deferred> {
    Found(R),
    Missing(Deferred),
}

impl<T: Send + Sync + 'static> Store<T> {
    /// A builder for a store with a custom compare function, validators, or
    /// ring capacity.
    pub fn builder() -> StoreBuilder<T> {
        StoreBuilder {
            compare: UsePartialEq,
            validators: HashMap::new(),
            ring_capacity: StoreBuilder::<T>::DEFAULT_RING_CAPACITY,
            history: StoreBuilder::<T>::DEFAULT_HISTORY,
            hash_index_at: None,
            hashing: KeyHashing::default(),
            journal: None,
        }
    }

    fn from_parts(compare: Arc<CompareFn<T>>, builder: StoreBuilder<T, ()>) -> Self {
        let ring_capacity = builder.effective_ring_capacity();
        Store {
            raw: Arc::new(RawStore::new(KindConfig {
                compare,
                validators: builder.validators,
                ring_capacity,
                history: builder.history,
                hash_index_at: builder.hash_index_at,
                hashing: builder.hashing,
                journal: builder
                    .journal
                    .map(|journal| Arc::new(Hook(journal)) as Arc<dyn JournalHook<T>>),
            })),
        }
    }

    /// Runs `f` on `kind`, or on an empty stand-in if it was never written.
    fn view<R>(&self, kind: &str, f: impl FnOnce(KindRef<'_, T>) -> Result<R>) -> Result<R> {
        check_open(&self.raw)?;
        check_kind(kind)?;
        self.raw
            .with_kind_or_absent(kind, |raw| f(KindRef::new(&self.raw, kind, raw)))
    }

    /// Checks `input` with `check`, then runs `apply` on `kind` — creating
    /// the kind only once the check passed, so a rejected call leaves nothing
    /// behind (a kind, once created, stays until removed).
    ///
    /// The common case, an existing kind, runs both inside the index lookup,
    /// which lends the kind without touching its reference count. The
    /// closures are `FnOnce` and move into that lookup, so when the kind is
    /// missing the lookup hands them back ([`Lookup::Missing`]) for the slow
    /// path: check, create, apply.
    fn write<V, R>(
        &self,
        kind: &str,
        input: V,
        check: impl FnOnce(&Validation<'_, T>, &V) -> Result<()>,
        apply: impl FnOnce(KindRef<'_, T>, V) -> Result<R>,
    ) -> Result<R> {
        check_open(&self.raw)?;
        check_kind(kind)?;
        let lookup = self.raw.with_kind(kind, |raw| match raw {
            Some(raw) => {
                let found = KindRef::new(&self.raw, kind, raw);
                Lookup::Found(check(&found.validation(), &input).and_then(|()| apply(found, input)))
            }
            None => Lookup::Missing((input, check, apply)),
        });
        let (input, check, apply) = match lookup {
            Lookup::Found(result) => return result,
            Lookup::Missing(deferred) => deferred,
        };
        check(&self.raw.validation(kind), &input)?;
        let raw = self.raw.kind_or_create(kind);
        apply(KindRef::new(&self.raw, kind, &raw), input)
    }

    // ----- writes -----

    /// Stores `value` under `key`: [`Created`](SetResult::Created) for a new
    /// key, [`Updated`](SetResult::Updated) when the value changed,
    /// [`Unchanged`](SetResult::Unchanged) (nothing stored, no event) when the
    /// compare function calls old and new equal.
    ///
    /// The kind's validator, if any, runs first; a rejected value is not
    /// stored and comes back as [`Error::Validation`](crate::Error::Validation).
    pub fn set(&self, kind: &str, key: &str, value: T) -> Result<SetResult> {
        self.write(
            kind,
            value,
            |validation, value| {
                check_set(validation, key, value)?;
                check_admitted(&self.raw)
            },
            |k, value| k.set_validated(key, value),
        )
    }

    /// Stores many entries, atomically: validates every item first (one
    /// invalid item, or an empty key: nothing is written), then writes them
    /// all as one revision, skipping unchanged ones exactly as
    /// [`set`](Self::set) does. Every reader, snapshot and watcher sees all
    /// of it or none; its events share its revision and arrive together, in
    /// key order. Of two items with one key, the later wins. Keys not in
    /// `items` are left alone; a call that changes nothing takes no revision.
    ///
    /// It never blocks other writers: a single-key write to one of its keys
    /// while it is being installed makes it start over (so it is
    /// obstruction-free, not lock-free).
    pub fn set_many<K, I>(&self, kind: &str, items: I) -> Result<()>
    where
        K: AsRef<str>,
        I: IntoIterator<Item = (K, T)>,
    {
        let items: Vec<(K, T)> = items.into_iter().collect();
        self.write(
            kind,
            items,
            |validation, items| {
                check_set_many(validation, items)?;
                check_admitted(&self.raw)
            },
            |k, items| k.set_many_validated(items),
        )
    }

    /// Replaces the value under `key` with `f(&current)`, atomically: no other
    /// write to the key lands in between. Returns whether the stored value
    /// changed (the compare function decides).
    ///
    /// `f` may run more than once under contention (it is `FnMut`); it must
    /// not have side effects that matter, and must not itself write the key
    /// it is updating (that write would race the update it is part of). A missing key is
    /// [`Error::KeyNotFound`](crate::Error::KeyNotFound); an error from `f` is [`Error::Update`](crate::Error::Update) and
    /// stores nothing; the kind's validator checks the new value.
    pub fn update<F, E>(&self, kind: &str, key: &str, f: F) -> Result<bool>
    where
        F: FnMut(&T) -> std::result::Result<T, E>,
        E: Into<BoxError>,
    {
        self.view(kind, |k| k.update(key, f))
    }

    /// Deletes `key`, returning the value it held, or `None` if it held none
    /// (not an error).
    pub fn delete(&self, kind: &str, key: &str) -> Result<Option<Value<T>>> {
        self.view(kind, |k| k.delete(key))
    }

    // ----- reads -----

    /// The value under `key`, if any.
    pub fn get(&self, kind: &str, key: &str) -> Result<Option<Value<T>>> {
        self.view(kind, |k| k.get(key))
    }

    /// Calls `f` with the value under `key`, if any, and returns its result.
    ///
    /// Unlike [`get`](Self::get), this writes no shared memory — not even a
    /// reference count — so readers of one hot key never contend.
    pub fn read<R>(&self, kind: &str, key: &str, f: impl FnOnce(&T) -> R) -> Result<Option<R>> {
        self.view(kind, |k| k.read(key, f))
    }

    /// True if `key` holds a value.
    pub fn contains(&self, kind: &str, key: &str) -> Result<bool> {
        self.view(kind, |k| k.contains(key))
    }

    /// Every entry of the kind, in ascending key order.
    pub fn list(&self, kind: &str) -> Result<Vec<(Arc<str>, Value<T>)>> {
        self.view(kind, |k| Ok(k.list()))
    }

    /// The entries of the kind that `filter` accepts, in ascending key order.
    pub fn list_filtered(
        &self,
        kind: &str,
        filter: impl FnMut(&str, &T) -> bool,
    ) -> Result<Vec<(Arc<str>, Value<T>)>> {
        self.view(kind, |k| Ok(k.list_filtered(filter)))
    }

    /// The entries whose keys fall in `range`, in ascending key order:
    /// `store.range("users", "a".."m")`. An empty or inverted range is empty.
    pub fn range<'r>(
        &self,
        kind: &str,
        range: impl RangeBounds<&'r str>,
    ) -> Result<Vec<(Arc<str>, Value<T>)>> {
        self.view(kind, |k| Ok(k.range(range)))
    }

    /// The entries whose keys start with `prefix`, in ascending key order.
    pub fn prefix(&self, kind: &str, prefix: &str) -> Result<Vec<(Arc<str>, Value<T>)>> {
        self.view(kind, |k| Ok(k.prefix(prefix)))
    }

    /// The kind's keys, in ascending order.
    pub fn keys(&self, kind: &str) -> Result<Vec<Arc<str>>> {
        self.view(kind, |k| Ok(k.keys()))
    }

    /// The kind's values, in ascending key order.
    pub fn values(&self, kind: &str) -> Result<Vec<Value<T>>> {
        self.view(kind, |k| Ok(k.values()))
    }

    /// The number of entries in the kind, in O(1). Exact when no write to the
    /// kind is in flight.
    pub fn count(&self, kind: &str) -> Result<usize> {
        self.view(kind, |k| Ok(k.count()))
    }

    /// The revision of the kind's latest write (0 if never written).
    /// Revisions increase with every write but are not dense: a write that
    /// lost a race consumes one too.
    pub fn revision(&self, kind: &str) -> Result<u64> {
        self.view(kind, |k| Ok(k.revision()))
    }

    /// How many times an atomic write on the kind — a
    /// [`set_many`](Self::set_many) or a [`transaction`](Self::transaction)
    /// — had to start over: a concurrent write to one of its keys aborted
    /// it while it was being installed, or a transaction's reads went stale.
    /// A diagnostic for contention: divide by the atomic writes made.
    pub fn batch_retries(&self, kind: &str) -> Result<u64> {
        self.view(kind, |k| Ok(k.batch_retries()))
    }

    /// The kinds that hold at least one entry, in ascending order.
    pub fn kinds(&self) -> Result<Vec<Arc<str>>> {
        check_open(&self.raw)?;
        let mut kinds = Vec::new();
        self.raw.scan_kinds(|name, raw| {
            if !KindRef::new(&self.raw, name, raw).is_empty() {
                kinds.push(Arc::clone(name));
            }
            ControlFlow::Continue(())
        });
        Ok(kinds)
    }

    /// Every entry of every kind that holds one, by kind then key.
    #[allow(clippy::type_complexity)]
    pub fn get_all(&self) -> Result<BTreeMap<Arc<str>, Vec<(Arc<str>, Value<T>)>>> {
        check_open(&self.raw)?;
        let mut all = BTreeMap::new();
        self.raw.scan_kinds(|name, raw| {
            let entries = KindRef::new(&self.raw, name, raw).list();
            if !entries.is_empty() {
                all.insert(Arc::clone(name), entries);
            }
            ControlFlow::Continue(())
        });
        Ok(all)
    }

    /// A handle to one kind, creating the kind if needed: the same reads,
    /// writes and watch without the kind argument, and without looking the
    /// kind up on every call. Use it in hot loops.
    pub fn kind(&self, kind: &str) -> Result<Kind<T>> {
        check_open(&self.raw)?;
        check_kind(kind)?;
        Ok(Kind::new(
            Arc::clone(&self.raw),
            self.raw.kind_or_create(kind),
        ))
    }

    // ----- watch -----

    /// Watches the kind's creates, updates and deletes, in the order they
    /// were applied. See [`WatchOptions`] for replay, filtering and the
    /// buffer, and [`Watch`] for consuming it.
    pub fn watch(&self, kind: &str, options: WatchOptions) -> Result<Watch<T>> {
        let store = &self.raw;
        self.write(
            kind,
            options,
            |_, options| check_watch(store, options),
            |k, options| k.watch_validated(options),
        )
    }

    /// A [`Mirror`] of the kind: a replica that yields the kind's entries as
    /// creates, then every change, and re-syncs itself from a snapshot
    /// whenever it falls behind, so it never overflows. Creates the kind if
    /// needed. It may fall the whole event ring behind
    /// ([`ring_capacity`](StoreBuilder::ring_capacity) revisions) before it
    /// re-syncs.
    pub fn mirror(&self, kind: &str) -> Result<Mirror<T>> {
        let buffer = self.raw.ring_capacity();
        self.mirror_with(kind, WatchOptions::new().buffer_size(buffer))
    }

    /// [`mirror`](Self::mirror) with a [`prefix`](WatchOptions::prefix), an
    /// [`event-type filter`](WatchOptions::event_types) (it hides events,
    /// not state) or a [`buffer size`](WatchOptions::buffer_size): how many
    /// revisions it may fall behind before it re-syncs, as given (the
    /// options' default is [`DEFAULT_BUFFER_SIZE`](WatchOptions::DEFAULT_BUFFER_SIZE);
    /// [`mirror`](Self::mirror) uses the whole ring). `replay` and
    /// `start_revision` do not apply
    /// ([`Error::InvalidArgument`](crate::Error::InvalidArgument)).
    pub fn mirror_with(&self, kind: &str, options: WatchOptions) -> Result<Mirror<T>> {
        let store = &self.raw;
        self.write(
            kind,
            options,
            |_, options| check_mirror(store, options),
            |k, options| k.mirror_validated(options),
        )
    }

    /// Runs `f` as a transaction on `kind`: its reads and writes (through
    /// the [`Transaction`]) commit together as one revision, only if every
    /// key `f` read still holds what it saw — otherwise `f` runs again on
    /// the new state. Returns what `f` returned.
    ///
    /// Transactions are serializable, strictly: a transaction that committed
    /// before another began has the smaller revision. Every reader, snapshot
    /// and watcher sees all of a transaction's writes or none; its events
    /// share its revision and arrive together, in key order. Keys the compare
    /// function calls unchanged are skipped; a transaction that changes
    /// nothing takes no revision.
    ///
    /// An error from `f` is [`Error::Transaction`](crate::Error::Transaction)
    /// and writes nothing; so does a value the kind's validator rejects
    /// ([`Error::Validation`](crate::Error::Validation), at commit) or an
    /// empty key ([`Error::KeyRequired`](crate::Error::KeyRequired)). `f`
    /// may run more than once (it is `FnMut`): keep side effects out of it.
    /// A transaction that meets concurrent writes to the keys it writes
    /// retries; it does not block them (single-key writes stay lock-free;
    /// transactions are obstruction-free).
    pub fn transaction<R, E, F>(&self, kind: &str, f: F) -> Result<R>
    where
        F: FnMut(&mut Transaction<'_, T>) -> std::result::Result<R, E>,
        E: Into<BoxError>,
    {
        self.view(kind, |k| k.transaction(f))
    }

    // ----- snapshots -----

    /// A point-in-time view of the kind: every write with a revision at or
    /// below [`Snapshot::revision`] and none after. O(1); see [`Snapshot`]
    /// for what holding one costs. A never-written kind gives an empty
    /// snapshot at revision 0 (and creates nothing).
    pub fn snapshot(&self, kind: &str) -> Result<Snapshot<T>> {
        self.view(kind, |k| Ok(k.snapshot()))
    }

    // ----- lifecycle -----

    /// Loads kind `kind` as a [`Journal`] kept it: `entries` — each a key,
    /// the revision that wrote it, and its value — at kind revision
    /// `revision`, so the next write takes `revision + 1` and every
    /// [`Value::revision`](crate::Value::revision) is as it was. For journal
    /// implementations, before the store is handed out: nothing is recorded
    /// or sent to watchers, and validators do not run. A watch that asks to
    /// start at or below `revision` gets
    /// [`Error::Compacted`](crate::Error::Compacted) (those events are not
    /// kept).
    ///
    /// [`Error::InvalidArgument`](crate::Error::InvalidArgument) if the kind
    /// exists already (it was written, watched or restored), if two entries
    /// share a key, or if a key is empty or an entry's revision is 0 or
    /// above `revision`; nothing is loaded then.
    pub fn restore_kind<K, I>(&self, kind: &str, revision: u64, entries: I) -> Result<()>
    where
        K: AsRef<str>,
        I: IntoIterator<Item = (K, u64, T)>,
    {
        check_open(&self.raw)?;
        check_kind(kind)?;
        let entries = entries
            .into_iter()
            .map(|(key, written, value)| (Arc::from(key.as_ref()), written, value));
        self.raw.restore(kind, revision, entries).map_err(|error| {
            crate::Error::InvalidArgument(match error {
                RestoreError::KindExists => format!(
                    "kind {kind:?} cannot be restored: it exists already (restore kinds \
                         before the store is used)"
                ),
                RestoreError::DuplicateKey(key) => {
                    format!("kind {kind:?} cannot be restored: key {key:?} is given twice")
                }
                RestoreError::EmptyKey => {
                    format!("kind {kind:?} cannot be restored: an entry has an empty key")
                }
                RestoreError::EntryRevision { key, written } => format!(
                    "kind {kind:?} cannot be restored: key {key:?} has revision {written}, \
                         which must be between 1 and the kind's revision {revision}"
                ),
                RestoreError::RevisionTooLarge(revision) => format!(
                    "kind {kind:?} cannot be restored: revision {revision} is beyond \
                         the largest a kind can hand out"
                ),
            })
        })
    }

    /// Removes `kind` and frees it, if no key holds a value and no watch or
    /// mirror of it is alive: `Ok(true)` when this call removed it,
    /// `Ok(false)` when there was no such kind. Lock-free, and it waits for
    /// nobody: a write in flight on the kind wins, and the call retries a
    /// few times before it reports [`Error::KindBusy`](crate::Error::KindBusy).
    ///
    /// The name stays usable: a later write or watch makes a new, empty
    /// kind, whose revisions continue above the removed one's, so a watch
    /// resumed from an old revision is told
    /// [`Compacted`](crate::Error::Compacted) rather than mixing the two.
    /// [`Kind`] handles follow the name to the new kind; a
    /// [`Snapshot`] taken before stays readable. The protocol (P8) is in
    /// `raw/gate.rs`.
    ///
    /// A store with a [`Journal`] (zestor-durable) refuses
    /// with [`Error::Unsupported`](crate::Error::Unsupported): its copy of
    /// record cannot record a removal yet.
    ///
    /// ```
    /// # fn main() -> zestor::Result<()> {
    /// let store = zestor::Store::<u32>::new();
    /// store.set("typo", "k", 1)?;
    /// assert!(matches!(store.remove_kind("typo"), Err(zestor::Error::KindNotEmpty { .. })));
    /// store.delete("typo", "k")?;
    /// assert!(store.remove_kind("typo")?);
    /// assert!(!store.remove_kind("typo")?); // gone already
    /// # Ok(())
    /// # }
    /// ```
    pub fn remove_kind(&self, kind: &str) -> Result<bool> {
        check_open(&self.raw)?;
        check_kind(kind)?;
        if self.raw.journal().is_some() {
            // A journal (zestor-durable's) expects each kind's revisions to
            // follow on from the last it recorded, and a kind started after
            // a removal begins above every removed kind's; nor would the
            // removal be in the copy of record (DESIGN.md, P8).
            return Err(crate::Error::Unsupported(
                "remove_kind on a store with a journal: the copy of record cannot record a \
                 removal yet (delete the kind's keys instead)",
            ));
        }
        let mut attempts = 0;
        let refusal = loop {
            match self.raw.remove_kind(kind) {
                Ok(removed) => return Ok(removed),
                Err(Refusal::Busy) if attempts < REMOVE_ATTEMPTS => {
                    attempts += 1;
                    thread::yield_now();
                }
                Err(refusal) => break refusal,
            }
        };
        let kind = kind.to_owned();
        Err(match refusal {
            Refusal::NotEmpty => crate::Error::KindNotEmpty { kind },
            Refusal::Watched => crate::Error::KindWatched { kind },
            Refusal::Busy => crate::Error::KindBusy { kind },
            Refusal::AlreadyRemoved => unreachable!("the raw layer reports it as removed"),
        })
    }

    /// Closes the store: every watch ends (a blocked `recv` wakes with
    /// [`WatchError::Closed`](crate::WatchError::Closed)) and every later call
    /// on any handle returns [`Error::Closed`](crate::Error::Closed). Idempotent.
    pub fn close(&self) {
        // The protocol (P5) is in `raw/store.rs`.
        self.raw.close();
    }

    /// True once [`close`](Self::close) was called.
    pub fn is_closed(&self) -> bool {
        self.raw.is_closed()
    }

    /// Writes every kind and entry, in order, in a human-readable form.
    /// A closed store writes nothing and returns an error wrapping
    /// [`Error::Closed`](crate::Error::Closed).
    pub fn dump(&self, out: &mut impl io::Write) -> io::Result<()>
    where
        T: fmt::Debug,
    {
        let all = self.get_all().map_err(io::Error::other)?;
        for (kind, entries) in &all {
            let noun = if entries.len() == 1 {
                "entry"
            } else {
                "entries"
            };
            writeln!(out, "kind {kind:?} ({} {noun})", entries.len())?;
            for (key, value) in entries {
                writeln!(out, "  {key:?} => {:?}", &**value)?;
            }
        }
        Ok(())
    }
}

// A panic in user code (compare, validator, update closure) leaves the store
// whole: it runs before any revision is taken, and a revision taken is always
// published (I3). So a `Store` observed after a caught panic is consistent.
impl<T: std::panic::RefUnwindSafe> std::panic::UnwindSafe for Store<T> {}
impl<T: std::panic::RefUnwindSafe> std::panic::RefUnwindSafe for Store<T> {}

impl<T: Send + Sync + 'static> fmt::Debug for Store<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut kinds = 0;
        self.raw.scan_kinds(|_, _| {
            kinds += 1;
            ControlFlow::Continue(())
        });
        f.debug_struct("Store")
            .field("kinds", &kinds)
            .field("ring_capacity", &self.raw.ring_capacity())
            .field("closed", &self.raw.is_closed())
            .finish_non_exhaustive()
    }
}

/// The default compare function of a [`StoreBuilder`]: `PartialEq`.
#[derive(Debug, Clone, Copy, Default)]
pub struct UsePartialEq;

/// Configures a [`Store`]: compare function, validators, ring capacity.
///
/// ```
/// use zestor::Store;
///
/// #[derive(Debug)]
/// struct User { name: String, email: String }
///
/// let store = Store::<User>::builder()
///     // Only an email change is a real update.
///     .compare(|old, new| old.email == new.email)
///     .validate("users", |user: &User| {
///         if user.email.contains('@') { Ok(()) } else { Err("invalid email format") }
///     })
///     .ring_capacity(4096)
///     .build();
/// # let _ = store;
/// ```
///
/// `build` needs a compare function: `T: PartialEq` provides the default,
/// and for other types [`compare`](Self::compare) is required (without it,
/// `build` does not compile).
pub struct StoreBuilder<T, C = UsePartialEq> {
    compare: C,
    validators: HashMap<String, Arc<ValidateFn<T>>>,
    ring_capacity: usize,
    history: usize,
    hash_index_at: Option<usize>,
    hashing: KeyHashing,
    journal: Option<Arc<dyn Journal<T>>>,
}

impl<T, C> StoreBuilder<T, C> {
    /// The ring capacity used when none is set.
    pub const DEFAULT_RING_CAPACITY: usize = 1024;
    /// The largest ring capacity; larger requests are clamped to it.
    pub const MAX_RING_CAPACITY: usize = 1 << 20;
    /// The history an unwatched kind keeps when none is set: its last 16
    /// revisions.
    pub const DEFAULT_HISTORY: usize = 16;
    /// The key at which a kind builds its hash index when none is set: its
    /// 64th.
    pub const DEFAULT_HASH_INDEX_AT: usize = crate::sync::DEFAULT_POINT_THRESHOLD;

    /// Sets the compare function: `true` means old and new are equal, so a
    /// `set` or `update` stores nothing and emits no event.
    pub fn compare<F>(self, compare: F) -> StoreBuilder<T, F>
    where
        F: Fn(&T, &T) -> bool + Send + Sync + 'static,
    {
        StoreBuilder {
            compare,
            validators: self.validators,
            ring_capacity: self.ring_capacity,
            history: self.history,
            hash_index_at: self.hash_index_at,
            hashing: self.hashing,
            journal: self.journal,
        }
    }

    /// How keys are hashed for point lookups; [`KeyHashing::Fast`] by
    /// default. Choose [`KeyHashing::DosResistant`] when keys come from
    /// untrusted input (it costs about 180 more instructions per point
    /// operation on short keys).
    pub fn key_hashing(mut self, hashing: KeyHashing) -> Self {
        self.hashing = hashing;
        self
    }

    /// Sets the validator of `kind`, run on every value before it is written
    /// to that kind (by `set`, `set_many` or `update`). An `Err` rejects the
    /// write with [`Error::Validation`](crate::Error::Validation), which carries this error as its
    /// source. A second call for the same kind replaces the first.
    pub fn validate<F, E>(mut self, kind: &str, validate: F) -> Self
    where
        F: Fn(&T) -> std::result::Result<(), E> + Send + Sync + 'static,
        E: Into<BoxError>,
    {
        let validate = move |value: &T| validate(value).map_err(Into::into);
        self.validators.insert(kind.to_owned(), Arc::new(validate));
        self
    }

    /// How many recent events each kind keeps for its watchers (default
    /// 1024). Rounded up to a power of two, clamped to
    /// `1..=`[`MAX_RING_CAPACITY`](Self::MAX_RING_CAPACITY). A watcher's
    /// buffer size may not exceed it.
    pub fn ring_capacity(mut self, capacity: usize) -> Self {
        self.ring_capacity = capacity;
        self
    }

    /// At which key a kind builds its hash index: when it creates its
    /// `keys`-th key (default [`DEFAULT_HASH_INDEX_AT`](Self::DEFAULT_HASH_INDEX_AT),
    /// 64; `0` builds it with the kind).
    ///
    /// Until then the kind answers point operations from its ordered index,
    /// a skip list: about 2–3× slower on a kind of a dozen keys, and no
    /// hash index to pay for — a hash index costs about 17 KB, more than a
    /// kind of a few dozen small keys holds. Choose `0` for a few small
    /// kinds read in a hot loop, where latency matters more than memory.
    /// Either way reads see the same data; the switch is invisible to them.
    ///
    /// ```
    /// use zestor::Store;
    ///
    /// // Three small, hot kinds: hash-indexed from their first key.
    /// let store = Store::<u64>::builder().hash_index_at(0).build();
    /// store.set("limits", "rate", 100).unwrap();
    /// assert_eq!(*store.get("limits", "rate").unwrap().unwrap(), 100);
    /// ```
    pub fn hash_index_at(mut self, keys: usize) -> Self {
        self.hash_index_at = Some(keys);
        self
    }

    /// How many of its latest revisions a kind keeps while nobody watches
    /// it, for watches that resume from the past
    /// ([`start_revision`](crate::WatchOptions::start_revision)); default
    /// [`DEFAULT_HISTORY`](Self::DEFAULT_HISTORY) (16), clamped to the ring
    /// capacity.
    ///
    /// This is the memory bound of history: an unwatched kind keeps alive
    /// its live values plus the values its last `revisions` writes replaced
    /// or deleted; a watched kind, of its last `ring_capacity` writes, since
    /// its watchers may still need them. Older revisions are freed by the
    /// next write, and a watch resumed from one fails with
    /// [`Error::Compacted`](crate::Error::Compacted). Choose `0` to keep no
    /// history (a value is freed as soon as it is replaced and no watcher
    /// can need it), or the ring capacity to keep everything the ring holds
    /// (the behaviour before this setting existed).
    ///
    /// ```
    /// use zestor::{Store, WatchOptions};
    ///
    /// let store = Store::<Vec<u8>>::builder().history(2).build();
    /// for round in 0..10u8 {
    ///     store.set("blobs", "big", vec![round; 1 << 20]).unwrap();
    /// }
    /// // Revisions 9 and 10 are kept; 8 and older, with their megabytes, are gone.
    /// assert!(store.watch("blobs", WatchOptions::new().start_revision(9)).is_ok());
    /// assert!(store.watch("blobs", WatchOptions::new().start_revision(8)).is_err());
    /// ```
    pub fn history(mut self, revisions: usize) -> Self {
        self.history = revisions;
        self
    }

    /// Makes `journal` the store's copy of record: it is told every
    /// revision and asked before and after every write (see [`Journal`]).
    /// This is how `zestor-durable` keeps a store on disk; most users call
    /// `zestor_durable::open` rather than this.
    pub fn journal(mut self, journal: impl Journal<T>) -> Self {
        self.journal = Some(Arc::new(journal));
        self
    }

    /// The compare function, and the rest of the configuration.
    fn split_compare(self) -> (C, StoreBuilder<T, ()>) {
        let rest = StoreBuilder {
            compare: (),
            validators: self.validators,
            ring_capacity: self.ring_capacity,
            history: self.history,
            hash_index_at: self.hash_index_at,
            hashing: self.hashing,
            journal: self.journal,
        };
        (self.compare, rest)
    }

    fn effective_ring_capacity(&self) -> usize {
        self.ring_capacity
            .clamp(1, Self::MAX_RING_CAPACITY)
            .next_power_of_two()
    }
}

impl<T: PartialEq + Send + Sync + 'static> StoreBuilder<T, UsePartialEq> {
    /// Builds the store, comparing values with `PartialEq`.
    pub fn build(self) -> Store<T> {
        let (_, rest) = self.split_compare();
        Store::from_parts(Arc::new(|old: &T, new: &T| old == new), rest)
    }
}

impl<T, F> StoreBuilder<T, F>
where
    T: Send + Sync + 'static,
    F: Fn(&T, &T) -> bool + Send + Sync + 'static,
{
    /// Builds the store with the compare function given to
    /// [`compare`](Self::compare).
    pub fn build(self) -> Store<T> {
        let (compare, rest) = self.split_compare();
        Store::from_parts(Arc::new(compare), rest)
    }
}

impl<T, C> fmt::Debug for StoreBuilder<T, C> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut kinds: Vec<&str> = self.validators.keys().map(String::as_str).collect();
        kinds.sort_unstable();
        f.debug_struct("StoreBuilder")
            .field("validated_kinds", &kinds)
            .field("ring_capacity", &self.ring_capacity)
            .field("history", &self.history)
            .field(
                "hash_index_at",
                &self.hash_index_at.unwrap_or(Self::DEFAULT_HASH_INDEX_AT),
            )
            .field("journal", &self.journal.is_some())
            .finish_non_exhaustive()
    }
}
