//! The snapshot registry of one kind: which snapshots are held, at which
//! revision, and the versions each has pinned.
//!
//! The argument that a held snapshot can always read the kind as it was at
//! its revision is in `kind.rs` ("Snapshots"); this module holds the two
//! sides of its Dekker pair:
//!
//! ```text
//! snapshot (register)                 the stamper of a version v (pin)
//!   add to the list, count += 1         take v's revision r, stamp v, publish
//!   fence(SeqCst)             (F2)      fence(SeqCst)                      (F1)
//!   R = head − 1                        for each snapshot with R unknown or < r:
//!                                         pin the version v replaced
//! ```
//!
//! Either the stamper sees the snapshot (and pins), or the snapshot's read
//! of `head` comes after the stamper's fence, so it sees the revision
//! (`r ≤ R`) and does not need the replaced version. A snapshot whose `R` is
//! not set yet is pinned for, since `R` may still come out below `r`.
//! Pins are only ever added, and freed with the registration: the memory a
//! held snapshot costs is the versions replaced while it is held.

use super::stack::Stack;
use super::version::Version;
use crate::sync::{fence, Arc, ArcCell, AtomicU64, AtomicUsize, Ordering};

/// `Registration::revision` before the snapshot has read `head`.
const UNKNOWN: u64 = u64::MAX;

/// One held snapshot, as writers see it.
pub(crate) struct Registration<T> {
    revision: AtomicU64,
    pins: Stack<Arc<Version<T>>>,
}

impl<T> Registration<T> {
    /// The snapshot's revision; `None` while it is still registering.
    #[inline]
    pub(crate) fn revision(&self) -> Option<u64> {
        // Relaxed: a stale `None` only makes a writer pin conservatively.
        match self.revision.load(Ordering::Relaxed) {
            UNKNOWN => None,
            revision => Some(revision),
        }
    }

    #[cfg(all(test, not(zestor_loom)))]
    pub(crate) fn pinned(&self) -> usize {
        self.pins.len()
    }
}

/// The held snapshots of a kind: copy-on-write, as the subscriber list.
pub(crate) struct SnapshotRegistry<T> {
    list: ArcCell<Vec<Arc<Registration<T>>>>,
    /// How many snapshots the list holds: writers skip the list at zero.
    count: AtomicUsize,
}

impl<T> SnapshotRegistry<T> {
    pub(crate) fn new() -> Self {
        SnapshotRegistry {
            list: ArcCell::new(Arc::new(Vec::new())),
            count: AtomicUsize::new(0),
        }
    }

    /// Registers a snapshot, then fixes its revision: the head read after
    /// the fence (F2), less one.
    pub(crate) fn register(&self, head: &AtomicU64) -> Arc<Registration<T>> {
        let registration = Arc::new(Registration {
            revision: AtomicU64::new(UNKNOWN),
            pins: Stack::new(),
        });
        loop {
            let current = self.list.load_full();
            let mut next = Vec::with_capacity(current.len() + 1);
            next.extend(current.iter().cloned());
            next.push(Arc::clone(&registration));
            if self.list.compare_and_swap(&current, &Arc::new(next)) {
                break;
            }
        }
        self.count.fetch_add(1, Ordering::Relaxed);
        // (F2) orders the registration before the read of `head`. Pairs with
        // F1 in every stamper: see the module docs.
        fence(Ordering::SeqCst);
        // Acquire: pairs with the Release of every `fetch_add` on `head`, so
        // every version whose revision is at most R is seen installed.
        let revision = head.load(Ordering::Acquire) - 1;
        // Relaxed: writers that read the old UNKNOWN pin conservatively.
        registration.revision.store(revision, Ordering::Relaxed);
        registration
    }

    /// Removes a registration; true if no snapshot is held any more.
    pub(crate) fn unregister(&self, registration: &Arc<Registration<T>>) -> bool {
        loop {
            let current = self.list.load_full();
            if !current.iter().any(|other| Arc::ptr_eq(other, registration)) {
                return self.is_empty();
            }
            let next: Vec<_> = current
                .iter()
                .filter(|other| !Arc::ptr_eq(other, registration))
                .cloned()
                .collect();
            if self.list.compare_and_swap(&current, &Arc::new(next)) {
                return self.count.fetch_sub(1, Ordering::Relaxed) == 1;
            }
        }
    }

    /// True if no snapshot is held. Meaningful after a fence (F1): see the
    /// module docs and `RawKind::retire`.
    #[inline]
    pub(crate) fn is_empty(&self) -> bool {
        self.count.load(Ordering::Relaxed) == 0
    }

    /// Stamper side, after its fence (F1): pins `replaced`, the version the
    /// write stamped at `revision` replaced, for every snapshot that may
    /// need it.
    #[inline]
    pub(crate) fn pin(&self, replaced: &Arc<Version<T>>, revision: u64) {
        if self.is_empty() {
            return;
        }
        let list = self.list.load();
        for registration in list.iter() {
            if registration.revision().map_or(true, |held| held < revision) {
                registration.pins.push(Arc::clone(replaced));
            }
        }
    }

    /// True if a held snapshot may need the state before `revision`: its
    /// own revision is below it, or not fixed yet. Meaningful after a fence
    /// that pairs with F2 (see `RawKind::sweep`).
    pub(crate) fn needs_before(&self, revision: u64) -> bool {
        if self.is_empty() {
            return false;
        }
        self.list
            .load()
            .iter()
            .any(|registration| registration.revision().map_or(true, |held| held < revision))
    }

    #[cfg(all(test, not(zestor_loom)))]
    pub(crate) fn len(&self) -> usize {
        self.count.load(Ordering::Relaxed)
    }
}
