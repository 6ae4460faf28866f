//! Linearizability, checked: threads run short random histories of `set`,
//! `get`, `delete` and `update` on one to three keys; every operation's
//! invocation and response are stamped from one global clock; and a
//! Wing–Gong search (with memoization of explored states, after Lowe) looks
//! for an order of the operations that respects real time and the
//! sequential specification. Linearizability is local, so each key is
//! checked on its own.
//!
//! The checker is tested too: it accepts hand-made linearizable histories,
//! rejects hand-made stale reads, and catches a deliberately broken store
//! (reads that may return a value the thread saw before) within a few
//! hundred random histories.

use std::cell::Cell;
use std::collections::HashSet;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Barrier;

use zestor::{Error, SetResult, Store};

/// One operation on one key, as invoked.
#[derive(Clone, Copy, Debug, PartialEq)]
enum Call {
    Set(u32),
    Get,
    Delete,
    /// `update(key, |v| v + 1)`.
    Increment,
}

/// What the operation returned.
#[derive(Clone, Copy, Debug, PartialEq)]
enum Return {
    Stored(SetResult),
    Value(Option<u32>),
    /// `update`: Some(changed), or None for KeyNotFound.
    Updated(Option<bool>),
}

#[derive(Clone, Debug)]
struct Operation {
    thread: usize,
    key: usize,
    call: Call,
    returned: Return,
    invoked: u64,
    responded: u64,
}

/// The sequential specification of one key: what `call` returns in `state`,
/// and the state after it.
fn step(state: Option<u32>, call: Call) -> (Return, Option<u32>) {
    match call {
        Call::Set(value) => match state {
            None => (Return::Stored(SetResult::Created), Some(value)),
            Some(old) if old == value => (Return::Stored(SetResult::Unchanged), state),
            Some(_) => (Return::Stored(SetResult::Updated), Some(value)),
        },
        Call::Get => (Return::Value(state), state),
        Call::Delete => (Return::Value(state), None),
        Call::Increment => match state {
            None => (Return::Updated(None), None),
            Some(old) => (Return::Updated(Some(true)), Some(old + 1)),
        },
    }
}

/// Is there a real-time-respecting sequential order of `ops` (all on one
/// key, starting absent) that the specification explains?
fn linearizable(ops: &[Operation]) -> bool {
    assert!(
        ops.len() <= 64,
        "the search keeps the remaining set in a u64"
    );
    fn search(
        ops: &[Operation],
        remaining: u64,
        state: Option<u32>,
        seen: &mut HashSet<(u64, Option<u32>)>,
    ) -> bool {
        if remaining == 0 {
            return true;
        }
        // An operation can go next only if no remaining operation responded
        // before it was invoked.
        let earliest_response = (0..ops.len())
            .filter(|i| remaining & (1 << i) != 0)
            .map(|i| ops[i].responded)
            .min()
            .unwrap_or(u64::MAX);
        for i in 0..ops.len() {
            if remaining & (1 << i) == 0 || ops[i].invoked > earliest_response {
                continue;
            }
            let (expected, next) = step(state, ops[i].call);
            if expected != ops[i].returned {
                continue;
            }
            let rest = remaining & !(1 << i);
            if seen.insert((rest, next)) && search(ops, rest, next, seen) {
                return true;
            }
        }
        false
    }
    let all = if ops.len() == 64 {
        u64::MAX
    } else {
        (1u64 << ops.len()) - 1
    };
    search(ops, all, None, &mut HashSet::new())
}

/// The operations under test, so a deliberately broken variant can stand in.
trait Register: Sync {
    fn set(&self, key: &str, value: u32) -> SetResult;
    fn get(&self, key: &str) -> Option<u32>;
    fn delete(&self, key: &str) -> Option<u32>;
    fn increment(&self, key: &str) -> Option<bool>;
}

impl Register for Store<u32> {
    fn set(&self, key: &str, value: u32) -> SetResult {
        Store::set(self, "k", key, value).unwrap()
    }
    fn get(&self, key: &str) -> Option<u32> {
        Store::get(self, "k", key).unwrap().map(|v| *v)
    }
    fn delete(&self, key: &str) -> Option<u32> {
        Store::delete(self, "k", key).unwrap().map(|v| *v)
    }
    fn increment(&self, key: &str) -> Option<bool> {
        match Store::update(self, "k", key, |v| Ok::<_, Error>(v + 1)) {
            Ok(changed) => Some(changed),
            Err(Error::KeyNotFound) => None,
            Err(error) => panic!("update: {error}"),
        }
    }
}

mod support;
use support::Rng;

const KEYS: [&str; 3] = ["a", "b", "c"];

/// Runs one random history on a fresh register and returns its operations.
fn record(
    register: &dyn Register,
    seed: u64,
    threads: usize,
    ops_per_thread: usize,
    keys: usize,
) -> Vec<Operation> {
    let clock = AtomicU64::new(0);
    let start = Barrier::new(threads);
    let mut all = Vec::new();
    std::thread::scope(|scope| {
        let handles: Vec<_> = (0..threads)
            .map(|thread| {
                let (clock, start) = (&clock, &start);
                scope.spawn(move || {
                    let mut rng = Rng(seed.wrapping_mul(31).wrapping_add(thread as u64 + 1) | 1);
                    let mut ops = Vec::new();
                    start.wait();
                    for _ in 0..ops_per_thread {
                        let roll = rng.next();
                        let key = (roll % keys as u64) as usize;
                        let call = match (roll >> 8) % 8 {
                            0..=2 => Call::Set(((roll >> 16) % 3) as u32),
                            3..=5 => Call::Get,
                            6 => Call::Delete,
                            _ => Call::Increment,
                        };
                        // SeqCst: the stamps must agree with real time.
                        let invoked = clock.fetch_add(1, Ordering::SeqCst);
                        let returned = match call {
                            Call::Set(value) => Return::Stored(register.set(KEYS[key], value)),
                            Call::Get => Return::Value(register.get(KEYS[key])),
                            Call::Delete => Return::Value(register.delete(KEYS[key])),
                            Call::Increment => Return::Updated(register.increment(KEYS[key])),
                        };
                        let responded = clock.fetch_add(1, Ordering::SeqCst);
                        ops.push(Operation {
                            thread,
                            key,
                            call,
                            returned,
                            invoked,
                            responded,
                        });
                    }
                    ops
                })
            })
            .collect();
        for handle in handles {
            all.extend(handle.join().unwrap());
        }
    });
    all
}

/// Checks each key's sub-history; returns the first one that is not
/// linearizable.
fn find_violation(history: &[Operation], keys: usize) -> Option<Vec<Operation>> {
    (0..keys).find_map(|key| {
        let ops: Vec<Operation> = history.iter().filter(|op| op.key == key).cloned().collect();
        (!linearizable(&ops)).then_some(ops)
    })
}

fn describe(ops: &[Operation]) -> String {
    let mut ops = ops.to_vec();
    ops.sort_by_key(|op| op.invoked);
    ops.iter()
        .map(|op| {
            format!(
                "  t{} [{:>3}, {:>3}] {:?} -> {:?}",
                op.thread, op.invoked, op.responded, op.call, op.returned
            )
        })
        .collect::<Vec<_>>()
        .join("\n")
}

#[test]
fn store_histories_are_linearizable() {
    let histories = if cfg!(miri) { 5 } else { 3_000 };
    for seed in 0..histories {
        let threads = 3 + (seed % 2) as usize;
        let keys = 1 + (seed % 3) as usize;
        let store = Store::<u32>::new();
        let history = record(&store, seed, threads, 5, keys);
        if let Some(ops) = find_violation(&history, keys) {
            panic!(
                "history {seed} is not linearizable on one key:\n{}",
                describe(&ops)
            );
        }
    }
}

fn op(thread: usize, call: Call, returned: Return, invoked: u64, responded: u64) -> Operation {
    Operation {
        thread,
        key: 0,
        call,
        returned,
        invoked,
        responded,
    }
}

#[test]
fn the_checker_accepts_overlap_and_rejects_stale_reads() {
    use Call::*;
    use Return::*;
    // Sequential and obviously fine.
    assert!(linearizable(&[
        op(0, Set(1), Stored(SetResult::Created), 0, 1),
        op(1, Get, Value(Some(1)), 2, 3),
        op(0, Increment, Updated(Some(true)), 4, 5),
        op(1, Delete, Value(Some(2)), 6, 7),
        op(0, Get, Value(None), 8, 9),
    ]));
    // A read overlapping a write may return either side of it.
    for seen in [None, Some(1)] {
        assert!(linearizable(&[
            op(0, Set(1), Stored(SetResult::Created), 0, 3),
            op(1, Get, Value(seen), 1, 2)
        ]));
    }
    // A read that starts after a write finished must see it.
    assert!(!linearizable(&[
        op(0, Set(1), Stored(SetResult::Created), 0, 1),
        op(1, Get, Value(None), 2, 3)
    ]));
    // Two creates of the same absent key cannot both return Created...
    assert!(!linearizable(&[
        op(0, Set(1), Stored(SetResult::Created), 0, 3),
        op(1, Set(2), Stored(SetResult::Created), 1, 2),
    ]));
    // ...unless a delete fits between them.
    assert!(linearizable(&[
        op(0, Set(1), Stored(SetResult::Created), 0, 5),
        op(1, Set(2), Stored(SetResult::Created), 1, 4),
        op(2, Delete, Value(Some(1)), 2, 3),
    ]));
    // A lost increment: two increments overlapping, both "changed", final 1.
    assert!(!linearizable(&[
        op(0, Set(0), Stored(SetResult::Created), 0, 1),
        op(1, Increment, Updated(Some(true)), 2, 5),
        op(2, Increment, Updated(Some(true)), 3, 4),
        op(0, Get, Value(Some(1)), 6, 7),
    ]));
}

/// A store whose reads may answer from a per-thread cache of the last value
/// the thread saw: the kind of bug the checker exists to catch.
struct StaleReads(Store<u32>);

thread_local! {
    static LAST_SEEN: Cell<Option<(usize, Option<u32>)>> = const { Cell::new(None) };
    static COIN: Cell<u64> = const { Cell::new(0x9E37_79B9_7F4A_7C15) };
}

impl Register for StaleReads {
    fn set(&self, key: &str, value: u32) -> SetResult {
        Register::set(&self.0, key, value)
    }
    fn get(&self, key: &str) -> Option<u32> {
        let index = KEYS.iter().position(|k| *k == key).unwrap();
        let heads = COIN.with(|coin| {
            let mut rng = Rng(coin.get());
            let heads = rng.next() % 2 == 0;
            coin.set(rng.0);
            heads
        });
        if let (true, Some((cached_key, value))) = (heads, LAST_SEEN.with(Cell::get)) {
            if cached_key == index {
                return value;
            }
        }
        let value = Register::get(&self.0, key);
        LAST_SEEN.with(|last| last.set(Some((index, value))));
        value
    }
    fn delete(&self, key: &str) -> Option<u32> {
        Register::delete(&self.0, key)
    }
    fn increment(&self, key: &str) -> Option<bool> {
        Register::increment(&self.0, key)
    }
}

#[test]
fn the_checker_catches_a_store_with_stale_reads() {
    let attempts = if cfg!(miri) { 0 } else { 2_000 };
    let caught = (0..attempts).find(|&seed| {
        let broken = StaleReads(Store::<u32>::new());
        let history = record(&broken, seed, 3, 6, 1);
        find_violation(&history, 1).is_some()
    });
    assert!(
        cfg!(miri) || caught.is_some(),
        "a stale read went unnoticed in {attempts} histories"
    );
    if let Some(seed) = caught {
        eprintln!("the stale-read store was caught by history {seed}");
    }
}
