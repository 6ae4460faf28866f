//! [`Mirror`]: a replica of one kind that heals itself, for controllers
//! and caches (the informer / reflector pattern, without the re-list code).
//!
//! # How it works
//!
//! A mirror keeps the kind's state at one revision (the *replica*) and the
//! consumer's view of it: the replica minus the changes not yet yielded,
//! which wait in a *backlog*, one entry per key (a controller's work queue).
//!
//! * **Syncing** (at creation, and whenever its watch overflows): subscribe,
//!   then take a snapshot at `S` and start the watch at `S + 1` (P4 without
//!   its replay: registered first, the watch holds the kind's history after
//!   `S`, so it never fails with `Compacted`, whatever `history` is), then
//!   walk the snapshot, look each key up in the replica, and stage every
//!   difference — a key changed, added or removed — in the backlog, in key
//!   order, stamped `S`. The walk drains the new watch every [`DRAIN_EVERY`] keys into a
//!   side list, applied on top once the walk is done, so a long walk under
//!   a fast writer does not overflow it. If it overflows anyway (a writer
//!   that outruns the walk, or a walker preempted for a whole ring), the
//!   backlog the walk found is yielded first, and the mirror walks again
//!   when it is empty: each walk serves the consumer all it found. No change is lost between the
//!   snapshot and the watch: the watch starts exactly after `S` (P4 in
//!   `raw/kind.rs`; loom `p4_replay`),
//!   and a write in flight during the walk is in the snapshot or after `S`.
//! * **Keeping up**: with nothing in the backlog, each event of the watch
//!   is applied to the replica and yielded at once, with the value it
//!   replaced read from the replica. With a backlog — after a sync, or once
//!   the consumer is more than half its buffer behind the kind — every event
//!   the watch has ready is applied to the replica first and staged: a key
//!   already in the backlog keeps its place and takes the newer change
//!   (coalescing), so the backlog never holds more than one change per key,
//!   and draining it early keeps the watch from overflowing.
//! * **Yielding** a staged key compares the consumer's view of it with the
//!   replica: absent → present is a create, present → another value an
//!   update, present → absent a delete; a key that came back to what the
//!   consumer saw yields nothing.
//!
//! Invariant: after each yielded event, applying every yielded event in
//! order to an empty map gives exactly [`Mirror::list`]; with an empty
//! backlog that is the kind's state at [`Mirror::revision`].
//!
//! The replica is a hash map (foldhash), not a `BTreeMap`: applying an
//! event is one hash lookup instead of a dozen key comparisons, which was
//! most of a mirror's cost per event (`benches/mirror.rs`). Key order is
//! needed only by `list` and by a sync's differences, which sort.

use std::collections::{HashMap, VecDeque};
use std::fmt;
use std::ops::{Bound, ControlFlow};
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use crate::error::WatchError;
use crate::raw::cursor::Filter;
use crate::raw::gate::Removed;
use crate::raw::kind::{RawKind, RawSnapshot};
use crate::raw::store::RawStore;
use crate::raw::version::{EventType, EventTypes};
use crate::sync::Arc;
use crate::value::Value;
use crate::watch::{Event, Watch, WatchOptions};

/// A key and its value after a change (`None`: removed).
type Change<T> = (Arc<str>, Option<Value<T>>);

/// The mirror's maps: keyed by the store's own key strings, hashed fast.
type Map<V> = HashMap<Arc<str>, V, foldhash::fast::RandomState>;

/// A replica entry.
struct Held<T> {
    value: Value<T>,
    /// The sync attempt that last found the key in its snapshot: a key not
    /// found by the current one was removed.
    seen: u64,
}

/// How many snapshot keys a resync walks between two drains of its watch.
const DRAIN_EVERY: usize = 256;

/// A change the consumer has not been shown yet.
struct Staged<T> {
    /// The consumer's view of the key: what it was last shown.
    shown: Option<Value<T>>,
    /// The revision of the latest change (a resync's snapshot revision for
    /// a change found by diffing).
    revision: u64,
}

/// A replica of one kind, kept in sync by the store and driven by its
/// consumer: from [`Store::mirror`](crate::Store::mirror) or
/// [`Kind::mirror`](crate::Kind::mirror).
///
/// A new mirror yields the kind's entries as creates, then every change, as
/// ordinary [`Event`]s (with [`previous`](Event::previous) filled from the
/// replica). It never overflows and never ends on its own: when it falls
/// behind — its watch overflows, or the revision it needs is compacted — it
/// takes a snapshot, yields the difference between what the consumer was
/// shown and the snapshot (creates, updates and deletes, in key order,
/// stamped with the snapshot's revision) and follows the kind from there
/// ([`resyncs`](Self::resyncs) counts these). Only
/// [`Store::close`](crate::Store::close) ends it ([`WatchError::Closed`]).
///
/// A consumer slower than the writers is still served: once it is more
/// than half its buffer behind, or after a resync, the replica moves on and
/// the changes not yet yielded coalesce per key — at most one pending
/// change per key ([`pending`](Self::pending)), in the order the keys first
/// changed, each carrying its latest value and revision. Such a consumer
/// sees changes coalesced, never lost. A consumer that keeps up gets every
/// event, one by one, as a watch would deliver it.
///
/// **Invariant.** After each event it yields, applying the yielded events
/// in order to an empty map gives exactly [`list`](Self::list); once
/// nothing is pending, that is the kind's state at
/// [`revision`](Self::revision). With an event-type filter the replica still
/// holds every key (the filter hides events, not state), and with a
/// [`prefix`](WatchOptions::prefix) it holds only the keys under it.
///
/// Consume it by blocking ([`recv`](Self::recv),
/// [`recv_timeout`](Self::recv_timeout), the [`Iterator`] impl), by polling
/// ([`try_recv`](Self::try_recv)), or asynchronously
/// ([`into_stream`](Self::into_stream)). A call that has to resync walks the
/// whole kind (or prefix) once: O(keys), without waiting for anyone.
///
/// ```
/// use zestor::{EventType, Store};
///
/// let store = Store::<u32>::new();
/// store.set("jobs", "a", 1)?;
/// let mut mirror = store.mirror("jobs")?;
/// store.set("jobs", "a", 2)?;
///
/// let created = mirror.recv()?; // the replica starts with the kind's entries
/// assert_eq!((created.event_type, *created.value), (EventType::Create, 1));
/// let updated = mirror.recv()?;
/// assert_eq!(*updated.value, 2);
/// assert_eq!(updated.previous.as_deref(), Some(&1));
/// assert_eq!(mirror.get("a").as_deref(), Some(&2));
/// assert_eq!(mirror.revision(), store.revision("jobs")?);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub struct Mirror<T: Send + Sync + 'static> {
    store: Arc<RawStore<T>>,
    raw: Arc<RawKind<T>>,
    kind: Arc<str>,
    /// What the consumer asked for: buffer size, prefix, event types.
    options: WatchOptions,
    /// Follows the kind from the replica's revision on (all event types).
    watch: Watch<T>,
    /// The watch overflowed during the last sync: once the backlog is
    /// yielded, the next look at it resyncs (an ended watch reports
    /// `Closed`, so it is not asked).
    stale: bool,
    /// The kind's state at `watch.revision()` (prefix keys only).
    replica: Map<Held<T>>,
    /// Numbers sync attempts, for `Held::seen`.
    syncs: u64,
    /// Keys whose change the consumer has not been shown, in the order they
    /// first changed; `staged` holds what it was shown for each.
    backlog: VecDeque<Arc<str>>,
    staged: Map<Staged<T>>,
    /// How many keys the consumer's view holds.
    shown_len: usize,
    resyncs: u64,
    /// Set by a resync: the next call yields from the backlog before it
    /// looks at the watch again, so back-to-back resyncs still make progress.
    just_synced: bool,
}

impl<T: Send + Sync + 'static> Mirror<T> {
    /// A mirror of `raw`, synced at its current revision. `options` passed
    /// `check_mirror`.
    pub(crate) fn new(
        store: Arc<RawStore<T>>,
        raw: Arc<RawKind<T>>,
        options: WatchOptions,
    ) -> Result<Self, WatchError> {
        let kind = Arc::from(&**raw.name());
        let mut replica = Map::default();
        let mut syncs = 0;
        // A fresh mirror diffs against an empty replica: every entry.
        let mut raw = raw;
        let synced = sync_until_done(&store, &mut raw, &options, &mut replica, &mut syncs)?;
        let mut mirror = Mirror {
            store,
            raw,
            kind,
            options,
            watch: synced.watch,
            stale: false,
            replica,
            syncs,
            backlog: VecDeque::new(),
            staged: Map::default(),
            shown_len: 0,
            resyncs: 0,
            just_synced: true,
        };
        mirror.apply_sync(synced.revision, synced.changes, synced.early, synced.stale);
        Ok(mirror)
    }

    /// The kind this mirror follows.
    pub fn kind(&self) -> &str {
        &self.kind
    }

    /// The value under `key` as the consumer has been shown it.
    pub fn get(&self, key: &str) -> Option<Value<T>> {
        match self.staged.get(key) {
            Some(staged) => staged.shown.clone(),
            None => self.replica.get(key).map(|held| held.value.clone()),
        }
    }

    /// Every entry the consumer has been shown, in key order: what applying
    /// the yielded events to an empty map gives.
    pub fn list(&self) -> Vec<(Arc<str>, Value<T>)> {
        let mut out = Vec::with_capacity(self.shown_len);
        for (key, held) in &self.replica {
            let shown = match self.staged.get(key) {
                Some(staged) => staged.shown.as_ref(),
                None => Some(&held.value),
            };
            if let Some(shown) = shown {
                out.push((Arc::clone(key), shown.clone()));
            }
        }
        // Staged keys the replica no longer holds, still shown.
        for (key, staged) in &self.staged {
            if let (Some(shown), false) = (&staged.shown, self.replica.contains_key(key)) {
                out.push((Arc::clone(key), shown.clone()));
            }
        }
        out.sort_unstable_by(|a, b| a.0.cmp(&b.0));
        out
    }

    /// How many entries the consumer has been shown.
    pub fn len(&self) -> usize {
        self.shown_len
    }

    /// True if the consumer has been shown no entry.
    pub fn is_empty(&self) -> bool {
        self.shown_len == 0
    }

    /// The store revision the replica reflects: every write to the kind at
    /// or below it has been taken in, none above. When
    /// [`pending`](Self::pending) is zero, [`list`](Self::list) is the
    /// kind's state at this revision.
    pub fn revision(&self) -> u64 {
        self.watch.revision()
    }

    /// How many keys have a change the consumer has not been shown yet (at
    /// most one change per key).
    pub fn pending(&self) -> usize {
        self.staged.len()
    }

    /// How many times the mirror fell behind and re-synced from a snapshot
    /// (the first sync, at creation, is not counted).
    pub fn resyncs(&self) -> u64 {
        self.resyncs
    }

    /// True once the store is closed: every receive returns
    /// [`WatchError::Closed`]. The replica stays readable.
    pub fn is_closed(&self) -> bool {
        self.store.is_closed()
    }

    /// Blocks until the next change. The only error is
    /// [`WatchError::Closed`].
    pub fn recv(&mut self) -> Result<Event<T>, WatchError> {
        loop {
            if let Some(event) = self.try_recv()? {
                return Ok(event);
            }
            // Nothing staged and nothing ready: wait for the watch.
            let next = self.ask_watch(|watch| watch.recv().map(Some));
            let next = next.expect("a blocking receive returns a result");
            if let Some(event) = self.take(next)? {
                return Ok(event);
            }
        }
    }

    /// Like [`recv`](Self::recv), but gives up after `timeout`: `Ok(None)`.
    pub fn recv_timeout(&mut self, timeout: Duration) -> Result<Option<Event<T>>, WatchError> {
        let deadline = Instant::now().checked_add(timeout);
        loop {
            if let Some(event) = self.try_recv()? {
                return Ok(Some(event));
            }
            let left = match deadline {
                Some(deadline) => deadline.saturating_duration_since(Instant::now()),
                None => Duration::MAX,
            };
            let Some(next) = self.ask_watch(|watch| watch.recv_timeout(left)) else {
                return Ok(None);
            };
            if let Some(event) = self.take(next)? {
                return Ok(Some(event));
            }
        }
    }

    /// The next change if one is ready: `Ok(None)` if there is none yet.
    pub fn try_recv(&mut self) -> Result<Option<Event<T>>, WatchError> {
        // The common case, a consumer keeping up: straight from the watch
        // (which reports a close itself), applied, shown.
        if self.staged.is_empty() && !self.stale && !self.lagging() {
            match self.watch.try_recv() {
                Ok(None) => return Ok(None),
                Ok(Some(event)) => {
                    if let Some(event) = self.apply_now(event) {
                        return Ok(Some(event));
                    }
                }
                Err(error) => {
                    if let Some(event) = self.take(Err(error))? {
                        return Ok(Some(event));
                    }
                }
            }
        }
        self.try_recv_slow()
    }

    /// `try_recv` with a backlog, a lag, or a dead watch.
    #[cold]
    fn try_recv_slow(&mut self) -> Result<Option<Event<T>>, WatchError> {
        // Checked first: a backlog must not outlive the close.
        if self.store.is_closed() {
            return Err(WatchError::Closed);
        }
        loop {
            if !self.staged.is_empty() {
                // Right after a sync, and while its watch is dead (`stale`),
                // the backlog goes first: a writer that outruns every walk
                // would otherwise have the mirror walk again and again with
                // the consumer served one change per walk.
                if !std::mem::take(&mut self.just_synced) && !self.stale {
                    self.drain()?;
                }
                if let Some(event) = self.pop_staged() {
                    return Ok(Some(event));
                }
                continue;
            }
            self.just_synced = false;
            if !self.stale && self.lagging() {
                // Far behind: fold what is ready into the backlog, one
                // change per key, before the ring overflows.
                self.drain()?;
                if !self.staged.is_empty() {
                    continue;
                }
            }
            let Some(next) = self.ask_watch(Watch::try_recv) else {
                return Ok(None);
            };
            if let Some(event) = self.take(next)? {
                return Ok(Some(event));
            }
        }
    }

    /// The asynchronous form: a [`futures_core::Stream`] of the same events,
    /// which ends when the store is closed.
    pub fn into_stream(self) -> MirrorStream<T> {
        MirrorStream { mirror: self }
    }

    // ----- internals -----

    /// The watch's next result through `receive` (`None`: nothing yet), or
    /// the overflow a stale watch stands for (it is not asked: an ended
    /// watch says `Closed`).
    #[inline]
    fn ask_watch(
        &mut self,
        receive: impl FnOnce(&mut Watch<T>) -> Result<Option<Event<T>>, WatchError>,
    ) -> Option<Result<Event<T>, WatchError>> {
        match self.stale {
            true => Some(Err(WatchError::Overflow)),
            false => receive(&mut self.watch).transpose(),
        }
    }

    /// More than half the buffer behind the kind: a consumer not keeping up.
    #[inline]
    fn lagging(&self) -> bool {
        let behind = self.raw.revision().saturating_sub(self.watch.revision());
        behind > (self.options.buffer_size / 2) as u64
    }

    /// One result of the watch, with nothing staged: applied and, if the
    /// consumer should see it, returned. An overflow resyncs.
    fn take(&mut self, next: Result<Event<T>, WatchError>) -> Result<Option<Event<T>>, WatchError> {
        match next {
            Ok(event) => Ok(self.apply_now(event)),
            Err(WatchError::Overflow) => {
                self.resync()?;
                Ok(None)
            }
            Err(WatchError::Closed) => Err(WatchError::Closed),
        }
    }

    /// Applies a watch event to the replica and shows it at once (nothing
    /// is staged, so the consumer's view is the replica): the event itself,
    /// with the replaced value from the replica.
    #[inline]
    fn apply_now(&mut self, mut event: Event<T>) -> Option<Event<T>> {
        debug_assert!(self.staged.is_empty());
        let after = match event.event_type {
            EventType::Delete => None,
            EventType::Create | EventType::Update => Some(event.value.clone()),
        };
        let before = write(&mut self.replica, &event.key, after);
        let event_type = match (&before, event.event_type) {
            (None, EventType::Delete) => return None,
            (None, _) => {
                self.shown_len += 1;
                EventType::Create
            }
            (Some(before), EventType::Delete) => {
                self.shown_len -= 1;
                event.value = before.clone();
                EventType::Delete
            }
            (Some(before), _) if Value::ptr_eq(before, &event.value) => return None,
            (Some(_), _) => EventType::Update,
        };
        event.event_type = event_type;
        event.previous = before;
        self.options.types.contains(event_type).then_some(event)
    }

    /// With a backlog: applies and stages every event the watch has ready
    /// (at most a buffer's worth, so a flat-out writer cannot keep the
    /// consumer from its next event). An overflow resyncs.
    fn drain(&mut self) -> Result<(), WatchError> {
        for _ in 0..self.options.buffer_size.max(DRAIN_EVERY) {
            match self.watch.try_recv() {
                Ok(Some(event)) => {
                    let revision = event.revision;
                    let (key, after) = into_change(event);
                    self.stage(key, after, revision);
                }
                Ok(None) => break,
                Err(WatchError::Overflow) => return self.resync(),
                Err(WatchError::Closed) => return Err(WatchError::Closed),
            }
        }
        Ok(())
    }

    /// Moves the replica to a fresh snapshot (see the module docs).
    fn resync(&mut self) -> Result<(), WatchError> {
        let synced = sync_until_done(
            &self.store,
            &mut self.raw,
            &self.options,
            &mut self.replica,
            &mut self.syncs,
        )?;
        self.watch = synced.watch;
        self.resyncs += 1;
        self.apply_sync(synced.revision, synced.changes, synced.early, synced.stale);
        Ok(())
    }

    /// Stages a sync's differences (stamped with its snapshot's revision),
    /// then the events its watch delivered during the walk.
    fn apply_sync(
        &mut self,
        revision: u64,
        changes: Vec<Change<T>>,
        early: Vec<Event<T>>,
        stale: bool,
    ) {
        for (key, after) in changes {
            self.stage(key, after, revision);
        }
        for event in early {
            let revision = event.revision;
            let (key, after) = into_change(event);
            self.stage(key, after, revision);
        }
        self.stale = stale;
        self.just_synced = true;
    }

    /// Applies a change to the replica and stages it for the consumer.
    fn stage(&mut self, key: Arc<str>, after: Option<Value<T>>, revision: u64) {
        let before = write(&mut self.replica, &key, after);
        match self.staged.entry(key) {
            std::collections::hash_map::Entry::Occupied(mut staged) => {
                staged.get_mut().revision = revision;
            }
            std::collections::hash_map::Entry::Vacant(slot) => {
                self.backlog.push_back(Arc::clone(slot.key()));
                slot.insert(Staged {
                    shown: before,
                    revision,
                });
            }
        }
    }

    /// Shows the consumer the oldest staged key, skipping keys whose changes
    /// cancelled out (or that the event-type filter hides).
    fn pop_staged(&mut self) -> Option<Event<T>> {
        while let Some(key) = self.backlog.pop_front() {
            let staged = self
                .staged
                .remove(&key)
                .expect("every backlog key is staged");
            let after = self.replica.get(&key).map(|held| held.value.clone());
            if let Some(event) = self.show(key, staged.shown, after, staged.revision) {
                return Some(event);
            }
        }
        None
    }

    /// The consumer's view of `key` goes from `before` to `after`: the event
    /// that says so, if any and if the filter admits it.
    fn show(
        &mut self,
        key: Arc<str>,
        before: Option<Value<T>>,
        after: Option<Value<T>>,
        revision: u64,
    ) -> Option<Event<T>> {
        let (event_type, value, previous) = match (before, after) {
            (None, None) => return None,
            (None, Some(after)) => {
                self.shown_len += 1;
                (EventType::Create, after, None)
            }
            (Some(before), Some(after)) => {
                if Value::ptr_eq(&before, &after) {
                    return None;
                }
                (EventType::Update, after, Some(before))
            }
            (Some(before), None) => {
                self.shown_len -= 1;
                (EventType::Delete, before.clone(), Some(before))
            }
        };
        self.options.types.contains(event_type).then(|| Event {
            kind: Arc::clone(&self.kind),
            key,
            event_type,
            value,
            revision,
            previous,
        })
    }
}

/// What a sync found: the snapshot's revision, the new watch (from the
/// next revision on), the differences with the replica (key order; `None`:
/// removed), the events the watch delivered during the walk, and whether it
/// overflowed meanwhile.
struct Synced<T: Send + Sync + 'static> {
    revision: u64,
    watch: Watch<T>,
    changes: Vec<Change<T>>,
    early: Vec<Event<T>>,
    stale: bool,
}

/// Syncs against `replica` (see the module docs): the watch registers
/// before the snapshot is taken, so it always starts right after it.
fn sync_until_done<T: Send + Sync + 'static>(
    store: &Arc<RawStore<T>>,
    raw: &mut Arc<RawKind<T>>,
    options: &WatchOptions,
    replica: &mut Map<Held<T>>,
    syncs: &mut u64,
) -> Result<Synced<T>, WatchError> {
    *syncs += 1;
    sync(store, raw, options, replica, *syncs)
}

/// One sync against `replica` (see the module docs).
fn sync<T: Send + Sync + 'static>(
    store: &Arc<RawStore<T>>,
    raw: &mut Arc<RawKind<T>>,
    options: &WatchOptions,
    replica: &mut Map<Held<T>>,
    attempt: u64,
) -> Result<Synced<T>, WatchError> {
    if store.is_closed() {
        return Err(WatchError::Closed);
    }
    let filter = Filter {
        buffer: options.buffer_size as u64,
        // The replica needs every change; the mirror filters what it shows.
        types: EventTypes::ALL,
        prefix: options.prefix.clone(),
        // The replica knows what each write replaced.
        previous: false,
    };
    // A kind removed since this mirror last looked (it was not watched
    // then): the mirror follows the name (P8, `raw/gate.rs`).
    let (cursor, snapshot) = loop {
        match raw.subscribe_at_snapshot(filter.clone()) {
            Ok(subscribed) => break subscribed,
            Err(Removed) => *raw = store.kind_or_create(raw.name()),
        }
    };
    let revision = snapshot.revision();
    let mut watch = Watch::new(Arc::clone(store), cursor);
    let mut early = Vec::new();
    let mut stale = false;
    let changes = diff(
        &snapshot,
        options.prefix.as_deref(),
        replica,
        attempt,
        || drain_into(&mut watch, &mut early, &mut stale),
    )?;
    drain_into(&mut watch, &mut early, &mut stale)?;
    drop(snapshot);
    Ok(Synced {
        revision,
        watch,
        changes,
        early,
        stale,
    })
}

/// Moves what `watch` has ready into `early`. Once it overflowed (`stale`)
/// it is left alone: the mirror resyncs again at its next look. Only
/// `Closed` is an error.
fn drain_into<T: Send + Sync + 'static>(
    watch: &mut Watch<T>,
    early: &mut Vec<Event<T>>,
    stale: &mut bool,
) -> Result<(), WatchError> {
    while !*stale {
        match watch.try_recv() {
            Ok(Some(event)) => early.push(event),
            Ok(None) => break,
            Err(WatchError::Overflow) => *stale = true,
            Err(WatchError::Closed) => return Err(WatchError::Closed),
        }
    }
    Ok(())
}

/// The differences between `replica` and the snapshot, in key order,
/// calling `between` every [`DRAIN_EVERY`] keys. Marks each key it finds
/// `seen` by `attempt`: the keys left unmarked were removed.
fn diff<T: Send + Sync + 'static>(
    snapshot: &RawSnapshot<T>,
    prefix: Option<&str>,
    replica: &mut Map<Held<T>>,
    attempt: u64,
    mut between: impl FnMut() -> Result<(), WatchError>,
) -> Result<Vec<Change<T>>, WatchError> {
    let mut changes = Vec::new();
    let mut found = 0usize;
    let mut walked = 0usize;
    let mut failed = Ok(());
    let prefix = prefix.unwrap_or("");
    let from = match prefix {
        "" => Bound::Unbounded,
        prefix => Bound::Included(prefix),
    };
    snapshot.scan((from, Bound::Unbounded), |version, _| {
        let key = &version.key;
        if !key.starts_with(prefix) {
            return ControlFlow::Break(()); // keys are ordered
        }
        let unchanged = match replica.get_mut(&**key) {
            Some(held) => {
                held.seen = attempt;
                found += 1;
                held.value.is_version(version)
            }
            None => false,
        };
        if !unchanged {
            changes.push((Arc::clone(key), Some(Value::new(Arc::clone(version)))));
        }
        walked += 1;
        if walked % DRAIN_EVERY == 0 {
            if let Err(error) = between() {
                failed = Err(error);
                return ControlFlow::Break(());
            }
        }
        ControlFlow::Continue(())
    });
    failed?;
    if found < replica.len() {
        let removed = replica.iter().filter(|(_, held)| held.seen != attempt);
        changes.extend(removed.map(|(key, _)| (Arc::clone(key), None)));
        // The walk's changes are in key order already; the removed keys not.
        changes.sort_unstable_by(|a, b| a.0.cmp(&b.0));
    }
    Ok(changes)
}

/// An event as the change it makes: the key and its value after (`None`:
/// deleted).
fn into_change<T>(event: Event<T>) -> (Arc<str>, Option<Value<T>>) {
    match event.event_type {
        EventType::Delete => (event.key, None),
        EventType::Create | EventType::Update => (event.key, Some(event.value)),
    }
}

/// Writes `after` under `key`; what was there. (Looked up by `&str`, so
/// an update does not touch the key's reference count.)
fn write<T>(
    replica: &mut Map<Held<T>>,
    key: &Arc<str>,
    after: Option<Value<T>>,
) -> Option<Value<T>> {
    match after {
        Some(after) => match replica.get_mut(&**key) {
            Some(held) => Some(std::mem::replace(&mut held.value, after)),
            None => {
                let held = Held {
                    value: after,
                    seen: 0,
                };
                replica.insert(Arc::clone(key), held);
                None
            }
        },
        None => replica.remove(&**key).map(|held| held.value),
    }
}

impl<T: Send + Sync + 'static> Iterator for Mirror<T> {
    type Item = Event<T>;

    /// Blocks for the next change; ends when the store is closed.
    fn next(&mut self) -> Option<Event<T>> {
        self.recv().ok()
    }
}

impl<T: Send + Sync + 'static> std::iter::FusedIterator for Mirror<T> {}

impl<T: Send + Sync + 'static> fmt::Debug for Mirror<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Mirror")
            .field("kind", &self.kind)
            .field("revision", &self.revision())
            .field("len", &self.len())
            .field("pending", &self.pending())
            .field("resyncs", &self.resyncs)
            .finish_non_exhaustive()
    }
}

/// A [`Mirror`] as a [`futures_core::Stream`] of its events, from
/// [`Mirror::into_stream`]. It ends when the store is closed; until then a
/// pending poll is woken by the next write to the kind (or by `close`).
pub struct MirrorStream<T: Send + Sync + 'static> {
    mirror: Mirror<T>,
}

impl<T: Send + Sync + 'static> MirrorStream<T> {
    /// The mirror, to read its replica between events.
    pub fn get_ref(&self) -> &Mirror<T> {
        &self.mirror
    }

    /// The mirror back, to consume it by blocking.
    pub fn into_inner(self) -> Mirror<T> {
        self.mirror
    }
}

impl<T: Send + Sync + 'static> futures_core::Stream for MirrorStream<T> {
    type Item = Event<T>;

    fn poll_next(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Event<T>>> {
        let mirror = &mut self.get_mut().mirror;
        loop {
            match mirror.try_recv() {
                Ok(Some(event)) => return Poll::Ready(Some(event)),
                Ok(None) => {}
                Err(_) => return Poll::Ready(None),
            }
            let waker = cx.waker();
            let Some(next) = mirror.ask_watch(|watch| watch.poll_step(waker).transpose()) else {
                return Poll::Pending;
            };
            match mirror.take(next) {
                Ok(Some(event)) => return Poll::Ready(Some(event)),
                Ok(None) => {}
                Err(_) => return Poll::Ready(None),
            }
        }
    }
}

impl<T: Send + Sync + 'static> futures_core::FusedStream for MirrorStream<T> {
    fn is_terminated(&self) -> bool {
        self.mirror.is_closed()
    }
}

impl<T: Send + Sync + 'static> fmt::Debug for MirrorStream<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_tuple("MirrorStream").field(&self.mirror).finish()
    }
}
