//! Multi-key consistency, checked over the revision order (contract 7, 21,
//! 22, 26, 27): threads run random histories of `set`, atomic `set_many`,
//! `delete`, transactions (read two keys, write both), point-in-time `list`s
//! and snapshots; a watcher records every event with its revision; values
//! are unique, so every event names the operation that wrote it. Then:
//!
//! * **atomic writes** — the events of one `set_many` or transaction share
//!   one revision;
//! * **strict serializability** — a write that returned before another
//!   began has the smaller revision, and a transaction read exactly the
//!   state just before its revision;
//! * **snapshots** — each equals the fold of every event at or below its
//!   revision;
//! * **no fractured reads** — each `list` equals that fold at some revision
//!   between the last write that returned before it began and the first
//!   write that began after it returned.
//!
//! Single-key histories are `tests/linearizability.rs`'s job. The checker is
//! tested too: it catches a store whose `set_many` is applied key by key
//! through the fractured-read check alone.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Barrier;

use zestor::{Error, EventType, Store, WatchOptions};

mod support;
use support::Rng;

const KEYS: [&str; 4] = ["a", "b", "c", "d"];

type State = BTreeMap<String, u64>;

/// What an operation did, as its thread saw it.
#[derive(Clone, Debug)]
enum Did {
    /// Wrote these values (set, set_many, a transaction's writes).
    Wrote(Vec<u64>),
    /// A transaction: what it read (`None`: absent), and the values it
    /// wrote.
    Transaction {
        read: BTreeMap<String, Option<u64>>,
        wrote: Vec<u64>,
    },
    /// A point-in-time list.
    Listed(State),
    /// A snapshot, at its revision.
    Snapshot { revision: u64, entries: State },
    /// A delete (its event carries the deleted value, not a new one).
    Deleted,
}

#[derive(Clone, Debug)]
struct Op {
    did: Did,
    invoked: u64,
    responded: u64,
}

/// The store under test, or a broken stand-in.
trait Kv: Sync {
    fn set(&self, key: &str, value: u64);
    fn set_many(&self, items: &[(&str, u64)]);
    fn delete(&self, key: &str);
    /// Reads `from` and `to`, writes each plus `unique` (a fresh value).
    fn transaction(&self, from: &str, to: &str, unique: [u64; 2]) -> BTreeMap<String, Option<u64>>;
    fn list(&self) -> State;
    fn snapshot(&self) -> (u64, State);
    fn store(&self) -> &Store<u64>;
}

fn state_of(list: Vec<(std::sync::Arc<str>, zestor::Value<u64>)>) -> State {
    list.into_iter()
        .map(|(key, value)| (key.to_string(), *value))
        .collect()
}

impl Kv for Store<u64> {
    fn set(&self, key: &str, value: u64) {
        Store::set(self, "k", key, value).unwrap();
    }
    fn set_many(&self, items: &[(&str, u64)]) {
        Store::set_many(self, "k", items.iter().copied()).unwrap();
    }
    fn delete(&self, key: &str) {
        Store::delete(self, "k", key).unwrap();
    }
    fn transaction(&self, from: &str, to: &str, unique: [u64; 2]) -> BTreeMap<String, Option<u64>> {
        Store::transaction(self, "k", |tx| {
            let mut read = BTreeMap::new();
            for key in [from, to] {
                read.insert(key.to_owned(), tx.get(key).map(|value| *value));
            }
            tx.set(from, unique[0]);
            tx.set(to, unique[1]);
            Ok::<_, Error>(read)
        })
        .unwrap()
    }
    fn list(&self) -> State {
        state_of(Store::list(self, "k").unwrap())
    }
    fn snapshot(&self) -> (u64, State) {
        let snapshot = Store::snapshot(self, "k").unwrap();
        (snapshot.revision(), state_of(snapshot.list()))
    }
    fn store(&self) -> &Store<u64> {
        self
    }
}

/// Runs one random history; returns its operations and every event (key,
/// value, revision, type) in delivery order.
fn record(kv: &dyn Kv, seed: u64, threads: usize, ops_per_thread: usize) -> (Vec<Op>, Vec<Event>) {
    let mut watch = kv
        .store()
        .watch("k", WatchOptions::new().buffer_size(1024))
        .unwrap();
    let clock = AtomicU64::new(0);
    let start = Barrier::new(threads);
    let mut ops = Vec::new();
    std::thread::scope(|scope| {
        let handles: Vec<_> = (0..threads)
            .map(|thread| {
                let (clock, start) = (&clock, &start);
                scope.spawn(move || {
                    let mut rng = Rng(seed.wrapping_mul(131).wrapping_add(thread as u64 + 7) | 1);
                    let mut mine = Vec::new();
                    let mut unique = (thread as u64 + 1) << 32;
                    let mut fresh = || {
                        unique += 1;
                        unique
                    };
                    start.wait();
                    for _ in 0..ops_per_thread {
                        let roll = rng.next();
                        let key = |shift: u32| KEYS[((roll >> shift) % KEYS.len() as u64) as usize];
                        // SeqCst: the stamps must agree with real time.
                        let invoked = clock.fetch_add(1, Ordering::SeqCst);
                        let did = match roll % 8 {
                            0 | 1 => {
                                let value = fresh();
                                kv.set(key(8), value);
                                Did::Wrote(vec![value])
                            }
                            2 | 3 => {
                                let (x, y) = (key(8), key(12));
                                let items: Vec<(&str, u64)> = if x == y {
                                    vec![(x, fresh())]
                                } else {
                                    vec![(x, fresh()), (y, fresh())]
                                };
                                kv.set_many(&items);
                                Did::Wrote(items.iter().map(|(_, v)| *v).collect())
                            }
                            4 => {
                                kv.delete(key(8));
                                Did::Deleted
                            }
                            5 => {
                                let (from, to) = (key(8), key(12));
                                if from == to {
                                    Did::Listed(kv.list())
                                } else {
                                    let wrote = [fresh(), fresh()];
                                    let read = kv.transaction(from, to, wrote);
                                    Did::Transaction {
                                        read,
                                        wrote: wrote.to_vec(),
                                    }
                                }
                            }
                            6 => Did::Listed(kv.list()),
                            _ => {
                                let (revision, entries) = kv.snapshot();
                                Did::Snapshot { revision, entries }
                            }
                        };
                        let responded = clock.fetch_add(1, Ordering::SeqCst);
                        mine.push(Op {
                            did,
                            invoked,
                            responded,
                        });
                    }
                    mine
                })
            })
            .collect();
        for handle in handles {
            ops.extend(handle.join().unwrap());
        }
    });
    let mut events = Vec::new();
    while let Some(event) = watch.try_recv().unwrap() {
        events.push(Event {
            key: event.key.to_string(),
            value: *event.value,
            revision: event.revision,
            delete: event.event_type == EventType::Delete,
        });
    }
    (ops, events)
}

#[derive(Clone, Debug)]
struct Event {
    key: String,
    value: u64,
    revision: u64,
    delete: bool,
}

/// Which checks to run (the broken-store test turns the direct atomicity
/// check off, to show the fractured-read check finds the bug on its own).
struct Checks {
    one_revision_per_write: bool,
}

/// The first violation in a history, described.
fn violation(ops: &[Op], events: &[Event], checks: &Checks) -> Option<String> {
    // The fold: the state after each revision that has events.
    let mut states: Vec<(u64, State)> = vec![(0, State::new())];
    let mut revision_of: BTreeMap<u64, u64> = BTreeMap::new();
    let mut current = State::new();
    for event in events {
        if event.delete {
            current.remove(&event.key);
        } else {
            current.insert(event.key.clone(), event.value);
            revision_of.insert(event.value, event.revision);
        }
        match states.last_mut() {
            Some((revision, state)) if *revision == event.revision => *state = current.clone(),
            _ => states.push((event.revision, current.clone())),
        }
    }
    let at = |revision: u64| -> &State {
        let index = states.partition_point(|(r, _)| *r <= revision) - 1;
        &states[index].1
    };
    // Each write's revision (writes whose every value was overwritten
    // before any event was delivered still have their events).
    let write_revision = |values: &[u64]| -> Result<Option<u64>, String> {
        let revisions: Vec<u64> = values
            .iter()
            .filter_map(|v| revision_of.get(v).copied())
            .collect();
        if revisions.len() != values.len() {
            return Err(format!("values {values:?} have no events"));
        }
        let first = revisions.first().copied();
        if checks.one_revision_per_write && revisions.iter().any(|r| Some(*r) != first) {
            return Err(format!("one write took several revisions: {revisions:?}"));
        }
        Ok(first)
    };
    let mut timed: Vec<(u64, u64, u64)> = Vec::new(); // (invoked, responded, revision)
                                                      // Revisions at which some multi-key write was half done: the state after
                                                      // them is one no reader may see (a correct store has none).
    let mut torn: Vec<(u64, u64)> = Vec::new();
    for op in ops {
        let values = match &op.did {
            Did::Wrote(values) | Did::Transaction { wrote: values, .. } => values,
            _ => continue,
        };
        match write_revision(values) {
            Ok(Some(revision)) => timed.push((op.invoked, op.responded, revision)),
            Ok(None) => {}
            Err(problem) => return Some(problem),
        }
        let revisions: Vec<u64> = values
            .iter()
            .filter_map(|v| revision_of.get(v).copied())
            .collect();
        if let (Some(first), Some(last)) = (revisions.iter().min(), revisions.iter().max()) {
            if first < last {
                torn.push((*first, *last));
            }
        }
    }
    let is_torn = |revision: u64| {
        torn.iter()
            .any(|(first, last)| *first <= revision && revision < *last)
    };
    // Strict serializability of writes: real time agrees with revisions.
    for a in &timed {
        for b in &timed {
            if a.1 < b.0 && a.2 >= b.2 {
                return Some(format!(
                    "a write that returned at {} has revision {} >= {} of one that began at {}",
                    a.1, a.2, b.2, b.0
                ));
            }
        }
    }
    for op in ops {
        match &op.did {
            Did::Transaction { read, wrote } => {
                let revision = write_revision(wrote).ok().flatten().expect("checked above");
                let before = at(revision - 1);
                for (key, seen) in read {
                    if before.get(key) != seen.as_ref() {
                        return Some(format!(
                            "a transaction at {revision} read {key} = {seen:?}, the state before it holds {:?}",
                            before.get(key)
                        ));
                    }
                }
            }
            Did::Snapshot { revision, entries } => {
                if is_torn(*revision) {
                    return Some(format!(
                        "a snapshot at {revision} is inside a multi-key write"
                    ));
                }
                if entries != at(*revision) {
                    return Some(format!(
                        "a snapshot at {revision} holds {entries:?}, the writes up to it make {:?}",
                        at(*revision)
                    ));
                }
            }
            Did::Listed(entries) => {
                let low = timed
                    .iter()
                    .filter(|w| w.1 < op.invoked)
                    .map(|w| w.2)
                    .max()
                    .unwrap_or(0);
                let high = timed
                    .iter()
                    .filter(|w| w.0 > op.responded)
                    .map(|w| w.2)
                    .min()
                    .unwrap_or(u64::MAX);
                let explained = states.iter().filter(|(r, _)| *r < high).any(|(r, state)| {
                    // The state at r holds from r until the next revision.
                    let next = states
                        .iter()
                        .map(|(s, _)| *s)
                        .find(|s| *s > *r)
                        .unwrap_or(u64::MAX);
                    next > low && state == entries && !is_torn(*r)
                });
                if !explained {
                    return Some(format!(
                        "a list saw {entries:?}: no state between revisions {low} and {high}"
                    ));
                }
            }
            _ => {}
        }
    }
    None
}

#[test]
fn multi_key_histories_are_strictly_serializable() {
    let histories = if cfg!(miri) { 3 } else { 600 };
    let checks = Checks {
        one_revision_per_write: true,
    };
    for seed in 0..histories {
        let store = Store::<u64>::new();
        let (ops, events) = record(&store, seed, 3 + (seed % 2) as usize, 8);
        if let Some(problem) = violation(&ops, &events, &checks) {
            panic!("history {seed}: {problem}\nops: {ops:#?}\nevents: {events:#?}");
        }
    }
}

/// A store whose `set_many` writes key by key: each item its own revision,
/// visible as soon as it is written.
struct KeyByKey(Store<u64>);

impl Kv for KeyByKey {
    fn set(&self, key: &str, value: u64) {
        Kv::set(&self.0, key, value);
    }
    fn set_many(&self, items: &[(&str, u64)]) {
        for (key, value) in items {
            Kv::set(&self.0, key, *value);
            std::thread::yield_now();
        }
    }
    fn delete(&self, key: &str) {
        Kv::delete(&self.0, key);
    }
    fn transaction(&self, from: &str, to: &str, unique: [u64; 2]) -> BTreeMap<String, Option<u64>> {
        Kv::transaction(&self.0, from, to, unique)
    }
    fn list(&self) -> State {
        Kv::list(&self.0)
    }
    fn snapshot(&self) -> (u64, State) {
        Kv::snapshot(&self.0)
    }
    fn store(&self) -> &Store<u64> {
        &self.0
    }
}

#[test]
fn the_checker_catches_a_set_many_applied_key_by_key() {
    let attempts = if cfg!(miri) { 0 } else { 3_000 };
    // Only the fractured-read and snapshot checks: they must find it.
    let checks = Checks {
        one_revision_per_write: false,
    };
    let caught = (0..attempts).find(|&seed| {
        let broken = KeyByKey(Store::new());
        let (ops, events) = record(&broken, seed, 3, 10);
        violation(&ops, &events, &checks).is_some()
    });
    assert!(
        cfg!(miri) || caught.is_some(),
        "a key-by-key set_many went unnoticed in {attempts} histories"
    );
    if let Some(seed) = caught {
        eprintln!("the key-by-key set_many was caught by history {seed}");
    }
    // And the direct check sees it at once.
    let broken = KeyByKey(Store::new());
    let store_checks = Checks {
        one_revision_per_write: true,
    };
    let found = (0..50).any(|seed| {
        let (ops, events) = record(&broken, seed, 2, 10);
        violation(&ops, &events, &store_checks).is_some()
    });
    assert!(cfg!(miri) || found);
}

#[test]
fn the_checker_accepts_a_serial_history_and_rejects_a_torn_list() {
    let store = Store::<u64>::new();
    let ops = vec![
        Op {
            did: Did::Wrote(vec![1, 2]),
            invoked: 0,
            responded: 1,
        },
        Op {
            did: Did::Listed(State::from([("a".into(), 1), ("b".into(), 2)])),
            invoked: 2,
            responded: 3,
        },
    ];
    let events = vec![
        Event {
            key: "a".into(),
            value: 1,
            revision: 1,
            delete: false,
        },
        Event {
            key: "b".into(),
            value: 2,
            revision: 1,
            delete: false,
        },
    ];
    let checks = Checks {
        one_revision_per_write: true,
    };
    assert!(violation(&ops, &events, &checks).is_none());
    let mut torn = ops.clone();
    torn[1].did = Did::Listed(State::from([("a".into(), 1)]));
    assert!(violation(&torn, &events, &checks).is_some());
    drop(store);
}
