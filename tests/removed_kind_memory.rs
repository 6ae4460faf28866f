//! What a removed kind leaves behind (issue 11, item 2; `Store::remove_kind`),
//! counted by `support::per_thread_heap`. A test binary of its own: the
//! kinds index's unlinked nodes are freed by crossbeam-epoch on whichever
//! thread collects them, and a free made on another test's thread would not
//! be subtracted here (20 MB "left" beside `tests/kind_memory.rs`'s tests).

mod support;

use support::per_thread_heap::{net_bytes, CountingPerThread};
use zestor::Store;

#[global_allocator]
static ALLOCATOR: CountingPerThread = CountingPerThread;

/// A removed kind gives its memory back (`Store::remove_kind`): 20,000
/// kinds made, written, emptied and removed one after another leave at
/// most 1 MiB behind, where keeping them would cost about 29 MB (1.4 KB
/// each). What remains does not grow with the count — 135 to 270 KB after
/// 200 to 60,000 kinds: the kinds index's unlinked nodes that
/// crossbeam-epoch frees in batches, as threads pin. To see it for other
/// counts: `ZESTOR_REMOVED_KINDS=60000 cargo test --test
/// removed_kind_memory -- --nocapture`.
#[test]
fn removed_kinds_give_their_memory_back() {
    let default = if cfg!(miri) { 200 } else { 20_000 };
    let removed_kinds: usize = std::env::var("ZESTOR_REMOVED_KINDS")
        .ok()
        .and_then(|count| count.parse().ok())
        .unwrap_or(default);
    let store = Store::<u64>::new();
    // Warm up: the thread's one-time registrations (epoch, arc-swap).
    store.set("warm-up", "key", 1).unwrap();
    store.delete("warm-up", "key").unwrap();
    assert!(store.remove_kind("warm-up").unwrap());
    let ((), bytes) = net_bytes(|| {
        for i in 0..removed_kinds {
            let kind = format!("kind-{i:05}");
            store.set(&kind, "key", i as u64).unwrap();
            store.delete(&kind, "key").unwrap();
            assert!(store.remove_kind(&kind).unwrap());
        }
    });
    eprintln!("{removed_kinds} removed kinds leave {bytes} B of heap behind");
    assert!(
        bytes <= 1 << 20,
        "{removed_kinds} removed kinds leave {bytes} B of heap behind (at most 1 MiB expected)"
    );
    assert!(store.kinds().unwrap().is_empty());
}
