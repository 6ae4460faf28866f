//! P7, atomic multi-key writes: no reader ever sees part of a batch, and
//! batches and single-key writes racing on common keys leave a state that
//! some order of the whole writes explains.
#![cfg(zestor_loom)]

use loom::thread;
use loom_tests::{drain, model};
use zestor::{Store, WatchOptions};

fn pair(store: &Store<u32>) -> (u32, u32) {
    let snapshot = store.snapshot("k").unwrap();
    let a = snapshot.get("a").map_or(0, |v| *v);
    let b = snapshot.get("b").map_or(0, |v| *v);
    (a, b)
}

/// A batch of (a, b) races a single-key write of a, which must abort the
/// batch if it meets it half installed. A snapshot in between, and the end
/// state, are explained by some order of the two writes; the watcher gets
/// the batch's two events together, with one revision. Fails if readers take
/// an undecided batch version as written, or if a writer replaces one
/// without deciding its batch.
#[test]
fn a_batch_races_a_single_key_write() {
    model(|| {
        let store = Store::<u32>::new();
        store.set_many("k", [("a", 0), ("b", 0)]).unwrap();
        let mut watch = store
            .watch("k", WatchOptions::new().buffer_size(4))
            .unwrap();
        let batch = {
            let store = store.clone();
            thread::spawn(move || store.set_many("k", [("a", 1), ("b", 1)]).unwrap())
        };
        let single = {
            let store = store.clone();
            thread::spawn(move || {
                store.set("k", "a", 2).unwrap();
            })
        };
        let seen = pair(&store);
        assert!(
            matches!(seen, (0, 0) | (1, 1) | (2, 0) | (2, 1)),
            "a snapshot saw part of the batch: {seen:?}"
        );
        batch.join().unwrap();
        single.join().unwrap();
        let end = pair(&store);
        assert!(matches!(end, (1, 1) | (2, 1)), "end state {end:?}");
        let events = drain(&mut watch).events;
        // The end state is the last write of each key, in revision order.
        let last_a = events.iter().rfind(|e| &*e.key == "a").unwrap();
        assert_eq!(end.0, *last_a.value, "a is its last write");
        let batch_events: Vec<_> = events.iter().filter(|e| *e.value == 1).collect();
        assert_eq!(batch_events.len(), 2);
        assert_eq!(batch_events[0].revision, batch_events[1].revision);
        assert_eq!((&*batch_events[0].key, &*batch_events[1].key), ("a", "b"));
        // The single write's event is before or after the batch, not inside.
        let positions: Vec<usize> = events
            .iter()
            .enumerate()
            .filter(|(_, e)| *e.value == 1)
            .map(|(i, _)| i)
            .collect();
        assert_eq!(positions[1], positions[0] + 1, "contiguous");
    });
}

/// Two batches on the same two keys: every state anyone sees is all of one
/// batch or all of the other.
#[test]
fn two_overlapping_batches() {
    model(|| {
        let store = Store::<u32>::new();
        let mut watch = store
            .watch("k", WatchOptions::new().buffer_size(8))
            .unwrap();
        let batches: Vec<_> = [1, 2]
            .into_iter()
            .map(|value| {
                let store = store.clone();
                thread::spawn(move || store.set_many("k", [("a", value), ("b", value)]).unwrap())
            })
            .collect();
        let seen = pair(&store);
        assert!(matches!(seen, (0, 0) | (1, 1) | (2, 2)), "saw {seen:?}");
        for batch in batches {
            batch.join().unwrap();
        }
        let end = pair(&store);
        assert!(matches!(end, (1, 1) | (2, 2)), "end state {end:?}");
        // One revision per batch (an aborted attempt leaves only a hole).
        let events = drain(&mut watch).events;
        assert_eq!(events.len(), 4);
        assert_eq!(events[0].revision, events[1].revision);
        assert_eq!(events[2].revision, events[3].revision);
        assert!(events[1].revision < events[2].revision);
    });
}

/// A reader of a, then b, across the batch's decision: once it sees the
/// batch's a, it sees the batch's b. Fails if the versions were made
/// visible one by one (by their own status) instead of by the one decision.
#[test]
fn a_reader_of_a_then_b_across_the_decision() {
    model(|| {
        let store = Store::<u32>::new();
        store.set_many("k", [("a", 0), ("b", 0)]).unwrap();
        let batch = {
            let store = store.clone();
            thread::spawn(move || store.set_many("k", [("a", 1), ("b", 1)]).unwrap())
        };
        let a = *store.get("k", "a").unwrap().unwrap();
        let b = *store.get("k", "b").unwrap().unwrap();
        if a == 1 {
            assert_eq!(b, 1, "saw the batch's a, then the old b");
        }
        batch.join().unwrap();
    });
}
