//! I4 tombstones are terminal, I6 one live cell per key: `set` racing
//! `delete` + unlink + re-create never loses a write, and both indexes agree.
#![cfg(zestor_loom)]

use loom::thread;
use loom_tests::model;
use zestor::{SetResult, Store};

/// Checks the two indexes agree: the ordered scan and the point lookup see
/// the same live entry (or none), and the count matches.
fn assert_one_cell(store: &Store<u32>, expected: Option<u32>) {
    let point = store.get("k", "a").unwrap().map(|v| *v);
    let ordered: Vec<u32> = store.list("k").unwrap().iter().map(|(_, v)| **v).collect();
    assert_eq!(point, expected, "point index");
    assert_eq!(
        ordered,
        expected.into_iter().collect::<Vec<_>>(),
        "ordered index"
    );
    assert_eq!(
        store.count("k").unwrap(),
        usize::from(expected.is_some()),
        "count"
    );
}

/// `delete` then re-create in one thread races a `set` in another. The
/// results tell which linearization happened; the final state must match it.
#[test]
fn set_races_delete_and_recreate() {
    model(|| {
        let store = Store::<u32>::builder().ring_capacity(4).build();
        store.set("k", "a", 1).unwrap();
        let setter = {
            let store = store.clone();
            thread::spawn(move || store.set("k", "a", 2).unwrap())
        };
        let deleted = store.delete("k", "a").unwrap().map(|v| *v);
        let recreated = store.set("k", "a", 3).unwrap();
        let set = setter.join().unwrap();

        match (deleted, set) {
            // set landed before the delete (it replaced 1) ...
            (Some(2), SetResult::Updated) => {
                assert_eq!(recreated, SetResult::Created);
                assert_one_cell(&store, Some(3));
            }
            // ... or between the delete and the re-create ...
            (Some(1), SetResult::Created) => {
                assert_eq!(recreated, SetResult::Updated);
                assert_one_cell(&store, Some(3));
            }
            // ... or after the re-create.
            (Some(1), SetResult::Updated) => {
                assert_eq!(recreated, SetResult::Created);
                assert_one_cell(&store, Some(2));
            }
            other => panic!("no linearization explains {other:?} / {recreated:?}"),
        }
    });
}

/// Two threads delete and re-create the same key: exactly one live cell
/// remains, whichever way they interleave.
#[test]
fn two_recreators() {
    model(|| {
        let store = Store::<u32>::builder().ring_capacity(4).build();
        store.set("k", "a", 0).unwrap();
        let other = {
            let store = store.clone();
            thread::spawn(move || {
                store.delete("k", "a").unwrap();
                store.set("k", "a", 1).unwrap()
            })
        };
        store.delete("k", "a").unwrap();
        let mine = store.set("k", "a", 2).unwrap();
        let theirs = other.join().unwrap();
        let last = *store.get("k", "a").unwrap().unwrap();
        assert!(last == 1 || last == 2);
        // At least one of the two sets created the key afresh.
        assert!(mine == SetResult::Created || theirs == SetResult::Created);
        assert_one_cell(&store, Some(last));
    });
}

/// A delete races two creators: one creator can be handed the dead cell by
/// the ordered index while the other installs a fresh one. The stale cell
/// must never displace the live one from the hash index — not even for a
/// moment: a creator that reads its key right after its `set` must see it
/// unless a delete came after that `set`.
#[test]
fn delete_races_two_creators() {
    model(|| {
        let store = Store::<u32>::builder().ring_capacity(4).build();
        store.set("k", "a", 0).unwrap();
        let deleter = {
            let store = store.clone();
            thread::spawn(move || store.delete("k", "a").unwrap().map(|v| *v))
        };
        let creator = {
            let store = store.clone();
            thread::spawn(move || {
                store.set("k", "a", 1).unwrap();
                store.get("k", "a").unwrap().is_some()
            })
        };
        store.set("k", "a", 2).unwrap();
        let deleted = deleter.join().unwrap();
        let creator_saw_its_key = creator.join().unwrap();
        if deleted == Some(0) {
            // The delete removed the initial value: it came before both sets,
            // so nothing can hide the key after the creator's set.
            assert!(
                creator_saw_its_key,
                "a live key vanished from the hash index"
            );
        }
        let point = store.get("k", "a").unwrap().map(|v| *v);
        let ordered: Vec<u32> = store.list("k").unwrap().iter().map(|(_, v)| **v).collect();
        assert_eq!(
            point.into_iter().collect::<Vec<_>>(),
            ordered,
            "both indexes agree"
        );
        assert_eq!(store.count("k").unwrap(), ordered.len());
    });
}
