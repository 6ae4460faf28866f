//! The `callbacks` harness: validators, the compare function, update
//! closures, read closures and list filters that fail or panic at points the
//! input chooses.
//!
//! The validators (kinds "a" and "b") reject values from 12 up and, while
//! armed, panic on one chosen value; the compare function, while armed,
//! panics when offered another chosen value; update closures return, fail,
//! panic, or write the same key through the store first (so the update
//! loses its compare-and-swap and retries), as the call says. After every
//! step:
//! - nothing is lost: every read of the store equals the model of the
//!   writes that succeeded (values and revisions, so a panicking callback
//!   must have left the key's value and the kind's revision untouched);
//! - nothing hangs: every watch first catches up, then gets the event of a
//!   fresh write to its kind through `recv_timeout`;
//! - mirrors converge: each is drained, and then shows exactly the kind
//!   (checked as in `mirror.rs`), and gets the fresh write as well;
//! - the store keeps working: the next step runs on the same store.

use std::collections::BTreeSet;
use std::fmt;
use std::sync::Arc;

use zestor::Store;

use super::check::{check, check_state};
use super::mirror::{CheckedMirror, MirrorRecv, MirrorSpec};
use super::model::{
    entries_of, outcome, update_closure, Change, CompareMode, Faults, KeyName, KindName, Model,
    Outcome, Rules, Stopped, Stored, UpdateCalls, Verdict,
};
use super::panics::{self, catch};
use super::watch::{CheckedWatch, Delivery, EventMask, RecvMode, Tally, WatchSpec};

/// The ring, and every watch's buffer: one step writes far fewer revisions
/// than this to a kind, and every watch is drained after each step, so no
/// watch here may ever overflow.
pub const RING_CAPACITY: usize = 64;
/// Open watches (and, apart, mirrors) beyond this are dropped as soon as
/// they are made.
pub const MAX_WATCHES: usize = 6;
/// The key that the hang check writes; no op uses it.
pub const PROBE_KEY: &str = "~probe";

#[derive(Debug, Clone)]
pub struct Input {
    pub validator_panics_on: u8,
    pub compare_panics_on: u8,
    pub ops: Vec<Op>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Op {
    Set {
        kind: KindName,
        key: KeyName,
        value: u8,
    },
    SetMany {
        kind: KindName,
        items: Vec<(KeyName, u8)>,
    },
    Update {
        kind: KindName,
        key: KeyName,
        change: Change,
    },
    Delete {
        kind: KindName,
        key: KeyName,
    },
    /// `read` with a closure that panics.
    ReadPanics {
        kind: KindName,
        key: KeyName,
    },
    /// `list_filtered` with a filter that panics on its call number `after`
    /// (from 0), and keeps everything before.
    FilterPanics {
        kind: KindName,
        after: u8,
    },
    Watch {
        kind: KindName,
        replay: bool,
    },
    /// A mirror of the whole kind, with the ring's buffer.
    Mirror {
        kind: KindName,
    },
    /// Drops the watch or mirror in this slot (watches first, then
    /// mirrors, modulo how many are open).
    DropWatch {
        slot: u8,
    },
    /// Arms or disarms the validator's and the compare function's panics.
    Arm {
        validator: bool,
        compare: bool,
    },
}

/// The rules of the `callbacks` store.
pub fn rules(faults: Arc<Faults>) -> Rules {
    Rules {
        compare: CompareMode::Exact,
        validated: &[KindName::A, KindName::B],
        reject_from: 12,
        faults: Some(faults),
    }
}

/// Runs `input`; panics on the first difference or hang. Returns what the
/// run went through.
pub fn run(input: &Input) -> Tally {
    panics::silence_injected_panics();
    let mut harness = Harness::new(input);
    let mut tally = Tally::default();
    for (index, op) in input.ops.iter().enumerate() {
        let step = Step(index, op);
        if harness.apply(&step) {
            tally.panics += 1;
        }
        harness.check_after(&step);
    }
    for watch in &harness.watches {
        tally.add(watch.tally());
    }
    for mirror in &harness.mirrors {
        tally.add(mirror.tally());
    }
    tally
}

/// True if the model says the call unwinds.
fn unwinds<R>(expected: &Outcome<R>) -> bool {
    matches!(expected, Err(Stopped::Panicked))
}

struct Harness {
    store: Store<u8>,
    model: Model,
    faults: Arc<Faults>,
    watches: Vec<CheckedWatch>,
    watches_made: usize,
    mirrors: Vec<CheckedMirror>,
    mirrors_made: usize,
}

/// Names the failing step in messages: its index and the call.
struct Step<'a>(usize, &'a Op);

impl fmt::Debug for Step<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "step {}: {:?}", self.0, self.1)
    }
}

impl Harness {
    fn new(input: &Input) -> Self {
        let faults = Arc::new(Faults::new(
            input.validator_panics_on,
            input.compare_panics_on,
        ));
        let rules = rules(Arc::clone(&faults));
        Harness {
            store: rules.build_store(RING_CAPACITY, None),
            model: Model::new(rules),
            faults,
            watches: Vec::new(),
            watches_made: 0,
            mirrors: Vec::new(),
            mirrors_made: 0,
        }
    }

    /// Runs one op against the model and the store; true if it unwound
    /// from an injected panic (as the model said it must).
    fn apply(&mut self, step: &Step<'_>) -> bool {
        let store = &self.store;
        match *step.1 {
            Op::Set { kind, key, value } => {
                let (kind, key) = (kind.as_str(), key.as_str());
                let expected = self.model.set(kind, key, value);
                let actual = catch(|| store.set(kind, key, value));
                check(step, &expected, &outcome(actual, |result| result));
                unwinds(&expected)
            }
            Op::SetMany { kind, ref items } => {
                let items: Vec<(&str, u8)> = items
                    .iter()
                    .map(|(key, value)| (key.as_str(), *value))
                    .collect();
                let expected = self.model.set_many(kind.as_str(), &items);
                let actual = catch(|| store.set_many(kind.as_str(), items.iter().copied()));
                check(step, &expected, &outcome(actual, |()| ()));
                unwinds(&expected)
            }
            Op::Update { kind, key, change } => {
                let (kind, key) = (kind.as_str(), key.as_str());
                let (expected, expected_calls) = self.model.update(kind, key, change);
                let mut calls = UpdateCalls::default();
                let update = update_closure(store, kind, key, change, &mut calls);
                let actual = catch(|| store.update(kind, key, update));
                check(step, &expected, &outcome(actual, |changed| changed));
                assert_eq!(calls, expected_calls, "{step:?}: update closure calls");
                unwinds(&expected)
            }
            Op::Delete { kind, key } => {
                let (kind, key) = (kind.as_str(), key.as_str());
                let expected = self.model.delete(kind, key);
                let actual = catch(|| store.delete(kind, key));
                let actual = outcome(actual, |previous| previous.map(|v| Stored::of(&v, key)));
                check(step, &expected, &actual);
                false
            }
            Op::ReadPanics { kind, key } => {
                let (kind, key) = (kind.as_str(), key.as_str());
                // The closure runs (and panics) only if the key holds a value.
                let expected: Outcome<Option<()>> = match self.model.read_key(kind, key) {
                    Ok(Some(_)) => Err(Stopped::Panicked),
                    other => other.map(|_| None),
                };
                let actual = catch(|| store.read(kind, key, |_| panics::inject()));
                check(step, &expected, &outcome(actual, |read| read));
                unwinds(&expected)
            }
            Op::FilterPanics { kind, after } => {
                let kind = kind.as_str();
                let after = usize::from(after);
                let expected: Outcome<Vec<(String, Stored)>> = match self.model.read_kind(kind) {
                    Ok(entries) if entries.len() > after => Err(Stopped::Panicked),
                    other => {
                        other.map(|entries| entries.iter().map(|(k, v)| (k.clone(), *v)).collect())
                    }
                };
                let mut calls = 0;
                let filter = |_: &str, _: &u8| {
                    if calls == after {
                        panics::inject();
                    }
                    calls += 1;
                    true
                };
                let actual = catch(|| store.list_filtered(kind, filter));
                check(step, &expected, &outcome(actual, entries_of));
                unwinds(&expected)
            }
            Op::Watch { kind, replay } => {
                let spec = WatchSpec {
                    replay,
                    types: EventMask::ALL,
                    buffer_size: RING_CAPACITY,
                    start_back: None,
                    prefix: None,
                };
                let kind = kind.as_str();
                let expected = self.model.watch(kind, &spec, RING_CAPACITY);
                let caught = catch(|| store.watch(kind, spec.options(0)));
                let actual = outcome(caught, |watch| {
                    let checked =
                        CheckedWatch::new(self.watches_made, kind, spec, watch, &self.model);
                    self.watches_made += 1;
                    if self.watches.len() < MAX_WATCHES {
                        self.watches.push(checked);
                    }
                });
                check(step, &expected, &actual);
                false
            }
            Op::Mirror { kind } => {
                let spec = MirrorSpec {
                    options: Some(WatchSpec {
                        replay: false,
                        types: EventMask::ALL,
                        buffer_size: RING_CAPACITY,
                        start_back: None,
                        prefix: None,
                    }),
                };
                let kind = kind.as_str();
                let expected = self.model.mirror(kind, &spec, RING_CAPACITY);
                let options = spec.watch_options(0).expect("mirror_with");
                let caught = catch(|| store.mirror_with(kind, options));
                let actual = outcome(caught, |mirror| {
                    let checked =
                        CheckedMirror::new(self.mirrors_made, kind, spec, mirror, &self.model);
                    self.mirrors_made += 1;
                    if self.mirrors.len() < MAX_WATCHES {
                        self.mirrors.push(checked);
                    }
                });
                check(step, &expected, &actual);
                false
            }
            Op::DropWatch { slot } => {
                let open = self.watches.len() + self.mirrors.len();
                if open > 0 {
                    let slot = usize::from(slot) % open;
                    if slot < self.watches.len() {
                        self.watches.remove(slot);
                    } else {
                        self.mirrors.remove(slot - self.watches.len());
                    }
                }
                false
            }
            Op::Arm { validator, compare } => {
                self.faults.arm(validator, compare);
                false
            }
        }
    }

    /// The checks after every step: nothing lost, nothing hung.
    fn check_after(&mut self, step: &Step<'_>) {
        check_state(&self.store, &self.model, step);
        for watch in &mut self.watches {
            watch.drain(&self.model, RecvMode::TryRecv);
        }
        for mirror in &mut self.mirrors {
            mirror.drain(&self.model);
        }
        let watched: BTreeSet<String> = self
            .watches
            .iter()
            .map(|watch| watch.kind().to_owned())
            .chain(self.mirrors.iter().map(|mirror| mirror.kind().to_owned()))
            .collect();
        for kind in &watched {
            self.probe(kind, step);
        }
        for watch in &mut self.watches {
            let delivery = watch.step(&self.model, RecvMode::RecvTimeout);
            assert!(
                matches!(delivery, Delivery::Event(_)),
                "after {step:?}: a watch on {:?} did not get the next write: {delivery:?}",
                watch.kind()
            );
            watch.step(&self.model, RecvMode::TryRecv);
        }
        for mirror in &mut self.mirrors {
            let delivery = mirror.step(&self.model, MirrorRecv::RecvTimeout);
            assert!(
                matches!(delivery, Delivery::Event(_)),
                "after {step:?}: a mirror of {:?} did not get the next write: {delivery:?}",
                mirror.kind()
            );
            mirror.step(&self.model, MirrorRecv::TryRecv);
        }
    }

    /// One write to `kind` that emits exactly one event and runs no
    /// callback: delete the probe key if present, else create it.
    fn probe(&mut self, kind: &str, step: &Step<'_>) {
        if self.model.entries(kind).contains_key(PROBE_KEY) {
            let expected = self.model.delete(kind, PROBE_KEY);
            let actual = outcome(Ok(self.store.delete(kind, PROBE_KEY)), |previous| {
                previous.map(|v| Stored::of(&v, PROBE_KEY))
            });
            check(step, &expected, &actual);
        } else {
            let value = (0..=u8::MAX)
                .find(|&v| self.model.rules().validate(kind, v) == Verdict::Pass)
                .expect("some value passes");
            let expected = self.model.set(kind, PROBE_KEY, value);
            let actual = outcome(Ok(self.store.set(kind, PROBE_KEY, value)), |r| r);
            check(step, &expected, &actual);
        }
    }
}
