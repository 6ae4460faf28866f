//! Contract 33–37: the journal hook (records, admit, sync, close) and
//! restoring a kind.

mod support;

use std::cell::RefCell;
use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Condvar, Mutex};
use std::time::{Duration, Instant};

use support::Rng;
use zestor::{
    BoxError, Error, EventType, Journal, Record, SetResult, Store, Transaction, WatchOptions,
};

/// A record as the test journal keeps it: owned, so it can be compared.
#[derive(Debug, Clone, PartialEq)]
struct Rec {
    kind: String,
    revision: u64,
    changes: Vec<(String, Option<i64>)>,
    hole: bool,
}

fn rec(kind: &str, revision: u64, changes: &[(&str, Option<i64>)]) -> Rec {
    Rec {
        kind: kind.into(),
        revision,
        changes: changes
            .iter()
            .map(|(key, value)| (key.to_string(), *value))
            .collect(),
        hole: false,
    }
}

#[derive(Default)]
struct State {
    records: Vec<Rec>,
    /// Per kind: every revision up to this one has been recorded (or was
    /// restored), and the recorded revisions above it.
    prefix: HashMap<String, (u64, BTreeSet<u64>)>,
    syncs: Vec<(String, u64)>,
}

#[derive(Default)]
struct Shared {
    state: Mutex<State>,
    recorded: Condvar,
    admits: AtomicUsize,
    closes: AtomicUsize,
    refuse: AtomicBool,
    fail_sync: AtomicBool,
}

thread_local! {
    /// The last `sync` this thread made: kind and revision.
    static LAST_SYNC: RefCell<Option<(String, u64)>> = const { RefCell::new(None) };
}

fn last_sync() -> Option<(String, u64)> {
    LAST_SYNC.with(|last| last.borrow().clone())
}

/// A journal that keeps every record in memory. Its `sync` waits, like a
/// durable one, until every revision it is asked for has been recorded;
/// if that takes more than ten seconds it fails (and so does the write).
#[derive(Clone, Default)]
struct TestJournal(Arc<Shared>);

impl TestJournal {
    fn store(&self) -> Store<i64> {
        Store::<i64>::builder().journal(self.clone()).build()
    }

    fn records(&self) -> Vec<Rec> {
        self.0.state.lock().unwrap().records.clone()
    }

    fn records_of(&self, kind: &str) -> Vec<Rec> {
        let mut records: Vec<Rec> = self
            .records()
            .into_iter()
            .filter(|record| record.kind == kind)
            .collect();
        records.sort_by_key(|record| record.revision);
        records
    }

    fn syncs(&self) -> Vec<(String, u64)> {
        self.0.state.lock().unwrap().syncs.clone()
    }

    fn closes(&self) -> usize {
        self.0.closes.load(Ordering::SeqCst)
    }

    /// What a journal does when it restores `kind` at `revision`: it holds
    /// `1..=revision` already.
    fn restored(&self, kind: &str, revision: u64) {
        let mut state = self.0.state.lock().unwrap();
        state
            .prefix
            .insert(kind.to_string(), (revision, BTreeSet::new()));
    }
}

impl Journal<i64> for TestJournal {
    fn record(&self, record: Record<i64>) {
        let changes: Vec<(String, Option<i64>)> = record
            .changes()
            .map(|change| (change.key.to_string(), change.value.copied()))
            .collect();
        let rec = Rec {
            kind: record.kind().to_string(),
            revision: record.revision(),
            changes,
            hole: record.is_hole(),
        };
        let mut state = self.0.state.lock().unwrap();
        let (done, above) = state.prefix.entry(rec.kind.clone()).or_default();
        if rec.revision > *done {
            above.insert(rec.revision);
            while above.remove(&(*done + 1)) {
                *done += 1;
            }
        }
        state.records.push(rec);
        drop(state);
        self.0.recorded.notify_all();
    }

    fn admit(&self) -> Result<(), BoxError> {
        self.0.admits.fetch_add(1, Ordering::SeqCst);
        if self.0.refuse.load(Ordering::SeqCst) {
            return Err("journal full".into());
        }
        Ok(())
    }

    fn sync(&self, kind: &str, revision: u64) -> Result<(), BoxError> {
        LAST_SYNC.with(|last| *last.borrow_mut() = Some((kind.to_string(), revision)));
        let mut state = self.0.state.lock().unwrap();
        state.syncs.push((kind.to_string(), revision));
        if self.0.fail_sync.load(Ordering::SeqCst) {
            return Err("disk on fire".into());
        }
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            let done = state.prefix.get(kind).map_or(0, |(done, _)| *done);
            if done >= revision {
                return Ok(());
            }
            let now = Instant::now();
            if now >= deadline {
                return Err(format!(
                    "kind {kind:?}: revision {} never recorded (sync({revision}))",
                    done + 1
                )
                .into());
            }
            state = self
                .0
                .recorded
                .wait_timeout(state, deadline - now)
                .unwrap()
                .0;
        }
    }

    fn close(&self) {
        self.0.closes.fetch_add(1, Ordering::SeqCst);
    }
}

/// Applies `records` (of one kind) in revision order to an empty map.
fn replay(records: &[Rec]) -> BTreeMap<String, i64> {
    let mut records = records.to_vec();
    records.sort_by_key(|record| record.revision);
    let mut state = BTreeMap::new();
    for record in &records {
        for (key, value) in &record.changes {
            match value {
                Some(value) => state.insert(key.clone(), *value),
                None => state.remove(key),
            };
        }
    }
    state
}

fn listed(store: &Store<i64>, kind: &str) -> BTreeMap<String, i64> {
    store
        .list(kind)
        .unwrap()
        .into_iter()
        .map(|(key, value)| (key.to_string(), *value))
        .collect()
}

#[test]
fn every_write_is_recorded_once_with_its_change() {
    // Contract 33.
    let journal = TestJournal::default();
    let store = journal.store();
    let mut watch = store.watch("k", WatchOptions::new()).unwrap();
    assert_eq!(store.set("k", "a", 1).unwrap(), SetResult::Created);
    assert_eq!(store.set("k", "a", 2).unwrap(), SetResult::Updated);
    assert!(store.update("k", "a", |v| Ok::<_, Error>(v + 1)).unwrap());
    assert_eq!(*store.delete("k", "a").unwrap().unwrap(), 3);
    store.set("other", "a", 7).unwrap();
    // Through a kind handle too.
    let kind = store.kind("k").unwrap();
    kind.set("b", 5).unwrap();
    kind.update("b", |v| Ok::<_, Error>(v * 2)).unwrap();
    kind.delete("b").unwrap();

    assert_eq!(
        journal.records(),
        [
            rec("k", 1, &[("a", Some(1))]),
            rec("k", 2, &[("a", Some(2))]),
            rec("k", 3, &[("a", Some(3))]),
            rec("k", 4, &[("a", None)]),
            rec("other", 1, &[("a", Some(7))]),
            rec("k", 5, &[("b", Some(5))]),
            rec("k", 6, &[("b", Some(10))]),
            rec("k", 7, &[("b", None)]),
        ]
    );
    // The journal sees what watchers see.
    let events: Vec<(u64, String, EventType)> = std::iter::from_fn(|| watch.try_recv().unwrap())
        .map(|event| (event.revision, event.key.to_string(), event.event_type))
        .collect();
    let recorded: Vec<(u64, String)> = journal
        .records_of("k")
        .into_iter()
        .map(|record| (record.revision, record.changes[0].0.clone()))
        .collect();
    assert_eq!(
        events
            .iter()
            .map(|(revision, key, _)| (*revision, key.clone()))
            .collect::<Vec<_>>(),
        recorded
    );
    assert_eq!(replay(&journal.records_of("k")), listed(&store, "k"));
    assert_eq!(
        replay(&journal.records_of("other")),
        listed(&store, "other")
    );
}

#[test]
fn a_set_many_or_a_transaction_is_one_record() {
    // Contract 33: one record per revision, its members in key order.
    let journal = TestJournal::default();
    let store = journal.store();
    store.set("k", "b", 2).unwrap();
    store.set("k", "untouched", 9).unwrap();
    // b is unchanged (skipped); of the two a's the later wins.
    store
        .set_many("k", [("c", 3), ("a", 1), ("b", 2), ("a", 10)])
        .unwrap();
    store
        .transaction("k", |tx: &mut Transaction<'_, i64>| {
            let c = *tx.get("c").unwrap();
            tx.set("d", c + 1);
            tx.delete("c");
            tx.set("a", 11);
            tx.delete("missing");
            Ok::<_, Error>(())
        })
        .unwrap();
    store
        .kind("k")
        .unwrap()
        .set_many([("e", 5), ("b", 20)])
        .unwrap();
    store
        .kind("k")
        .unwrap()
        .transaction(|tx| {
            tx.delete("e");
            tx.delete("b");
            Ok::<_, Error>(())
        })
        .unwrap();

    assert_eq!(
        journal.records(),
        [
            rec("k", 1, &[("b", Some(2))]),
            rec("k", 2, &[("untouched", Some(9))]),
            rec("k", 3, &[("a", Some(10)), ("c", Some(3))]),
            rec("k", 4, &[("a", Some(11)), ("c", None), ("d", Some(4))]),
            rec("k", 5, &[("b", Some(20)), ("e", Some(5))]),
            rec("k", 6, &[("b", None), ("e", None)]),
        ]
    );
    assert_eq!(store.revision("k").unwrap(), 6);
    assert_eq!(replay(&journal.records()), listed(&store, "k"));
}

/// A journal expects each kind's revisions to follow on from the last it
/// recorded, and has no record of a removal: a journaled store refuses
/// `remove_kind` (issue 11), leaving the kind and its revisions as they were.
#[test]
fn a_journaled_store_does_not_remove_kinds() {
    let journal = TestJournal::default();
    let store = journal.store();
    store.set("k", "a", 1).unwrap();
    store.delete("k", "a").unwrap();
    match store.remove_kind("k") {
        Err(Error::Unsupported(what)) => assert!(what.contains("journal"), "{what}"),
        other => panic!("expected Unsupported, got {other:?}"),
    }
    store.set("k", "b", 2).unwrap();
    let revisions: Vec<u64> = journal.records_of("k").iter().map(|r| r.revision).collect();
    assert_eq!(revisions, [1, 2, 3], "the kind's revisions follow on");
}

#[test]
fn a_write_that_changes_nothing_records_nothing() {
    // Contract 33.
    let journal = TestJournal::default();
    let store = journal.store();
    store.set("k", "a", 1).unwrap();
    store.set("k", "b", 2).unwrap();
    let before = journal.records();
    assert_eq!(before.len(), 2);
    let syncs = journal.syncs().len();

    assert_eq!(store.set("k", "a", 1).unwrap(), SetResult::Unchanged);
    assert!(!store.update("k", "a", |v| Ok::<_, Error>(*v)).unwrap());
    store.set_many("k", [("a", 1), ("b", 2)]).unwrap();
    assert!(store.delete("k", "missing").unwrap().is_none());
    store
        .transaction("k", |tx| {
            tx.get("a");
            Ok::<_, Error>(())
        })
        .unwrap();
    store
        .transaction("k", |tx| {
            tx.set("a", 1);
            tx.delete("missing");
            Ok::<_, Error>(())
        })
        .unwrap();
    let kind = store.kind("k").unwrap();
    assert_eq!(kind.set("b", 2).unwrap(), SetResult::Unchanged);
    kind.set_many(Vec::<(&str, i64)>::new()).unwrap();

    assert_eq!(journal.records(), before);
    assert_eq!(store.revision("k").unwrap(), 2);
    // Each of the eight writes still synced, at the kind's revision.
    let syncs = &journal.syncs()[syncs..];
    assert_eq!(syncs.len(), 8, "{syncs:?}");
    assert!(
        syncs.iter().all(|sync| *sync == ("k".to_string(), 2)),
        "{syncs:?}"
    );
}

#[test]
fn concurrent_writers_record_every_revision_exactly_once() {
    // Contract 34, and 35: each sync covers its write.
    let journal = TestJournal::default();
    let store = journal.store();
    let threads: u64 = 8;
    let per_thread: u64 = if cfg!(miri) { 20 } else { 2_000 };
    let kinds = ["a", "b"];
    let writing = AtomicUsize::new(threads as usize);
    std::thread::scope(|scope| {
        // A reader: snapshots and scans may finish (and so publish, and
        // record) a writer's pending write.
        scope.spawn(|| {
            while writing.load(Ordering::Acquire) > 0 {
                for kind in kinds {
                    let snapshot = store.snapshot(kind).unwrap();
                    assert!(snapshot.revision() <= store.revision(kind).unwrap());
                    store.list(kind).unwrap();
                }
            }
        });
        for t in 0..threads {
            let writing = &writing;
            let store = store.clone();
            scope.spawn(move || {
                // Counts this writer out even if it panics (the reader
                // would spin on forever otherwise).
                struct Done<'a>(&'a AtomicUsize);
                impl Drop for Done<'_> {
                    fn drop(&mut self) {
                        self.0.fetch_sub(1, Ordering::Release);
                    }
                }
                let _done = Done(writing);
                let mut rng = Rng(0x9E37_79B9_7F4A_7C15 ^ (t + 1));
                for i in 0..per_thread {
                    let kind = kinds[(rng.next() % 2) as usize];
                    let shared = format!("s{}", rng.next() % 6);
                    let value = (rng.next() % 4) as i64;
                    match rng.next() % 7 {
                        0 | 1 => {
                            store.set(kind, &shared, value).unwrap();
                        }
                        2 => {
                            // A key only this thread writes: its revision
                            // after the write is the write's own.
                            let own = format!("t{t}-{}", i % 5);
                            store.set(kind, &own, i as i64).unwrap();
                            let written = store.get(kind, &own).unwrap().unwrap().revision();
                            let (synced_kind, synced) = last_sync().unwrap();
                            assert_eq!(synced_kind, kind);
                            assert!(synced >= written, "sync({synced}) for revision {written}");
                        }
                        3 => match store.update(kind, &shared, |v| Ok::<_, Error>(v + 1)) {
                            Ok(_) | Err(Error::KeyNotFound) => {}
                            Err(other) => panic!("{other:?}"),
                        },
                        4 => {
                            store.delete(kind, &shared).unwrap();
                        }
                        5 => {
                            let own = format!("t{t}-batch");
                            let other = format!("s{}", rng.next() % 6);
                            store
                                .set_many(
                                    kind,
                                    [(shared.as_str(), value), (&own, i as i64), (&other, value)],
                                )
                                .unwrap();
                            let written = store.get(kind, &own).unwrap().unwrap().revision();
                            let (_, synced) = last_sync().unwrap();
                            assert!(synced >= written, "sync({synced}) for revision {written}");
                        }
                        _ => {
                            let from = shared.clone();
                            let to = format!("s{}", rng.next() % 6);
                            store
                                .transaction(kind, |tx| {
                                    let moved = tx.get(&from).map_or(0, |v| *v);
                                    tx.delete(&from);
                                    let there = tx.get(&to).map_or(0, |v| *v);
                                    tx.set(&to, there + moved + 1);
                                    Ok::<_, Error>(())
                                })
                                .unwrap();
                        }
                    }
                    // Never ahead of the kind (none yet if this thread
                    // only missed so far).
                    if let Some((synced_kind, synced)) = last_sync() {
                        assert!(synced <= store.revision(&synced_kind).unwrap());
                    }
                }
            });
        }
    });

    let mut holes = 0;
    for kind in kinds {
        let records = journal.records_of(kind);
        let revision = store.revision(kind).unwrap();
        let revisions: Vec<u64> = records.iter().map(|record| record.revision).collect();
        assert_eq!(
            revisions,
            (1..=revision).collect::<Vec<_>>(),
            "kind {kind}: every revision once, no other"
        );
        for record in &records {
            let keys: Vec<&String> = record.changes.iter().map(|(key, _)| key).collect();
            assert!(
                keys.windows(2).all(|pair| pair[0] < pair[1]),
                "members in key order, once each: {record:?}"
            );
            assert_eq!(record.hole, record.changes.is_empty(), "{record:?}");
            holes += usize::from(record.hole);
        }
        let state = replay(&records);
        assert_eq!(state, listed(&store, kind), "kind {kind}");
        assert_eq!(state.len(), store.count(kind).unwrap());
        // Each value's revision is the last record that wrote its key.
        for (key, value) in store.list(kind).unwrap() {
            let last = records
                .iter()
                .rev()
                .find(|record| record.changes.iter().any(|(k, _)| **k == *key))
                .unwrap();
            assert_eq!(value.revision(), last.revision, "key {key}");
        }
    }
    println!("holes recorded: {holes}");
}

#[test]
fn a_refused_write_applies_nothing() {
    // Contract 35.
    let journal = TestJournal::default();
    let store = journal.store();
    store.set("k", "a", 1).unwrap();
    let kind = store.kind("k").unwrap();
    let mut watch = store.watch("k", WatchOptions::new()).unwrap();
    let records = journal.records();
    let syncs = journal.syncs().len();
    journal.0.refuse.store(true, Ordering::SeqCst);
    let admits = journal.0.admits.load(Ordering::SeqCst);

    let refused = |result: Result<(), Error>| match result {
        Err(error @ Error::Refused(_)) => {
            let source = std::error::Error::source(&error).unwrap().to_string();
            assert_eq!(source, "journal full");
            assert!(error.to_string().contains("journal full"), "{error}");
        }
        other => panic!("expected Refused, got {other:?}"),
    };
    refused(store.set("k", "a", 2).map(drop));
    refused(store.set("k", "new", 2).map(drop));
    refused(store.set("fresh", "new", 2).map(drop));
    refused(store.set_many("k", [("a", 3), ("b", 3)]));
    refused(store.update("k", "a", |v| Ok::<_, Error>(v + 1)).map(drop));
    refused(store.delete("k", "a").map(drop));
    refused(store.transaction("k", |tx| {
        tx.set("a", 4);
        tx.set("c", 4);
        Ok::<_, Error>(())
    }));
    refused(kind.set("a", 5).map(drop));
    refused(kind.set_many([("d", 5)]));
    refused(kind.update("a", |v| Ok::<_, Error>(v + 1)).map(drop));
    refused(kind.delete("a").map(drop));
    refused(kind.transaction(|tx| {
        tx.delete("a");
        Ok::<_, Error>(())
    }));
    assert_eq!(journal.0.admits.load(Ordering::SeqCst) - admits, 12);

    assert_eq!(listed(&store, "k"), BTreeMap::from([("a".to_string(), 1)]));
    assert_eq!(store.count("k").unwrap(), 1);
    assert_eq!(store.revision("k").unwrap(), 1);
    assert_eq!(store.count("fresh").unwrap(), 0);
    assert!(store.kinds().unwrap().iter().all(|kind| &**kind != "fresh"));
    assert!(watch.try_recv().unwrap().is_none(), "no event");
    assert_eq!(journal.records(), records, "no record");
    assert_eq!(journal.syncs().len(), syncs, "no sync");

    // Admitted again, writes go through at the next revision.
    journal.0.refuse.store(false, Ordering::SeqCst);
    store.set("k", "a", 6).unwrap();
    let event = watch.recv().unwrap();
    assert_eq!((event.revision, *event.value), (2, 6));
    assert_eq!(
        journal.records().last(),
        Some(&rec("k", 2, &[("a", Some(6))]))
    );
}

#[test]
fn sync_covers_the_write_and_everything_before_it() {
    // Contract 35.
    let journal = TestJournal::default();
    let store = journal.store();
    let kind = store.kind("k").unwrap();
    let check = |key: &str| {
        let written = store.get("k", key).unwrap().unwrap().revision();
        let (synced_kind, synced) = last_sync().unwrap();
        assert_eq!(synced_kind, "k");
        assert!(synced >= written, "sync({synced}) for revision {written}");
        assert_eq!(synced, store.revision("k").unwrap());
    };
    store.set("k", "a", 1).unwrap();
    check("a");
    store.set("k", "a", 2).unwrap();
    check("a");
    store.update("k", "a", |v| Ok::<_, Error>(v + 1)).unwrap();
    check("a");
    store.set_many("k", [("b", 1), ("c", 1)]).unwrap();
    check("c");
    store
        .transaction("k", |tx| {
            tx.set("d", 1);
            Ok::<_, Error>(())
        })
        .unwrap();
    check("d");
    kind.set("e", 1).unwrap();
    check("e");
    store.delete("k", "e").unwrap();
    assert_eq!(last_sync(), Some(("k".to_string(), 7)));
    store.set("other", "a", 1).unwrap();
    assert_eq!(last_sync(), Some(("other".to_string(), 1)));
    // One sync per write, in order.
    let syncs: Vec<u64> = journal
        .syncs()
        .into_iter()
        .filter(|(kind, _)| kind == "k")
        .map(|(_, revision)| revision)
        .collect();
    assert_eq!(syncs, [1, 2, 3, 4, 5, 6, 7]);
}

#[test]
fn a_failed_sync_is_not_durable_but_applied() {
    // Contract 35.
    let journal = TestJournal::default();
    let store = journal.store();
    store.set("k", "a", 1).unwrap();
    let mut watch = store.watch("k", WatchOptions::new()).unwrap();
    journal.0.fail_sync.store(true, Ordering::SeqCst);

    let not_durable = |result: Result<(), Error>| match result {
        Err(error @ Error::NotDurable(_)) => {
            let source = std::error::Error::source(&error).unwrap().to_string();
            assert_eq!(source, "disk on fire");
            assert!(error.to_string().contains("disk on fire"), "{error}");
        }
        other => panic!("expected NotDurable, got {other:?}"),
    };
    not_durable(store.set("k", "a", 2).map(drop));
    assert_eq!(*store.get("k", "a").unwrap().unwrap(), 2);
    not_durable(store.set_many("k", [("b", 3), ("c", 3)]));
    not_durable(store.update("k", "b", |v| Ok::<_, Error>(v + 1)).map(drop));
    not_durable(store.delete("k", "c").map(drop));
    not_durable(store.transaction("k", |tx| {
        tx.set("d", 5);
        Ok::<_, Error>(())
    }));
    not_durable(store.kind("k").unwrap().set("e", 6).map(drop));

    let expected = BTreeMap::from([
        ("a".to_string(), 2),
        ("b".to_string(), 4),
        ("d".to_string(), 5),
        ("e".to_string(), 6),
    ]);
    assert_eq!(listed(&store, "k"), expected);
    assert_eq!(store.count("k").unwrap(), 4);
    assert_eq!(store.revision("k").unwrap(), 7);
    let events: Vec<u64> = std::iter::from_fn(|| watch.try_recv().unwrap())
        .map(|event| event.revision)
        .collect();
    assert_eq!(events, [2, 3, 3, 4, 5, 6, 7]);
    // Recorded all the same: it was applied.
    assert_eq!(replay(&journal.records()), expected);
}

#[test]
fn close_runs_on_close_and_when_the_last_handle_drops() {
    // Contract 36.
    let journal = TestJournal::default();
    let store = journal.store();
    store.set("k", "a", 1).unwrap();
    let clone = store.clone();
    drop(clone);
    assert_eq!(journal.closes(), 0, "another handle is alive");
    store.close();
    assert_eq!(journal.closes(), 1);
    store.close();
    assert_eq!(journal.closes(), 1, "the store was closed already");
    drop(store);
    assert_eq!(journal.closes(), 2, "the last handle dropped");

    // Never closed: the last handle, whichever it is, closes the journal.
    let journal = TestJournal::default();
    let store = journal.store();
    store.set("k", "a", 1).unwrap();
    let kind = store.kind("k").unwrap();
    let watch = store.watch("k", WatchOptions::new()).unwrap();
    let mirror = store.mirror("k").unwrap();
    drop(store);
    assert_eq!(journal.closes(), 0, "kind, watch and mirror left");
    kind.set("b", 2).unwrap();
    drop(kind);
    assert_eq!(journal.closes(), 0, "watch and mirror left");
    drop(watch);
    assert_eq!(journal.closes(), 0, "mirror left");
    drop(mirror);
    assert_eq!(journal.closes(), 1);
    assert_eq!(journal.records().len(), 2);
}

#[test]
fn restore_kind_loads_a_kind_at_its_revision() {
    // Contract 37.
    let journal = TestJournal::default();
    let store = journal.store();
    store.set("other", "x", 1).unwrap();
    // A read does not create the kind.
    assert!(store.get("k", "a").unwrap().is_none());
    assert_eq!(store.snapshot("k").unwrap().count(), 0);
    store
        .restore_kind("k", 10, [("b", 7, 20), ("a", 3, 10), ("c", 10, 30)])
        .unwrap();
    journal.restored("k", 10);

    assert_eq!(store.revision("k").unwrap(), 10);
    assert_eq!(store.count("k").unwrap(), 3);
    let listed: Vec<(String, u64, i64)> = store
        .list("k")
        .unwrap()
        .into_iter()
        .map(|(key, value)| (key.to_string(), value.revision(), *value))
        .collect();
    assert_eq!(
        listed,
        [
            ("a".to_string(), 3, 10),
            ("b".to_string(), 7, 20),
            ("c".to_string(), 10, 30)
        ]
    );
    assert_eq!(store.get("k", "b").unwrap().unwrap().revision(), 7);
    assert!(store.kinds().unwrap().iter().any(|kind| &**kind == "k"));
    let snapshot = store.snapshot("k").unwrap();
    assert_eq!(snapshot.revision(), 10);
    assert_eq!(snapshot.list().len(), 3);
    assert_eq!(
        journal.records(),
        [rec("other", 1, &[("x", Some(1))])],
        "a restored kind is not recorded"
    );

    // The next write takes revision 11, and is recorded.
    assert_eq!(store.set("k", "d", 40).unwrap(), SetResult::Created);
    assert_eq!(store.get("k", "d").unwrap().unwrap().revision(), 11);
    assert_eq!(store.revision("k").unwrap(), 11);
    assert_eq!(last_sync(), Some(("k".to_string(), 11)));
    assert!(store.update("k", "a", |v| Ok::<_, Error>(v + 1)).unwrap());
    assert_eq!(*store.delete("k", "b").unwrap().unwrap(), 20);
    store.kind("k").unwrap().set("e", 50).unwrap();
    assert_eq!(
        journal.records_of("k"),
        [
            rec("k", 11, &[("d", Some(40))]),
            rec("k", 12, &[("a", Some(11))]),
            rec("k", 13, &[("b", None)]),
            rec("k", 14, &[("e", Some(50))]),
        ]
    );
    assert_eq!(store.count("k").unwrap(), 4);
    assert_eq!(store.keys("k").unwrap().len(), 4);
    assert_eq!(store.get("k", "c").unwrap().unwrap().revision(), 10);
    // The snapshot taken at the restored revision still reads it.
    assert_eq!(snapshot.get("a").as_deref(), Some(&10));
    assert_eq!(snapshot.get("b").as_deref(), Some(&20));
    assert!(snapshot.get("d").is_none());

    // An empty kind, restored at a revision.
    store
        .restore_kind("empty", 5, Vec::<(&str, u64, i64)>::new())
        .unwrap();
    journal.restored("empty", 5);
    assert_eq!(store.revision("empty").unwrap(), 5);
    assert_eq!(store.count("empty").unwrap(), 0);
    store.set("empty", "a", 1).unwrap();
    assert_eq!(store.get("empty", "a").unwrap().unwrap().revision(), 6);
    assert_eq!(
        journal.records_of("empty"),
        [rec("empty", 6, &[("a", Some(1))])]
    );
}

#[test]
fn a_restored_kind_replays_and_resumes_from_its_revision() {
    // Contract 37.
    let journal = TestJournal::default();
    let options = || WatchOptions::new().buffer_size(8);
    let store = Store::<i64>::builder()
        .ring_capacity(8)
        .journal(journal.clone())
        .build();
    store
        .restore_kind("k", 1_000, [("a", 1, 1), ("c", 999, 3), ("b", 500, 2)])
        .unwrap();
    journal.restored("k", 1_000);

    for requested in [0, 1, 500, 999, 1_000] {
        match store.watch("k", options().start_revision(requested)) {
            Err(Error::Compacted {
                requested: r,
                oldest,
            }) => {
                assert_eq!(r, requested.max(1));
                assert_eq!(oldest, 1_001);
            }
            Err(other) => panic!("start_revision({requested}): expected Compacted, got {other:?}"),
            Ok(_) => panic!("start_revision({requested}): expected Compacted, got a watch"),
        }
    }
    let mut resumed = store.watch("k", options().start_revision(1_001)).unwrap();
    let mut later = store.watch("k", options().start_revision(1_002)).unwrap();
    let mut replayed = store.watch("k", options().replay(true)).unwrap();
    let now = store.watch("k", options()).unwrap();
    assert_eq!(now.revision(), 1_000);
    let mut mirror = store.mirror("k").unwrap();
    assert!(
        resumed.try_recv().unwrap().is_none(),
        "nothing to deliver yet"
    );

    let replay: Vec<(String, u64, i64, EventType)> = (0..3)
        .map(|_| {
            let event = replayed.recv().unwrap();
            (
                event.key.to_string(),
                event.revision,
                *event.value,
                event.event_type,
            )
        })
        .collect();
    assert_eq!(
        replay,
        [
            ("a".to_string(), 1, 1, EventType::Create),
            ("b".to_string(), 500, 2, EventType::Create),
            ("c".to_string(), 999, 3, EventType::Create),
        ]
    );
    assert_eq!(replayed.revision(), 1_000);
    assert!(replayed.try_recv().unwrap().is_none());
    let mirrored: Vec<(String, u64)> = (0..3)
        .map(|_| {
            let event = mirror.recv().unwrap();
            (event.key.to_string(), event.revision)
        })
        .collect();
    // A mirror stamps its initial entries with its snapshot's revision.
    assert_eq!(
        mirrored,
        [
            ("a".to_string(), 1_000),
            ("b".to_string(), 1_000),
            ("c".to_string(), 1_000)
        ]
    );
    assert_eq!(mirror.revision(), 1_000);
    assert_eq!(mirror.len(), 3);

    store.set("k", "a", 10).unwrap();
    store.delete("k", "c").unwrap();
    for watch in [&mut resumed, &mut replayed] {
        let event = watch.recv().unwrap();
        assert_eq!(
            (event.revision, event.event_type, *event.value),
            (1_001, EventType::Update, 10)
        );
        assert_eq!(event.previous.as_deref(), Some(&1));
        let event = watch.recv().unwrap();
        assert_eq!(
            (event.revision, event.event_type, &*event.key),
            (1_002, EventType::Delete, "c")
        );
        assert!(watch.try_recv().unwrap().is_none());
    }
    let event = later.recv().unwrap();
    assert_eq!((event.revision, &*event.key), (1_002, "c"));

    // Past the ring, the ring's own compaction takes over.
    for i in 0..20 {
        store.set("k", "b", i).unwrap();
    }
    match store.watch("k", options().start_revision(1_001)) {
        Err(Error::Compacted { oldest, .. }) => assert_eq!(oldest, 1_022 + 1 - 8),
        Err(other) => panic!("expected Compacted, got {other:?}"),
        Ok(_) => panic!("expected Compacted, got a watch"),
    }
    let records = journal.records();
    let revisions: Vec<u64> = records.iter().map(|record| record.revision).collect();
    assert_eq!(revisions, (1_001..=1_022).collect::<Vec<_>>());
}

#[test]
fn restore_kind_rejects_what_it_cannot_load_and_loads_nothing() {
    // Contract 37.
    let store = TestJournal::default().store();
    let invalid = |result: Result<(), Error>, what: &str| match result {
        Err(Error::InvalidArgument(message)) => {
            assert!(
                message.contains(what),
                "{message:?} should mention {what:?}"
            );
        }
        other => panic!("expected InvalidArgument ({what}), got {other:?}"),
    };

    // A kind that exists: written, watched, handed out, restored.
    store.set("written", "a", 1).unwrap();
    invalid(store.restore_kind("written", 5, [("b", 1, 2)]), "exists");
    let _watch = store.watch("watched", WatchOptions::new()).unwrap();
    invalid(store.restore_kind("watched", 5, [("b", 1, 2)]), "exists");
    let _kind = store.kind("handed").unwrap();
    invalid(store.restore_kind("handed", 5, [("b", 1, 2)]), "exists");
    store.restore_kind("restored", 5, [("a", 5, 1)]).unwrap();
    invalid(store.restore_kind("restored", 9, [("b", 1, 2)]), "exists");
    assert_eq!(store.revision("written").unwrap(), 1);
    assert_eq!(store.revision("restored").unwrap(), 5);
    assert_eq!(
        listed(&store, "written"),
        BTreeMap::from([("a".to_string(), 1)])
    );
    assert_eq!(
        listed(&store, "restored"),
        BTreeMap::from([("a".to_string(), 1)])
    );
    assert!(store.get("handed", "b").unwrap().is_none());

    // Bad entries: nothing is loaded, and the kind can still be restored.
    invalid(
        store.restore_kind("k", 5, [("a", 1, 1), ("b", 2, 2), ("a", 3, 3)]),
        "given twice",
    );
    invalid(
        store.restore_kind("k", 5, [("a", 1, 1), ("", 2, 2)]),
        "empty key",
    );
    invalid(
        store.restore_kind("k", 5, [("a", 1, 1), ("b", 0, 2)]),
        "revision 0",
    );
    invalid(store.restore_kind("k", 5, [("a", 6, 1)]), "revision 6");
    invalid(store.restore_kind("k", 0, [("a", 1, 1)]), "revision 1");
    invalid(store.restore_kind("k", u64::MAX, [("a", 1, 1)]), "beyond");
    assert_eq!(store.count("k").unwrap(), 0);
    assert_eq!(store.revision("k").unwrap(), 0);
    assert!(store.get("k", "a").unwrap().is_none());
    store
        .restore_kind("k", 5, [("a", 5, 1), ("b", 1, 2)])
        .unwrap();
    assert_eq!(store.count("k").unwrap(), 2);
    assert_eq!(store.revision("k").unwrap(), 5);

    // The kind argument is checked like everywhere else.
    assert!(matches!(
        store.restore_kind("", 1, [("a", 1, 1)]),
        Err(Error::KindRequired)
    ));
    store.close();
    assert!(matches!(
        store.restore_kind("late", 1, [("a", 1, 1)]),
        Err(Error::Closed)
    ));
}

#[test]
fn a_refused_write_does_not_create_the_kind() {
    // Contract 35: nothing is applied, not even an empty kind.
    let journal = TestJournal::default();
    let store = journal.store();
    journal.0.refuse.store(true, Ordering::SeqCst);
    assert!(matches!(store.set("fresh", "a", 1), Err(Error::Refused(_))));
    assert!(matches!(
        store.set_many("fresh", [("a", 1)]),
        Err(Error::Refused(_))
    ));
    journal.0.refuse.store(false, Ordering::SeqCst);
    // As after a write its validator rejected: the kind can be restored.
    store.restore_kind("fresh", 3, [("a", 1, 1)]).unwrap();
}
