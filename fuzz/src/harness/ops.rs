//! The `ops` harness: any sequence of calls, each checked against the model.
//!
//! The store gets a small ring (so watchers overflow and the ring laps), a
//! validator on kind "b", and either the default compare or a coarse one
//! (so `Unchanged` keeps a value that differs from the one offered). Calls
//! go through the `Store`, a fresh `Kind` handle, or a handle kept from
//! earlier (which must also answer `Closed` after close). Update closures
//! may write their own key first, the one way a single thread makes a write
//! lose its compare-and-swap (a hole, then a retry). Watches are
//! checked delivery by delivery (see `watch.rs`), mirrors event by event
//! (see `mirror.rs`; a buffer of a few revisions on the small ring makes
//! them resync); at the end every watch and mirror is drained, the whole
//! store compared, and the store closed.

use std::collections::BTreeMap;
use std::ops::{Bound, RangeBounds};

use zestor::{Error, Kind, Snapshot, Store};

use super::check::{check, check_state};
use super::mirror::{CheckedMirror, MirrorRecv, MirrorSpec};
use super::model::{
    effective_ring_capacity, entries_of, outcome, update_closure, Change, CompareMode, Failure,
    KeyName, KindName, Model, Outcome, Point, Rules, Stopped, Stored, UpdateCalls,
    TRANSACTION_FAILS,
};
use super::panics::{self, catch};
use super::watch::{CheckedWatch, RecvMode, Tally, WatchSpec};

/// Open watches beyond this are dropped as soon as their creation is checked.
pub const MAX_WATCHES: usize = 8;

/// Open mirrors beyond this are dropped as soon as their creation is
/// checked (every receive re-reads a mirror's whole view).
pub const MAX_MIRRORS: usize = 4;

/// Snapshots kept for `CheckSnapshots` (the oldest goes first).
pub const MAX_SNAPSHOTS: usize = 4;

/// A `Kind` handle of `store` for a call that goes `via` one: a fresh one,
/// or the one kept in `kept` (kept from its first use).
pub fn handle(
    store: &Store<u8>,
    kept: &mut BTreeMap<KindName, Kind<u8>>,
    kind: KindName,
    via: Via,
) -> Result<Kind<u8>, Error> {
    if via == Via::KeptHandle {
        if let Some(handle) = kept.get(&kind) {
            return Ok(handle.clone());
        }
    }
    let handle = store.kind(kind.as_str())?;
    assert_eq!(handle.name(), kind.as_str(), "Kind::name");
    if via == Via::KeptHandle {
        kept.insert(kind, handle.clone());
    }
    Ok(handle)
}

/// The body a checked transaction runs (see [`transaction`]).
pub type TransactionBody<'b> =
    dyn FnMut(&mut zestor::Transaction<'_, u8>) -> Result<(), &'static str> + 'b;

/// A transaction that reads `reads` and writes `writes` (and gives up if
/// `fail`), applied to the model and, through `run`, to the store; checks
/// its result and what it read.
pub fn transaction(
    model: &mut Model,
    step: &dyn std::fmt::Debug,
    kind: KindName,
    reads: &[KeyName],
    writes: &[(KeyName, Option<u8>)],
    fail: bool,
    run: impl FnOnce(&mut TransactionBody<'_>) -> Result<(), Error>,
) {
    let reads: Vec<&str> = reads.iter().map(|key| key.as_str()).collect();
    let writes: Vec<(&str, Option<u8>)> = writes
        .iter()
        .map(|(key, value)| (key.as_str(), *value))
        .collect();
    let (expected, expected_seen) = model.transaction(kind.as_str(), &reads, &writes, fail);
    // The closure's last run is the one that counts (it may run again only
    // under contention, which one thread never makes).
    let mut seen = Vec::new();
    let mut body = |tx: &mut zestor::Transaction<'_, u8>| {
        seen.clear();
        for key in &reads {
            seen.push(tx.get(key).map(|value| *value));
        }
        for (key, value) in &writes {
            match value {
                Some(value) => tx.set(key, *value),
                None => tx.delete(key),
            }
        }
        if fail {
            Err(TRANSACTION_FAILS)
        } else {
            Ok(())
        }
    };
    let actual = catch(|| run(&mut body));
    check(step, &expected, &outcome(actual, |()| ()));
    if !expected_seen.is_empty() {
        assert_eq!(seen, expected_seen, "{step:?}: what the transaction read");
    }
}

/// A snapshot, with what the model said it holds when it was taken.
struct KeptSnapshot {
    snapshot: Snapshot<u8>,
    revision: u64,
    entries: BTreeMap<String, Stored>,
}

/// One run: the store's configuration and the calls.
#[derive(Debug, Clone)]
pub struct Input {
    /// Handed to `ring_capacity` as is (the store rounds it up to a power of
    /// two and clamps it to at least 1).
    pub ring_capacity: u8,
    pub compare: CompareMode,
    /// Handed to `StoreBuilder::history` (`None`: the builder's default).
    /// Below the ring's capacity, an unwatched kind releases its older
    /// revisions, so a resumed watch may meet `Compacted` sooner.
    pub history: Option<u8>,
    pub ops: Vec<Op>,
}

/// How a call reaches its kind.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Via {
    Store,
    /// A `Kind` handle made for this call.
    Handle,
    /// A `Kind` handle made the first time it was needed, kept since.
    KeptHandle,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PointRead {
    Get,
    Read,
    Contains,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ScanRead {
    List,
    /// `list_filtered` keeping odd (or even) values.
    ListFiltered {
        odd: bool,
    },
    Range(Bound<Point>, Bound<Point>),
    Prefix(Point),
    Keys,
    Values,
    Count,
    Revision,
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
    Read {
        kind: KindName,
        key: KeyName,
        read: PointRead,
        via: Via,
    },
    Scan {
        kind: KindName,
        scan: ScanRead,
        via: Via,
    },
    Kinds,
    GetAll,
    Dump,
    Watch {
        kind: KindName,
        spec: WatchSpec,
        via: Via,
    },
    /// Drops the watch in this slot (modulo the open watches).
    DropWatch {
        slot: u8,
    },
    /// Receives up to `count` deliveries from the watch in this slot.
    Recv {
        slot: u8,
        mode: RecvMode,
        count: u8,
    },
    /// Receives from every watch until nothing is pending, then from every
    /// mirror until it yields nothing (by `try_recv`).
    DrainAll {
        mode: RecvMode,
    },
    Mirror {
        kind: KindName,
        spec: MirrorSpec,
        via: Via,
    },
    /// Receives up to `count` events from the mirror in this slot.
    MirrorRecv {
        slot: u8,
        mode: MirrorRecv,
        count: u8,
    },
    /// Drops the mirror in this slot (modulo the open mirrors).
    DropMirror {
        slot: u8,
    },
    /// Takes a snapshot, checks it, and keeps it (see `CheckSnapshots`).
    Snapshot {
        kind: KindName,
        via: Via,
    },
    /// Checks every kept snapshot again: writes since changed none of them.
    CheckSnapshots,
    /// A transaction whose closure reads `reads`, makes `writes` (`None`:
    /// delete) and then fails if `fail`.
    Transaction {
        kind: KindName,
        reads: Vec<KeyName>,
        writes: Vec<(KeyName, Option<u8>)>,
        fail: bool,
        via: Via,
    },
    Close,
}

/// Runs `input` against a fresh store and the model; panics on the first
/// difference. Returns what the run's watches went through.
pub fn run(input: &Input) -> Tally {
    let mut harness = Harness::new(input);
    for (index, op) in input.ops.iter().enumerate() {
        harness.apply(index, op);
    }
    harness.finish()
}

/// The rules of the `ops` store: values from 28 up are rejected in kind "b".
pub fn rules(compare: CompareMode) -> Rules {
    Rules {
        compare,
        validated: &[KindName::B],
        reject_from: 28,
        faults: None,
    }
}

/// Calls `method` on the store with the kind name, or on a `Kind` handle
/// without it, as `via` says.
macro_rules! call {
    ($harness:ident, $kind:expr, $via:expr, $method:ident($($arg:expr),*)) => {
        match $via {
            Via::Store => $harness.store.$method($kind.as_str() $(, $arg)*),
            via => $harness.handle($kind, via).and_then(|handle| handle.$method($($arg),*)),
        }
    };
}

struct Harness {
    store: Store<u8>,
    model: Model,
    ring_capacity: usize,
    /// The revisions an unwatched kind keeps: the history asked for,
    /// clamped to the ring, as the store clamps it.
    history: usize,
    kept: BTreeMap<KindName, Kind<u8>>,
    watches: Vec<CheckedWatch>,
    watches_made: usize,
    mirrors: Vec<CheckedMirror>,
    mirrors_made: usize,
    snapshots: Vec<KeptSnapshot>,
    /// What the watches and mirrors dropped so far went through.
    tally: Tally,
}

/// Names the failing step in messages: its index and the call.
struct Step<'a>(usize, &'a Op);

impl std::fmt::Debug for Step<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "step {}: {:?}", self.0, self.1)
    }
}

impl Harness {
    fn new(input: &Input) -> Self {
        let rules = rules(input.compare);
        let requested = usize::from(input.ring_capacity);
        let history = input.history.map(usize::from);
        let ring_capacity = effective_ring_capacity(requested);
        Harness {
            store: rules.build_store(requested, history),
            model: Model::new(rules),
            ring_capacity,
            history: history
                .unwrap_or(zestor::StoreBuilder::<u8>::DEFAULT_HISTORY)
                .min(ring_capacity),
            kept: BTreeMap::new(),
            watches: Vec::new(),
            watches_made: 0,
            mirrors: Vec::new(),
            mirrors_made: 0,
            snapshots: Vec::new(),
            tally: Tally::default(),
        }
    }

    /// A `Kind` handle for a call that goes `via` one.
    fn handle(&mut self, kind: KindName, via: Via) -> Result<Kind<u8>, Error> {
        handle(&self.store, &mut self.kept, kind, via)
    }

    fn apply(&mut self, index: usize, op: &Op) {
        let step = Step(index, op);
        match *op {
            Op::Set {
                kind,
                key,
                value,
                via,
            } => {
                let expected = self.model.set(kind.as_str(), key.as_str(), value);
                let actual = catch(|| call!(self, kind, via, set(key.as_str(), value)));
                check(&step, &expected, &outcome(actual, |result| result));
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
                check(&step, &expected, &outcome(actual, |()| ()));
            }
            Op::Update {
                kind,
                key,
                change,
                via,
            } => {
                let (expected, expected_calls) =
                    self.model.update(kind.as_str(), key.as_str(), change);
                // A re-entrant closure writes through its own store handle,
                // as `self` is busy with the call.
                let store = self.store.clone();
                let mut calls = UpdateCalls::default();
                let update =
                    update_closure(&store, kind.as_str(), key.as_str(), change, &mut calls);
                let actual = catch(|| call!(self, kind, via, update(key.as_str(), update)));
                check(&step, &expected, &outcome(actual, |changed| changed));
                assert_eq!(calls, expected_calls, "{step:?}: update closure calls");
            }
            Op::Delete { kind, key, via } => {
                let expected = self.model.delete(kind.as_str(), key.as_str());
                let actual = catch(|| call!(self, kind, via, delete(key.as_str())));
                let actual = outcome(actual, |previous| {
                    previous.map(|v| Stored::of(&v, key.as_str()))
                });
                check(&step, &expected, &actual);
            }
            Op::Read {
                kind,
                key,
                read,
                via,
            } => self.point_read(&step, kind, key, read, via),
            Op::Scan { kind, scan, via } => self.scan(&step, kind, scan, via),
            Op::Kinds => {
                let actual = outcome(Ok(self.store.kinds()), |kinds| {
                    kinds.iter().map(|kind| kind.to_string()).collect()
                });
                check(&step, &self.model.kinds(), &actual);
            }
            // Compares everything, `get_all` included.
            Op::GetAll => check_state(&self.store, &self.model, &step),
            Op::Dump => check_dump(&self.store, &self.model, &step),
            Op::Watch { kind, spec, via } => self.watch(&step, kind, spec, via),
            Op::DropWatch { slot } => {
                if !self.watches.is_empty() {
                    let slot = usize::from(slot) % self.watches.len();
                    let dropped = self.watches.remove(slot);
                    self.tally.add(dropped.tally());
                }
            }
            Op::Recv { slot, mode, count } => {
                if !self.watches.is_empty() {
                    let slot = usize::from(slot) % self.watches.len();
                    for _ in 0..count.clamp(1, 4) {
                        self.watches[slot].step(&self.model, mode);
                    }
                }
            }
            Op::DrainAll { mode } => {
                for watch in &mut self.watches {
                    watch.drain(&self.model, mode);
                }
                let tally = &mut self.tally;
                self.watches.retain(|watch| {
                    if watch.is_ended() {
                        tally.add(watch.tally());
                    }
                    !watch.is_ended()
                });
                for mirror in &mut self.mirrors {
                    mirror.drain(&self.model);
                }
            }
            Op::Mirror { kind, spec, via } => self.mirror(&step, kind, spec, via),
            Op::MirrorRecv { slot, mode, count } => {
                if !self.mirrors.is_empty() {
                    let slot = usize::from(slot) % self.mirrors.len();
                    for _ in 0..count.clamp(1, 8) {
                        self.mirrors[slot].step(&self.model, mode);
                    }
                }
            }
            Op::DropMirror { slot } => {
                if !self.mirrors.is_empty() {
                    let slot = usize::from(slot) % self.mirrors.len();
                    let dropped = self.mirrors.remove(slot);
                    self.tally.add(dropped.tally());
                }
            }
            Op::Snapshot { kind, via } => self.snapshot(&step, kind, via),
            Op::CheckSnapshots => self.check_snapshots(&step),
            Op::Transaction {
                kind,
                ref reads,
                ref writes,
                fail,
                via,
            } => self.transaction(&step, kind, reads, writes, fail, via),
            Op::Close => {
                self.store.close();
                self.model.close();
                assert!(self.store.is_closed(), "{step:?}: is_closed");
            }
        }
    }

    fn snapshot(&mut self, step: &Step<'_>, kind: KindName, via: Via) {
        let expected = self.model.snapshot(kind.as_str());
        let snapshot = match call!(self, kind, via, snapshot()) {
            Ok(snapshot) => snapshot,
            Err(error) => {
                let actual: Outcome<(u64, BTreeMap<String, Stored>)> =
                    Err(Stopped::Failed(Failure::of(&error)));
                check(step, &expected, &actual);
                return;
            }
        };
        let seen = (snapshot.revision(), entries_map(&snapshot));
        check(step, &expected, &Ok(seen.clone()));
        assert_eq!(snapshot.kind(), kind.as_str(), "{step:?}: Snapshot::kind");
        if self.snapshots.len() == MAX_SNAPSHOTS {
            self.snapshots.remove(0);
        }
        let (revision, entries) = seen;
        self.snapshots.push(KeptSnapshot {
            snapshot,
            revision,
            entries,
        });
    }

    /// Every kept snapshot still holds what it held when taken: its list, its
    /// point reads, its keys and count.
    fn check_snapshots(&self, step: &dyn std::fmt::Debug) {
        for kept in &self.snapshots {
            let snapshot = &kept.snapshot;
            assert_eq!(
                snapshot.revision(),
                kept.revision,
                "{step:?}: snapshot revision"
            );
            assert_eq!(
                entries_map(snapshot),
                kept.entries,
                "{step:?}: snapshot entries"
            );
            for (key, stored) in &kept.entries {
                let got = snapshot.get(key).map(|v| Stored::of(&v, key));
                assert_eq!(got, Some(*stored), "{step:?}: snapshot get {key:?}");
            }
            assert_eq!(
                snapshot.count(),
                kept.entries.len(),
                "{step:?}: snapshot count"
            );
            assert!(!snapshot.contains("nope"), "{step:?}: snapshot contains");
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
        let (store, kept) = (&self.store, &mut self.kept);
        transaction(
            &mut self.model,
            step,
            kind,
            reads,
            writes,
            fail,
            |body| match via {
                Via::Store => store.transaction(kind.as_str(), body),
                via => handle(store, kept, kind, via).and_then(|handle| handle.transaction(body)),
            },
        );
    }

    fn point_read(
        &mut self,
        step: &Step<'_>,
        kind: KindName,
        key: KeyName,
        read: PointRead,
        via: Via,
    ) {
        let expected = self.model.read_key(kind.as_str(), key.as_str());
        let key = key.as_str();
        match read {
            PointRead::Get => {
                let actual = outcome(Ok(call!(self, kind, via, get(key))), |value| {
                    value.map(|v| Stored::of(&v, key))
                });
                check(step, &expected, &actual);
            }
            PointRead::Read => {
                let expected = expected.map(|stored| stored.map(|s| s.value));
                let actual = outcome(Ok(call!(self, kind, via, read(key, |v: &u8| *v))), |v| v);
                check(step, &expected, &actual);
            }
            PointRead::Contains => {
                let expected = expected.map(|stored| stored.is_some());
                let actual = outcome(Ok(call!(self, kind, via, contains(key))), |c| c);
                check(step, &expected, &actual);
            }
        }
    }

    fn scan(&mut self, step: &Step<'_>, kind: KindName, scan: ScanRead, via: Via) {
        let entries: Outcome<Vec<(String, Stored)>> =
            self.model.read_kind(kind.as_str()).map(|entries| {
                entries
                    .iter()
                    .map(|(key, stored)| (key.clone(), *stored))
                    .collect()
            });
        let select = |keep: &dyn Fn(&str, &Stored) -> bool| {
            entries.clone().map(|entries| {
                entries
                    .into_iter()
                    .filter(|(key, stored)| keep(key, stored))
                    .collect::<Vec<_>>()
            })
        };
        match scan {
            ScanRead::List => {
                let actual = outcome(Ok(call!(self, kind, via, list())), entries_of);
                check(step, &entries, &actual);
            }
            ScanRead::ListFiltered { odd } => {
                let expected = select(&|_, stored| (stored.value % 2 == 1) == odd);
                let mut offered = Vec::new();
                let keep = |key: &str, value: &u8| {
                    offered.push((key.to_owned(), *value));
                    (value % 2 == 1) == odd
                };
                let actual = outcome(Ok(call!(self, kind, via, list_filtered(keep))), entries_of);
                check(step, &expected, &actual);
                // The filter sees every entry once, in key order.
                let every: Vec<(String, u8)> = entries.map_or_else(
                    |_| Vec::new(),
                    |e| {
                        e.into_iter()
                            .map(|(key, stored)| (key, stored.value))
                            .collect()
                    },
                );
                assert_eq!(
                    offered, every,
                    "{step:?}: the entries offered to the filter"
                );
            }
            ScanRead::Range(start, end) => {
                let bounds = (start.map(Point::as_str), end.map(Point::as_str));
                // Filtering by the bounds also makes an inverted range empty,
                // as the store documents (BTreeMap::range would panic).
                let expected = select(&|key, _| bounds.contains(&key));
                let actual = outcome(Ok(call!(self, kind, via, range(bounds))), entries_of);
                check(step, &expected, &actual);
            }
            ScanRead::Prefix(prefix) => {
                let prefix = prefix.as_str();
                let expected = select(&|key, _| key.starts_with(prefix));
                let actual = outcome(Ok(call!(self, kind, via, prefix(prefix))), entries_of);
                check(step, &expected, &actual);
            }
            ScanRead::Keys => {
                let expected = entries.map(|e| e.into_iter().map(|(key, _)| key).collect());
                let actual = outcome(Ok(call!(self, kind, via, keys())), |keys| {
                    keys.iter().map(|key| key.to_string()).collect::<Vec<_>>()
                });
                check(step, &expected, &actual);
            }
            ScanRead::Values => {
                let expected: Outcome<Vec<Stored>> =
                    entries.map(|e| e.into_iter().map(|(_, stored)| stored).collect());
                let actual = outcome(Ok(call!(self, kind, via, values())), |values| {
                    values
                        .iter()
                        .map(|v| Stored::of(v, v.key()))
                        .collect::<Vec<_>>()
                });
                check(step, &expected, &actual);
            }
            ScanRead::Count => {
                let actual = outcome(Ok(call!(self, kind, via, count())), |n| n);
                check(step, &entries.map(|e| e.len()), &actual);
            }
            ScanRead::Revision => {
                let expected = entries.map(|_| self.model.revision(kind.as_str()));
                let actual = outcome(Ok(call!(self, kind, via, revision())), |r| r);
                check(step, &expected, &actual);
            }
        }
    }

    fn watch(&mut self, step: &Step<'_>, kind: KindName, spec: WatchSpec, via: Via) {
        let mut expected = self.model.watch(kind.as_str(), &spec, self.ring_capacity);
        let options = spec.options(self.model.revision(kind.as_str()));
        let (actual, watch) = match catch(|| call!(self, kind, via, watch(options))) {
            Ok(Ok(watch)) => (Ok(()), Some(watch)),
            Ok(Err(error)) => (Err(Stopped::Failed(Failure::of(&error))), None),
            Err(panics::Panicked) => (Err(Stopped::Panicked), None),
        };
        if matches!(&actual, Err(Stopped::Failed(Failure::Compacted { .. })))
            && self
                .model
                .may_be_released(kind.as_str(), &spec, self.history)
        {
            // Released history: the model does not track which writes found
            // the kind watched, so it accepts the store's word here; a watch
            // that does start is checked event by event as any other.
            expected = actual.clone();
        }
        check(step, &expected, &actual);
        if let Some(watch) = watch {
            let checked =
                CheckedWatch::new(self.watches_made, kind.as_str(), spec, watch, &self.model);
            self.watches_made += 1;
            if self.watches.len() < MAX_WATCHES {
                self.watches.push(checked);
            }
        }
    }

    fn mirror(&mut self, step: &Step<'_>, kind: KindName, spec: MirrorSpec, via: Via) {
        let expected = self.model.mirror(kind.as_str(), &spec, self.ring_capacity);
        let options = spec.watch_options(self.model.revision(kind.as_str()));
        let made = catch(|| match options {
            Some(options) => call!(self, kind, via, mirror_with(options)),
            None => call!(self, kind, via, mirror()),
        });
        let (actual, mirror) = match made {
            Ok(Ok(mirror)) => (Ok(()), Some(mirror)),
            Ok(Err(error)) => (Err(Stopped::Failed(Failure::of(&error))), None),
            Err(panics::Panicked) => (Err(Stopped::Panicked), None),
        };
        check(step, &expected, &actual);
        if let Some(mirror) = mirror {
            let checked =
                CheckedMirror::new(self.mirrors_made, kind.as_str(), spec, mirror, &self.model);
            self.mirrors_made += 1;
            if self.mirrors.len() < MAX_MIRRORS {
                self.mirrors.push(checked);
            }
        }
    }

    /// Drains every watch and mirror, compares the whole store, then closes
    /// it: every watch and mirror must end with `Closed`, and every call
    /// must answer `Closed`.
    fn finish(mut self) -> Tally {
        for watch in &mut self.watches {
            watch.drain(&self.model, RecvMode::TryRecv);
        }
        for mirror in &mut self.mirrors {
            mirror.drain(&self.model);
        }
        check_state(&self.store, &self.model, &"the end of the run");
        self.check_snapshots(&"the end of the run");
        self.store.close();
        self.model.close();
        // Snapshots stay readable after close.
        self.check_snapshots(&"the end of the run, closed");
        for watch in &mut self.watches {
            watch.drain(&self.model, RecvMode::TryRecv);
        }
        // Every way to receive must say `Closed`, and keep saying it.
        for mirror in &mut self.mirrors {
            for mode in [
                MirrorRecv::TryRecv,
                MirrorRecv::Stream,
                MirrorRecv::RecvTimeout,
                MirrorRecv::Recv,
            ] {
                mirror.step(&self.model, mode);
            }
        }
        check_state(&self.store, &self.model, &"the end of the run, closed");
        let write = self.store.set("a", "k", 0).map_err(|e| Failure::of(&e));
        assert_eq!(write, Err(Failure::Closed), "a write after close");
        for watch in &self.watches {
            self.tally.add(watch.tally());
        }
        for mirror in &self.mirrors {
            self.tally.add(mirror.tally());
        }
        self.tally
    }
}

/// `dump`, compared with the model's rendering of the same entries.
fn check_dump(store: &Store<u8>, model: &Model, step: &Step<'_>) {
    let mut out = Vec::new();
    let actual = match store.dump(&mut out) {
        Ok(()) => Ok(String::from_utf8(out).expect("dump writes UTF-8")),
        Err(error) => {
            let failure = error
                .get_ref()
                .and_then(|inner| inner.downcast_ref::<Error>())
                .map_or_else(|| Failure::Other(error.to_string()), Failure::of);
            Err(failure.into())
        }
    };
    check(step, &model.dump(), &actual);
}

/// A snapshot's entries as a map, as the model keeps them.
fn entries_map(snapshot: &Snapshot<u8>) -> BTreeMap<String, Stored> {
    snapshot
        .list()
        .into_iter()
        .map(|(key, value)| (key.to_string(), Stored::of(&value, &key)))
        .collect()
}
