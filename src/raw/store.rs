//! The kinds of one store, the configuration every new kind is made with,
//! and closing the store (protocol P5).
//!
//! Kinds live in an [`OrderedIndex`] by name until removed (P8, `gate.rs`):
//! a removed kind is unlinked by its remover, or by whoever meets it first
//! (`kind_or_create`, `current_kind`). A kind
//! that was never written is read through one shared, never-written
//! stand-in (`absent`), so a read of a missing kind creates nothing and runs
//! the same code as any other read.
//!
//! # P5, close
//!
//! ```text
//! close                               a watcher (Watch::step, prepare_wait)
//!   closed.swap(true)                   register waker, waiting = true
//!   fence(SeqCst)             (F1)      fence(SeqCst)                (F3)
//!   scan the kinds: wake every          check closed, then the ring
//!   sleeping subscriber                 nothing? sleep
//! ```
//!
//! * The flag is a swap, so a second `close` returns at once.
//! * The fence comes **before** the scan of the kinds. A watcher on a kind
//!   created concurrently with `close` either registered before `close`'s
//!   F1 — then the scan, which runs after it, finds its kind and wakes it —
//!   or its F3 follows F1 in the SeqCst order, and its re-check sees the
//!   flag. Scanning first and fencing after would let such a watcher sleep
//!   through the close (found by the loom model `p5_close`, commit 4b85cc8).
//! * A watch checks the flag before anything else on every step, so it ends
//!   with `WatchError::Closed` exactly once, and events still pending are
//!   not delivered after close. Every other call checks it first too and
//!   returns `Error::Closed`.
//! * The flag is Relaxed everywhere: it guards no data. A call that
//!   happens-after `close` (through any synchronization of the caller's)
//!   sees it by coherence; the wake-up argument rests on the fences alone.
//! * The data stays until the last handle drops; the event rings, which
//!   nobody reads after close, are released by it (`ring.rs`, "History").

use std::collections::HashMap;
use std::ops::{Bound, ControlFlow};

use super::gate::Refusal;
use super::hash::KeyHashing;
use super::index::OrderedIndex;
use super::journal::JournalHook;
use super::kind::{CompareFn, Placeholders, RawKind, RestoreError, ValidateFn, Validation};
use crate::sync::{fence, Arc, AtomicBool, Ordering};

/// Every kind of the store, by name.
const ALL: (Bound<&str>, Bound<&str>) = (Bound::Unbounded, Bound::Unbounded);

/// What every kind of a store is made with.
pub(crate) struct KindConfig<T> {
    pub(crate) compare: Arc<CompareFn<T>>,
    pub(crate) validators: HashMap<String, Arc<ValidateFn<T>>>,
    /// Slots in each kind's event ring: a power of two.
    pub(crate) ring_capacity: usize,
    /// Revisions each kind keeps while unwatched (`ring.rs`, "History").
    pub(crate) history: usize,
    /// The created key at which a kind builds its hash index (`keys.rs`,
    /// "The lazy hash index"); `None`: the crate's default.
    pub(crate) hash_index_at: Option<usize>,
    pub(crate) hashing: KeyHashing,
    /// The copy of record every kind reports to, if any (`journal.rs`).
    pub(crate) journal: Option<Arc<dyn JournalHook<T>>>,
}

/// The state every handle of one store shares.
pub(crate) struct RawStore<T> {
    kinds: OrderedIndex<RawKind<T>>,
    /// Stands in for every kind that does not exist yet. Never written.
    absent: Arc<RawKind<T>>,
    /// What every kind shares instead of allocating its own.
    placeholders: Placeholders<T>,
    config: KindConfig<T>,
    closed: AtomicBool,
}

impl<T: Send + Sync + 'static> RawStore<T> {
    pub(crate) fn new(config: KindConfig<T>) -> Self {
        debug_assert!(config.ring_capacity.is_power_of_two());
        let placeholders = Placeholders::new();
        let absent = Arc::new(
            RawKind::sharing(
                Arc::from(""),
                1,
                config.hashing,
                Arc::clone(&config.compare),
                None,
                &placeholders,
            )
            .never_started(),
        );
        // `absent` is never written, so it needs no journal.
        RawStore {
            kinds: OrderedIndex::new(),
            absent,
            placeholders,
            config,
            closed: AtomicBool::new(false),
        }
    }

    /// True once [`close`](Self::close) ran. Relaxed: see "P5" above.
    #[inline]
    pub(crate) fn is_closed(&self) -> bool {
        self.closed.load(Ordering::Relaxed)
    }

    pub(crate) fn ring_capacity(&self) -> usize {
        self.config.ring_capacity
    }

    /// Calls `f` with the kind named `name`, if it exists, borrowed under the
    /// index's guard (no reference-count traffic on the read path).
    #[inline]
    pub(crate) fn with_kind<R>(
        &self,
        name: &str,
        f: impl FnOnce(Option<&Arc<RawKind<T>>>) -> R,
    ) -> R {
        self.kinds.with(name, f)
    }

    /// Calls `f` with the kind named `name`, or with the empty stand-in if it
    /// was never created: for reads, which must create nothing.
    #[inline]
    pub(crate) fn with_kind_or_absent<R>(
        &self,
        name: &str,
        f: impl FnOnce(&Arc<RawKind<T>>) -> R,
    ) -> R {
        self.kinds
            .with(name, |kind| f(kind.unwrap_or(&self.absent)))
    }

    /// What the validator of kind `name` would say, whether or not the kind
    /// exists yet: lets a caller check its arguments before creating a kind,
    /// so a rejected call leaves nothing behind.
    pub(crate) fn validation<'a>(&'a self, name: &'a str) -> Validation<'a, T> {
        let validator = self
            .config
            .validators
            .get(name)
            .map(|validator| &**validator);
        Validation::new(name, validator)
    }

    /// The kind named `name`, created (once, whatever the races) if needed.
    pub(crate) fn kind_or_create(&self, name: &str) -> Arc<RawKind<T>> {
        loop {
            let (kind, _) = self
                .kinds
                .get_or_insert_with(name, |name| Arc::new(self.new_kind(Arc::clone(name))));
            if !kind.is_removed_with_mark() {
                return kind;
            }
            // Removed, and not unlinked yet: help (P8, `gate.rs`).
            self.kinds.remove_if_same(name, &kind);
        }
    }

    /// The kind named `name` now, if there is one: for the writes that
    /// create nothing (`update`, `delete`) after their kind was removed.
    pub(crate) fn current_kind(&self, name: &str) -> Option<Arc<RawKind<T>>> {
        loop {
            let kind = self.kinds.with(name, |kind| kind.cloned())?;
            if !kind.is_removed_with_mark() {
                return Some(kind);
            }
            self.kinds.remove_if_same(name, &kind);
        }
    }

    /// P8 (`gate.rs`): removes kind `name` if it holds no live key and
    /// nobody watches it, and unlinks it from the index; `Ok(false)` if
    /// there is no such kind.
    pub(crate) fn remove_kind(&self, name: &str) -> Result<bool, Refusal> {
        let Some(kind) = self.kinds.with(name, |kind| kind.cloned()) else {
            return Ok(false);
        };
        let removed = match kind.remove() {
            Ok(()) => true,
            // Another remover won: it is gone all the same.
            Err(Refusal::AlreadyRemoved) => false,
            Err(refusal) => return Err(refusal),
        };
        // After R2 and the flag (`Gate::remove`): the mark is raised.
        self.kinds.remove_if_same(name, &kind);
        Ok(removed)
    }

    /// A kind as this store's configuration makes it, not yet shared.
    fn new_kind(&self, name: Arc<str>) -> RawKind<T> {
        let config = &self.config;
        let validator = config.validators.get(&*name).cloned();
        RawKind::sharing(
            name,
            config.ring_capacity,
            config.hashing,
            Arc::clone(&config.compare),
            validator,
            &self.placeholders,
        )
        .with_hash_index_at(config.hash_index_at)
        .with_journal(config.journal.clone())
        .with_history(config.history as u64)
    }

    /// The journal, if the store has one (`journal.rs`).
    #[inline]
    pub(crate) fn journal(&self) -> Option<&Arc<dyn JournalHook<T>>> {
        self.config.journal.as_ref()
    }

    /// J3 (`journal.rs`): creates kind `name` at `revision`, holding
    /// `entries`, without events or records — unless it exists.
    pub(crate) fn restore(
        &self,
        name: &str,
        revision: u64,
        entries: impl IntoIterator<Item = (Arc<str>, u64, T)>,
    ) -> Result<(), RestoreError> {
        if self.current_kind(name).is_some() {
            return Err(RestoreError::KindExists);
        }
        let restored = Arc::new(self.new_kind(Arc::from(name)).restored(revision, entries)?);
        let (_, inserted) = self
            .kinds
            .get_or_insert_with(name, |_| Arc::clone(&restored));
        if inserted {
            Ok(())
        } else {
            Err(RestoreError::KindExists)
        }
    }

    /// Visits every kind, by name in ascending order, until `f` breaks.
    pub(crate) fn scan_kinds(
        &self,
        mut f: impl FnMut(&Arc<str>, &Arc<RawKind<T>>) -> ControlFlow<()>,
    ) {
        self.kinds.scan(ALL, |name, kind| f(name, kind));
    }

    /// Closes the store (P5); false if it was already closed.
    pub(crate) fn close(&self) -> bool {
        // Relaxed: the fence below orders the flag for the wake-up protocol.
        if self.closed.swap(true, Ordering::Relaxed) {
            return false;
        }
        // (F1) for the closed flag, before the scan of the kinds: pairs with
        // F3 in a watcher about to sleep (see "P5" above).
        fence(Ordering::SeqCst);
        self.scan_kinds(|_, kind| {
            kind.wake_all();
            // After the flag, which every reader of the ring checks first.
            kind.release_history();
            ControlFlow::Continue(())
        });
        if let Some(journal) = self.journal() {
            // After the flag: no write that starts from now on reaches it.
            journal.close();
        }
        true
    }
}

impl<T> Drop for RawStore<T> {
    fn drop(&mut self) {
        // The last handle is gone: let the journal flush and let go of its
        // resources (a file lock) even if `close` was never called.
        if let Some(journal) = &self.config.journal {
            journal.close();
        }
    }
}
