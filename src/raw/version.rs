//! Versions: the one allocation a successful write makes.
//!
//! A [`Version`] is at once a cell's current state and the event that
//! watchers read from the ring, so a write allocates once and publishes the
//! same pointer to both places. Versions are immutable after construction.

use crate::sync::Arc;

/// One state of one key, stamped with the kind revision that produced it.
pub(crate) struct Version<T> {
    /// The kind revision of the write that made this version; 0 for the
    /// placeholder states that no write made (a fresh cell, an initial slot).
    pub(crate) revision: u64,
    /// The key this version belongs to (shared with the indexes).
    pub(crate) key: Arc<str>,
    pub(crate) payload: Payload<T>,
}

/// What a version says about its key.
pub(crate) enum Payload<T> {
    /// A cell that was just inserted into the indexes and has not been
    /// written yet. Readers treat it as absent.
    Empty,
    /// A stored value; `created` records whether it replaced `Empty`, which
    /// is what makes its event a create rather than an update.
    Live { value: T, created: bool },
    /// A tombstone carrying the live version it replaced (the delete event's
    /// value). Terminal: no write ever replaces it (invariant I4).
    Deleted(Arc<Version<T>>),
    /// A revision that was taken and then abandoned (a lost CAS, or a panic
    /// between taking and publishing). Exists only in the ring; watchers skip it.
    Hole,
}

impl<T> Version<T> {
    pub(crate) fn new(revision: u64, key: Arc<str>, payload: Payload<T>) -> Self {
        Version {
            revision,
            key,
            payload,
        }
    }

    /// The stored value, if this version is live.
    #[inline]
    pub(crate) fn live(&self) -> Option<&T> {
        match &self.payload {
            Payload::Live { value, .. } => Some(value),
            _ => None,
        }
    }

    /// True for a tombstone: the cell holding it is dead and may be unlinked.
    #[inline]
    pub(crate) fn is_dead(&self) -> bool {
        matches!(self.payload, Payload::Deleted(_))
    }
}
