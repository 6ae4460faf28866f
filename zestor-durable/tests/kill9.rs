//! The kill -9 harness: a writer process is killed with SIGKILL at a random
//! moment, again and again on one file, and after each kill the file is
//! reopened and checked against what the writer was told.
//!
//! The test binary is its own writer: the parent test
//! (`kill9_every_acknowledged_write_survives`) re-runs the binary with
//! `child_writer --exact` and the `KILL9_CHILD_*` variables set, and the
//! child test (`child_writer`, a no-op without them) opens the store and
//! writes until it is killed.
//!
//! * Each of the child's writer threads owns its keys (`t{thread}-k{i}` in
//!   every kind), so the writes to a key are sequential, and a thread's
//!   `get` right after its own write reads that write's revision.
//! * A thread logs every call to its own file, one `write` per line, from
//!   an unbuffered `File` (a line is in the kernel before the next call,
//!   so it survives the kill): an intent line (`I`) before the call, with
//!   the kind's revision before it, and an ack line (`A`) once the call
//!   returned `Ok`, with the write's revision (a `set` or `set_many`: read
//!   back with `get`) or the kind's revision after it (a `delete`: an upper
//!   bound), and the time.
//! * Every value carries the round, thread and operation that wrote it; a
//!   batch writes one value (its operation is the batch id) into each key.
//!
//! After a kill the parent reopens the file, reads each kind's revision `R`
//! and every entry, and checks, per key, that the value held is the state
//! after some write of the key's history (the reopened state before the
//! round, then this round's writes to the key, in order) that lies between
//! the last write that must be there (acknowledged, in `Immediate` mode, or
//! with a revision at most `R`) and the first that must not (its lowest
//! possible revision is above `R`). Values written this round must carry the
//! acknowledged revision; no batch may be there for one key and missing
//! from another; every entry's revision is at most `R`; `R` covers every
//! acknowledged revision and never goes back; every revision acknowledged in
//! a round is above every revision that was on disk when it began.
//!
//! One round runs in `Durability::Interval(20 ms)`: there an acknowledged
//! write must be there only if its revision is at most `R` (the file holds
//! each kind at a revision it really had), or if it was acknowledged more
//! than `20 ms + INTERVAL_SLACK` before the kill. One round kills the child
//! a few milliseconds after starting it (while it starts or loads the file).
//!
//! `KILL9_SEED=<n>` replays a run's choices (the kill times still vary with
//! the machine's speed). A failing run keeps its file and logs.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::fmt::Write as _;
use std::fs::{self, File, OpenOptions};
use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use serde::{Deserialize, Serialize};
use zestor_durable::{Durability, Error, Options};

const ENV_DB: &str = "KILL9_CHILD_DB";
const ENV_LOGS: &str = "KILL9_CHILD_LOGS";
const ENV_SEED: &str = "KILL9_CHILD_SEED";
const ENV_ROUND: &str = "KILL9_CHILD_ROUND";
const ENV_MODE: &str = "KILL9_CHILD_MODE";

const KINDS: [&str; 2] = ["alpha", "beta"];
const THREADS: usize = 4;
/// Keys each thread owns in each kind: few, so writes supersede each other.
const KEYS_PER_THREAD: usize = 6;
const ROUNDS: u32 = 10;
/// The round killed while the child starts.
const EARLY_ROUND: u32 = 3;
/// The round run in `Durability::Interval(INTERVAL)`.
const INTERVAL_ROUND: u32 = 6;
const INTERVAL: Duration = Duration::from_millis(20);
/// How long after its interval an acknowledged `Interval` write may still
/// be missing after the kill: a commit's `fsync` on a loaded machine.
const INTERVAL_SLACK: Duration = Duration::from_millis(500);
/// How long each `Interval` writer thread pauses before each call. Unpaced,
/// four writers outrun the committer (in the `test` profile, ~80k writes/s
/// against ~20k commits/s) and its backlog grows to the 65,536 records that
/// make writers wait: then close to a second of acknowledged writes is lost
/// to a kill, far more than the interval. Paced (~4k writes/s), the
/// committer keeps up, and the interval's bound is what is checked.
const INTERVAL_PACE: Duration = Duration::from_millis(1);
/// How long the `Interval` round's child writes before the kill.
const INTERVAL_RUN: Duration = Duration::from_millis(1200);
/// How long the parent waits for opening, loading or releasing the file.
const OPEN_DEADLINE: Duration = Duration::from_secs(30);
/// A child that was never killed stops by itself after this long.
const CHILD_DEADLINE: Duration = Duration::from_secs(60);

/// What every write stores: which round, thread and operation wrote it.
#[derive(Serialize, Deserialize, PartialEq, Eq, Debug, Clone, Copy)]
struct Val {
    round: u32,
    thread: u32,
    op: u64,
    batch: bool,
}

/// splitmix64: small, seedable, good enough to pick operations.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
}

fn key_name(thread: usize, i: usize) -> String {
    format!("t{thread}-k{i}")
}

fn now_micros() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .expect("the clock is after 1970")
        .as_micros() as u64
}

// ---------------------------------------------------------------- child --

/// The writer process. A no-op unless the parent test started this binary
/// with the `KILL9_CHILD_*` variables.
#[test]
fn child_writer() {
    let Ok(db) = std::env::var(ENV_DB) else {
        return;
    };
    let logs = PathBuf::from(std::env::var(ENV_LOGS).expect("KILL9_CHILD_LOGS"));
    let seed: u64 = std::env::var(ENV_SEED)
        .expect("seed")
        .parse()
        .expect("seed");
    let round: u32 = std::env::var(ENV_ROUND)
        .expect("round")
        .parse()
        .expect("round");
    let (durability, pace) = match std::env::var(ENV_MODE).expect("mode").as_str() {
        "immediate" => (Durability::Immediate, None),
        "interval" => (Durability::Interval(INTERVAL), Some(INTERVAL_PACE)),
        other => panic!("unknown mode {other:?}"),
    };
    let store = match zestor_durable::open::<Val>(&db, Options::new().durability(durability)) {
        Ok(store) => store,
        Err(error) => panic!("child: opening {db}: {error}"),
    };
    // The revisions it loaded, published atomically (rename) so that the
    // parent starts its clock only once the child writes.
    let mut start = String::new();
    for kind in KINDS {
        let revision = store.revision(kind).expect("revision");
        writeln!(start, "S {kind} {revision}").unwrap();
    }
    fs::write(logs.join("start.tmp"), start).expect("writing start.tmp");
    fs::rename(logs.join("start.tmp"), logs.join("start")).expect("renaming start");

    let store = Arc::new(store);
    let began = Instant::now();
    let threads: Vec<_> = (0..THREADS)
        .map(|thread| {
            let store = Arc::clone(&store);
            let log = logs.join(format!("t{thread}.log"));
            std::thread::spawn(move || {
                writer(&store, thread, seed, round, &log, began, pace);
            })
        })
        .collect();
    for thread in threads {
        thread.join().expect("a writer thread panicked");
    }
    panic!("child: never killed within {CHILD_DEADLINE:?}");
}

/// Writes one complete line with one `write` call.
fn log_line(log: &mut File, line: &str) {
    let mut bytes = Vec::with_capacity(line.len() + 1);
    bytes.extend_from_slice(line.as_bytes());
    bytes.push(b'\n');
    log.write_all(&bytes).expect("writing a log line");
}

/// One writer thread: a seeded mix of sets, batches and deletes on its own
/// keys, each logged before (intent) and after (ack) the call.
fn writer(
    store: &zestor::Store<Val>,
    thread: usize,
    seed: u64,
    round: u32,
    log: &Path,
    began: Instant,
    pace: Option<Duration>,
) {
    let mut log = OpenOptions::new()
        .create(true)
        .append(true)
        .open(log)
        .expect("opening the thread's log");
    let mut rng = Rng(seed ^ (thread as u64 + 1).wrapping_mul(0xa076_1d64_78bd_642f));
    let t = thread as u32;
    let mut op: u64 = 0;
    while began.elapsed() < CHILD_DEADLINE {
        if let Some(pace) = pace {
            std::thread::sleep(pace);
        }
        op += 1;
        let kind = KINDS[rng.below(KINDS.len() as u64) as usize];
        let before = store.revision(kind).expect("revision");
        let choice = rng.below(10);
        if choice < 5 {
            let key = key_name(thread, rng.below(KEYS_PER_THREAD as u64) as usize);
            let value = Val {
                round,
                thread: t,
                op,
                batch: false,
            };
            log_line(&mut log, &format!("I {op} {kind} {before} s {key}"));
            if let Err(error) = store.set(kind, &key, value) {
                panic!("child thread {thread}: set {kind}/{key} op {op}: {error}");
            }
            let got = store
                .get(kind, &key)
                .expect("get")
                .expect("own key vanished");
            assert_eq!(*got, value, "thread {thread} owns {kind}/{key}");
            assert!(got.revision() > before, "{kind}/{key}: revision went back");
            log_line(
                &mut log,
                &format!("A {op} {} {}", got.revision(), now_micros()),
            );
        } else if choice < 8 {
            let n = 2 + rng.below(4) as usize;
            let mut indices: Vec<usize> = (0..KEYS_PER_THREAD).collect();
            for i in 0..n {
                let j = i + rng.below((KEYS_PER_THREAD - i) as u64) as usize;
                indices.swap(i, j);
            }
            let keys: Vec<String> = indices[..n].iter().map(|&i| key_name(thread, i)).collect();
            let value = Val {
                round,
                thread: t,
                op,
                batch: true,
            };
            log_line(
                &mut log,
                &format!("I {op} {kind} {before} m {}", keys.join(" ")),
            );
            if let Err(error) = store.set_many(kind, keys.iter().map(|key| (key.as_str(), value))) {
                panic!("child thread {thread}: set_many {kind} {keys:?} op {op}: {error}");
            }
            let mut revision = None;
            for key in &keys {
                let got = store
                    .get(kind, key)
                    .expect("get")
                    .expect("own key vanished");
                assert_eq!(*got, value, "thread {thread} owns {kind}/{key}");
                assert!(
                    revision.is_none() || revision == Some(got.revision()),
                    "batch op {op} in {kind}: keys at different revisions"
                );
                revision = Some(got.revision());
            }
            let revision = revision.expect("a batch has keys");
            assert!(revision > before, "{kind}: revision went back");
            log_line(&mut log, &format!("A {op} {revision} {}", now_micros()));
        } else {
            let key = key_name(thread, rng.below(KEYS_PER_THREAD as u64) as usize);
            log_line(&mut log, &format!("I {op} {kind} {before} d {key}"));
            let removed = match store.delete(kind, &key) {
                Ok(removed) => removed.is_some(),
                Err(error) => panic!("child thread {thread}: delete {kind}/{key} op {op}: {error}"),
            };
            let after = store.revision(kind).expect("revision");
            log_line(
                &mut log,
                &format!("A {op} {after} {} {}", now_micros(), u8::from(removed)),
            );
        }
    }
}

// --------------------------------------------------------------- parent --

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Mode {
    Immediate,
    Interval,
}

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum What {
    Set,
    Batch,
    Delete,
}

/// One call a child thread logged.
#[derive(Debug)]
struct Op {
    thread: usize,
    op: u64,
    kind: String,
    /// The kind's revision before the call: the write's is above it.
    before: u64,
    what: What,
    keys: Vec<String>,
    ack: Option<Ack>,
}

#[derive(Debug, Clone, Copy)]
struct Ack {
    /// A set's or batch's own revision; for a delete, the kind's revision
    /// right after it (an upper bound of its own).
    revision: u64,
    micros: u64,
    /// A delete of a key that held nothing: it changed nothing (and may
    /// have taken no revision).
    noop: bool,
}

impl Op {
    /// The operation, for messages; with `kill_micros`, how long before the
    /// kill it was acknowledged.
    fn describe_at(&self, kill_micros: Option<u64>) -> String {
        let what = match self.what {
            What::Set => "set",
            What::Batch => "set_many",
            What::Delete => "delete",
        };
        let ack = match self.ack {
            Some(ack) if self.what == What::Delete => format!(
                "acked{}, kind revision after it {}",
                if ack.noop {
                    " (the key held nothing)"
                } else {
                    ""
                },
                ack.revision
            ),
            Some(ack) => format!("acked at revision {}", ack.revision),
            None => "in flight (not acked)".to_owned(),
        };
        let age = match (self.ack, kill_micros) {
            (Some(ack), Some(kill)) => format!(
                ", {:.1} ms before the kill",
                kill.saturating_sub(ack.micros) as f64 / 1000.0
            ),
            _ => String::new(),
        };
        format!(
            "thread {} op {} {what} {}[{}] (kind revision before {}, {ack}{age})",
            self.thread,
            self.op,
            self.kind,
            self.keys.join(","),
            self.before
        )
    }

    /// The lowest and highest revision this write can have.
    fn revision_bounds(&self) -> (u64, u64) {
        match (self.what, self.ack) {
            (What::Set | What::Batch, Some(ack)) => (ack.revision, ack.revision),
            // It changed nothing: any state is as good as before it.
            (What::Delete, Some(ack)) if ack.noop => (0, u64::MAX),
            (What::Delete, Some(ack)) => (self.before + 1, ack.revision),
            (_, None) => (self.before + 1, u64::MAX),
        }
    }
}

/// A key's content as the file holds it: the value and its revision.
type Entry = Option<(Val, u64)>;

/// The reopened file: each kind's revision and entries.
#[derive(Default, Clone)]
struct Durable {
    revisions: BTreeMap<String, u64>,
    entries: BTreeMap<(String, String), (Val, u64)>,
}

fn read_durable(store: &zestor::Store<Val>) -> Durable {
    let mut durable = Durable::default();
    for kind in store.kinds().expect("kinds") {
        assert!(
            KINDS.contains(&&*kind),
            "the reopened file holds a kind no child wrote: {kind:?}"
        );
    }
    for kind in KINDS {
        durable
            .revisions
            .insert(kind.to_owned(), store.revision(kind).expect("revision"));
        for (key, value) in store.list(kind).expect("list") {
            durable.entries.insert(
                (kind.to_owned(), key.to_string()),
                (*value, value.revision()),
            );
        }
    }
    durable
}

/// Kills the child when dropped, so a failing parent leaves no writer.
struct ChildGuard(Option<Child>);

impl Drop for ChildGuard {
    fn drop(&mut self) {
        if let Some(mut child) = self.0.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

/// What the parent found in one round's logs.
struct Logs {
    start: Option<BTreeMap<String, u64>>,
    ops: Vec<Op>,
}

fn read_logs(dir: &Path) -> Logs {
    let start = fs::read_to_string(dir.join("start")).ok().map(|text| {
        text.lines()
            .map(|line| {
                let fields: Vec<&str> = line.split(' ').collect();
                assert_eq!(fields.len(), 3, "bad start line {line:?}");
                (
                    fields[1].to_owned(),
                    fields[2].parse().expect("start revision"),
                )
            })
            .collect()
    });
    let mut ops = Vec::new();
    for thread in 0..THREADS {
        let path = dir.join(format!("t{thread}.log"));
        let Ok(text) = fs::read_to_string(&path) else {
            continue;
        };
        // Only complete lines: the kill may land inside a write.
        let complete = match text.rfind('\n') {
            Some(end) => &text[..=end],
            None => "",
        };
        let mut open: Option<Op> = None;
        for line in complete.lines() {
            let fields: Vec<&str> = line.split(' ').collect();
            match fields[0] {
                "I" => {
                    if let Some(previous) = open.take() {
                        panic!(
                            "{}: an intent follows {} without its ack",
                            path.display(),
                            previous.describe_at(None)
                        );
                    }
                    let what = match fields[4] {
                        "s" => What::Set,
                        "m" => What::Batch,
                        "d" => What::Delete,
                        other => panic!("bad operation {other:?} in {line:?}"),
                    };
                    open = Some(Op {
                        thread,
                        op: fields[1].parse().expect("op"),
                        kind: fields[2].to_owned(),
                        before: fields[3].parse().expect("before"),
                        what,
                        keys: fields[5..].iter().map(|key| (*key).to_owned()).collect(),
                        ack: None,
                    });
                }
                "A" => {
                    let mut op = open
                        .take()
                        .unwrap_or_else(|| panic!("{}: an ack without intent", path.display()));
                    assert_eq!(op.op, fields[1].parse::<u64>().expect("op"), "{line:?}");
                    op.ack = Some(Ack {
                        revision: fields[2].parse().expect("revision"),
                        micros: fields[3].parse().expect("micros"),
                        noop: fields.get(4) == Some(&"0"),
                    });
                    ops.push(op);
                }
                other => panic!("bad log line kind {other:?} in {}", path.display()),
            }
        }
        ops.extend(open);
    }
    Logs { start, ops }
}

/// Everything a round needs to judge the reopened file.
struct Judge<'a> {
    round: u32,
    mode: Mode,
    kill_micros: u64,
    baseline: &'a Durable,
    reopened: &'a Durable,
    ops: &'a [Op],
    problems: Vec<String>,
}

impl Judge<'_> {
    fn problem(&mut self, message: String) {
        self.problems.push(message);
    }

    fn describe(&self, op: &Op) -> String {
        op.describe_at(Some(self.kill_micros))
    }

    /// Whether `op` must be on disk: acknowledged in `Immediate` mode (or
    /// long enough before the kill in `Interval` mode), or surely at a
    /// revision the reopened kind covers.
    fn must_be_in(&self, op: &Op, reopened_revision: u64) -> bool {
        if let Some(ack) = op.ack {
            let old_enough =
                ack.micros + (INTERVAL + INTERVAL_SLACK).as_micros() as u64 <= self.kill_micros;
            if self.mode == Mode::Immediate || old_enough {
                return true;
            }
        }
        op.revision_bounds().1 <= reopened_revision
    }

    /// Whether `op` cannot be on disk: its lowest possible revision is
    /// beyond the reopened kind's.
    fn must_be_out(op: &Op, reopened_revision: u64) -> bool {
        op.revision_bounds().0 > reopened_revision
    }

    fn check_revisions(&mut self) {
        for kind in KINDS {
            let before = self.baseline.revisions.get(kind).copied().unwrap_or(0);
            let after = self.reopened.revisions[kind];
            if after < before {
                self.problem(format!(
                    "kind {kind}: revision went back from {before} to {after} across the kill"
                ));
            }
            let mut missing: Vec<&Op> = Vec::new();
            for op in self.ops.iter().filter(|op| op.kind == kind) {
                let Some(ack) = op.ack else { continue };
                if op.what != What::Delete && ack.revision <= before {
                    self.problem(format!(
                        "{}: revision {} was handed out again (the file was at {before} when \
                         the round began)",
                        self.describe(op),
                        ack.revision
                    ));
                }
                if op.what != What::Delete && ack.revision > after && self.must_be_in(op, after) {
                    missing.push(op);
                }
            }
            if let Some(first) = missing
                .iter()
                .min_by_key(|op| op.ack.map(|ack| ack.revision))
            {
                self.problem(format!(
                    "kind {kind}: reopened at revision {after}, below {} acknowledged writes \
                     that must be on disk; the first: {}",
                    missing.len(),
                    self.describe(first)
                ));
            }
        }
        for ((kind, key), (value, revision)) in &self.reopened.entries {
            let kind_revision = self.reopened.revisions[kind];
            if *revision == 0 || *revision > kind_revision {
                self.problems.push(format!(
                    "{kind}/{key} holds {value:?} at revision {revision}, outside 1..={kind_revision} \
                     (the kind's revision)"
                ));
            }
        }
    }

    /// Every key: the value held must be the state after a write of its
    /// history between the last that must be in and the first that must
    /// not. Returns, per (thread, op) of a batch, which keys show it in and
    /// which out.
    fn check_keys(&mut self) -> BTreeMap<(usize, u64), (Vec<String>, Vec<String>)> {
        let mut histories: HashMap<(String, String), Vec<&Op>> = HashMap::new();
        for op in self.ops {
            for key in &op.keys {
                histories
                    .entry((op.kind.clone(), key.clone()))
                    .or_default()
                    .push(op);
            }
        }
        let mut batches: BTreeMap<(usize, u64), (Vec<String>, Vec<String>)> = BTreeMap::new();
        let known: BTreeSet<(String, String)> = KINDS
            .iter()
            .flat_map(|kind| {
                (0..THREADS).flat_map(move |thread| {
                    (0..KEYS_PER_THREAD).map(move |i| ((*kind).to_owned(), key_name(thread, i)))
                })
            })
            .collect();
        for (kind, key) in self.reopened.entries.keys() {
            if !known.contains(&(kind.clone(), key.clone())) {
                self.problems
                    .push(format!("{kind}/{key}: a key no child writes"));
            }
        }
        for (kind, key) in &known {
            let id = (kind.clone(), key.clone());
            let history: Vec<&Op> = histories.get(&id).cloned().unwrap_or_default();
            let base: Entry = self.baseline.entries.get(&id).copied();
            let actual: Entry = self.reopened.entries.get(&id).copied();
            let reopened_revision = self.reopened.revisions[kind];
            // States are numbered 0 (the baseline) and i + 1 (after history[i]).
            let lowest = history
                .iter()
                .rposition(|op| self.must_be_in(op, reopened_revision))
                .map_or(0, |i| i + 1);
            let highest = history
                .iter()
                .position(|op| Self::must_be_out(op, reopened_revision))
                .unwrap_or(history.len());
            if lowest == highest + 1 {
                self.problem(format!(
                    "{kind}/{key}: {} must be on disk, but its revision cannot be at most the \
                     kind's revision {reopened_revision} at reopen",
                    self.describe(history[highest])
                ));
                continue;
            }
            if lowest > highest {
                self.problem(format!(
                    "{kind}/{key}: {} must be on disk but the earlier {} cannot be \
                     (kind reopened at revision {reopened_revision})",
                    self.describe(history[lowest - 1]),
                    self.describe(history[highest])
                ));
                continue;
            }
            // The states the value held matches.
            let mut matches: Vec<usize> = Vec::new();
            match actual {
                None => {
                    if base.is_none() {
                        matches.push(0);
                    }
                    for (i, op) in history.iter().enumerate() {
                        if op.what == What::Delete {
                            matches.push(i + 1);
                        }
                    }
                }
                Some((value, revision)) => {
                    if base == Some((value, revision)) {
                        matches.push(0);
                    } else if let Some(i) = history.iter().position(|op| {
                        op.what != What::Delete
                            && op.thread as u32 == value.thread
                            && op.op == value.op
                            && value.round == self.round
                    }) {
                        let op = history[i];
                        let (low, high) = op.revision_bounds();
                        if value.batch != (op.what == What::Batch) {
                            self.problem(format!(
                                "{kind}/{key} holds {value:?}, but it was written by {}",
                                self.describe(op)
                            ));
                        }
                        if revision < low || revision > high.min(reopened_revision) {
                            self.problem(format!(
                                "{kind}/{key} holds the value of {} at revision {revision}, \
                                 outside {low}..={} (kind reopened at {reopened_revision})",
                                self.describe(op),
                                high.min(reopened_revision)
                            ));
                        }
                        matches.push(i + 1);
                    } else {
                        self.problem(format!(
                            "{kind}/{key} holds {value:?} at revision {revision}, which neither \
                             the file before the round ({base:?}) nor any write of this round \
                             to the key stored"
                        ));
                        continue;
                    }
                }
            }
            let allowed: Vec<usize> = matches
                .into_iter()
                .filter(|state| (lowest..=highest).contains(state))
                .collect();
            if allowed.is_empty() {
                let last_acked = history
                    .iter()
                    .rev()
                    .find(|op| op.ack.is_some())
                    .map_or_else(|| "none this round".to_owned(), |op| self.describe(op));
                let must = if lowest == 0 {
                    format!("the value from before the round {base:?}")
                } else {
                    self.describe(history[lowest - 1])
                };
                let may = history[lowest..highest]
                    .iter()
                    .map(|op| self.describe(op))
                    .collect::<Vec<_>>()
                    .join("; ");
                self.problem(format!(
                    "{kind}/{key} (kind reopened at revision {reopened_revision}) holds {actual:?}, \
                     but must hold the state after {must}{}; last acknowledged write to it: \
                     {last_acked}",
                    if may.is_empty() {
                        String::new()
                    } else {
                        format!(" or after a later write of [{may}]")
                    }
                ));
                continue;
            }
            for (i, op) in history.iter().enumerate() {
                if op.what != What::Batch {
                    continue;
                }
                let entry = batches.entry((op.thread, op.op)).or_default();
                if allowed.iter().all(|&state| state > i) {
                    entry.0.push(key.clone());
                } else if allowed.iter().all(|&state| state <= i) {
                    entry.1.push(key.clone());
                }
            }
        }
        batches
    }

    fn check_batches(&mut self, batches: BTreeMap<(usize, u64), (Vec<String>, Vec<String>)>) {
        for ((thread, op), (applied, missing)) in batches {
            if !applied.is_empty() && !missing.is_empty() {
                let op = self
                    .ops
                    .iter()
                    .find(|candidate| candidate.thread == thread && candidate.op == op)
                    .expect("a batch of the logs");
                self.problem(format!(
                    "torn batch {}: there for {applied:?}, missing from {missing:?}",
                    self.describe(op)
                ));
            }
        }
    }
}

/// Runs `f` on its own thread and fails the test if it takes more than
/// `OPEN_DEADLINE`, so a hang in the store (opening, loading or releasing
/// the file) fails with a message instead of blocking the suite.
///
/// The parent releases each store by dropping it, not by `close` and then
/// drop: that pair can hang forever (the drop's second `close` can reach
/// the committer's channel after the committer answered the first and
/// before it drops the channel; the queued message is dropped unanswered).
fn with_deadline<R: Send + 'static>(
    what: &str,
    f: impl FnOnce() -> Result<R, String> + Send + 'static,
) -> R {
    let (sender, receiver) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let _ = sender.send(f());
    });
    match receiver.recv_timeout(OPEN_DEADLINE) {
        Ok(Ok(result)) => result,
        Ok(Err(error)) => panic!("{what}: {error}"),
        Err(std::sync::mpsc::RecvTimeoutError::Timeout) => {
            panic!("{what}: hung for {OPEN_DEADLINE:?}")
        }
        Err(std::sync::mpsc::RecvTimeoutError::Disconnected) => panic!("{what}: panicked"),
    }
}

fn child_output(dir: &Path) -> String {
    let stderr = fs::read_to_string(dir.join("stderr")).unwrap_or_default();
    let tail: String = stderr
        .chars()
        .rev()
        .take(4000)
        .collect::<Vec<_>>()
        .into_iter()
        .rev()
        .collect();
    format!("child stderr (tail):\n{tail}")
}

/// One round: start a writer, kill it, reopen and judge. Returns the file
/// as reopened.
fn round(
    base: &Path,
    db: &Path,
    seed: u64,
    round: u32,
    baseline: &Durable,
    rng: &mut Rng,
) -> Durable {
    let mode = if round == INTERVAL_ROUND {
        Mode::Interval
    } else {
        Mode::Immediate
    };
    let dir = base.join(format!("round-{round}"));
    fs::create_dir_all(&dir).unwrap();
    let child_seed = rng.next();
    let context = format!(
        "kill9 round {round} (KILL9_SEED={seed}, child seed {child_seed}, {mode:?}; files in {})",
        dir.display()
    );
    let began = Instant::now();
    let child = Command::new(std::env::current_exe().expect("current_exe"))
        .args(["child_writer", "--exact", "--nocapture", "--test-threads=1"])
        .env(ENV_DB, db)
        .env(ENV_LOGS, &dir)
        .env(ENV_SEED, child_seed.to_string())
        .env(ENV_ROUND, round.to_string())
        .env(
            ENV_MODE,
            match mode {
                Mode::Immediate => "immediate",
                Mode::Interval => "interval",
            },
        )
        .stdin(Stdio::null())
        .stdout(File::create(dir.join("stdout")).unwrap())
        .stderr(File::create(dir.join("stderr")).unwrap())
        .spawn()
        .expect("spawning the child");
    let mut guard = ChildGuard(Some(child));
    let child = guard.0.as_mut().unwrap();

    let run = if round == EARLY_ROUND {
        Duration::from_millis(rng.below(40))
    } else {
        // Wait for the child to have opened the store.
        let deadline = Instant::now() + Duration::from_secs(60);
        while !dir.join("start").exists() {
            if let Some(status) = child.try_wait().unwrap() {
                panic!(
                    "{context}: the child ended ({status}) before it started writing\n{}",
                    child_output(&dir)
                );
            }
            assert!(
                Instant::now() < deadline,
                "{context}: the child did not start within 60 s"
            );
            std::thread::sleep(Duration::from_millis(2));
        }
        // The file is held: opening it here must say so, and change nothing.
        match zestor_durable::open::<Val>(db, Options::new()) {
            Err(Error::Locked { .. }) => {}
            Err(error) => panic!("{context}: opening a held file: {error} (expected Locked)"),
            Ok(_) => panic!("{context}: opened a file the child holds"),
        }
        if mode == Mode::Interval {
            INTERVAL_RUN
        } else {
            Duration::from_millis(50 + rng.below(351))
        }
    };
    std::thread::sleep(run);
    if let Some(status) = child.try_wait().unwrap() {
        panic!(
            "{context}: the child ended by itself ({status})\n{}",
            child_output(&dir)
        );
    }
    let kill_micros = now_micros();
    child.kill().expect("SIGKILL");
    let status = child.wait().expect("wait");
    guard.0 = None;
    let lifetime = began.elapsed();

    let logs = read_logs(&dir);
    if let Some(start) = &logs.start {
        for kind in KINDS {
            let before = baseline.revisions.get(kind).copied().unwrap_or(0);
            assert_eq!(
                start.get(kind).copied(),
                Some(before),
                "{context}: the child opened kind {kind} at another revision than the parent \
                 last saw"
            );
        }
    }
    let reopened = with_deadline(&format!("{context}: reopening after the kill"), {
        let db = db.to_path_buf();
        move || {
            let store = zestor_durable::open::<Val>(&db, Options::new())
                .map_err(|error| format!("reopening after the kill: {error}"))?;
            Ok(read_durable(&store))
            // Dropped, not `close`d: see `with_deadline`.
        }
    });

    let mut judge = Judge {
        round,
        mode,
        kill_micros,
        baseline,
        reopened: &reopened,
        ops: &logs.ops,
        problems: Vec::new(),
    };
    judge.check_revisions();
    let batches = judge.check_keys();
    judge.check_batches(batches);
    let acked = logs.ops.iter().filter(|op| op.ack.is_some()).count();
    let in_flight = logs.ops.len() - acked;
    // Acknowledged writes beyond the reopened revisions (lost: only
    // `Interval` mode may lose any), and the oldest of them.
    let lost: Vec<u64> = logs
        .ops
        .iter()
        .filter_map(|op| match op.ack {
            Some(ack) if op.what != What::Delete && ack.revision > reopened.revisions[&op.kind] => {
                Some(kill_micros.saturating_sub(ack.micros))
            }
            _ => None,
        })
        .collect();
    eprintln!(
        "{context}: ran {:.0} ms, killed ({status}); {acked} acks, {in_flight} in flight; \
         reopened at {:?} with {} entries; {} acked writes lost{}; {} problems",
        lifetime.as_secs_f64() * 1000.0,
        reopened.revisions,
        reopened.entries.len(),
        lost.len(),
        lost.iter().max().map_or_else(String::new, |oldest| format!(
            " (the oldest acked {:.1} ms before the kill)",
            *oldest as f64 / 1000.0
        )),
        judge.problems.len()
    );
    if !judge.problems.is_empty() {
        let shown: Vec<&String> = judge.problems.iter().take(30).collect();
        panic!(
            "{context}: {} violations after kill -9:\n  {}",
            judge.problems.len(),
            shown
                .iter()
                .map(|problem| problem.as_str())
                .collect::<Vec<_>>()
                .join("\n  ")
        );
    }
    reopened
}

#[test]
fn kill9_every_acknowledged_write_survives() {
    if std::env::var_os(ENV_DB).is_some() {
        return; // this is a child; only `child_writer` runs there
    }
    let seed: u64 = match std::env::var("KILL9_SEED") {
        Ok(seed) => seed.parse().expect("KILL9_SEED is a u64"),
        Err(_) => now_micros() ^ u64::from(std::process::id()).rotate_left(32),
    };
    eprintln!("kill9: seed {seed} (replay with KILL9_SEED={seed})");
    let base = Path::new(env!("CARGO_TARGET_TMPDIR")).join(format!("kill9-{}", std::process::id()));
    let _ = fs::remove_dir_all(&base);
    fs::create_dir_all(&base).unwrap();
    let db = base.join("store.db");
    let mut rng = Rng(seed);
    let began = Instant::now();
    let mut durable = Durable::default();
    for number in 0..ROUNDS {
        durable = round(&base, &db, seed, number, &durable, &mut rng);
    }
    // A last write on the file: its revision is above everything before.
    let store = with_deadline("kill9: the last reopening", {
        let db = db.clone();
        move || zestor_durable::open::<Val>(&db, Options::new()).map_err(|error| error.to_string())
    });
    let value = Val {
        round: ROUNDS,
        thread: 0,
        op: 0,
        batch: false,
    };
    store.set(KINDS[0], "t0-k0", value).expect("set");
    let written = store.get(KINDS[0], "t0-k0").unwrap().unwrap().revision();
    assert!(
        written > durable.revisions[KINDS[0]],
        "kill9 (KILL9_SEED={seed}): a write after the last kill got revision {written}, not \
         above the {} on disk",
        durable.revisions[KINDS[0]]
    );
    with_deadline("kill9: dropping the store", move || {
        drop(store);
        Ok(())
    });
    eprintln!("kill9: {ROUNDS} rounds in {:?}", began.elapsed());
    let _ = fs::remove_dir_all(&base);
}
