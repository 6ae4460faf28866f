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

/// A writer stalled a whole lap of a one-slot ring behind while the watch
/// takes its snapshot (in the design before issue 8, below the "replay
/// floor" `S - C`): its write must be in the replay, or arrive as an event,
/// or the subscriber must overflow — never a silent gap. The other writer
/// moves `head` past the stalled one.
#[test]
fn a_writer_stalled_a_lap_behind_cannot_hide() {
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

/// The gap of issue 8: a writer takes its revision, stalls, and lands its
/// write after a replay watcher's walk has passed the key; a later write of
/// the same key must then not reach the watcher as if the stalled one never
/// happened. Each value carries the value it replaced, so the watcher checks
/// every update against its replica as events arrive — not only at the end,
/// when an overflow may have come since. With the revision taken before the
/// install (the design before issue 8), this model finds that interleaving
/// (at a preemption bound of 3); with install-then-stamp there is none.
#[test]
fn a_stalled_writer_cannot_open_a_gap_in_a_replay() {
    model(|| {
        let store = Store::<(u32, u32)>::builder().ring_capacity(1).build();
        store.set("k", "a", (0, 0)).unwrap();
        let chained = |value: u32| move |old: &(u32, u32)| Ok::<_, Error>((old.1, value));
        let stalled = {
            let store = store.clone();
            thread::spawn(move || {
                store.update("k", "a", chained(1)).unwrap();
            })
        };
        // One more revision, so that a stalled writer can be below the old
        // design's replay floor (S − C, with C = 1).
        store.set("k", "b", (0, 1)).unwrap();
        let mut watch = store
            .watch("k", WatchOptions::new().replay(true).buffer_size(1))
            .unwrap();
        let later = {
            let store = store.clone();
            thread::spawn(move || {
                store.update("k", "a", chained(2)).unwrap();
            })
        };
        let mut replica: BTreeMap<String, (u32, u32)> = BTreeMap::new();
        let mut check = |drained: loom_tests::Drained<(u32, u32)>| -> bool {
            for event in &drained.events {
                if let Some(held) = replica.get(&*event.key) {
                    assert_eq!(
                        event.value.0, held.1,
                        "a silent gap: {:?} {} arrived on top of {}",
                        event.event_type, event.key, held.1
                    );
                }
                apply(&mut replica, event);
            }
            drained.ended.is_none()
        };
        let open = check(drain(&mut watch));
        stalled.join().unwrap();
        later.join().unwrap();
        if open && check(drain(&mut watch)) {
            assert_eq!(replica, snapshot(&store, "k"));
        }
    });
}
