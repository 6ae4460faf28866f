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
//!
//! The last test does the same to mirrors: tiny buffers that resync all the
//! time, each resync racing stalled writers, checked event by event and
//! against snapshots of the kind.

use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;
use std::collections::BTreeMap;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use zestor::{Error, Event, EventType, Mirror, Store, Value, WatchError, WatchOptions};

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

/// The keys the mirror test writes: few, so that writes pile onto each
/// other, transactions conflict, and a coalesced backlog folds often.
const MIRROR_KEYS: [&str; 5] = ["m1", "m2", "m3", "m4", "m5"];

/// What a blind write (`set`, `set_many`) says it replaced: it cannot know.
const BLIND: u64 = u64::MAX;

/// One write by a stalled writer on the mirror test's kind, each value
/// `(replaced id, id)` like the tests above (`BLIND` where the write cannot
/// know what it replaces, 0 for a create). The error, if any.
fn mirror_write(store: &Store<(u64, u64)>, rng: &mut Rng, id: u64) -> Result<(), Error> {
    let key = MIRROR_KEYS[(rng.next() % MIRROR_KEYS.len() as u64) as usize];
    let other = MIRROR_KEYS[(rng.next() % MIRROR_KEYS.len() as u64) as usize];
    match rng.next() % 16 {
        0 | 1 => store.delete("m", key).map(drop),
        2 | 3 => store.set("m", key, (BLIND, id)).map(drop),
        // One revision, two events (one, when the keys are the same).
        4 | 5 => store.set_many("m", [(key, (BLIND, id)), (other, (BLIND, id + 1))]),
        // One revision: an update or create of one key, and an update,
        // create or delete of another.
        roll @ 6..=9 => store.transaction("m", |tx| {
            let next = tx.get(key).map_or((0, id), |old| (old.1, id));
            tx.set(key, next);
            if other != key {
                match tx.get(other) {
                    Some(_) if roll % 2 == 0 => tx.delete(other),
                    Some(old) => tx.set(other, (old.1, id + 1)),
                    None => tx.set(other, (0, id + 1)),
                }
            }
            Ok::<_, Error>(())
        }),
        _ => match store.update("m", key, |old| Ok::<_, Error>((old.1, id))) {
            Ok(_) | Err(Error::KeyNotFound) => Ok(()),
            Err(error) => Err(error),
        },
    }
}

/// A mirror's consumer: the mirror's events applied in order to its own
/// map, each checked against what that map holds.
struct MirrorConsumer {
    values: BTreeMap<String, (u64, u64)>,
    /// The mirror's revision as last read: it never goes back.
    revision: u64,
    events: u64,
    /// Events whose value names the one the consumer held as the value it
    /// replaced: the mirror passed the change on as it was written (the
    /// rest were coalesced, or blind writes).
    followed_on: u64,
    /// `list()` compared with the consumer's map.
    list_checks: u64,
    /// Mid-run: nothing pending and the kind still at the mirror's
    /// revision, so the view was compared with a snapshot.
    live_checks: u64,
    /// Quiescent: the writers parked, the mirror drained and compared with
    /// a snapshot.
    quiet_checks: u64,
}

impl MirrorConsumer {
    fn new() -> Self {
        MirrorConsumer {
            values: BTreeMap::new(),
            revision: 0,
            events: 0,
            followed_on: 0,
            list_checks: 0,
            live_checks: 0,
            quiet_checks: 0,
        }
    }

    /// One event from `mirror`: its type and `previous` must take the
    /// consumer's map from what it holds for the key to the event's value.
    fn event(
        &mut self,
        mirror: &Mirror<(u64, u64)>,
        event: &Event<(u64, u64)>,
    ) -> Result<(), String> {
        self.events += 1;
        let key = &*event.key;
        let value = *event.value;
        let previous = event.previous.as_deref().copied();
        let held = self.values.get(key).copied();
        let context = || {
            format!(
                "{:?} {key} {value:?} (previous {previous:?}, revision {}) on top of {held:?}",
                event.event_type, event.revision
            )
        };
        if &*event.kind != "m" {
            return Err(format!("an event of another kind: {}", context()));
        }
        if previous != held {
            return Err(format!(
                "previous is not what the consumer holds: {}",
                context()
            ));
        }
        match (event.event_type, held) {
            (EventType::Create, None) => {
                self.values.insert(key.to_owned(), value);
            }
            (EventType::Update, Some(held)) if value != held => {
                self.followed_on += u64::from(value.0 == held.1);
                self.values.insert(key.to_owned(), value);
            }
            (EventType::Delete, Some(held)) if value == held => {
                self.values.remove(key);
            }
            _ => return Err(format!("the wrong event type: {}", context())),
        }
        if mirror.get(key).as_deref() != self.values.get(key) {
            return Err(format!("get after the event: {}", context()));
        }
        let revision = mirror.revision();
        if revision < self.revision || event.revision > revision + 1 {
            return Err(format!(
                "the mirror's revision went from {} to {revision}: {}",
                self.revision,
                context()
            ));
        }
        self.revision = revision;
        if self.events % 8 == 0 {
            self.list_checks += 1;
            self.same_as_list(mirror)?;
        }
        Ok(())
    }

    /// The mirror's view is the consumer's map (the yielded events applied
    /// in order).
    fn same_as_list(&self, mirror: &Mirror<(u64, u64)>) -> Result<(), String> {
        let list = entries(mirror.list());
        if list != self.values {
            return Err(format!(
                "list() {list:?} is not the events yielded so far {:?}",
                self.values
            ));
        }
        Ok(())
    }

    /// With nothing pending, the view is the kind at the mirror's revision:
    /// compared with a snapshot when the kind has not moved on since.
    /// `quiet`: the writers are parked, so it must not have.
    fn caught_up(
        &mut self,
        store: &Store<(u64, u64)>,
        mirror: &Mirror<(u64, u64)>,
        quiet: bool,
    ) -> Result<(), String> {
        if mirror.pending() != 0 {
            return Err(format!("{} changes pending", mirror.pending()));
        }
        let snapshot = store.snapshot("m").map_err(|error| error.to_string())?;
        if snapshot.revision() != mirror.revision() {
            if quiet {
                return Err(format!(
                    "drained at revision {}, the kind is at {}",
                    mirror.revision(),
                    snapshot.revision()
                ));
            }
            return Ok(());
        }
        let kind = entries(snapshot.list());
        if kind != self.values {
            return Err(format!(
                "caught up at revision {}, the consumer holds {:?}, the kind {kind:?} \
                 (a change skipped)",
                mirror.revision(),
                self.values
            ));
        }
        self.same_as_list(mirror)?;
        match quiet {
            true => self.quiet_checks += 1,
            false => self.live_checks += 1,
        }
        Ok(())
    }
}

/// Runs `f` with this thread's allocations stalled as a writer's are,
/// `state` carrying the stalls' random sequence from one call to the next.
fn stalled<R>(state: &mut u64, f: impl FnOnce() -> R) -> R {
    STALLS.with(|stalls| stalls.set(Some(*state)));
    let result = f();
    *state = STALLS.with(Cell::get).unwrap_or(*state);
    STALLS.with(|stalls| stalls.set(None));
    result
}

/// A list's entries, as a consumer holds them.
fn entries<V: Copy>(list: impl IntoIterator<Item = (Arc<str>, Value<V>)>) -> BTreeMap<String, V> {
    list.into_iter()
        .map(|(key, value)| (key.to_string(), *value))
        .collect()
}

/// The stress argument that a resync cannot skip a change made between its
/// snapshot and its resumed watch (the module docs of `src/mirror.rs`; loom
/// `p6_snapshots::start_revision_races_a_lapping_ring` has the
/// interleaving): stalled writers (sets, deletes, `set_many`, two-key
/// transactions) on five keys of a kind with a ring of four, and three
/// mirrors with buffers of one and two, so that they fall behind, coalesce
/// and resync all the time, their snapshot and their new watch racing
/// writers that take a revision and stall mid-write — and the consumers
/// stalled the same way inside the mirror's own calls, so a resync is
/// preempted between its snapshot, its subscribe and its walk.
///
/// Each consumer applies the events to its own map and checks every event
/// against it (the type and `previous` take the map from what it holds to
/// the event's value), and the map against `list()` every few events. A
/// skipped change leaves the replica wrong until the key is written again,
/// which these checks cannot see; what does is the kind itself: whenever a
/// consumer finds nothing pending and the kind still at the mirror's
/// revision, and every 50 ms at a quiescent point (the writers parked, the
/// mirror drained until nothing is ready), the view must be exactly a
/// snapshot at `revision()`.
#[test]
fn stalled_writers_never_make_a_mirror_skip_a_change() {
    const WRITERS: u64 = 8;
    const BUFFERS: [usize; 3] = [1, 2, 1];
    let started = Instant::now();
    let store = Store::<(u64, u64)>::builder().ring_capacity(4).build();
    for (i, key) in MIRROR_KEYS.iter().enumerate() {
        store.set("m", key, (0, 1_000_000 + i as u64)).unwrap();
    }
    let rounds = (seconds().as_secs_f64() / 0.05).ceil().max(1.0) as usize;
    // Writers write while `quiet` is down; at each round's end everyone
    // meets at the barrier twice: the writers parked, the consumers drain
    // and compare, then the next round (or the end, with `stop`).
    let quiet = Arc::new(AtomicBool::new(false));
    let stop = Arc::new(AtomicBool::new(false));
    let failure = Arc::new(std::sync::Mutex::new(None::<String>));
    let barrier = Arc::new(std::sync::Barrier::new(
        WRITERS as usize + BUFFERS.len() + 1,
    ));
    // A failure is kept (the first) and ends the run at the next round's
    // end: a thread that stopped at once would leave the others waiting at
    // the barrier.
    let fail = {
        let failure = Arc::clone(&failure);
        move |message: String| {
            failure.lock().unwrap().get_or_insert(message);
        }
    };
    let writes = Arc::new(AtomicU64::new(0));
    let writer_threads: Vec<_> = (1..=WRITERS)
        .map(|writer| {
            let (store, quiet, stop, barrier, writes, fail) = (
                store.clone(),
                Arc::clone(&quiet),
                Arc::clone(&stop),
                Arc::clone(&barrier),
                Arc::clone(&writes),
                fail.clone(),
            );
            std::thread::spawn(move || {
                let mut rng = Rng(writer);
                let mut n = 0;
                loop {
                    STALLS.with(|stalls| {
                        stalls.set(Some((writer + n).wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1))
                    });
                    while !quiet.load(Ordering::Relaxed) {
                        n += 2;
                        if let Err(error) = mirror_write(&store, &mut rng, writer * 10_000_000 + n)
                        {
                            fail(format!("writer {writer}: {error}"));
                        }
                        writes.fetch_add(1, Ordering::Relaxed);
                    }
                    STALLS.with(|stalls| stalls.set(None));
                    barrier.wait(); // parked
                    barrier.wait(); // checked
                    if stop.load(Ordering::Relaxed) {
                        break;
                    }
                }
            })
        })
        .collect();
    let consumer_threads: Vec<_> = BUFFERS
        .iter()
        .enumerate()
        .map(|(i, &buffer)| {
            let mut mirror = store
                .mirror_with("m", WatchOptions::new().buffer_size(buffer))
                .unwrap();
            let (store, quiet, stop, barrier, fail) = (
                store.clone(),
                Arc::clone(&quiet),
                Arc::clone(&stop),
                Arc::clone(&barrier),
                fail.clone(),
            );
            std::thread::spawn(move || {
                let mut consumer = MirrorConsumer::new();
                let mut stalls = (i as u64 + 1).wrapping_mul(0x2545_F491_4F6C_DD1D) | 1;
                let check = |consumer: &mut MirrorConsumer, mirror: &Mirror<_>, event| {
                    let checked =
                        consumer
                            .event(mirror, &event)
                            .and_then(|()| match mirror.pending() {
                                0 => consumer.caught_up(&store, mirror, false),
                                _ => Ok(()),
                            });
                    if let Err(error) = checked {
                        fail(format!("mirror {i} (buffer {buffer}): {error}"));
                    }
                };
                loop {
                    while !quiet.load(Ordering::Relaxed) {
                        // One consumer blocks, the others poll.
                        let received = stalled(&mut stalls, || match i {
                            0 => mirror.recv_timeout(Duration::from_millis(1)),
                            _ => mirror.try_recv(),
                        });
                        match received {
                            Ok(Some(event)) => check(&mut consumer, &mirror, event),
                            Ok(None) => std::thread::yield_now(),
                            Err(error) => fail(format!("mirror {i}: {error}")),
                        }
                    }
                    barrier.wait(); // the writers are parked
                    loop {
                        match stalled(&mut stalls, || mirror.try_recv()) {
                            Ok(Some(event)) => check(&mut consumer, &mirror, event),
                            Ok(None) => break,
                            Err(error) => {
                                fail(format!("mirror {i}: {error}"));
                                break;
                            }
                        }
                    }
                    if let Err(error) = consumer.caught_up(&store, &mirror, true) {
                        fail(format!("mirror {i} (buffer {buffer}), quiescent: {error}"));
                    }
                    barrier.wait(); // checked
                    if stop.load(Ordering::Relaxed) {
                        break;
                    }
                }
                (consumer, mirror.resyncs())
            })
        })
        .collect();
    for round in 1..=rounds {
        std::thread::sleep(Duration::from_millis(50));
        quiet.store(true, Ordering::Relaxed);
        if round == rounds || failure.lock().unwrap().is_some() {
            stop.store(true, Ordering::Relaxed);
        }
        barrier.wait(); // the writers are parked; the consumers check
        quiet.store(false, Ordering::Relaxed);
        barrier.wait();
        if stop.load(Ordering::Relaxed) {
            break;
        }
    }
    for writer in writer_threads {
        writer.join().unwrap();
    }
    let outcomes: Vec<_> = consumer_threads
        .into_iter()
        .map(|consumer| consumer.join().unwrap())
        .collect();
    if let Some(failure) = failure.lock().unwrap().take() {
        panic!("{failure}");
    }
    let writes = writes.load(Ordering::Relaxed);
    assert!(writes > 100, "the writers made progress: {writes} writes");
    for (i, (consumer, resyncs)) in outcomes.iter().enumerate() {
        assert!(
            consumer.events > 0 && consumer.quiet_checks > 0,
            "mirror {i} was tested"
        );
        assert!(*resyncs > 0, "mirror {i} never resynced");
        eprintln!(
            "mirror {i} (buffer {}): {} events ({} followed on), {resyncs} resyncs, {} list \
             checks, {} live and {} quiescent snapshot checks",
            BUFFERS[i],
            consumer.events,
            consumer.followed_on,
            consumer.list_checks,
            consumer.live_checks,
            consumer.quiet_checks
        );
    }
    eprintln!(
        "mirrors: {writes} writes in {rounds} rounds, {:?}",
        started.elapsed()
    );
}
