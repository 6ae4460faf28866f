//! Contract 21–25: snapshots, point-in-time reads, resumable watches.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use zestor::{Error, EventType, Snapshot, Store, WatchOptions};

fn entries<T: Clone + Send + Sync + 'static>(snapshot: &Snapshot<T>) -> BTreeMap<String, T> {
    snapshot
        .list()
        .into_iter()
        .map(|(key, value)| (key.to_string(), (*value).clone()))
        .collect()
}

#[test]
fn a_snapshot_holds_the_kind_at_its_revision() {
    // Contract 21.
    let store = Store::<u32>::new();
    store.set("k", "a", 1).unwrap();
    store.set("k", "b", 2).unwrap();
    let snapshot = store.snapshot("k").unwrap();
    assert_eq!(snapshot.revision(), store.revision("k").unwrap());
    assert_eq!(snapshot.kind(), "k");

    store.set("k", "a", 10).unwrap();
    store.delete("k", "b").unwrap();
    store.set("k", "c", 3).unwrap();
    store.delete("k", "c").unwrap();
    store.set("k", "b", 20).unwrap(); // deleted, then created again

    assert_eq!(snapshot.get("a").as_deref(), Some(&1));
    assert_eq!(snapshot.get("b").as_deref(), Some(&2));
    assert!(snapshot.get("c").is_none());
    assert!(snapshot.contains("a") && !snapshot.contains("c"));
    assert_eq!(snapshot.read("b", |v| v * 2), Some(4));
    assert_eq!(snapshot.count(), 2);
    assert_eq!(&*snapshot.keys()[0], "a");
    assert_eq!(snapshot.values().len(), 2);
    assert_eq!(
        entries(&snapshot),
        BTreeMap::from([("a".into(), 1), ("b".into(), 2)])
    );
    assert_eq!(snapshot.range("b"..).len(), 1);
    assert_eq!(snapshot.prefix("a").len(), 1);
    assert_eq!(snapshot.list_filtered(|_, v| *v > 1).len(), 1);
    // The store has moved on.
    assert_eq!(*store.get("k", "b").unwrap().unwrap(), 20);
    assert!(store.revision("k").unwrap() > snapshot.revision());
    // Every write at or below the revision, none after: each value's
    // revision says so.
    for (_, value) in snapshot.list() {
        assert!(value.revision() <= snapshot.revision());
    }
}

#[test]
fn a_snapshot_of_a_never_written_kind_is_empty_and_creates_nothing() {
    let store = Store::<u32>::new();
    let snapshot = store.snapshot("nothing").unwrap();
    assert_eq!(snapshot.kind(), "nothing");
    assert_eq!(snapshot.revision(), 0);
    assert!(snapshot.list().is_empty());
    assert!(store.kinds().unwrap().is_empty());
    assert!(matches!(store.snapshot(""), Err(Error::KindRequired)));
}

#[test]
fn a_snapshot_stays_readable_after_close_and_through_a_kind_handle() {
    let store = Store::<u32>::new();
    let kind = store.kind("k").unwrap();
    kind.set("a", 1).unwrap();
    let snapshot = kind.snapshot().unwrap();
    let clone = snapshot.clone();
    store.close();
    assert!(matches!(store.snapshot("k"), Err(Error::Closed)));
    assert_eq!(snapshot.get("a").as_deref(), Some(&1));
    drop(snapshot);
    assert_eq!(clone.list().len(), 1, "clones share the view");
}

#[test]
fn multi_key_reads_are_point_in_time() {
    // Contract 22: a list never sees half of an atomic write.
    let store = Store::<u64>::new();
    let keys: Vec<String> = (0..50).map(|i| format!("key-{i:02}")).collect();
    store
        .set_many("k", keys.iter().map(|key| (key.as_str(), 0)))
        .unwrap();
    let stop = Arc::new(AtomicBool::new(false));
    let rounds = Arc::new(std::sync::atomic::AtomicU64::new(0));
    let writer = {
        let (store, stop, keys) = (store.clone(), Arc::clone(&stop), keys.clone());
        let rounds = Arc::clone(&rounds);
        std::thread::spawn(move || {
            let mut round = 0;
            while !stop.load(Ordering::Relaxed) {
                round += 1;
                store
                    .set_many("k", keys.iter().map(|key| (key.as_str(), round)))
                    .unwrap();
                rounds.store(round, Ordering::Relaxed);
            }
            round
        })
    };
    // Read while the writer makes at least 300 rounds (or for 10 s).
    let (min_lists, min_rounds) = if cfg!(miri) { (5, 3) } else { (100, 300) };
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    let mut lists = 0;
    while lists < min_lists
        || (rounds.load(Ordering::Relaxed) < min_rounds && std::time::Instant::now() < deadline)
    {
        let list = store.list("k").unwrap();
        let first = *list[0].1;
        assert!(
            list.iter().all(|(_, value)| **value == first),
            "a list saw part of an atomic write"
        );
        let revision = list[0].1.revision();
        assert!(list.iter().all(|(_, value)| value.revision() == revision));
        lists += 1;
    }
    stop.store(true, Ordering::Relaxed);
    assert!(writer.join().unwrap() > 0);
}

#[test]
fn replay_is_the_kind_at_one_revision_then_every_event_after() {
    // Contract 13.
    let store = Store::<u32>::new();
    store.set("k", "a", 1).unwrap();
    store.set("k", "b", 2).unwrap();
    let mut watch = store.watch("k", WatchOptions::new().replay(true)).unwrap();
    let replayed_up_to = watch.revision();
    assert_eq!(replayed_up_to, store.revision("k").unwrap());
    assert_eq!(watch.replay_remaining(), 2);
    store.delete("k", "a").unwrap();
    let first = watch.try_recv().unwrap().unwrap();
    let second = watch.try_recv().unwrap().unwrap();
    assert_eq!(
        (
            first.event_type,
            &*first.key,
            second.event_type,
            &*second.key
        ),
        (EventType::Create, "a", EventType::Create, "b")
    );
    assert!(first.revision <= replayed_up_to && second.revision <= replayed_up_to);
    let third = watch.try_recv().unwrap().unwrap();
    assert_eq!((third.event_type, &*third.key), (EventType::Delete, "a"));
    assert_eq!(third.revision, replayed_up_to + 1);
    assert_eq!(watch.revision(), third.revision);
}

#[test]
fn snapshot_then_resume_reconstructs_with_no_gap_and_no_duplicate() {
    // Contract 23. 40 writes land between the snapshot and the watch, more
    // than an unwatched kind keeps by default: keep 64.
    let store = Store::<u32>::builder().history(64).build();
    for i in 0..20u32 {
        store.set("k", &format!("key-{}", i % 7), i).unwrap();
    }
    let snapshot = store.snapshot("k").unwrap();
    let mut replica = entries(&snapshot);
    for i in 20..60u32 {
        if i % 5 == 0 {
            store.delete("k", &format!("key-{}", i % 7)).unwrap();
        } else {
            store.set("k", &format!("key-{}", i % 7), i).unwrap();
        }
    }
    let mut watch = store
        .watch(
            "k",
            WatchOptions::new()
                .start_revision(snapshot.revision() + 1)
                .buffer_size(128),
        )
        .unwrap();
    let mut last = snapshot.revision();
    while let Some(event) = watch.try_recv().unwrap() {
        assert!(event.revision > last, "no duplicate, in order");
        last = event.revision;
        match event.event_type {
            EventType::Delete => {
                replica.remove(&*event.key);
            }
            _ => {
                replica.insert(event.key.to_string(), *event.value);
            }
        }
    }
    let now = store.snapshot("k").unwrap();
    assert_eq!(replica, entries(&now));
    assert_eq!(watch.revision(), now.revision());
}

#[test]
fn start_revision_is_compacted_exactly_when_the_ring_moved_past_it() {
    // Contract 23.
    let store = Store::<u32>::builder().ring_capacity(4).build();
    for i in 0..10u32 {
        store.set("k", "a", i).unwrap();
    }
    // Revisions 7..=10 are in the four-slot ring; 6 is gone.
    match store.watch("k", WatchOptions::new().start_revision(6).buffer_size(4)) {
        Err(Error::Compacted { requested, oldest }) => {
            assert_eq!(requested, 6);
            assert!(oldest > 6);
        }
        other => panic!("expected Compacted, got {other:?}"),
    }
    let mut watch = store
        .watch("k", WatchOptions::new().start_revision(7).buffer_size(4))
        .unwrap();
    let values: Vec<u32> = std::iter::from_fn(|| watch.try_recv().unwrap())
        .map(|event| *event.value)
        .collect();
    assert_eq!(values, [6, 7, 8, 9]);
    // The future is fine: it waits.
    let mut future = store
        .watch("k", WatchOptions::new().start_revision(12).buffer_size(4))
        .unwrap();
    store.set("k", "a", 100).unwrap(); // revision 11: before the start
    assert!(future.try_recv().unwrap().is_none());
    store.set("k", "a", 101).unwrap(); // revision 12
    assert_eq!(*future.try_recv().unwrap().unwrap().value, 101);
}

#[test]
fn start_revision_and_replay_exclude_each_other() {
    let store = Store::<u32>::new();
    let error = store
        .watch("k", WatchOptions::new().replay(true).start_revision(1))
        .unwrap_err();
    assert!(matches!(error, Error::InvalidArgument(_)), "{error}");
    assert!(error.to_string().contains("snapshot"), "{error}");
}

#[test]
fn watch_revision_marks_where_an_atomic_write_ends() {
    // Contract 24.
    let store = Store::<u32>::new();
    let mut watch = store.watch("k", WatchOptions::new()).unwrap();
    store.set_many("k", [("b", 2), ("a", 1), ("c", 3)]).unwrap();
    store.set("k", "d", 4).unwrap();
    let mut seen = Vec::new();
    while let Some(event) = watch.try_recv().unwrap() {
        let ends = event.revision == watch.revision();
        seen.push((event.key.to_string(), event.revision, ends));
    }
    assert_eq!(
        seen,
        [
            ("a".into(), 1, false),
            ("b".into(), 1, false),
            ("c".into(), 1, true),
            ("d".into(), 2, true),
        ]
    );
}

#[test]
fn a_filtered_batch_still_ends_at_its_last_admitted_event() {
    let store = Store::<u32>::new();
    store.set("k", "c", 0).unwrap();
    let mut watch = store
        .watch("k", WatchOptions::new().event_types(&[EventType::Create]))
        .unwrap();
    // a and b are created, c only updated (filtered out).
    store.set_many("k", [("a", 1), ("b", 2), ("c", 3)]).unwrap();
    let first = watch.try_recv().unwrap().unwrap();
    assert_ne!(first.revision, watch.revision());
    let second = watch.try_recv().unwrap().unwrap();
    assert_eq!(&*second.key, "b");
    assert_eq!(
        second.revision,
        watch.revision(),
        "the update of c is filtered out"
    );
}

#[test]
fn a_held_snapshot_pins_only_what_it_needs_and_lets_go() {
    // Contract 25: dropping the snapshot frees what it pinned.
    struct Counted(Arc<std::sync::atomic::AtomicUsize>);
    impl Drop for Counted {
        fn drop(&mut self) {
            self.0.fetch_add(1, Ordering::Relaxed);
        }
    }
    let dropped = Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let store = Store::<Counted>::builder().compare(|_, _| false).build();
    store.set("k", "a", Counted(Arc::clone(&dropped))).unwrap();
    let snapshot = store.snapshot("k").unwrap();
    for _ in 0..100 {
        store.set("k", "a", Counted(Arc::clone(&dropped))).unwrap();
    }
    // Keep the ring from holding them: overwrite the ring with another key.
    for _ in 0..1024 + 16 {
        store.set("k", "z", Counted(Arc::clone(&dropped))).unwrap();
    }
    assert!(
        snapshot.get("a").is_some(),
        "the first value is still readable"
    );
    let before = dropped.load(Ordering::Relaxed);
    drop(snapshot);
    let after = dropped.load(Ordering::Relaxed);
    assert!(
        after >= before + 100,
        "dropping the snapshot released the values it pinned ({before} -> {after})"
    );
}
