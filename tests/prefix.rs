//! Contract 29: prefix watches.

use zestor::{EventType, Store, WatchError, WatchOptions};

fn keys(watch: &mut zestor::Watch<u64>) -> Vec<(EventType, String)> {
    std::iter::from_fn(|| watch.try_recv().unwrap())
        .map(|event| (event.event_type, event.key.to_string()))
        .collect()
}

#[test]
fn a_prefix_watch_delivers_only_its_keys_in_replay_and_live() {
    // Contract 29.
    let store = Store::<u64>::new();
    for key in ["app", "app/a", "app/b", "apple", "b/app/c", "zzz"] {
        store.set("k", key, 1).unwrap();
    }
    let mut watch = store
        .watch("k", WatchOptions::new().replay(true).prefix("app/"))
        .unwrap();
    store.set("k", "app/c", 2).unwrap();
    store.set("k", "appx", 2).unwrap();
    store
        .set_many("k", [("app/a", 3), ("apq", 3), ("app/d", 3)])
        .unwrap();
    store.delete("k", "app/b").unwrap();
    store.delete("k", "apple").unwrap();
    assert_eq!(
        keys(&mut watch),
        [
            (EventType::Create, "app/a".into()),
            (EventType::Create, "app/b".into()),
            (EventType::Create, "app/c".into()),
            (EventType::Update, "app/a".into()),
            (EventType::Create, "app/d".into()),
            (EventType::Delete, "app/b".into()),
        ]
    );
    assert_eq!(
        watch.revision(),
        store.revision("k").unwrap(),
        "filtered writes count as passed"
    );
}

#[test]
fn a_prefix_composes_with_the_event_type_filter() {
    // Contract 29.
    let store = Store::<u64>::new();
    let mut watch = store
        .watch(
            "k",
            WatchOptions::new()
                .prefix("a/")
                .event_types(&[EventType::Update]),
        )
        .unwrap();
    store.set("k", "a/1", 1).unwrap();
    store.set("k", "b/1", 1).unwrap();
    store.set("k", "a/1", 2).unwrap();
    store.set("k", "b/1", 2).unwrap();
    store.delete("k", "a/1").unwrap();
    assert_eq!(keys(&mut watch), [(EventType::Update, "a/1".into())]);
}

#[test]
fn an_empty_prefix_means_every_key() {
    let store = Store::<u64>::new();
    let mut watch = store.watch("k", WatchOptions::new().prefix("")).unwrap();
    store.set("k", "a", 1).unwrap();
    store.set("k", "b", 1).unwrap();
    assert_eq!(keys(&mut watch).len(), 2);
}

#[test]
fn the_buffer_counts_every_revision_of_the_kind() {
    // Contract 29: writes outside the prefix still count against the buffer.
    let store = Store::<u64>::new();
    let mut watch = store
        .watch("k", WatchOptions::new().prefix("quiet/").buffer_size(4))
        .unwrap();
    for i in 0..5 {
        store.set("k", &format!("busy/{i}"), i).unwrap();
    }
    assert_eq!(watch.try_recv().unwrap_err(), WatchError::Overflow);
}
