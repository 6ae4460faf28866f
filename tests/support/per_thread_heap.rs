//! A global allocator that counts, per thread, the bytes allocated less the
//! bytes freed while a test has armed it ([`net_bytes`]), so the harness's
//! other test threads do not interfere. A test file that uses it declares
//! it: `#[global_allocator] static ALLOCATOR: CountingPerThread =
//! CountingPerThread;`. Frees made by another thread are not counted: a
//! test whose garbage another thread may free (crossbeam-epoch frees what
//! any pinning thread collects) needs a test binary of its own.

use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;

pub struct CountingPerThread;

thread_local! {
    /// Net bytes allocated on this thread while armed.
    static NET: Cell<i64> = const { Cell::new(0) };
    /// Net count of allocations of at least `LARGE` bytes on this thread
    /// while armed: hash tables, not keys or versions.
    static LARGE_LIVE: Cell<i64> = const { Cell::new(0) };
    static ARMED: Cell<bool> = const { Cell::new(false) };
}

/// What `LARGE_LIVE` counts: bigger than any per-key allocation or ring
/// bucket, smaller than the hash tables of a kind of a few thousand keys.
pub const LARGE: usize = 64 * 1024;

fn count(delta: i64) {
    // `try_with`: a thread's locals may be gone while it exits.
    if ARMED.try_with(Cell::get).unwrap_or(false) {
        let _ = NET.try_with(|net| net.set(net.get() + delta));
        if delta.unsigned_abs() as usize >= LARGE {
            let _ = LARGE_LIVE.try_with(|live| live.set(live.get() + delta.signum()));
        }
    }
}

// SAFETY: every method forwards to `System` unchanged; the bookkeeping only
// touches const-initialized thread-locals (no lazy initialization, no
// destructor).
unsafe impl GlobalAlloc for CountingPerThread {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        count(layout.size() as i64);
        // SAFETY: forwarded unchanged.
        unsafe { System.alloc(layout) }
    }

    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        count(layout.size() as i64);
        // SAFETY: forwarded unchanged.
        unsafe { System.alloc_zeroed(layout) }
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        count(-(layout.size() as i64));
        count(new_size as i64);
        // SAFETY: forwarded unchanged.
        unsafe { System.realloc(ptr, layout, new_size) }
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        count(-(layout.size() as i64));
        // SAFETY: forwarded unchanged.
        unsafe { System.dealloc(ptr, layout) }
    }
}

/// Net heap bytes `f` leaves allocated on this thread.
pub fn net_bytes<R>(f: impl FnOnce() -> R) -> (R, i64) {
    NET.with(|net| net.set(0));
    LARGE_LIVE.with(|live| live.set(0));
    ARMED.with(|armed| armed.set(true));
    let result = f();
    ARMED.with(|armed| armed.set(false));
    (result, NET.with(Cell::get))
}

/// Net count of allocations of at least [`LARGE`] bytes made on this thread
/// during the last [`net_bytes`].
pub fn large_live() -> i64 {
    LARGE_LIVE.with(Cell::get)
}
