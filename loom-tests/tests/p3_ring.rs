//! P3, the event ring: overflow is reported, never a silent skip; a
//! consumer waits for a stalled producer and then proceeds.
#![cfg(zestor_loom)]

use loom::thread;
use loom_tests::{drain, model};
use zestor::{Store, WatchError, WatchOptions};

/// A single producer writes three values through a ring of two slots while
/// the consumer polls at arbitrary points. Revisions from one writer are
/// consecutive, so what the consumer got must be a gap-free run — or end in
/// an overflow. Never a skip.
#[test]
fn a_lapping_producer_overflows_the_slow_consumer() {
    model(|| {
        let store = Store::<u32>::builder().ring_capacity(2).build();
        let mut watch = store
            .watch("k", WatchOptions::new().buffer_size(2))
            .unwrap();
        let producer = {
            let store = store.clone();
            thread::spawn(move || {
                for value in 1..=3 {
                    store.set("k", "a", value).unwrap();
                }
            })
        };
        let early = drain(&mut watch);
        producer.join().unwrap();
        let late = drain(&mut watch);

        let mut values: Vec<u32> = early.events.iter().map(|e| *e.value).collect();
        let ended = early.ended.or(late.ended);
        values.extend(late.events.iter().map(|e| *e.value));
        let expected: Vec<u32> = (1..=values.len() as u32).collect();
        assert_eq!(values, expected, "a gap-free prefix");
        match ended {
            None => assert_eq!(values.len(), 3, "no overflow means every event"),
            Some(error) => assert_eq!(error, WatchError::Overflow),
        }
    });
}

/// The consumer blocks in `recv` while the producer may be preempted anywhere
/// between taking its revision and publishing it: the consumer waits, then
/// receives the event (a lost wake-up would be a loom deadlock).
#[test]
fn a_stalled_producer_is_waited_for() {
    model(|| {
        let store = Store::<u32>::builder().ring_capacity(2).build();
        let mut watch = store
            .watch("k", WatchOptions::new().buffer_size(2))
            .unwrap();
        let producer = {
            let store = store.clone();
            thread::spawn(move || store.set("k", "a", 7).unwrap())
        };
        // The consumer blocks on its own thread; main only joins (see p1).
        let consumer = thread::spawn(move || *watch.recv().unwrap().value);
        producer.join().unwrap();
        assert_eq!(consumer.join().unwrap(), 7);
    });
}

/// Two producers, and a ring of one slot: the consumer either sees both
/// events in order or an overflow — and a producer that finds its slot
/// already holds a newer revision reports the lap instead of dropping it.
#[test]
fn two_producers_one_slot() {
    model(|| {
        let store = Store::<u32>::builder().ring_capacity(1).build();
        let mut watch = store
            .watch("k", WatchOptions::new().buffer_size(1))
            .unwrap();
        let producers: Vec<_> = ["a", "b"]
            .into_iter()
            .map(|key| {
                let store = store.clone();
                thread::spawn(move || store.set("k", key, 1).unwrap())
            })
            .collect();
        for producer in producers {
            producer.join().unwrap();
        }
        let drained = drain(&mut watch);
        let keys: Vec<&str> = drained.events.iter().map(|e| &*e.key).collect();
        match drained.ended {
            Some(WatchError::Overflow) => assert!(keys.len() <= 1),
            other => panic!("two writes through a one-slot ring and a buffer of one must overflow, got {other:?} after {keys:?}"),
        }
    });
}
