//! The wake-up protocol and the subscriber list (`subscriber.rs`): no
//! wake-up is lost, an overflow always reaches a sleeper, and a producer
//! either sees a new subscriber or the subscriber sees the producer's write.

use std::task::{Wake, Waker};

use super::model;
use crate::raw::subscriber::{Subscriber, Subscribers};
use crate::sync::{fence, thread, Arc, AtomicBool, Ordering};

/// Unparks the consumer's thread, as a blocking `recv`'s waker does.
struct Unparker(thread::Thread);

impl Wake for Unparker {
    fn wake(self: Arc<Self>) {
        self.0.unpark();
    }
}

/// A consumer's sleep loop, as `Watch::recv` runs it: check, announce the
/// wait, check again, and only then park. Returns once `ready` says so, its
/// wait cancelled.
fn sleep_until(subscriber: &Subscriber, ready: impl Fn() -> bool) {
    let waker = Waker::from(Arc::new(Unparker(thread::current())));
    loop {
        if ready() {
            break;
        }
        subscriber.prepare_wait(&waker);
        if ready() {
            break;
        }
        thread::park();
    }
    subscriber.cancel_wait();
}

fn one_subscriber() -> (Arc<Subscribers>, Arc<Subscriber>) {
    let subscribers = Arc::new(Subscribers::new());
    let subscriber = Arc::new(subscribers.subscriber(true));
    subscribers.register(&subscriber);
    (subscribers, subscriber)
}

/// A consumer going to sleep races a producer's write and wake-up: it never
/// sleeps through the write (a lost wake-up is a loom deadlock). Fails
/// without F3 (`prepare_wait`), without the producer's F1 (here in the
/// model, as `RawKind::publish` issues it), or when the consumer counts
/// itself among the sleepers after F3 instead of before.
#[test]
fn prepare_wait_races_a_wake() {
    model(|| {
        let (subscribers, subscriber) = one_subscriber();
        let work = Arc::new(AtomicBool::new(false));
        let consumer = {
            let work = Arc::clone(&work);
            loom::thread::spawn(move || sleep_until(&subscriber, || work.load(Ordering::Relaxed)))
        };
        work.store(true, Ordering::Relaxed);
        fence(Ordering::SeqCst); // F1, as `RawKind::publish` fences
        subscribers.wake(false);
        consumer.join().unwrap();
        assert_eq!(subscribers.sleepers(), 0);
    });
}

/// A producer marks a sleeping subscriber overflowed: the consumer always
/// learns it (the flag is its own wake-up). Fails without the fence in
/// `mark_overflowed`.
#[test]
fn an_overflow_reaches_a_sleeper() {
    model(|| {
        let (subscribers, subscriber) = one_subscriber();
        let consumer = {
            let subscriber = Arc::clone(&subscriber);
            loom::thread::spawn(move || sleep_until(&subscriber, || subscriber.is_overflowed()))
        };
        fence(Ordering::SeqCst); // F1
        subscribers.wake(true);
        consumer.join().unwrap();
        assert!(subscriber.is_overflowed());
    });
}

/// Subscribing races a producer's write, while another subscriber leaves.
/// The new subscriber registers, fences (F2) and then looks for the write;
/// the producer writes, fences (F1) and then looks for subscribers (which it
/// marks, as a lapped producer does). One of them always
/// sees the other. And the list ends holding exactly the new subscriber.
#[test]
fn subscribe_and_unsubscribe_race_a_producer() {
    model(|| {
        let (subscribers, leaving) = one_subscriber();
        let work = Arc::new(AtomicBool::new(false));
        let joining = Arc::new(subscribers.subscriber(true));
        let subscribe = {
            let (subscribers, joining, work) = (
                Arc::clone(&subscribers),
                Arc::clone(&joining),
                Arc::clone(&work),
            );
            loom::thread::spawn(move || {
                subscribers.register(&joining); // then F2
                work.load(Ordering::Relaxed)
            })
        };
        let unsubscribe = {
            let subscribers = Arc::clone(&subscribers);
            loom::thread::spawn(move || subscribers.remove(&leaving))
        };
        work.store(true, Ordering::Relaxed);
        fence(Ordering::SeqCst); // F1
        subscribers.wake(true);
        let saw_work = subscribe.join().unwrap();
        unsubscribe.join().unwrap();
        assert!(
            saw_work || joining.is_overflowed(),
            "neither the subscriber saw the write nor the producer the subscriber"
        );
        assert_eq!(subscribers.len(), 1);
    });
}

/// Two consumers share their kind's count of sleepers: one sleeps until a
/// producer's write while the other announces a wait and, finding work on
/// its re-check, cancels it. The producer, which skips the list when the
/// count reads zero, still wakes the sleeper, and the count ends at zero.
/// Fails if a consumer counts itself after F3, or gives back more than it
/// took.
#[test]
fn a_sleeper_is_counted_while_another_leaves() {
    model(|| {
        let (subscribers, sleeper) = one_subscriber();
        let other = Arc::new(subscribers.subscriber(true));
        let work = Arc::new(AtomicBool::new(false));
        let consumer = {
            let work = Arc::clone(&work);
            loom::thread::spawn(move || sleep_until(&sleeper, || work.load(Ordering::Relaxed)))
        };
        let leaver = loom::thread::spawn(move || {
            let waker = Waker::from(Arc::new(Unparker(thread::current())));
            other.prepare_wait(&waker);
            other.cancel_wait();
        });
        work.store(true, Ordering::Relaxed);
        fence(Ordering::SeqCst); // F1
        subscribers.wake(false);
        consumer.join().unwrap();
        leaver.join().unwrap();
        assert_eq!(subscribers.sleepers(), 0, "every wait given back");
    });
}
