//! P4, subscribe with replay: I5 — replay then live events converge on the
//! store, and a replayed value never overwrites a newer live one.
#![cfg(zestor_loom)]

use std::collections::BTreeMap;

use loom::thread;
use loom_tests::{apply, drain, model, snapshot};
use zestor::{Error, Store, WatchOptions};

/// Subscribing with replay races an update. After the writer is done, the
/// consumer's replica equals the store, and the key's value never went back.
#[test]
fn subscribe_with_replay_races_a_write() {
    model(|| {
        let store = Store::<u32>::builder().ring_capacity(2).build();
        store.set("k", "a", 1).unwrap();
        let writer = {
            let store = store.clone();
            thread::spawn(move || {
                store.update("k", "a", |v| Ok::<_, Error>(v + 1)).unwrap();
            })
        };
        let mut watch = store
            .watch("k", WatchOptions::new().replay(true).buffer_size(2))
            .unwrap();
        writer.join().unwrap();
        let drained = drain(&mut watch);
        assert!(drained.ended.is_none(), "two revisions fit the buffer");
        let mut replica = BTreeMap::new();
        let mut last = 0;
        for event in &drained.events {
            assert!(*event.value >= last, "replay overwrote a newer value");
            last = *event.value;
            apply(&mut replica, event);
        }
        assert_eq!(replica, snapshot(&store, "k"));
    });
}

/// Subscribing with replay races a create and a delete of another key.
#[test]
fn subscribe_with_replay_races_create_and_delete() {
    model(|| {
        let store = Store::<u32>::builder().ring_capacity(4).build();
        store.set("k", "gone", 1).unwrap();
        let writer = {
            let store = store.clone();
            thread::spawn(move || {
                store.set("k", "new", 2).unwrap();
                store.delete("k", "gone").unwrap();
            })
        };
        let mut watch = store
            .watch("k", WatchOptions::new().replay(true).buffer_size(4))
            .unwrap();
        writer.join().unwrap();
        let drained = drain(&mut watch);
        assert!(drained.ended.is_none());
        let mut replica = BTreeMap::new();
        for event in &drained.events {
            apply(&mut replica, event);
        }
        assert_eq!(replica, snapshot(&store, "k"));
    });
}

/// The replay floor: with a ring of one slot, a writer can hold a revision
/// below `S - C` while the subscriber scans, registers and walks. Its write
/// must then be in the replay, or the subscriber must overflow — never a
/// silent gap. The other writer moves `head` past the stalled one.
#[test]
fn a_writer_stalled_below_the_replay_floor_cannot_hide() {
    model(|| {
        let store = Store::<u32>::builder().ring_capacity(1).build();
        let writers: Vec<_> = ["a", "b"]
            .into_iter()
            .map(|key| {
                let store = store.clone();
                thread::spawn(move || {
                    store.set("k", key, 1).unwrap();
                })
            })
            .collect();
        let mut watch = store
            .watch("k", WatchOptions::new().replay(true).buffer_size(1))
            .unwrap();
        for writer in writers {
            writer.join().unwrap();
        }
        let drained = drain(&mut watch);
        if drained.ended.is_none() {
            let mut replica = BTreeMap::new();
            for event in &drained.events {
                apply(&mut replica, event);
            }
            assert_eq!(replica, snapshot(&store, "k"), "a silent gap");
        }
    });
}
