//! The lazy hash index (`src/raw/keys.rs`, "The lazy hash index"): a kind
//! builds its hash index when its second cell is created (threshold 2 here),
//! while other writers create keys and readers read them. F4 — a writer's
//! fence between inserting its cell into the ordered index and looking for
//! the hash index, and the filler's between building the hash index and
//! scanning the ordered one — makes either the fill's scan find the cell or
//! the writer find the hash index and publish the cell itself.
#![cfg(zestor_loom)]

use loom::sync::atomic::{AtomicBool, Ordering};
use loom::sync::Arc;
use loom::thread;
use loom_tests::model_point_fill;
use zestor::Store;

fn value(kind: &zestor::Kind<u32>, key: &str) -> Option<u32> {
    kind.get(key).unwrap().map(|value| *value)
}

/// Two writers each create a key; whichever creates the second cell builds
/// and fills the hash index, racing the other's create. A reader reads both
/// keys meanwhile: a key whose `set` returned before the read began (the
/// writer's flag, stored after its `set` returned, read before the read) is
/// never reported absent. After the joins both keys are found, through the
/// filled hash index.
#[test]
fn creates_race_the_fill() {
    model_point_fill(2, || {
        let store = Store::<u32>::builder().ring_capacity(4).build();
        let kind = store.kind("k").unwrap();
        let done = Arc::new([AtomicBool::new(false), AtomicBool::new(false)]);
        let writers: Vec<_> = [("a", 1), ("b", 2)]
            .into_iter()
            .enumerate()
            .map(|(i, (key, v))| {
                let kind = kind.clone();
                let done = Arc::clone(&done);
                thread::spawn(move || {
                    kind.set(key, v).unwrap();
                    done[i].store(true, Ordering::Release);
                })
            })
            .collect();
        for (i, (key, v)) in [("a", 1), ("b", 2)].into_iter().enumerate() {
            let returned = done[i].load(Ordering::Acquire);
            let read = value(&kind, key);
            if returned {
                assert_eq!(read, Some(v), "{key}: set returned, read absent");
            }
        }
        for writer in writers {
            writer.join().unwrap();
        }
        assert!(
            zestor::loom_point_filled(&kind),
            "two cells created: the hash index is built and filled"
        );
        assert_eq!(value(&kind, "a"), Some(1), "a, through the hash index");
        assert_eq!(value(&kind, "b"), Some(2), "b, through the hash index");
        assert_eq!(kind.count().unwrap(), 2);
    });
}
