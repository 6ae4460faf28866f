//! P1, the write protocol: I1 per-key order, I2, I3 every revision published.
#![cfg(zestor_loom)]

use loom::thread;
use loom_tests::{apply, model, snapshot};
use std::collections::BTreeMap;
use zestor::{Error, Store, WatchOptions};

// Consumers that block in `recv` run on spawned threads and main only joins:
// a producer may unpark a consumer that has already moved on (a spurious
// wake-up, harmless with std), and loom cannot model an unpark that lands on
// a thread blocked in `join`.

/// Two writers race `set` on one key while a watcher blocks in `recv`.
/// Every interleaving: the watcher receives both updates in increasing
/// revision order (a lost hole would leave it parked: loom reports the
/// deadlock), and the last event is the value the store holds.
#[test]
fn two_writers_one_key_and_a_watcher() {
    model(|| {
        let store = Store::<u32>::builder().ring_capacity(4).build();
        store.set("k", "hot", 0).unwrap();
        let mut watch = store
            .watch("k", WatchOptions::new().buffer_size(4))
            .unwrap();

        let writers: Vec<_> = [1, 2]
            .into_iter()
            .map(|value| {
                let store = store.clone();
                thread::spawn(move || store.set("k", "hot", value).unwrap())
            })
            .collect();
        let consumer = thread::spawn(move || (watch.recv().unwrap(), watch.recv().unwrap()));
        for writer in writers {
            writer.join().unwrap();
        }
        let (first, second) = consumer.join().unwrap();
        assert!(first.revision < second.revision, "I1: revision order");
        let stored = store.get("k", "hot").unwrap().unwrap();
        assert_eq!(*second.value, *stored, "the last event is the stored value");
        assert_eq!(second.revision, stored.revision());
        assert_ne!(*first.value, *second.value);
    });
}

/// Two `update` closures race on one key: no increment is lost (the closure
/// reruns on a lost CAS), and the watcher sees 1 then 2.
#[test]
fn two_updates_lose_nothing() {
    model(|| {
        let store = Store::<u32>::builder().ring_capacity(4).build();
        store.set("k", "counter", 0).unwrap();
        let mut watch = store
            .watch("k", WatchOptions::new().buffer_size(4))
            .unwrap();
        let updaters: Vec<_> = (0..2)
            .map(|_| {
                let store = store.clone();
                thread::spawn(move || {
                    assert!(store
                        .update("k", "counter", |v| Ok::<_, Error>(v + 1))
                        .unwrap());
                })
            })
            .collect();
        let consumer =
            thread::spawn(move || [*watch.recv().unwrap().value, *watch.recv().unwrap().value]);
        for updater in updaters {
            updater.join().unwrap();
        }
        assert_eq!(*store.get("k", "counter").unwrap().unwrap(), 2);
        assert_eq!(consumer.join().unwrap(), [1, 2]);
    });
}

/// Writers on two keys with a watcher draining concurrently: the replica the
/// watcher builds equals the store once everything is published (I2/I3).
#[test]
fn writers_on_two_keys_converge() {
    model(|| {
        let store = Store::<u32>::builder().ring_capacity(4).build();
        let mut watch = store
            .watch("k", WatchOptions::new().buffer_size(4))
            .unwrap();
        let writers: Vec<_> = ["a", "b"]
            .into_iter()
            .map(|key| {
                let store = store.clone();
                thread::spawn(move || {
                    store.set("k", key, 1).unwrap();
                })
            })
            .collect();
        let consumer = thread::spawn(move || {
            let mut replica = BTreeMap::new();
            for _ in 0..2 {
                apply(&mut replica, &watch.recv().unwrap());
            }
            assert!(watch.try_recv().unwrap().is_none());
            replica
        });
        for writer in writers {
            writer.join().unwrap();
        }
        assert_eq!(consumer.join().unwrap(), snapshot(&store, "k"));
    });
}
