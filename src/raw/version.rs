//! Versions: the one allocation a successful write makes, their status word
//! (pending, committed at a revision, decided by a transaction, aborted),
//! and the event vocabulary ([`EventType`]) that a version's payload implies.
//!
//! A [`Version`] is at once a cell's state and the event that watchers read
//! from the ring, so a write allocates once and publishes the same pointer to
//! both places. Its payload is immutable; only its status word changes, and
//! only forward:
//!
//! ```text
//!   PENDING ──stamp(r)──▶ r            a single-key write (anyone may stamp it)
//!   IN_TXN  ──finalize──▶ r | ABORTED  a batch or transaction (its Txn decides)
//!   r ──claim──▶ r|KEEP or r|DYING     tombstones only (keys.rs, kind.rs)
//! ```
//!
//! A version is installed in its cell **before** it has a revision (P1,
//! `kind.rs`). Until then it "has not happened": readers see the version it
//! replaced, which it links to (`prev`, weakly: the writer holds it strongly
//! until the version is stamped and, if a snapshot needs it, pinned).
//!
//! ```text
//! Version { status, key, payload, prev }
//!   payload: Empty                     a fresh cell, never written (cells only)
//!          | Live { value, created }   a stored value: a create or an update event
//!          | LiveShared { .., txn }    the same, the value shared with its set_many
//!          | Deleted { previous, txn } a tombstone; previous is the delete event's value
//!          | Hole                      an abandoned revision (ring only)
//!          | Batch(versions)           the versions of one atomic write (ring only)
//!          | WithPrevious { .. }       an update, with the value it replaced
//!          | BatchWithPrevious(..)     a batch, with what each update replaced
//!                                      (ring only, watched kinds: ring.rs)
//! ```

use std::fmt;

use crate::sync::{Arc, AtomicU64, Ordering, Weak};

/// A single-key write installed in its cell and not yet given a revision.
const PENDING: u64 = u64::MAX;
/// A version of a batch or transaction: its `txn` decides.
const IN_TXN: u64 = u64::MAX - 1;
/// A batch or transaction version that never happened.
const ABORTED: u64 = u64::MAX - 2;
/// Tombstone claim: the key is being written again; the cell must stay.
const KEEP: u64 = 1 << 62;
/// Tombstone claim: the cell is being unlinked; nobody may write it again.
const DYING: u64 = 1 << 61;
/// The revision bits of a committed status word.
const REVISION_BITS: u64 = DYING - 1;

/// The largest revision a kind can hand out (2^61 − 1: centuries of writes).
pub(crate) const MAX_REVISION: u64 = REVISION_BITS;

/// What a version's status word says.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Status {
    /// It happened, at this revision (0 for placeholders no write made).
    Committed(u64),
    /// A single-key write in its cell, without a revision yet.
    Pending,
    /// A batch or transaction version: ask its `Txn`.
    InTxn,
    /// A batch or transaction version that never happened.
    Aborted,
}

/// One state of one key.
pub(crate) struct Version<T> {
    status: AtomicU64,
    /// The key this version belongs to (shared with the indexes).
    pub(crate) key: Arc<str>,
    pub(crate) payload: Payload<T>,
    /// The version this one replaced in its cell, if it was not `Empty`.
    /// Weak: whoever installs or stamps this version holds the replaced one
    /// strongly until it is pinned for the snapshots that need it, so a reader
    /// that needs it can always upgrade (`kind.rs`, "Snapshots").
    prev: Option<Weak<Version<T>>>,
    // The batch or transaction a version belongs to is in its payload
    // (`LiveShared`, `Deleted`): 8 B less per version (96 B → 88 B for a
    // 32-byte value; BENCHMARKS.md, "Memory").
}

/// What a version says about its key.
pub(crate) enum Payload<T> {
    /// A cell that was just inserted into the indexes and has not been
    /// written yet. Readers treat it as absent.
    Empty,
    /// A stored value; `created` records whether it replaced an absent key,
    /// which is what makes its event a create rather than an update.
    Live { value: T, created: bool },
    /// A stored value shared with the `set_many` call that wrote it, which
    /// may have to install it again after an abort (`batch.rs`).
    /// `txn`: the batch or transaction that installed it, if any.
    LiveShared {
        value: Arc<T>,
        created: bool,
        txn: Option<Arc<Txn>>,
    },
    /// A tombstone carrying the live version it replaced (the delete event's
    /// value, and the state before it for snapshots), and the batch or
    /// transaction that installed it, if any.
    Deleted {
        previous: Arc<Version<T>>,
        txn: Option<Arc<Txn>>,
    },
    /// A revision that was taken and then abandoned (a lost stamp, or a panic
    /// between taking and publishing). Exists only in the ring; watchers skip it.
    Hole,
    /// The versions of one batch or transaction, in key order, sharing one
    /// revision. Exists only in the ring.
    Batch(Box<[Arc<Version<T>>]>),
    /// A single update as published (`event`), re-published with the
    /// value it replaced, held strongly. Exists only in the ring, and only
    /// where the kind had a subscriber when the write was published
    /// (`ring.rs`). Two pointers, so `Payload` stays as small as it was.
    WithPrevious {
        event: Arc<Version<T>>,
        previous: Arc<Version<T>>,
    },
    /// A batch envelope's versions re-published, each with the value it
    /// replaced if it is an update (as for `WithPrevious`).
    BatchWithPrevious(Box<[VersionAndPrevious<T>]>),
}

/// A batch version and, if it is an update, the value it replaced.
pub(crate) type VersionAndPrevious<T> = (Arc<Version<T>>, Option<Arc<Version<T>>>);

/// What a ring entry reports: its versions, in order, and what each
/// replaced where the publisher attached it.
pub(crate) enum RingEntry<'a, T> {
    /// A version or batch envelope as published: nothing attached.
    Plain(&'a [Arc<Version<T>>]),
    /// A single update and the value it replaced.
    Update(&'a Arc<Version<T>>, &'a Arc<Version<T>>),
    /// A batch, each version with what it replaced (`None`: not an update).
    Batch(&'a [VersionAndPrevious<T>]),
}

impl<'a, T> RingEntry<'a, T> {
    /// Reads a ring slot's content.
    #[inline]
    pub(crate) fn of(entry: &'a Arc<Version<T>>) -> Self {
        match &entry.payload {
            Payload::Batch(versions) => RingEntry::Plain(versions),
            Payload::WithPrevious { event, previous } => RingEntry::Update(event, previous),
            Payload::BatchWithPrevious(versions) => RingEntry::Batch(versions),
            _ => RingEntry::Plain(std::slice::from_ref(entry)),
        }
    }

    #[inline]
    pub(crate) fn len(&self) -> usize {
        match self {
            RingEntry::Plain(versions) => versions.len(),
            RingEntry::Update(..) => 1,
            RingEntry::Batch(versions) => versions.len(),
        }
    }

    /// The version at `index` (below `len`).
    #[inline]
    pub(crate) fn version(&self, index: usize) -> &'a Arc<Version<T>> {
        match self {
            RingEntry::Plain(versions) => &versions[index],
            RingEntry::Update(event, _) => event,
            RingEntry::Batch(versions) => &versions[index].0,
        }
    }

    /// What the version at `index` replaced, if the publisher attached it:
    /// `None` when nothing was attached to this entry.
    #[inline]
    pub(crate) fn attached(&self, index: usize) -> Option<Option<&'a Arc<Version<T>>>> {
        match self {
            RingEntry::Plain(_) => None,
            RingEntry::Update(_, previous) => Some(Some(previous)),
            RingEntry::Batch(versions) => Some(versions[index].1.as_ref()),
        }
    }
}

impl<T> Version<T> {
    /// A version that no write made: a fresh cell's `Empty`, a ring slot's
    /// initial hole, a hole for an abandoned revision, a ring batch entry.
    pub(crate) fn committed(revision: u64, key: Arc<str>, payload: Payload<T>) -> Self {
        Version {
            status: AtomicU64::new(revision),
            key,
            payload,
            prev: None,
        }
    }

    /// A single-key write's version, before it is installed: pending.
    pub(crate) fn pending(key: Arc<str>, payload: Payload<T>, prev: Option<&Arc<Self>>) -> Self {
        Version {
            status: AtomicU64::new(PENDING),
            key,
            payload,
            prev: prev.map(Arc::downgrade),
        }
    }

    /// A version of the batch or transaction its payload names
    /// (`LiveShared` or `Deleted` with a `txn`).
    pub(crate) fn in_txn(key: Arc<str>, payload: Payload<T>, prev: Option<&Arc<Self>>) -> Self {
        let version = Version {
            status: AtomicU64::new(IN_TXN),
            key,
            payload,
            prev: prev.map(Arc::downgrade),
        };
        debug_assert!(version.txn().is_some(), "a batch version names its batch");
        version
    }

    /// The status word, decoded.
    #[inline]
    pub(crate) fn status(&self) -> Status {
        // Acquire: pairs with the Release of `try_stamp`/`finalize`, so whoever
        // sees a revision also sees what the stamper did before (its pins).
        decode(self.status.load(Ordering::Acquire))
    }

    /// The status word as it is now, not as this thread last saw it: a
    /// read-modify-write (that changes nothing), so it reads the latest
    /// value. For the rare path that has just learned, from elsewhere, that
    /// the status must have moved on (a replaced version was let go only
    /// after the stamp), where a plain load may keep returning the old word.
    pub(crate) fn status_latest(&self) -> Status {
        // Acquire: as in `status`.
        decode(self.status.fetch_or(0, Ordering::Acquire))
    }

    /// The revision of a committed version. Only for versions known to be
    /// committed (in the ring, or handed out as a `Value`).
    #[inline]
    pub(crate) fn revision(&self) -> u64 {
        match self.status() {
            Status::Committed(revision) => revision,
            other => unreachable!("revision of an uncommitted version ({other:?})"),
        }
    }

    /// Gives a pending version its revision. If someone else did first, the
    /// revision it has instead.
    pub(crate) fn try_stamp(&self, revision: u64) -> Result<(), u64> {
        debug_assert!(revision <= MAX_REVISION);
        // Release: publishes what the stamper did before to whoever reads
        // the revision; Acquire on failure, to read the winner's.
        match self
            .status
            .compare_exchange(PENDING, revision, Ordering::AcqRel, Ordering::Acquire)
        {
            Ok(_) => Ok(()),
            Err(word) => match decode(word) {
                Status::Committed(stamped) => Err(stamped),
                other => unreachable!("only a pending version is stamped ({other:?})"),
            },
        }
    }

    /// Copies its transaction's decision into a batch or transaction version,
    /// so later readers decide from the version alone. Idempotent.
    pub(crate) fn finalize(&self, decision: TxnState) {
        let word = match decision {
            TxnState::Committed(revision) => revision,
            TxnState::Aborted => ABORTED,
            TxnState::Installing { .. } => return,
        };
        // Release/Acquire as in `try_stamp`. A failure means another thread
        // finalized it already, with the same decision.
        let _ = self
            .status
            .compare_exchange(IN_TXN, word, Ordering::AcqRel, Ordering::Acquire);
    }

    /// The transaction of a batch or transaction version.
    #[inline]
    pub(crate) fn txn(&self) -> Option<&Arc<Txn>> {
        match &self.payload {
            Payload::LiveShared { txn, .. } | Payload::Deleted { txn, .. } => txn.as_ref(),
            _ => None,
        }
    }

    /// The version this one replaced, if it was not an empty cell and is
    /// still alive: `Ok(None)` for a version that replaced nothing,
    /// `Err(Gone)` when the replaced version was freed (nobody needs it any
    /// more: see `kind.rs`, "Snapshots").
    pub(crate) fn predecessor(&self) -> Result<Option<Arc<Self>>, Gone> {
        if let Payload::Deleted { previous, .. } = &self.payload {
            return Ok(Some(Arc::clone(previous)));
        }
        match &self.prev {
            None => Ok(None),
            Some(prev) => prev.upgrade().map(Some).ok_or(Gone),
        }
    }

    /// The stored value, if this version is live.
    #[inline]
    pub(crate) fn live(&self) -> Option<&T> {
        match &self.payload {
            Payload::Live { value, .. } => Some(value),
            Payload::LiveShared { value, .. } => Some(value),
            _ => None,
        }
    }

    /// Tombstone claim: the key is written again in this cell. False if the
    /// cell is already dying (the writer must find or make another cell).
    pub(crate) fn claim_keep(&self) -> bool {
        self.claim(KEEP)
    }

    /// Tombstone claim: the cell may be unlinked. False if a writer claimed
    /// it first (the cell stays, for that writer).
    pub(crate) fn claim_dying(&self) -> bool {
        self.claim(DYING)
    }

    fn claim(&self, flag: u64) -> bool {
        debug_assert!(matches!(self.payload, Payload::Deleted { .. }));
        let mut word = self.status.load(Ordering::Acquire);
        loop {
            if word >= ABORTED {
                // Not committed yet: claims are made on committed tombstones.
                return false;
            }
            if word & (KEEP | DYING) != 0 {
                return word & flag != 0;
            }
            // Relaxed suffices: the claim orders nothing, it only decides
            // between a writer and an unlinker, and both then CAS the cell.
            match self.status.compare_exchange_weak(
                word,
                word | flag,
                Ordering::Relaxed,
                Ordering::Acquire,
            ) {
                Ok(_) => return true,
                Err(actual) => word = actual,
            }
        }
    }

    /// True for a tombstone whose cell is being unlinked: terminal (I4).
    #[inline]
    pub(crate) fn is_dead(&self) -> bool {
        if !matches!(self.payload, Payload::Deleted { .. }) {
            return false;
        }
        let word = self.status.load(Ordering::Acquire);
        word < ABORTED && word & DYING != 0
    }
}

/// The replaced version was freed: no reader may need it any more.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Gone;

fn decode(word: u64) -> Status {
    match word {
        PENDING => Status::Pending,
        IN_TXN => Status::InTxn,
        ABORTED => Status::Aborted,
        _ => Status::Committed(word & REVISION_BITS),
    }
}

impl<T> Payload<T> {
    /// The tombstone of a delete outside any batch, replacing `previous`.
    pub(crate) fn deleted(previous: Arc<Version<T>>) -> Self {
        Payload::Deleted {
            previous,
            txn: None,
        }
    }

    /// The event this payload reports to watchers; `None` for the states no
    /// watcher is told about (a fresh cell, a hole, a batch's envelope).
    #[inline]
    pub(crate) fn event_type(&self) -> Option<EventType> {
        match self {
            Payload::Live { created: true, .. } | Payload::LiveShared { created: true, .. } => {
                Some(EventType::Create)
            }
            Payload::Live { created: false, .. } | Payload::LiveShared { created: false, .. } => {
                Some(EventType::Update)
            }
            Payload::Deleted { .. } => Some(EventType::Delete),
            Payload::Empty
            | Payload::Hole
            | Payload::Batch(_)
            | Payload::WithPrevious { .. }
            | Payload::BatchWithPrevious(_) => None,
        }
    }

    /// True for a payload whose event is an update (it replaced a live value).
    #[inline]
    pub(crate) fn is_update(&self) -> bool {
        self.event_type() == Some(EventType::Update)
    }
}

/// The decision of one batch or transaction, shared by its versions.
///
/// ```text
///   Installing { floor } ──commit(r ≥ floor)──▶ Committed(r)
///        │  ▲ raise_floor (a snapshot)
///        └──┴──abort (a writer)──▶ Aborted
/// ```
///
/// A writer that meets a batch still being installed aborts it (it must
/// replace the batch's version now, and cannot wait). A snapshot at `R`
/// raises its floor to `R + 1` instead: the batch may still commit, but
/// only at a revision above `R`, so the snapshot is right to read past it.
pub(crate) struct Txn {
    state: AtomicU64,
}

/// `Txn::state` while installing: this bit, plus the floor in the low bits.
const INSTALLING: u64 = 1 << 63;

/// What a [`Txn`] says.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum TxnState {
    /// Its owner is still installing (or validating) it; it may commit only
    /// at a revision of at least `floor`.
    Installing { floor: u64 },
    /// Aborted by a conflicting writer; its owner will retry.
    Aborted,
    /// Committed at this revision.
    Committed(u64),
}

fn decode_txn(word: u64) -> TxnState {
    match word {
        ABORTED => TxnState::Aborted,
        _ if word & INSTALLING != 0 => TxnState::Installing {
            floor: word & !INSTALLING,
        },
        revision => TxnState::Committed(revision),
    }
}

impl Txn {
    pub(crate) fn new() -> Self {
        Txn {
            state: AtomicU64::new(INSTALLING),
        }
    }

    #[inline]
    pub(crate) fn state(&self) -> TxnState {
        // Acquire: pairs with the Release of `commit`, `abort` and
        // `raise_floor`, so the decision comes with what preceded it.
        decode_txn(self.state.load(Ordering::Acquire))
    }

    /// The owner decides: committed at `revision`. Fails with the state that
    /// prevents it: aborted, or a floor above `revision` (then the owner
    /// takes a later revision and tries again).
    pub(crate) fn commit(&self, revision: u64) -> Result<(), TxnState> {
        debug_assert!(revision <= MAX_REVISION);
        let mut word = self.state.load(Ordering::Acquire);
        loop {
            match decode_txn(word) {
                TxnState::Installing { floor } if floor <= revision => {}
                other => return Err(other),
            }
            // AcqRel: publishes the owner's installs and pins to whoever
            // reads the decision; Acquire on failure, as `state`.
            match self.state.compare_exchange_weak(
                word,
                revision,
                Ordering::AcqRel,
                Ordering::Acquire,
            ) {
                Ok(_) => return Ok(()),
                Err(actual) => word = actual,
            }
        }
    }

    /// A writer decides: aborted, unless it was committed. The decision.
    pub(crate) fn abort(&self) -> TxnState {
        let mut word = self.state.load(Ordering::Acquire);
        loop {
            if !matches!(decode_txn(word), TxnState::Installing { .. }) {
                return decode_txn(word);
            }
            // AcqRel, Acquire: as in `commit`.
            match self.state.compare_exchange_weak(
                word,
                ABORTED,
                Ordering::AcqRel,
                Ordering::Acquire,
            ) {
                Ok(_) => return TxnState::Aborted,
                Err(actual) => word = actual,
            }
        }
    }

    /// A snapshot decides: if still installing, the batch may commit only at
    /// `floor` or later. The state after.
    pub(crate) fn raise_floor(&self, floor: u64) -> TxnState {
        let mut word = self.state.load(Ordering::Acquire);
        loop {
            match decode_txn(word) {
                TxnState::Installing { floor: held } if held < floor => {}
                other => return other,
            }
            // AcqRel, Acquire: as in `commit`.
            match self.state.compare_exchange_weak(
                word,
                INSTALLING | floor,
                Ordering::AcqRel,
                Ordering::Acquire,
            ) {
                Ok(_) => return TxnState::Installing { floor },
                Err(actual) => word = actual,
            }
        }
    }
}

/// What a write did to a key.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum EventType {
    /// The key did not exist and now holds a value (also every replayed entry).
    Create,
    /// The key's value changed.
    Update,
    /// The key was deleted; the event carries the value it held.
    Delete,
}

impl EventType {
    const fn bit(self) -> u8 {
        match self {
            EventType::Create => 1,
            EventType::Update => 2,
            EventType::Delete => 4,
        }
    }
}

/// A set of [`EventType`]s, as a bit mask: a watcher's filter.
#[derive(Clone, Copy, PartialEq, Eq)]
pub(crate) struct EventTypes(u8);

impl EventTypes {
    pub(crate) const ALL: EventTypes = EventTypes(1 | 2 | 4);

    /// The set of `types`; an empty slice means every type (as in Go Zestor).
    pub(crate) fn of(types: &[EventType]) -> Self {
        if types.is_empty() {
            EventTypes::ALL
        } else {
            EventTypes(types.iter().fold(0, |mask, t| mask | t.bit()))
        }
    }

    #[inline]
    pub(crate) fn contains(self, event_type: EventType) -> bool {
        self.0 & event_type.bit() != 0
    }
}

impl fmt::Debug for EventTypes {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let all = [EventType::Create, EventType::Update, EventType::Delete];
        f.debug_set()
            .entries(all.into_iter().filter(|t| self.contains(*t)))
            .finish()
    }
}

#[cfg(all(test, not(zestor_loom)))]
mod tests {
    use super::*;

    /// Every key holds one version, so its size is bytes per key (BENCHMARKS
    /// "Memory"): the status word, the key, the payload and the weak link,
    /// plus an `Arc` header of 16. The batch a version belongs to rides in
    /// the payload's spare room rather than in a field of its own.
    #[test]
    fn a_version_is_four_words_and_its_payload() {
        // At most: a compiler may pack an enum better, never worse.
        // A 32-byte value, as the memory benchmark's records: 40 B payload.
        assert!(std::mem::size_of::<Payload<[u64; 4]>>() <= 40);
        assert!(std::mem::size_of::<Version<[u64; 4]>>() <= 72);
        // A one-word value: the two-pointer payloads set the size.
        assert!(std::mem::size_of::<Payload<u64>>() <= 24);
        assert!(std::mem::size_of::<Version<u64>>() <= 56);
    }
}
