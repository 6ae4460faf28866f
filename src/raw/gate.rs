//! P8, removing a kind: the gate every thread that changes a kind passes,
//! and the two compare-and-swaps that close it for good.
//!
//! # Why a gate
//!
//! A `set` moves its value into a version and installs it (P1 step 4)
//! before it takes a revision. A kind removed between the two would strand
//! it: the value is inside a version other threads may already hold, so
//! the writer cannot take it back and start over on the kind now under the
//! name, and the write would be lost. So nothing is removed while anyone is
//! between deciding to change the kind and being done with it: every such
//! thread is counted in the kind's gate word, and a remover needs the count
//! to be zero.
//!
//! # The word
//!
//! ```text
//!  63         62        61        60 … 0
//!  UNSTARTED  RETIRING  REMOVED   threads inside
//! ```
//!
//! Inside means: a writer from before its first install until it has
//! published (`set`, `update`, `delete`, a batch attempt), a helper stamping
//! a pending version it met (`RawKind::settle`), a watcher while it
//! registers. Readers and snapshots never enter: the gate is invisible to
//! them.
//!
//! ```text
//! enter                                   remove
//!   w = fetch_add(1)                        R1  CAS g → g | RETIRING   (count 0)
//!   REMOVED?   leave; resolve the name      check: no live key, no watcher
//!   RETIRING?  fetch_and(!RETIRING)          raise the store's mark to head
//!   UNSTARTED? start (below)                R2  CAS g | RETIRING → REMOVED
//!   … install, stamp, publish …             (on a refusal: fetch_and(!RETIRING))
//! leave
//!   fetch_sub(1)
//! ```
//!
//! * **Entering cancels a removal.** A thread that enters after R1 clears
//!   `RETIRING`; R2 wants the word exactly as R1 left it (`RETIRING`, count
//!   0), so it fails, and so it does while that thread is inside. Writers
//!   never wait for a remover, and a remover waits for nobody: it is
//!   refused (`Busy`) and may try again. A remover preempted between R1
//!   and R2 costs the first thread that enters one extra `fetch_and`.
//! * **Frozen between R1 and R2.** R1 saw nobody inside, and anybody who
//!   enters after it makes R2 fail; so if R2 succeeds, nothing changed the
//!   kind between them, and the checks in between — no live key
//!   (`has_live`, exact on a kind nobody changes), no registered subscriber
//!   — held at R2, which is the removal's linearization point. Installs
//!   and registrations of threads that left before R1 are seen by the
//!   checks: each `fetch_sub` is Release, R1 is Acquire, and the
//!   read-modify-writes between them continue the release sequence.
//! * **No revision is taken after R2.** Takes happen inside (a writer's
//!   ticket, a helper's stamp), so the kind's `head` is final at R1 when R2
//!   succeeds, and the mark raised from it is exact.
//! * **After R2** a thread that enters sees `REMOVED`, leaves, and resolves
//!   the name again (helping unlink the dead kind from the kinds index,
//!   `store.rs`). Nothing it did inside was visible: it had not installed.
//!   A read, a snapshot, an `update` or `delete` that had found the kind
//!   before R2 reads an empty kind, which is what the name held at R2.
//!
//! # Revisions continue across a removal
//!
//! A kind made after a removal must hand out revisions above the removed
//! one's, or a watch resumed from an old revision would take the new
//! kind's events for ones it has seen. The remover raises the store-wide
//! mark to the removed kind's `head` before R2; a new kind starts at the
//! mark. But a kind cannot read the mark when it is made: the kinds index
//! (crossbeam's `get_or_insert_with`) keeps a made node across its CAS
//! retries, while a kind of the same name may be created, written and
//! removed. So a kind is made `UNSTARTED`, and the first thread to enter
//! reads the mark: it found the kind in the index, which the kind joined
//! after every removal of its name, and the chain REMOVED-seen (Acquire,
//! R2 is Release) → the index's unlink → the insert → the lookup
//! (crossbeam's CASes and loads are SeqCst, so Release and Acquire at
//! least) carries the raised mark to it. Starting: CAS the kind's `start`
//! from 0 to the mark (first one wins, so every starter agrees), raise
//! `head` to it, clear `UNSTARTED` (Release: a thread that enters later
//! sees `head` raised). A snapshot does not enter; before the start it
//! reads `head = 1`, revision 0: empty, true of a kind nobody has written.
//! The ring holds nothing below `start`: a cursor asking for it is told
//! `Compacted`, as below a restored kind's floor. The mark is one word per
//! store, so any kind that starts after a removal starts above it (not
//! only one of the removed name): a jump in its numbering, which
//! revisions (not dense) allow; a store that never removes numbers every
//! kind from 1. The store's stand-in for missing kinds, which an `update` or
//! `delete` of a missing kind enters, is made started at 1
//! (`Gate::started_at_one`): it reads revision 0 whatever the mark.
//!
//! Checked by loom `p8_remove`: a removal racing a `set` through a handle,
//! a `delete`, a watch registering, and the making of the next kind of the
//! name. It fails when an entrant does not cancel `RETIRING` (a lost
//! `set`), when a watcher registers outside the gate (a watch on a dead
//! kind), when a kind reads the mark when it is made, and when an unlinker
//! reads `removed` instead of the word (both: a revision reused).

use crate::sync::{Arc, AtomicBool, AtomicU64, Ordering};

const UNSTARTED: u64 = 1 << 63;
const RETIRING: u64 = 1 << 62;
const REMOVED: u64 = 1 << 61;
const INSIDE: u64 = REMOVED - 1;

/// The kind was removed: resolve its name again.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Removed;

/// Why a kind was not removed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Refusal {
    /// A key holds a value.
    NotEmpty,
    /// A watch (or mirror) is registered on it.
    Watched,
    /// A thread was inside the gate, or entered during the removal.
    Busy,
    /// Another remover removed it first.
    AlreadyRemoved,
}

/// One kind's gate (see the module docs).
pub(crate) struct Gate {
    word: AtomicU64,
    /// The kind's first revision, once started: 0 before.
    start: AtomicU64,
    /// Read-mostly copy of `REMOVED`, for handles that check it on every
    /// call without loading the word every writer changes.
    removed: AtomicBool,
    /// The store-wide mark: every removed kind's last `head`, at most.
    mark: Arc<AtomicU64>,
}

/// A thread inside the gate; leaves when dropped (so a panic leaves too).
#[must_use]
pub(crate) struct Inside<'g> {
    gate: &'g Gate,
}

impl Drop for Inside<'_> {
    fn drop(&mut self) {
        // Release: what this thread did inside is seen by a remover whose
        // R1 finds the count back at zero (Acquire).
        self.gate.word.fetch_sub(1, Ordering::Release);
    }
}

impl Gate {
    /// A gate for a new kind, which starts at the mark when first entered
    /// (a restored kind too: raising its `head` before anyone took a
    /// revision is harmless, and it starts no lower than it was restored).
    pub(crate) fn new(mark: Arc<AtomicU64>) -> Self {
        Gate {
            word: AtomicU64::new(UNSTARTED),
            start: AtomicU64::new(0),
            removed: AtomicBool::new(false),
            mark,
        }
    }

    /// A gate started at revision 1 from the outset, whatever the mark:
    /// for a kind that is never written and never removed (the store's
    /// stand-in for missing kinds).
    pub(crate) fn started_at_one(mark: Arc<AtomicU64>) -> Self {
        Gate {
            word: AtomicU64::new(0),
            start: AtomicU64::new(1),
            removed: AtomicBool::new(false),
            mark,
        }
    }

    /// The store-wide mark this gate starts from.
    pub(crate) fn mark(&self) -> &Arc<AtomicU64> {
        &self.mark
    }

    /// Enters the gate, starting the kind (raising `head`) if nobody has.
    #[inline]
    pub(crate) fn enter(&self, head: &AtomicU64) -> Result<Inside<'_>, Removed> {
        // Acquire: a thread that finds `UNSTARTED` cleared sees the raised
        // `head` (pairs with the Release in `start`).
        let word = self.word.fetch_add(1, Ordering::Acquire);
        let inside = Inside { gate: self };
        if word & !INSIDE != 0 {
            return self.enter_slow(word, head, inside);
        }
        Ok(inside)
    }

    #[cold]
    fn enter_slow<'g>(
        &'g self,
        word: u64,
        head: &AtomicU64,
        inside: Inside<'g>,
    ) -> Result<Inside<'g>, Removed> {
        if word & REMOVED != 0 {
            // Relaxed: before this thread unlinks the kind from the index
            // (as the remover stores it before it does), so a handle that
            // follows a write to the kind made next sees it.
            self.removed.store(true, Ordering::Relaxed);
            return Err(Removed); // `inside` leaves
        }
        if word & RETIRING != 0 {
            // Relaxed: the count this thread added already makes R2 fail;
            // clearing the flag keeps it failing after this thread leaves.
            self.word.fetch_and(!RETIRING, Ordering::Relaxed);
        }
        if word & UNSTARTED != 0 {
            self.start(head);
        }
        Ok(inside)
    }

    #[cold]
    fn start(&self, head: &AtomicU64) {
        // Relaxed: this thread found the kind in the index, which happened
        // after the mark was raised for every removal of its name (module
        // docs, "Revisions continue").
        let wanted = self.mark.load(Ordering::Relaxed).max(1);
        // Relaxed: the first start wins; every starter raises `head` to it.
        let start =
            match self
                .start
                .compare_exchange(0, wanted, Ordering::Relaxed, Ordering::Relaxed)
            {
                Ok(_) => wanted,
                Err(decided) => decided,
            };
        // Relaxed: ordered before the Release below, and before this
        // thread's own take by program order.
        head.fetch_max(start, Ordering::Relaxed);
        // Release: pairs with the Acquire of every later `enter`.
        self.word.fetch_and(!UNSTARTED, Ordering::Release);
    }

    /// The revision at and below which the kind's ring holds nothing
    /// because the kind started above it: its `start − 1`. Exact for a
    /// thread inside the gate (the start happens-before its entry).
    pub(crate) fn started_after(&self) -> u64 {
        self.start.load(Ordering::Relaxed).saturating_sub(1)
    }

    /// True once the kind is removed. Relaxed: every unlink of the kind
    /// from the index follows a store of the flag in its thread, so a
    /// handle whose call follows (happens-after) a write to the kind made
    /// next under the name sees it; one that misses a removal reads an
    /// empty kind, which the name held at R2, and its writes go through
    /// `enter`, which sees `REMOVED`.
    #[inline]
    pub(crate) fn is_removed(&self) -> bool {
        self.removed.load(Ordering::Relaxed)
    }

    /// True once the kind is removed, with the removal's mark visible: for
    /// a thread about to unlink the kind and make the next one. Acquire:
    /// pairs with R2's Release (the `removed` flag carries no edge).
    pub(crate) fn is_removed_with_mark(&self) -> bool {
        self.word.load(Ordering::Acquire) & REMOVED != 0
    }

    /// R1, `check` (which runs on the frozen kind), R2. On success the
    /// kind is removed: nothing can enter it again.
    pub(crate) fn remove(
        &self,
        head: &AtomicU64,
        check: impl FnOnce() -> Result<(), Refusal>,
    ) -> Result<(), Refusal> {
        // Acquire: a caller that unlinks the kind after `AlreadyRemoved`
        // does so after the mark was raised (pairs with R2's Release).
        let word = self.word.load(Ordering::Acquire);
        if word & REMOVED != 0 {
            // Relaxed: as in `enter_slow`, before the caller unlinks.
            self.removed.store(true, Ordering::Relaxed);
            return Err(Refusal::AlreadyRemoved);
        }
        if word & (INSIDE | RETIRING) != 0 {
            return Err(Refusal::Busy);
        }
        let retiring = word | RETIRING;
        // (R1) Acquire: the release sequence of every `leave` before it.
        if self
            .word
            .compare_exchange(word, retiring, Ordering::Acquire, Ordering::Relaxed)
            .is_err()
        {
            return Err(Refusal::Busy);
        }
        if let Err(refusal) = check() {
            // Relaxed: publishes nothing; an entrant may have cleared it.
            self.word.fetch_and(!RETIRING, Ordering::Relaxed);
            return Err(refusal);
        }
        // Relaxed: `head` is final (nobody took a revision since R1, or R2
        // fails), and the mark reaches the kind made next under this name
        // through R2's Release (module docs).
        let last = head.load(Ordering::Relaxed);
        self.mark.fetch_max(last, Ordering::Relaxed);
        // (R2) Release: the mark, before anyone can see REMOVED.
        if self
            .word
            .compare_exchange(retiring, REMOVED, Ordering::Release, Ordering::Relaxed)
            .is_err()
        {
            // Someone entered since R1 and cleared RETIRING (or is inside).
            return Err(Refusal::Busy);
        }
        // Relaxed: see `is_removed`.
        self.removed.store(true, Ordering::Relaxed);
        Ok(())
    }
}
