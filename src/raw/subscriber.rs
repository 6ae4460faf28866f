//! Subscribers: what producers know of each watcher, and the wake-up
//! protocol between them.
//!
//! Producers never look at a watcher's cursor. They see only this record:
//! a `waiting` flag, a waker slot and an `overflowed` flag.
//!
//! # Wake-ups without lost signals (store-buffering, fenced)
//!
//! ```text
//! consumer (prepare_wait)                  producer (after publishing)
//!   register waker                           write slot / closed / overflowed
//!   if !waiting: sleepers += 1  (RMW)        fence(SeqCst)                  (F1)
//!   waiting = true                           sleepers == 0? done
//!   fence(SeqCst)                  (F3)      else, each subscriber:
//!   re-check ring, closed, overflow            if waiting: wake
//!   nothing? sleep
//!
//! consumer, once it finds work (cancel_wait) or leaves (remove):
//!   if waiting: waiting = false; sleepers -= 1  (RMW)
//! ```
//!
//! `sleepers`, one per kind, counts the subscribers whose `waiting` flag is
//! set: a subscriber's consumer adds one when it sets its flag and takes it
//! back when it clears it, so a producer that nobody waits for reads one
//! word and stops there, however many watches are registered and idle.
//!
//! Take a consumer that sleeps after an F3 whose re-check missed a
//! producer's write. Of two SeqCst fences one comes first; had F1, the
//! re-check after F3 would have seen the write. So F3 comes first, and then
//! each load after F1 reads, of every location written before F3, that write
//! or a later one in its modification order (C++20 \[atomics.order\]: when
//! a write happens before one SeqCst fence and a load after another, a load
//! that reads a value older than the write puts the load's fence first).
//! "Before" is happens-before, not program order: a wait may span threads
//! (a `Stream` polled from two executor threads). Twice:
//!
//! * `sleepers` reads the consumer's increment (made when its flag went up,
//!   before this F3 or an earlier one of the same wait) or a later value.
//!   The count changes only by read-modify-writes, each a subscriber's flag
//!   going up (+1) or down (−1), both by that subscriber's consumer; so in
//!   the count's modification order every decrement follows its own
//!   subscriber's increment (write–write coherence), and every value in it
//!   is a sum of non-negative terms, one per subscriber, 1 while its flag
//!   is up. A value before the sleeper's decrement is therefore at least 1,
//!   and the producer scans; a value after it means the consumer cleared
//!   its flag, which it does only once awake again (`cancel_wait`) or
//!   leaving (`remove`).
//! * In the scan, the list holds the sleeper (registered before F3; only its
//!   owner removes it), and its `waiting` flag reads the `true` stored
//!   before this F3 or a later value: a `false` is the consumer's own
//!   `cancel_wait`, once awake. A `true` (Acquire, from a Release store)
//!   wakes the waker registered before it, or a later one.
//!
//! If instead F1 comes first, the consumer's re-check sees the write and it
//! does not sleep. Either way no write is slept through. A producer pays one
//! plain load when nobody waits, a load per subscriber when someone does,
//! and a wake only for one that is asleep (or just woken and not yet
//! running: `AtomicWaker` makes the extra wakes cheap and harmless). A
//! consumer pays two read-modify-writes of its kind's `sleepers` per sleep.
//!
//! A producer that was lapped must instead mark every subscriber overflowed,
//! waiting or not, so it scans whenever the list is not empty (rare: it
//! stalled for a whole lap of the ring). `close` wakes through the same
//! `wake`, after its own F1, so the same argument covers it.
//!
//! A subscriber is removed while its flag is up when its watch is dropped or
//! ended asleep (a `Stream` dropped while pending, a watch ended by an
//! overflow); `remove` takes its count back first, or every later write
//! would scan again (correct, but the cost this count exists to avoid).
//!
//! Only a subscriber's consumer writes its `waiting` flag and its share of
//! `sleepers`: `cancel_wait` and `remove` are called by the owner of the
//! subscriber (its cursor), or before anyone else has it. Producers clearing
//! the flag with a swap would be correct too, but loom 0.7 lets a store slip
//! between the read and the write of an RMW (tokio-rs/loom#254) and then
//! reports a lost wake-up that C++ forbids. So producers only load: a flag
//! is written with plain stores by its consumer alone, `sleepers` only by
//! read-modify-writes (no plain store to slip into them), and the models
//! are exact.
//!
//! A blocking `recv` registers a waker that unparks its thread, a `Stream`
//! its task's waker (`watch.rs`); `close` and overflow marking write their
//! flag, fence (F1) and wake the same way.
//!
//! The subscriber list is copy-on-write (`ArcCell<Vec<_>>`): producers load
//! it without writing shared memory; subscribe and unsubscribe swap in a copy.
//! A count of the registered subscribers beside it lets a lapped producer
//! skip the list when nobody watches. A second count, of the subscribers
//! that want each update's previous value (every watch; not a mirror, which
//! keeps its own replica), tells a producer whether to attach them
//! (`ring.rs`, "Previous values"). Both are written before the subscriber's
//! own fence (F2) and read after F1, so the Dekker argument of the list
//! covers them.

use std::task::Waker;

use crate::sync::{fence, Arc, ArcCell, AtomicBool, AtomicUsize, Ordering, WakerSlot};

pub(crate) struct Subscriber {
    waiting: AtomicBool,
    overflowed: AtomicBool,
    waker: WakerSlot,
    /// Whether it needs each update's previous value from the ring.
    wants_previous: bool,
    /// Its kind's count of waiting subscribers (`Subscribers::sleepers`),
    /// which this one is part of while `waiting` is set.
    sleepers: Arc<AtomicUsize>,
}

impl Subscriber {
    /// Consumer side: announce that it is about to sleep. The caller must
    /// re-check for work after this returns and sleep only if it finds none.
    pub(crate) fn prepare_wait(&self, waker: &Waker) {
        self.waker.register(waker);
        // Only this consumer writes the flag, so this load reads its own
        // last store: count the wait once, when the flag goes up.
        if !self.waiting.load(Ordering::Relaxed) {
            // Before F3, so a producer past F1 reads it or a later value
            // (module docs); an RMW, as every consumer of the kind counts.
            self.sleepers.fetch_add(1, Ordering::Relaxed);
        }
        // Release: pairs with the Acquire load in `wake_if_waiting`, so a
        // producer that sees the flag wakes the waker registered above.
        self.waiting.store(true, Ordering::Release);
        // (F3) pairs with F1 in every producer: see the module docs.
        fence(Ordering::SeqCst);
    }

    /// Consumer side: it has work, or is leaving, so producers need not wake
    /// it any more.
    pub(crate) fn cancel_wait(&self) {
        // Load first: the flag's line is read by producers, so write it only
        // when there is something to undo (and give the count back once).
        if self.waiting.load(Ordering::Relaxed) {
            self.waiting.store(false, Ordering::Relaxed);
            self.sleepers.fetch_sub(1, Ordering::Relaxed);
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
    /// How many subscribers the list holds. A lapped producer reads it after
    /// its fence (F1) and skips the list at zero. It is written before the
    /// subscriber's own fence (F2), so the Dekker argument of the list
    /// carries over to it unchanged.
    count: AtomicUsize,
    /// How many of them want previous values (see the module docs).
    wanting_previous: AtomicUsize,
    /// How many of them have their `waiting` flag set (module docs, "Wake-ups
    /// without lost signals"). Shared with each subscriber, which keeps its
    /// own share of it.
    sleepers: Arc<AtomicUsize>,
}

impl Subscribers {
    pub(crate) fn new() -> Self {
        Subscribers {
            list: ArcCell::new(Arc::new(Vec::new())),
            count: AtomicUsize::new(0),
            wanting_previous: AtomicUsize::new(0),
            sleepers: Arc::new(AtomicUsize::new(0)),
        }
    }

    /// A new subscriber of this list, not registered yet.
    pub(crate) fn subscriber(&self, wants_previous: bool) -> Subscriber {
        Subscriber {
            waiting: AtomicBool::new(false),
            overflowed: AtomicBool::new(false),
            waker: Default::default(),
            wants_previous,
            sleepers: Arc::clone(&self.sleepers),
        }
    }

    /// Adds `subscriber` (lock-free: a CAS loop over copies), then fences
    /// (F2), so that whatever the subscriber reads next — its first look at
    /// the ring — either sees a producer's write, or that producer's look at
    /// this list after its F1 finds the subscriber.
    pub(crate) fn register(&self, subscriber: &Arc<Subscriber>) {
        debug_assert!(Arc::ptr_eq(&subscriber.sleepers, &self.sleepers));
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
    /// Called by the subscriber's owner (its cursor, or `subscribe` before
    /// the cursor exists): a subscriber removed while waiting gives its
    /// share of `sleepers` back here.
    pub(crate) fn remove(&self, subscriber: &Arc<Subscriber>) {
        subscriber.cancel_wait();
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

    /// Producer side, after F1: whether no subscriber is registered (the
    /// Dekker argument of `register`: one registered before F1 is counted).
    #[inline]
    pub(crate) fn is_empty(&self) -> bool {
        self.count.load(Ordering::Relaxed) == 0
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

    #[cfg(test)]
    pub(crate) fn sleepers(&self) -> usize {
        self.sleepers.load(Ordering::Relaxed)
    }

    /// Producer side, after its write (a ring slot, the closed flag) and a
    /// `fence(SeqCst)` (F1: `RawKind::publish`, `RawStore::close`): wakes
    /// every sleeping subscriber, or, for a producer that was `lapped`,
    /// marks every subscriber overflowed (marking wakes too: see
    /// `mark_overflowed`).
    #[inline]
    pub(crate) fn wake(&self, lapped: bool) {
        if lapped {
            if self.count.load(Ordering::Relaxed) != 0 {
                self.overflow_all();
            }
            return;
        }
        // Nobody waits: no subscriber to visit (module docs).
        if self.sleepers.load(Ordering::Relaxed) == 0 {
            return;
        }
        for subscriber in self.list.load().iter() {
            visited();
            subscriber.wake_if_waiting();
        }
    }

    /// A lapped producer: every current subscriber may be waiting at its
    /// revision, which can no longer be delivered.
    #[cold]
    fn overflow_all(&self) {
        for subscriber in self.list.load().iter() {
            visited();
            subscriber.mark_overflowed();
        }
    }
}

/// Counts, on this thread, the subscribers producers visit (tests only).
#[cfg(all(test, not(zestor_loom)))]
fn visited() {
    VISITS.with(|visits| visits.set(visits.get() + 1));
}

#[cfg(not(all(test, not(zestor_loom))))]
#[inline(always)]
fn visited() {}

#[cfg(all(test, not(zestor_loom)))]
thread_local! {
    static VISITS: std::cell::Cell<usize> = const { std::cell::Cell::new(0) };
}

#[cfg(all(test, not(zestor_loom)))]
mod tests {
    use std::task::Wake;

    use super::*;
    use crate::raw::cursor::{Filter, Start};
    use crate::raw::hash::KeyHashing;
    use crate::raw::kind::RawKind;
    use crate::raw::version::EventTypes;
    use crate::sync::AtomicUsize;

    /// Counts its wakes.
    #[derive(Default)]
    struct Counter(AtomicUsize);

    impl Wake for Counter {
        fn wake(self: Arc<Self>) {
            self.0.fetch_add(1, Ordering::Relaxed);
        }
    }

    impl Counter {
        fn woken(&self) -> usize {
            self.0.load(Ordering::Relaxed)
        }
    }

    /// How many subscribers `wake` visits on this thread.
    fn visits<R>(wake: impl FnOnce() -> R) -> usize {
        VISITS.with(|visits| visits.set(0));
        wake();
        VISITS.with(|visits| visits.get())
    }

    fn registered(subscribers: &Subscribers, n: usize) -> Vec<Arc<Subscriber>> {
        (0..n)
            .map(|_| {
                let subscriber = Arc::new(subscribers.subscriber(true));
                subscribers.register(&subscriber);
                subscriber
            })
            .collect()
    }

    /// Issue 11, item 6: a producer visits no subscriber while none waits,
    /// however many are registered; once one waits, it is woken.
    #[test]
    fn idle_subscribers_are_not_visited() {
        let subscribers = Subscribers::new();
        let all = registered(&subscribers, 10_000);
        assert_eq!(visits(|| subscribers.wake(false)), 0, "nobody waits");

        let counter = Arc::new(Counter::default());
        let waker = Waker::from(Arc::clone(&counter));
        all[4_321].prepare_wait(&waker);
        all[4_321].prepare_wait(&waker); // a second look before sleeping
        assert_eq!(subscribers.sleepers(), 1, "one wait counts once");
        assert!(visits(|| subscribers.wake(false)) > 0);
        assert_eq!(counter.woken(), 1, "the sleeper is woken");

        all[4_321].cancel_wait();
        all[4_321].cancel_wait();
        assert_eq!(subscribers.sleepers(), 0);
        assert_eq!(visits(|| subscribers.wake(false)), 0, "awake again");
        assert_eq!(counter.woken(), 1);
    }

    /// A lapped producer still marks every subscriber, waiting or not.
    #[test]
    fn a_lapped_producer_marks_every_subscriber() {
        let subscribers = Subscribers::new();
        let all = registered(&subscribers, 100);
        assert_eq!(visits(|| subscribers.wake(true)), 100);
        assert!(all.iter().all(|subscriber| subscriber.is_overflowed()));
    }

    /// A subscriber removed while its flag is up gives its count back: the
    /// producers' writes stop visiting the others.
    #[test]
    fn a_subscriber_removed_while_waiting_gives_its_count_back() {
        let subscribers = Subscribers::new();
        let idle = registered(&subscribers, 3);
        let leaving = Arc::new(subscribers.subscriber(true));
        subscribers.register(&leaving);
        leaving.prepare_wait(&Waker::from(Arc::new(Counter::default())));
        assert_eq!(subscribers.sleepers(), 1);
        subscribers.remove(&leaving);
        subscribers.remove(&leaving); // removes it once, gives back once
        assert_eq!(subscribers.sleepers(), 0);
        assert_eq!(subscribers.len(), idle.len());
        assert_eq!(visits(|| subscribers.wake(false)), 0);
    }

    /// The same through a cursor, as a watch drops it: a `Stream` dropped
    /// while pending, or a watch ended asleep.
    #[test]
    fn a_cursor_dropped_while_waiting_gives_its_count_back() {
        let kind = Arc::new(RawKind::new(
            Arc::from("k"),
            4,
            KeyHashing::default(),
            Arc::new(|a: &u32, b: &u32| a == b),
            None,
        ));
        let filter = Filter {
            buffer: 4,
            types: EventTypes::ALL,
            prefix: None,
            previous: true,
        };
        let _idle = kind.subscribed(Start::Now, filter.clone());
        let counter = Arc::new(Counter::default());
        let waker = Waker::from(Arc::clone(&counter));
        let pending = kind.subscribed(Start::Now, filter);
        pending.subscriber().prepare_wait(&waker);
        assert!(visits(|| kind.set("a", 1)) > 0, "a waiter is visited");
        assert_eq!(counter.woken(), 1);
        drop(pending); // without ever polling again
        assert_eq!(visits(|| kind.set("a", 2)), 0, "and then no one");
        assert_eq!(counter.woken(), 1);
    }
}
