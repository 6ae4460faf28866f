//! Contract 7, 26–27: atomic `set_many` and transactions.

use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::Arc;

use zestor::{Error, EventType, SetResult, Store, Value, WatchOptions};

#[test]
fn set_many_is_one_revision_skipping_unchanged_keys() {
    // Contract 7.
    let store = Store::<u32>::new();
    store.set("k", "b", 2).unwrap();
    let before = store.revision("k").unwrap();
    let mut watch = store.watch("k", WatchOptions::new()).unwrap();
    store
        .set_many("k", [("c", 3), ("a", 1), ("b", 2), ("a", 10)])
        .unwrap();
    assert_eq!(store.revision("k").unwrap(), before + 1, "one revision");
    let events: Vec<_> = std::iter::from_fn(|| watch.try_recv().unwrap()).collect();
    let seen: Vec<(&str, u32, u64)> = events
        .iter()
        .map(|event| (&*event.key, *event.value, event.revision))
        .collect();
    // b is unchanged and skipped; of the two a's the later wins.
    assert_eq!(seen, [("a", 10, before + 1), ("c", 3, before + 1)]);
    // Nothing to do: no revision.
    store.set_many("k", [("a", 10), ("b", 2)]).unwrap();
    assert_eq!(store.revision("k").unwrap(), before + 1);
    store.set_many("k", Vec::<(&str, u32)>::new()).unwrap();
    assert_eq!(store.revision("k").unwrap(), before + 1);
}

#[test]
fn set_many_rejects_everything_for_one_bad_item() {
    // Contract 7.
    let store = Store::<u32>::builder()
        .validate(
            "k",
            |v: &u32| if *v < 100 { Ok(()) } else { Err("too big") },
        )
        .build();
    let error = store.set_many("k", [("a", 1), ("b", 500)]).unwrap_err();
    assert!(matches!(error, Error::Validation { .. }), "{error}");
    assert!(store.list("k").unwrap().is_empty());
    assert!(matches!(
        store.set_many("k", [("a", 1), ("", 2)]),
        Err(Error::KeyRequired)
    ));
    assert_eq!(store.revision("k").unwrap(), 0);
}

#[test]
fn a_transaction_commits_its_reads_and_writes_as_one_revision() {
    // Contract 26.
    let store = Store::<i64>::new();
    store
        .set_many("accounts", [("alice", 100), ("bob", 5)])
        .unwrap();
    let before = store.revision("accounts").unwrap();
    let mut watch = store.watch("accounts", WatchOptions::new()).unwrap();
    let moved = store
        .transaction("accounts", |tx| {
            let alice = tx.get("alice").map_or(0, |v| *v);
            let bob = tx.get("bob").map_or(0, |v| *v);
            tx.set("alice", alice - 30);
            tx.set("bob", bob + 30);
            // Read-your-writes, with revision 0 until commit.
            let mine = tx.get("bob").unwrap();
            assert_eq!((*mine, mine.revision()), (35, 0));
            assert_eq!(mine.key(), "bob");
            // Two reads of one own write are the same write.
            assert!(Value::ptr_eq(&mine, &tx.get("bob").unwrap()));
            // A delete after a set wins, and reads as absent.
            tx.set("carol", 1);
            tx.delete("carol");
            assert!(!tx.contains("carol"));
            Ok::<_, Error>(30)
        })
        .unwrap();
    assert_eq!(moved, 30);
    assert_eq!(store.revision("accounts").unwrap(), before + 1);
    let events: Vec<_> = std::iter::from_fn(|| watch.try_recv().unwrap()).collect();
    assert_eq!(events.len(), 2, "carol did not exist: nothing to delete");
    assert!(events.iter().all(|e| e.revision == before + 1));
    assert_eq!(*store.get("accounts", "alice").unwrap().unwrap(), 70);
    assert_eq!(*store.get("accounts", "bob").unwrap().unwrap(), 35);
}

#[test]
fn a_failing_closure_writes_nothing_and_says_why() {
    // Contract 26.
    let store = Store::<u32>::new();
    store.set("k", "a", 1).unwrap();
    let error = store
        .transaction("k", |tx| {
            tx.set("a", 2);
            tx.set("b", 3);
            Err::<(), _>("not today")
        })
        .unwrap_err();
    assert!(matches!(error, Error::Transaction(_)), "{error}");
    assert_eq!(
        std::error::Error::source(&error).unwrap().to_string(),
        "not today"
    );
    assert_eq!(*store.get("k", "a").unwrap().unwrap(), 1);
    assert!(store.get("k", "b").unwrap().is_none());
}

#[test]
fn a_transaction_is_validated_and_checks_its_keys() {
    let store = Store::<u32>::builder()
        .validate("k", |v: &u32| if *v < 10 { Ok(()) } else { Err("too big") })
        .build();
    let error = store
        .transaction("k", |tx| {
            tx.set("a", 1);
            tx.set("b", 11);
            Ok::<_, Error>(())
        })
        .unwrap_err();
    assert!(
        matches!(error, Error::Validation { ref key, .. } if key == "b"),
        "{error}"
    );
    let error = store
        .transaction("k", |tx| {
            tx.set("", 1);
            Ok::<_, Error>(())
        })
        .unwrap_err();
    assert!(matches!(error, Error::KeyRequired), "{error}");
    assert!(store.list("k").unwrap().is_empty());
    assert_eq!(store.revision("k").unwrap(), 0);
}

#[test]
fn a_read_only_or_unchanging_transaction_takes_no_revision() {
    let store = Store::<u32>::new();
    store.set("k", "a", 1).unwrap();
    let value = store
        .transaction("k", |tx| Ok::<_, Error>(tx.get("a").map(|v| *v)))
        .unwrap();
    assert_eq!(value, Some(1));
    store
        .transaction("k", |tx| {
            tx.set("a", 1);
            Ok::<_, Error>(())
        })
        .unwrap();
    assert_eq!(store.revision("k").unwrap(), 1);
    // A transaction on a kind never written creates nothing unless it writes.
    store
        .transaction("fresh", |tx| Ok::<_, Error>(tx.get("x").is_none()))
        .unwrap();
    assert_eq!(store.kinds().unwrap().len(), 1);
    store
        .transaction("fresh", |tx| {
            tx.set("x", 1);
            Ok::<_, Error>(())
        })
        .unwrap();
    assert_eq!(*store.get("fresh", "x").unwrap().unwrap(), 1);
}

#[test]
fn concurrent_transfers_are_serializable() {
    // Contract 27: the total never changes, in any committed state, and the
    // closure runs again when its reads went stale.
    const ACCOUNTS: usize = 6;
    const THREADS: usize = 6;
    const TRANSFERS: usize = if cfg!(miri) { 10 } else { 400 };
    let store = Store::<i64>::new();
    let names: Vec<String> = (0..ACCOUNTS).map(|i| format!("acct-{i}")).collect();
    store
        .set_many("bank", names.iter().map(|name| (name.as_str(), 1_000)))
        .unwrap();
    let runs = Arc::new(AtomicU32::new(0));
    let threads: Vec<_> = (0..THREADS)
        .map(|t| {
            let (store, names, runs) = (store.clone(), names.clone(), Arc::clone(&runs));
            std::thread::spawn(move || {
                for i in 0..TRANSFERS {
                    let from = &names[(t + i) % ACCOUNTS];
                    let to = &names[(t * 7 + i * 3 + 1) % ACCOUNTS];
                    if from == to {
                        continue;
                    }
                    store
                        .transaction("bank", |tx| {
                            runs.fetch_add(1, Ordering::Relaxed);
                            let a = *tx.get(from).unwrap();
                            let b = *tx.get(to).unwrap();
                            tx.set(from, a - 1);
                            tx.set(to, b + 1);
                            Ok::<_, Error>(())
                        })
                        .unwrap();
                }
            })
        })
        .collect();
    let auditor = {
        let store = store.clone();
        std::thread::spawn(move || {
            for _ in 0..if cfg!(miri) { 10 } else { 500 } {
                let snapshot = store.snapshot("bank").unwrap();
                let total: i64 = snapshot.values().iter().map(|v| **v).sum();
                assert_eq!(total, 6_000, "at revision {}", snapshot.revision());
            }
        })
    };
    for thread in threads {
        thread.join().unwrap();
    }
    auditor.join().unwrap();
    let total: i64 = store.values("bank").unwrap().iter().map(|v| **v).sum();
    assert_eq!(total, 6_000);
    assert!(runs.load(Ordering::Relaxed) as usize >= THREADS * TRANSFERS * 5 / 6);
}

#[test]
fn a_single_key_write_racing_a_batch_never_shows_half_of_it() {
    // Contract 7 and 26, with single-key writers aborting batches.
    let store = Store::<u64>::new();
    let keys = ["a", "b", "c", "d"];
    store.set_many("k", keys.map(|k| (k, 0))).unwrap();
    let rounds: u64 = if cfg!(miri) { 20 } else { 2_000 };
    let batcher = {
        let store = store.clone();
        std::thread::spawn(move || {
            for round in 1..=rounds {
                store.set_many("k", keys.map(|k| (k, round * 10))).unwrap();
            }
        })
    };
    let single = {
        let store = store.clone();
        std::thread::spawn(move || {
            for round in 1..=rounds {
                assert_ne!(
                    store.set("k", "b", round * 10 + 1).unwrap(),
                    SetResult::Unchanged
                );
            }
        })
    };
    for _ in 0..rounds {
        let snapshot = store.snapshot("k").unwrap();
        let values: Vec<u64> = snapshot.values().iter().map(|v| **v).collect();
        // a, c and d are written only by the batch: always equal.
        assert_eq!(values[0], values[2]);
        assert_eq!(values[0], values[3]);
    }
    batcher.join().unwrap();
    single.join().unwrap();
    let mut watch = store.watch("k", WatchOptions::new().replay(true)).unwrap();
    let mut creates = 0;
    while let Some(event) = watch.try_recv().unwrap() {
        assert_eq!(event.event_type, EventType::Create);
        creates += 1;
    }
    assert_eq!(creates, 4);
}

/// The abort rate of atomic writes under contention (they are
/// obstruction-free: a racing write makes them start over), measured and
/// printed: `cargo test --release --test transactions abort_rate -- --nocapture`.
/// Two threads write batches of 8 keys out of 16, a third sets single keys
/// among them; every batch still commits.
#[test]
fn abort_rate_under_contention() {
    let rounds: u64 = if cfg!(miri) { 20 } else { 5_000 };
    let store = Store::<u64>::new();
    let keys: Vec<String> = (0..16).map(|i| format!("key-{i:02}")).collect();
    let done = std::sync::atomic::AtomicBool::new(false);
    let single_writes = std::thread::scope(|scope| {
        let single = scope.spawn(|| {
            let mut writes = 0u64;
            while !done.load(Ordering::Relaxed) {
                writes += 1;
                store
                    .set("k", &keys[(writes % 16) as usize], (9 << 32) | writes)
                    .unwrap();
            }
            writes
        });
        let batchers: Vec<_> = (0..2u64)
            .map(|t| {
                let (store, keys) = (&store, &keys);
                scope.spawn(move || {
                    for round in 0..rounds {
                        let start = ((round * 5 + t * 3) % 8) as usize;
                        let batch = keys[start..start + 8]
                            .iter()
                            .map(|key| (key.as_str(), (t << 32) | round));
                        store.set_many("k", batch).unwrap();
                    }
                })
            })
            .collect();
        for batcher in batchers {
            batcher.join().unwrap();
        }
        done.store(true, Ordering::Relaxed);
        single.join().unwrap()
    });
    let batches = 2 * rounds;
    let retries = store.batch_retries("k").unwrap();
    eprintln!(
        "abort rate: {retries} restarts for {batches} batches of 8 keys ({:.2} per batch), \
         racing each other and {single_writes} single-key writes",
        retries as f64 / batches as f64
    );
    // Every batch committed: one revision each, all 8 keys together.
    let mut watch = store.watch("k", WatchOptions::new().replay(true)).unwrap();
    let mut replayed = 0;
    while watch.replay_remaining() > 0 {
        watch.try_recv().unwrap().unwrap();
        replayed += 1;
    }
    assert_eq!(replayed, 16);
}
