//! History retention (issue 11, item 1): what a kind keeps for watches that
//! resume from the past is the user's choice (`StoreBuilder::history`), and
//! nothing beyond it — nor beyond what the watchers can still read — stays
//! alive. Counted with values that count their own drops.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use zestor::{Error, Store, WatchOptions};

/// A value that counts how many of its kind are alive.
struct Counted {
    id: u64,
    alive: Arc<AtomicUsize>,
}

impl Counted {
    fn new(id: u64, alive: &Arc<AtomicUsize>) -> Self {
        alive.fetch_add(1, Ordering::Relaxed);
        Counted {
            id,
            alive: Arc::clone(alive),
        }
    }
}

impl PartialEq for Counted {
    fn eq(&self, other: &Self) -> bool {
        self.id == other.id
    }
}

impl Drop for Counted {
    fn drop(&mut self) {
        self.alive.fetch_sub(1, Ordering::Relaxed);
    }
}

fn alive(counter: &AtomicUsize) -> usize {
    counter.load(Ordering::Relaxed)
}

#[test]
fn overwrites_of_an_unwatched_kind_keep_only_its_history() {
    // The case: 300 overwrites of one key kept 300 values (1.2 GB
    // at 4 MB each) on the default 1,024-slot ring.
    let counter = Arc::new(AtomicUsize::new(0));
    let store = Store::<Counted>::new();
    for id in 0..300 {
        store
            .set("blobs", "big", Counted::new(id, &counter))
            .unwrap();
    }
    assert_eq!(store.count("blobs").unwrap(), 1);
    assert_eq!(
        alive(&counter),
        16,
        "the default history: the live value and the 15 it replaced last"
    );
}

#[test]
fn no_history_keeps_nothing_but_the_live_values() {
    let counter = Arc::new(AtomicUsize::new(0));
    let store = Store::<Counted>::builder().history(0).build();
    for id in 0..1_000 {
        store
            .set("k", &format!("key-{}", id % 10), Counted::new(id, &counter))
            .unwrap();
    }
    assert_eq!(alive(&counter), 10, "only the live values");
    for key in 0..10 {
        store.delete("k", &format!("key-{key}")).unwrap();
    }
    assert_eq!(alive(&counter), 0, "deleting frees, with nobody watching");
}

#[test]
fn writes_to_another_kind_leave_history_alone_but_close_frees_it() {
    let counter = Arc::new(AtomicUsize::new(0));
    let store = Store::<Counted>::builder().history(1024).build();
    for id in 0..100 {
        store.set("k", "one", Counted::new(id, &counter)).unwrap();
    }
    store
        .set("other", "x", Counted::new(1_000, &counter))
        .unwrap();
    assert_eq!(alive(&counter), 101, "history is per kind");
    store.close();
    assert_eq!(
        alive(&counter),
        2,
        "close releases every ring; the live values stay until the last handle"
    );
    drop(store);
    assert_eq!(alive(&counter), 0);
}

#[test]
fn a_watched_kind_keeps_what_its_watchers_may_read_and_lets_go_after() {
    let counter = Arc::new(AtomicUsize::new(0));
    let store = Store::<Counted>::builder()
        .ring_capacity(64)
        .history(0)
        .build();
    let mut watch = store
        .watch("k", WatchOptions::new().buffer_size(64))
        .unwrap();
    for id in 0..50 {
        store.set("k", "one", Counted::new(id, &counter)).unwrap();
    }
    // The watcher has read nothing yet: all 50 are in the ring for it (and
    // each update holds what it replaced, which is the one before).
    assert_eq!(alive(&counter), 50);
    for id in 0..50 {
        let event = watch.try_recv().unwrap().expect("every event is there");
        assert_eq!(event.value.id, id, "in order, none released under it");
    }
    drop(watch);
    store.set("k", "one", Counted::new(50, &counter)).unwrap();
    assert_eq!(
        alive(&counter),
        1,
        "the first write nobody watches releases what the watcher kept"
    );
}

#[test]
fn a_resume_within_history_works_and_one_before_it_is_compacted() {
    let store = Store::<u64>::builder().history(8).build();
    for value in 1..=40u64 {
        store.set("k", "key", value).unwrap();
    }
    // Revisions 33..=40 are kept.
    let mut watch = store
        .watch("k", WatchOptions::new().start_revision(33))
        .unwrap();
    let received: Vec<u64> = std::iter::from_fn(|| watch.try_recv().unwrap())
        .map(|event| *event.value)
        .collect();
    assert_eq!(received, (33..=40).collect::<Vec<_>>());
    match store.watch("k", WatchOptions::new().start_revision(32)) {
        Err(Error::Compacted { requested, oldest }) => {
            assert_eq!((requested, oldest), (32, 33));
        }
        other => panic!("expected Compacted, got {other:?}"),
    }
}

#[test]
fn a_mirror_syncs_without_history_under_a_busy_writer() {
    // A mirror subscribes before its snapshot, so it needs no history: with
    // none at all, under a writer that never pauses, it still converges.
    let store = Store::<u64>::builder().history(0).build();
    let mut mirror = store.mirror("k").unwrap();
    let stop = std::sync::atomic::AtomicBool::new(false);
    std::thread::scope(|scope| {
        scope.spawn(|| {
            let mut value = 0;
            while !stop.load(Ordering::Relaxed) {
                value += 1;
                store
                    .set("k", &format!("key-{}", value % 50), value)
                    .unwrap();
            }
        });
        let mut events = 0;
        while events < 2_000 {
            if mirror
                .recv_timeout(Duration::from_secs(5))
                .unwrap()
                .is_some()
            {
                events += 1;
            } else {
                panic!("the mirror stalled");
            }
        }
        stop.store(true, Ordering::Relaxed);
    });
    while mirror.try_recv().unwrap().is_some() {}
    let snapshot = store.snapshot("k").unwrap();
    assert_eq!(mirror.revision(), snapshot.revision());
    assert_eq!(mirror.len(), snapshot.count());
}

#[test]
fn history_is_clamped_to_the_ring() {
    let store = Store::<u64>::builder()
        .ring_capacity(4)
        .history(1_000)
        .build();
    for value in 1..=10u64 {
        store.set("k", "key", value).unwrap();
    }
    assert!(store
        .watch("k", WatchOptions::new().start_revision(7).buffer_size(4))
        .is_ok());
    assert!(matches!(
        store.watch("k", WatchOptions::new().start_revision(6).buffer_size(4)),
        Err(Error::Compacted { .. })
    ));
}
