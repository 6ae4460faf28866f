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
//!
//! # History
//!
//! What the ring holds beyond the watchers' needs is history, kept only for
//! watches that resume from a past revision (`start_revision`): a kind
//! keeps its last `h` revisions (`StoreBuilder::history`, at most `C`)
//! when nobody watches it. A publisher of revision `r` that, after its
//! F1, finds no subscriber registered releases the slots of revisions up
//! to `r − h` still in the ring: it raises `released_below` to `r − h + 1`,
//! then CASes each such slot, if it still holds exactly its revision, back
//! to the vacant hole, and drops what it held once its own write is done.
//! A released revision reads as overwritten.
//!
//! * **No registered consumer loses an event.** A consumer registered
//!   before the publisher's F1 is seen (its F2 pairs with F1), and nothing
//!   is released. One registered after it reads `head` after its F2, so it
//!   starts above `r`, above everything `r` releases — whenever the
//!   release actually runs. A watch resumed from a released revision fails
//!   with `Compacted`, or, if the release lands between its check and its
//!   read, gets `Overflow`: an explicit end either way, as when the ring
//!   laps it.
//! * **A vacant slot is not mistaken for a gap.** It holds revision 0, so
//!   a consumer waiting for an unpublished revision at or above the mark
//!   waits; below the mark it reads "overwritten". The mark is raised
//!   before the slot CASes (Release), so a consumer whose Acquire load
//!   finds the vacant hole also sees the mark.
//! * **What it keeps alive**: an unwatched kind, the versions (and
//!   tombstones) of its last `h` revisions; a watched one, of its last `C`.
//!   A revision still unpublished when the mark passed it (its writer
//!   stalled) is published into its vacant slot and stays until the ring
//!   reuses the slot. After a watched period, the next unwatched write
//!   releases what the watchers kept (up to `C` slots at once).
//! * `close` releases every slot (`release_all`): nobody reads the ring
//!   after it. A watcher racing it may find a slot below the raised mark
//!   without having seen the closed flag yet; the mark is raised with
//!   Release and read with Acquire, so it sees the flag once it has seen
//!   the mark, and `Watch` re-checks the flag before reporting an overflow
//!   (found by loom `p5_close`).
//!
//! # Previous values
//!
//! An update event carries the value it replaced (`Event::previous`). The
//! version links to it only weakly (`version.rs`), so on a kind with a
//! subscriber the publisher, after its F1, swaps its slot's content for a
//! `WithPrevious` (or `BatchWithPrevious`) envelope that holds those
//! replaced values strongly
//! ([`Ring::attach_previous`]). It holds every replaced value strongly until
//! it returns, so each is there to take. A kind nobody watches pays nothing
//! (no allocation, no second swap), and creates, deletes and holes are never
//! wrapped (a create replaced nothing; a tombstone holds its value).
//!
//! * **Every subscriber that can read the event finds the previous
//!   values.** A subscriber registered before the publisher's F1 (its F2
//!   pairs with F1) is seen, so the envelope goes in. A consumer that loads
//!   the unwrapped version first upgrades the weak link: the publisher still
//!   holds the value, or the envelope now does — so the link fails only if
//!   the slot was overwritten (the consumer was lapped: overflow) or the
//!   publisher saw no subscriber. The latter can only be met by a watch
//!   that starts before the revision it subscribed at (`start_revision`):
//!   `RawKind::subscribe` takes the values still alive then and keeps them;
//!   for one already freed the update comes without one (`cursor.rs`).
//! * **What it keeps alive**: while watched, each slot holding an update
//!   also holds the value that update replaced: at most `C` more values per
//!   kind, released as the ring moves on.

use super::version::{Payload, Version};
use crate::sync::{Arc, ArcCell, ArcCellGuard, AtomicU64, Ordering};

pub(crate) struct Ring<T> {
    slots: Box<[ArcCell<Version<T>>]>,
    mask: u64,
    /// The revision-0 hole every slot starts with, and holds again once
    /// released (see "History").
    vacant: Arc<Version<T>>,
    /// Every revision below it may have been released: a consumer waiting
    /// for one that finds its slot vacant reads it as overwritten.
    released_below: AtomicU64,
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
        let vacant = Arc::new(Version::committed(0, Arc::from(""), Payload::Hole));
        Ring {
            slots: (0..capacity)
                .map(|_| ArcCell::new(Arc::clone(&vacant)))
                .collect(),
            mask: capacity as u64 - 1,
            vacant,
            released_below: AtomicU64::new(1),
        }
    }

    /// The oldest revision a consumer may still find: none below it was
    /// released, and the ring has not lapped it as of `head`.
    pub(crate) fn oldest(&self, head: u64) -> u64 {
        head.saturating_sub(self.capacity())
            .max(self.released_below.load(Ordering::Relaxed))
            .max(1)
    }

    /// Releases the slots of the published revisions up to `through` that
    /// are still in the ring, handing each displaced version to `dispose`
    /// (see "History"). The caller has made sure no registered consumer
    /// can need them.
    pub(crate) fn release_through(
        &self,
        through: u64,
        mut dispose: impl FnMut(ArcCellGuard<Version<T>>),
    ) {
        let below = through + 1;
        // Relaxed: the slot CASes below (Release) carry this value to any
        // consumer that finds their vacant hole (their Acquire load).
        let from = self.released_below.fetch_max(below, Ordering::Relaxed);
        for revision in from.max(below.saturating_sub(self.capacity()))..below {
            let slot = self.slot(revision);
            let current = slot.load();
            if current.revision() == revision && slot.compare_and_swap(&current, &self.vacant) {
                dispose(current);
            }
        }
    }

    /// Releases every slot: for `close`, after which nobody reads the ring.
    pub(crate) fn release_all(&self, mut dispose: impl FnMut(ArcCellGuard<Version<T>>)) {
        // Release: a consumer that reads this mark (Acquire, in `read`)
        // also sees what close wrote before, its flag: it ends with
        // `Closed`, not with the overflow the mark reads as.
        self.released_below.fetch_max(u64::MAX, Ordering::Release);
        for slot in self.slots.iter() {
            let current = slot.load();
            if slot.compare_and_swap(&current, &self.vacant) {
                dispose(current);
            }
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

    /// Publishes `version`, stamped `revision`, into its slot, and hands
    /// back what it displaced — possibly the last owner of an old value,
    /// which the caller drops once its protocol is done (`kind.rs`,
    /// "Dropping what a write replaced"). `None` if the slot already holds
    /// a newer revision (this producer was lapped).
    pub(crate) fn publish(
        &self,
        revision: u64,
        version: &Arc<Version<T>>,
    ) -> Option<ArcCellGuard<Version<T>>> {
        debug_assert_eq!(version.revision(), revision);
        let slot = self.slot(revision);
        loop {
            let current = slot.load();
            if current.revision() > revision {
                return None;
            }
            if slot.compare_and_swap(&current, version) {
                return Some(current);
            }
        }
    }

    /// After publishing `version` at `revision` and F1, on a kind with
    /// subscribers: re-publishes it wrapped with the values its updates
    /// replaced (see "Previous values"). Nothing to attach, no allocation;
    /// a slot already lapped keeps what it has.
    pub(crate) fn attach_previous(&self, revision: u64, version: &Arc<Version<T>>) {
        // The publisher holds each replaced value strongly: the upgrades
        // succeed.
        let replaced = |version: &Arc<Version<T>>| match version.payload.is_update() {
            true => version.predecessor().ok().flatten(),
            false => None,
        };
        let payload = match &version.payload {
            Payload::Batch(versions) => {
                if !versions.iter().any(|version| version.payload.is_update()) {
                    return;
                }
                let each = versions
                    .iter()
                    .map(|version| (Arc::clone(version), replaced(version)))
                    .collect();
                Payload::BatchWithPrevious(each)
            }
            _ => match replaced(version) {
                Some(previous) => Payload::WithPrevious {
                    event: Arc::clone(version),
                    previous,
                },
                None => return,
            },
        };
        let wrapped = Arc::new(Version::committed(
            revision,
            Arc::clone(&version.key),
            payload,
        ));
        // Fails only if a later lap took the slot: nobody can read it now.
        let _ = self.slot(revision).compare_and_swap(version, &wrapped);
    }

    /// Reads the slot of `revision`.
    #[inline]
    pub(crate) fn read(&self, revision: u64) -> SlotRead<T> {
        let current = self.slot(revision).load();
        match current.revision().cmp(&revision) {
            std::cmp::Ordering::Equal => SlotRead::Published(current),
            // A vacant hole put back by a release was loaded Acquire above,
            // after the release raised the mark (History). Acquire: pairs
            // with `release_all`'s Release, so a consumer that sees close's
            // mark sees the closed flag too.
            std::cmp::Ordering::Less if revision < self.released_below.load(Ordering::Acquire) => {
                SlotRead::Overwritten
            }
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
        assert!(ring.publish(1, &version(1)).is_some());
        assert!(matches!(ring.read(1), SlotRead::Published(v) if v.revision() == 1));
        assert!(ring.is_published(1));
        assert!(
            matches!(ring.read(5), SlotRead::NotYet),
            "same slot, older stamp"
        );
        assert!(ring.publish(5, &version(5)).is_some());
        assert!(matches!(ring.read(1), SlotRead::Overwritten), "lapped");
    }

    #[test]
    fn a_publisher_never_replaces_a_newer_revision() {
        let ring = Ring::<u32>::new(2);
        assert!(ring.publish(4, &version(4)).is_some());
        assert!(
            ring.publish(2, &version(2)).is_none(),
            "a stalled producer is told it was lapped"
        );
        assert!(matches!(ring.read(4), SlotRead::Published(v) if v.revision() == 4));
    }
}
