//! The `durable` harness: a `zestor-durable` store, reopened from its file
//! mid-run, against the `BTreeMap` model.
//!
//! Every call is checked against the model as in the `ops` harness (its
//! result — `Created`/`Updated`/`Unchanged`, the deleted value with its
//! revision, what an update closure saw, what a transaction read — and then
//! the whole store: every kind's entries with each `Value::revision`, count
//! and revision, `kinds`, `get_all`). The store lives in a redb file in a
//! fresh temporary directory (on tmpfs where `/dev/shm` exists), removed at
//! the end. Three ways to get a new store from the file:
//!
//! * [`Reopen::Close`]: `close()`, then open the file again. Handles made
//!   before (the `Store` and the kept `Kind`s) must answer `Closed` after
//!   the new store is open, and dropping them must not touch it.
//! * [`Reopen::Drop`]: drop the `Store` without closing it. If kept `Kind`
//!   handles are alive the store is still open, so opening the file must
//!   fail with `Locked` (and change nothing); once they are dropped too,
//!   the last handle's drop flushes and releases the file.
//! * [`Op::Crash`]: copy the file while the store is open — what a
//!   `kill -9` at that moment would leave on disk — and open the copy.
//!   In `Interval` mode (an hour: nothing commits before close) the copy
//!   holds the store as it was when it was last opened, so the model rolls
//!   back to that, and the revisions of the lost writes are handed out
//!   again; in `Immediate` mode it holds every write that returned.
//!
//! After each, the new store must equal the model: every kind, key, value,
//! value revision and kind revision; the model's revisions are counted as
//! the store's (one per write that changed something, none for an
//! `Unchanged` set or a batch that changed nothing). The run ends with one
//! more close and reopen, so every run checks what reached the file.

use std::collections::BTreeMap;
use std::fmt;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use zestor::{Error, Kind, Store};
use zestor_durable::{Durability, Options};

use crate::harness::check::{check, check_state};
use crate::harness::model::{
    outcome, update_closure, Change, CompareMode, Failure, KeyName, KindName, Model, Rules, Stored,
    UpdateCalls,
};
use crate::harness::ops::{self, Via};
use crate::harness::panics::{self, catch};

/// Longest run: every reopen reads and writes the file.
pub const MAX_OPS: usize = 30;
/// Most reopens and crashes in a run (the final reopen not counted).
pub const MAX_REOPENS: usize = 3;
/// The stores' event ring (nothing watches them).
const RING_CAPACITY: usize = 4;

/// When the store commits (`zestor_durable::Durability`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    /// `Interval` of an hour: writes commit only when the store is closed
    /// or its last handle dropped.
    Interval,
    /// Every write commits before it returns.
    Immediate,
}

/// How the store is let go before the file is opened again.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Reopen {
    /// `Store::close`.
    Close,
    /// Dropping the `Store` (and, after checking that the file is still
    /// held, the kept `Kind` handles).
    Drop,
}

/// One run: the store's configuration and the calls.
#[derive(Debug, Clone)]
pub struct Input {
    pub compare: CompareMode,
    pub mode: Mode,
    pub ops: Vec<Op>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Op {
    Set {
        kind: KindName,
        key: KeyName,
        value: u8,
        via: Via,
    },
    SetMany {
        kind: KindName,
        items: Vec<(KeyName, u8)>,
        via: Via,
    },
    Update {
        kind: KindName,
        key: KeyName,
        change: Change,
        via: Via,
    },
    Delete {
        kind: KindName,
        key: KeyName,
        via: Via,
    },
    /// A transaction whose closure reads `reads`, makes `writes` (`None`:
    /// delete) and then fails if `fail`.
    Transaction {
        kind: KindName,
        reads: Vec<KeyName>,
        writes: Vec<(KeyName, Option<u8>)>,
        fail: bool,
        via: Via,
    },
    Reopen(Reopen),
    /// Opens a copy of the file taken while the store is open.
    Crash,
}

impl Op {
    /// Whether the op opens the file again.
    pub fn reopens(&self) -> bool {
        matches!(self, Op::Reopen(_) | Op::Crash)
    }
}

/// Runs `input` against a fresh file and the model; panics on the first
/// difference.
pub fn run(input: &Input) {
    panics::silence_injected_panics();
    let mut harness = Harness::new(input);
    for (index, op) in input.ops.iter().enumerate() {
        let step = Step(index, op);
        harness.apply(&step, op);
        check_state(harness.store(), &harness.model, &step);
    }
    harness.finish();
}

/// Names the failing step in messages: its index and the call.
struct Step<'a>(usize, &'a Op);

impl fmt::Debug for Step<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "step {}: {:?}", self.0, self.1)
    }
}

/// A directory of its own for one run, removed when dropped.
struct TempDir(PathBuf);

impl TempDir {
    fn new() -> Self {
        static RUNS: AtomicU64 = AtomicU64::new(0);
        let shm = Path::new("/dev/shm");
        let base = if shm.is_dir() {
            shm.to_path_buf()
        } else {
            std::env::temp_dir()
        };
        // Relaxed: a counter for unique names.
        let run = RUNS.fetch_add(1, Ordering::Relaxed);
        let dir = base.join(format!("zestor-durable-fuzz-{}-{run}", std::process::id()));
        // Left over by an earlier process with this id that crashed.
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir)
            .unwrap_or_else(|error| panic!("creating {}: {error}", dir.display()));
        TempDir(dir)
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// Calls `method` on the store with the kind name, or on a `Kind` handle
/// without it, as `via` says.
macro_rules! call {
    ($harness:ident, $kind:expr, $via:expr, $method:ident($($arg:expr),*)) => {
        match $via {
            Via::Store => $harness.store().$method($kind.as_str() $(, $arg)*),
            via => $harness.handle($kind, via).and_then(|handle| handle.$method($($arg),*)),
        }
    };
}

struct Harness {
    // Field order: the store and its handles go before the directory.
    store: Option<Store<u8>>,
    kept: BTreeMap<KindName, Kind<u8>>,
    model: Model,
    /// What the file holds (`Interval` mode): the model as it was when the
    /// store was last opened.
    on_disk: Model,
    rules: Rules,
    mode: Mode,
    /// The file the store is in.
    path: PathBuf,
    /// Crash images made so far (each gets a file of its own).
    crashes: usize,
    dir: TempDir,
}

impl Harness {
    fn new(input: &Input) -> Self {
        let dir = TempDir::new();
        let rules = ops::rules(input.compare);
        let model = Model::new(rules.clone());
        let mut harness = Harness {
            store: None,
            kept: BTreeMap::new(),
            on_disk: model.clone(),
            model,
            rules,
            mode: input.mode,
            path: dir.0.join("store.redb"),
            crashes: 0,
            dir,
        };
        harness.store = Some(harness.open(&"opening a new file"));
        harness
    }

    fn options(&self) -> Options {
        Options::new().durability(match self.mode {
            Mode::Interval => Durability::Interval(Duration::from_secs(3600)),
            Mode::Immediate => Durability::Immediate,
        })
    }

    fn try_open(&self) -> Result<Store<u8>, zestor_durable::Error> {
        let rules = self.rules.clone();
        zestor_durable::open_with(&self.path, self.options(), move |builder| {
            // No watches here: a small event ring is cheaper to make and drop.
            rules.configure(builder.ring_capacity(RING_CAPACITY))
        })
    }

    /// Opens the file (which must work), and takes what it holds as what
    /// is on disk.
    fn open(&mut self, step: &dyn fmt::Debug) -> Store<u8> {
        let store = self
            .try_open()
            .unwrap_or_else(|error| panic!("{step:?}: opening {}: {error}", self.path.display()));
        self.on_disk = self.model.clone();
        store
    }

    fn store(&self) -> &Store<u8> {
        self.store.as_ref().expect("a store is open between steps")
    }

    /// A `Kind` handle for a call that goes `via` one.
    fn handle(&mut self, kind: KindName, via: Via) -> Result<Kind<u8>, Error> {
        let store = self.store.as_ref().expect("a store is open between steps");
        ops::handle(store, &mut self.kept, kind, via)
    }

    fn apply(&mut self, step: &Step<'_>, op: &Op) {
        match *op {
            Op::Set {
                kind,
                key,
                value,
                via,
            } => {
                let expected = self.model.set(kind.as_str(), key.as_str(), value);
                let actual = catch(|| call!(self, kind, via, set(key.as_str(), value)));
                check(step, &expected, &outcome(actual, |result| result));
            }
            Op::SetMany {
                kind,
                ref items,
                via,
            } => {
                let items: Vec<(&str, u8)> = items
                    .iter()
                    .map(|(key, value)| (key.as_str(), *value))
                    .collect();
                let expected = self.model.set_many(kind.as_str(), &items);
                let actual = catch(|| call!(self, kind, via, set_many(items.iter().copied())));
                check(step, &expected, &outcome(actual, |()| ()));
            }
            Op::Update {
                kind,
                key,
                change,
                via,
            } => {
                let (expected, expected_calls) =
                    self.model.update(kind.as_str(), key.as_str(), change);
                // A re-entrant closure writes through a store handle of its
                // own, as `self` is busy with the call.
                let store = self.store().clone();
                let mut calls = UpdateCalls::default();
                let update =
                    update_closure(&store, kind.as_str(), key.as_str(), change, &mut calls);
                let actual = catch(|| call!(self, kind, via, update(key.as_str(), update)));
                check(step, &expected, &outcome(actual, |changed| changed));
                assert_eq!(calls, expected_calls, "{step:?}: update closure calls");
            }
            Op::Delete { kind, key, via } => {
                let expected = self.model.delete(kind.as_str(), key.as_str());
                let actual = catch(|| call!(self, kind, via, delete(key.as_str())));
                let actual = outcome(actual, |previous| {
                    previous.map(|v| Stored::of(&v, key.as_str()))
                });
                check(step, &expected, &actual);
            }
            Op::Transaction {
                kind,
                ref reads,
                ref writes,
                fail,
                via,
            } => self.transaction(step, kind, reads, writes, fail, via),
            Op::Reopen(Reopen::Close) => self.reopen_closing(step),
            Op::Reopen(Reopen::Drop) => self.reopen_dropping(step),
            Op::Crash => self.crash(step),
        }
    }

    fn transaction(
        &mut self,
        step: &Step<'_>,
        kind: KindName,
        reads: &[KeyName],
        writes: &[(KeyName, Option<u8>)],
        fail: bool,
        via: Via,
    ) {
        let store = self.store.as_ref().expect("a store is open between steps");
        let kept = &mut self.kept;
        ops::transaction(
            &mut self.model,
            step,
            kind,
            reads,
            writes,
            fail,
            |body| match via {
                Via::Store => store.transaction(kind.as_str(), body),
                via => {
                    ops::handle(store, kept, kind, via).and_then(|handle| handle.transaction(body))
                }
            },
        );
    }

    /// `close()`, then open the file again. The old handles must answer
    /// `Closed` once the new store is open, and dropping them (the old
    /// journal's `close` runs again) must leave the new store alone.
    fn reopen_closing(&mut self, step: &dyn fmt::Debug) {
        let old = self.store.take().expect("a store is open");
        old.close();
        assert!(old.is_closed(), "{step:?}: is_closed after close");
        let stale = std::mem::take(&mut self.kept);
        self.store = Some(self.open(step));
        let closed = Err(Failure::Closed);
        let write = old.set("a", "k", 1).map_err(|e| Failure::of(&e));
        assert_eq!(write, closed, "{step:?}: a write to the closed store");
        for (kind, handle) in &stale {
            let write = handle.set("k", 1).map_err(|e| Failure::of(&e));
            assert_eq!(
                write, closed,
                "{step:?}: a write through a {kind:?} handle of the closed store"
            );
            let delete = handle.delete("k").map(|_| ()).map_err(|e| Failure::of(&e));
            assert_eq!(
                delete,
                Err(Failure::Closed),
                "{step:?}: a delete through a {kind:?} handle of the closed store"
            );
        }
        drop(stale);
        drop(old);
        check_state(self.store(), &self.model, step);
    }

    /// Drops the `Store` without closing it. While kept `Kind` handles keep
    /// the store open, the file is held: opening it fails with `Locked`,
    /// and the open store is unchanged. Then the handles go too, and the
    /// last drop flushes and releases the file.
    fn reopen_dropping(&mut self, step: &dyn fmt::Debug) {
        drop(self.store.take());
        if !self.kept.is_empty() {
            match self.try_open() {
                Err(zestor_durable::Error::Locked { path }) => {
                    assert_eq!(path, self.path, "{step:?}: the path Locked names");
                }
                Err(error) => panic!(
                    "{step:?}: opening a file a live Kind handle holds: {error} (expected Locked)"
                ),
                Ok(_) => panic!("{step:?}: opened a file a live Kind handle holds"),
            }
            for (kind, handle) in &self.kept {
                let expected = self.model.read_kind(kind.as_str()).map(|entries| {
                    entries
                        .iter()
                        .map(|(key, stored)| (key.clone(), *stored))
                        .collect::<Vec<_>>()
                });
                let actual = outcome(Ok(handle.list()), crate::harness::model::entries_of);
                check(
                    &format_args!("{step:?}: a kept {kind:?} handle after the Store was dropped"),
                    &expected,
                    &actual,
                );
            }
            self.kept.clear();
        }
        self.store = Some(self.open(step));
        check_state(self.store(), &self.model, step);
    }

    /// Copies the file while the store is open (nothing commits between
    /// writes in `Interval` mode, and every write has committed when it
    /// returns in `Immediate` mode, so the copy is what a `kill -9` would
    /// leave), lets the store go, and opens the copy.
    fn crash(&mut self, step: &dyn fmt::Debug) {
        self.crashes += 1;
        let image = self.dir.0.join(format!("crash-{}.redb", self.crashes));
        std::fs::copy(&self.path, &image)
            .unwrap_or_else(|error| panic!("{step:?}: copying {}: {error}", self.path.display()));
        // The process that wrote the file is gone: its handles are dropped
        // (so its committer thread ends) and its file set aside.
        self.kept.clear();
        drop(self.store.take());
        let _ = std::fs::remove_file(&self.path);
        self.path = image;
        if self.mode == Mode::Interval {
            // Only what the last open found reached the file.
            self.model = self.on_disk.clone();
        }
        self.store = Some(self.open(step));
        check_state(self.store(), &self.model, step);
    }

    /// Closes and reopens once more, compares, and closes for good.
    fn finish(mut self) {
        let step = "the end of the run (closed and reopened)";
        self.reopen_closing(&step);
        let store = self.store.take().expect("a store is open");
        store.close();
        self.model.close();
        check_state(&store, &self.model, &"the end of the run, closed");
    }
}
