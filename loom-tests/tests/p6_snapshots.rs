//! P6, snapshots: a snapshot is the kind at exactly its revision, whatever
//! the writers do around it; P4's resume from a revision never skips one.
#![cfg(zestor_loom)]

use loom::thread;
use loom_tests::{drain, model, model_reclaiming};
use zestor::{Error, Event, EventType, Store, WatchError, WatchOptions};

/// What key "a" holds at `revision`, from the events of every write after
/// the start (`initial` before them).
fn expected_at(events: &[Event<u32>], revision: u64, initial: Option<u32>) -> Option<u32> {
    events
        .iter()
        .rfind(|event| event.revision <= revision)
        .map_or(initial, |event| match event.event_type {
            EventType::Delete => None,
            _ => Some(*event.value),
        })
}

/// A snapshot registers while a writer writes the key twice: the snapshot
/// reads exactly the write its revision says — also after the writer is
/// done, through the version the writer pinned for it. Fails if a stamper
/// skips pinning, or without F2 in `SnapshotRegistry::register`.
#[test]
fn snapshot_registration_races_an_in_flight_writer() {
    model_reclaiming(|| {
        // A one-slot ring: a replaced version is not kept alive by the ring,
        // only by the pins.
        let store = Store::<u32>::builder().ring_capacity(1).build();
        store.set("k", "a", 0).unwrap();
        let writer = {
            let store = store.clone();
            thread::spawn(move || {
                let mut revisions = Vec::new();
                for value in [1, 2] {
                    store.set("k", "a", value).unwrap();
                    let stored = store.get("k", "a").unwrap().unwrap();
                    revisions.push(stored.revision());
                }
                revisions
            })
        };
        let snapshot = store.snapshot("k").unwrap();
        let early = snapshot.get("a").map(|v| (*v, v.revision()));
        let revisions = writer.join().unwrap();
        let at = snapshot.revision();
        let expected = if at >= revisions[1] {
            2
        } else if at >= revisions[0] {
            1
        } else {
            0
        };
        let late = snapshot.get("a").map(|v| (*v, v.revision()));
        assert_eq!(
            early.map(|(v, _)| v),
            Some(expected),
            "at revision {at}, writes at {revisions:?}"
        );
        assert_eq!(early, late, "the snapshot did not change");
        if let Some((_, revision)) = late {
            assert!(revision <= at);
        }
    });
}

/// A snapshot races a delete, whose cell is unlinked when no snapshot is
/// held: the snapshot still finds the key if its revision is before the
/// delete, and lists exactly what it reads. Fails if a delete unlinks its
/// cell without asking the snapshot registry (`RawKind::retire`).
#[test]
fn a_snapshot_races_delete_and_unlink() {
    model(|| {
        let store = Store::<u32>::new();
        store.set("k", "a", 7).unwrap();
        let mut watch = store
            .watch("k", WatchOptions::new().buffer_size(8))
            .unwrap();
        let deleter = {
            let store = store.clone();
            thread::spawn(move || {
                store.delete("k", "a").unwrap();
            })
        };
        let snapshot = store.snapshot("k").unwrap();
        let got = snapshot.get("a").map(|v| *v);
        let listed: Vec<u32> = snapshot.values().iter().map(|v| **v).collect();
        deleter.join().unwrap();
        let events = drain(&mut watch).events;
        assert_eq!(events.len(), 1);
        let expected = expected_at(&events, snapshot.revision(), Some(7));
        assert_eq!(
            got,
            expected,
            "at revision {}, deleted at {}",
            snapshot.revision(),
            events[0].revision
        );
        assert_eq!(listed, got.into_iter().collect::<Vec<_>>());
        drop(snapshot);
        // Once no snapshot is held, the key can be written again.
        store.set("k", "a", 8).unwrap();
        assert_eq!(*store.get("k", "a").unwrap().unwrap(), 8);
    });
}

/// A watch resumes at revision 2 while a writer laps a two-slot ring and
/// the watcher reads concurrently: it is `Compacted`, or it delivers
/// revisions from 2 on with none skipped, or it overflows — never a silent
/// skip. Fails if the cursor passes over an overwritten slot (which it can
/// reach when the writer laps it between its look at `head` and at the
/// slot) instead of overflowing.
#[test]
fn start_revision_races_a_lapping_ring() {
    model(|| {
        let store = Store::<u32>::builder().ring_capacity(2).build();
        store.set("k", "a", 1).unwrap();
        let writer = {
            let store = store.clone();
            thread::spawn(move || {
                for value in 2..=4 {
                    store.set("k", "a", value).unwrap();
                }
            })
        };
        let mut watch = match store.watch("k", WatchOptions::new().start_revision(2).buffer_size(2))
        {
            Err(Error::Compacted { requested, .. }) => {
                assert_eq!(requested, 2);
                writer.join().unwrap();
                return;
            }
            other => other.unwrap(),
        };
        let mut drained = drain(&mut watch);
        writer.join().unwrap();
        if drained.ended.is_none() {
            let rest = drain(&mut watch);
            drained.events.extend(rest.events);
            drained.ended = rest.ended;
        }
        let revisions: Vec<u64> = drained.events.iter().map(|e| e.revision).collect();
        let expected: Vec<u64> = (2..2 + revisions.len() as u64).collect();
        assert_eq!(revisions, expected, "from 2, none skipped");
        match drained.ended {
            None => assert_eq!(revisions, [2, 3, 4]),
            Some(ended) => assert_eq!(ended, WatchError::Overflow),
        }
    });
}
