//! Contract 28: every event carries the value its write replaced.

use std::collections::HashMap;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::thread;

use zestor::{Event, EventType, Store, WatchOptions};

fn summary(event: &Event<u64>) -> (EventType, String, u64, Option<u64>) {
    (
        event.event_type,
        event.key.to_string(),
        *event.value,
        event.previous.as_deref().copied(),
    )
}

#[test]
fn creates_updates_and_deletes_carry_what_they_replaced() {
    // Contract 28.
    let store = Store::<u64>::new();
    let mut watch = store.watch("k", WatchOptions::new()).unwrap();
    store.set("k", "a", 1).unwrap();
    store.set("k", "a", 2).unwrap();
    store
        .update("k", "a", |v| Ok::<_, zestor::Error>(v + 1))
        .unwrap();
    store.delete("k", "a").unwrap();
    store.set("k", "a", 9).unwrap();
    let events: Vec<_> = (0..5).map(|_| summary(&watch.recv().unwrap())).collect();
    assert_eq!(
        events,
        [
            (EventType::Create, "a".into(), 1, None),
            (EventType::Update, "a".into(), 2, Some(1)),
            (EventType::Update, "a".into(), 3, Some(2)),
            (EventType::Delete, "a".into(), 3, Some(3)),
            (EventType::Create, "a".into(), 9, None),
        ]
    );
}

#[test]
fn atomic_writes_carry_each_keys_previous_value() {
    // Contract 28 for set_many and transactions.
    let store = Store::<u64>::new();
    store.set_many("k", [("a", 1), ("b", 2)]).unwrap();
    let mut watch = store.watch("k", WatchOptions::new()).unwrap();
    store
        .set_many("k", [("a", 10), ("b", 20), ("c", 30)])
        .unwrap();
    store
        .transaction("k", |tx| {
            tx.set("a", 100);
            tx.delete("b");
            Ok::<_, zestor::Error>(())
        })
        .unwrap();
    let events: Vec<_> = (0..5).map(|_| summary(&watch.recv().unwrap())).collect();
    assert_eq!(
        events,
        [
            (EventType::Update, "a".into(), 10, Some(1)),
            (EventType::Update, "b".into(), 20, Some(2)),
            (EventType::Create, "c".into(), 30, None),
            (EventType::Update, "a".into(), 100, Some(10)),
            (EventType::Delete, "b".into(), 20, Some(20)),
        ]
    );
}

#[test]
fn replayed_entries_are_creates_without_a_previous_value() {
    let store = Store::<u64>::new();
    store.set("k", "a", 1).unwrap();
    store.set("k", "a", 2).unwrap();
    let mut watch = store.watch("k", WatchOptions::new().replay(true)).unwrap();
    assert_eq!(
        summary(&watch.recv().unwrap()),
        (EventType::Create, "a".into(), 2, None)
    );
    store.set("k", "a", 3).unwrap();
    assert_eq!(
        summary(&watch.recv().unwrap()),
        (EventType::Update, "a".into(), 3, Some(2))
    );
}

#[test]
fn a_resumed_watch_gets_previous_values_still_alive_and_none_for_freed_ones() {
    // Contract 28's one exception, and its boundary.
    let store = Store::<u64>::builder().ring_capacity(4).build();
    for i in 1..=10u64 {
        store.set("k", "a", i).unwrap(); // revisions 1..=10
    }
    // Revision 7 replaced revision 6's value, which the ring (7..=10) no
    // longer holds and nobody else does: freed.
    let mut resumed = store
        .watch("k", WatchOptions::new().start_revision(7).buffer_size(4))
        .unwrap();
    let events: Vec<_> = (0..4).map(|_| summary(&resumed.recv().unwrap())).collect();
    assert_eq!(events[0], (EventType::Update, "a".into(), 7, None));
    assert_eq!(events[1], (EventType::Update, "a".into(), 8, Some(7)));
    assert_eq!(events[3], (EventType::Update, "a".into(), 10, Some(9)));

    // A value the user still holds is alive, so the resumed watch gets it.
    let held = store.get("k", "a").unwrap().unwrap(); // 10
    for i in 11..=14u64 {
        store.set("k", "a", i).unwrap();
    }
    let mut resumed = store
        .watch("k", WatchOptions::new().start_revision(11).buffer_size(4))
        .unwrap();
    drop(held); // kept for the watch from the moment it subscribed
    let first = summary(&resumed.recv().unwrap());
    assert_eq!(first, (EventType::Update, "a".into(), 11, Some(10)));
}

#[test]
fn under_concurrent_writers_each_previous_is_the_value_before_it() {
    // Contract 28 with 8 threads on 4 keys: per key, each update's previous
    // value is the value of the event before it.
    let store = Store::<u64>::builder().ring_capacity(1 << 16).build();
    let mut watch = store
        .watch("k", WatchOptions::new().buffer_size(1 << 16))
        .unwrap();
    let threads: Vec<_> = (0..8u64)
        .map(|t| {
            let store = store.clone();
            thread::spawn(move || {
                for i in 0..2_000u64 {
                    let key = format!("key{}", (t + i) % 4);
                    match i % 7 {
                        0 => {
                            store.delete("k", &key).unwrap();
                        }
                        3 => {
                            let _ = store.update("k", &key, |v| Ok::<_, zestor::Error>(v + 1));
                        }
                        _ => {
                            store.set("k", &key, t * 1_000_000 + i).unwrap();
                        }
                    }
                }
            })
        })
        .collect();
    for thread in threads {
        thread.join().unwrap();
    }
    let mut last: HashMap<String, u64> = HashMap::new();
    let mut updates = 0;
    while let Some(event) = watch.try_recv().unwrap() {
        let (event_type, key, value, previous) = summary(&event);
        assert_eq!(previous, last.get(&key).copied(), "{event:?}");
        match event_type {
            EventType::Delete => {
                last.remove(&key);
            }
            EventType::Update => {
                updates += 1;
                last.insert(key, value);
            }
            EventType::Create => {
                last.insert(key, value);
            }
        }
    }
    assert!(updates > 1_000, "{updates} updates");
}

/// A value that counts how many of its kind are alive.
struct Counted(u64, Arc<AtomicUsize>);

impl Counted {
    fn new(value: u64, alive: &Arc<AtomicUsize>) -> Self {
        alive.fetch_add(1, Ordering::SeqCst);
        Counted(value, Arc::clone(alive))
    }
}

impl Drop for Counted {
    fn drop(&mut self) {
        self.1.fetch_sub(1, Ordering::SeqCst);
    }
}

impl PartialEq for Counted {
    fn eq(&self, other: &Self) -> bool {
        self.0 == other.0
    }
}

#[test]
fn previous_values_are_kept_only_while_watched_and_only_for_the_ring() {
    // Contract 28: nobody watching, the ring keeps its 8 versions alive and
    // nothing more; watched, each update in it also keeps what it replaced.
    let alive = Arc::new(AtomicUsize::new(0));
    let store = Store::<Counted>::builder().ring_capacity(8).build();
    // Two keys written in turn: every value an update replaced is out of the
    // ring once 8 more writes went by, so only previous-value links keep it.
    for i in 0..100 {
        store
            .set("k", &format!("key{}", i % 2), Counted::new(i, &alive))
            .unwrap();
    }
    assert_eq!(
        alive.load(Ordering::SeqCst),
        8,
        "the ring's values, no previous ones"
    );

    let mut watch = store
        .watch("k", WatchOptions::new().buffer_size(8))
        .unwrap();
    for i in 100..200 {
        store
            .set("k", &format!("key{}", i % 2), Counted::new(i, &alive))
            .unwrap();
    }
    // The ring's 8 values, and the value each of its updates replaced: the
    // 2 written just before the ring's oldest (the other 6 are in the ring).
    assert_eq!(alive.load(Ordering::SeqCst), 10);
    drop(watch.try_recv()); // lapped long ago: overflow
    drop(watch);
    for i in 200..208 {
        store
            .set("k", &format!("key{}", i % 2), Counted::new(i, &alive))
            .unwrap();
    }
    assert_eq!(alive.load(Ordering::SeqCst), 8, "unwatched again: released");
}
