//! Contract 18–19: close and dump.

use std::thread;
use std::time::Duration;

use zestor::{Error, Store, WatchError, WatchOptions};

fn assert_closed<T: std::fmt::Debug>(result: zestor::Result<T>, call: &str) {
    match result {
        Err(Error::Closed) => {}
        other => panic!("{call} after close returned {other:?}, expected Closed"),
    }
}

#[test]
fn close_ends_every_watch_and_rejects_every_later_call() {
    // Contract 18.
    let store = Store::<i32>::new();
    store.set("k", "a", 1).unwrap();
    let handle = store.kind("k").unwrap();
    let mut watches: Vec<_> = ["k", "other", "k"]
        .iter()
        .map(|kind| store.watch(kind, WatchOptions::new().replay(true)).unwrap())
        .collect();
    store.close();
    assert!(store.is_closed());
    for watch in &mut watches {
        // Ends exactly once, at once: no replayed event after close.
        assert_eq!(watch.try_recv().unwrap_err(), WatchError::Closed);
        assert_eq!(watch.recv().unwrap_err(), WatchError::Closed);
        assert!(watch.is_ended());
    }

    assert_closed(store.set("k", "a", 2), "set");
    assert_closed(store.set_many("k", [("a", 2)]), "set_many");
    assert_closed(store.update("k", "a", |v| Ok::<_, Error>(*v)), "update");
    assert_closed(store.delete("k", "a"), "delete");
    assert_closed(store.get("k", "a"), "get");
    assert_closed(store.read("k", "a", |v| *v), "read");
    assert_closed(store.contains("k", "a"), "contains");
    assert_closed(store.list("k"), "list");
    assert_closed(store.list_filtered("k", |_, _| true), "list_filtered");
    assert_closed(store.range("k", ..), "range");
    assert_closed(store.prefix("k", "a"), "prefix");
    assert_closed(store.keys("k"), "keys");
    assert_closed(store.values("k"), "values");
    assert_closed(store.count("k"), "count");
    assert_closed(store.revision("k"), "revision");
    assert_closed(store.kinds(), "kinds");
    assert_closed(store.get_all(), "get_all");
    assert_closed(store.kind("k"), "kind");
    assert_closed(store.watch("k", WatchOptions::new()), "watch");
    // Through a handle taken before the close, and a clone of the store.
    assert_closed(handle.set("a", 3), "Kind::set");
    assert_closed(handle.get("a"), "Kind::get");
    assert_closed(handle.watch(WatchOptions::new()), "Kind::watch");
    assert_closed(store.clone().get("k", "a"), "clone get");
    let err = store.dump(&mut Vec::new()).unwrap_err();
    assert!(err.to_string().contains("closed"), "{err}");

    // Closing twice is fine.
    store.close();
    assert!(store.is_closed());
}

#[test]
fn close_wakes_blocked_receivers_on_every_kind() {
    // Contract 18 with Contract 16.
    let store = Store::<i32>::new();
    let receivers: Vec<_> = (0..4)
        .map(|i| {
            let mut watch = store
                .watch(&format!("kind-{}", i % 2), WatchOptions::new())
                .unwrap();
            thread::spawn(move || watch.recv().map(|_| ()))
        })
        .collect();
    thread::sleep(Duration::from_millis(30));
    store.close();
    for receiver in receivers {
        assert_eq!(receiver.join().unwrap(), Err(WatchError::Closed));
    }
}

#[test]
fn close_racing_writers_leaves_them_an_error_not_a_hang() {
    let store = Store::<u64>::new();
    let mut watch = store
        .watch("k", WatchOptions::new().buffer_size(1024))
        .unwrap();
    let writers: Vec<_> = (0..2)
        .map(|t| {
            let store = store.clone();
            thread::spawn(move || {
                let mut i = 0u64;
                loop {
                    match store.set("k", &format!("{t}-{}", i % 10), i) {
                        Ok(_) => i += 1,
                        Err(Error::Closed) => return i,
                        Err(e) => panic!("{e}"),
                    }
                }
            })
        })
        .collect();
    thread::sleep(Duration::from_millis(if cfg!(miri) { 1 } else { 20 }));
    store.close();
    for writer in writers {
        writer.join().unwrap();
    }
    loop {
        match watch.recv() {
            Ok(_) => continue,
            Err(e) => {
                assert_eq!(e, WatchError::Closed);
                break;
            }
        }
    }
}

#[test]
fn dump_writes_every_kind_and_key_in_order() {
    // Contract 19.
    #[derive(Debug, PartialEq)]
    struct Product {
        name: &'static str,
        price: u32,
    }
    let store = Store::<Product>::new();
    store
        .set(
            "products",
            "phone",
            Product {
                name: "Phone",
                price: 699,
            },
        )
        .unwrap();
    store
        .set(
            "products",
            "laptop",
            Product {
                name: "Laptop",
                price: 999,
            },
        )
        .unwrap();
    store
        .set(
            "archive",
            "fax",
            Product {
                name: "Fax",
                price: 1,
            },
        )
        .unwrap();
    store
        .set(
            "empty",
            "gone",
            Product {
                name: "Gone",
                price: 0,
            },
        )
        .unwrap();
    store.delete("empty", "gone").unwrap();
    let mut out = Vec::new();
    store.dump(&mut out).unwrap();
    let text = String::from_utf8(out).unwrap();
    assert_eq!(
        text,
        concat!(
            "kind \"archive\" (1 entry)\n",
            "  \"fax\" => Product { name: \"Fax\", price: 1 }\n",
            "kind \"products\" (2 entries)\n",
            "  \"laptop\" => Product { name: \"Laptop\", price: 999 }\n",
            "  \"phone\" => Product { name: \"Phone\", price: 699 }\n",
        )
    );
}

#[test]
fn dump_escapes_keys_so_every_line_is_one_entry() {
    let store = Store::<i32>::new();
    store.set("k", "line\nbreak", 1).unwrap();
    let mut out = Vec::new();
    store.dump(&mut out).unwrap();
    let text = String::from_utf8(out).unwrap();
    assert_eq!(text.lines().count(), 2, "{text}");
    assert!(text.contains("\"line\\nbreak\""));
}
