//! One kind: its key index, its revision counter, its event ring and its
//! subscribers — and the write protocol (P1) and subscribe-with-replay (P4)
//! that tie them together.
//!
//! # P1, the write protocol (`set`, `update`, `delete` on key k)
//!
//! 1. find the cell (`KeyIndex`, `keys.rs`). `update` and `delete` stop
//!    when there is none (not found: they never create a cell); `set` gets
//!    the canonical cell, creating an `Empty` one;
//! 2. load its version `cur`; a tombstone means the cell is dead: help unlink
//!    it and start over (`set`), or report the key absent (`update`, `delete`);
//! 3. decide from `cur` alone: unchanged (the compare function says equal:
//!    return without a revision), not found, or the new payload — all user
//!    code (compare, validator, update closure) runs here, before a revision
//!    exists, so a panic there leaves nothing half-done;
//! 4. take a revision: `head.fetch_add(1)`, **after** the load of step 2;
//! 5. CAS `cur` → the new version; on failure publish a hole for the revision
//!    and go to 2 (an `update` closure may run again: it is `FnMut`);
//! 6. publish the version into the ring, fence (F1), then load the
//!    subscriber list: overflow the subscribers the replay floor picks (P4),
//!    wake the sleeping ones (`subscriber.rs`).
//!
//! Between 4 and 6 a [`Ticket`] owns the revision; if it is dropped without
//! being published (a failed CAS, a panic) it publishes a hole.
//!
//! * **I1, per-key order.** Writer B can only replace writer A's version
//!   after loading it. The cell's CAS is Release and its load Acquire, so A's
//!   `fetch_add` happens-before B's load, which is sequenced before B's
//!   `fetch_add`; read-modify-writes of `head` are totally ordered
//!   consistently with happens-before, hence A's revision < B's. Revisions of
//!   one key grow in the order its CASes succeeded, and a watcher that
//!   delivers in revision order ends on the value the store holds. That is
//!   why `fetch_add` can be Relaxed.
//! * **I2, real-time order.** A write that returned before another started
//!   has the smaller revision: both `fetch_add`s are on one location, and
//!   coherence orders them as real time does.
//! * **I3, every revision is published exactly once**, as a version or a
//!   hole, by `Ticket` — its `publish` consumes it, its `Drop` publishes the
//!   hole — so no watcher waits forever for a revision.
//! * **The live count** changes only after a successful CAS: +1 on
//!   Empty→Live, −1 on Live→Deleted. A delete can account before the create
//!   it follows, so the counter is signed and `count` clamps at 0; it is
//!   exact on a quiescent kind.
//! * Revisions are not dense: a lost CAS consumes one as a hole.
//!
//! # P4, subscribe with replay
//!
//! 1. `S = head`; `c0` = the lowest revision in `[S-C, S)` whose slot is not
//!    yet stamped with it (a write in flight), or `S`;
//! 2. register the subscriber with replay floor `F = S-C`; `fence(SeqCst)`
//!    (F2);
//! 3. walk the key index in order, keeping every version seen (live or
//!    tombstone, in a key-sorted vector): the live ones are replayed as
//!    creates;
//! 4. deliver ring events from `c0`, skipping an event for key k whose
//!    revision is at or below the version the walk saw for k (a binary
//!    search in that vector: the replay already reflects it). Once the cursor
//!    reaches `S2`, the head read after the walk, nothing needs filtering:
//!    any revision taken after the walk exceeds every revision the walk saw,
//!    and the vector is dropped.
//!
//! Revisions in `[S-C, c0)` were published before step 1's scan, so the
//! walk sees them. A revision below `S-C` may still be in flight (its writer
//! stalled for a whole lap) and land after the walk passed its key, with the
//! cursor already above it. The **replay floor** answers it: its producer
//! writes the cell, fences (F1) and reads the subscriber list; the
//! subscriber registers, fences (F2) and walks. Of F1 and F2 one is first in
//! the SeqCst order: either the walk sees the write, or the producer sees the
//! subscriber and, its revision being below the floor, overflows it.
//!
//! **I5, replay converges**: a consumer that applies the replay and then the
//! live events in receive order ends on the store's state, and a replayed
//! value never overwrites a newer live one. Without replay the cursor starts
//! at `S`, the floor is 0 and nothing is filtered.

use std::ops::{Bound, ControlFlow};

use super::cell::Cell;
use super::cursor::Cursor;
use super::hash::KeyHashing;
use super::keys::KeyIndex;
use super::ring::Ring;
use super::subscriber::{Subscriber, Subscribers};
use super::version::{EventTypes, Payload, Version};
use crate::error::{BoxError, Error};
use crate::sync::{Arc, AtomicI64, AtomicU64, Ordering};

/// What [`Store::set`](crate::Store::set) did.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum SetResult {
    /// The key was new; a create event was emitted.
    Created,
    /// The key existed and the value changed; an update event was emitted.
    Updated,
    /// The compare function called the old and new values equal: nothing was
    /// stored and no event was emitted.
    Unchanged,
}

/// The store's compare function: true means "equal, store nothing".
pub(crate) type CompareFn<T> = dyn Fn(&T, &T) -> bool + Send + Sync;
/// A kind's validator.
pub(crate) type ValidateFn<T> = dyn Fn(&T) -> Result<(), BoxError> + Send + Sync;

/// A kind's name and validator: what write arguments are checked against.
/// Checking before a kind is created means a rejected call creates nothing.
pub(crate) struct Validation<'a, T> {
    kind: &'a str,
    validator: Option<&'a ValidateFn<T>>,
}

impl<'a, T> Validation<'a, T> {
    pub(crate) fn new(kind: &'a str, validator: Option<&'a ValidateFn<T>>) -> Self {
        Validation { kind, validator }
    }

    /// Runs the validator, if any, on a value meant for `key`.
    pub(crate) fn validate(&self, key: &str, value: &T) -> Result<(), Error> {
        match self.validator {
            Some(validator) => validator(value).map_err(|source| Error::Validation {
                kind: self.kind.to_owned(),
                key: key.to_owned(),
                source,
            }),
            None => Ok(()),
        }
    }
}

pub(crate) struct RawKind<T> {
    name: Arc<str>,
    keys: KeyIndex<T>,
    /// The next revision to hand out; revisions start at 1.
    head: AtomicU64,
    /// Live keys: +1 on Empty→Live, −1 on Live→Deleted. Signed because a
    /// delete may account before the create it follows.
    live: AtomicI64,
    ring: Ring<T>,
    subscribers: Subscribers,
    compare: Arc<CompareFn<T>>,
    validator: Option<Arc<ValidateFn<T>>>,
}

/// One attempt of a write loop: finished, or lost a race and must go again.
enum Attempt<R> {
    Done(R),
    Retry,
}

/// A revision taken by a writer and not yet published. Dropping it publishes
/// a hole (I3).
struct Ticket<'a, T: Send + Sync + 'static> {
    kind: &'a RawKind<T>,
    revision: u64,
    key: &'a Arc<str>,
}

impl<'a, T: Send + Sync + 'static> Ticket<'a, T> {
    fn take(kind: &'a RawKind<T>, key: &'a Arc<str>) -> Self {
        // Relaxed suffices: see "I1" in the module docs.
        let revision = kind.head.fetch_add(1, Ordering::Relaxed);
        Ticket {
            kind,
            revision,
            key,
        }
    }

    fn publish(self, version: &Arc<Version<T>>) {
        debug_assert_eq!(version.revision, self.revision);
        let this = std::mem::ManuallyDrop::new(self);
        this.kind.publish(version);
    }
}

impl<T: Send + Sync + 'static> Drop for Ticket<'_, T> {
    fn drop(&mut self) {
        let hole = Arc::new(Version::new(
            self.revision,
            Arc::clone(self.key),
            Payload::Hole,
        ));
        self.kind.publish(&hole);
    }
}

impl<T: Send + Sync + 'static> RawKind<T> {
    pub(crate) fn new(
        name: Arc<str>,
        ring_capacity: usize,
        hashing: KeyHashing,
        compare: Arc<CompareFn<T>>,
        validator: Option<Arc<ValidateFn<T>>>,
    ) -> Self {
        RawKind {
            name,
            keys: KeyIndex::new(hashing),
            head: AtomicU64::new(1),
            live: AtomicI64::new(0),
            ring: Ring::new(ring_capacity),
            subscribers: Subscribers::new(),
            compare,
            validator,
        }
    }

    pub(crate) fn name(&self) -> &Arc<str> {
        &self.name
    }

    /// Runs the kind's validator, if any.
    pub(crate) fn validate(&self, key: &str, value: &T) -> Result<(), Error> {
        self.validation().validate(key, value)
    }

    /// The kind's validator, as a value that can also describe a kind that
    /// does not exist yet (see `Validation::new`).
    pub(crate) fn validation(&self) -> Validation<'_, T> {
        Validation::new(&self.name, self.validator.as_deref())
    }

    // ----- writes (P1) -----

    /// Stores `value` under `key` (already validated).
    pub(crate) fn set(&self, key: &str, value: T) -> SetResult {
        let mut value = value;
        loop {
            match self
                .keys
                .with_cell_for_insert(key, |cell| self.try_set(cell, value))
            {
                Ok(result) => return result,
                Err(returned) => value = returned,
            }
        }
    }

    fn try_set(&self, cell: &Cell<T>, value: T) -> Result<SetResult, T> {
        let current = cell.load();
        let created = match &current.payload {
            Payload::Live { value: old, .. } => {
                if (self.compare)(old, &value) {
                    return Ok(SetResult::Unchanged);
                }
                false
            }
            Payload::Deleted(_) => {
                self.keys.unlink(&current.key, cell);
                return Err(value);
            }
            // A cell never holds a hole; holes live only in the ring.
            Payload::Empty | Payload::Hole => true,
        };
        match self.commit(cell, &current, Payload::Live { value, created }) {
            Ok(()) if created => Ok(SetResult::Created),
            Ok(()) => Ok(SetResult::Updated),
            Err(Payload::Live { value, .. }) => Err(value),
            Err(_) => unreachable!("commit hands back the payload it was given"),
        }
    }

    /// Replaces the value under `key` with `f(current)`; true if it changed.
    pub(crate) fn update<E>(
        &self,
        key: &str,
        mut f: impl FnMut(&T) -> Result<T, E>,
    ) -> Result<bool, Error>
    where
        E: Into<BoxError>,
    {
        loop {
            let attempt = self.keys.with_cell(key, |cell| {
                let cell = cell.ok_or(Error::KeyNotFound)?;
                let current = cell.load();
                let old = match &current.payload {
                    Payload::Live { value, .. } => value,
                    Payload::Deleted(_) => {
                        self.keys.unlink(&current.key, cell);
                        return Err(Error::KeyNotFound);
                    }
                    Payload::Empty | Payload::Hole => return Err(Error::KeyNotFound),
                };
                let new = f(old).map_err(|error| Error::Update(error.into()))?;
                self.validate(key, &new)?;
                if (self.compare)(old, &new) {
                    return Ok(Attempt::Done(false));
                }
                let payload = Payload::Live {
                    value: new,
                    created: false,
                };
                Ok(match self.commit(cell, &current, payload) {
                    Ok(()) => Attempt::Done(true),
                    Err(_) => Attempt::Retry,
                })
            })?;
            if let Attempt::Done(changed) = attempt {
                return Ok(changed);
            }
        }
    }

    /// Deletes `key`; the previous live version, if there was one.
    pub(crate) fn delete(&self, key: &str) -> Option<Arc<Version<T>>> {
        loop {
            let attempt = self.keys.with_cell(key, |cell| {
                let Some(cell) = cell else {
                    return Attempt::Done(None);
                };
                let current = cell.load();
                match &current.payload {
                    Payload::Live { .. } => {}
                    Payload::Deleted(_) => {
                        self.keys.unlink(&current.key, cell);
                        return Attempt::Done(None);
                    }
                    Payload::Empty | Payload::Hole => return Attempt::Done(None),
                }
                let previous = Arc::clone(&current);
                match self.commit(cell, &current, Payload::Deleted(Arc::clone(&previous))) {
                    Ok(()) => {
                        self.keys.unlink(&current.key, cell);
                        Attempt::Done(Some(previous))
                    }
                    Err(_) => Attempt::Retry,
                }
            });
            if let Attempt::Done(previous) = attempt {
                return previous;
            }
        }
    }

    /// Steps 4–6 of P1: take a revision, CAS, publish. On a lost CAS the
    /// revision becomes a hole and the payload comes back for the retry.
    fn commit(
        &self,
        cell: &Cell<T>,
        current: &Arc<Version<T>>,
        payload: Payload<T>,
    ) -> Result<(), Payload<T>> {
        let ticket = Ticket::take(self, &current.key);
        let next = Arc::new(Version::new(
            ticket.revision,
            Arc::clone(&current.key),
            payload,
        ));
        if !cell.compare_and_swap(current, &next) {
            drop(ticket);
            let next =
                Arc::into_inner(next).expect("a version that lost its CAS is shared with nobody");
            return Err(next.payload);
        }
        match (&current.payload, &next.payload) {
            (Payload::Empty, Payload::Live { .. }) => {
                self.live.fetch_add(1, Ordering::Relaxed);
            }
            (_, Payload::Deleted(_)) => {
                self.live.fetch_sub(1, Ordering::Relaxed);
            }
            _ => {}
        }
        ticket.publish(&next);
        Ok(())
    }

    /// Step 6 of P1: into the ring, then fence (F1, in `wake_after_write`,
    /// which orders this write's cell CAS and ring slot before the loads of
    /// the subscribers), then overflow or wake them.
    fn publish(&self, version: &Arc<Version<T>>) {
        let revision = version.revision;
        let lapped = !self.ring.publish(version);
        self.subscribers
            .wake_after_write(|subscriber| lapped || revision < subscriber.replay_floor);
    }

    // ----- reads -----

    /// Calls `f` with the live version of `key`, if any. Writes no shared
    /// memory: guards only.
    #[inline]
    pub(crate) fn with_live<R>(
        &self,
        key: &str,
        f: impl FnOnce(&Arc<Version<T>>) -> R,
    ) -> Option<R> {
        self.keys.with_cell(key, |cell| {
            let current = cell?.load();
            match current.payload {
                Payload::Live { .. } => Some(f(&current)),
                _ => None,
            }
        })
    }

    /// Visits the live versions with keys in `range`, with their values, in
    /// key order, until `f` breaks.
    pub(crate) fn scan_live(
        &self,
        range: (Bound<&str>, Bound<&str>),
        mut f: impl FnMut(&Arc<Version<T>>, &T) -> ControlFlow<()>,
    ) {
        self.keys.scan(range, |cell| {
            let current = cell.load();
            match current.live() {
                Some(value) => f(&current, value),
                None => ControlFlow::Continue(()),
            }
        });
    }

    /// Number of live keys; exact on a quiescent kind.
    pub(crate) fn count(&self) -> usize {
        usize::try_from(self.live.load(Ordering::Relaxed)).unwrap_or(0)
    }

    /// The highest revision handed out so far (0 if none).
    pub(crate) fn revision(&self) -> u64 {
        self.head.load(Ordering::Relaxed) - 1
    }

    // ----- watch (P4) -----

    /// Registers a subscriber and returns its cursor; with `replay`, the
    /// cursor first yields the kind's current entries (see P4 above).
    pub(crate) fn subscribe(
        self: &Arc<Self>,
        replay: bool,
        buffer: u64,
        types: EventTypes,
    ) -> Cursor<T> {
        let start = self.head.load(Ordering::Relaxed);
        let (first, floor) = if replay {
            let capacity = self.ring.capacity();
            let floor = start.saturating_sub(capacity).max(1);
            let first = (floor..start)
                .find(|&revision| !self.ring.is_published(revision))
                .unwrap_or(start);
            (first, floor)
        } else {
            (start, 0)
        };
        let subscriber = Arc::new(Subscriber::new(floor));
        // Registering fences (F2): the registration is ordered before the
        // walk's cell loads. Pairs with F1 in producers: see "P4" above.
        self.subscribers.register(&subscriber);
        let (seen, filter_until) = if replay {
            let mut seen: Vec<Arc<Version<T>>> = Vec::new();
            self.keys
                .scan((Bound::Unbounded, Bound::Unbounded), |cell| {
                    let current = cell.load();
                    if matches!(current.payload, Payload::Live { .. } | Payload::Deleted(_)) {
                        seen.push(Arc::clone(&current));
                    }
                    ControlFlow::Continue(())
                });
            (seen, self.head.load(Ordering::Relaxed))
        } else {
            (Vec::new(), 0)
        };
        Cursor::new(
            Arc::clone(self),
            subscriber,
            first,
            buffer,
            types,
            seen,
            filter_until,
        )
    }

    pub(crate) fn head(&self) -> u64 {
        self.head.load(Ordering::Relaxed)
    }

    pub(crate) fn ring(&self) -> &Ring<T> {
        &self.ring
    }

    pub(crate) fn unsubscribe(&self, subscriber: &Arc<Subscriber>) {
        self.subscribers.remove(subscriber);
    }

    /// Wakes every sleeping subscriber: the store was closed (P5,
    /// `store.rs`, which fenced after writing the flag and before finding
    /// this kind).
    pub(crate) fn wake_all(&self) {
        self.subscribers.wake_after_write(|_| false);
    }
}

#[cfg(all(test, not(zestor_loom)))]
mod tests {
    use super::*;
    use crate::raw::cursor::Step;

    fn kind(ring: usize) -> Arc<RawKind<u32>> {
        Arc::new(RawKind::new(
            Arc::from("k"),
            ring,
            KeyHashing::default(),
            Arc::new(|a: &u32, b: &u32| a == b),
            None,
        ))
    }

    #[test]
    fn a_dropped_cursor_unsubscribes() {
        let kind = kind(4);
        let first = kind.subscribe(false, 4, EventTypes::ALL);
        let second = kind.subscribe(true, 4, EventTypes::ALL);
        assert_eq!(kind.subscribers.len(), 2);
        drop(first);
        assert_eq!(kind.subscribers.len(), 1);
        drop(second);
        assert_eq!(kind.subscribers.len(), 0, "writers skip the list again");
    }

    #[test]
    fn an_overflowed_cursor_is_still_unsubscribed_on_drop() {
        let kind = kind(2);
        let mut cursor = kind.subscribe(false, 1, EventTypes::ALL);
        for value in 0..5 {
            kind.set("a", value);
        }
        assert!(matches!(cursor.step(), Step::Overflow));
        drop(cursor);
        assert_eq!(kind.subscribers.len(), 0);
    }
}
