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
use loom_tests::{model_point_fill, Setters};
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
        let writers = Setters::spawn(&kind, &[("a", 1), ("b", 2)]);
        for (i, (key, v)) in [("a", 1), ("b", 2)].into_iter().enumerate() {
            let returned = writers.returned(i);
            let read = value(&kind, key);
            if returned {
                assert_eq!(read, Some(v), "{key}: set returned, read absent");
            }
        }
        writers.join();
        assert!(
            zestor::loom_point_filled(&kind),
            "two cells created: the hash index is built and filled"
        );
        assert_eq!(value(&kind, "a"), Some(1), "a, through the hash index");
        assert_eq!(value(&kind, "b"), Some(2), "b, through the hash index");
        assert_eq!(kind.count().unwrap(), 2);
    });
}

/// Two writers set the same new key while a third creates another (the
/// second cell: it builds and fills the hash index). The writer that does
/// not create key "a" may take its cell from the ordered index before the
/// creator has published it anywhere, and make it live and return while
/// the creator is still on its way to publish it: it must publish it itself
/// (F4 after reading it), or a reader of the filled hash index could miss a
/// key whose `set` returned. The reader checks that meanwhile, as in
/// `creates_race_the_fill`; after the joins both keys are found through the
/// hash index.
#[test]
fn a_cell_read_from_the_ordered_index_races_the_fill() {
    model_point_fill(2, || {
        let store = Store::<u32>::builder().ring_capacity(4).build();
        let kind = store.kind("k").unwrap();
        let done = Arc::new([AtomicBool::new(false), AtomicBool::new(false)]);
        let writers: Vec<_> = [("a", 1, Some(0)), ("a", 3, Some(1)), ("b", 2, None)]
            .into_iter()
            .map(|(key, v, flag)| {
                let kind = kind.clone();
                let done = Arc::clone(&done);
                thread::spawn(move || {
                    kind.set(key, v).unwrap();
                    if let Some(flag) = flag {
                        done[flag].store(true, Ordering::Release);
                    }
                })
            })
            .collect();
        let returned = done[0].load(Ordering::Acquire) || done[1].load(Ordering::Acquire);
        let read = value(&kind, "a");
        if returned {
            assert!(read.is_some(), "a: a set returned, read absent");
        }
        for writer in writers {
            writer.join().unwrap();
        }
        assert!(zestor::loom_point_filled(&kind));
        let a = value(&kind, "a");
        assert!(
            a == Some(1) || a == Some(3),
            "a, through the hash index: {a:?}"
        );
        assert_eq!(value(&kind, "b"), Some(2), "b, through the hash index");
        assert_eq!(kind.count().unwrap(), 2);
    });
}
