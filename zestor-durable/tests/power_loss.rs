//! Power loss and I/O errors, on a simulated disk (`support::SimDisk`) that
//! keeps what was synced apart from what was only written.
//!
//! * `immediate_power_loss_keeps_every_acknowledged_write`: concurrent
//!   writers (sets, `set_many` batches, deletes, on shared keys) on an
//!   `Immediate` store; the power is cut at a random backend call while
//!   they run; the store is reopened on what the disk kept — synced data
//!   only, a torn last write, a torn write at a random point, every sector
//!   of every unsynced write kept or lost at random, or everything — and
//!   every image must hold every write acknowledged before the cut, each
//!   kind exactly as it was at one revision (so no torn batch), and hand
//!   out revisions above every acknowledged one.
//! * `interval_power_loss_loses_only_the_last_interval`: the same with
//!   `Interval(d)`: consistency, and nothing acknowledged more than
//!   `3d + 200 ms` before the cut is lost.
//! * `io_errors_at_every_backend_call`: a fixed sequence of writes, with
//!   the N-th write, `set_len` or `sync_data` failing (only that call, or
//!   every call from then on), for every N the sequence reaches, opening
//!   included, on a new disk and on one a power loss left halfway (so
//!   opening recovers): a clear error, no panic, no hang, no
//!   acknowledgement after the failure, and after a reboot everything
//!   acknowledged is there.
//! * `close_then_drop_does_not_hang` (ignored): the reproducer of a hang in
//!   `store.close()` followed by dropping the store; the other tests close
//!   stores by dropping them (`shut`).

mod support;

use std::collections::{BTreeMap, HashMap};
use std::error::Error as _;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{mpsc, Mutex, Once};
use std::thread;
use std::time::{Duration, Instant};

use serde::{Deserialize, Serialize};
use zestor::{EventType, Store, WatchOptions};
use zestor_durable::{Durability, Options};

use support::{Crash, Fault, Point, Rng, SimDisk};

/// Every value is unique: (`writer`, `seq`) names the write that stored it.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Eq)]
struct Val {
    writer: u32,
    seq: u32,
    /// 0 for a single `set`; a `set_many`'s id, shared by its items.
    batch: u64,
    batch_len: u32,
    #[serde(default)]
    pad: String,
}

impl Val {
    fn id(&self) -> (u32, u32) {
        (self.writer, self.seq)
    }
}

/// A kind's entries: key → (value, entry revision).
type Entries = BTreeMap<String, (Val, u64)>;
/// Kinds: name → (kind revision, entries).
type Kinds = BTreeMap<String, (u64, Entries)>;

/// Large enough for every revision a round makes, so the history can be
/// read back with one resumed watch (a larger ring makes every open and
/// close slower: it is allocated whole, per kind).
const RING: usize = 1 << 13;

fn open_store(disk: &SimDisk, durability: Durability) -> Result<Store<Val>, zestor_durable::Error> {
    zestor_durable::open_backend(
        disk.backend(),
        Options::new().durability(durability),
        |builder| builder.build(),
    )
}

/// [`open_store`] with a ring that keeps a whole round's history.
fn open_watched(disk: &SimDisk, durability: Durability) -> Store<Val> {
    zestor_durable::open_backend(
        disk.backend(),
        Options::new().durability(durability),
        |builder| builder.ring_capacity(RING).history(RING).build(),
    )
    .expect("open")
}

fn read_kinds(store: &Store<Val>, kinds: &[&str]) -> Kinds {
    kinds
        .iter()
        .map(|&kind| {
            let revision = store.revision(kind).expect("revision");
            let entries = store
                .list(kind)
                .expect("list")
                .into_iter()
                .map(|(key, value)| (key.to_string(), ((*value).clone(), value.revision())))
                .collect();
            (kind.to_owned(), (revision, entries))
        })
        .collect()
}

/// Closes a store by dropping its last handle, which commits what it holds
/// and releases the backend. Not `store.close()` followed by the drop: that
/// can hang (see `close_then_drop_does_not_hang`).
fn shut(store: Store<Val>) {
    drop(store);
}

// ----- watchdog and panic detection -----

/// Panics seen on any thread, as "thread: message".
static PANICS: Mutex<Vec<String>> = Mutex::new(Vec::new());

fn record_panics() {
    static HOOK: Once = Once::new();
    HOOK.call_once(|| {
        let previous = std::panic::take_hook();
        std::panic::set_hook(Box::new(move |info| {
            let thread = thread::current().name().unwrap_or("<unnamed>").to_owned();
            PANICS
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .push(format!("{thread}: {info}"));
            previous(info);
        }));
    });
}

/// No panic on a committer thread ("zestor-durable") so far, and no
/// poisoned disk lock.
fn assert_no_library_panic() {
    let panics = PANICS.lock().unwrap_or_else(|e| e.into_inner());
    let library: Vec<&String> = panics
        .iter()
        .filter(|p| p.starts_with("zestor-durable:"))
        .collect();
    assert!(library.is_empty(), "the committer panicked: {library:#?}");
    assert!(!SimDisk::poisoned(), "a panic while holding the disk lock");
}

/// Runs `f` on its own thread; a hang past `limit` fails the test.
fn within<R: Send + 'static>(
    what: &str,
    limit: Duration,
    f: impl FnOnce() -> R + Send + 'static,
) -> R {
    let (tx, rx) = mpsc::channel();
    let worker = thread::Builder::new()
        .name(format!("case {what}"))
        .spawn(move || {
            let _ = tx.send(f());
        })
        .expect("spawn");
    match rx.recv_timeout(limit) {
        Ok(result) => {
            let _ = worker.join();
            result
        }
        Err(mpsc::RecvTimeoutError::Timeout) => panic!("HANG: {what} did not finish in {limit:?}"),
        Err(mpsc::RecvTimeoutError::Disconnected) => {
            // The worker panicked: re-raise its panic here.
            match worker.join() {
                Err(payload) => std::panic::resume_unwind(payload),
                Ok(()) => unreachable!(),
            }
        }
    }
}

// ----- concurrent writers and their history -----

const KINDS: [&str; 3] = ["alpha", "beta", "gamma"];
const KEYS: u64 = 10;

// The keys are read through `Debug`, in failure messages.
#[allow(dead_code)]
#[derive(Clone, Debug)]
enum Act {
    Set {
        kind: &'static str,
        key: String,
        val: Val,
    },
    Batch {
        kind: &'static str,
        items: Vec<(String, Val)>,
    },
    Delete {
        kind: &'static str,
        key: String,
        removed: Option<Val>,
    },
}

/// A write that returned `Ok`.
#[derive(Clone, Debug)]
struct Done {
    act: Act,
    /// Its call returned while the power was still on.
    before_cut: bool,
    /// Taken after its call returned.
    at: Instant,
}

/// Writes from `threads` threads until each made `ops` writes or `stop` is
/// set; every write must succeed.
fn run_writers(
    store: &Store<Val>,
    disk: &SimDisk,
    threads: u32,
    ops: u32,
    seed: u64,
    pace: Option<Duration>,
    stop: &AtomicBool,
) -> Vec<Done> {
    thread::scope(|scope| {
        let handles: Vec<_> = (0..threads)
            .map(|writer| {
                scope.spawn(move || {
                    let mut rng = Rng::new(seed ^ (u64::from(writer) + 1) << 40);
                    let mut seq = 0u32;
                    let next = |seq: &mut u32| {
                        *seq += 1;
                        *seq
                    };
                    let mut done = Vec::new();
                    for _ in 0..ops {
                        if stop.load(Ordering::Relaxed) {
                            break;
                        }
                        let kind = KINDS[rng.below(KINDS.len() as u64) as usize];
                        let key = |rng: &mut Rng| format!("k{}", rng.below(KEYS));
                        let act = match rng.below(100) {
                            0..=54 => {
                                let key = key(&mut rng);
                                let val = Val {
                                    writer,
                                    seq: next(&mut seq),
                                    batch: 0,
                                    batch_len: 1,
                                    pad: String::new(),
                                };
                                store
                                    .set(kind, &key, val.clone())
                                    .unwrap_or_else(|e| panic!("set failed: {e}"));
                                Act::Set { kind, key, val }
                            }
                            55..=79 => {
                                let n = 2 + rng.below(3) as u32;
                                let mut keys: Vec<String> = Vec::new();
                                while keys.len() < n as usize {
                                    let k = key(&mut rng);
                                    if !keys.contains(&k) {
                                        keys.push(k);
                                    }
                                }
                                let batch = ((u64::from(writer) + 1) << 32) | u64::from(seq + 1);
                                let items: Vec<(String, Val)> = keys
                                    .into_iter()
                                    .map(|k| {
                                        let val = Val {
                                            writer,
                                            seq: next(&mut seq),
                                            batch,
                                            batch_len: n,
                                            pad: String::new(),
                                        };
                                        (k, val)
                                    })
                                    .collect();
                                store
                                    .set_many(kind, items.clone())
                                    .unwrap_or_else(|e| panic!("set_many failed: {e}"));
                                Act::Batch { kind, items }
                            }
                            _ => {
                                let key = key(&mut rng);
                                let removed = store
                                    .delete(kind, &key)
                                    .unwrap_or_else(|e| panic!("delete failed: {e}"))
                                    .map(|v| (*v).clone());
                                Act::Delete { kind, key, removed }
                            }
                        };
                        let at = Instant::now();
                        let before_cut = disk.powered();
                        done.push(Done {
                            act,
                            before_cut,
                            at,
                        });
                        if let Some(pace) = pace {
                            thread::sleep(pace);
                        }
                    }
                    done
                })
            })
            .collect();
        handles
            .into_iter()
            .flat_map(|h| h.join().expect("writer panicked"))
            .collect()
    })
}

/// Every change each kind went through, read back from its event ring.
struct History {
    /// kind → (revision, key, new value or `None` for a delete), in order.
    events: BTreeMap<String, Vec<(u64, String, Option<Val>)>>,
    /// Each kind's revision when the writers were done.
    last: BTreeMap<String, u64>,
    /// Revision of the write that stored a value, by its id.
    stored: HashMap<(u32, u32), u64>,
    /// Revision of the delete that removed a value, by its id.
    removed: HashMap<(u32, u32), u64>,
}

fn history(store: &Store<Val>) -> History {
    let mut history = History {
        events: BTreeMap::new(),
        last: BTreeMap::new(),
        stored: HashMap::new(),
        removed: HashMap::new(),
    };
    for kind in KINDS {
        let last = store.revision(kind).expect("revision");
        history.last.insert(kind.to_owned(), last);
        let mut events = Vec::new();
        if last > 0 {
            let mut watch = store
                .watch(
                    kind,
                    WatchOptions::new().start_revision(1).buffer_size(RING),
                )
                .expect("watch the history");
            while let Some(event) = watch.try_recv().expect("read the history") {
                let val = (*event.value).clone();
                if event.event_type == EventType::Delete {
                    history.removed.insert(val.id(), event.revision);
                    events.push((event.revision, event.key.to_string(), None));
                } else {
                    history.stored.insert(val.id(), event.revision);
                    events.push((event.revision, event.key.to_string(), Some(val)));
                }
            }
        }
        assert!(events.windows(2).all(|w| w[0].0 <= w[1].0));
        history.events.insert(kind.to_owned(), events);
    }
    history
}

impl History {
    /// The kind as it was at `revision`.
    fn replay(&self, kind: &str, revision: u64) -> Entries {
        let mut entries = Entries::new();
        for (rev, key, val) in &self.events[kind] {
            if *rev > revision {
                break;
            }
            match val {
                Some(val) => entries.insert(key.clone(), (val.clone(), *rev)),
                None => entries.remove(key),
            };
        }
        entries
    }

    /// The revision a write got; `None` for a delete that removed nothing.
    fn revision_of(&self, act: &Act) -> Option<(&'static str, u64)> {
        match act {
            Act::Set { kind, val, .. } => Some((kind, self.stored[&val.id()])),
            Act::Batch { kind, items } => {
                let revs: Vec<u64> = items.iter().map(|(_, v)| self.stored[&v.id()]).collect();
                assert!(
                    revs.windows(2).all(|w| w[0] == w[1]),
                    "a batch with several revisions: {revs:?}"
                );
                Some((kind, revs[0]))
            }
            Act::Delete {
                kind,
                removed: Some(old),
                ..
            } => Some((kind, self.removed[&old.id()])),
            Act::Delete { removed: None, .. } => None,
        }
    }
}

/// What one recovered image showed.
#[derive(Default)]
struct Verdict {
    /// Acknowledged before the cut, not required, and lost: (kind, revision,
    /// how long before the cut it was acknowledged).
    lost: Vec<(&'static str, u64, Duration)>,
}

/// Opens `image` and checks it against the history: each kind exactly as
/// it was at its recovered revision, every write `required` there, new
/// writes numbered above every required one; then writes, loses power
/// again and checks that write survived.
fn check_image(
    label: &str,
    image: Vec<u8>,
    durability: Durability,
    history: &History,
    done: &[Done],
    cut_at: Instant,
    required: &dyn Fn(&Done) -> bool,
) -> Verdict {
    let disk = SimDisk::from_image(image);
    let store = open_store(&disk, durability)
        .unwrap_or_else(|e| panic!("{label}: the recovered image does not open: {e}"));
    let kinds = read_kinds(&store, &KINDS);
    for (kind, (revision, entries)) in &kinds {
        let last = history.last[kind];
        assert!(
            *revision <= last,
            "{label}: kind {kind} recovered at revision {revision}, beyond the last it had ({last})"
        );
        for (key, (_, rev)) in entries {
            assert!(
                rev <= revision,
                "{label}: {kind}/{key} has revision {rev} > the kind's {revision}"
            );
        }
        let expected = history.replay(kind, *revision);
        if *entries != expected {
            let diff: Vec<_> = expected
                .keys()
                .chain(entries.keys())
                .filter(|k| expected.get(*k) != entries.get(*k))
                .map(|k| (k, expected.get(k), entries.get(k)))
                .collect();
            panic!(
                "{label}: kind {kind} at revision {revision} is not the kind as it was at that \
                 revision (torn batch or lost/extra write); (key, expected, recovered): {diff:#?}"
            );
        }
    }
    let mut verdict = Verdict::default();
    let mut top: BTreeMap<&str, u64> = BTreeMap::new();
    for d in done.iter().filter(|d| d.before_cut) {
        let Some((kind, rev)) = history.revision_of(&d.act) else {
            continue;
        };
        let recovered = kinds[kind].0;
        if required(d) {
            assert!(
                rev <= recovered,
                "{label}: LOST an acknowledged write: {:?} (revision {rev}) acknowledged {:?} \
                 before the cut; kind {kind} recovered at revision {recovered}",
                d.act,
                cut_at.saturating_duration_since(d.at),
            );
            let t = top.entry(kind).or_default();
            *t = (*t).max(rev);
        } else if rev > recovered {
            verdict
                .lost
                .push((kind, rev, cut_at.saturating_duration_since(d.at)));
        }
    }
    // New writes: above everything acknowledged (and kept) before.
    for kind in KINDS {
        let val = Val {
            writer: 999,
            seq: 1,
            batch: 0,
            batch_len: 1,
            pad: String::new(),
        };
        store
            .set(kind, "after-reboot", val)
            .unwrap_or_else(|e| panic!("{label}: a write after the reboot failed: {e}"));
        let rev = store.get(kind, "after-reboot").unwrap().unwrap().revision();
        let floor = kinds[kind].0.max(top.get(kind).copied().unwrap_or(0));
        assert!(
            rev > floor,
            "{label}: kind {kind}: a new write got revision {rev}, not above {floor}"
        );
    }
    // In Immediate mode the write after the reboot is acknowledged, so it
    // survives a second power loss.
    if durability == Durability::Immediate {
        let again = disk.crash_now().plain();
        let store2 = open_store(&SimDisk::from_image(again), durability)
            .unwrap_or_else(|e| panic!("{label}: second reboot does not open: {e}"));
        for kind in KINDS {
            assert!(
                store2.get(kind, "after-reboot").unwrap().is_some(),
                "{label}: kind {kind}: the write after the reboot was lost by a second power loss"
            );
        }
        shut(store2);
    }
    shut(store);
    verdict
}

// ----- (a) Immediate -----

#[test]
fn immediate_power_loss_keeps_every_acknowledged_write() {
    record_panics();
    const ROUNDS: u64 = 40;
    const THREADS: u32 = 4;
    const OPS: u32 = 80;
    let base_seed = 0x5eed_0001;
    let started = Instant::now();
    // The fewest calls a round made so far: group commit makes the count
    // vary from round to round.
    let mut calibrated: Option<u64> = None;
    let mut images = 0;
    for round in 0..ROUNDS {
        let seed = base_seed + round;
        let (total, checked) = within(
            &format!("immediate round {round}"),
            Duration::from_secs(60),
            {
                let calibrated = calibrated;
                move || immediate_round(round, seed, calibrated, THREADS, OPS)
            },
        );
        images += checked;
        calibrated = Some(calibrated.map_or(total, |c| c.min(total)));
    }
    assert_no_library_panic();
    eprintln!(
        "immediate: {ROUNDS} rounds x {THREADS} writers x {OPS} writes, {images} recovered images \
         checked, in {:?}",
        started.elapsed()
    );
}

/// One round; returns the disk's mutating calls and the images checked.
fn immediate_round(
    round: u64,
    seed: u64,
    calibrated: Option<u64>,
    threads: u32,
    ops: u32,
) -> (u64, usize) {
    let mut rng = Rng::new(seed);
    let disk = SimDisk::new();
    let store = open_watched(&disk, Durability::Immediate);
    let opened = disk.counts().3;
    // Round 0 measures a round's calls; the others cut the power at a
    // random one of them.
    let cut_at_call =
        calibrated.map(|total| opened + 1 + rng.below(total.saturating_sub(opened).max(1)));
    if let Some(n) = cut_at_call {
        disk.cut_power_at(n);
    }
    let stop = AtomicBool::new(false);
    let done = run_writers(&store, &disk, threads, ops, seed, None, &stop);
    let total = disk.counts().3;
    let (crash, cut_at) = disk.crash();
    let history = history(&store);
    shut(store);
    let acked = done.iter().filter(|d| d.before_cut).count();
    eprintln!(
        "immediate round {round} (seed {seed:#x}): cut at call {} of {total} ({} unsynced changes \
         pending), {acked}/{} writes acknowledged before the cut, revisions {:?}",
        match cut_at_call {
            Some(n) if n <= total => n.to_string(),
            _ => "end (after the writers)".to_owned(),
        },
        crash.unsynced.len(),
        done.len(),
        history.last,
    );
    let images = crash.images(&mut rng);
    let count = images.len();
    for (name, image) in images {
        let label = format!("immediate round {round} (seed {seed:#x}) image {name}");
        check_image(
            &label,
            image,
            Durability::Immediate,
            &history,
            &done,
            cut_at,
            &|_| true,
        );
    }
    (total, count)
}

// ----- (b) Interval -----

#[test]
fn interval_power_loss_loses_only_the_last_interval() {
    record_panics();
    const ROUNDS: u64 = 4;
    let interval = Duration::from_millis(20);
    // The promise is "the last interval plus the commit in progress"; the
    // margin absorbs a loaded machine's scheduling.
    let window = interval * 3 + Duration::from_millis(200);
    let started = Instant::now();
    let mut lost_total = 0;
    let mut oldest_lost = Duration::ZERO;
    for round in 0..ROUNDS {
        let seed = 0x1a7e_0000 + round;
        let (lost, oldest) = within(
            &format!("interval round {round}"),
            Duration::from_secs(60),
            move || interval_round(round, seed, interval, window),
        );
        lost_total += lost;
        oldest_lost = oldest_lost.max(oldest);
    }
    assert_no_library_panic();
    eprintln!(
        "interval({interval:?}): {ROUNDS} rounds in {:?}; {lost_total} writes acknowledged before \
         a cut were lost (allowed: within the window), the oldest {oldest_lost:?} before the cut \
         (asserted: none older than {window:?})",
        started.elapsed()
    );
}

fn interval_round(
    round: u64,
    seed: u64,
    interval: Duration,
    window: Duration,
) -> (usize, Duration) {
    let mut rng = Rng::new(seed);
    let disk = SimDisk::new();
    let store = open_watched(&disk, Durability::Interval(interval));
    let stop = AtomicBool::new(false);
    let run_for = Duration::from_millis(250 + rng.below(250));
    let done = thread::scope(|scope| {
        let writers = scope.spawn(|| {
            run_writers(
                &store,
                &disk,
                3,
                u32::MAX,
                seed,
                Some(Duration::from_micros(300)),
                &stop,
            )
        });
        thread::sleep(run_for);
        disk.cut_power_now();
        // The process goes on a little after the cut.
        thread::sleep(Duration::from_millis(30));
        stop.store(true, Ordering::Relaxed);
        writers.join().expect("writers")
    });
    let (crash, cut_at) = disk.crash();
    let history = history(&store);
    shut(store);
    let acked = done.iter().filter(|d| d.before_cut).count();
    eprintln!(
        "interval round {round} (seed {seed:#x}): cut after {run_for:?}, {acked}/{} writes \
         acknowledged before it, revisions {:?}",
        done.len(),
        history.last
    );
    let mut lost = 0;
    let mut oldest = Duration::ZERO;
    for (name, image) in crash.images(&mut rng) {
        let label = format!("interval round {round} (seed {seed:#x}) image {name}");
        let verdict = check_image(
            &label,
            image,
            Durability::Interval(interval),
            &history,
            &done,
            cut_at,
            &|d: &Done| d.at + window < cut_at,
        );
        lost += verdict.lost.len();
        for (_, _, age) in &verdict.lost {
            oldest = oldest.max(*age);
        }
    }
    (lost, oldest)
}

// ----- (c) I/O errors -----

#[derive(Clone, Debug)]
enum Step {
    Set(&'static str, &'static str, Val),
    Many(&'static str, Vec<(&'static str, Val)>),
    Delete(&'static str, &'static str),
}

const STEP_KINDS: [&str; 3] = ["users", "orders", "blobs"];

fn val(seq: u32, pad: usize) -> Val {
    Val {
        writer: 0,
        seq,
        batch: 0,
        batch_len: 1,
        pad: "x".repeat(pad),
    }
}

/// The fixed sequence: small writes, batches, deletes (one of a missing
/// key), and large values that make the file grow.
fn steps() -> Vec<Step> {
    vec![
        Step::Set("users", "u1", val(1, 0)),
        Step::Set("users", "u2", val(2, 0)),
        Step::Many(
            "orders",
            vec![("o1", val(3, 0)), ("o2", val(4, 0)), ("o3", val(5, 0))],
        ),
        Step::Delete("users", "u1"),
        Step::Set("users", "u2", val(6, 0)),
        Step::Delete("users", "nobody"),
        Step::Many("users", vec![("u3", val(7, 0)), ("u4", val(8, 0))]),
        Step::Set("blobs", "b1", val(9, 20_000)),
        Step::Set("orders", "o2", val(10, 0)),
        Step::Many(
            "blobs",
            vec![
                ("b2", val(11, 40_000)),
                ("b3", val(12, 40_000)),
                ("b4", val(13, 40_000)),
            ],
        ),
        Step::Delete("orders", "o1"),
        Step::Delete("blobs", "b1"),
        Step::Set("blobs", "b5", val(14, 80_000)),
        Step::Set("users", "u5", val(15, 0)),
    ]
}

/// `models[i]`: the kinds after the first `i` steps.
fn models(steps: &[Step]) -> Vec<Kinds> {
    let mut model: Kinds = STEP_KINDS
        .iter()
        .map(|k| ((*k).to_owned(), (0, Entries::new())))
        .collect();
    let mut models = vec![model.clone()];
    for step in steps {
        match step {
            Step::Set(kind, key, v) => {
                let (rev, entries) = model.get_mut(*kind).unwrap();
                *rev += 1;
                entries.insert((*key).to_owned(), (v.clone(), *rev));
            }
            Step::Many(kind, items) => {
                let (rev, entries) = model.get_mut(*kind).unwrap();
                *rev += 1;
                for (key, v) in items {
                    entries.insert((*key).to_owned(), (v.clone(), *rev));
                }
            }
            Step::Delete(kind, key) => {
                let (rev, entries) = model.get_mut(*kind).unwrap();
                if entries.contains_key(*key) {
                    *rev += 1;
                    entries.remove(*key);
                }
            }
        }
        models.push(model.clone());
    }
    models
}

fn run_step(store: &Store<Val>, step: &Step) -> zestor::Result<()> {
    match step {
        Step::Set(kind, key, v) => store.set(kind, key, v.clone()).map(drop),
        Step::Many(kind, items) => store.set_many(kind, items.iter().cloned()),
        Step::Delete(kind, key) => store.delete(kind, key).map(drop),
    }
}

/// What one faulted run did.
struct Run {
    /// The fault fired (during the run, the close included).
    fired: bool,
    /// The fault fired while opening, and opening failed.
    open_failed: bool,
    /// Example messages: (what, message).
    messages: Vec<(String, String)>,
    /// Reboots of a never-created store that could not open (see
    /// `reboot_after_failed_open`).
    unopenable: Vec<String>,
}

/// Checks an error a write returned after the fault: a zestor-durable
/// error as its source, the cause named in the message.
fn check_write_error(what: &str, error: &zestor::Error, point: Point) -> String {
    let message = error.to_string();
    let source = error
        .source()
        .unwrap_or_else(|| panic!("{what}: {error:?} has no source"));
    assert!(
        source.downcast_ref::<zestor_durable::Error>().is_some(),
        "{what}: the source of {error:?} is not a zestor_durable::Error"
    );
    assert!(
        message.contains(point.cause()),
        "{what}: the message does not name the cause ({:?}): {message}",
        point.cause()
    );
    message
}

/// Where a faulted run starts: an empty disk, or the image a power loss
/// left after the first `from` steps (so opening recovers and repairs).
struct Scenario {
    name: &'static str,
    image: Option<Vec<u8>>,
    from: usize,
}

fn faulted_run(
    fault: Fault,
    scenario: &Scenario,
    steps: &[Step],
    models: &[Kinds],
    seed: u64,
) -> Run {
    let what = format!(
        "{} disk, {:?} #{}{}",
        scenario.name,
        fault.point,
        fault.nth,
        if fault.sticky {
            " (dead disk)"
        } else {
            " (once)"
        }
    );
    let mut messages = Vec::new();
    let mut unopenable = Vec::new();
    let disk = match &scenario.image {
        Some(image) => SimDisk::from_image(image.clone()),
        None => SimDisk::new(),
    };
    disk.inject(fault);
    let mut rng = Rng::new(seed);
    let store = match open_store(&disk, Durability::Immediate) {
        Err(error) => {
            assert!(
                disk.fired().is_some(),
                "{what}: opening failed with no fault fired: {error}"
            );
            let message = error.to_string();
            assert!(
                message.contains(fault.point.cause()),
                "{what}: the open error does not name the cause ({:?}): {message}",
                fault.point.cause()
            );
            messages.push((format!("open, {what}"), message));
            // A reboot after the failed open: opens, holding what it held
            // before.
            for (name, image) in disk.crash_now().images(&mut rng) {
                match open_store(&SimDisk::from_image(image), Durability::Immediate) {
                    Ok(store) => {
                        assert_eq!(
                            read_kinds(&store, &STEP_KINDS),
                            models[scenario.from],
                            "{what}: reboot ({name}) after a failed open"
                        );
                        shut(store);
                    }
                    // A store that never existed: creating it was cut short
                    // after the file grew and before its header was written,
                    // leaving zeros redb does not recognize. Nothing was
                    // acknowledged, but the file must be removed by hand.
                    // Reported, not failed (see the report).
                    Err(e)
                        if scenario.image.is_none()
                            && e.to_string().contains("Not a redb database") =>
                    {
                        unopenable.push(format!("{what}, reboot ({name}): {e}"));
                    }
                    Err(e) => panic!("{what}: reboot ({name}) after a failed open: {e}"),
                }
            }
            return Run {
                fired: true,
                open_failed: true,
                messages,
                unopenable,
            };
        }
        Ok(store) => store,
    };
    assert!(
        disk.fired().is_none(),
        "{what}: opening succeeded although a backend call failed during it"
    );
    assert_eq!(
        read_kinds(&store, &STEP_KINDS),
        models[scenario.from],
        "{what}: opened"
    );
    let mut acked = scenario.from;
    let mut in_flight = false;
    let mut failed = false;
    for (i, step) in steps.iter().enumerate().skip(scenario.from) {
        match run_step(&store, step) {
            Ok(()) => {
                assert!(
                    !failed,
                    "{what}: step {i} ({step:?}) was ACKNOWLEDGED after an earlier write failed"
                );
                acked = i + 1;
            }
            Err(error @ zestor::Error::NotDurable(_)) => {
                assert!(
                    !failed,
                    "{what}: step {i}: NotDurable after the failure (expected Refused): {error}"
                );
                assert!(
                    disk.fired().is_some(),
                    "{what}: step {i}: {error} with no fault"
                );
                let message = check_write_error(&what, &error, fault.point);
                messages.push((format!("NotDurable, {what}"), message));
                failed = true;
                in_flight = true;
            }
            Err(error @ zestor::Error::Refused(_)) => {
                assert!(
                    failed,
                    "{what}: step {i}: the first failed write was Refused, not NotDurable: {error}"
                );
                let message = check_write_error(&what, &error, fault.point);
                messages.push((format!("Refused, {what}"), message));
            }
            Err(error) => panic!("{what}: step {i} ({step:?}): unexpected error {error:?}"),
        }
    }
    // Reads keep working after a failure.
    let _ = read_kinds(&store, &STEP_KINDS);
    shut(store);
    let fired = disk.fired().is_some();
    assert!(
        fired || acked == steps.len(),
        "{what}: a write failed with no fault"
    );
    // Reboot on what the disk kept: everything acknowledged is there, and
    // the write that failed is there whole or not at all.
    for (name, image) in disk.crash_now().images(&mut rng) {
        let store = open_store(&SimDisk::from_image(image), Durability::Immediate)
            .unwrap_or_else(|e| panic!("{what}: reboot ({name}) does not open: {e}"));
        let got = read_kinds(&store, &STEP_KINDS);
        let ok = got == models[acked] || (in_flight && got == models[acked + 1]);
        assert!(
            ok,
            "{what}: reboot ({name}): {acked} steps acknowledged{}, but the store holds \
             {got:#?}\nexpected {:#?}",
            if in_flight { " and one in flight" } else { "" },
            models[acked]
        );
        shut(store);
    }
    Run {
        fired,
        open_failed: false,
        messages,
        unopenable,
    }
}

#[test]
fn io_errors_at_every_backend_call() {
    record_panics();
    let started = Instant::now();
    let steps = steps();
    let models = models(&steps);
    // A clean run first: how many calls of each kind the sequence makes,
    // and the image a power loss leaves after its first half.
    let half = steps.len() / 2;
    let clean = SimDisk::new();
    let halfway = {
        let store = open_store(&clean, Durability::Immediate).expect("open");
        let opened = clean.counts();
        let mut halfway = None;
        for (i, step) in steps.iter().enumerate() {
            if i == half {
                halfway = Some(clean.crash_now().plain());
            }
            run_step(&store, step).expect("clean run");
        }
        shut(store);
        let (w, l, s, _) = clean.counts();
        eprintln!(
            "io errors: the sequence ({} steps) makes {w} writes, {l} set_lens, {s} syncs \
             (opening: {} writes, {} set_lens, {} syncs)",
            steps.len(),
            opened.0,
            opened.1,
            opened.2
        );
        halfway.expect("halfway")
    };
    let scenarios = [
        Scenario {
            name: "new",
            image: None,
            from: 0,
        },
        Scenario {
            name: "existing",
            image: Some(halfway),
            from: half,
        },
    ];
    let scenarios = std::sync::Arc::new(scenarios);
    let mut points = 0;
    let mut open_failures = 0;
    let mut unopenable = Vec::new();
    let mut examples: BTreeMap<String, String> = BTreeMap::new();
    for which in 0..scenarios.len() {
        for point in [Point::Write, Point::SetLen, Point::Sync] {
            for sticky in [true, false] {
                let mut nth = 1;
                loop {
                    let fault = Fault { point, nth, sticky };
                    let steps = steps.clone();
                    let models = models.clone();
                    let scenarios = std::sync::Arc::clone(&scenarios);
                    let run = within(
                        &format!("{} disk, {fault:?}", scenarios[which].name),
                        Duration::from_secs(20),
                        move || faulted_run(fault, &scenarios[which], &steps, &models, nth),
                    );
                    if !run.fired {
                        break;
                    }
                    points += 1;
                    open_failures += usize::from(run.open_failed);
                    unopenable.extend(run.unopenable);
                    for (what, message) in run.messages {
                        let class = what.split(',').next().unwrap().to_owned();
                        let key = format!("{class} ({point:?})");
                        examples.entry(key).or_insert(format!("[{what}] {message}"));
                    }
                    nth += 1;
                }
                eprintln!(
                    "io errors: {} disk, {point:?} {}: injected at calls 1..={}",
                    scenarios[which].name,
                    if sticky { "dead disk" } else { "once" },
                    nth - 1
                );
            }
        }
    }
    for (class, message) in &examples {
        eprintln!("io errors: example {class}: {message}");
    }
    for note in &unopenable {
        eprintln!("io errors: NOTE unopenable after a failed creation: {note}");
    }
    assert_no_library_panic();
    eprintln!(
        "io errors: {points} injection points ({open_failures} during open; {} reboots of a \
         store whose creation failed found an unrecognizable file), in {:?}",
        unopenable.len(),
        started.elapsed()
    );
    assert!(examples.keys().any(|k| k.starts_with("NotDurable")));
    assert!(examples.keys().any(|k| k.starts_with("Refused")));
    assert!(examples.keys().any(|k| k.starts_with("open")));
}

/// The crash images themselves: a sanity check of the simulated disk.
#[test]
fn simulated_disk_keeps_only_what_was_synced() {
    use redb::StorageBackend;
    let disk = SimDisk::new();
    let backend = disk.backend();
    backend.set_len(4096).unwrap();
    backend.write(0, &[1; 1024]).unwrap();
    backend.sync_data().unwrap();
    backend.write(0, &[2; 1024]).unwrap();
    let crash: Crash = disk.crash_now();
    assert_eq!(crash.plain()[..1024], [1; 1024]);
    assert_eq!(crash.everything()[..1024], [2; 1024]);
    let torn = crash.torn_last();
    assert_eq!(torn[..512], [2; 512]);
    assert_eq!(torn[512..1024], [1; 512]);
    disk.inject(Fault {
        point: Point::Write,
        nth: 3,
        sticky: false,
    });
    let error = backend.write(0, &[3; 10]).unwrap_err();
    assert!(
        error.to_string().contains("No space left on device"),
        "{error}"
    );
    backend.write(0, &[4; 10]).unwrap();
    assert_eq!(disk.fired(), Some((Point::Write, 3)));
}

/// BUG (zestor-durable, `committer.rs`): `store.close()` followed by
/// dropping the store hangs about one time in ten. `close` returns once the
/// committer has answered the closer in `finish`, but the committer's
/// receiver lives until `run` returns; the drop's own `journal.close()`
/// (`RawStore::drop`) can send its `Close` in between, the send succeeds,
/// the receiver is then dropped with the message unread, and the dropping
/// thread parks forever in `Waiter::wait`. Ignored until that is fixed:
/// `cargo test -p zestor-durable --test power_loss -- --ignored`.
#[test]
fn close_then_drop_does_not_hang() {
    for i in 0..500 {
        let store = zestor_durable::open_backend::<u32>(
            redb::backends::InMemoryBackend::new(),
            Options::new(),
            |builder| builder.build(),
        )
        .expect("open");
        store.set("k", "a", 1).expect("set");
        store.close();
        within(
            &format!("iteration {i}: dropping a closed store"),
            Duration::from_secs(5),
            move || drop(store),
        );
    }
}
