//! Contract 30–32: mirrors — a replica of a kind that re-syncs itself.
//!
//! The checker here replays every event a mirror yields onto a map of its
//! own and compares that map with `mirror.list()` after each event, and
//! with the store once the mirror has caught up.

use std::collections::BTreeMap;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::task::{Context, Poll, Wake, Waker};
use std::thread;
use std::time::{Duration, Instant};

use futures::{Stream, StreamExt};
use zestor::{Error, Event, EventType, Mirror, Store, WatchError, WatchOptions};

/// What the consumer built from the events, checked as it goes.
#[derive(Default)]
struct Replayed {
    map: BTreeMap<String, u64>,
    events: usize,
}

impl Replayed {
    /// Applies `event`, checking its type and `previous` against what the
    /// consumer was shown before.
    fn apply(&mut self, event: &Event<u64>) {
        let key = event.key.to_string();
        let before = self.map.get(&key).copied();
        let previous = event.previous.as_deref().copied();
        match event.event_type {
            EventType::Create => {
                assert_eq!(before, None, "a create for a key already shown: {event:?}");
                assert_eq!(previous, None, "{event:?}");
                self.map.insert(key, *event.value);
            }
            EventType::Update => {
                assert!(
                    before.is_some(),
                    "an update of a key never shown: {event:?}"
                );
                assert_eq!(previous, before, "{event:?}");
                self.map.insert(key, *event.value);
            }
            EventType::Delete => {
                assert_eq!(before, Some(*event.value), "{event:?}");
                assert_eq!(previous, before, "{event:?}");
                self.map.remove(&key);
            }
        }
        self.events += 1;
    }

    /// The invariant: the yielded events rebuild exactly `mirror.list()`.
    fn check(&self, mirror: &Mirror<u64>) {
        assert_eq!(
            self.map,
            as_map(&mirror.list()),
            "replayed events vs list()"
        );
        assert_eq!(self.map.len(), mirror.len());
    }
}

fn as_map(entries: &[(Arc<str>, zestor::Value<u64>)]) -> BTreeMap<String, u64> {
    entries
        .iter()
        .map(|(key, value)| (key.to_string(), **value))
        .collect()
}

/// Receives everything the mirror has ready, checking after each event.
fn drain(mirror: &mut Mirror<u64>, replayed: &mut Replayed) {
    while let Some(event) = mirror.try_recv().unwrap() {
        replayed.apply(&event);
        replayed.check(mirror);
    }
}

/// Once writers stopped: the mirror holds exactly the store's state.
fn assert_converged(
    store: &Store<u64>,
    kind: &str,
    mirror: &mut Mirror<u64>,
    replayed: &mut Replayed,
) {
    // The events are checked one by one, the list once at the end: on a
    // big kind a list per event would be quadratic.
    while let Some(event) = mirror.try_recv().unwrap() {
        replayed.apply(&event);
    }
    replayed.check(mirror);
    assert_eq!(mirror.pending(), 0);
    let snapshot = store.snapshot(kind).unwrap();
    assert_eq!(mirror.revision(), snapshot.revision());
    assert_eq!(as_map(&mirror.list()), as_map(&snapshot.list()));
    assert_eq!(replayed.map, as_map(&snapshot.list()));
}

#[test]
fn a_new_mirror_yields_the_entries_as_creates_then_every_change() {
    // Contract 30.
    let store = Store::<u64>::new();
    for (key, value) in [("b", 2), ("a", 1), ("c", 3)] {
        store.set("k", key, value).unwrap();
    }
    let mut mirror = store.mirror("k").unwrap();
    assert_eq!(mirror.revision(), 3);
    assert!(mirror.is_empty(), "nothing shown yet");
    assert_eq!(mirror.pending(), 3);
    let mut replayed = Replayed::default();
    let replay: Vec<_> = (0..3).map(|_| mirror.recv().unwrap()).collect();
    for event in &replay {
        replayed.apply(event);
        assert_eq!(event.event_type, EventType::Create);
        assert_eq!(event.revision, 3, "stamped with the snapshot's revision");
    }
    let keys: Vec<&str> = replay.iter().map(|event| &*event.key).collect();
    assert_eq!(keys, ["a", "b", "c"], "key order");
    replayed.check(&mirror);

    store.set("k", "a", 10).unwrap();
    store.delete("k", "b").unwrap();
    store.set("k", "d", 4).unwrap();
    store.set_many("k", [("c", 30), ("e", 5)]).unwrap();
    let expected = [
        (EventType::Update, "a", 10, 4),
        (EventType::Delete, "b", 2, 5),
        (EventType::Create, "d", 4, 6),
        (EventType::Update, "c", 30, 7),
        (EventType::Create, "e", 5, 7),
    ];
    for (event_type, key, value, revision) in expected {
        let event = mirror.recv().unwrap();
        assert_eq!(
            (event.event_type, &*event.key, *event.value, event.revision),
            (event_type, key, value, revision)
        );
        replayed.apply(&event);
        replayed.check(&mirror);
    }
    assert_eq!(mirror.get("c").as_deref(), Some(&30));
    assert_eq!(mirror.get("b"), None);
    assert_eq!(mirror.resyncs(), 0);
    assert_converged(&store, "k", &mut mirror, &mut replayed);
}

#[test]
fn a_mirror_that_falls_behind_yields_only_the_difference() {
    // Contract 31: buffer 1, so any two unread writes overflow its watch.
    let store = Store::<u64>::builder().ring_capacity(4).build();
    for i in 0..100 {
        store.set("k", &format!("key{i:03}"), i).unwrap();
    }
    let mut mirror = store
        .mirror_with("k", WatchOptions::new().buffer_size(1))
        .unwrap();
    let mut replayed = Replayed::default();
    drain(&mut mirror, &mut replayed);
    assert_eq!(replayed.events, 100);

    // Ten changes while the consumer is away: the ring (4) moves past them.
    for i in 0..5 {
        store.set("k", &format!("key{i:03}"), 1000 + i).unwrap();
    }
    for i in 5..8 {
        store.delete("k", &format!("key{i:03}")).unwrap();
    }
    store.set("k", "new1", 1).unwrap();
    store.set("k", "new2", 2).unwrap();
    let revision = store.revision("k").unwrap();
    let before = replayed.events;
    let mut resynced = Vec::new();
    while let Some(event) = mirror.try_recv().unwrap() {
        replayed.apply(&event);
        replayed.check(&mirror);
        resynced.push(event);
    }
    assert_eq!(mirror.resyncs(), 1);
    assert_eq!(replayed.events - before, 10, "the changes, not the kind");
    assert!(resynced.iter().all(|event| event.revision == revision));
    let keys: Vec<&str> = resynced.iter().map(|event| &*event.key).collect();
    let mut sorted = keys.clone();
    sorted.sort_unstable();
    assert_eq!(keys, sorted, "a resync's differences come in key order");
    assert_converged(&store, "k", &mut mirror, &mut replayed);
}

#[test]
fn a_resync_with_no_change_yields_nothing() {
    // Contract 31: writes that cancel out while the consumer is away.
    let store = Store::<u64>::builder().ring_capacity(2).build();
    store.set("k", "a", 1).unwrap();
    let mut mirror = store
        .mirror_with("k", WatchOptions::new().buffer_size(1))
        .unwrap();
    assert_eq!(*mirror.recv().unwrap().value, 1);
    store.set("k", "a", 2).unwrap();
    store.set("k", "b", 2).unwrap();
    store.delete("k", "b").unwrap();
    store.set("k", "a", 1).unwrap(); // a value equal to the shown one, but a new write
    let event = mirror.try_recv().unwrap().expect("a was rewritten");
    assert_eq!((event.event_type, *event.value), (EventType::Update, 1));
    assert_eq!(mirror.try_recv().unwrap().map(|event| event.key), None);
    assert_eq!(mirror.resyncs(), 1);
}

#[test]
fn a_backlog_holds_one_change_per_key() {
    // Contract 31: a consumer away for 1,000 writes on 10 keys.
    let store = Store::<u64>::new();
    let mut mirror = store.mirror("k").unwrap();
    let mut replayed = Replayed::default();
    store.set("k", "first", 0).unwrap();
    // One event out, with more queued behind it, leaves the mirror in
    // backlog mode on the next call.
    for i in 0..1000u64 {
        store.set("k", &format!("key{}", i % 10), i).unwrap();
        if i == 500 {
            let event = mirror.recv().unwrap();
            replayed.apply(&event);
        }
    }
    let mut seen = 0;
    while let Some(event) = mirror.try_recv().unwrap() {
        assert!(mirror.pending() <= 11, "{} pending", mirror.pending());
        replayed.apply(&event);
        replayed.check(&mirror);
        seen += 1;
    }
    assert!(seen <= 11 + 500, "coalesced: {seen} events");
    assert_converged(&store, "k", &mut mirror, &mut replayed);
}

#[test]
fn a_consumer_100_times_slower_than_a_flat_out_writer_converges() {
    // Contract 31. The writer runs flat out for a while; the consumer
    // sleeps 100 times longer per event than a write takes.
    let store = Store::<u64>::builder().ring_capacity(64).build();
    for i in 0..1_000u64 {
        store.set("k", &format!("key{i:04}"), i).unwrap();
    }
    let mut mirror = store
        .mirror_with("k", WatchOptions::new().buffer_size(64))
        .unwrap();
    let stop = Arc::new(AtomicBool::new(false));
    let writes = Arc::new(AtomicU64::new(0));
    let writer = {
        let (store, stop, writes) = (store.clone(), Arc::clone(&stop), Arc::clone(&writes));
        thread::spawn(move || {
            let mut i = 0u64;
            let started = Instant::now();
            while !stop.load(Ordering::Relaxed) {
                let key = format!("key{:04}", (i * 7919) % 1_200);
                if i % 10 == 9 {
                    store.delete("k", &key).unwrap();
                } else {
                    store.set("k", &key, i).unwrap();
                }
                i += 1;
            }
            writes.store(i, Ordering::Relaxed);
            started.elapsed() / i.max(1) as u32
        })
    };
    let mut replayed = Replayed::default();
    let deadline = Instant::now() + Duration::from_millis(600);
    let mut slow_events = 0;
    while Instant::now() < deadline {
        if let Some(event) = mirror.recv_timeout(Duration::from_millis(10)).unwrap() {
            replayed.apply(&event);
            slow_events += 1;
            thread::sleep(Duration::from_micros(100));
        }
    }
    stop.store(true, Ordering::Relaxed);
    let per_write = writer.join().unwrap();
    let writes = writes.load(Ordering::Relaxed);
    replayed.check(&mirror);
    assert_converged(&store, "k", &mut mirror, &mut replayed);
    assert!(
        mirror.resyncs() > 0,
        "{writes} writes ({per_write:?} each) against {slow_events} slow events never overflowed"
    );
    assert!(
        (slow_events as u64) < writes,
        "the consumer was slower than the writer"
    );
}

/// A store of 100K keys and a thread that updates them, pausing 10 ms
/// every `burst` writes (`None`: flat out) until told to stop; it returns
/// how many writes it made.
fn hundred_thousand_keys_under_a_writer(
    store: &Store<u64>,
    burst: Option<u64>,
) -> (Arc<AtomicBool>, thread::JoinHandle<u64>) {
    let items: Vec<(String, u64)> = (0..100_000u64).map(|i| (format!("key{i:06}"), i)).collect();
    for chunk in items.chunks(10_000) {
        store.set_many("k", chunk.to_vec()).unwrap();
    }
    let stop = Arc::new(AtomicBool::new(false));
    let writer = {
        let (store, stop) = (store.clone(), Arc::clone(&stop));
        thread::spawn(move || {
            let mut i = 0u64;
            while !stop.load(Ordering::Relaxed) {
                store
                    .set("k", &format!("key{:06}", (i * 7919) % 100_000), i)
                    .unwrap();
                i += 1;
                if burst.is_some_and(|burst| i % burst == 0) {
                    thread::sleep(Duration::from_millis(10));
                }
            }
            i
        })
    };
    (stop, writer)
}

/// Consumes the mirror for half a second, stops the writer, and checks the
/// mirror converges.
fn follow_then_converge(
    store: &Store<u64>,
    mirror: &mut Mirror<u64>,
    stop: &AtomicBool,
    writer: thread::JoinHandle<u64>,
    min_writes: u64,
) -> Replayed {
    let mut replayed = Replayed::default();
    let deadline = Instant::now() + Duration::from_millis(500);
    while Instant::now() < deadline {
        if let Some(event) = mirror.recv_timeout(Duration::from_millis(10)).unwrap() {
            replayed.apply(&event);
        }
    }
    stop.store(true, Ordering::Relaxed);
    let writes = writer.join().unwrap();
    assert!(writes > min_writes, "the writer ran ({writes} writes)");
    assert_converged(store, "k", mirror, &mut replayed);
    replayed
}

#[test]
fn a_mirror_converges_on_100k_keys_under_writes() {
    // The scenario re-list and re-watch never completes (issue 9): 100K
    // keys, writers at about 5,000 writes/s, and the default buffer. A
    // mirror's first sync walks the kind while draining its watch.
    let store = Store::<u64>::new();
    let (stop, writer) = hundred_thousand_keys_under_a_writer(&store, Some(50));
    thread::sleep(Duration::from_millis(20));
    let mut mirror = store.mirror("k").unwrap();
    let replayed = follow_then_converge(&store, &mut mirror, &stop, writer, 100);
    assert_eq!(replayed.map.len(), 100_000);
}

#[test]
fn a_mirror_converges_under_100k_writes_per_second_with_buffer_equal_to_ring() {
    // Issue 9's second scenario: a flat-out writer, buffer = ring = 1,024.
    let store = Store::<u64>::builder().ring_capacity(1024).build();
    let (stop, writer) = hundred_thousand_keys_under_a_writer(&store, None);
    let mut mirror = store
        .mirror_with("k", WatchOptions::new().buffer_size(1024))
        .unwrap();
    follow_then_converge(&store, &mut mirror, &stop, writer, 1_000);
}

#[test]
fn a_mirror_with_a_prefix_holds_only_those_keys() {
    // Contract 32.
    let store = Store::<u64>::new();
    store.set("k", "app/a", 1).unwrap();
    store.set("k", "apple", 2).unwrap();
    store.set("k", "db/a", 3).unwrap();
    let mut mirror = store
        .mirror_with("k", WatchOptions::new().prefix("app/"))
        .unwrap();
    let mut replayed = Replayed::default();
    store.set("k", "app/b", 4).unwrap();
    store.set("k", "db/b", 5).unwrap();
    store.delete("k", "app/a").unwrap();
    drain(&mut mirror, &mut replayed);
    assert_eq!(replayed.map, BTreeMap::from([("app/b".to_owned(), 4)]));
    assert_eq!(mirror.revision(), store.revision("k").unwrap());
    let prefixed = store.prefix("k", "app/").unwrap();
    assert_eq!(as_map(&mirror.list()), as_map(&prefixed));
}

#[test]
fn an_event_type_filter_hides_events_not_state() {
    // Contract 32.
    let store = Store::<u64>::new();
    store.set("k", "a", 1).unwrap();
    let mut mirror = store
        .mirror_with("k", WatchOptions::new().event_types(&[EventType::Delete]))
        .unwrap();
    store.set("k", "a", 2).unwrap();
    store.set("k", "b", 3).unwrap();
    store.delete("k", "a").unwrap();
    let event = mirror.recv().unwrap();
    assert_eq!(
        (event.event_type, &*event.key, *event.value),
        (EventType::Delete, "a", 2)
    );
    assert_eq!(event.previous.as_deref(), Some(&2));
    assert_eq!(mirror.try_recv().unwrap().map(|event| event.key), None);
    assert_eq!(
        as_map(&mirror.list()),
        BTreeMap::from([("b".to_owned(), 3)])
    );
}

#[test]
fn mirror_options_that_do_not_apply_are_rejected() {
    let store = Store::<u64>::new();
    for options in [
        WatchOptions::new().replay(true),
        WatchOptions::new().start_revision(1),
        WatchOptions::new().buffer_size(0),
    ] {
        let error = store.mirror_with("k", options).unwrap_err();
        assert!(matches!(error, Error::InvalidArgument(_)), "{error}");
    }
    store.close();
    assert!(matches!(store.mirror("k"), Err(Error::Closed)));
}

#[test]
fn a_kind_handle_mirrors_too() {
    let store = Store::<u64>::new();
    let kind = store.kind("k").unwrap();
    kind.set("a", 1).unwrap();
    let mut mirror = kind.mirror().unwrap();
    assert_eq!(mirror.kind(), "k");
    assert_eq!(*mirror.recv().unwrap().value, 1);
    let mut prefixed = kind.mirror_with(WatchOptions::new().prefix("b")).unwrap();
    assert_eq!(prefixed.try_recv().unwrap().map(|event| event.key), None);
}

#[test]
fn close_ends_a_blocked_recv() {
    // Contract 31: only close ends a mirror.
    let store = Store::<u64>::new();
    let mut mirror = store.mirror("k").unwrap();
    let blocked = thread::spawn(move || {
        let result = mirror.recv().map(|event| event.key);
        (result, mirror)
    });
    thread::sleep(Duration::from_millis(50));
    store.close();
    let (result, mut mirror) = blocked.join().unwrap();
    assert_eq!(result, Err(WatchError::Closed));
    assert!(mirror.is_closed());
    assert_eq!(mirror.try_recv().map(|_| ()), Err(WatchError::Closed));
    assert!(mirror.next().is_none(), "the iterator ends");
}

struct Flag(AtomicBool);

impl Wake for Flag {
    fn wake(self: Arc<Self>) {
        self.0.store(true, Ordering::SeqCst);
    }
}

#[test]
fn close_ends_a_pending_stream() {
    // Contract 31.
    let store = Store::<u64>::new();
    store.set("k", "a", 1).unwrap();
    let mut stream = store.mirror("k").unwrap().into_stream();
    let woken = Arc::new(Flag(AtomicBool::new(false)));
    let waker = Waker::from(Arc::clone(&woken));
    let mut cx = Context::from_waker(&waker);
    match Pin::new(&mut stream).poll_next(&mut cx) {
        Poll::Ready(Some(event)) => assert_eq!(*event.value, 1),
        other => panic!(
            "expected the replayed entry, got {:?}",
            other.map(|e| e.map(|e| e.key))
        ),
    }
    assert!(Pin::new(&mut stream).poll_next(&mut cx).is_pending());
    store.set("k", "a", 2).unwrap();
    assert!(
        woken.0.swap(false, Ordering::SeqCst),
        "a write wakes the pending poll"
    );
    match Pin::new(&mut stream).poll_next(&mut cx) {
        Poll::Ready(Some(event)) => assert_eq!(event.previous.as_deref(), Some(&1)),
        other => panic!(
            "expected the update, got {:?}",
            other.map(|e| e.map(|e| e.key))
        ),
    }
    assert!(Pin::new(&mut stream).poll_next(&mut cx).is_pending());
    store.close();
    assert!(
        woken.0.load(Ordering::SeqCst),
        "close wakes the pending poll"
    );
    assert!(matches!(
        Pin::new(&mut stream).poll_next(&mut cx),
        Poll::Ready(None)
    ));
    assert_eq!(stream.get_ref().get("a").as_deref(), Some(&2));
}

#[test]
fn a_stream_follows_writers_to_the_end() {
    let store = Store::<u64>::builder().ring_capacity(8).build();
    let stream = store
        .mirror_with("k", WatchOptions::new().buffer_size(2))
        .unwrap()
        .into_stream();
    let writer = {
        let store = store.clone();
        thread::spawn(move || {
            for i in 0..2_000u64 {
                store.set("k", &format!("key{}", i % 37), i).unwrap();
            }
            store.set("k", "done", 0).unwrap();
        })
    };
    let mut replayed = Replayed::default();
    let stream = futures::executor::block_on(async {
        let mut stream = stream;
        let mut done = false;
        while let Some(event) = stream.next().await {
            replayed.apply(&event);
            done |= &*event.key == "done";
            if done && stream.get_ref().pending() == 0 {
                break;
            }
        }
        stream
    });
    writer.join().unwrap();
    replayed.check(stream.get_ref());
    let mut mirror = stream.into_inner();
    assert_converged(&store, "k", &mut mirror, &mut replayed);
}
