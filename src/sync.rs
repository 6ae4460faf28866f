//! The loom seam: the one module that hands out atomics and the other
//! synchronization primitives the protocols are built from.
//!
//! Normally these are `std`'s atomics, `arc-swap` and `atomic-waker`. Under
//! `--cfg zestor_loom` they are loom's atomics and small loom-visible stand-ins
//! with the same interface, so the models in `loom-tests/` explore every
//! interleaving of the crate's own protocol code rather than a copy of it.
//!
//! Protocol code follows one rule for ordering: atomic *accesses* use
//! Relaxed/Acquire/Release only, and every store→load ("Dekker") ordering the
//! protocols need is made with an explicit `fence(SeqCst)` — the one form of
//! sequential consistency loom models exactly.

pub(crate) use std::sync::{Arc, Weak};

#[cfg(not(zestor_loom))]
pub(crate) use std::sync::atomic::{
    fence, AtomicBool, AtomicI64, AtomicU64, AtomicUsize, Ordering,
};

#[cfg(zestor_loom)]
pub(crate) use loom::sync::atomic::{
    fence, AtomicBool, AtomicI64, AtomicU64, AtomicUsize, Ordering,
};

/// How many cells a kind creates before it builds its hash index, unless
/// its store says otherwise (`raw/keys.rs`, "The lazy hash index"). Under
/// loom the models choose (`loom_impl::set_point_threshold`).
pub(crate) const DEFAULT_POINT_THRESHOLD: usize = 64;

#[cfg(not(zestor_loom))]
pub(crate) use std_impl::{
    attaching_previous, lazy_installs, point_threshold, thread, ArcCell, ArcCellGuard, OnceSlot,
    WakerSlot,
};

#[cfg(zestor_loom)]
pub(crate) use loom_impl::{
    attach_previous, attaching_previous, lazy_installs, point_threshold, reclaim_replaced,
    set_lazy_installs, set_point_threshold, set_stale_map_reads, stale_map_reads, thread, ArcCell,
    ArcCellGuard, OnceSlot, WakerSlot,
};

#[cfg(not(zestor_loom))]
mod std_impl {
    use std::sync::Arc;
    use std::task::Waker;

    /// Publishers always attach previous values outside loom (see the loom
    /// stand-in's `ATTACH`).
    #[inline(always)]
    pub(crate) fn attaching_previous() -> bool {
        true
    }

    /// How many cells a kind creates before it builds its hash index
    /// (`raw/keys.rs`, "The lazy hash index").
    #[inline(always)]
    pub(crate) fn point_threshold() -> usize {
        super::DEFAULT_POINT_THRESHOLD
    }

    /// A kind's key-order list and its ring's buckets are allocated when
    /// first needed outside loom (see the loom stand-in's `LAZY_INSTALLS`).
    #[inline(always)]
    pub(crate) fn lazy_installs() -> bool {
        true
    }

    /// A value set at most once, by one thread, and read lock-free: `set` is
    /// a Release store of the value, `get` an Acquire load of it.
    ///
    /// `std`'s `OnceLock`: its `get` is one Acquire load of its state word
    /// and a branch; its `set` would block a second setter while the first
    /// runs, but the protocol that uses it (`raw/keys.rs`) lets exactly one
    /// thread ever call `set`, so it never contends and never blocks.
    pub(crate) struct OnceSlot<T>(std::sync::OnceLock<T>);

    impl<T> OnceSlot<T> {
        pub(crate) const fn new() -> Self {
            OnceSlot(std::sync::OnceLock::new())
        }

        /// A slot set before anyone else can see it.
        pub(crate) fn with(value: T) -> Self {
            OnceSlot(std::sync::OnceLock::from(value))
        }

        /// Sets the value; false (dropping `value`) if it was set already.
        #[inline]
        pub(crate) fn set(&self, value: T) -> bool {
            self.0.set(value).is_ok()
        }

        #[inline]
        pub(crate) fn get(&self) -> Option<&T> {
            self.0.get()
        }
    }

    /// An atomic `Arc<T>` register: load, swap, compare-and-swap.
    ///
    /// `arc-swap` gives a load that writes no shared memory (a thread-local
    /// debt slot instead of a reference-count increment) and Acquire/Release
    /// semantics for the value behind the pointer.
    pub(crate) struct ArcCell<T>(arc_swap::ArcSwap<T>);

    /// A loaded value of an [`ArcCell`]; keeps it alive without touching the
    /// shared reference count.
    pub(crate) type ArcCellGuard<T> = arc_swap::Guard<Arc<T>>;

    impl<T> ArcCell<T> {
        pub(crate) fn new(value: Arc<T>) -> Self {
            ArcCell(arc_swap::ArcSwap::new(value))
        }

        /// A cell its owner never swaps: loads only (the loom stand-in
        /// models it so; here it is any cell).
        pub(crate) fn fixed(value: Arc<T>) -> Self {
            Self::new(value)
        }

        #[inline]
        pub(crate) fn load(&self) -> ArcCellGuard<T> {
            self.0.load()
        }

        #[inline]
        pub(crate) fn load_full(&self) -> Arc<T> {
            self.0.load_full()
        }

        /// Replaces `current` with `new` if the cell still holds `current`
        /// (pointer equality); true if it did. The caller keeps its `new`;
        /// on failure the cell holds no reference to it (`commit` relies on
        /// getting its payload back unshared).
        #[inline]
        pub(crate) fn compare_and_swap(&self, current: &Arc<T>, new: &Arc<T>) -> bool {
            let previous = self.0.compare_and_swap(current, Arc::clone(new));
            Arc::ptr_eq(&previous, current)
        }
    }

    /// Where a consumer leaves its waker for producers to wake.
    #[derive(Default)]
    pub(crate) struct WakerSlot(atomic_waker::AtomicWaker);

    impl WakerSlot {
        #[inline]
        pub(crate) fn register(&self, waker: &Waker) {
            self.0.register(waker);
        }

        #[inline]
        pub(crate) fn wake(&self) {
            self.0.wake();
        }
    }

    pub(crate) mod thread {
        pub(crate) use std::thread::{current, park, park_timeout, yield_now, Thread, ThreadId};
    }
}

#[cfg(zestor_loom)]
mod loom_impl {
    //! Loom-visible stand-ins.
    //!
    //! `ArcCell` is modelled as what `arc-swap` promises and no more: an
    //! atomic pointer with Acquire loads and AcqRel compare-and-swap (and,
    //! for the models that need it, reclamation of what a CAS replaced:
    //! see `RECLAIM`). The
    //! "pointer" is a loom `AtomicUsize` indexing an append-only arena of
    //! `Arc`s; the arena sits behind a *std* mutex that loom does not see (it
    //! runs one thread at a time, so the mutex never contends), so the only
    //! synchronization loom credits is the atomic's — a loom mutex here would
    //! hand every protocol a free happens-before edge and hide missing fences.
    //! `WakerSlot` is a loom mutex: it models `AtomicWaker`'s contract that
    //! a registration happens-before the wake that takes it.

    use loom::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
    use loom::sync::Mutex;
    use std::sync::Arc;
    use std::task::Waker;

    pub(crate) struct ArcCell<T> {
        /// The value of a cell made `fixed`: its owner never swaps it, so
        /// its loads are no loom operation (as for a preset `OnceSlot`).
        fixed: Option<Arc<T>>,
        current: AtomicUsize,
        /// The values stored, by index. A failed CAS empties its slot again
        /// so the caller gets its `new` back unshared, as with `arc-swap`.
        /// What a successful CAS replaced stays, unless reclaiming (below).
        arena: std::sync::Mutex<Vec<Option<Arc<T>>>>,
    }

    /// Two ways to model the register, one per property under test:
    ///
    /// * by default, loads are plain Acquire loads, free to read an older
    ///   value (what `arc-swap` promises, and no more, about ordering), and
    ///   every value stored stays in the arena, so such a load always finds
    ///   it — the models of the fences (F1–F3) need those stale reads;
    /// * reclaiming, a successful CAS lets go of the value it replaced (as
    ///   `arc-swap` does once no guard holds it; every load here hands out
    ///   its own clone), so a value nobody else holds is freed and a weak
    ///   link to it breaks — the models of snapshot pins need that; loads
    ///   then read the latest index (a read-modify-write), as a value is
    ///   never read after `arc-swap` freed it.
    ///
    /// A model picks one before it runs (`loom-tests`' `model_reclaiming`);
    /// loom runs one model at a time. A std atomic: loom must not see it.
    static RECLAIM: std::sync::atomic::AtomicBool = std::sync::atomic::AtomicBool::new(false);

    pub(crate) fn reclaim_replaced(on: bool) {
        RECLAIM.store(on, std::sync::atomic::Ordering::Relaxed);
    }

    /// Whether publishers attach previous values (`raw/ring.rs`). Off by
    /// default under loom: the attach adds a compare-and-swap of a ring slot
    /// to every watched update, which multiplied the interleavings of the
    /// models of the other protocols (`p1_writes` went from minutes to more
    /// than a quarter of an hour at its bound) without being what they
    /// check. The model of the attach itself (`loom-tests`'
    /// `previous_values`, through `model_attaching_previous`) turns it on
    /// while it runs. A std atomic: loom must not see it.
    static ATTACH: std::sync::atomic::AtomicBool = std::sync::atomic::AtomicBool::new(false);

    pub(crate) fn attach_previous(on: bool) {
        ATTACH.store(on, std::sync::atomic::Ordering::Relaxed);
    }

    pub(crate) fn attaching_previous() -> bool {
        ATTACH.load(std::sync::atomic::Ordering::Relaxed)
    }

    fn reclaiming() -> bool {
        RECLAIM.load(std::sync::atomic::Ordering::Relaxed)
    }

    /// How many cells a kind creates before it builds its hash index
    /// (`raw/keys.rs`): 64 in normal builds. Under loom it is 0 unless a
    /// model asks otherwise (`loom-tests`' `model_point_fill`): a kind is
    /// made with its hash index built and filled, so the models of the
    /// other protocols run over the filled index — the path of every kind
    /// past its first few dozen keys — without exploring the fill, whose
    /// extra fences and stale map reads multiplied their interleavings;
    /// `point_fill` sets 2 to race the fill itself. Read when a kind is
    /// created. A std atomic: loom must not see it.
    static POINT_THRESHOLD: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);

    pub(crate) fn set_point_threshold(threshold: usize) {
        POINT_THRESHOLD.store(threshold, std::sync::atomic::Ordering::Relaxed);
    }

    pub(crate) fn point_threshold() -> usize {
        POINT_THRESHOLD.load(std::sync::atomic::Ordering::Relaxed)
    }

    /// Whether a kind allocates its key-order list (`raw/lazy.rs`) and its
    /// ring's buckets (`raw/ring.rs`, "Lazy buckets") when first needed, as
    /// outside loom, or up front. Up front by default under loom: each
    /// install is one more compare-and-swap that every model of another
    /// protocol would race (with both installs and the hash-index fill in
    /// every model, CI's loom step took 116 minutes; without, 28), and the
    /// state after it — a list or bucket that is never replaced — is the
    /// state an eager kind starts in, so those models lose nothing. The
    /// model of the installs (`loom-tests`' `lazy_installs`) turns it on;
    /// the ring's unit models make their rings lazy themselves
    /// (`Ring::new`). A std atomic: loom must not see it.
    static LAZY_INSTALLS: std::sync::atomic::AtomicBool = std::sync::atomic::AtomicBool::new(false);

    pub(crate) fn set_lazy_installs(on: bool) {
        LAZY_INSTALLS.store(on, std::sync::atomic::Ordering::Relaxed);
    }

    pub(crate) fn lazy_installs() -> bool {
        LAZY_INSTALLS.load(std::sync::atomic::Ordering::Relaxed)
    }

    /// Whether the map stand-ins' lookups may read an older version of the
    /// map (`raw/loom_index.rs`). Off by default: it adds a branch per
    /// lookup per version a thread has not synchronized with, which the
    /// models of the other protocols do not need; `point_fill` turns it on.
    /// A std atomic: loom must not see it.
    static STALE_MAP_READS: std::sync::atomic::AtomicBool =
        std::sync::atomic::AtomicBool::new(false);

    pub(crate) fn set_stale_map_reads(on: bool) {
        STALE_MAP_READS.store(on, std::sync::atomic::Ordering::Relaxed);
    }

    pub(crate) fn stale_map_reads() -> bool {
        STALE_MAP_READS.load(std::sync::atomic::Ordering::Relaxed)
    }

    /// `OnceLock`'s stand-in, with what the protocol relies on and no more:
    /// `set` is a Release store, `get` an Acquire load that may read the
    /// slot as still unset. The value sits in a *std* `OnceLock` loom does
    /// not see (loom runs one thread at a time, so it never contends, as
    /// with `ArcCell`'s arena); a loom `AtomicBool` says whether it is set,
    /// stored Release after the value and loaded Acquire before reading it,
    /// so the only synchronization loom credits is that flag's. Only one
    /// thread ever sets a given slot (`raw/keys.rs`).
    ///
    /// A slot made already set (`with`) has no flag: it is read before it
    /// is shared or through whatever shared it, so its `get` is no loom
    /// operation — one more scheduling point in every lookup of every
    /// model, that can read only one thing, would only multiply the
    /// interleavings loom explores.
    pub(crate) struct OnceSlot<T> {
        flag: Option<AtomicBool>,
        value: std::sync::OnceLock<T>,
    }

    impl<T> OnceSlot<T> {
        pub(crate) fn new() -> Self {
            OnceSlot {
                flag: Some(AtomicBool::new(false)),
                value: std::sync::OnceLock::new(),
            }
        }

        pub(crate) fn with(value: T) -> Self {
            OnceSlot {
                flag: None,
                value: std::sync::OnceLock::from(value),
            }
        }

        pub(crate) fn set(&self, value: T) -> bool {
            let Some(flag) = &self.flag else {
                return false;
            };
            if self.value.set(value).is_err() {
                return false;
            }
            flag.store(true, Ordering::Release);
            true
        }

        pub(crate) fn get(&self) -> Option<&T> {
            match &self.flag {
                None => self.value.get(),
                Some(flag) if flag.load(Ordering::Acquire) => self.value.get(),
                Some(_) => None,
            }
        }
    }

    /// The stand-in's load hands out an owned clone.
    pub(crate) struct ArcCellGuard<T>(Arc<T>);

    impl<T> std::ops::Deref for ArcCellGuard<T> {
        type Target = Arc<T>;
        fn deref(&self) -> &Arc<T> {
            &self.0
        }
    }

    impl<T> ArcCell<T> {
        pub(crate) fn new(value: Arc<T>) -> Self {
            ArcCell {
                fixed: None,
                current: AtomicUsize::new(0),
                arena: std::sync::Mutex::new(vec![Some(value)]),
            }
        }

        pub(crate) fn fixed(value: Arc<T>) -> Self {
            ArcCell {
                fixed: Some(value),
                current: AtomicUsize::new(0),
                arena: std::sync::Mutex::new(Vec::new()),
            }
        }

        fn at(&self, index: usize) -> Arc<T> {
            let arena = self.arena.lock().unwrap();
            Arc::clone(
                arena[index]
                    .as_ref()
                    .expect("the current index is never emptied"),
            )
        }

        pub(crate) fn load(&self) -> ArcCellGuard<T> {
            ArcCellGuard(self.load_full())
        }

        pub(crate) fn load_full(&self) -> Arc<T> {
            match &self.fixed {
                Some(value) => Arc::clone(value),
                None => self.at(self.read_current()),
            }
        }

        /// The current index: a plain Acquire load, or, reclaiming, a
        /// read-modify-write, so it reads the latest index, never one whose
        /// value was let go (Acquire, no Release: it adds no happens-before
        /// edge a plain Acquire load would not).
        fn read_current(&self) -> usize {
            if reclaiming() {
                self.current.fetch_add(0, Ordering::Acquire)
            } else {
                self.current.load(Ordering::Acquire)
            }
        }

        pub(crate) fn compare_and_swap(&self, current: &Arc<T>, new: &Arc<T>) -> bool {
            assert!(self.fixed.is_none(), "a fixed cell is never swapped");
            let seen = self.read_current();
            if !Arc::ptr_eq(&self.at(seen), current) {
                return false;
            }
            let index = {
                let mut arena = self.arena.lock().unwrap();
                arena.push(Some(Arc::clone(new)));
                arena.len() - 1
            };
            let swapped = self
                .current
                .compare_exchange(seen, index, Ordering::AcqRel, Ordering::Acquire)
                .is_ok();
            // Between the loom-visible atomics above and below, loom runs no
            // other thread, so no load is between reading `current` and
            // cloning its value: reclaiming, the replaced value can go at
            // once. It is dropped after the arena's lock is released.
            let released = {
                let mut arena = self.arena.lock().unwrap();
                if !swapped {
                    arena[index] = None;
                    None
                } else if reclaiming() {
                    arena[seen].take()
                } else {
                    None
                }
            };
            drop(released);
            swapped
        }
    }

    #[derive(Default)]
    pub(crate) struct WakerSlot(Mutex<Option<Waker>>);

    impl WakerSlot {
        pub(crate) fn register(&self, waker: &Waker) {
            *self.0.lock().unwrap() = Some(waker.clone());
        }

        pub(crate) fn wake(&self) {
            let waker = self.0.lock().unwrap().take();
            if let Some(waker) = waker {
                waker.wake();
            }
        }
    }

    pub(crate) mod thread {
        pub(crate) use loom::thread::{current, park, yield_now, Thread, ThreadId};

        /// loom has no clock: a timed park is an untimed one. Models never
        /// rely on a timeout firing.
        pub(crate) fn park_timeout(_: std::time::Duration) {
            park();
        }
    }
}
