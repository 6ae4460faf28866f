//! Subscribers: what producers know of each watcher, and the wake-up
//! protocol between them.
//!
//! Producers never look at a watcher's cursor. They see only this record:
//! a `waiting` flag, a waker slot and an `overflowed` flag.
//!
//! # Wake-ups without lost signals (store-buffering, fenced)
//!
//! ```text
//! consumer (prepare_wait)          producer (after publishing)
//!   register waker                   write slot / closed / overflowed
//!   waiting = true                   fence(SeqCst)            (F1)
//!   fence(SeqCst)          (F3)      if waiting: wake
//!   re-check ring, closed, overflow
//!   nothing? sleep                 consumer, once it finds work:
//!                                    waiting = false
//! ```
//!
//! Of two SeqCst fences one comes first: if F3 does, the producer's load
//! after F1 sees `waiting == true` and wakes; if F1 does, the consumer's
//! re-check after F3 sees what the producer wrote and does not sleep. A
//! producer therefore pays a plain load per idle subscriber, and a wake only
//! for one that is asleep (or just woken and not yet running: `AtomicWaker`
//! makes the extra wakes cheap and harmless).
//!
//! Only the consumer writes `waiting`. Producers clearing it with a swap
//! would be correct too, but loom 0.7 lets a store slip between the read and
//! the write of an RMW (tokio-rs/loom#254) and then reports a lost wake-up
//! that C++ forbids; with loads only, the models are exact.
//!
//! A blocking `recv` registers a waker that unparks its thread, a `Stream`
//! its task's waker (`watch.rs`); `close` and overflow marking write their
//! flag, fence (F1) and wake the same way.
//!
//! The subscriber list is copy-on-write (`ArcCell<Vec<_>>`): producers load
//! it without writing shared memory; subscribe and unsubscribe swap in a copy.
//! A count beside it lets a producer skip the list when nobody watches: one
//! plain load after F1 instead of an `arc-swap` load on every write. A
//! second count, of the subscribers that want each update's previous value
//! (every watch; not a mirror, which keeps its own replica), tells a
//! producer whether to attach them (`ring.rs`, "Previous values"); it is
//! written and read like the first, so the same argument covers it.

use std::task::Waker;

use crate::sync::{fence, Arc, ArcCell, AtomicBool, AtomicUsize, Ordering, WakerSlot};

pub(crate) struct Subscriber {
    waiting: AtomicBool,
    overflowed: AtomicBool,
    waker: WakerSlot,
    /// Whether it needs each update's previous value from the ring.
    wants_previous: bool,
}

impl Subscriber {
    /// A subscriber that wants each update's previous value.
    #[cfg(all(test, zestor_loom))]
    pub(crate) fn new() -> Self {
        Self::wanting_previous(true)
    }

    pub(crate) fn wanting_previous(wants_previous: bool) -> Self {
        Subscriber {
            waiting: AtomicBool::new(false),
            overflowed: AtomicBool::new(false),
            waker: Default::default(),
            wants_previous,
        }
    }

    /// Consumer side: announce that it is about to sleep. The caller must
    /// re-check for work after this returns and sleep only if it finds none.
    pub(crate) fn prepare_wait(&self, waker: &Waker) {
        self.waker.register(waker);
        // Release: pairs with the Acquire load in `wake_if_waiting`, so a
        // producer that sees the flag wakes the waker registered above.
        self.waiting.store(true, Ordering::Release);
        // (F3) pairs with F1 in every producer: see the module docs.
        fence(Ordering::SeqCst);
    }

    /// Consumer side: it has work, so producers need not wake it any more.
    pub(crate) fn cancel_wait(&self) {
        // Load first: the flag's line is read by every producer, so write it
        // only when there is something to undo.
        if self.waiting.load(Ordering::Relaxed) {
            self.waiting.store(false, Ordering::Relaxed);
        }
    }

    /// Producer side, called after the producer's write and a `fence(SeqCst)`
    /// (F1, in `RawKind::publish`): wakes the consumer if it is asleep or
    /// about to be.
    #[inline]
    pub(crate) fn wake_if_waiting(&self) {
        // Acquire: synchronizes with `prepare_wait`'s Release store, so the
        // waker registered before it is the one woken.
        if self.waiting.load(Ordering::Acquire) {
            self.waker.wake();
        }
    }

    /// Producer side: this subscriber can no longer be given a gap-free
    /// stream. Ends its watch with an overflow.
    pub(crate) fn mark_overflowed(&self) {
        self.overflowed.store(true, Ordering::Relaxed);
        // (F1) for the flag just written: a consumer about to sleep sees it
        // or is woken here.
        fence(Ordering::SeqCst);
        self.wake_if_waiting();
    }

    /// Consumer side: has a producer overflowed this subscriber?
    #[inline]
    pub(crate) fn is_overflowed(&self) -> bool {
        self.overflowed.load(Ordering::Relaxed)
    }
}

/// The copy-on-write list of a kind's subscribers.
pub(crate) struct Subscribers {
    list: ArcCell<Vec<Arc<Subscriber>>>,
    /// How many subscribers the list holds. A producer reads it after its
    /// fence (F1) and skips the list entirely at zero: a plain load instead
    /// of an `arc-swap` load on every write nobody watches. It is written
    /// before the subscriber's own fence (F2/F3), so the Dekker argument of
    /// the list carries over to it unchanged.
    count: AtomicUsize,
    /// How many of them want previous values (see the module docs).
    wanting_previous: AtomicUsize,
}

impl Subscribers {
    pub(crate) fn new() -> Self {
        Subscribers {
            list: ArcCell::new(Arc::new(Vec::new())),
            count: AtomicUsize::new(0),
            wanting_previous: AtomicUsize::new(0),
        }
    }

    /// Adds `subscriber` (lock-free: a CAS loop over copies), then fences
    /// (F2), so that whatever the subscriber reads next — its first look at
    /// the ring — either sees a producer's write, or that producer's look at
    /// this list after its F1 finds the subscriber.
    pub(crate) fn register(&self, subscriber: &Arc<Subscriber>) {
        loop {
            let current = self.list.load_full();
            let mut next = Vec::with_capacity(current.len() + 1);
            next.extend(current.iter().cloned());
            next.push(Arc::clone(subscriber));
            if self.list.compare_and_swap(&current, &Arc::new(next)) {
                break;
            }
        }
        self.count.fetch_add(1, Ordering::Relaxed);
        if subscriber.wants_previous {
            self.wanting_previous.fetch_add(1, Ordering::Relaxed);
        }
        // (F2) pairs with F1 in `RawKind::publish`.
        fence(Ordering::SeqCst);
    }

    /// Removes `subscriber` if present (any number of calls remove it once).
    pub(crate) fn remove(&self, subscriber: &Arc<Subscriber>) {
        loop {
            let current = self.list.load_full();
            if !current.iter().any(|other| Arc::ptr_eq(other, subscriber)) {
                return;
            }
            let next: Vec<_> = current
                .iter()
                .filter(|other| !Arc::ptr_eq(other, subscriber))
                .cloned()
                .collect();
            if self.list.compare_and_swap(&current, &Arc::new(next)) {
                self.count.fetch_sub(1, Ordering::Relaxed);
                if subscriber.wants_previous {
                    self.wanting_previous.fetch_sub(1, Ordering::Relaxed);
                }
                return;
            }
        }
    }

    /// Producer side, after F1: whether a registered subscriber wants
    /// previous values (the same Dekker argument as `wake`).
    #[inline]
    pub(crate) fn want_previous(&self) -> bool {
        self.wanting_previous.load(Ordering::Relaxed) != 0
    }

    #[cfg(test)]
    pub(crate) fn len(&self) -> usize {
        self.count.load(Ordering::Relaxed)
    }

    /// Producer side, after its write (a ring slot, the closed flag) and a
    /// `fence(SeqCst)` (F1: `RawKind::publish`, `RawStore::close`): marks
    /// overflowed the subscribers `overflows` picks and wakes every other
    /// sleeping one. (Marking wakes too: see `mark_overflowed`.)
    #[inline]
    pub(crate) fn wake(&self, overflows: impl Fn(&Subscriber) -> bool) {
        if self.count.load(Ordering::Relaxed) == 0 {
            return;
        }
        let list = self.list.load();
        for subscriber in list.iter() {
            if overflows(subscriber) {
                subscriber.mark_overflowed();
            } else {
                subscriber.wake_if_waiting();
            }
        }
    }
}
