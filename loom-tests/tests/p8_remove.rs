//! P8, removing a kind (`src/raw/gate.rs`): a removal races a write, a
//! watch, and the making of the next kind of the same name. Nothing a
//! racing call did may be lost, and revisions never go back.
#![cfg(zestor_loom)]

use loom::thread;
use loom_tests::model;
use zestor::{Error, Store, WatchOptions};

/// Writes revisions 1 and 2 to kind `k` and leaves it empty.
fn emptied_store() -> Store<u32> {
    let store = Store::<u32>::builder().ring_capacity(4).build();
    store.set("k", "a", 1).unwrap();
    store.delete("k", "a").unwrap();
    store
}

fn removed_or_refused(outcome: Result<bool, Error>) -> bool {
    match outcome {
        Ok(removed) => removed,
        Err(Error::KindBusy { .. } | Error::KindNotEmpty { .. } | Error::KindWatched { .. }) => {
            false
        }
        Err(error) => panic!("remove_kind: {error}"),
    }
}

/// A `set` through a handle races `remove_kind`. Whichever wins, the value
/// is in the store afterwards, and its revision is above the removed
/// kind's last one. A `set` that installed in the kind after the remover
/// checked it (the gate not cancelling the removal) would be stranded in
/// the removed kind: the final `get` misses it.
#[test]
fn remove_races_a_set() {
    model(|| {
        let store = emptied_store();
        let handle = store.kind("k").unwrap();
        let writer = thread::spawn(move || {
            handle.set("b", 7).unwrap();
        });
        let remover = {
            let store = store.clone();
            thread::spawn(move || removed_or_refused(store.remove_kind("k")))
        };
        writer.join().unwrap();
        let removed = remover.join().unwrap();
        assert_eq!(
            store.get("k", "b").unwrap().as_deref(),
            Some(&7),
            "the set was lost"
        );
        let revision = store.revision("k").unwrap();
        assert!(
            revision >= 3,
            "revision {revision} reused the removed kind's"
        );
        if !removed {
            assert_eq!(revision, 3);
        }
    });
}

/// A `delete` of a live key races `remove_kind`: the removal only
/// succeeds once the delete has emptied the kind, and never while the
/// key is live (a remover that checked before the delete started is
/// cancelled or saw the value).
#[test]
fn remove_races_a_delete() {
    model(|| {
        let store = emptied_store();
        store.set("k", "b", 7).unwrap();
        let deleter = {
            let store = store.clone();
            thread::spawn(move || store.delete("k", "b").unwrap())
        };
        let remover = {
            let store = store.clone();
            thread::spawn(move || removed_or_refused(store.remove_kind("k")))
        };
        let deleted = deleter.join().unwrap();
        remover.join().unwrap();
        assert_eq!(deleted.as_deref(), Some(&7), "the delete found the key");
        assert_eq!(store.get("k", "b").unwrap(), None);
    });
}

/// A watch registers while the kind is removed. Whichever wins, the watch
/// then sees a write made by name: it watches the kind that writes go to,
/// never a removed one.
#[test]
fn remove_races_a_watch() {
    model(|| {
        let store = emptied_store();
        let watcher = {
            let store = store.clone();
            thread::spawn(move || {
                store
                    .watch("k", WatchOptions::new().buffer_size(2))
                    .unwrap()
            })
        };
        let remover = {
            let store = store.clone();
            thread::spawn(move || removed_or_refused(store.remove_kind("k")))
        };
        let mut watch = watcher.join().unwrap();
        remover.join().unwrap();
        store.set("k", "b", 7).unwrap();
        let event = watch
            .try_recv()
            .unwrap()
            .expect("the watch is on a dead kind");
        assert_eq!(&*event.key, "b");
    });
}

/// The next kind of the name is made while a kind of that name is made,
/// written, emptied and removed: a `set` on a name with no kind yet makes
/// its kind before it inserts it, and may insert it only after the other
/// kind came and went. Its revision must still be above the removed
/// kind's: a kind made with the mark it read when made would start at 1.
#[test]
fn remove_races_the_making_of_the_next_kind() {
    model(|| {
        let store = Store::<u32>::builder().ring_capacity(4).build();
        let remover = {
            let store = store.clone();
            thread::spawn(move || {
                store.set("k", "a", 1).unwrap();
                store.delete("k", "a").unwrap();
                removed_or_refused(store.remove_kind("k"))
            })
        };
        let writer = {
            let store = store.clone();
            thread::spawn(move || store.set("k", "b", 7).unwrap())
        };
        let removed = remover.join().unwrap();
        writer.join().unwrap();
        assert_eq!(store.get("k", "b").unwrap().as_deref(), Some(&7));
        if removed {
            let revision = store.revision("k").unwrap();
            assert!(
                revision >= 3,
                "revision {revision} reused the removed kind's"
            );
        }
    });
}
