//! Point reads allocate nothing once warmed up: `get` and `read`, by store
//! and through a `Kind` handle, hit and miss (DESIGN.md: "per-call
//! allocations on the read path are a bug").
//!
//! A counting global allocator counts, per thread, the allocations made while
//! a test has armed it, so the harness's other test threads do not interfere.
//! Warm-up comes first: the first read on a thread registers it with the
//! epoch collector (crossbeam), the hash map's reclaimer (papaya's seize) and
//! arc-swap's debt list, each a one-time allocation per thread. On failure
//! the message carries a backtrace of the first allocations (symbols need
//! debug info: the test profile has it).

use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;
use std::sync::Mutex;

use zestor::Store;

struct CountingPerThread;

thread_local! {
    /// Allocations counted on this thread while armed.
    static COUNT: Cell<u64> = const { Cell::new(0) };
    /// Whether this thread counts now; cleared while recording a backtrace,
    /// so the recording's own allocations are neither counted nor traced.
    static ARMED: Cell<bool> = const { Cell::new(false) };
}

/// Backtraces of the first few counted allocations, for the failure message.
static TRACES: Mutex<Vec<String>> = Mutex::new(Vec::new());
const TRACES_KEPT: usize = 3;

fn on_alloc(layout: Layout) {
    // `try_with`: a thread's locals may be gone while it exits.
    let armed = ARMED.try_with(Cell::get).unwrap_or(false);
    if !armed {
        return;
    }
    let _ = COUNT.try_with(|count| count.set(count.get() + 1));
    ARMED.with(|armed| armed.set(false));
    let mut traces = TRACES.lock().unwrap_or_else(|e| e.into_inner());
    if traces.len() < TRACES_KEPT {
        let trace = std::backtrace::Backtrace::force_capture();
        traces.push(format!(
            "allocation of {} bytes at:\n{trace}",
            layout.size()
        ));
    }
    drop(traces);
    ARMED.with(|armed| armed.set(true));
}

// SAFETY: every method forwards to `System` unchanged; the bookkeeping in
// `on_alloc` only touches const-initialized thread-locals (no lazy
// initialization, no destructor) until it disarms itself.
unsafe impl GlobalAlloc for CountingPerThread {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        on_alloc(layout);
        // SAFETY: forwarded unchanged.
        unsafe { System.alloc(layout) }
    }

    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        on_alloc(layout);
        // SAFETY: forwarded unchanged.
        unsafe { System.alloc_zeroed(layout) }
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        on_alloc(layout);
        // SAFETY: forwarded unchanged.
        unsafe { System.realloc(ptr, layout, new_size) }
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: forwarded unchanged.
        unsafe { System.dealloc(ptr, layout) }
    }
}

#[global_allocator]
static ALLOCATOR: CountingPerThread = CountingPerThread;

/// Calls after warm-up. Enough to pass several epoch collections (crossbeam
/// collects every 128 pins) and papaya's reclamation batches.
const CALLS: usize = 20_000;
const WARM_UP: usize = 2_000;

/// Runs `op` `WARM_UP` times, then counts the allocations of `CALLS` more
/// calls on this thread and fails with their backtraces if there were any.
fn assert_no_alloc(what: &str, mut op: impl FnMut(usize)) {
    for i in 0..WARM_UP {
        op(i);
    }
    COUNT.with(|count| count.set(0));
    ARMED.with(|armed| armed.set(true));
    for i in 0..CALLS {
        op(i);
    }
    ARMED.with(|armed| armed.set(false));
    let count = COUNT.with(Cell::get);
    if count > 0 {
        let traces = std::mem::take(&mut *TRACES.lock().unwrap());
        panic!(
            "{what}: {count} allocations in {CALLS} calls after warm-up; the first:\n{}",
            traces.join("\n")
        );
    }
}

const KEYS: usize = 1_000;

fn key(i: usize) -> String {
    format!("key-{:06}", i % KEYS)
}

fn missing(i: usize) -> String {
    format!("absent-{:06}", i % KEYS)
}

/// A store with `KEYS` keys in kind "k", and the keys to look up, made up
/// front so the loops themselves allocate nothing.
fn setup() -> (Store<u64>, Vec<String>, Vec<String>) {
    let store = Store::new();
    for i in 0..KEYS {
        store.set("k", &key(i), i as u64).unwrap();
    }
    let hits = (0..KEYS).map(key).collect();
    let misses = (0..KEYS).map(missing).collect();
    (store, hits, misses)
}

#[test]
fn store_get_hit_and_miss() {
    let (store, hits, misses) = setup();
    assert_no_alloc("Store::get hit", |i| {
        let value = store.get("k", &hits[i % KEYS]).unwrap();
        assert!(value.is_some());
    });
    assert_no_alloc("Store::get miss", |i| {
        assert!(store.get("k", &misses[i % KEYS]).unwrap().is_none());
    });
    assert_no_alloc("Store::get on a kind never written", |i| {
        assert!(store.get("nothing", &hits[i % KEYS]).unwrap().is_none());
    });
}

#[test]
fn store_read_hit_and_miss() {
    let (store, hits, misses) = setup();
    assert_no_alloc("Store::read hit", |i| {
        assert!(store.read("k", &hits[i % KEYS], |v| *v).unwrap().is_some());
    });
    assert_no_alloc("Store::read miss", |i| {
        assert!(store
            .read("k", &misses[i % KEYS], |v| *v)
            .unwrap()
            .is_none());
    });
}

#[test]
fn kind_get_hit_and_miss() {
    let (store, hits, misses) = setup();
    let kind = store.kind("k").unwrap();
    assert_no_alloc("Kind::get hit", |i| {
        assert!(kind.get(&hits[i % KEYS]).unwrap().is_some());
    });
    assert_no_alloc("Kind::get miss", |i| {
        assert!(kind.get(&misses[i % KEYS]).unwrap().is_none());
    });
}

#[test]
fn kind_read_hit_and_miss() {
    let (store, hits, misses) = setup();
    let kind = store.kind("k").unwrap();
    assert_no_alloc("Kind::read hit", |i| {
        assert!(kind.read(&hits[i % KEYS], |v| *v).unwrap().is_some());
    });
    assert_no_alloc("Kind::read miss", |i| {
        assert!(kind.read(&misses[i % KEYS], |v| *v).unwrap().is_none());
    });
}

#[test]
fn contains_hit_and_miss() {
    let (store, hits, misses) = setup();
    assert_no_alloc("Store::contains", |i| {
        assert!(store.contains("k", &hits[i % KEYS]).unwrap());
        assert!(!store.contains("k", &misses[i % KEYS]).unwrap());
    });
}

/// The counter itself works: an allocation while armed is seen.
#[test]
fn the_counter_sees_allocations() {
    COUNT.with(|count| count.set(0));
    ARMED.with(|armed| armed.set(true));
    let boxed = std::hint::black_box(Box::new(7u64));
    ARMED.with(|armed| armed.set(false));
    drop(boxed);
    assert_eq!(COUNT.with(Cell::get), 1);
    TRACES.lock().unwrap().clear();
}
