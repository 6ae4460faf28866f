//! The ordering guarantees under the conditions that break them: many more
//! threads than cores, writers stalled at random inside the write path (a
//! global allocator that yields or sleeps in writer threads), a ring of two
//! slots, and replay watchers with a buffer of two that check every event
//! against their replica as it arrives and re-subscribe after each overflow.
//!
//! Every value carries the value it replaced (`(previous, id)`, ids unique),
//! so a watcher can tell an event that lands on top of a write it never got:
//! a silent gap (contract 15). Before issue 8 a writer that took its
//! revision, stalled, and landed after a replay walk produced exactly that,
//! within seconds (`loom-tests/tests/p4_replay.rs` has the interleaving).

use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;
use std::collections::BTreeMap;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use zestor::{Error, EventType, Store, WatchError, WatchOptions};

mod support;
use support::Rng;

/// Stalls writer threads at random in their allocations.
struct Stalling;

thread_local! {
    static STALLS: Cell<Option<u64>> = const { Cell::new(None) };
}

unsafe impl GlobalAlloc for Stalling {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        stall();
        // SAFETY: forwarded unchanged to the system allocator.
        unsafe { System.alloc(layout) }
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: forwarded unchanged to the system allocator.
        unsafe { System.dealloc(ptr, layout) }
    }
}

#[global_allocator]
static ALLOCATOR: Stalling = Stalling;

/// In a writer thread: yield one allocation in four, sleep one in 64.
fn stall() {
    let Ok(Some(mut state)) = STALLS.try_with(Cell::get) else {
        return;
    };
    state ^= state << 13;
    state ^= state >> 7;
    state ^= state << 17;
    let _ = STALLS.try_with(|stalls| stalls.set(Some(state)));
    match state % 64 {
        0 => std::thread::sleep(Duration::from_micros(50)),
        1..=15 => std::thread::yield_now(),
        _ => {}
    }
}

const KEYS: [&str; 3] = ["k1", "k2", "k3"];

/// A replica that checks each event against what it holds.
#[derive(Default)]
struct Replica {
    values: BTreeMap<String, (u64, u64)>,
}

impl Replica {
    fn replayed(&mut self, key: &str, value: (u64, u64)) {
        self.values.insert(key.to_owned(), value);
    }

    /// A live event: it must follow on from what the replica holds.
    fn live(&mut self, event_type: EventType, key: &str, value: (u64, u64)) -> Result<(), String> {
        let held = self.values.get(key).copied();
        match (event_type, held) {
            (EventType::Create, None) if value.0 == 0 => {
                self.values.insert(key.to_owned(), value);
            }
            (EventType::Update, Some(held)) if value.0 == held.1 => {
                self.values.insert(key.to_owned(), value);
            }
            (EventType::Delete, Some(held)) if value == held => {
                self.values.remove(key);
            }
            _ => {
                return Err(format!(
                    "silent gap: {event_type:?} {key} {value:?} on top of {held:?}"
                ))
            }
        }
        Ok(())
    }
}

struct Outcome {
    events: u64,
    overflows: u64,
    writes: u64,
}

/// Runs `writers` stalled writers against `watchers` checking watchers for
/// `duration`; with `deletes`, writers also delete keys and re-create them
/// in transactions.
fn torture(writers: u64, watchers: usize, duration: Duration, deletes: bool) -> Outcome {
    let store = Store::<(u64, u64)>::builder().ring_capacity(2).build();
    for (i, key) in KEYS.iter().enumerate() {
        store.set("t", key, (0, 1_000_000 + i as u64)).unwrap();
    }
    let stop = Arc::new(AtomicBool::new(false));
    let writes = Arc::new(AtomicU64::new(0));
    let writer_threads: Vec<_> = (1..=writers)
        .map(|writer| {
            let (store, stop, writes) = (store.clone(), Arc::clone(&stop), Arc::clone(&writes));
            std::thread::spawn(move || {
                STALLS.with(|stalls| {
                    stalls.set(Some(writer.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1))
                });
                let mut rng = Rng(writer);
                let mut n = 0;
                while !stop.load(Ordering::Relaxed) {
                    n += 1;
                    let id = writer * 10_000_000 + n;
                    let key = KEYS[(rng.next() % 3) as usize];
                    let roll = rng.next() % 10;
                    if deletes && roll == 0 {
                        store.delete("t", key).unwrap();
                    } else if deletes && roll < 3 {
                        store
                            .transaction("t", |tx| {
                                let next = match tx.get(key) {
                                    Some(old) => (old.1, id),
                                    None => (0, id),
                                };
                                tx.set(key, next);
                                Ok::<_, Error>(())
                            })
                            .unwrap();
                    } else {
                        match store.update("t", key, |old| Ok::<_, Error>((old.1, id))) {
                            Ok(_) | Err(Error::KeyNotFound) => {}
                            Err(error) => panic!("update: {error}"),
                        }
                    }
                    writes.fetch_add(1, Ordering::Relaxed);
                }
                STALLS.with(|stalls| stalls.set(None));
            })
        })
        .collect();
    let watcher_threads: Vec<_> = (0..watchers)
        .map(|_| {
            let (store, stop) = (store.clone(), Arc::clone(&stop));
            std::thread::spawn(move || {
                let (mut events, mut overflows) = (0, 0);
                while !stop.load(Ordering::Relaxed) {
                    let mut watch = store
                        .watch("t", WatchOptions::new().replay(true).buffer_size(2))
                        .unwrap();
                    let mut replica = Replica::default();
                    loop {
                        let replaying = watch.replay_remaining() > 0;
                        match watch.recv_timeout(Duration::from_millis(20)) {
                            Ok(Some(event)) => {
                                events += 1;
                                if replaying {
                                    replica.replayed(&event.key, *event.value);
                                } else if let Err(gap) =
                                    replica.live(event.event_type, &event.key, *event.value)
                                {
                                    panic!("{gap} (revision {})", event.revision);
                                }
                            }
                            Ok(None) if stop.load(Ordering::Relaxed) => break,
                            Ok(None) => {}
                            Err(WatchError::Overflow) => {
                                overflows += 1;
                                break;
                            }
                            Err(WatchError::Closed) => unreachable!("never closed"),
                        }
                    }
                }
                (events, overflows)
            })
        })
        .collect();
    std::thread::sleep(duration);
    stop.store(true, Ordering::Relaxed);
    for writer in writer_threads {
        writer.join().unwrap();
    }
    let (mut events, mut overflows) = (0, 0);
    for watcher in watcher_threads {
        let (e, o) = watcher.join().unwrap();
        events += e;
        overflows += o;
    }
    // Quiescent: a replay is the store.
    let mut watch = store
        .watch("t", WatchOptions::new().replay(true).buffer_size(2))
        .unwrap();
    let mut replica = BTreeMap::new();
    while let Some(event) = watch.try_recv().unwrap() {
        replica.insert(event.key.to_string(), *event.value);
    }
    let stored: BTreeMap<String, (u64, u64)> = store
        .list("t")
        .unwrap()
        .into_iter()
        .map(|(key, value)| (key.to_string(), *value))
        .collect();
    assert_eq!(replica, stored);
    Outcome {
        events,
        overflows,
        writes: writes.load(Ordering::Relaxed),
    }
}

fn seconds() -> Duration {
    let default = if cfg!(miri) { 0.2 } else { 2.0 };
    Duration::from_secs_f64(
        std::env::var("ZESTOR_TORTURE_SECONDS")
            .ok()
            .and_then(|s| s.parse().ok())
            .unwrap_or(default),
    )
}

#[test]
fn stalled_updaters_never_open_a_gap_in_replay_watchers() {
    let started = Instant::now();
    let outcome = torture(10, 4, seconds(), false);
    assert!(outcome.writes > 100, "the writers made progress");
    assert!(
        outcome.events > 0 && outcome.overflows > 0,
        "the watchers were tested"
    );
    eprintln!(
        "updates only: {} writes, {} events checked, {} overflows, {:?}",
        outcome.writes,
        outcome.events,
        outcome.overflows,
        started.elapsed()
    );
}

#[test]
fn stalled_writers_with_deletes_and_transactions_never_open_a_gap() {
    let started = Instant::now();
    let outcome = torture(10, 4, seconds(), true);
    assert!(outcome.writes > 100, "the writers made progress");
    assert!(
        outcome.events > 0 && outcome.overflows > 0,
        "the watchers were tested"
    );
    eprintln!(
        "with deletes and transactions: {} writes, {} events checked, {} overflows, {:?}",
        outcome.writes,
        outcome.events,
        outcome.overflows,
        started.elapsed()
    );
}
