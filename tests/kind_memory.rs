//! What a kind costs (issue 11, item 2): an empty kind at most 1 KB of
//! heap, a kind holding one small key at most 1.5 KB — so 100K one-key
//! kinds fit in 150 MB. A kind allocates its ring buckets as revisions
//! reach them, its key order on its first key, and its hash index at its
//! 64th key, or with the kind if the store asks (`ring.rs`, "Lazy
//! buckets"; `lazy.rs`; `keys.rs`, "The lazy hash index").
//!
//! A counting global allocator sums, per thread, the bytes allocated less
//! the bytes freed while a test has armed it, so the harness's other test
//! threads do not interfere. Each test warms its thread up first (the epoch
//! collector's and arc-swap's one-time registrations), then measures many
//! kinds and divides.

mod support;

use support::per_thread_heap::{large_live, net_bytes, CountingPerThread};
use zestor::Store;

#[global_allocator]
static ALLOCATOR: CountingPerThread = CountingPerThread;

const KINDS: usize = 2_000;

/// A store whose thread-wide registrations are done: one kind written,
/// read and watched on this thread before anything is measured.
fn warmed_store() -> Store<u64> {
    let store = Store::new();
    store.set("warm-up", "key", 1).unwrap();
    let _ = store.get("warm-up", "key").unwrap();
    store.delete("warm-up", "key").unwrap();
    store
}

#[test]
fn an_empty_kind_costs_at_most_a_kilobyte() {
    let store = warmed_store();
    let (handles, bytes) = net_bytes(|| {
        (0..KINDS)
            .map(|i| store.kind(&format!("kind-{i:05}")).unwrap())
            .collect::<Vec<_>>()
    });
    let handles_vec = (handles.capacity() * std::mem::size_of_val(&handles[0])) as i64;
    let per_kind = (bytes - handles_vec) / KINDS as i64;
    assert!(
        per_kind <= 1024,
        "an empty kind costs {per_kind} B of heap (at most 1,024 expected)"
    );
    // The kinds work: the lazily allocated parts appear on first use.
    handles[7].set("key", 7).unwrap();
    assert_eq!(*store.get("kind-00007", "key").unwrap().unwrap(), 7);
}

#[test]
fn a_kind_of_one_key_costs_at_most_one_and_a_half_kilobytes() {
    let store = warmed_store();
    let ((), bytes) = net_bytes(|| {
        for i in 0..KINDS {
            store.set(&format!("kind-{i:05}"), "key", i as u64).unwrap();
        }
    });
    let per_kind = bytes / KINDS as i64;
    assert!(
        per_kind <= 1536,
        "a kind of one key costs {per_kind} B of heap (at most 1,536 expected)"
    );
    for i in (0..KINDS).step_by(97) {
        let kind = format!("kind-{i:05}");
        assert_eq!(*store.get(&kind, "key").unwrap().unwrap(), i as u64);
    }
}

/// `StoreBuilder::hash_index_at(0)`: the hash index is built with the
/// kind (the fast path for small hot kinds), and paid for up front.
#[test]
fn a_hash_index_asked_for_up_front_is_built_with_the_kind() {
    let store = Store::<u64>::builder().hash_index_at(0).build();
    store.set("warm-up", "key", 1).unwrap();
    let kinds = 100;
    let ((), bytes) = net_bytes(|| {
        for i in 0..kinds {
            store.kind(&format!("kind-{i:05}")).unwrap();
        }
    });
    let per_kind = bytes / kinds as i64;
    assert!(
        per_kind > 10_000,
        "an empty kind with its hash index costs {per_kind} B (a papaya map is ~17 KB)"
    );
    for i in 0..kinds {
        store.set(&format!("kind-{i:05}"), "key", i).unwrap();
    }
    assert_eq!(*store.get("kind-00042", "key").unwrap().unwrap(), 42);
}

/// The hash tables a growing kind replaced are freed (issue 11, heap per
/// key): papaya hands a replaced table to its collector, which frees
/// retirements per thread in batches of 32 (papaya issue #60), and a fill
/// retires one table per doubling, so every replaced table stayed — 19 B
/// per key at 1M keys. Each thread now hands its batch back every 4,096
/// entries it adds to a hash index (`keys.rs`, "Freeing the tables a
/// growing hash index replaced"), so a fill leaves the live table and at
/// most the one replaced last.
#[test]
#[cfg_attr(
    miri,
    ignore = "100K keys: hours under Miri, and the tables are papaya's"
)]
fn a_growing_kind_frees_the_hash_tables_it_replaced() {
    let store = warmed_store();
    let keys = 100_000;
    let ((), _) = net_bytes(|| {
        for i in 0..keys {
            store.set("big", &format!("key-{i:06}"), i).unwrap();
        }
    });
    let large = large_live();
    // Before the hand-back: 5 (the live table and the 4 replaced tables
    // of 64 KiB or more); with it: 1.
    assert!(
        large <= 2,
        "{large} allocations of 64 KiB or more stay after a fill of {keys} keys \
         (at most the live table and the one replaced last expected)"
    );
    assert_eq!(store.count("big").unwrap(), keys as usize);
}
