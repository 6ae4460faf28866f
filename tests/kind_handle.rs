//! The `Kind` handle: the store's operations without the kind argument.

use zestor::{Error, EventType, SetResult, Store, WatchOptions};

#[test]
fn a_kind_handle_sees_what_the_store_sees() {
    let store = Store::<i32>::new();
    let users = store.kind("users").unwrap();
    assert_eq!(users.name(), "users");
    let mut watch = users.watch(WatchOptions::new()).unwrap();

    assert_eq!(users.set("bob", 2).unwrap(), SetResult::Created);
    store.set("users", "alice", 1).unwrap();
    users.set_many([("carol", 3), ("dave", 4)]).unwrap();
    assert!(users.update("bob", |v| Ok::<_, Error>(v * 10)).unwrap());
    assert_eq!(*users.delete("dave").unwrap().unwrap(), 4);

    assert_eq!(*users.get("alice").unwrap().unwrap(), 1);
    assert_eq!(users.read("bob", |v| *v).unwrap(), Some(20));
    assert!(users.contains("carol").unwrap());
    assert!(!users.contains("dave").unwrap());
    assert_eq!(users.count().unwrap(), 3);
    assert_eq!(users.count().unwrap(), store.count("users").unwrap());
    let keys: Vec<String> = users
        .keys()
        .unwrap()
        .iter()
        .map(|k| k.to_string())
        .collect();
    assert_eq!(keys, ["alice", "bob", "carol"]);
    assert_eq!(
        users
            .values()
            .unwrap()
            .iter()
            .map(|v| **v)
            .collect::<Vec<_>>(),
        [1, 20, 3]
    );
    assert_eq!(users.list().unwrap().len(), 3);
    assert_eq!(users.list_filtered(|_, v| *v > 2).unwrap().len(), 2);
    assert_eq!(users.range("b"..).unwrap().len(), 2);
    assert_eq!(users.prefix("c").unwrap().len(), 1);
    assert_eq!(users.revision().unwrap(), store.revision("users").unwrap());

    let mut types = Vec::new();
    while let Some(event) = watch.try_recv().unwrap() {
        types.push(event.event_type);
    }
    assert_eq!(
        types,
        [
            EventType::Create,
            EventType::Create,
            EventType::Create,
            EventType::Create,
            EventType::Update,
            EventType::Delete
        ]
    );
}

#[test]
fn a_kind_handle_creates_the_kind_but_no_entry() {
    let store = Store::<i32>::new();
    let handle = store.kind("empty").unwrap();
    assert!(store.kinds().unwrap().is_empty());
    assert_eq!(handle.count().unwrap(), 0);
    let clone = handle.clone();
    clone.set("a", 1).unwrap();
    assert_eq!(*handle.get("a").unwrap().unwrap(), 1);
    assert_eq!(format!("{handle:?}"), "Kind { name: \"empty\", .. }");
}

#[test]
fn a_kind_handle_checks_keys() {
    let store = Store::<i32>::new();
    let handle = store.kind("k").unwrap();
    assert!(matches!(handle.set("", 1), Err(Error::KeyRequired)));
    assert!(matches!(handle.get(""), Err(Error::KeyRequired)));
}
