//! The key index of one kind: an ordered index and a hash index that point at
//! the same [`Cell`] per key (invariant I6).
//!
//! # Why two indexes
//!
//! The contract promises key order (`list`, `range`, `prefix`, replay), and
//! a skip list gives it; but with 1M string keys out of cache a skip-list
//! point lookup is about ten serial cache misses, several times a lock-free
//! hash lookup (`cargo bench --bench point_get`, BENCHMARKS.md). So point
//! operations go through the hash index, scans through the ordered one, and
//! both reach one cell per key. An update of an existing key touches only
//! the hash index and the cell; only a new key or a delete touches the skip
//! list.
//! A kind with few keys has no hash index at all (see "The lazy hash
//! index"): its point operations go through the skip list.
//!
//! # I6: one live cell per key
//!
//! * The ordered index (`order`) decides which cell is canonical for a key:
//!   `get_or_insert_with` makes concurrent creators agree on one.
//! * The canonical cell is published to the hash index (`point`), once that
//!   is built, *before* it can become live: [`KeyIndex::with_cell_for_insert`]
//!   publishes it before handing it to the writer, with an insert that only
//!   replaces a missing or dead entry (below: F4 covers a hash index built
//!   while the writer runs).
//! * A dead cell (one holding a `DYING` tombstone, `cell.rs`) is unlinked
//!   from `point` (only if it is still the cell there) and then from
//!   `order` (likewise), and then **emptied**: its tombstone is swapped for
//!   one that holds no value (below).
//!
//! # Emptying a dead cell
//!
//! An unlinked cell is freed by the maps' reclamation, not by its unlinker:
//! papaya's (per map: everything goes when the map does) and
//! crossbeam-epoch's global collector, which frees a skip-list node only
//! once every thread that may have garbage in its thread-local bag pins
//! again — a writer thread that deleted keys and then went idle keeps them
//! for good, even after the store is dropped (issue 11). So the unlinker
//! swaps the cell's `DYING` tombstone for a *husk*: a `DYING` tombstone of
//! the same key and revision whose "deleted value" is the index's shared
//! `Empty` version. What the reclaimers keep is then a cell, a key and a
//! husk; the value goes with the tombstone's last owner (the ring slot of
//! the delete event).
//!
//! The husk is read exactly as the tombstone it replaces: it is dead
//! (`is_dead`), so a writer will not claim it (I4 still holds: dying stays
//! terminal); a reader finds a deletion; a snapshot finds a deletion at the
//! same revision, and no snapshot can need what the tombstone held — a
//! tombstone is claimed `DYING` only when none does (`kind.rs`, P6). The
//! swap is a CAS from the tombstone, so any number of unlinkers empty the
//! cell once.
//!
//! Consequences the write protocol relies on:
//! * a live cell stays in `point` until it dies, so `point` missing a key, or
//!   holding an `Empty` cell, proves the key absent at that instant; a dead
//!   cell found in `point` is read as absent;
//! * a cell is removed from `order` only when dead, so when `point` holds a
//!   different, non-dead cell than the one `order` gave us, ours is dead and
//!   the writer's next load sees the tombstone and retries;
//! * nothing is inserted by a read, and nothing before validation passed.
//!
//! # The lazy hash index
//!
//! A papaya map costs about 17 KB empty (its own `seize::Collector`), so a
//! hash index per kind made an empty kind about 27 KB and 100K one-key
//! kinds about 2.6 GB (issue 11). papaya's shared collector is no way out:
//! `HashMap::drop` reclaims everything in the collector (papaya 0.2.5),
//! sound only when no other thread uses it. So `point` is built only once
//! the kind has created `threshold` cells (64; `created`, counted by
//! `insert_cell` — re-creations of a deleted key count too, and the count
//! never goes down, so the election below happens once). At 64 keys the
//! skip list is six levels, a lookup a few dozen nanoseconds in cache, and
//! the keys' own memory (a cell, a key, a version: about 200 B each, more
//! with values) is already comparable to the map's fixed 17 KB; below it a
//! hash index would mostly be overhead.
//!
//! **Phases.** Unbuilt → built (`point.set`, writers publish into it) →
//! filled (`filled`, readers use it). The filler is the one thread whose
//! `created.fetch_add(1)` returns `threshold − 1`: fetch-and-add hands out
//! distinct values, so exactly one thread sets `point` (`OnceSlot`, a std
//! `OnceLock` that therefore never contends or blocks; `get` is an Acquire
//! load). Writers that see `point` built stop counting.
//!
//! * **Readers** (`with_cell`, `cell`): `filled` (Acquire) → `point`, as
//!   before; else `order`. Both are exact for live cells at any instant:
//!   `order` holds the canonical cell of every key with a non-dead cell (a
//!   cell leaves it only dead), and `point`, once filled, holds every live
//!   cell (below). Dead cells read as absent in either.
//! * **A writer** (`with_cell_for_insert`): filled → `point`'s cell, or
//!   `insert_cell` on a miss, as before. Not filled → `order`'s cell, or
//!   `insert_cell` on a miss, and either way **publishes** it before
//!   handing it over: if `point` is not seen built, F4 (`fence(SeqCst)`)
//!   and look again; if it is built, `insert_unless` the cell as above.
//!   Once `point` is seen built there is no fence: the common path of a big
//!   kind is unchanged but for one Acquire load of `filled` and a branch.
//! * **The filler**: `point.set`, F4, a scan of `order` that
//!   `insert_unless`es every cell it finds not dead (the same rule: keep
//!   our cell or any non-dead one), then `filled.store(true, Release)`.
//!
//! **F4 (store buffering).** The writer: cell in `order` (its own insert,
//! or the insert it read the cell from: that insert happens-before the
//! writer's fence) → F4 → load `point`. The filler: set `point` → F4 →
//! read `order`. In the single order of SeqCst fences one F4 comes first:
//! if the writer's, the filler's scan (after its fence) finds the cell, or a
//! later state of the key, i.e. a newer cell or none — the cell was
//! unlinked, so dead; if the filler's, the writer's load sees `point` built
//! and the writer publishes the cell itself before it can become live.
//! So when `filled` is stored, every cell that is live, or becomes live
//! later, is in `point` or will be put there by its writer before it becomes
//! live — I6 holds for `point` from the moment readers use it, and readers
//! that see `filled` (Acquire) see the fill's inserts. The publish from
//! `order`'s fast path matters for real time: the cell's creator may have
//! seen `point` built and not yet put the cell there when another writer
//! makes the cell live and returns; a reader of the filled `point` must not
//! then miss it. Without either fence loom finds a created key missing
//! from the filled `point` for good (`loom-tests/tests/point_fill.rs`).
//!
//! **Linearization.** A read linearizes at its lookup in whichever index it
//! chose (a live cell is in both from before it is live until it dies), and
//! then at its load of the cell, as before. A read that sees `filled` false
//! and reads `order` after the fill is still exact: `order` is complete.
//! If the fill stops half-way (a panic in it), `filled` is never stored and
//! readers stay on `order`: slower, still correct; writers still publish.
//!
//! **Unlinking during the fill.** `unlink` removes the cell from `point`
//! if built, then from `order`, as before. A cell the filler found not dead
//! may die and be unlinked before the filler's insert lands; the insert
//! then leaves a dead cell (emptied to its husk) in `point`. It is read as
//! absent, never hides a live cell (`insert_unless` replaces a dead entry,
//! and the filler keeps any non-dead one it meets), and the key's next
//! write or delete finds it dead and unlinks it (P1 step 2). At most one
//! such entry per cell that died during the fill, holding no value; not
//! worth a fence on every unlink.
//!
//! # Freeing the tables a growing hash index replaced
//!
//! papaya hands a table its resize replaced to the map's `seize`
//! collector, which frees what a thread retires in batches of 32; a fill
//! retires one table per doubling, so it never completes a batch and every
//! replaced table stayed allocated (19 B per key at 1M keys; papaya issue
//! #60). So each thread, at every 4,096th entry it adds to a hash index,
//! hands its batch for that index back to the collector (`index.rs`,
//! `PointIndex::insert_unless`). A table waits at most for its thread's
//! next turn on the same index, or for its batch to fill: a thread that
//! moves on to other kinds may leave one behind. Each hand-back is a
//! process-wide barrier (`membarrier`: 430 ns a call on the 2-core VM the
//! benchmarks ran on, timing 20,000 `guard().flush()` calls on a papaya
//! map), 0.1 ns per added entry, and the count a thread-local one, so
//! no cache line is shared for it; loom builds have no collector to hand
//! back to (their stand-in map).

use std::ops::{Bound, ControlFlow};

use super::cell::Cell;
use super::hash::KeyHashing;
use super::index::PointIndex;
use super::lazy::LazyOrderedIndex;
use super::version::{Payload, Version};
use crate::sync::{fence, point_threshold, Arc, AtomicBool, AtomicUsize, OnceSlot, Ordering};

pub(crate) struct KeyIndex<T> {
    order: LazyOrderedIndex<Cell<T>>,
    /// The hash index, built by the writer that creates the
    /// `threshold`-th cell (see "The lazy hash index").
    point: OnceSlot<PointIndex<Cell<T>>>,
    /// Set once `point` holds every cell that is not dead: readers use
    /// `point` from then on, `order` until then.
    filled: AtomicBool,
    /// Cells created by `insert_cell` while `point` was not seen built.
    created: AtomicUsize,
    /// How many created cells build `point`; 0 builds it up front.
    threshold: usize,
    hashing: KeyHashing,
    /// What the husk of every emptied dead cell says it deleted (see
    /// "Emptying a dead cell").
    nothing: Arc<Version<T>>,
}

impl<T: Send + Sync + 'static> KeyIndex<T> {
    /// The `Empty` version the husks of emptied dead cells hold (see
    /// "Emptying a dead cell"): one per store, shared by its kinds.
    pub(crate) fn nothing() -> Arc<Version<T>> {
        Arc::new(Version::committed(0, Arc::from(""), Payload::Empty))
    }

    /// A key index whose husks hold `nothing` (from [`Self::nothing`]).
    pub(crate) fn sharing(hashing: KeyHashing, nothing: Arc<Version<T>>) -> Self {
        Self::with_threshold(hashing, point_threshold(), nothing)
    }

    /// The same, still unshared and empty, index, building its hash index
    /// at its `threshold`-th created cell instead.
    pub(crate) fn with_threshold_of(self, threshold: usize) -> Self {
        debug_assert_eq!(self.created.load(Ordering::Relaxed), 0, "not used yet");
        Self::with_threshold(self.hashing, threshold, Arc::clone(&self.nothing))
    }

    /// A key index that builds its hash index when its `threshold`-th cell
    /// is created (up front for 0).
    pub(crate) fn with_threshold(
        hashing: KeyHashing,
        threshold: usize,
        nothing: Arc<Version<T>>,
    ) -> Self {
        KeyIndex {
            order: LazyOrderedIndex::new(),
            // Nothing to fill at 0: the index is not shared yet.
            point: if threshold == 0 {
                OnceSlot::with(PointIndex::new(hashing))
            } else {
                OnceSlot::new()
            },
            filled: AtomicBool::new(threshold == 0),
            created: AtomicUsize::new(0),
            threshold,
            hashing,
            nothing,
        }
    }

    /// The hash index once it is filled; `None` before (use `order`).
    #[inline]
    fn filled_point(&self) -> Option<&PointIndex<Cell<T>>> {
        if self.threshold == 0 {
            // Built with the index: nothing to wait for.
            return self.point.get();
        }
        // Acquire: pairs with the fill's Release store, so the fill's
        // inserts (and the `set` of `point`) are seen.
        if self.filled.load(Ordering::Acquire) {
            self.point.get()
        } else {
            None
        }
    }

    /// Calls `f` with the cell the index readers use maps `key` to, if any
    /// (any state).
    #[inline]
    pub(crate) fn with_cell<R>(&self, key: &str, f: impl FnOnce(Option<&Cell<T>>) -> R) -> R {
        match self.filled_point() {
            Some(point) => point.with(key, |cell| f(cell.map(|cell| &**cell))),
            None => self.order.with(key, |cell| f(cell.map(|cell| &**cell))),
        }
    }

    /// Calls `f` with the cell for `key`, creating an `Empty` one if there
    /// is none. The cell handed to `f` may be dead (the caller unlinks it
    /// and retries) but is never one that `point`, once built, may lack
    /// when it becomes live (I6).
    pub(crate) fn with_cell_for_insert<R>(&self, key: &str, f: impl FnOnce(&Cell<T>) -> R) -> R {
        // Fast path: the key has a cell; use it under the guard, no refcount.
        let found = match self.filled_point() {
            Some(point) => point.with(key, |cell| match cell {
                Some(cell) => Ok(f(cell)),
                None => Err(f),
            }),
            // Not filled: `order`'s cell, published to `point` if that is
            // built (see "The lazy hash index": it may be mid-fill).
            None => self.order.with(key, |cell| match cell {
                Some(cell) => {
                    self.publish(cell);
                    Ok(f(cell))
                }
                None => Err(f),
            }),
        };
        match found {
            Ok(result) => result,
            Err(f) => f(&self.insert_cell(key)),
        }
    }

    /// The cell the index readers use maps `key` to, if any (any state), as
    /// an owned reference: for a transaction's validation, which walks it.
    pub(crate) fn cell(&self, key: &str) -> Option<Arc<Cell<T>>> {
        match self.filled_point() {
            Some(point) => point.with(key, |cell| cell.cloned()),
            None => self.order.with(key, |cell| cell.cloned()),
        }
    }

    /// The canonical cell of `key` from `order` (creating an `Empty` one),
    /// published to `point` before anyone can make it live (I6); the
    /// creator of the `threshold`-th cell builds and fills `point` first.
    fn insert_cell(&self, key: &str) -> Arc<Cell<T>> {
        let (cell, created) = self
            .order
            .get_or_insert_with(key, |key| Arc::new(Cell::empty(Arc::clone(key))));
        // Relaxed: the count only elects the filler; its return values are
        // distinct, so exactly one creator sees `threshold - 1`. Creators
        // that see `point` built stop counting (no shared cache line).
        if created
            && self.point.get().is_none()
            && self.created.fetch_add(1, Ordering::Relaxed) + 1 == self.threshold
        {
            self.fill();
        }
        self.publish(&cell);
        cell
    }

    /// Puts `order`'s cell into `point`, if `point` is built, unless it
    /// holds it or another cell that is not dead there: a different non-dead
    /// cell means ours was unlinked from `order`, hence is dead, and the
    /// caller will see that and retry.
    fn publish(&self, cell: &Arc<Cell<T>>) {
        let point = match self.point.get() {
            Some(point) => point,
            None => {
                // F4, the writer's side: orders the cell's insert into
                // `order` (ours or the one we read it from) before this
                // second look at `point`; pairs with the filler's F4.
                fence(Ordering::SeqCst);
                match self.point.get() {
                    Some(point) => point,
                    None => return,
                }
            }
        };
        let key = Arc::clone(&cell.load().key);
        point.insert_unless(&key, cell, |existing| {
            Arc::ptr_eq(existing, cell) || !existing.is_dead()
        });
    }

    /// Builds `point`, puts every cell of `order` that is not dead into it,
    /// and then lets readers use it. Called once, by one thread.
    #[cold]
    #[inline(never)]
    fn fill(&self) {
        let set = self.point.set(PointIndex::new(self.hashing));
        debug_assert!(
            set,
            "only the creator of the threshold-th cell builds point"
        );
        let Some(point) = self.point.get() else {
            unreachable!("this thread set it")
        };
        // F4, the filler's side: orders the `set` above before the scan's
        // reads of `order`; pairs with every writer's F4 in `publish`.
        fence(Ordering::SeqCst);
        self.order
            .scan((Bound::Unbounded, Bound::Unbounded), |key, cell| {
                if !cell.is_dead() {
                    point.insert_unless(key, cell, |existing| {
                        Arc::ptr_eq(existing, cell) || !existing.is_dead()
                    });
                }
                ControlFlow::Continue(())
            });
        // Release: every insert above happens-before a reader that sees it.
        self.filled.store(true, Ordering::Release);
    }

    /// Whether the hash index is built and filled (for the loom models).
    #[cfg(zestor_loom)]
    pub(crate) fn point_filled(&self) -> bool {
        self.filled_point().is_some()
    }

    /// Unlinks a dead cell from both indexes, `point` first (I6), then
    /// empties it (see "Emptying a dead cell"). Safe to call from any
    /// thread, any number of times.
    pub(crate) fn unlink(&self, key: &str, cell: &Cell<T>) {
        debug_assert!(cell.is_dead(), "only dead cells are unlinked (I4)");
        if let Some(point) = self.point.get() {
            point.remove_if_same(key, cell);
        }
        self.order.remove_if_same(key, cell);
        let tombstone = cell.load();
        let held = match &tombstone.payload {
            Payload::Deleted { previous: held, .. } => held,
            _ => unreachable!("a dead cell holds a tombstone (I4)"),
        };
        if Arc::ptr_eq(held, &self.nothing) {
            return; // emptied already
        }
        let husk = Arc::new(Version::committed(
            tombstone.revision(),
            Arc::clone(&tombstone.key),
            Payload::deleted(Arc::clone(&self.nothing)),
        ));
        let dying = husk.claim_dying();
        debug_assert!(dying, "a fresh tombstone is unclaimed");
        // Fails only if another unlinker emptied it first.
        let _ = cell.compare_and_swap(&tombstone, &husk);
    }

    /// Visits the cells whose keys fall in `range`, in key order, until `f`
    /// breaks.
    pub(crate) fn scan(
        &self,
        range: (Bound<&str>, Bound<&str>),
        mut f: impl FnMut(&Cell<T>) -> ControlFlow<()>,
    ) {
        self.order.scan(range, |_, cell| f(cell));
    }
}

#[cfg(all(test, not(zestor_loom)))]
mod tests {
    use super::*;

    fn kill(cell: &Cell<u32>) {
        let current = Arc::clone(&cell.load());
        let dead = Arc::new(Version::committed(
            9,
            Arc::clone(&current.key),
            Payload::deleted(Arc::clone(&current)),
        ));
        assert!(cell.compare_and_swap(&current, &dead));
        assert!(dead.claim_dying());
    }

    fn cell_ptr(index: &KeyIndex<u32>, key: &str) -> Option<*const Cell<u32>> {
        index.with_cell(key, |cell| cell.map(|cell| cell as *const Cell<u32>))
    }

    #[test]
    fn both_indexes_hand_out_one_cell() {
        let index = KeyIndex::<u32>::sharing(KeyHashing::default(), KeyIndex::nothing());
        assert!(cell_ptr(&index, "a").is_none(), "reads insert nothing");
        let created = index.with_cell_for_insert("a", |cell| cell as *const Cell<u32>);
        assert_eq!(cell_ptr(&index, "a"), Some(created));
        let again = index.with_cell_for_insert("a", |cell| cell as *const Cell<u32>);
        assert_eq!(again, created);
        let mut scanned = Vec::new();
        index.scan((Bound::Unbounded, Bound::Unbounded), |cell| {
            scanned.push(cell as *const Cell<u32>);
            ControlFlow::Continue(())
        });
        assert_eq!(scanned, [created]);
    }

    #[test]
    fn a_dead_cell_is_unlinked_and_replaced() {
        let index = KeyIndex::<u32>::sharing(KeyHashing::default(), KeyIndex::nothing());
        index.with_cell_for_insert("a", |cell| {
            kill(cell);
            let tombstone = cell.load_full();
            index.unlink("a", cell);
            index.unlink("a", cell);
            let husk = cell.load_full();
            assert!(husk.is_dead(), "still dead: I4");
            assert_eq!(husk.revision(), tombstone.revision());
            assert_eq!(&*husk.key, "a");
            assert!(
                matches!(&husk.payload, Payload::Deleted { previous, .. } if Arc::ptr_eq(previous, &index.nothing)),
                "emptied: the cell no longer holds what was deleted"
            );
        });
        assert!(
            cell_ptr(&index, "a").is_none(),
            "unlinked from the hash index"
        );
        let mut scanned = 0;
        index.scan((Bound::Unbounded, Bound::Unbounded), |_| {
            scanned += 1;
            ControlFlow::Continue(())
        });
        assert_eq!(scanned, 0, "unlinked from the ordered index");
        let fresh = index.with_cell_for_insert("a", |cell| !cell.is_dead());
        assert!(fresh, "a fresh cell, not the dead one");
    }

    fn in_point(index: &KeyIndex<u32>, key: &str) -> Option<*const Cell<u32>> {
        let point = index.point.get()?;
        point.with(key, |cell| cell.map(|cell| &**cell as *const Cell<u32>))
    }

    #[test]
    fn the_hash_index_is_built_by_the_threshold_th_create() {
        let index = KeyIndex::<u32>::with_threshold(KeyHashing::default(), 3, KeyIndex::nothing());
        let a = index.with_cell_for_insert("a", |cell| cell as *const Cell<u32>);
        // A dead cell is not filled in; its key's next create is.
        index.with_cell_for_insert("dead", |cell| {
            kill(cell);
            index.unlink("dead", cell);
        });
        assert!(index.point.get().is_none(), "two creates: no hash index");
        assert_eq!(cell_ptr(&index, "a"), Some(a), "read through order");
        let b = index.with_cell_for_insert("b", |cell| cell as *const Cell<u32>);
        assert!(index.point.get().is_some(), "the third create builds it");
        assert!(index.filled.load(Ordering::Relaxed));
        assert_eq!(in_point(&index, "a"), Some(a), "filled from order");
        assert_eq!(in_point(&index, "b"), Some(b), "the filler's own cell");
        assert_eq!(in_point(&index, "dead"), None, "dead cells are not filled");
        let c = index.with_cell_for_insert("c", |cell| cell as *const Cell<u32>);
        assert_eq!(in_point(&index, "c"), Some(c), "published by its creator");
        assert_eq!(cell_ptr(&index, "c"), Some(c));
        assert_eq!(index.created.load(Ordering::Relaxed), 3, "counting stopped");
    }

    #[test]
    fn threshold_zero_builds_the_hash_index_up_front() {
        let index = KeyIndex::<u32>::with_threshold(KeyHashing::default(), 0, KeyIndex::nothing());
        assert!(index.filled_point().is_some());
        let a = index.with_cell_for_insert("a", |cell| cell as *const Cell<u32>);
        assert_eq!(in_point(&index, "a"), Some(a));
    }

    /// Creators race the fill: after the joins every key's cell is in the
    /// hash index, the one `order` holds; and each creator finds its own
    /// key right after creating it, through whichever index it reads.
    #[test]
    fn creators_racing_the_fill_all_land_in_the_hash_index() {
        for round in 0..200 {
            let index =
                KeyIndex::<u32>::with_threshold(KeyHashing::default(), 8, KeyIndex::nothing());
            std::thread::scope(|scope| {
                for thread in 0..4 {
                    let index = &index;
                    scope.spawn(move || {
                        for i in 0..6 {
                            let key = format!("k{thread}-{i}");
                            let made =
                                index.with_cell_for_insert(&key, |cell| cell as *const Cell<u32>);
                            assert_eq!(cell_ptr(index, &key), Some(made), "round {round}");
                        }
                    });
                }
            });
            assert!(index.filled_point().is_some());
            let mut keys = 0;
            index
                .order
                .scan((Bound::Unbounded, Bound::Unbounded), |key, cell| {
                    keys += 1;
                    assert_eq!(in_point(&index, key), Some(&**cell as *const Cell<u32>));
                    ControlFlow::Continue(())
                });
            assert_eq!(keys, 24);
        }
    }
}
