//! P5, close: every watch ends exactly once, no receiver hangs, whatever
//! close races with.
#![cfg(zestor_loom)]

use loom::thread;
use loom_tests::model;
use zestor::{Store, WatchError, WatchOptions};

/// `close` races a blocked `recv` and a write. The receiver gets at most the
/// write's event, then `Closed` — and keeps getting `Closed`. A lost wake-up
/// would leave it parked forever: loom reports that as a deadlock.
#[test]
fn close_races_recv_and_a_write() {
    model(|| {
        let store = Store::<u32>::builder().ring_capacity(2).build();
        let mut watch = store
            .watch("k", WatchOptions::new().buffer_size(2))
            .unwrap();
        let writer = {
            let store = store.clone();
            thread::spawn(move || {
                let _ = store.set("k", "a", 1);
            })
        };
        let closer = {
            let store = store.clone();
            thread::spawn(move || store.close())
        };
        // The consumer blocks on its own thread; main only joins (see p1).
        let consumer = thread::spawn(move || {
            let mut events = 0;
            let end = loop {
                match watch.recv() {
                    Ok(_) => events += 1,
                    Err(error) => break error,
                }
            };
            assert_eq!(end, WatchError::Closed);
            assert!(events <= 1);
            assert_eq!(
                watch.try_recv().unwrap_err(),
                WatchError::Closed,
                "ends exactly once"
            );
        });
        writer.join().unwrap();
        closer.join().unwrap();
        consumer.join().unwrap();
    });
}

/// A watch created on a new kind while the store closes: it must still end
/// (the close fence comes before the scan of the kinds).
#[test]
fn close_races_watch_on_a_new_kind() {
    model(|| {
        let store = Store::<u32>::builder().ring_capacity(1).build();
        let closer = {
            let store = store.clone();
            thread::spawn(move || store.close())
        };
        let watcher = thread::spawn(move || {
            if let Ok(mut watch) = store.watch("fresh", WatchOptions::new().buffer_size(1)) {
                assert_eq!(watch.recv().unwrap_err(), WatchError::Closed);
            }
        });
        closer.join().unwrap();
        watcher.join().unwrap();
    });
}
