//! The event ring (protocol P3): a multi-producer broadcast ring per kind,
//! Disruptor style, where producers never wait for consumers.
//!
//! Slot `n mod C` holds the latest version (or hole) published for a
//! revision congruent to `n`. The stamp (the version's revision) and the
//! payload live in one allocation and change with one pointer swap, so a
//! reader can never pair one revision's stamp with another's payload.
//!
//! * A publisher CASes its version in, and never replaces a slot that already
//!   holds a newer revision: a producer that finds one has stalled for a whole
//!   lap and reports it, so the kind can mark its subscribers overflowed.
//! * A consumer at cursor `c` reads slot `c mod C`: the stamp equals `c` —
//!   deliver; is smaller — not yet published, wait; is larger — the ring
//!   lapped the consumer: overflow.
//!
//! The ring keeps at most `C` recent versions alive.

use super::version::{Payload, Version};
use crate::sync::{Arc, ArcCell, ArcCellGuard};

pub(crate) struct Ring<T> {
    slots: Box<[ArcCell<Version<T>>]>,
    mask: u64,
}

/// What a consumer finds in the slot of the revision it waits for.
pub(crate) enum SlotRead<T> {
    /// The version or hole with exactly that revision.
    Published(ArcCellGuard<Version<T>>),
    /// An older revision: the wanted one is still in flight.
    NotYet,
    /// A newer revision: the wanted one was overwritten.
    Overwritten,
}

impl<T> Ring<T> {
    /// A ring of `capacity` slots (a power of two), each holding a revision-0
    /// hole that every real revision (from 1) is newer than.
    pub(crate) fn new(capacity: usize) -> Self {
        debug_assert!(capacity.is_power_of_two());
        let initial = Arc::new(Version::committed(0, Arc::from(""), Payload::Hole));
        Ring {
            slots: (0..capacity)
                .map(|_| ArcCell::new(Arc::clone(&initial)))
                .collect(),
            mask: capacity as u64 - 1,
        }
    }

    pub(crate) fn capacity(&self) -> u64 {
        self.mask + 1
    }

    #[inline]
    fn slot(&self, revision: u64) -> &ArcCell<Version<T>> {
        // The mask keeps the index below `slots.len()`.
        &self.slots[(revision & self.mask) as usize]
    }

    /// Publishes `version`, stamped `revision`, into its slot. False if the slot already holds a
    /// newer revision (this producer was lapped); the version is then dropped.
    pub(crate) fn publish(&self, revision: u64, version: &Arc<Version<T>>) -> bool {
        debug_assert_eq!(version.revision(), revision);
        let slot = self.slot(revision);
        loop {
            let current = slot.load();
            if current.revision() > revision {
                return false;
            }
            if slot.compare_and_swap(&current, version) {
                return true;
            }
        }
    }

    /// Reads the slot of `revision`.
    #[inline]
    pub(crate) fn read(&self, revision: u64) -> SlotRead<T> {
        let current = self.slot(revision).load();
        match current.revision().cmp(&revision) {
            std::cmp::Ordering::Equal => SlotRead::Published(current),
            std::cmp::Ordering::Less => SlotRead::NotYet,
            std::cmp::Ordering::Greater => SlotRead::Overwritten,
        }
    }

    /// True if the slot of `revision` holds exactly that revision.
    #[cfg(test)]
    pub(crate) fn is_published(&self, revision: u64) -> bool {
        matches!(self.read(revision), SlotRead::Published(_))
    }
}

#[cfg(all(test, not(zestor_loom)))]
mod tests {
    use super::*;

    fn version(revision: u64) -> Arc<Version<u32>> {
        Arc::new(Version::committed(revision, Arc::from("k"), Payload::Hole))
    }

    #[test]
    fn a_slot_reports_older_equal_and_newer_stamps() {
        let ring = Ring::<u32>::new(4);
        assert!(
            matches!(ring.read(1), SlotRead::NotYet),
            "the initial stamp is 0"
        );
        assert!(ring.publish(1, &version(1)));
        assert!(matches!(ring.read(1), SlotRead::Published(v) if v.revision() == 1));
        assert!(ring.is_published(1));
        assert!(
            matches!(ring.read(5), SlotRead::NotYet),
            "same slot, older stamp"
        );
        assert!(ring.publish(5, &version(5)));
        assert!(matches!(ring.read(1), SlotRead::Overwritten), "lapped");
    }

    #[test]
    fn a_publisher_never_replaces_a_newer_revision() {
        let ring = Ring::<u32>::new(2);
        assert!(ring.publish(4, &version(4)));
        assert!(
            !ring.publish(2, &version(2)),
            "a stalled producer is told it was lapped"
        );
        assert!(matches!(ring.read(4), SlotRead::Published(v) if v.revision() == 4));
    }
}
