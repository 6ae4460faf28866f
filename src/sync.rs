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

pub(crate) use std::sync::Arc;

#[cfg(not(zestor_loom))]
pub(crate) use std::sync::atomic::{fence, AtomicBool, AtomicI64, AtomicU64, Ordering};

#[cfg(zestor_loom)]
pub(crate) use loom::sync::atomic::{fence, AtomicBool, AtomicI64, AtomicU64, Ordering};

#[cfg(not(zestor_loom))]
pub(crate) use std_impl::{thread, ArcCell, ArcCellGuard, WakerSlot};

#[cfg(zestor_loom)]
pub(crate) use loom_impl::{thread, ArcCell, ArcCellGuard, WakerSlot};

#[cfg(not(zestor_loom))]
mod std_impl {
    use std::sync::Arc;
    use std::task::Waker;

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

        #[inline]
        pub(crate) fn load(&self) -> ArcCellGuard<T> {
            self.0.load()
        }

        #[inline]
        pub(crate) fn load_full(&self) -> Arc<T> {
            self.0.load_full()
        }

        /// Replaces `current` with `new` if the cell still holds `current`
        /// (pointer equality); true if it did. The caller keeps its `new`.
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
        pub(crate) use std::thread::{current, park, park_timeout, Thread, ThreadId};
    }
}

#[cfg(zestor_loom)]
mod loom_impl {
    //! Loom-visible stand-ins. A loom `Mutex` around the value models an
    //! atomic register: loom explores every order of the operations on it.

    use loom::sync::Mutex;
    use std::sync::Arc;
    use std::task::Waker;

    pub(crate) struct ArcCell<T>(Mutex<Arc<T>>);

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
            ArcCell(Mutex::new(value))
        }

        pub(crate) fn load(&self) -> ArcCellGuard<T> {
            ArcCellGuard(self.load_full())
        }

        pub(crate) fn load_full(&self) -> Arc<T> {
            Arc::clone(&self.0.lock().unwrap())
        }

        pub(crate) fn compare_and_swap(&self, current: &Arc<T>, new: &Arc<T>) -> bool {
            let mut slot = self.0.lock().unwrap();
            let swapped = Arc::ptr_eq(&slot, current);
            if swapped {
                *slot = Arc::clone(new);
            }
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
        pub(crate) use loom::thread::{current, park, Thread, ThreadId};

        /// loom has no clock: a timed park is an untimed one. Models never
        /// rely on a timeout firing.
        pub(crate) fn park_timeout(_: std::time::Duration) {
            park();
        }
    }
}
