//! The cell: one compare-and-swap register of [`Version`]s per live key,
//! shared by the ordered index and the hash index.
//!
//! # States
//!
//! ```text
//!   Empty ──set──▶ Live ──set/update──▶ Live ──delete──▶ Deleted (terminal)
//! ```
//!
//! * A cell starts `Empty` when `set` inserts it for a new key; only a CAS
//!   from `Empty` makes it `Live` (a create).
//! * `Deleted` is terminal (I4): no code path CASes away from it, so a cell is
//!   unlinked from the indexes only once it is dead, and a CAS that succeeds
//!   can never land in an unlinked cell — no write is lost.
//! * Linearization point of every successful write: its CAS on the cell. Of a
//!   read: its load of the cell.
//!
//! The register itself is [`ArcCell`]: `arc-swap` in
//! normal builds (loads write no shared memory), a loom stand-in under
//! `--cfg zestor_loom`. Its load is Acquire and its CAS Release, which is what
//! makes the revision order follow the CAS order (I1, see `kind.rs`).

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
            current: ArcCell::new(Arc::new(Version::new(0, key, Payload::Empty))),
        }
    }

    /// The current version, without touching the shared reference count.
    #[inline]
    pub(crate) fn load(&self) -> ArcCellGuard<Version<T>> {
        self.current.load()
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

    /// True once the cell holds a tombstone (terminal).
    #[inline]
    pub(crate) fn is_dead(&self) -> bool {
        self.load().is_dead()
    }
}
