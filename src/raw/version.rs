//! Versions: the one allocation a successful write makes, and the event
//! vocabulary ([`EventType`]) that a version's payload implies.
//!
//! A [`Version`] is at once a cell's current state and the event that
//! watchers read from the ring, so a write allocates once and publishes the
//! same pointer to both places. Versions are immutable after construction.
//!
//! ```text
//! Version { revision, key, payload }
//!   payload: Empty                     a fresh cell, never written (cells only)
//!          | Live { value, created }   a stored value: a create or an update event
//!          | Deleted(previous)         a tombstone; previous is the delete event's value
//!          | Hole                      an abandoned revision (ring only)
//! ```

use std::fmt;

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
    /// value). Terminal: no write ever replaces it (invariant I4, `cell.rs`).
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

impl<T> Payload<T> {
    /// The event this payload reports to watchers; `None` for the states no
    /// watcher is told about (a fresh cell, a hole).
    #[inline]
    pub(crate) fn event_type(&self) -> Option<EventType> {
        match self {
            Payload::Live { created: true, .. } => Some(EventType::Create),
            Payload::Live { created: false, .. } => Some(EventType::Update),
            Payload::Deleted(_) => Some(EventType::Delete),
            Payload::Empty | Payload::Hole => None,
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
