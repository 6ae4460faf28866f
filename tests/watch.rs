//! Contract 11–17: watch streams.

use std::collections::BTreeMap;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Barrier};
use std::task::{Context, Poll, Wake, Waker};
use std::thread;
use std::time::Duration;

use zestor::{Event, EventType, Store, Watch, WatchError, WatchOptions};

/// Applies an event to a replica, the way a consumer would.
fn apply<T: Clone>(replica: &mut BTreeMap<String, T>, event: &Event<T>) {
    match event.event_type {
        EventType::Create | EventType::Update => {
            replica.insert(event.key.to_string(), (*event.value).clone());
        }
        EventType::Delete => {
            replica.remove(&*event.key);
        }
    }
}

fn snapshot<T: Clone + PartialEq + Send + Sync + 'static>(
    store: &Store<T>,
    kind: &str,
) -> BTreeMap<String, T> {
    store
        .list(kind)
        .unwrap()
        .into_iter()
        .map(|(k, v)| (k.to_string(), (*v).clone()))
        .collect()
}

fn drain<T: Send + Sync + 'static>(watch: &mut Watch<T>) -> Vec<Event<T>> {
    let mut events = Vec::new();
    while let Some(event) = watch.try_recv().unwrap() {
        events.push(event);
    }
    events
}

#[test]
fn events_describe_each_write_of_the_kind_only() {
    // Contract 11.
    let store = Store::<String>::new();
    let mut watch = store.watch("users", WatchOptions::new()).unwrap();
    store.set("users", "alice", "A".into()).unwrap();
    store.set("products", "laptop", "L".into()).unwrap();
    store.set("users", "alice", "A2".into()).unwrap();
    let alice_revision = store.revision("users").unwrap();
    store.delete("users", "alice").unwrap();
    store.delete("products", "laptop").unwrap();

    let events = drain(&mut watch);
    let summary: Vec<(&str, EventType, &str)> = events
        .iter()
        .map(|e| (&*e.key, e.event_type, e.value.as_str()))
        .collect();
    assert_eq!(
        summary,
        [
            ("alice", EventType::Create, "A"),
            ("alice", EventType::Update, "A2"),
            ("alice", EventType::Delete, "A2"), // a delete carries the previous value
        ]
    );
    assert!(events.iter().all(|e| &*e.kind == "users"));
    assert!(events.windows(2).all(|w| w[0].revision < w[1].revision));
    assert_eq!(events[1].revision, alice_revision);
    assert_eq!(events[2].revision, store.revision("users").unwrap());
    assert_eq!(events[1].value.revision(), events[1].revision);
}

#[test]
fn racing_writers_on_one_key_end_on_the_stored_value() {
    // Contract 12: the last event delivered equals what get returns, and a
    // consumer applying events in order converges, however the writers race.
    let rounds = if cfg!(miri) { 2 } else { 200 };
    let writes = if cfg!(miri) { 5 } else { 200 };
    for round in 0..rounds {
        let store = Store::<(usize, usize)>::new();
        let mut watch = store
            .watch("k", WatchOptions::new().buffer_size(1024))
            .unwrap();
        let start = Barrier::new(2);
        thread::scope(|scope| {
            for writer in 0..2 {
                let store = &store;
                let start = &start;
                scope.spawn(move || {
                    start.wait();
                    for i in 0..writes {
                        store.set("k", "hot", (writer, i)).unwrap();
                    }
                });
            }
        });
        let events = drain(&mut watch);
        assert!(events.windows(2).all(|w| w[0].revision < w[1].revision));
        let last = events.last().expect("at least one event");
        let stored = store.get("k", "hot").unwrap().unwrap();
        assert_eq!(
            *last.value, *stored,
            "round {round}: last event vs stored value"
        );
        assert_eq!(last.revision, stored.revision());
        // Each writer's own writes arrive in its program order (I2).
        for writer in 0..2 {
            let mine: Vec<usize> = events
                .iter()
                .filter(|e| e.value.0 == writer)
                .map(|e| e.value.1)
                .collect();
            assert!(
                mine.windows(2).all(|w| w[0] < w[1]),
                "round {round}: writer {writer} reordered"
            );
        }
    }
}

#[test]
fn many_threads_on_few_keys_converge() {
    // Contract 12 with set, update and delete mixed.
    let store = Store::<u64>::new();
    let mut watch = store
        .watch("k", WatchOptions::new().replay(true).buffer_size(1024))
        .unwrap();
    let mut replica = BTreeMap::new();
    let stop = AtomicBool::new(false);
    let per_thread = if cfg!(miri) { 10 } else { 3_000 };
    thread::scope(|scope| {
        let writers: Vec<_> = (0..3u64)
            .map(|t| {
                let store = &store;
                scope.spawn(move || {
                    for i in 0..per_thread {
                        let key = format!("k{}", (i * 7 + t) % 5);
                        match i % 4 {
                            0 | 1 => drop(store.set("k", &key, t * 1_000_000 + i)),
                            2 => drop(store.update("k", &key, |v| Ok::<_, zestor::Error>(v + 1))),
                            _ => drop(store.delete("k", &key)),
                        }
                    }
                })
            })
            .collect();
        // Consume concurrently; on overflow, re-list and re-watch (the
        // documented remedy) and keep going.
        let consumer = scope.spawn(|| loop {
            match watch.recv_timeout(Duration::from_millis(20)) {
                Ok(Some(event)) => apply(&mut replica, &event),
                Ok(None) if stop.load(Ordering::Acquire) => break,
                Ok(None) => {}
                Err(WatchError::Overflow) => {
                    replica.clear();
                    watch = store
                        .watch("k", WatchOptions::new().replay(true).buffer_size(1024))
                        .unwrap();
                }
                Err(WatchError::Closed) => panic!("nobody closed the store"),
            }
        });
        for writer in writers {
            writer.join().unwrap();
        }
        stop.store(true, Ordering::Release);
        consumer.join().unwrap();
    });
    assert_eq!(replica, snapshot(&store, "k"));
}

#[test]
fn replay_delivers_current_entries_first_in_key_order() {
    // Contract 13.
    let store = Store::<i32>::new();
    store.set("k", "b", 2).unwrap();
    store.set("k", "a", 1).unwrap();
    store.set("k", "c", 3).unwrap();
    store.delete("k", "c").unwrap();
    let mut watch = store.watch("k", WatchOptions::new().replay(true)).unwrap();
    store.set("k", "a", 10).unwrap();
    store.set("k", "d", 4).unwrap();
    let events = drain(&mut watch);
    let summary: Vec<(&str, EventType, i32)> = events
        .iter()
        .map(|e| (&*e.key, e.event_type, *e.value))
        .collect();
    assert_eq!(
        summary,
        [
            ("a", EventType::Create, 1),
            ("b", EventType::Create, 2),
            ("a", EventType::Update, 10),
            ("d", EventType::Create, 4),
        ]
    );
    // Replayed events carry the revision of the write that stored the value.
    assert!(
        events[0].revision > events[1].revision,
        "a was written after b"
    );
}

#[test]
fn replay_racing_live_writes_never_goes_back() {
    // Contract 13 / I5: writers only ever increase each key's value, so a
    // consumer must never see a key's value decrease — a replayed value that
    // overwrote a newer live one would show up as a decrease. And the replica
    // ends equal to the store.
    let rounds = if cfg!(miri) { 2 } else { 300 };
    for round in 0..rounds {
        let store = Store::<u64>::new();
        for key in 0..8 {
            store.set("k", &format!("key-{key}"), 0).unwrap();
        }
        let start = Barrier::new(3);
        let mut watch = thread::scope(|scope| {
            for writer in 0..2u64 {
                let store = &store;
                let start = &start;
                scope.spawn(move || {
                    start.wait();
                    for i in 0..40u64 {
                        let key = format!("key-{}", (i + writer) % 8);
                        store
                            .update("k", &key, |v| Ok::<_, zestor::Error>(v + 1))
                            .unwrap();
                    }
                });
            }
            start.wait();
            store
                .watch("k", WatchOptions::new().replay(true).buffer_size(1024))
                .unwrap()
        });
        // The writers are done: everything is published.
        let events = drain(&mut watch);
        let mut replica = BTreeMap::new();
        let mut live_revision = 0;
        for event in &events {
            if let Some(&old) = replica.get(&*event.key) {
                assert!(
                    *event.value >= old,
                    "round {round}: {} went back from {old} to {}",
                    event.key,
                    *event.value
                );
            }
            if replica.len() == 8 || event.event_type != EventType::Create {
                assert!(
                    event.revision > live_revision,
                    "live events in revision order"
                );
                live_revision = event.revision;
            }
            apply(&mut replica, event);
        }
        assert_eq!(replica, snapshot(&store, "k"), "round {round}");
    }
}

#[test]
fn writes_after_watch_returns_arrive_as_their_own_events() {
    // Contract 13.
    let store = Store::<i32>::new();
    store.set("k", "a", 1).unwrap();
    let mut watch = store.watch("k", WatchOptions::new().replay(true)).unwrap();
    store.set("k", "a", 1).unwrap(); // unchanged: no event
    store.set("k", "a", 2).unwrap();
    let events = drain(&mut watch);
    assert_eq!(events.len(), 2);
    assert_eq!(
        (events[0].event_type, *events[0].value),
        (EventType::Create, 1)
    );
    assert_eq!(
        (events[1].event_type, *events[1].value),
        (EventType::Update, 2)
    );
}

#[test]
fn event_type_filter_delivers_only_chosen_types() {
    // Contract 14.
    let store = Store::<i32>::new();
    store.set("k", "existing", 0).unwrap();
    let mut creates_and_deletes = store
        .watch(
            "k",
            WatchOptions::new()
                .replay(true)
                .event_types(&[EventType::Create, EventType::Delete]),
        )
        .unwrap();
    let mut updates = store
        .watch(
            "k",
            WatchOptions::new()
                .replay(true)
                .event_types(&[EventType::Update]),
        )
        .unwrap();
    let mut everything = store
        .watch("k", WatchOptions::new().event_types(&[]))
        .unwrap();
    store.set("k", "a", 1).unwrap();
    store.set("k", "a", 2).unwrap();
    store.delete("k", "a").unwrap();

    let types = |events: Vec<Event<i32>>| events.iter().map(|e| e.event_type).collect::<Vec<_>>();
    assert_eq!(
        types(drain(&mut creates_and_deletes)),
        [EventType::Create, EventType::Create, EventType::Delete],
        "replayed create, then live create and delete"
    );
    assert_eq!(
        types(drain(&mut updates)),
        [EventType::Update],
        "replay is creates: filtered"
    );
    assert_eq!(
        types(drain(&mut everything)),
        [EventType::Create, EventType::Update, EventType::Delete],
        "an empty filter means every type"
    );
}

#[test]
fn overflow_is_reported_once_then_the_watch_ends() {
    // Contract 15: buffer 4, 100 unread writes.
    let store = Store::<i32>::new();
    let mut watch = store
        .watch("k", WatchOptions::new().buffer_size(4))
        .unwrap();
    for i in 0..100 {
        store.set("k", &format!("key-{i}"), i).unwrap();
    }
    assert_eq!(watch.try_recv().unwrap_err(), WatchError::Overflow);
    assert!(watch.is_ended());
    assert_eq!(watch.try_recv().unwrap_err(), WatchError::Closed);
    assert_eq!(watch.recv().unwrap_err(), WatchError::Closed);
    store.set("k", "later", 1).unwrap();
    assert_eq!(watch.try_recv().unwrap_err(), WatchError::Closed);
}

#[test]
fn a_filter_cannot_hide_overflow() {
    // Contract 15: the writes count, filtered or not.
    let store = Store::<i32>::new();
    let mut watch = store
        .watch(
            "k",
            WatchOptions::new()
                .buffer_size(4)
                .event_types(&[EventType::Delete]),
        )
        .unwrap();
    for i in 0..100 {
        store.set("k", &format!("key-{i}"), i).unwrap();
    }
    assert_eq!(watch.try_recv().unwrap_err(), WatchError::Overflow);
    let mut as_iter = store
        .watch(
            "k",
            WatchOptions::new()
                .buffer_size(4)
                .event_types(&[EventType::Delete]),
        )
        .unwrap();
    for i in 0..10 {
        store.set("k", &format!("key-{i}"), -i).unwrap();
    }
    assert!(matches!(as_iter.next(), Some(Err(WatchError::Overflow))));
    assert!(
        as_iter.next().is_none(),
        "the iterator ends after the overflow"
    );
}

#[test]
fn exactly_buffer_size_behind_is_not_an_overflow() {
    let store = Store::<i32>::new();
    let mut watch = store
        .watch("k", WatchOptions::new().buffer_size(4))
        .unwrap();
    for i in 0..4 {
        store.set("k", "a", i).unwrap();
    }
    assert_eq!(drain(&mut watch).len(), 4);
    for i in 0..5 {
        store.set("k", "a", 10 + i).unwrap();
    }
    assert_eq!(watch.try_recv().unwrap_err(), WatchError::Overflow);
}

#[test]
fn being_lapped_by_the_ring_is_an_overflow() {
    // Contract 15: the ring keeps ring_capacity events.
    let store = Store::<i32>::builder().ring_capacity(8).build();
    assert!(matches!(
        store.watch("k", WatchOptions::new().buffer_size(9)),
        Err(zestor::Error::InvalidArgument(_))
    ));
    let mut watch = store
        .watch("k", WatchOptions::new().buffer_size(8))
        .unwrap();
    for i in 0..20 {
        store.set("k", "a", i).unwrap();
    }
    assert_eq!(watch.try_recv().unwrap_err(), WatchError::Overflow);
}

#[test]
fn blocked_recv_wakes_for_an_event() {
    // Contract 16.
    let store = Store::<i32>::new();
    let mut watch = store.watch("k", WatchOptions::new()).unwrap();
    let writer = {
        let store = store.clone();
        thread::spawn(move || {
            thread::sleep(Duration::from_millis(30));
            store.set("k", "a", 7).unwrap();
        })
    };
    let event = watch.recv().unwrap();
    assert_eq!(*event.value, 7);
    writer.join().unwrap();
}

#[test]
fn blocked_recv_wakes_for_close() {
    // Contract 16.
    let store = Store::<i32>::new();
    let mut watch = store.watch("k", WatchOptions::new()).unwrap();
    let closer = {
        let store = store.clone();
        thread::spawn(move || {
            thread::sleep(Duration::from_millis(30));
            store.close();
        })
    };
    assert_eq!(watch.recv().unwrap_err(), WatchError::Closed);
    closer.join().unwrap();
}

#[test]
fn blocked_consumer_that_falls_behind_gets_overflow_not_a_hang() {
    // Contract 16: a recv loop ends — with an overflow, or at close — and
    // what it received before that is a gap-free prefix of the writes.
    let store = Store::<u32>::new();
    let mut watch = store
        .watch("k", WatchOptions::new().buffer_size(1))
        .unwrap();
    let consumer = thread::spawn(move || {
        let mut received = Vec::new();
        loop {
            match watch.recv() {
                Ok(event) => received.push(*event.value),
                Err(end) => return (received, end),
            }
        }
    });
    let writes = if cfg!(miri) { 200 } else { 10_000 };
    for i in 0..writes {
        store.set("k", "a", i).unwrap();
    }
    store.close();
    let (received, _end) = consumer.join().expect("the receiver ended");
    let prefix: Vec<u32> = (0..received.len() as u32).collect();
    assert_eq!(received, prefix, "no event skipped without an overflow");
}

#[test]
fn a_dropped_watch_does_not_hold_writers_back() {
    // Contract 16: drop ends it; writers keep going (that the subscriber is
    // gone is checked by the unit tests of `raw::kind`).
    let store = Store::<i32>::new();
    let watch = store
        .watch("k", WatchOptions::new().buffer_size(1))
        .unwrap();
    drop(watch);
    for i in 0..1000 {
        store.set("k", "a", i).unwrap();
    }
    assert_eq!(*store.get("k", "a").unwrap().unwrap(), 999);
}

#[test]
fn a_slow_watcher_does_not_slow_others() {
    // Contract 17.
    let store = Store::<u32>::new();
    let mut slow = store
        .watch("k", WatchOptions::new().buffer_size(2))
        .unwrap();
    let mut fast = store
        .watch("k", WatchOptions::new().buffer_size(1024))
        .unwrap();
    let writes = if cfg!(miri) { 100 } else { 5_000 };
    let mut received = 0u32;
    for i in 0..writes {
        store.set("k", "a", i).unwrap();
        while let Some(event) = fast.try_recv().unwrap() {
            assert_eq!(*event.value, received);
            received += 1;
        }
    }
    assert_eq!(received, writes, "the fast watcher saw every write");
    assert_eq!(slow.try_recv().unwrap_err(), WatchError::Overflow);
}

#[test]
fn stream_delivers_events_asynchronously() {
    use futures::StreamExt;
    let store = Store::<u32>::new();
    store.set("k", "before", 0).unwrap();
    let watch = store.watch("k", WatchOptions::new().replay(true)).unwrap();
    let writer = {
        let store = store.clone();
        thread::spawn(move || {
            for i in 1..=100 {
                store.set("k", "a", i).unwrap();
                if i % 10 == 0 {
                    thread::sleep(Duration::from_millis(1));
                }
            }
            thread::sleep(Duration::from_millis(10));
            store.close();
        })
    };
    let events: Vec<Event<u32>> = futures::executor::block_on(
        watch
            .into_stream()
            .map(|item| item.expect("no overflow"))
            .collect(),
    );
    writer.join().unwrap();
    assert_eq!(
        events.len(),
        101,
        "the replayed entry, then 100 writes, then the end"
    );
    assert_eq!(&*events[0].key, "before");
    assert_eq!(
        events.iter().skip(1).map(|e| *e.value).collect::<Vec<_>>(),
        (1..=100).collect::<Vec<_>>()
    );
}

#[test]
fn stream_yields_overflow_then_ends() {
    // Contract 15, asynchronously.
    use futures::stream::FusedStream;
    use futures::StreamExt;
    let store = Store::<u32>::new();
    let mut stream = store
        .watch("k", WatchOptions::new().buffer_size(2))
        .unwrap()
        .into_stream();
    for i in 0..10 {
        store.set("k", "a", i).unwrap();
    }
    assert!(!stream.is_terminated());
    futures::executor::block_on(async {
        let first = stream.next().await;
        assert!(matches!(first, Some(Err(WatchError::Overflow))));
        assert!(stream.is_terminated(), "the overflow ends the watch");
        assert!(stream.next().await.is_none());
        assert!(stream.next().await.is_none(), "and it stays ended");
    });
    let mut watch = stream.into_inner();
    assert!(watch.is_ended());
    assert_eq!(watch.try_recv().map(|_| ()), Err(WatchError::Closed));
}

struct Flag(AtomicBool);

impl Wake for Flag {
    fn wake(self: Arc<Self>) {
        self.0.store(true, Ordering::SeqCst);
    }
}

#[test]
fn a_pending_stream_is_woken_by_a_write_and_by_close() {
    // Contracts 16 and 18, asynchronously.
    use futures::stream::FusedStream;
    use futures::Stream;
    let store = Store::<u32>::new();
    let mut stream = store.watch("k", WatchOptions::new()).unwrap().into_stream();
    let woken = Arc::new(Flag(AtomicBool::new(false)));
    let waker = Waker::from(Arc::clone(&woken));
    let mut cx = Context::from_waker(&waker);
    assert!(Pin::new(&mut stream).poll_next(&mut cx).is_pending());
    store.set("k", "a", 1).unwrap();
    assert!(
        woken.0.swap(false, Ordering::SeqCst),
        "a write wakes the pending poll"
    );
    match Pin::new(&mut stream).poll_next(&mut cx) {
        Poll::Ready(Some(Ok(event))) => {
            assert_eq!((&*event.key, *event.value), ("a", 1));
            assert_eq!(event.revision, stream.get_ref().revision());
        }
        other => panic!(
            "expected the create, got {:?}",
            other.map(|e| e.map(|e| e.map(|e| e.key)))
        ),
    }
    assert!(Pin::new(&mut stream).poll_next(&mut cx).is_pending());
    assert!(!stream.is_terminated());
    store.close();
    assert!(
        woken.0.load(Ordering::SeqCst),
        "close wakes the pending poll"
    );
    assert!(stream.is_terminated());
    assert!(matches!(
        Pin::new(&mut stream).poll_next(&mut cx),
        Poll::Ready(None)
    ));
}

#[test]
fn stream_ext_and_iterator_methods_are_not_ambiguous() {
    // Issue 11: with `StreamExt` in scope, `next`, `map` and `take` on a
    // `Watch` were ambiguous (E0034) while it was both an Iterator and a
    // Stream. Now the watch is the Iterator and its `into_stream` the Stream.
    use futures::StreamExt;
    let store = Store::<u32>::new();
    let mut watch = store.watch("k", WatchOptions::new()).unwrap();
    for i in 1..=6 {
        store.set("k", "a", i).unwrap();
    }

    // Iterator methods on the watch (blocking).
    let first = watch.next().expect("not ended").unwrap();
    assert_eq!(*first.value, 1);
    let two: Vec<u32> = watch
        .by_ref()
        .take(2)
        .map(|item| *item.unwrap().value)
        .collect();
    assert_eq!(two, [2, 3]);

    // StreamExt methods on its stream.
    let mut stream = watch.into_stream();
    futures::executor::block_on(async {
        let event = stream.next().await.expect("not ended").unwrap();
        assert_eq!(*event.value, 4);
        let rest: Vec<u32> = (&mut stream)
            .map(|item| *item.unwrap().value)
            .take(2)
            .collect()
            .await;
        assert_eq!(rest, [5, 6]);
    });

    // And back: `get_mut`, `into_inner` go on where the stream stopped.
    store.set("k", "a", 7).unwrap();
    store.set("k", "a", 8).unwrap();
    let seventh = stream.get_mut().try_recv().unwrap().expect("ready");
    assert_eq!(*seventh.value, 7);
    let mut watch = stream.into_inner();
    assert_eq!(*watch.next().expect("not ended").unwrap().value, 8);
    assert_eq!(watch.try_recv().map(|e| e.is_none()), Ok(true));
    let debug = format!("{:?}", watch.into_stream());
    assert!(debug.starts_with("WatchStream(Watch {"), "{debug}");
}

#[test]
fn iterator_mirrors_a_kind() {
    let store = Store::<u32>::new();
    store.set("k", "x", 1).unwrap();
    let watch = store.watch("k", WatchOptions::new().replay(true)).unwrap();
    let closer = {
        let store = store.clone();
        thread::spawn(move || {
            store.set("k", "y", 2).unwrap();
            store.delete("k", "x").unwrap();
            thread::sleep(Duration::from_millis(20));
            store.close();
        })
    };
    let mut replica = BTreeMap::new();
    for event in watch {
        apply(&mut replica, &event.unwrap());
    }
    closer.join().unwrap();
    assert_eq!(replica, BTreeMap::from([("y".to_string(), 2)]));
}

#[test]
fn watch_rejects_a_bad_buffer_size() {
    let store = Store::<u32>::new();
    for bad in [0, 1025, usize::MAX] {
        let err = store
            .watch("k", WatchOptions::new().buffer_size(bad))
            .unwrap_err();
        assert!(
            matches!(&err, zestor::Error::InvalidArgument(m) if m.contains("buffer_size")),
            "{err}"
        );
    }
    assert!(store
        .watch("k", WatchOptions::new().buffer_size(1024))
        .is_ok());
}

#[test]
fn many_watchers_each_see_every_event() {
    let store = Store::<u32>::new();
    let watchers = if cfg!(miri) { 3 } else { 16 };
    let writes = if cfg!(miri) { 50 } else { 500 };
    let mut watches: Vec<_> = (0..watchers)
        .map(|_| {
            store
                .watch("k", WatchOptions::new().buffer_size(1024))
                .unwrap()
        })
        .collect();
    for i in 0..writes {
        store.set("k", &format!("{}", i % 7), i).unwrap();
    }
    for watch in &mut watches {
        let values: Vec<u32> = drain(watch).iter().map(|e| *e.value).collect();
        assert_eq!(values, (0..writes).collect::<Vec<_>>());
    }
}
