//! Contract 1–3: kinds, keys, and never-written kinds.

use zestor::{Error, KeyHashing, Store, WatchOptions};

#[test]
fn same_key_in_two_kinds_is_two_entries() {
    // Contract 1.
    let store = Store::<String>::new();
    store.set("users", "alice", "Alice".into()).unwrap();
    store.set("admins", "alice", "Alice Admin".into()).unwrap();
    assert_eq!(*store.get("users", "alice").unwrap().unwrap(), "Alice");
    assert_eq!(
        *store.get("admins", "alice").unwrap().unwrap(),
        "Alice Admin"
    );

    assert_eq!(
        *store.delete("admins", "alice").unwrap().unwrap(),
        "Alice Admin"
    );
    assert!(store.get("admins", "alice").unwrap().is_none());
    assert_eq!(*store.get("users", "alice").unwrap().unwrap(), "Alice");
    assert_eq!(store.count("users").unwrap(), 1);
    assert_eq!(store.count("admins").unwrap(), 0);
}

#[test]
fn both_key_hashings_keep_keys_unique() {
    // Contract 1, under either point-index hasher.
    for hashing in [KeyHashing::Fast, KeyHashing::DosResistant] {
        let store = Store::<u32>::builder().key_hashing(hashing).build();
        for round in 0..3u32 {
            for i in 0..200u32 {
                store
                    .set("k", &format!("key-{i}"), round * 1000 + i)
                    .unwrap();
            }
        }
        assert_eq!(store.count("k").unwrap(), 200, "{hashing:?}");
        for i in (0..200u32).step_by(2) {
            store.delete("k", &format!("key-{i}")).unwrap();
        }
        let keys = store.keys("k").unwrap();
        assert_eq!(keys.len(), 100, "{hashing:?}");
        for i in (1..200u32).step_by(2) {
            let key = format!("key-{i}");
            assert_eq!(
                *store.get("k", &key).unwrap().unwrap(),
                2000 + i,
                "{hashing:?}"
            );
        }
    }
}

#[test]
fn keys_are_unique_within_a_kind() {
    // Contract 1.
    let store = Store::<i32>::new();
    store.set("k", "a", 1).unwrap();
    store.set("k", "a", 2).unwrap();
    assert_eq!(store.count("k").unwrap(), 1);
    assert_eq!(store.list("k").unwrap().len(), 1);
    assert_eq!(*store.get("k", "a").unwrap().unwrap(), 2);
}

fn assert_kind_required<T: std::fmt::Debug>(result: zestor::Result<T>, call: &str) {
    match result {
        Err(Error::KindRequired) => {}
        other => panic!("{call} with an empty kind returned {other:?}, expected KindRequired"),
    }
}

#[test]
fn empty_kind_is_rejected_by_every_call() {
    // Contract 2.
    let store = Store::<i32>::new();
    assert_kind_required(store.set("", "k", 1), "set");
    assert_kind_required(store.set_many("", [("k", 1)]), "set_many");
    assert_kind_required(store.update("", "k", |v| Ok::<_, Error>(*v)), "update");
    assert_kind_required(store.delete("", "k"), "delete");
    assert_kind_required(store.get("", "k"), "get");
    assert_kind_required(store.read("", "k", |v| *v), "read");
    assert_kind_required(store.contains("", "k"), "contains");
    assert_kind_required(store.list(""), "list");
    assert_kind_required(store.list_filtered("", |_, _| true), "list_filtered");
    assert_kind_required(store.range("", "a".."z"), "range");
    assert_kind_required(store.prefix("", "a"), "prefix");
    assert_kind_required(store.keys(""), "keys");
    assert_kind_required(store.values(""), "values");
    assert_kind_required(store.count(""), "count");
    assert_kind_required(store.revision(""), "revision");
    assert_kind_required(store.kind(""), "kind");
    assert_kind_required(store.watch("", WatchOptions::new()), "watch");
    // Nothing was created by the rejected calls.
    assert!(store.kinds().unwrap().is_empty());
}

#[test]
fn never_written_kind_reads_as_empty() {
    // Contract 3.
    let store = Store::<i32>::new();
    assert!(store.get("ghost", "k").unwrap().is_none());
    assert!(store.read("ghost", "k", |v| *v).unwrap().is_none());
    assert!(!store.contains("ghost", "k").unwrap());
    assert!(store.list("ghost").unwrap().is_empty());
    assert!(store
        .list_filtered("ghost", |_, _| true)
        .unwrap()
        .is_empty());
    assert!(store.range("ghost", ..).unwrap().is_empty());
    assert!(store.prefix("ghost", "").unwrap().is_empty());
    assert!(store.keys("ghost").unwrap().is_empty());
    assert!(store.values("ghost").unwrap().is_empty());
    assert_eq!(store.count("ghost").unwrap(), 0);
    assert_eq!(store.revision("ghost").unwrap(), 0);
    assert!(store.delete("ghost", "k").unwrap().is_none());
    assert!(matches!(
        store.update("ghost", "k", |v| Ok::<_, Error>(*v)),
        Err(Error::KeyNotFound)
    ));
    // Reads create nothing.
    assert!(store.kinds().unwrap().is_empty());
    assert!(store.get_all().unwrap().is_empty());
}

#[test]
fn kinds_lists_kinds_holding_entries_in_order() {
    let store = Store::<i32>::new();
    store.set("products", "laptop", 999).unwrap();
    store.set("users", "alice", 1).unwrap();
    store.set("config", "timeout", 30).unwrap();
    let kinds: Vec<String> = store
        .kinds()
        .unwrap()
        .iter()
        .map(|k| k.to_string())
        .collect();
    assert_eq!(kinds, ["config", "products", "users"]);

    // A kind emptied by deletes, or only watched, holds no entry.
    store.delete("config", "timeout").unwrap();
    let _watch = store.watch("watched-only", WatchOptions::new()).unwrap();
    let kinds: Vec<String> = store
        .kinds()
        .unwrap()
        .iter()
        .map(|k| k.to_string())
        .collect();
    assert_eq!(kinds, ["products", "users"]);
}
