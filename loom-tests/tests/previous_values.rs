//! Previous values (`src/raw/ring.rs`, "Previous values"): a watcher that
//! is subscribed when an update is published gets the value it replaced,
//! even when nothing but the ring envelope keeps that value alive.
#![cfg(zestor_loom)]

use loom::thread;
use loom_tests::model_attaching_previous;
use zestor::{Store, WatchOptions};

/// A watcher subscribes while a writer updates a key, on a one-slot ring
/// with the `ArcCell` stand-in freeing what a compare-and-swap replaced: the
/// old value's last holders are the cell and the ring, both of which the
/// update takes over. If the watch delivers the update, it carries the old
/// value. Fails if the publisher never attaches it (`RawKind::publish`
/// without `attach_previous`), or decides before its F1.
#[test]
fn a_watcher_subscribing_during_an_update_gets_its_previous_value() {
    model_attaching_previous(|| {
        let store = Store::<u32>::builder().ring_capacity(1).build();
        store.set("k", "a", 0).unwrap();
        let writer = {
            let store = store.clone();
            thread::spawn(move || {
                store.set("k", "a", 1).unwrap();
            })
        };
        let mut watch = store
            .watch("k", WatchOptions::new().buffer_size(1))
            .unwrap();
        writer.join().unwrap();
        match watch.try_recv() {
            Ok(Some(event)) => {
                assert_eq!(*event.value, 1);
                assert_eq!(event.previous.as_deref(), Some(&0), "{event:?}");
            }
            Ok(None) => {} // subscribed after the update
            Err(error) => panic!("the watch ended: {error:?}"),
        }
    });
}
