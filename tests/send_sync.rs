//! The auto traits the documentation promises.

use std::panic::{RefUnwindSafe, UnwindSafe};

use zestor::{
    Error, Event, EventType, Kind, Mirror, MirrorStream, SetResult, Store, Value, Watch,
    WatchError, WatchOptions, WatchStream,
};

fn send<T: Send>() {}
fn sync<T: Sync>() {}
fn unpin<T: Unpin>() {}
fn send_sync_static<T: Send + Sync + 'static>() {}
fn unwind_safe<T: UnwindSafe + RefUnwindSafe>() {}

/// A value type that is Send + Sync but neither Clone, Debug nor PartialEq.
struct Opaque(#[allow(dead_code)] Vec<u8>);

#[test]
fn store_and_kind_are_send_and_sync() {
    send::<Store<Opaque>>();
    sync::<Store<Opaque>>();
    send::<Kind<Opaque>>();
    sync::<Kind<Opaque>>();
    send::<Value<Opaque>>();
    sync::<Value<Opaque>>();
    unwind_safe::<Store<String>>();
    unwind_safe::<Kind<String>>();
}

#[test]
fn watches_and_their_streams_are_send_sync_and_unpin() {
    send::<Watch<Opaque>>();
    unpin::<Watch<Opaque>>();
    sync::<Watch<Opaque>>();
    send::<WatchStream<Opaque>>();
    unpin::<WatchStream<Opaque>>();
    sync::<WatchStream<Opaque>>();
}

#[test]
fn mirrors_are_send_and_unpin() {
    send::<Mirror<Opaque>>();
    unpin::<Mirror<Opaque>>();
    send::<MirrorStream<Opaque>>();
    unpin::<MirrorStream<Opaque>>();
}

#[test]
fn events_are_send_and_sync() {
    send::<Event<Opaque>>();
    sync::<Event<Opaque>>();
}

#[test]
fn errors_are_send_sync_static() {
    send_sync_static::<Error>();
    send_sync_static::<WatchError>();
    send_sync_static::<EventType>();
    send_sync_static::<SetResult>();
    send_sync_static::<WatchOptions>();
}

#[test]
fn a_store_moves_between_threads_with_its_watches() {
    let store = Store::<Opaque>::builder()
        .compare(|a, b| a.0 == b.0)
        .build();
    let mut watch = store.watch("k", WatchOptions::new()).unwrap();
    let writer = {
        let store = store.clone();
        std::thread::spawn(move || store.set("k", "a", Opaque(vec![1])).unwrap())
    };
    assert_eq!(writer.join().unwrap(), SetResult::Created);
    let received = std::thread::spawn(move || watch.recv().unwrap().value.0.clone())
        .join()
        .unwrap();
    assert_eq!(received, vec![1]);
}
