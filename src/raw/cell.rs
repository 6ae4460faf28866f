//! The cell: one compare-and-swap register of [`Version`]s per live key,
//! shared by the ordered index and the hash index.
//!
//! # States
//!
//! ```text
//!   Empty ──set──▶ Live ──set/update──▶ Live ──delete──▶ Deleted ──claim──▶ KEEP ──set──▶ Live …
//!                                                                 └──claim──▶ DYING (terminal)
//! ```
//!
//! Each arrow is one CAS of the register, installing a version that is
//! pending until stamped (P1, `kind.rs`); a batch's versions are decided by
//! their batch instead, and an aborted one stands for the version it
//! replaced until something replaces it.
//!
//! * A cell starts `Empty` when `set` inserts it for a new key.
//! * A tombstone is claimed once, on its status word: `KEEP` by a writer
//!   that will write the key again in this cell, or `DYING` by the deleter
//!   (no snapshot held) or a graveyard sweep (no snapshot needs it).
//! * **I4, dying is terminal.** No writer installs over a `DYING` tombstone
//!   (a writer must claim `KEEP` first, and the claims exclude each other),
//!   so a cell is unlinked from the indexes only once it is dying, and an
//!   install that succeeds can never land in an unlinked cell — no write is
//!   lost.
//! * Linearization point of a write: its stamp (P1). Of a read: its load of
//!   the cell and of the version's status.
//!
//! The register itself is [`ArcCell`]: `arc-swap` in normal builds (loads
//! write no shared memory), a loom stand-in under `--cfg zestor_loom`. Its
//! load is Acquire and its CAS Release, which carries each version's
//! contents to its readers.

use super::version::{Payload, Version};
use crate::sync::{Arc, ArcCell, ArcCellGuard};

/// A CAS register of versions for one key.
pub(crate) struct Cell<T> {
    current: ArcCell<Version<T>>,
}

impl<T> Cell<T> {
    /// A fresh, unwritten cell for `key`.
    pub(crate) fn empty(key: Arc<str>) -> Self {
        Cell {
            current: ArcCell::new(Arc::new(Version::committed(0, key, Payload::Empty))),
        }
    }

    /// The current version, without touching the shared reference count.
    #[inline]
    pub(crate) fn load(&self) -> ArcCellGuard<Version<T>> {
        self.current.load()
    }

    /// The current version, as an owned reference.
    #[inline]
    pub(crate) fn load_full(&self) -> Arc<Version<T>> {
        self.current.load_full()
    }

    /// Replaces `current` with `next` if the cell still holds `current`.
    #[inline]
    pub(crate) fn compare_and_swap(
        &self,
        current: &Arc<Version<T>>,
        next: &Arc<Version<T>>,
    ) -> bool {
        self.current.compare_and_swap(current, next)
    }

    /// True once the cell holds a dying tombstone (terminal, I4).
    #[inline]
    pub(crate) fn is_dead(&self) -> bool {
        self.load().is_dead()
    }
}
