//! Contract 4–8: set, validators, update, set_many, delete.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use zestor::{Error, EventType, SetResult, Store, WatchOptions};

#[derive(Debug, Clone, PartialEq)]
struct User {
    name: String,
    email: String,
}

fn user(name: &str, email: &str) -> User {
    User {
        name: name.into(),
        email: email.into(),
    }
}

#[test]
fn set_reports_created_updated_unchanged() {
    // Contract 4.
    let store = Store::<i32>::new();
    assert_eq!(store.set("k", "a", 1).unwrap(), SetResult::Created);
    assert_eq!(store.set("k", "a", 2).unwrap(), SetResult::Updated);
    assert_eq!(store.set("k", "a", 2).unwrap(), SetResult::Unchanged);
    assert_eq!(*store.get("k", "a").unwrap().unwrap(), 2);
}

#[test]
fn unchanged_set_stores_nothing_and_emits_nothing() {
    // Contract 4.
    let store = Store::<i32>::new();
    store.set("k", "a", 1).unwrap();
    let before = store.get("k", "a").unwrap().unwrap();
    let revision = store.revision("k").unwrap();
    let mut watch = store.watch("k", WatchOptions::new()).unwrap();

    assert_eq!(store.set("k", "a", 1).unwrap(), SetResult::Unchanged);
    assert_eq!(store.revision("k").unwrap(), revision, "no revision taken");
    let after = store.get("k", "a").unwrap().unwrap();
    assert!(
        zestor::Value::ptr_eq(&before, &after),
        "the stored value was not replaced"
    );
    assert!(watch.try_recv().unwrap().is_none(), "no event");

    store.set("k", "a", 5).unwrap();
    let event = watch.recv().unwrap();
    assert_eq!((event.event_type, *event.value), (EventType::Update, 5));
}

#[test]
fn custom_compare_decides_what_is_a_change() {
    // Contract 4: the compare function is a store option.
    let store = Store::<User>::builder()
        .compare(|old, new| old.email == new.email)
        .build();
    let mut watch = store.watch("users", WatchOptions::new()).unwrap();
    assert_eq!(
        store.set("users", "alice", user("Alice", "a@x")).unwrap(),
        SetResult::Created
    );
    assert_eq!(
        store.set("users", "alice", user("Alicia", "a@x")).unwrap(),
        SetResult::Unchanged
    );
    assert_eq!(store.get("users", "alice").unwrap().unwrap().name, "Alice");
    assert_eq!(
        store
            .set("users", "alice", user("Alice", "alice@x"))
            .unwrap(),
        SetResult::Updated
    );
    assert_eq!(watch.recv().unwrap().event_type, EventType::Create);
    assert_eq!(watch.recv().unwrap().event_type, EventType::Update);
    assert!(watch.try_recv().unwrap().is_none());
}

fn validated_store() -> Store<User> {
    Store::<User>::builder()
        .validate("users", |u: &User| {
            if u.email.is_empty() {
                return Err("email required");
            }
            if !u.email.contains('@') {
                return Err("invalid email format");
            }
            Ok(())
        })
        .build()
}

#[test]
fn validator_rejects_before_anything_is_written() {
    // Contract 5.
    let store = validated_store();
    let mut watch = store.watch("users", WatchOptions::new()).unwrap();
    let err = store.set("users", "bob", user("Bob", "bob")).unwrap_err();
    match &err {
        Error::Validation { kind, key, source } => {
            assert_eq!(kind, "users");
            assert_eq!(key, "bob");
            assert_eq!(source.to_string(), "invalid email format");
        }
        other => panic!("expected a validation error, got {other:?}"),
    }
    let message = err.to_string();
    assert!(
        message.contains("users") && message.contains("bob") && message.contains("invalid email")
    );
    assert_eq!(
        std::error::Error::source(&err).unwrap().to_string(),
        "invalid email format"
    );
    assert!(store.get("users", "bob").unwrap().is_none());
    assert_eq!(store.count("users").unwrap(), 0);
    assert_eq!(store.revision("users").unwrap(), 0);
    assert!(watch.try_recv().unwrap().is_none());

    // Validators are per kind.
    assert_eq!(
        store.set("admins", "bob", user("Bob", "bob")).unwrap(),
        SetResult::Created
    );
    // A valid value goes through.
    assert_eq!(
        store.set("users", "bob", user("Bob", "bob@x")).unwrap(),
        SetResult::Created
    );
}

#[test]
fn validator_checks_updates_and_leaves_the_old_value() {
    // Contract 5 through update.
    let store = validated_store();
    store.set("users", "bob", user("Bob", "bob@x")).unwrap();
    let err = store
        .update("users", "bob", |u| {
            Ok::<_, Error>(User {
                email: String::new(),
                ..u.clone()
            })
        })
        .unwrap_err();
    assert!(matches!(err, Error::Validation { .. }), "{err:?}");
    assert_eq!(store.get("users", "bob").unwrap().unwrap().email, "bob@x");
}

#[test]
fn update_applies_a_closure_to_the_current_value() {
    // Contract 6.
    let store = Store::<i32>::new();
    store.set("counters", "c", 1).unwrap();
    assert!(store
        .update("counters", "c", |v| Ok::<_, Error>(v + 1))
        .unwrap());
    assert_eq!(*store.get("counters", "c").unwrap().unwrap(), 2);
    // Same value: not changed.
    assert!(!store
        .update("counters", "c", |v| Ok::<_, Error>(*v))
        .unwrap());
}

#[test]
fn update_of_missing_key_is_key_not_found() {
    // Contract 6.
    let store = Store::<i32>::new();
    store.set("counters", "other", 1).unwrap();
    let err = store
        .update("counters", "c", |v| Ok::<_, Error>(v + 1))
        .unwrap_err();
    assert!(matches!(err, Error::KeyNotFound), "{err:?}");
    assert!(
        err.to_string().contains("set"),
        "the message says what to do: {err}"
    );
    // Deleted keys are missing too.
    store.delete("counters", "other").unwrap();
    let err = store
        .update("counters", "other", |v| Ok::<_, Error>(v + 1))
        .unwrap_err();
    assert!(matches!(err, Error::KeyNotFound), "{err:?}");
    assert!(
        store.get("counters", "c").unwrap().is_none(),
        "update never creates"
    );
}

#[test]
fn update_error_stores_nothing_and_comes_back() {
    // Contract 6.
    #[derive(Debug)]
    struct TooBig(i32);
    impl std::fmt::Display for TooBig {
        fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
            write!(f, "{} is too big", self.0)
        }
    }
    impl std::error::Error for TooBig {}

    let store = Store::<i32>::new();
    store.set("counters", "c", 10).unwrap();
    let mut watch = store.watch("counters", WatchOptions::new()).unwrap();
    let err = store
        .update("counters", "c", |v| {
            if *v >= 10 {
                Err(TooBig(*v))
            } else {
                Ok(v + 1)
            }
        })
        .unwrap_err();
    let Error::Update(source) = &err else {
        panic!("expected Error::Update, got {err:?}")
    };
    assert_eq!(source.to_string(), "10 is too big");
    assert!(
        source.downcast_ref::<TooBig>().is_some(),
        "the caller's error type survives"
    );
    assert_eq!(*store.get("counters", "c").unwrap().unwrap(), 10);
    assert!(watch.try_recv().unwrap().is_none());
}

#[test]
fn update_is_atomic_under_contention() {
    // Contract 6: no write lands between the read and the write; f may rerun.
    let store = Store::<u64>::new();
    store.set("counters", "c", 0).unwrap();
    let calls = Arc::new(AtomicUsize::new(0));
    let threads = 4;
    let per_thread = if cfg!(miri) { 20 } else { 2_000 };
    std::thread::scope(|scope| {
        for _ in 0..threads {
            let store = store.clone();
            let calls = Arc::clone(&calls);
            scope.spawn(move || {
                for _ in 0..per_thread {
                    let changed = store
                        .update("counters", "c", |v| {
                            calls.fetch_add(1, Ordering::Relaxed);
                            Ok::<_, Error>(v + 1)
                        })
                        .unwrap();
                    assert!(changed);
                }
            });
        }
    });
    let total = (threads * per_thread) as u64;
    assert_eq!(*store.get("counters", "c").unwrap().unwrap(), total);
    assert!(calls.load(Ordering::Relaxed) as u64 >= total);
}

#[test]
fn set_many_validates_everything_first() {
    // Contract 7: one invalid item, none written.
    let store = validated_store();
    store.set("users", "zed", user("Zed", "zed@x")).unwrap();
    let mut watch = store.watch("users", WatchOptions::new()).unwrap();
    let err = store
        .set_many(
            "users",
            [
                ("alice", user("Alice", "alice@x")),
                ("bob", user("Bob", "no-at-sign")),
                ("carol", user("Carol", "carol@x")),
            ],
        )
        .unwrap_err();
    assert!(
        matches!(&err, Error::Validation { key, .. } if key == "bob"),
        "{err:?}"
    );
    assert_eq!(store.keys("users").unwrap(), vec![Arc::from("zed")]);
    assert!(watch.try_recv().unwrap().is_none());

    // An empty key is rejected up front as well.
    let err = store
        .set_many(
            "users",
            [("alice", user("Alice", "alice@x")), ("", user("X", "x@x"))],
        )
        .unwrap_err();
    assert!(matches!(err, Error::KeyRequired), "{err:?}");
    assert_eq!(store.count("users").unwrap(), 1);
}

#[test]
fn set_many_applies_in_key_order_and_skips_unchanged() {
    // Contract 7.
    let store = Store::<i32>::new();
    store.set("k", "b", 2).unwrap();
    store.set("k", "untouched", 9).unwrap();
    let mut watch = store.watch("k", WatchOptions::new()).unwrap();
    store
        .set_many("k", vec![("d", 4), ("b", 2), ("a", 1), ("c", 30)])
        .unwrap();
    let mut seen = Vec::new();
    while let Some(event) = watch.try_recv().unwrap() {
        seen.push((event.key.to_string(), event.event_type, *event.value));
    }
    assert_eq!(
        seen,
        [
            ("a".to_string(), EventType::Create, 1),
            ("c".to_string(), EventType::Create, 30),
            ("d".to_string(), EventType::Create, 4),
        ],
        "key order, the unchanged b skipped"
    );
    assert_eq!(*store.get("k", "untouched").unwrap().unwrap(), 9);
    assert_eq!(store.count("k").unwrap(), 5);
}

#[test]
fn set_many_accepts_owned_keys() {
    let store = Store::<usize>::new();
    let items: Vec<(String, usize)> = (0..10).map(|i| (format!("key-{i:02}"), i)).collect();
    store.set_many("k", items).unwrap();
    assert_eq!(store.count("k").unwrap(), 10);
}

#[test]
fn delete_returns_the_previous_value() {
    // Contract 8.
    let store = Store::<String>::new();
    store.set("k", "a", "one".into()).unwrap();
    let previous = store.delete("k", "a").unwrap().expect("a held a value");
    assert_eq!(*previous, "one");
    assert_eq!(previous.key(), "a");
    assert!(
        store.delete("k", "a").unwrap().is_none(),
        "missing key: None, not an error"
    );
    assert!(store.delete("k", "never").unwrap().is_none());
    assert!(store.get("k", "a").unwrap().is_none());
    assert_eq!(store.count("k").unwrap(), 0);
}

#[test]
fn deleted_key_can_be_created_again() {
    let store = Store::<i32>::new();
    let mut watch = store.watch("k", WatchOptions::new()).unwrap();
    for round in 0..50 {
        assert_eq!(store.set("k", "a", round).unwrap(), SetResult::Created);
        assert_eq!(*store.delete("k", "a").unwrap().unwrap(), round);
    }
    assert_eq!(store.count("k").unwrap(), 0);
    let mut types = Vec::new();
    while let Some(event) = watch.recv_timeout(Duration::from_millis(10)).unwrap() {
        types.push(event.event_type);
    }
    assert_eq!(types.len(), 100);
    assert!(types
        .chunks(2)
        .all(|pair| pair == [EventType::Create, EventType::Delete]));
}
