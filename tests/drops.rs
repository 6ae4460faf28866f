//! Every stored value is dropped exactly once, and none is kept alive once
//! the store and everything handed out from it are gone: no leaked skip-list
//! node (an unreleased entry), no reference cycle, no double drop.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

use zestor::{Error, Store, WatchOptions};

#[derive(Default)]
struct Counters {
    created: AtomicUsize,
    dropped: AtomicUsize,
}

/// A value that counts its own creation and destruction.
struct Tracked {
    id: u64,
    counters: Arc<Counters>,
}

impl Tracked {
    fn new(id: u64, counters: &Arc<Counters>) -> Self {
        counters.created.fetch_add(1, Ordering::Relaxed);
        Tracked {
            id,
            counters: Arc::clone(counters),
        }
    }
}

impl PartialEq for Tracked {
    fn eq(&self, other: &Self) -> bool {
        self.id == other.id
    }
}

impl Drop for Tracked {
    fn drop(&mut self) {
        self.counters.dropped.fetch_add(1, Ordering::Relaxed);
    }
}

/// Lets crossbeam-epoch run the destructors it deferred (nodes unlinked from
/// the skip lists): each pin-and-flush moves this thread's garbage to the
/// global queue and collects what every thread has since left behind. A
/// finished writer thread hands its garbage over in a thread-local
/// destructor, which may run a moment after `join` returned: hence the wait.
fn collect_deferred_garbage(done: impl Fn() -> bool) {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(5);
    while !done() && std::time::Instant::now() < deadline {
        for _ in 0..64 {
            crossbeam_epoch::pin().flush();
        }
        std::thread::sleep(std::time::Duration::from_millis(1));
    }
}

#[test]
fn every_value_is_dropped_exactly_once() {
    let counters = Arc::new(Counters::default());
    let rounds: u64 = if cfg!(miri) { 20 } else { 2_000 };
    {
        let store = Store::<Tracked>::builder().ring_capacity(16).build();
        let kind = store.kind("k").unwrap();
        let mut replay = store
            .watch("k", WatchOptions::new().replay(true).buffer_size(16))
            .unwrap();
        let mut kept = Vec::new();
        std::thread::scope(|scope| {
            for writer in 0..2u64 {
                let store = &store;
                let counters = &counters;
                scope.spawn(move || {
                    for i in 0..rounds {
                        let key = format!("key-{}", i % 7);
                        let id = writer * 1_000_000 + i;
                        match i % 5 {
                            0 | 1 => drop(store.set("k", &key, Tracked::new(id, counters))),
                            2 => {
                                drop(store.update("k", &key, |_| {
                                    Ok::<_, Error>(Tracked::new(id, counters))
                                }))
                            }
                            3 => drop(store.delete("k", &key)),
                            _ => drop(store.set("other", &key, Tracked::new(id, counters))),
                        }
                    }
                });
            }
            // Hold some handles across the churn: they keep their values alive.
            for _ in 0..10 {
                if let Ok(Some(event)) = replay.try_recv() {
                    kept.push(event.value);
                }
                kept.extend(kind.values().unwrap());
            }
        });
        assert!(
            counters.dropped.load(Ordering::Relaxed) <= counters.created.load(Ordering::Relaxed),
            "nothing is dropped twice"
        );
        drop(kept);
        drop(replay);
        drop(kind);
        drop(store);
    }
    collect_deferred_garbage(|| {
        counters.dropped.load(Ordering::Relaxed) == counters.created.load(Ordering::Relaxed)
    });
    let created = counters.created.load(Ordering::Relaxed);
    let dropped = counters.dropped.load(Ordering::Relaxed);
    assert_eq!(
        dropped, created,
        "every value dropped once the store is gone"
    );
}

#[test]
fn pinned_versions_are_freed_with_their_snapshots() {
    let counters = Arc::new(Counters::default());
    let alive = |counters: &Counters| {
        counters.created.load(Ordering::Relaxed) - counters.dropped.load(Ordering::Relaxed)
    };
    let rounds: u64 = if cfg!(miri) { 10 } else { 500 };
    {
        // A one-slot ring: replaced versions stay alive only where pinned.
        let store = Store::<Tracked>::builder().ring_capacity(1).build();
        store
            .set_many(
                "k",
                (0..4).map(|i| (format!("key-{i}"), Tracked::new(i, &counters))),
            )
            .unwrap();
        let baseline = alive(&counters);
        let held = store.snapshot("k").unwrap();
        std::thread::scope(|scope| {
            for writer in 0..2u64 {
                let (store, counters) = (&store, &counters);
                scope.spawn(move || {
                    for i in 0..rounds {
                        let id = 1_000 + writer * 1_000_000 + i;
                        let key = format!("key-{}", i % 4);
                        match i % 4 {
                            0 => drop(store.set("k", &key, Tracked::new(id, counters))),
                            1 => drop(store.set_many(
                                "k",
                                [
                                    ("key-0".to_owned(), Tracked::new(id, counters)),
                                    (key, Tracked::new(id + 500_000, counters)),
                                ],
                            )),
                            2 => drop(store.transaction("k", |tx| {
                                tx.set("key-2", Tracked::new(id, counters));
                                tx.delete("key-3");
                                Ok::<_, Error>(())
                            })),
                            _ => {
                                // A short-lived snapshot, as every list takes.
                                let snapshot = store.snapshot("k").unwrap();
                                assert!(snapshot.count() <= 4);
                            }
                        }
                    }
                });
            }
        });
        // The held snapshot still reads its four values...
        assert_eq!(held.count(), 4);
        let pinned = alive(&counters) - baseline;
        assert!(pinned > 0, "the held snapshot pinned what it may read");
        drop(held);
        // ...and once it is gone, only the store's own values are left (the
        // kind's current entries, live or deleted, and the ring's one slot;
        // unlinked cells go through epoch reclamation).
        collect_deferred_garbage(|| alive(&counters) <= 4 + 2);
        let after = alive(&counters);
        assert!(
            after <= 4 + 2,
            "dropping the snapshot released its pins: {after} values alive"
        );
        drop(store);
    }
    collect_deferred_garbage(|| alive(&counters) == 0);
    assert_eq!(
        alive(&counters),
        0,
        "every value dropped once the store is gone"
    );
}

/// Issue 11, item 3: dropping the last handle frees every value at once,
/// with no help from crossbeam-epoch's global collector — not even for the
/// keys deleted by a thread that is still alive, whose thread-local garbage
/// nobody flushes.
#[test]
fn dropping_the_store_frees_deleted_values_without_epoch_help() {
    let counters = Arc::new(Counters::default());
    let alive = |counters: &Counters| {
        counters.created.load(Ordering::Relaxed) - counters.dropped.load(Ordering::Relaxed)
    };
    let keys: u64 = if cfg!(miri) { 20 } else { 1_000 };
    let store = Store::<Tracked>::builder().ring_capacity(4).build();
    let (deleted, resume) = (std::sync::Barrier::new(2), std::sync::Barrier::new(2));
    let alive_while_open = std::thread::scope(|scope| {
        let (store, counters) = (&store, &counters);
        let (deleted, resume) = (&deleted, &resume);
        // A writer that stays alive (its epoch bag unflushed) while the
        // store is dropped.
        scope.spawn(move || {
            for i in 0..keys {
                let key = format!("worker-{i}");
                store.set("k", &key, Tracked::new(i, counters)).unwrap();
                store.delete("k", &key).unwrap();
            }
            deleted.wait();
            resume.wait();
        });
        for i in 0..keys {
            let key = format!("main-{i}");
            store.set("k", &key, Tracked::new(i, counters)).unwrap();
            store.delete("k", &key).unwrap();
        }
        deleted.wait();
        // Deleted and lapped out of the ring: nothing should hold them but
        // the last tombstones in the ring. (Asserted after the scope, so a
        // failure does not leave the writer waiting.)
        let alive_while_open = alive(counters);
        resume.wait();
        alive_while_open
    });
    assert!(
        alive_while_open <= 4,
        "deleted values are freed while the store lives: {alive_while_open} alive"
    );
    drop(store);
    assert_eq!(alive(&counters), 0, "dropping the store freed every value");
}

/// A value whose `Drop` panics when it runs on one given thread (the
/// writer's), while armed.
struct Bomb {
    id: u64,
    armed_on: Arc<std::sync::Mutex<Option<std::thread::ThreadId>>>,
}

impl PartialEq for Bomb {
    fn eq(&self, other: &Self) -> bool {
        self.id == other.id
    }
}

impl Drop for Bomb {
    fn drop(&mut self) {
        let armed_on = *self.armed_on.lock().unwrap();
        if armed_on == Some(std::thread::current().id()) && !std::thread::panicking() {
            panic!("a value's Drop panicked (id {})", self.id);
        }
    }
}

/// Issue 11, item 4: a write finishes its protocol — publish, wake — before
/// any value it replaced is dropped, and a panic in that `Drop` neither
/// reports the stored write as failed nor loses the sleeping watcher's
/// wake-up.
#[test]
fn a_panicking_drop_neither_fails_the_write_nor_loses_a_wake_up() {
    use std::sync::mpsc;
    use std::time::Duration;
    let armed_on = Arc::new(std::sync::Mutex::new(None));
    let bomb = |id| Bomb {
        id,
        armed_on: Arc::clone(&armed_on),
    };
    // Two slots: every write after the second displaces a version that
    // nothing else holds, so the writer drops its value.
    let store = Store::<Bomb>::builder().ring_capacity(2).build();
    let watch = store
        .watch("k", WatchOptions::new().buffer_size(2))
        .unwrap();
    let (received, report) = mpsc::channel();
    let watcher = std::thread::spawn(move || {
        let mut watch = watch;
        while let Ok(Some(event)) = watch.recv_timeout(Duration::from_secs(10)) {
            if received.send(event.revision).is_err() {
                break;
            }
        }
    });
    *armed_on.lock().unwrap() = Some(std::thread::current().id());
    let quiet = std::panic::take_hook();
    std::panic::set_hook(Box::new(|_| {}));
    let mut outcome = Ok(());
    for id in 1..=20u64 {
        let written = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            store.set("k", &format!("key-{}", id % 3), bomb(id))
        }));
        if !matches!(written, Ok(Ok(_))) {
            outcome = Err(format!("write {id} reported failure after storing"));
            break;
        }
        // The watcher, asleep, must be woken now, not at its timeout.
        match report.recv_timeout(Duration::from_secs(2)) {
            Ok(revision) if revision == id => {}
            other => {
                outcome = Err(format!("write {id}: the watcher got {other:?}"));
                break;
            }
        }
    }
    *armed_on.lock().unwrap() = None;
    std::panic::set_hook(quiet);
    // Every write stayed stored: the three keys, each at its last value.
    let stored = store.count("k");
    let last = store.get("k", "key-2").map(|value| value.map(|v| v.id));
    store.close();
    watcher.join().unwrap();
    outcome.unwrap();
    assert_eq!(stored.unwrap(), 3);
    assert_eq!(last.unwrap(), Some(20));
}
