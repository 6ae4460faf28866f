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
