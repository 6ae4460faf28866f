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
//! The ring keeps at most `C` recent versions alive, and allocates its
//! slots as publishers first reach them (below).
//!
//! # Lazy buckets
//!
//! Most kinds are small: a ring of `C` slots allocated up front costs
//! 8·`C` bytes (8 KB at the default 1,024) even for a kind that is empty or
//! holds one key. So the slots are split into geometric buckets, boxcar
//! style: bucket 0 holds slots `[0, B0)` (`B0` = 8), bucket `k ≥ 1` holds
//! `[B0·2^(k−1), B0·2^k)`, up to `C` (a ring smaller than `B0` is one
//! bucket of `C` slots). The bucket of an index is its top bit
//! (`leading_zeros`), so no loop finds it. A directory of `log2(C/B0) + 1`
//! cells (8 at the default) points each bucket at one shared, empty
//! `unallocated` bucket until a publisher needs it. An empty kind's ring is
//! the directory and the sentinel; one that saw a handful of writes, a
//! bucket or two of 8 slots; a busy one, all `C` slots, as before.
//!
//! * **An unallocated bucket is a bucket of vacant holes.** A reader that
//!   finds the sentinel reads the slot as holding the revision-0 hole:
//!   not yet published, or overwritten below `released_below` — what it
//!   would conclude from a real vacant slot. A release skips it: it holds
//!   nothing to release.
//! * **Installing a bucket loses no publish.** A publisher that finds the
//!   sentinel builds a bucket of vacant holes and CASes it in; one that
//!   loses the race drops its own and uses the winner's. A real bucket is
//!   never replaced, so every publish lands in the one bucket readers
//!   find, and a reader's view of a slot still only moves forward: the
//!   sentinel stands for the vacant hole each new slot starts with. The
//!   CAS is a Release, so a reader whose Acquire load finds the bucket sees
//!   its vacant slots; nobody waits for anyone. Shown by loom
//!   (`tests/loom_ring.rs`: a model where the loser overwrites the winner's
//!   bucket loses an event).
//! * **What it costs**: one more Acquire load (the directory cell) per
//!   slot access, and one allocation per bucket, on its first publish. A
//!   cursor keeps the bucket it read last (`Ring::read_cached`), so
//!   sequential reads skip the directory: a consumer pays the load once a
//!   bucket (a real bucket is never replaced, so a kept one stays the
//!   ring's). A writer takes the bucket as an `Arc` (`load_full`, one
//!   increment of its count) rather than a guard: it already holds several
//!   `arc-swap` guards, and one more sent its loads down `arc-swap`'s slow
//!   path (callgrind: `Slots::help` in every `set`). Counted by callgrind
//!   (`benches/profile.rs`, `watch_drain` and `set`): a delivered event
//!   413 → 427 instructions (532 without the kept bucket), an unwatched
//!   `set` 2,480 → 2,613 (2,710 with guards).
//!   Buckets are kept for the ring's life, `close` included: freeing one
//!   would race a publisher still writing into it, whose version would be
//!   freed wherever the bucket's last reference went — not where the
//!   write drops what it displaced (`kind.rs`).
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
use crate::sync::{lazy_installs, Arc, ArcCell, ArcCellGuard, AtomicU64, Ordering};

/// The size of bucket 0, as a power of two: 8 slots (see "Lazy buckets").
const FIRST_BUCKET_BITS: u32 = 3;
const FIRST_BUCKET: usize = 1 << FIRST_BUCKET_BITS;

pub(crate) struct Ring<T> {
    /// The directory: bucket `k` (see "Lazy buckets"), or until a
    /// publisher needs it the ring's one empty sentinel bucket, which every
    /// unallocated entry shares (and keeps alive).
    buckets: Box<[ArcCell<Bucket<T>>]>,
    mask: u64,
    /// The revision-0 hole every slot starts with, and holds again once
    /// released (see "History").
    vacant: Arc<Version<T>>,
    /// Every revision below it may have been released: a consumer waiting
    /// for one that finds its slot vacant reads it as overwritten.
    released_below: AtomicU64,
}

/// The revision-0 hole and the empty sentinel bucket, which any number of
/// rings may share: neither is ever written, and both are told apart by
/// what they hold (revision 0; no slots), never by identity.
pub(crate) struct Placeholders<T> {
    vacant: Arc<Version<T>>,
    unallocated: Arc<Bucket<T>>,
}

impl<T> Placeholders<T> {
    pub(crate) fn new() -> Self {
        Placeholders {
            vacant: Arc::new(Version::committed(0, Arc::from(""), Payload::Hole)),
            unallocated: Arc::new(Bucket {
                slots: Box::default(),
            }),
        }
    }
}

/// The bucket a consumer read last, by index (`Ring::read_cached`).
pub(crate) type BucketCache<T> = Option<(usize, Arc<Bucket<T>>)>;

/// One bucket of slots: allocated whole, on its first publish, and kept
/// for the ring's life.
pub(crate) struct Bucket<T> {
    slots: Box<[ArcCell<Version<T>>]>,
}

impl<T> Bucket<T> {
    /// True for the ring's `unallocated` sentinel (the only empty bucket).
    fn is_unallocated(&self) -> bool {
        self.slots.is_empty()
    }
}

/// The bucket of ring index `index` and the index's offset in it: bucket 0
/// holds `[0, B0)`, bucket `k ≥ 1` holds `[B0·2^(k−1), B0·2^k)`.
#[inline]
fn locate(index: usize) -> (usize, usize) {
    // The index's top bit, or B0's top bit − 1 below B0 (bucket 0).
    let top = usize::BITS - 1 - (index | (FIRST_BUCKET - 1)).leading_zeros();
    let bucket = (top + 1 - FIRST_BUCKET_BITS) as usize;
    // Bucket k ≥ 1 starts at its top bit; the mask makes bucket 0's 0.
    let start = (1 << top) & !(FIRST_BUCKET - 1);
    (bucket, index - start)
}

/// How many slots bucket `bucket` of a ring of `capacity` slots holds.
fn bucket_len(bucket: usize, capacity: usize) -> usize {
    (FIRST_BUCKET << bucket.saturating_sub(1)).min(capacity)
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
    /// hole that every real revision (from 1) is newer than — as buckets
    /// not yet allocated (see "Lazy buckets"); with placeholders of its own
    /// (unit tests, the loom ones included: they race the installs).
    #[cfg(test)]
    pub(crate) fn new(capacity: usize) -> Self {
        Self::with_buckets(capacity, &Placeholders::new(), true)
    }

    /// A ring as `new` (unit tests) makes it, but with the vacant hole and
    /// the unallocated sentinel `shared`'s: the kinds of one store share
    /// them, so an empty ring allocates only its directory. Under loom,
    /// unless a model races the installs, every bucket is allocated up
    /// front (`sync.rs`, `LAZY_INSTALLS`).
    pub(crate) fn sharing(capacity: usize, shared: &Placeholders<T>) -> Self {
        Self::with_buckets(capacity, shared, lazy_installs())
    }

    /// A ring whose buckets are allocated on their first publish if
    /// `lazy`, else now.
    fn with_buckets(capacity: usize, shared: &Placeholders<T>, lazy: bool) -> Self {
        debug_assert!(capacity.is_power_of_two());
        let (last, _) = locate(capacity - 1);
        Ring {
            buckets: (0..=last)
                .map(|bucket| {
                    if lazy {
                        ArcCell::new(Arc::clone(&shared.unallocated))
                    } else {
                        ArcCell::fixed(Self::vacant_bucket(bucket, capacity, &shared.vacant))
                    }
                })
                .collect(),
            mask: capacity as u64 - 1,
            vacant: Arc::clone(&shared.vacant),
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
            let (bucket, offset) = self.locate(revision);
            let bucket = self.buckets[bucket].load_full();
            // An unallocated bucket holds nothing to release.
            let Some(slot) = bucket.slots.get(offset) else {
                continue;
            };
            let current = slot.load();
            if current.revision() == revision && slot.compare_and_swap(&current, &self.vacant) {
                dispose(current);
            }
        }
    }

    /// Releases every slot: for `close`, after which nobody reads the ring.
    /// The buckets stay allocated (see "Lazy buckets").
    pub(crate) fn release_all(&self, mut dispose: impl FnMut(ArcCellGuard<Version<T>>)) {
        // Release: a consumer that reads this mark (Acquire, in `read`)
        // also sees what close wrote before, its flag: it ends with
        // `Closed`, not with the overflow the mark reads as.
        self.released_below.fetch_max(u64::MAX, Ordering::Release);
        for bucket in self.buckets.iter() {
            // An unallocated bucket has no slots: nothing to release.
            for slot in bucket.load().slots.iter() {
                let current = slot.load();
                if slot.compare_and_swap(&current, &self.vacant) {
                    dispose(current);
                }
            }
        }
    }

    pub(crate) fn capacity(&self) -> u64 {
        self.mask + 1
    }

    /// The bucket and offset of `revision`'s slot.
    #[inline]
    fn locate(&self, revision: u64) -> (usize, usize) {
        // The mask keeps the index below the capacity, so the bucket is
        // in the directory.
        locate((revision & self.mask) as usize)
    }

    /// The bucket `bucket`, allocated, as an `Arc` (a writer's guards are
    /// spent: see "Lazy buckets"): if it is still the sentinel, a new
    /// bucket of vacant slots is CASed in; a publisher that loses the race
    /// takes the winner's and drops its own. A real bucket is never
    /// replaced, so no publish into it is lost (see "Lazy buckets").
    fn allocated(&self, bucket: usize) -> Arc<Bucket<T>> {
        let cell = &self.buckets[bucket];
        let current = cell.load_full();
        if !current.is_unallocated() {
            return current;
        }
        let fresh = Self::vacant_bucket(bucket, self.mask as usize + 1, &self.vacant);
        // AcqRel (the CAS): Release publishes the vacant slots built above
        // to every reader whose Acquire load finds the bucket; on failure,
        // the winner's bucket is there, loaded again below (Acquire).
        let _ = cell.compare_and_swap(&current, &fresh);
        cell.load_full()
    }

    /// A new bucket `bucket` of a ring of `capacity` slots, every slot
    /// holding the `vacant` hole.
    fn vacant_bucket(bucket: usize, capacity: usize, vacant: &Arc<Version<T>>) -> Arc<Bucket<T>> {
        Arc::new(Bucket {
            slots: (0..bucket_len(bucket, capacity))
                .map(|_| ArcCell::new(Arc::clone(vacant)))
                .collect(),
        })
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
        let (bucket, offset) = self.locate(revision);
        let bucket = self.allocated(bucket);
        let slot = &bucket.slots[offset];
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
        // The bucket is allocated: this publisher published into it.
        let (bucket, offset) = self.locate(revision);
        if let Some(slot) = self.buckets[bucket].load_full().slots.get(offset) {
            let _ = slot.compare_and_swap(version, &wrapped);
        }
    }

    /// Reads the slot of `revision`. A slot of an unallocated bucket reads
    /// as the vacant hole it stands for (see "Lazy buckets").
    #[inline]
    pub(crate) fn read(&self, revision: u64) -> SlotRead<T> {
        let (bucket, offset) = self.locate(revision);
        let found = self.buckets[bucket]
            .load()
            .slots
            .get(offset)
            .map(|slot| slot.load());
        self.classify(revision, found)
    }

    /// [`read`](Self::read) for a consumer that reads on from where it
    /// read last: `cache` keeps the allocated bucket it read last, so reads
    /// within one bucket skip the directory (a real bucket is never
    /// replaced, so a kept one is the ring's own).
    #[inline]
    pub(crate) fn read_cached(&self, revision: u64, cache: &mut BucketCache<T>) -> SlotRead<T> {
        let (bucket, offset) = self.locate(revision);
        let found = match cache {
            Some((kept, slots)) if *kept == bucket => Some(slots.slots[offset].load()),
            _ => {
                let loaded = self.buckets[bucket].load();
                let found = loaded.slots.get(offset).map(|slot| slot.load());
                if found.is_some() {
                    *cache = Some((bucket, Arc::clone(&loaded)));
                }
                found
            }
        };
        self.classify(revision, found)
    }

    /// What a consumer of `revision` concludes from `found`, the slot's
    /// content, or `None` for a slot of an unallocated bucket.
    #[inline(always)]
    fn classify(&self, revision: u64, found: Option<ArcCellGuard<Version<T>>>) -> SlotRead<T> {
        match found {
            Some(current) if current.revision() == revision => SlotRead::Published(current),
            Some(current) if current.revision() > revision => SlotRead::Overwritten,
            // An older revision, or the vacant hole (an unallocated bucket
            // stands for one). A vacant hole put back by a release was
            // loaded Acquire above, after the release raised the mark
            // (History). Acquire: pairs with `release_all`'s Release, so a
            // consumer that sees close's mark sees the closed flag too.
            _ if revision < self.released_below.load(Ordering::Acquire) => SlotRead::Overwritten,
            _ => SlotRead::NotYet,
        }
    }

    /// True if the slot of `revision` holds exactly that revision.
    #[cfg(test)]
    pub(crate) fn is_published(&self, revision: u64) -> bool {
        matches!(self.read(revision), SlotRead::Published(_))
    }

    /// How many slots the allocated buckets hold.
    #[cfg(all(test, not(zestor_loom)))]
    pub(crate) fn allocated_slots(&self) -> usize {
        self.buckets
            .iter()
            .map(|bucket| bucket.load().slots.len())
            .sum()
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
    fn buckets_double_from_the_first_and_tile_the_capacity() {
        assert_eq!(locate(0), (0, 0));
        assert_eq!(locate(7), (0, 7));
        assert_eq!(locate(8), (1, 0));
        assert_eq!(locate(15), (1, 7));
        assert_eq!(locate(16), (2, 0));
        assert_eq!(locate(1023), (7, 511));
        for capacity in [1usize, 2, 4, 8, 16, 64, 1024, 1 << 20] {
            let (last, _) = locate(capacity - 1);
            let mut next = 0;
            for bucket in 0..=last {
                let len = bucket_len(bucket, capacity);
                for offset in 0..len {
                    assert_eq!(locate(next), (bucket, offset), "{capacity}");
                    next += 1;
                }
            }
            assert_eq!(next, capacity, "the buckets hold exactly the capacity");
        }
    }

    #[test]
    fn a_bucket_is_allocated_on_its_first_publish() {
        let ring = Ring::<u32>::new(1024);
        assert_eq!(ring.allocated_slots(), 0, "an empty ring allocates no slot");
        assert!(matches!(ring.read(1), SlotRead::NotYet));
        assert!(matches!(ring.read(700), SlotRead::NotYet));
        ring.release_through(1, drop);
        assert!(matches!(ring.read(1), SlotRead::Overwritten), "released");
        assert!(matches!(ring.read(2), SlotRead::NotYet));
        assert_eq!(
            ring.allocated_slots(),
            0,
            "reads and releases allocate none"
        );
        for revision in 2..=8 {
            assert!(ring.publish(revision, &version(revision)).is_some());
        }
        assert_eq!(ring.allocated_slots(), 16, "buckets 0 and 1");
        for revision in 9..=2000 {
            assert!(ring.publish(revision, &version(revision)).is_some());
        }
        assert_eq!(ring.allocated_slots(), 1024, "a busy ring is whole");
        assert!(ring.is_published(2000));
        assert!(matches!(ring.read(976), SlotRead::Overwritten));
        let mut released = 0;
        ring.release_all(|_| released += 1);
        assert_eq!(released, 1024);
        assert!(matches!(ring.read(2000), SlotRead::Overwritten));
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
