//! One kind: its key index, its revision counter, its event ring, its
//! subscribers and its snapshots — and the protocols that tie them
//! together: the write protocol (P1), snapshots (P6), and subscribing with
//! a replay (P4). Atomic multi-key writes (P7) are in `batch.rs`.
//!
//! # P1, the write protocol (`set`, `update`, `delete` on key k)
//!
//! 0. enter the kind's gate (P8, `gate.rs`), and leave after step 6: a
//!    removed kind turns the writer away before it installs anything, and
//!    a removal cannot happen while it is inside;
//! 1. find the cell (`KeyIndex`, `keys.rs`). `update` and `delete` stop
//!    when there is none; `set` gets the canonical cell, creating an
//!    `Empty` one;
//! 2. load its version `cur` and **settle** it: a pending write is stamped
//!    (below), a batch still being installed is aborted (`batch.rs`), so
//!    `cur` stands for a committed state: `Empty`, a live value, or a
//!    tombstone. A tombstone is claimed `KEEP` (the cell will be written
//!    again) unless it is `DYING`: then the cell is dead — help unlink it
//!    and start over with a fresh cell;
//! 3. decide from that state alone: unchanged (the compare function says
//!    equal: return, nothing written), not found, or the new payload — all
//!    user code (compare, validator, update closure) runs here, before
//!    anything is installed, so a panic there leaves nothing half-done;
//! 4. **install** the new version, *pending* (no revision yet), with a weak
//!    link to the state it replaces: CAS `cur` → new; on failure go to 2;
//! 5. **stamp** it: take a revision `r = head.fetch_add(1)` and CAS the
//!    version's status from pending to `r`. If another thread stamped it
//!    first (a helper, step 2 of someone else), `r` is published as a hole;
//! 6. whoever stamped it publishes it: into ring slot `r`, fence (F1), then
//!    wake the subscribers and pin the replaced state for the snapshots that
//!    need it (P6).
//!
//! A revision is taken only for a version already installed in its cell.
//! That is what makes snapshots exact without waiting for anyone: a reader
//! that has seen revision `r` taken finds `r`'s version in its cell (or a
//! newer one). Its linearization point is the stamp; until then readers see
//! the version it replaced, through the link. Revisions are taken by a
//! [`Ticket`]; if it is dropped without being published (a lost stamp, a
//! panic) it publishes a hole.
//!
//! * **I1, per-key order.** A version is only replaced once it is stamped
//!   (step 2 stamps it first), and a revision is taken after the install,
//!   so the revisions of one key grow in the order its versions were
//!   installed: the stamp of the old one happens-before the install of the
//!   new one (the status is read Acquire, stamped Release), which is
//!   sequenced before the new `fetch_add`, and read-modify-writes of `head`
//!   are totally ordered consistently with happens-before. A watcher that
//!   delivers in revision order therefore ends on the value the store holds.
//! * **I2, real-time order.** A write that returned before another started
//!   has the smaller revision: it was stamped before it returned, and the
//!   other takes its revision after it starts.
//! * **I3, every revision is published exactly once**, as a version or a
//!   hole: the `Ticket` that took it publishes it or, dropped, a hole.
//! * **The live count** changes after a successful install: +1 for a live
//!   value over an absent state, −1 for a tombstone. It is exact on a
//!   quiescent kind and may run ahead of a pending write.
//! * Revisions are not dense: a lost stamp consumes one as a hole.
//!
//! # P6, snapshots
//!
//! A snapshot registers in the kind's registry (`snapshot.rs`), fences (F2)
//! and reads `head`: its revision is `R = head − 1`. Reading key k at `R`:
//! load the cell, settle the version (stamping or aborting as writers do),
//! and walk back through the replaced versions until one is committed at a
//! revision `≤ R`; no version before it means the key was absent.
//!
//! * **Exact.** Every revision `≤ R` was taken before the snapshot read
//!   `head` (Acquire, paired with the `fetch_add`'s Release), so its version
//!   was installed before, and the walk finds it or a newer one. A pending
//!   version the walk stamps gets a revision `> R`: it is not in the
//!   snapshot, consistently for every reader.
//! * **The walk back never breaks.** A version `v` stamped `r > R` links
//!   weakly to the version `u` it replaced. Whoever stamped `v` held `u`
//!   strongly from before the stamp until after its F1 and pin step; its
//!   fence pairs with the snapshot's F2 (`snapshot.rs`): either it saw the
//!   snapshot and pinned `u` into it, or the snapshot read `head` after the
//!   stamp, so `r ≤ R`. Either way `u` is alive while the snapshot needs it.
//!   A version replaced before the snapshot registered, and not pinned, is
//!   never needed: the walk stops at the newest version `≤ R`.
//! * **Deleted keys stay findable.** A delete unlinks its cell (after
//!   claiming it `DYING`, which no writer can pass) only if no snapshot is
//!   held, checked after its own F1; otherwise the tombstone waits in the
//!   kind's graveyard and stays linked, where a later `set` may even reuse
//!   the cell. Each snapshot, when it lets go, sweeps the graveyard:
//!   tombstones no held snapshot can need are unlinked, the rest wait again.
//!   The sweeper's fence pairs with F2 like a stamper's.
//! * **Cost.** Without a snapshot a write pays one load of the registry's
//!   count after F1. With snapshots held, each write pins the version it
//!   replaced into each of them: memory bounded by the writes made while
//!   they are held, freed when they are dropped.
//!
//! # P4, subscribe with replay
//!
//! A watch with replay takes a snapshot at `R`, delivers the live entries
//! at `R` in key order as creates, and then every event with a revision
//! above `R` from the ring: the kind at one revision, then every change
//! after it, with no seam — a write in flight during the walk is either in
//! the snapshot or after `R`. Without replay the cursor starts at `head`,
//! and with `start_revision(r)` at `r`, if the ring still holds it
//! (otherwise `Compacted`). The subscriber registers (F2) before the cursor
//! first looks at the ring — and before the replay's snapshot, so every
//! write above `R` sees it and attaches its previous values (`ring.rs`);
//! wake-ups are in `subscriber.rs`.
//!
//! **I5, replay converges**: a consumer that applies the replay and then the
//! live events in receive order ends on the store's state.
//!
//! # Dropping what a write replaced
//!
//! A write may be the last owner of a value it replaced: the ring slot it
//! takes over (holding a version `C` revisions old), or the version it
//! loaded from the cell once the ring and the snapshots have let go of it.
//! That value's `Drop` is user code, and it may panic. So a write drops
//! nothing of its own until its protocol is done — `Ring::publish` hands
//! back what it displaced, and `publish` keeps it past the F1, the
//! wake-ups, the pins and the journal — and then drops it in [`dispose`],
//! which catches the panic: the write is stored and published, so it
//! reports success, and no watcher misses its wake-up (issue 11,
//! `tests/drops.rs`). The writers' own loads (`set`, `update`, `delete`)
//! go through `dispose` too. A value freed elsewhere (a snapshot or an
//! event dropped by its owner, a batch's leftovers) panics in its owner's
//! thread, after everything the store had to do.

use std::ops::{Bound, ControlFlow, Deref};

use super::cell::Cell;
use super::cursor::{Cursor, Filter, Kept, Start};
use super::gate::{Gate, Inside, Refusal, Removed};
use super::hash::KeyHashing;
use super::journal::JournalHook;
use super::keys::KeyIndex;
use super::ring::{Placeholders as RingPlaceholders, Ring, SlotRead};
use super::snapshot::{Registration, SnapshotRegistry};
use super::stack::Stack;
use super::subscriber::{Subscriber, Subscribers};
use super::version::{Gone, Payload, RingEntry, Status, TxnState, Version};
use crate::error::{BoxError, Error};
use crate::sync::{attaching_previous, fence, Arc, AtomicI64, AtomicU64, Ordering};

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
    #[inline]
    pub(crate) fn new(kind: &'a str, validator: Option<&'a ValidateFn<T>>) -> Self {
        Validation { kind, validator }
    }

    /// Runs the validator, if any, on a value meant for `key`.
    #[inline]
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

/// The never-written versions every kind of a store can share: the ring's
/// vacant hole and empty bucket, and what emptied dead cells hold.
pub(crate) struct Placeholders<T> {
    ring: RingPlaceholders<T>,
    nothing: Arc<Version<T>>,
    /// Where new kinds start their revisions (`gate.rs`, "Revisions
    /// continue across a removal"); shared the same way.
    mark: Arc<AtomicU64>,
}

impl<T: Send + Sync + 'static> Placeholders<T> {
    pub(crate) fn new() -> Self {
        Placeholders {
            ring: RingPlaceholders::new(),
            nothing: KeyIndex::nothing(),
            mark: Arc::new(AtomicU64::new(0)),
        }
    }
}

pub(crate) struct RawKind<T> {
    name: Arc<str>,
    pub(super) keys: KeyIndex<T>,
    /// The next revision to hand out; revisions start at 1, or above every
    /// kind the store removed before this one started (P8, `gate.rs`).
    pub(super) head: AtomicU64,
    /// Counts the threads changing the kind; closed for good by a removal
    /// (P8, `gate.rs`).
    gate: Gate,
    /// Live keys (see "The live count" above). Signed: a delete may account
    /// before the create it follows.
    pub(super) live: AtomicI64,
    ring: Ring<T>,
    subscribers: Subscribers,
    snapshots: SnapshotRegistry<T>,
    /// Tombstones whose cells stay linked because a snapshot may need them.
    graveyard: Stack<Arc<Version<T>>>,
    /// Attempts of batches and transactions that had to start over.
    pub(super) batch_retries: AtomicU64,
    pub(super) compare: Arc<CompareFn<T>>,
    validator: Option<Arc<ValidateFn<T>>>,
    /// Told every revision as it is published (J1, `journal.rs`).
    journal: Option<Arc<dyn JournalHook<T>>>,
    /// The revision the kind was restored at (J3, `journal.rs`), 0 if it
    /// was not: the ring holds nothing at or below it.
    floor: u64,
    /// How many of its latest revisions the kind keeps while unwatched
    /// (`ring.rs`, "History"); the ring's capacity keeps them all.
    history: u64,
}

/// One attempt of a write loop: finished, or lost a race and must go again.
enum Attempt<R> {
    Done(R),
    Retry,
}

/// A version, borrowed from a cell's guard or owned (found by walking back).
pub(super) enum Held<'g, T> {
    Borrowed(&'g Arc<Version<T>>),
    Owned(Arc<Version<T>>),
}

impl<T> Deref for Held<'_, T> {
    type Target = Arc<Version<T>>;

    #[inline]
    fn deref(&self) -> &Arc<Version<T>> {
        match self {
            Held::Borrowed(version) => version,
            Held::Owned(version) => version,
        }
    }
}

/// The committed state a writer found in a cell, which it will replace.
pub(super) enum Base<'g, T> {
    /// No live value: an `Empty` cell (`None`), or a tombstone claimed
    /// `KEEP` for this writer.
    Absent(Option<Held<'g, T>>),
    Live(Held<'g, T>),
}

impl<'g, T> Base<'g, T> {
    /// The version the new one replaces, for its link (`None`: an empty cell).
    pub(super) fn replaced(&self) -> Option<&Arc<Version<T>>> {
        match self {
            Base::Absent(tombstone) => tombstone.as_deref(),
            Base::Live(version) => Some(version),
        }
    }
}

/// What a thread that meets a batch still being installed does (`settle`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Meeting {
    /// Abort it: a writer, which must replace its version now.
    Abort,
    /// Let it commit only above this revision: a snapshot at it.
    FloorAbove(u64),
}

/// The cell cannot be written as found (it is dead, or changed under the
/// writer): start over from the lookup.
pub(super) struct Retry;

/// A revision taken by a writer and not yet published. Dropping it publishes
/// a hole (I3).
pub(super) struct Ticket<'a, T: Send + Sync + 'static> {
    kind: &'a RawKind<T>,
    pub(super) revision: u64,
}

impl<'a, T: Send + Sync + 'static> Ticket<'a, T> {
    pub(super) fn take(kind: &'a RawKind<T>) -> Self {
        // Release: the installs sequenced before this (the version that will
        // carry the revision) are seen by a snapshot whose Acquire read of
        // `head` returns this revision or a later one (P6, "Exact").
        // Acquire: a transaction validating its reads after taking its
        // revision sees every install of a smaller revision (P7).
        let revision = kind.head.fetch_add(1, Ordering::AcqRel);
        Ticket { kind, revision }
    }

    /// Publishes `version`, stamped with this ticket's revision, pinning
    /// `replaced` (each version it replaced) for the snapshots that need it.
    pub(super) fn publish<'r>(
        self,
        version: &Arc<Version<T>>,
        replaced: impl IntoIterator<Item = &'r Arc<Version<T>>>,
    ) where
        T: 'r,
    {
        debug_assert_eq!(version.revision(), self.revision);
        let this = std::mem::ManuallyDrop::new(self);
        this.kind.publish(version, replaced);
    }
}

impl<T: Send + Sync + 'static> Drop for Ticket<'_, T> {
    fn drop(&mut self) {
        let hole = Arc::new(Version::committed(
            self.revision,
            Arc::clone(&self.kind.name),
            Payload::Hole,
        ));
        self.kind.publish(&hole, []);
    }
}

impl<T: Send + Sync + 'static> RawKind<T> {
    /// A kind with placeholders of its own (unit tests).
    #[cfg(all(test, not(zestor_loom)))]
    pub(crate) fn new(
        name: Arc<str>,
        ring_capacity: usize,
        hashing: KeyHashing,
        compare: Arc<CompareFn<T>>,
        validator: Option<Arc<ValidateFn<T>>>,
    ) -> Self {
        let shared = Placeholders::new();
        Self::sharing(name, ring_capacity, hashing, compare, validator, &shared)
    }

    /// A kind that shares `shared`'s never-written versions with the other
    /// kinds of its store (issue 11: a kind pays for what it holds).
    pub(crate) fn sharing(
        name: Arc<str>,
        ring_capacity: usize,
        hashing: KeyHashing,
        compare: Arc<CompareFn<T>>,
        validator: Option<Arc<ValidateFn<T>>>,
        shared: &Placeholders<T>,
    ) -> Self {
        RawKind {
            name,
            keys: KeyIndex::sharing(hashing, Arc::clone(&shared.nothing)),
            head: AtomicU64::new(1),
            gate: Gate::new(Arc::clone(&shared.mark)),
            live: AtomicI64::new(0),
            ring: Ring::sharing(ring_capacity, &shared.ring),
            subscribers: Subscribers::new(),
            snapshots: SnapshotRegistry::new(),
            graveyard: Stack::new(),
            batch_retries: AtomicU64::new(0),
            compare,
            validator,
            journal: None,
            floor: 0,
            history: ring_capacity as u64,
        }
    }

    /// The same, still unshared, kind with a gate that is already started
    /// at revision 1: for the store's never-written stand-in, which the
    /// calls on missing kinds enter (an `update`, a `delete`) and which
    /// must keep reading revision 0 whatever the mark (P8, `gate.rs`).
    pub(crate) fn never_started(mut self) -> Self {
        self.gate = Gate::started_at_one(Arc::clone(self.gate.mark()));
        self
    }

    /// The same kind, keeping only its last `history` revisions while
    /// nobody watches it (`ring.rs`, "History").
    pub(crate) fn with_history(mut self, history: u64) -> Self {
        self.history = history.min(self.ring.capacity());
        self
    }

    /// The same, still unshared, kind building its hash index when it
    /// creates its `keys`-th key (`keys.rs`, "The lazy hash index");
    /// `None` keeps the default.
    pub(crate) fn with_hash_index_at(mut self, keys: Option<usize>) -> Self {
        if let Some(keys) = keys {
            self.keys = self.keys.with_threshold_of(keys);
        }
        self
    }

    /// The same kind, telling `journal` every revision it publishes.
    pub(crate) fn with_journal(mut self, journal: Option<Arc<dyn JournalHook<T>>>) -> Self {
        self.journal = journal;
        self
    }

    /// J3 (`journal.rs`): the same, still unshared, kind loaded with
    /// `entries` — each a key, the revision that wrote it and its value,
    /// keys distinct and every revision in `1..=revision` — at kind
    /// revision `revision`. Publishes nothing.
    pub(crate) fn restored(
        mut self,
        revision: u64,
        entries: impl IntoIterator<Item = (Arc<str>, u64, T)>,
    ) -> Result<Self, RestoreError> {
        if revision >= super::version::MAX_REVISION {
            return Err(RestoreError::RevisionTooLarge(revision));
        }
        let mut live = 0;
        for (key, written, value) in entries {
            if key.is_empty() {
                return Err(RestoreError::EmptyKey);
            }
            if written == 0 || written > revision {
                return Err(RestoreError::EntryRevision {
                    key: key.to_string(),
                    written,
                });
            }
            let version = Arc::new(Version::committed(
                written,
                Arc::clone(&key),
                Payload::Live {
                    value,
                    created: true,
                },
            ));
            let installed = self.keys.with_cell_for_insert(&key, |cell| {
                let current = cell.load_full();
                matches!(current.payload, Payload::Empty)
                    && cell.compare_and_swap(&current, &version)
            });
            if !installed {
                return Err(RestoreError::DuplicateKey(key.to_string()));
            }
            live += 1;
        }
        // Relaxed: the kind is not shared yet; publishing it (the index
        // insert) carries these stores to every thread that finds it.
        self.head.store(revision + 1, Ordering::Relaxed);
        self.live.store(live, Ordering::Relaxed);
        self.floor = revision;
        Ok(self)
    }

    /// Whether the kind's hash index is built and filled (loom models).
    #[cfg(zestor_loom)]
    pub(crate) fn point_filled(&self) -> bool {
        self.keys.point_filled()
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

    // ----- settling (P1 step 2) -----

    /// Decides a version loaded from a cell, helping as the caller may: a
    /// pending write is stamped; a batch still being installed is aborted
    /// (a writer, which must replace it now) or floored (a snapshot, which
    /// only needs it to land after its revision: `Txn`). Returns its
    /// revision if it happened, `None` if it has not (and, for the caller,
    /// stands for the version it replaced).
    pub(super) fn settle(&self, version: &Arc<Version<T>>, meeting: Meeting) -> Option<u64> {
        match version.status() {
            Status::Committed(revision) => Some(revision),
            Status::Aborted => None,
            Status::Pending => Some(match version.predecessor() {
                // Held strongly from before the stamp, to pin it (P6).
                Ok(replaced) => self.help_stamp(version, replaced.as_ref()),
                // Its writer let go of it, which it does only once the
                // version is stamped: the stamp is there to read.
                Err(Gone) => match version.status_latest() {
                    Status::Committed(revision) => revision,
                    other => unreachable!("a replaced version outlives the stamp ({other:?})"),
                },
            }),
            Status::InTxn => {
                let txn = version
                    .txn()
                    .expect("an in-transaction version has its Txn");
                let decision = match (txn.state(), meeting) {
                    (TxnState::Installing { .. }, Meeting::Abort) => txn.abort(),
                    (TxnState::Installing { .. }, Meeting::FloorAbove(revision)) => {
                        txn.raise_floor(revision + 1)
                    }
                    (decided, _) => decided,
                };
                version.finalize(decision);
                match decision {
                    TxnState::Committed(revision) => Some(revision),
                    TxnState::Aborted | TxnState::Installing { .. } => None,
                }
            }
        }
    }

    /// P1 steps 5–6 for a thread that met `version` pending: inside the
    /// gate, as every taker of a revision is (P8, `gate.rs`). A removed
    /// kind holds no pending version — its writers stamped them before
    /// they left — so there the stamp is only read. A writer settling its
    /// own cell is inside already and enters a second time: the gate
    /// counts threads' entries, not threads.
    #[cold]
    fn help_stamp(&self, version: &Arc<Version<T>>, replaced: Option<&Arc<Version<T>>>) -> u64 {
        match self.enter() {
            Ok(_inside) => self.stamp(version, replaced),
            Err(Removed) => match version.status_latest() {
                Status::Committed(revision) => revision,
                other => unreachable!("a removed kind holds a pending version ({other:?})"),
            },
        }
    }

    /// P1 steps 5–6: gives an installed, pending `version` a revision —
    /// unless another thread did first — and publishes it. `replaced` is the
    /// version it replaced, which the caller holds strongly. Returns the
    /// revision the version has.
    pub(super) fn stamp(
        &self,
        version: &Arc<Version<T>>,
        replaced: Option<&Arc<Version<T>>>,
    ) -> u64 {
        let ticket = Ticket::take(self);
        match version.try_stamp(ticket.revision) {
            Ok(()) => {
                let revision = ticket.revision;
                ticket.publish(version, replaced);
                revision
            }
            // Someone stamped it first; dropping the ticket publishes a hole.
            Err(stamped) => stamped,
        }
    }

    /// P1 step 6: into the ring, fence (F1), attach the previous values if
    /// anyone watches, wake the subscribers, pin what the snapshots need.
    fn publish<'r>(
        &self,
        version: &Arc<Version<T>>,
        replaced: impl IntoIterator<Item = &'r Arc<Version<T>>>,
    ) where
        T: 'r,
    {
        let revision = version.revision();
        let displaced = self.ring.publish(revision, version);
        let lapped = displaced.is_none();
        // (F1) orders this write — the install, the revision, the ring slot —
        // before the loads of the subscriber list and each `waiting` flag
        // (pairs with F2 in `Subscribers::register` and F3 in
        // `Subscriber::prepare_wait`), and of the snapshot registry (pairs
        // with F2 in `SnapshotRegistry::register`).
        fence(Ordering::SeqCst);
        if !lapped && attaching_previous() && self.subscribers.want_previous() {
            // Before the wake-ups, so a woken watcher finds it (`ring.rs`,
            // "Previous values"; `replaced` is held until this returns).
            self.ring.attach_previous(revision, version);
        }
        // A producer that was lapped must not publish silently: every
        // current subscriber may be waiting at this revision.
        self.subscribers.wake(lapped);
        for replaced in replaced {
            self.snapshots.pin(replaced, revision);
        }
        if let Some(journal) = &self.journal {
            // Last: the journal sees what watchers see, once (J1).
            journal.record(&self.name, version);
        }
        if !lapped && self.history < self.ring.capacity() && self.subscribers.is_empty() {
            // After F1, with nobody registered: no consumer can need the
            // history past what the kind keeps (`ring.rs`, "History").
            if let Some(through) = revision.checked_sub(self.history).filter(|&r| r > 0) {
                self.ring.release_through(through, dispose);
            }
        }
        // Only now may a user `Drop` run.
        dispose(displaced);
    }

    /// Releases the whole ring: for `close` (`ring.rs`, "History").
    pub(crate) fn release_history(&self) {
        self.ring.release_all(dispose);
    }

    /// P1 step 2 for a writer: settles the cell's version and says what
    /// committed state it stands for. `Err(Retry)` when the cell is dead
    /// (unlinked here) or changed under the writer.
    #[inline]
    pub(super) fn base<'g>(
        &self,
        cell: &Cell<T>,
        current: &'g Arc<Version<T>>,
    ) -> Result<Base<'g, T>, Retry> {
        // The common case, decided from the status word and the payload the
        // writer has loaded anyway.
        if let Status::Committed(_) = current.status() {
            match current.payload {
                Payload::Live { .. } | Payload::LiveShared { .. } => {
                    return Ok(Base::Live(Held::Borrowed(current)))
                }
                Payload::Empty => return Ok(Base::Absent(None)),
                _ => {}
            }
        }
        self.base_slow(cell, current)
    }

    #[cold]
    fn base_slow<'g>(
        &self,
        cell: &Cell<T>,
        current: &'g Arc<Version<T>>,
    ) -> Result<Base<'g, T>, Retry> {
        let mut held = Held::Borrowed(current);
        loop {
            if self.settle(&held, Meeting::Abort).is_none() {
                // An aborted batch version: it stands for what it replaced.
                held = match held.predecessor() {
                    Ok(Some(replaced)) => Held::Owned(replaced),
                    Ok(None) => return Ok(Base::Absent(None)),
                    // Its batch restored the cell and let go: look again.
                    Err(Gone) => return Err(Retry),
                };
                continue;
            }
            return match &held.payload {
                Payload::Empty => Ok(Base::Absent(None)),
                Payload::Live { .. } | Payload::LiveShared { .. } => Ok(Base::Live(held)),
                Payload::Deleted { .. } => {
                    if held.claim_keep() {
                        Ok(Base::Absent(Some(held)))
                    } else {
                        // Dying: only the cell's own version can be.
                        self.keys.unlink(&held.key, cell);
                        Err(Retry)
                    }
                }
                Payload::Hole
                | Payload::Batch(_)
                | Payload::WithPrevious { .. }
                | Payload::BatchWithPrevious(_) => {
                    unreachable!("holes and envelopes live only in the ring")
                }
            };
        }
    }

    // ----- writes (P1) -----

    /// Stores `value` under `key` (already validated). `Err` hands the
    /// value back: the kind was removed (P8), so resolve the name again.
    pub(crate) fn set(&self, key: &str, value: T) -> Result<SetResult, T> {
        let Ok(_inside) = self.enter() else {
            return Err(value);
        };
        let mut value = value;
        loop {
            match self
                .keys
                .with_cell_for_insert(key, |cell| self.try_set(cell, value))
            {
                Ok(result) => return Ok(result),
                Err(returned) => value = returned,
            }
        }
    }

    fn try_set(&self, cell: &Cell<T>, value: T) -> Result<SetResult, T> {
        let current = cell.load();
        let base = match self.base(cell, &current) {
            Ok(base) => base,
            Err(Retry) => return Err(value),
        };
        let created = match &base {
            Base::Live(old) => {
                let old = old.live().expect("a live base holds a value");
                if (self.compare)(old, &value) {
                    return Ok(SetResult::Unchanged);
                }
                false
            }
            Base::Absent(_) => true,
        };
        let payload = Payload::Live { value, created };
        let installed = self.install(cell, &current, &base, payload);
        dispose(base);
        dispose(current);
        match installed {
            Ok(_) if created => Ok(SetResult::Created),
            Ok(_) => Ok(SetResult::Updated),
            Err(Payload::Live { value, .. }) => Err(value),
            Err(_) => unreachable!("install hands back the payload it was given"),
        }
    }

    /// Replaces the value under `key` with `f(current)`; true if it changed.
    /// `Err(Removed)`: the kind was removed (P8), so resolve the name again.
    pub(crate) fn update<E>(
        &self,
        key: &str,
        mut f: impl FnMut(&T) -> Result<T, E>,
    ) -> Result<Result<bool, Error>, Removed>
    where
        E: Into<BoxError>,
    {
        let _inside = self.enter()?;
        Ok(self.update_inside(key, &mut f))
    }

    fn update_inside<E>(
        &self,
        key: &str,
        f: &mut impl FnMut(&T) -> Result<T, E>,
    ) -> Result<bool, Error>
    where
        E: Into<BoxError>,
    {
        loop {
            let attempt = self.keys.with_cell(key, |cell| {
                let cell = cell.ok_or(Error::KeyNotFound)?;
                let current = cell.load();
                let base = match self.base(cell, &current) {
                    Ok(base) => base,
                    Err(Retry) => return Ok(Attempt::Retry),
                };
                let Base::Live(old) = &base else {
                    return Err(Error::KeyNotFound);
                };
                let old_value = old.live().expect("a live base holds a value");
                let new = f(old_value).map_err(|error| Error::Update(error.into()))?;
                self.validate(key, &new)?;
                if (self.compare)(old_value, &new) {
                    return Ok(Attempt::Done(false));
                }
                let payload = Payload::Live {
                    value: new,
                    created: false,
                };
                let installed = self.install(cell, &current, &base, payload);
                dispose(base);
                dispose(current);
                Ok(match installed {
                    Ok(_) => Attempt::Done(true),
                    Err(_) => Attempt::Retry,
                })
            })?;
            if let Attempt::Done(changed) = attempt {
                return Ok(changed);
            }
        }
    }

    /// Deletes `key`; the previous live version, if there was one.
    /// `Err(Removed)`: the kind was removed (P8), so resolve the name again.
    pub(crate) fn delete(&self, key: &str) -> Result<Option<Arc<Version<T>>>, Removed> {
        let _inside = self.enter()?;
        loop {
            let attempt = self.keys.with_cell(key, |cell| {
                let Some(cell) = cell else {
                    return Attempt::Done(None);
                };
                let current = cell.load();
                let base = match self.base(cell, &current) {
                    Ok(base) => base,
                    Err(Retry) => return Attempt::Retry,
                };
                let Base::Live(previous) = &base else {
                    // Absent. A tombstone claimed KEEP here simply stays.
                    return Attempt::Done(None);
                };
                let previous = Arc::clone(previous);
                let payload = Payload::deleted(Arc::clone(&previous));
                let attempt = match self.install(cell, &current, &base, payload) {
                    Ok(tombstone) => {
                        self.retire(cell, &tombstone);
                        Attempt::Done(Some(previous))
                    }
                    Err(_) => Attempt::Retry,
                };
                dispose(base);
                dispose(current);
                attempt
            });
            if let Attempt::Done(previous) = attempt {
                return Ok(previous);
            }
        }
    }

    /// P1 steps 4–6 for one key: install `payload` over `current` (which
    /// settled to `base`), then stamp and publish it; the installed version.
    /// On a lost install the payload comes back for the retry.
    fn install(
        &self,
        cell: &Cell<T>,
        current: &Arc<Version<T>>,
        base: &Base<'_, T>,
        payload: Payload<T>,
    ) -> Result<Arc<Version<T>>, Payload<T>> {
        let replaced = base.replaced();
        let delta = live_delta(base, &payload);
        // A tombstone links to what it replaced strongly, in its payload.
        let link = match payload {
            Payload::Deleted { .. } => None,
            _ => replaced,
        };
        let next = Arc::new(Version::pending(Arc::clone(&current.key), payload, link));
        if !cell.compare_and_swap(current, &next) {
            let next =
                Arc::into_inner(next).expect("a version that lost its CAS is shared with nobody");
            return Err(next.payload);
        }
        if delta != 0 {
            self.live.fetch_add(delta, Ordering::Relaxed);
        }
        self.stamp(&next, replaced);
        Ok(next)
    }

    /// After a delete: unlink the dead cell now if no snapshot may need it,
    /// else leave it linked in the graveyard (P6, "Deleted keys"). The
    /// caller published a version or a hole since taking its revision, so
    /// its F1 orders the delete before the registry check here.
    fn retire(&self, cell: &Cell<T>, tombstone: &Arc<Version<T>>) {
        if !self.snapshots.is_empty() {
            self.graveyard.push(Arc::clone(tombstone));
        } else if tombstone.claim_dying() {
            // Dying wins over any writer, so the cell holds this tombstone
            // for good: unlink it. (A writer that claimed KEEP first keeps
            // the cell, and nothing is unlinked.)
            self.keys.unlink(&tombstone.key, cell);
        }
    }

    /// Unlinks the graveyard's tombstones that no held snapshot can need;
    /// the others wait for the next sweep.
    fn sweep(&self) {
        let tombstones = self.graveyard.take_all();
        if tombstones.is_empty() {
            return;
        }
        // Pairs with F2 in `SnapshotRegistry::register`: a snapshot this
        // does not see reads `head` after every revision below, so it reads
        // these keys as deleted whether or not their cells are linked.
        fence(Ordering::SeqCst);
        for tombstone in tombstones {
            let revision = match tombstone.status() {
                Status::Committed(revision) => revision,
                other => unreachable!("only stamped tombstones are retired ({other:?})"),
            };
            if self.snapshots.needs_before(revision) {
                self.graveyard.push(tombstone);
                continue;
            }
            let key = Arc::clone(&tombstone.key);
            let unlinked = self.keys.with_cell(&key, |cell| match cell {
                Some(cell) if Arc::ptr_eq(&cell.load(), &tombstone) && tombstone.claim_dying() => {
                    self.keys.unlink(&key, cell);
                    true
                }
                _ => false,
            });
            let _ = unlinked; // a cell written again since stays, for its writer
        }
    }

    // ----- reads -----

    /// Calls `f` with the live version of `key`, if any. Writes no shared
    /// memory unless the key's newest write is still in flight (then it
    /// reads the version that write replaces).
    #[inline]
    pub(crate) fn with_live<R>(
        &self,
        key: &str,
        f: impl FnOnce(&Arc<Version<T>>) -> R,
    ) -> Option<R> {
        self.keys.with_cell(key, |cell| {
            let cell = cell?;
            let current = cell.load();
            if let Status::Committed(_) = current.status() {
                return match current.payload {
                    Payload::Live { .. } | Payload::LiveShared { .. } => Some(f(&current)),
                    _ => None,
                };
            }
            let visible = visible(cell)?;
            visible.live().is_some().then(|| f(&visible))
        })
    }

    /// The committed live version of `key` now, as a reader sees it (writes
    /// nothing); `None` if the key is absent.
    pub(crate) fn committed(&self, key: &str) -> Option<Arc<Version<T>>> {
        self.keys
            .with_cell(key, |cell| visible(cell?))
            .filter(|version| version.live().is_some())
    }

    /// True if some key holds a value now. Writes nothing.
    pub(crate) fn has_live(&self) -> bool {
        let mut found = false;
        self.keys
            .scan((Bound::Unbounded, Bound::Unbounded), |cell| {
                if visible(cell).is_some_and(|version| version.live().is_some()) {
                    found = true;
                    ControlFlow::Break(())
                } else {
                    ControlFlow::Continue(())
                }
            });
        found
    }

    /// Number of live keys; exact on a quiescent kind.
    pub(crate) fn count(&self) -> usize {
        usize::try_from(self.live.load(Ordering::Relaxed)).unwrap_or(0)
    }

    /// How many attempts of atomic batches and transactions on this kind
    /// had to start over: aborted by a concurrent writer, or, for a
    /// transaction, its reads gone stale.
    pub(crate) fn batch_retries(&self) -> u64 {
        self.batch_retries.load(Ordering::Relaxed)
    }

    /// The highest revision handed out so far (0 if none).
    pub(crate) fn revision(&self) -> u64 {
        self.head.load(Ordering::Relaxed) - 1
    }

    // ----- snapshots (P6) -----

    /// Takes a snapshot of the kind at its current revision.
    pub(crate) fn snapshot(self: &Arc<Self>) -> RawSnapshot<T> {
        let registration = self.snapshots.register(&self.head);
        let revision = registration
            .revision()
            .expect("registration fixes the revision");
        RawSnapshot {
            kind: Arc::clone(self),
            registration,
            revision,
        }
    }

    /// Calls `f` with the version of `cell` at `revision` (any payload), or
    /// returns `None` if the key was absent then.
    fn at_revision<R>(
        &self,
        cell: &Cell<T>,
        revision: u64,
        f: impl FnOnce(&Arc<Version<T>>) -> R,
    ) -> Option<R> {
        'reload: loop {
            let current = cell.load();
            let mut held = Held::Borrowed(&current);
            loop {
                let newer = match self.settle(&held, Meeting::FloorAbove(revision)) {
                    Some(committed) => committed > revision,
                    None => true, // aborted: stands for what it replaced
                };
                if !newer {
                    return match held.payload {
                        Payload::Empty => None,
                        _ => Some(f(&held)),
                    };
                }
                held = match held.predecessor() {
                    Ok(Some(replaced)) => Held::Owned(replaced),
                    Ok(None) => return None,
                    // An aborted or floored batch, undone since, whose owner
                    // let go: read the cell again. A committed version's
                    // predecessor never goes while a snapshot may need it
                    // (P6, "The walk back never breaks").
                    Err(Gone) if !newer_committed(&held) => continue 'reload,
                    Err(Gone) => unreachable!(
                        "a snapshot at {revision} lost the version before one stamped {:?}",
                        held.status()
                    ),
                };
            }
        }
    }

    // ----- watch (P4) -----

    /// Registers a subscriber and returns its cursor (see P4 above). The
    /// subscriber registers first in every case, so each write after the
    /// cursor's start finds it and attaches its previous values (`ring.rs`).
    /// `Err(Removed)`: the kind was removed (P8), so resolve the name again.
    pub(crate) fn subscribe(
        self: &Arc<Self>,
        start: Start,
        filter: Filter,
    ) -> Result<Result<Cursor<T>, Compacted>, Removed> {
        // Inside while it registers: a remover sees the subscriber, or is
        // refused (P8).
        let _inside = self.enter()?;
        Ok(self.subscribe_inside(start, filter))
    }

    fn subscribe_inside(
        self: &Arc<Self>,
        start: Start,
        filter: Filter,
    ) -> Result<Cursor<T>, Compacted> {
        let subscriber = Arc::new(self.subscribers.subscriber(filter.previous));
        self.subscribers.register(&subscriber);
        let cursor = |next, replay| {
            Cursor::new(
                Arc::clone(self),
                Arc::clone(&subscriber),
                next,
                filter.clone(),
                replay,
            )
        };
        match start {
            Start::Now => Ok(cursor(self.head.load(Ordering::Acquire), Vec::new())),
            Start::Replay => {
                // Registered before the snapshot's F2 and head read: every
                // write above its revision saw the subscriber.
                let snapshot = self.snapshot();
                let mut replay = Vec::new();
                let (from, prefix) = match &filter.prefix {
                    Some(prefix) => (Bound::Included(&**prefix), &**prefix),
                    None => (Bound::Unbounded, ""),
                };
                snapshot.scan((from, Bound::Unbounded), |version, _| {
                    if !version.key.starts_with(prefix) {
                        return ControlFlow::Break(()); // keys are ordered
                    }
                    replay.push(Arc::clone(version));
                    ControlFlow::Continue(())
                });
                Ok(cursor(snapshot.revision + 1, replay))
            }
            Start::At(requested) => {
                let requested = requested.max(1);
                if requested <= self.floor() {
                    // Restored: no ring slot at or below the floor will
                    // ever be published (J3).
                    self.subscribers.remove(&subscriber);
                    let head = self.head.load(Ordering::Relaxed);
                    return Err(Compacted {
                        requested,
                        oldest: (self.floor() + 1).max(self.ring.oldest(head)),
                    });
                }
                let kept = match self.keep_previous(requested) {
                    Ok(kept) => kept,
                    Err(compacted) => {
                        self.subscribers.remove(&subscriber);
                        return Err(compacted);
                    }
                };
                let mut cursor = cursor(requested, Vec::new());
                if filter.previous {
                    cursor.keep(kept);
                }
                Ok(cursor)
            }
        }
    }

    /// Registers a subscriber, then takes a snapshot at `R`, and returns
    /// both with the cursor at `R + 1`: P4 without the replay, for a caller
    /// that walks the snapshot itself (the mirror). Registered first, the
    /// subscriber holds the history after `R` (`ring.rs`, "History"), so
    /// this never fails with `Compacted`.
    ///
    /// `Err(Removed)`: the kind was removed (P8), so resolve the name again.
    pub(crate) fn subscribe_at_snapshot(
        self: &Arc<Self>,
        filter: Filter,
    ) -> Result<(Cursor<T>, RawSnapshot<T>), Removed> {
        let _inside = self.enter()?;
        let subscriber = Arc::new(self.subscribers.subscriber(filter.previous));
        self.subscribers.register(&subscriber);
        let snapshot = self.snapshot();
        let cursor = Cursor::new(
            Arc::clone(self),
            subscriber,
            snapshot.revision + 1,
            filter,
            Vec::new(),
        );
        Ok((cursor, snapshot))
    }

    /// `subscribe` on a kind a unit test knows is neither removed nor
    /// asked for a revision it no longer keeps.
    #[cfg(all(test, not(zestor_loom)))]
    pub(crate) fn subscribed(self: &Arc<Self>, start: Start, filter: Filter) -> Cursor<T> {
        match self.subscribe(start, filter) {
            Ok(Ok(cursor)) => cursor,
            Ok(Err(compacted)) => panic!("compacted: {compacted:?}"),
            Err(Removed) => panic!("removed"),
        }
    }

    /// For a cursor starting at the past revision `requested`, subscribed
    /// already: the replaced values of the updates published since, which
    /// their publishers may not have attached (`ring.rs`, "Previous
    /// values"), taken now — those still alive — and kept until the cursor
    /// passes the revision returned with them. `Compacted` if the ring no
    /// longer holds `requested`.
    fn keep_previous(&self, requested: u64) -> Result<Kept<T>, Compacted> {
        let head = self.head.load(Ordering::Acquire);
        let mut kept = Vec::new();
        for revision in requested..head.max(requested) {
            let entry = match self.ring.read(revision) {
                SlotRead::Published(entry) => entry,
                SlotRead::NotYet => continue, // in flight: see `cursor.rs`
                SlotRead::Overwritten => {
                    return Err(Compacted {
                        requested,
                        oldest: self.ring.oldest(head).max(self.floor() + 1),
                    })
                }
            };
            let RingEntry::Plain(versions) = RingEntry::of(&entry) else {
                continue; // attached by its publisher
            };
            for version in versions {
                if version.payload.is_update() {
                    if let Ok(Some(previous)) = version.predecessor() {
                        kept.push(previous);
                    }
                }
            }
        }
        Ok(Kept {
            values: kept,
            until: head,
        })
    }

    pub(crate) fn head(&self) -> u64 {
        self.head.load(Ordering::Relaxed)
    }

    /// The revision at and below which the ring holds nothing: the one
    /// the kind was restored at (J3) or the one before it started (P8).
    fn floor(&self) -> u64 {
        self.floor.max(self.gate.started_after())
    }

    // ----- removal (P8, `gate.rs`) -----

    /// Enters the kind's gate: every thread that installs, takes a
    /// revision or registers a subscriber does, and leaves when the guard
    /// drops.
    #[inline]
    pub(super) fn enter(&self) -> Result<Inside<'_>, Removed> {
        self.gate.enter(&self.head)
    }

    /// True once the kind is removed (a handle then resolves its name).
    #[inline]
    pub(crate) fn is_removed(&self) -> bool {
        self.gate.is_removed()
    }

    /// True once the kind is removed, read so that the next kind of its
    /// name, made after, starts above it: for the unlinkers (`store.rs`).
    pub(crate) fn is_removed_with_mark(&self) -> bool {
        self.gate.is_removed_with_mark()
    }

    /// Removes the kind if it holds no live key and nobody watches it.
    /// The caller unlinks it from the kinds index after.
    pub(crate) fn remove(&self) -> Result<(), Refusal> {
        // The checks' loads may be Relaxed: R1's Acquire orders them after
        // every registration and install of a thread that has left, and a
        // thread that comes in after R1 makes R2 fail (`gate.rs`).
        self.gate.remove(&self.head, || {
            if !self.subscribers.is_empty() {
                Err(Refusal::Watched)
            } else if self.has_live() {
                Err(Refusal::NotEmpty)
            } else {
                Ok(())
            }
        })
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
        self.subscribers.wake(false);
    }
}

/// A `start_revision` older than the ring still holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Compacted {
    pub(crate) requested: u64,
    pub(crate) oldest: u64,
}

/// Why a kind could not be restored (J3, `journal.rs`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum RestoreError {
    /// The kind exists already (it was written, watched or restored).
    KindExists,
    /// Two entries had one key.
    DuplicateKey(String),
    /// An entry had an empty key.
    EmptyKey,
    /// An entry's revision was 0 or above the kind's revision.
    EntryRevision { key: String, written: u64 },
    /// The kind's revision is beyond what a kind can hand out.
    RevisionTooLarge(u64),
}

/// True for a version that happened (a committed batch included).
fn newer_committed<T>(version: &Version<T>) -> bool {
    match version.status() {
        Status::Committed(_) => true,
        Status::InTxn => matches!(
            version.txn().map(|txn| txn.state()),
            Some(TxnState::Committed(_))
        ),
        Status::Pending | Status::Aborted => false,
    }
}

/// Drops `garbage` — what a write displaced or held, possibly the last
/// owner of a replaced value — once the write's protocol is done, catching
/// a panic in a value's `Drop` (see "Dropping what a write replaced").
pub(super) fn dispose<G>(garbage: G) {
    let dropped = std::panic::catch_unwind(std::panic::AssertUnwindSafe(move || drop(garbage)));
    // The panic hook has reported it; the write it followed stands.
    let _ = dropped;
}

/// The change in the live count when `payload` replaces `base`.
pub(super) fn live_delta<T>(base: &Base<'_, T>, payload: &Payload<T>) -> i64 {
    match (base, payload) {
        (Base::Absent(_), Payload::Live { .. } | Payload::LiveShared { .. }) => 1,
        (Base::Live(_), Payload::Deleted { .. }) => -1,
        _ => 0,
    }
}

/// Reader side: the committed version a cell stands for now, writing
/// nothing — a version not stamped yet, or a batch not decided, stands for
/// the version it replaced. `None`: the key is absent.
fn visible<T>(cell: &Cell<T>) -> Option<Arc<Version<T>>> {
    // After a weak link broke, read the status as it is now: the version it
    // came from has been stamped, or its batch decided and undone.
    let mut latest = false;
    'reload: loop {
        let mut version = cell.load_full();
        loop {
            let status = if latest {
                version.status_latest()
            } else {
                version.status()
            };
            let happened = match status {
                Status::Committed(_) => true,
                Status::Pending | Status::Aborted => false,
                Status::InTxn => matches!(
                    version.txn().map(|txn| txn.state()),
                    Some(TxnState::Committed(_))
                ),
            };
            if happened {
                return match version.payload {
                    Payload::Empty => None,
                    _ => Some(version),
                };
            }
            version = match version.predecessor() {
                Ok(Some(replaced)) => replaced,
                Ok(None) => return None,
                // Stamped, or undone, since: look again.
                Err(Gone) => {
                    latest = true;
                    continue 'reload;
                }
            };
        }
    }
}

/// A snapshot of one kind at one revision (P6). Dropping it lets go of its
/// pins and sweeps the kind's graveyard.
pub(crate) struct RawSnapshot<T: Send + Sync + 'static> {
    kind: Arc<RawKind<T>>,
    registration: Arc<Registration<T>>,
    revision: u64,
}

impl<T: Send + Sync + 'static> RawSnapshot<T> {
    pub(crate) fn revision(&self) -> u64 {
        self.revision
    }

    pub(crate) fn kind(&self) -> &Arc<RawKind<T>> {
        &self.kind
    }

    /// Calls `f` with the live version of `key` at the snapshot's revision.
    pub(crate) fn with_live<R>(
        &self,
        key: &str,
        f: impl FnOnce(&Arc<Version<T>>) -> R,
    ) -> Option<R> {
        self.kind.keys.with_cell(key, |cell| {
            self.kind
                .at_revision(cell?, self.revision, |version| {
                    version.live().is_some().then(|| f(version))
                })
                .flatten()
        })
    }

    /// Visits the live versions at the snapshot's revision with keys in
    /// `range`, with their values, in key order, until `f` breaks.
    pub(crate) fn scan(
        &self,
        range: (Bound<&str>, Bound<&str>),
        mut f: impl FnMut(&Arc<Version<T>>, &T) -> ControlFlow<()>,
    ) {
        self.kind.keys.scan(range, |cell| {
            self.kind
                .at_revision(cell, self.revision, |version| match version.live() {
                    Some(value) => f(version, value),
                    None => ControlFlow::Continue(()),
                })
                .unwrap_or(ControlFlow::Continue(()))
        });
    }
}

impl<T: Send + Sync + 'static> Drop for RawSnapshot<T> {
    fn drop(&mut self) {
        self.kind.snapshots.unregister(&self.registration);
        self.kind.sweep();
    }
}

#[cfg(all(test, not(zestor_loom)))]
mod tests {
    use super::*;
    use crate::raw::cursor::Step;
    use crate::raw::version::EventTypes;

    /// A watch's filter: every event, with previous values.
    fn every_event(buffer: u64) -> Filter {
        Filter {
            buffer,
            types: EventTypes::ALL,
            prefix: None,
            previous: true,
        }
    }

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
        let first = kind.subscribed(Start::Now, every_event(4));
        let second = kind.subscribed(Start::Replay, every_event(4));
        assert_eq!(kind.subscribers.len(), 2);
        drop(first);
        assert_eq!(kind.subscribers.len(), 1);
        drop(second);
        assert_eq!(kind.subscribers.len(), 0, "writers skip the list again");
    }

    #[test]
    fn an_overflowed_cursor_is_still_unsubscribed_on_drop() {
        let kind = kind(2);
        let mut cursor = kind.subscribed(Start::Now, every_event(1));
        for value in 0..5 {
            kind.set("a", value).unwrap();
        }
        assert!(matches!(cursor.step(), Step::Overflow));
        drop(cursor);
        assert_eq!(kind.subscribers.len(), 0);
    }

    #[test]
    fn a_snapshot_pins_what_it_needs_and_lets_go() {
        let kind = kind(4);
        kind.set("a", 1).unwrap();
        let snapshot = kind.snapshot();
        assert_eq!(kind.snapshots.len(), 1);
        for value in 2..6 {
            kind.set("a", value).unwrap();
        }
        assert_eq!(snapshot.registration.pinned(), 4, "one pin per write");
        assert_eq!(snapshot.with_live("a", |v| *v.live().unwrap()), Some(1));
        drop(snapshot);
        assert_eq!(kind.snapshots.len(), 0);
    }

    #[test]
    fn a_delete_under_a_snapshot_waits_in_the_graveyard() {
        let kind = kind(4);
        kind.set("a", 1).unwrap();
        let snapshot = kind.snapshot();
        kind.delete("a").unwrap();
        assert_eq!(kind.graveyard.len(), 1);
        assert_eq!(snapshot.with_live("a", |v| *v.live().unwrap()), Some(1));
        drop(snapshot);
        assert_eq!(kind.graveyard.len(), 0, "swept when the snapshot went");
        let mut cells = 0;
        kind.keys.scan((Bound::Unbounded, Bound::Unbounded), |_| {
            cells += 1;
            ControlFlow::Continue(())
        });
        assert_eq!(cells, 0, "and unlinked");
    }
}
