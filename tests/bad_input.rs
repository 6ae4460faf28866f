//! Contract 20: no input corrupts the store, loses a write, or hangs a watcher.

use std::panic::{catch_unwind, AssertUnwindSafe};
use std::time::Duration;

use zestor::{Error, EventType, SetResult, Store, WatchOptions};

/// Keeps the panics these tests provoke on purpose out of the output; any
/// other panic still reports as usual.
fn quiet_expected_panics() {
    static ONCE: std::sync::Once = std::sync::Once::new();
    ONCE.call_once(|| {
        let default = std::panic::take_hook();
        std::panic::set_hook(Box::new(move |info| {
            let message = info
                .payload()
                .downcast_ref::<&str>()
                .copied()
                .or_else(|| info.payload().downcast_ref::<String>().map(String::as_str))
                .unwrap_or("");
            if !message.starts_with("expected panic:") {
                default(info);
            }
        }));
    });
}

#[test]
fn empty_keys_are_rejected_by_every_keyed_call() {
    let store = Store::<i32>::new();
    store.set("k", "a", 1).unwrap();
    assert!(matches!(store.set("k", "", 1), Err(Error::KeyRequired)));
    assert!(matches!(
        store.update("k", "", |v| Ok::<_, Error>(*v)),
        Err(Error::KeyRequired)
    ));
    assert!(matches!(store.delete("k", ""), Err(Error::KeyRequired)));
    assert!(matches!(store.get("k", ""), Err(Error::KeyRequired)));
    assert!(matches!(
        store.read("k", "", |v| *v),
        Err(Error::KeyRequired)
    ));
    assert!(matches!(store.contains("k", ""), Err(Error::KeyRequired)));
    // Even on a kind that does not exist.
    assert!(matches!(store.get("ghost", ""), Err(Error::KeyRequired)));
    assert_eq!(store.count("k").unwrap(), 1);
    let message = Error::KeyRequired.to_string();
    assert!(message.contains("non-empty key"), "{message}");
}

#[test]
fn huge_and_strange_keys_round_trip() {
    let store = Store::<usize>::new();
    // 1 MiB natively; 64 KiB under Miri, where hashing a megabyte takes seconds.
    let huge = "k".repeat(if cfg!(miri) { 1 << 16 } else { 1 << 20 });
    let strange = [
        "\0",
        "nul\0inside",
        "🦀",
        "שלום",
        "\u{202e}reversed",
        "a\u{0301}",
        "\u{FEFF}bom",
        " ",
        "\n",
        &huge,
    ];
    let mut watch = store.watch("k", WatchOptions::new()).unwrap();
    for (i, key) in strange.iter().enumerate() {
        assert_eq!(store.set("k", key, i).unwrap(), SetResult::Created);
    }
    for (i, key) in strange.iter().enumerate() {
        assert_eq!(*store.get("k", key).unwrap().unwrap(), i);
    }
    let mut sorted: Vec<&str> = strange.to_vec();
    sorted.sort();
    let keys = store.keys("k").unwrap();
    assert_eq!(keys.iter().map(|k| &**k).collect::<Vec<_>>(), sorted);
    let mut events = 0;
    while let Some(event) = watch.try_recv().unwrap() {
        assert_eq!(&*event.key, strange[*event.value]);
        events += 1;
    }
    assert_eq!(events, strange.len());
    assert_eq!(store.prefix("k", "nul").unwrap().len(), 1);
    // Strange kind names too.
    store.set("\0", "k", 1).unwrap();
    store.set(&huge, "k", 2).unwrap();
    assert_eq!(*store.get(&huge, "k").unwrap().unwrap(), 2);
}

/// Checks the kind still works end to end after a panic: a write lands, the
/// watcher opened before the panic receives it (it is not wedged), reads agree.
fn assert_kind_still_works(store: &Store<i32>, watch: &mut zestor::Watch<i32>, value: i32) {
    store.set("k", "after", value).unwrap();
    let event = watch
        .recv_timeout(Duration::from_secs(5))
        .unwrap()
        .expect("the watcher is not wedged");
    assert_eq!((&*event.key, *event.value), ("after", value));
    assert_eq!(*store.get("k", "after").unwrap().unwrap(), value);
}

#[test]
fn a_panicking_validator_writes_nothing_and_wedges_nothing() {
    quiet_expected_panics();
    let store = Store::<i32>::builder()
        .validate("k", |v: &i32| {
            if *v == 13 {
                panic!("expected panic: unlucky");
            }
            Ok::<_, Error>(())
        })
        .build();
    store.set("k", "a", 1).unwrap();
    let mut watch = store.watch("k", WatchOptions::new()).unwrap();
    let revision = store.revision("k").unwrap();
    let attempts: [Box<dyn Fn()>; 4] = [
        Box::new(|| drop(store.set("k", "a", 13))),
        Box::new(|| drop(store.set("k", "new", 13))),
        Box::new(|| drop(store.set_many("k", [("b", 2), ("c", 13)]))),
        Box::new(|| drop(store.update("k", "a", |_| Ok::<_, Error>(13)))),
    ];
    for attempt in attempts {
        assert!(catch_unwind(AssertUnwindSafe(attempt)).is_err());
    }
    assert_eq!(store.revision("k").unwrap(), revision, "no revision taken");
    assert_eq!(*store.get("k", "a").unwrap().unwrap(), 1);
    assert!(store.get("k", "new").unwrap().is_none());
    assert!(
        store.get("k", "b").unwrap().is_none(),
        "set_many validates before writing"
    );
    assert_eq!(store.count("k").unwrap(), 1);
    assert!(watch.try_recv().unwrap().is_none());
    assert_kind_still_works(&store, &mut watch, 5);
}

#[test]
fn a_panicking_compare_function_wedges_nothing() {
    quiet_expected_panics();
    let store = Store::<i32>::builder()
        .compare(|old, new| {
            if *new == 13 {
                panic!("expected panic: compare exploded");
            }
            old == new
        })
        .build();
    store.set("k", "a", 1).unwrap();
    let mut watch = store.watch("k", WatchOptions::new()).unwrap();
    assert!(catch_unwind(AssertUnwindSafe(|| store.set("k", "a", 13))).is_err());
    assert!(catch_unwind(AssertUnwindSafe(
        || store.update("k", "a", |_| Ok::<_, Error>(13))
    ))
    .is_err());
    assert_eq!(*store.get("k", "a").unwrap().unwrap(), 1);
    assert!(watch.try_recv().unwrap().is_none());
    assert_kind_still_works(&store, &mut watch, 6);
    // The key the panic hit is still writable.
    assert_eq!(store.set("k", "a", 2).unwrap(), SetResult::Updated);
    let event = watch.recv().unwrap();
    assert_eq!((event.event_type, *event.value), (EventType::Update, 2));
}

#[test]
fn a_compare_panicking_midway_through_a_set_many_takes_all_of_it_back() {
    quiet_expected_panics();
    let store = Store::<i32>::builder()
        .compare(|old, new| {
            if *new == 13 {
                panic!("expected panic: compare exploded");
            }
            old == new
        })
        .build();
    store.set_many("k", [("a", 1), ("b", 2), ("c", 3)]).unwrap();
    let revision = store.revision("k").unwrap();
    let mut watch = store.watch("k", WatchOptions::new()).unwrap();
    let snapshot = store.snapshot("k").unwrap();
    // a is installed before the compare of c panics.
    let result = catch_unwind(AssertUnwindSafe(|| {
        store.set_many("k", [("a", 10), ("c", 13)])
    }));
    assert!(result.is_err());
    assert_eq!(store.revision("k").unwrap(), revision, "no revision taken");
    assert_eq!(*store.get("k", "a").unwrap().unwrap(), 1, "a taken back");
    assert_eq!(snapshot.get("a").as_deref(), Some(&1));
    assert_eq!(store.list("k").unwrap().len(), 3);
    assert!(watch.try_recv().unwrap().is_none());
    assert_kind_still_works(&store, &mut watch, 8);
    store.set_many("k", [("a", 11), ("c", 12)]).unwrap();
    assert_eq!(*store.get("k", "a").unwrap().unwrap(), 11);
}

#[test]
fn a_panicking_transaction_closure_writes_nothing() {
    quiet_expected_panics();
    let store = Store::<i32>::new();
    store.set("k", "a", 1).unwrap();
    let mut watch = store.watch("k", WatchOptions::new()).unwrap();
    let result = catch_unwind(AssertUnwindSafe(|| {
        store.transaction("k", |tx| -> Result<(), Error> {
            tx.set("a", 2);
            panic!("expected panic: transaction exploded")
        })
    }));
    assert!(result.is_err());
    assert_eq!(*store.get("k", "a").unwrap().unwrap(), 1);
    assert!(watch.try_recv().unwrap().is_none());
    assert_kind_still_works(&store, &mut watch, 9);
}

#[test]
fn a_panicking_update_closure_wedges_nothing() {
    quiet_expected_panics();
    let store = Store::<i32>::new();
    store.set("k", "a", 1).unwrap();
    let mut watch = store.watch("k", WatchOptions::new()).unwrap();
    let result = catch_unwind(AssertUnwindSafe(|| {
        store.update("k", "a", |_| -> Result<i32, Error> {
            panic!("expected panic: closure exploded")
        })
    }));
    assert!(result.is_err());
    assert_eq!(*store.get("k", "a").unwrap().unwrap(), 1);
    assert_kind_still_works(&store, &mut watch, 7);
    assert!(store.update("k", "a", |v| Ok::<_, Error>(v + 1)).unwrap());
    assert_eq!(*store.get("k", "a").unwrap().unwrap(), 2);
}

#[test]
fn a_closure_panicking_under_contention_loses_no_other_write() {
    // Writers race on one key while another thread's update closures panic.
    // The ring holds every write, so the watcher cannot legitimately overflow.
    quiet_expected_panics();
    let store = Store::<u64>::builder().ring_capacity(4096).build();
    store.set("k", "hot", 0).unwrap();
    let mut watch = store
        .watch("k", WatchOptions::new().buffer_size(4096))
        .unwrap();
    let writes = if cfg!(miri) { 20 } else { 2_000 };
    std::thread::scope(|scope| {
        scope.spawn(|| {
            for _ in 0..writes {
                store.update("k", "hot", |v| Ok::<_, Error>(v + 1)).unwrap();
            }
        });
        scope.spawn(|| {
            for _ in 0..writes / 10 {
                let _ = catch_unwind(AssertUnwindSafe(|| {
                    store.update("k", "hot", |_| -> Result<u64, Error> {
                        panic!("expected panic: boom")
                    })
                }));
            }
        });
        scope.spawn(|| {
            let mut last = 0;
            while last < writes {
                if let Some(event) = watch.recv_timeout(Duration::from_secs(5)).unwrap() {
                    assert_eq!(*event.value, last + 1, "every increment, in order");
                    last = *event.value;
                } else {
                    panic!("watcher wedged at {last}");
                }
            }
        });
    });
    assert_eq!(*store.get("k", "hot").unwrap().unwrap(), writes);
}

#[test]
fn inverted_ranges_are_empty_not_a_panic() {
    let store = Store::<i32>::new();
    store.set("k", "m", 1).unwrap();
    #[allow(clippy::reversed_empty_ranges)]
    let inverted = store.range("k", "z".."a").unwrap();
    assert!(inverted.is_empty());
    assert!(store.range("k", "m".."m").unwrap().is_empty());
    assert_eq!(store.range("k", "m"..="m").unwrap().len(), 1);
    use std::ops::Bound::Excluded;
    assert!(store
        .range("k", (Excluded("m"), Excluded("m")))
        .unwrap()
        .is_empty());
}

#[test]
#[cfg_attr(miri, ignore = "allocates a ring of 2^20 slots: minutes under Miri")]
fn ring_capacity_is_rounded_and_clamped() {
    for (asked, buffer_ok, buffer_too_big) in [(0, 1, 2), (1, 1, 2), (5, 8, 9), (1000, 1024, 1025)]
    {
        let store = Store::<i32>::builder().ring_capacity(asked).build();
        assert!(
            store
                .watch("k", WatchOptions::new().buffer_size(buffer_ok))
                .is_ok(),
            "{asked}"
        );
        assert!(
            store
                .watch("k", WatchOptions::new().buffer_size(buffer_too_big))
                .is_err(),
            "{asked}"
        );
    }
    let store = Store::<i32>::builder().ring_capacity(usize::MAX).build();
    let max = zestor::StoreBuilder::<i32>::MAX_RING_CAPACITY;
    assert!(store
        .watch("k", WatchOptions::new().buffer_size(max))
        .is_ok());
    assert!(store
        .watch("k", WatchOptions::new().buffer_size(max + 1))
        .is_err());
}

#[test]
fn errors_are_send_sync_static_and_say_what_to_do() {
    fn assert_error<E: std::error::Error + Send + Sync + 'static>(_: &E) {}
    let all = [
        Error::Closed,
        Error::KindRequired,
        Error::KeyRequired,
        Error::KeyNotFound,
        Error::Validation {
            kind: "users".into(),
            key: "bob".into(),
            source: "email required".into(),
        },
        Error::Update("nope".into()),
        Error::InvalidArgument("buffer_size must be between 1 and 1024, got 0".into()),
    ];
    for error in &all {
        assert_error(error);
        assert!(!error.to_string().is_empty());
    }
    assert_error(&zestor::WatchError::Overflow);
    assert!(zestor::WatchError::Overflow.to_string().contains("re-list"));
}

#[test]
fn rejected_calls_create_no_kind() {
    // A kind costs a ring of `ring_capacity` slots for the store's lifetime,
    // so a call that fails its argument checks must not create one.
    let store = Store::<i32>::builder()
        .validate(
            "checked",
            |v: &i32| if *v < 0 { Err("negative") } else { Ok(()) },
        )
        .build();
    assert!(store.set("empty-key", "", 1).is_err());
    assert!(store.set("checked", "a", -1).is_err());
    assert!(store.set_many("checked", [("a", 1), ("b", -1)]).is_err());
    assert!(store.set_many("empty-key-many", [("", 1)]).is_err());
    assert!(store
        .watch("bad-buffer", WatchOptions::new().buffer_size(0))
        .is_err());
    assert!(store.delete("never", "a").unwrap().is_none());
    assert!(store.update("never", "a", |v| Ok::<_, Error>(*v)).is_err());
    assert!(format!("{store:?}").contains("kinds: 0"), "{store:?}");
    // The checks are the same once the kind exists.
    store.set("checked", "a", 1).unwrap();
    assert!(store.set("checked", "b", -1).is_err());
    assert!(format!("{store:?}").contains("kinds: 1"), "{store:?}");
}

#[test]
fn a_closed_watch_says_so_before_it_is_polled() {
    let store = Store::<i32>::new();
    store.set("k", "a", 1).unwrap();
    let watch = store.watch("k", WatchOptions::new().replay(true)).unwrap();
    assert_eq!(watch.replay_remaining(), 1);
    assert!(!watch.is_ended());
    store.close();
    assert!(watch.is_ended());
    assert_eq!(watch.replay_remaining(), 0);
}
