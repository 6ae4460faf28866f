//! History retention (`src/raw/ring.rs`, "History"): a publisher that sees
//! no subscriber after its F1 releases the slots past the kind's history.
//! No watcher that registered may lose an event to it: a live watch gets a
//! gap-free run of every write after it started, a resumed watch gets a
//! gap-free run from where it asked, or an explicit `Compacted` / overflow.
#![cfg(zestor_loom)]

use loom::thread;
use loom_tests::{drain, model};
use zestor::{Error, Store, WatchError, WatchOptions};

/// A writer of two values on a kind that keeps no history, racing a watch
/// that subscribes live: whatever the interleaving, the watch receives
/// every write made after it subscribed, in order, with no overflow — the
/// release never takes a slot from under a registered watcher.
#[test]
fn a_live_watch_never_loses_an_event_to_a_release() {
    model(|| {
        let store = Store::<u32>::builder().ring_capacity(2).history(0).build();
        let producer = {
            let store = store.clone();
            thread::spawn(move || {
                for value in 1..=2 {
                    store.set("k", "a", value).unwrap();
                }
            })
        };
        let mut watch = store
            .watch("k", WatchOptions::new().buffer_size(2))
            .unwrap();
        let start = watch.revision();
        producer.join().unwrap();
        let drained = drain(&mut watch);
        assert_eq!(drained.ended, None, "never an overflow");
        let values: Vec<u32> = drained.events.iter().map(|e| *e.value).collect();
        // Revision r carries value r: everything after the start, in order.
        let expected: Vec<u32> = (start as u32 + 1..=2).collect();
        assert_eq!(values, expected, "every write after the start");
    });
}

/// The same writer, racing a watch that resumes from revision 1 on a kind
/// that keeps one revision: it is refused (`Compacted`), or it receives a
/// gap-free run from revision 1 that may end in an overflow. Never a skip.
#[test]
fn a_resumed_watch_is_served_or_told_never_skipped() {
    model(|| {
        let store = Store::<u32>::builder().ring_capacity(2).history(1).build();
        let producer = {
            let store = store.clone();
            thread::spawn(move || {
                for value in 1..=2 {
                    store.set("k", "a", value).unwrap();
                }
            })
        };
        let watch = store.watch("k", WatchOptions::new().buffer_size(2).start_revision(1));
        producer.join().unwrap();
        let mut watch = match watch {
            Err(Error::Compacted { requested: 1, .. }) => return,
            Err(other) => panic!("unexpected {other:?}"),
            Ok(watch) => watch,
        };
        let drained = drain(&mut watch);
        let values: Vec<u32> = drained.events.iter().map(|e| *e.value).collect();
        let expected: Vec<u32> = (1..=values.len() as u32).collect();
        assert_eq!(values, expected, "a gap-free run from revision 1");
        match drained.ended {
            None => assert_eq!(values.len(), 2, "no overflow means every event"),
            Some(error) => assert_eq!(error, WatchError::Overflow),
        }
    });
}
