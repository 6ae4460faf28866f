//! The model: what the store must answer, computed from plain `BTreeMap`s.
//!
//! Every write method both predicts the store's answer and applies the write
//! the way the store must, so a harness calls the model first and then the
//! store, and compares. The model keeps, per kind, a log of every event with
//! its revision: revisions are counted per kind, one per write that changed
//! something (an unchanged `set`, a rejected value or a panicking callback
//! takes none). On one thread a write loses its install only to a write made
//! from inside its own update closure ([`Change::ReenterSet`],
//! [`Change::ReenterDelete`]); it took no revision yet (a revision is taken
//! only after the install), so it simply runs again: on one thread,
//! revisions are dense.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use zestor::{Error, EventType, SetResult, Store, StoreBuilder, Value};

use super::mirror::MirrorSpec;
use super::panics::{self, Panicked};
use super::watch::WatchSpec;

// ----- vocabulary -----

/// The kinds the harnesses use; `EmptyKind` is the empty name, which every
/// call must reject with `KindRequired`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum KindName {
    A,
    B,
    C,
    EmptyKind,
}

impl KindName {
    pub const ALL: [KindName; 4] = [KindName::A, KindName::B, KindName::C, KindName::EmptyKind];

    pub fn as_str(self) -> &'static str {
        match self {
            KindName::A => "a",
            KindName::B => "b",
            KindName::C => "c",
            KindName::EmptyKind => "",
        }
    }
}

/// The keys the harnesses use: prefixes of each other, so `prefix` and
/// `range` have something to tell apart; `EmptyKey` must be rejected with
/// `KeyRequired`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum KeyName {
    K,
    K1,
    K2,
    Kk,
    X,
    EmptyKey,
}

impl KeyName {
    pub const ALL: [KeyName; 6] = [
        KeyName::K,
        KeyName::K1,
        KeyName::K2,
        KeyName::Kk,
        KeyName::X,
        KeyName::EmptyKey,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            KeyName::K => "k",
            KeyName::K1 => "k1",
            KeyName::K2 => "k2",
            KeyName::Kk => "kk",
            KeyName::X => "x",
            KeyName::EmptyKey => "",
        }
    }
}

/// Strings that bound a range or prefix a scan: keys, and strings between,
/// below and above them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Point {
    Empty,
    K,
    K1,
    K15,
    K2,
    Kk,
    X,
    Z,
}

impl Point {
    pub const ALL: [Point; 8] = [
        Point::Empty,
        Point::K,
        Point::K1,
        Point::K15,
        Point::K2,
        Point::Kk,
        Point::X,
        Point::Z,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Point::Empty => "",
            Point::K => "k",
            Point::K1 => "k1",
            Point::K15 => "k15",
            Point::K2 => "k2",
            Point::Kk => "kk",
            Point::X => "x",
            Point::Z => "z",
        }
    }
}

/// What an `update` closure does with the current value.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Change {
    /// Returns this value.
    To(u8),
    /// Returns the current value plus this (wrapping).
    Add(u8),
    /// Returns an error.
    Fail,
    /// Panics (an injected panic).
    Panic,
    /// On its first call, sets the key to this value through the store,
    /// then returns the current value plus 1: the update then loses its
    /// compare-and-swap to that write (if it changed the key), publishes a
    /// hole, and runs the closure again on the new value.
    ReenterSet(u8),
    /// On its first call, deletes the key through the store, then returns
    /// the current value plus 1: the update then loses its compare-and-swap
    /// and finds the key gone.
    ReenterDelete,
}

/// The error an update closure returns for [`Change::Fail`].
pub const UPDATE_REFUSAL: &str = "update refused";
/// The reason a validator gives for rejecting a value.
pub const REJECT_REASON: &str = "value too large";

/// What a failing transaction closure returns.
pub const TRANSACTION_FAILS: &str = "the transaction gives up";

impl Change {
    /// The update closure's answer for `old`; panics for [`Change::Panic`].
    /// (The nested write of a re-entrant change is [`update_closure`]'s.)
    pub fn apply(self, old: u8) -> Result<u8, &'static str> {
        match self {
            Change::To(value) => Ok(value),
            Change::Add(delta) => Ok(old.wrapping_add(delta)),
            Change::Fail => Err(UPDATE_REFUSAL),
            Change::Panic => panics::inject(),
            Change::ReenterSet(_) | Change::ReenterDelete => Ok(old.wrapping_add(1)),
        }
    }
}

/// What the nested write of a re-entrant update closure returned.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Nested {
    Set(SetResult),
    Delete(Option<Stored>),
}

/// What an update closure was called with, and what its nested write (if
/// any, and if it returned) answered.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct UpdateCalls {
    pub seen: Vec<u8>,
    pub nested: Option<Result<Nested, Failure>>,
}

/// The closure to hand to `update` for `change` on `kind`/`key`, recording
/// its calls. A re-entrant change makes its nested write through `store`.
pub fn update_closure<'a>(
    store: &'a Store<u8>,
    kind: &'a str,
    key: &'a str,
    change: Change,
    calls: &'a mut UpdateCalls,
) -> impl FnMut(&u8) -> Result<u8, &'static str> + 'a {
    move |old: &u8| {
        calls.seen.push(*old);
        if calls.seen.len() == 1 {
            let failure = |error: Error| Failure::of(&error);
            calls.nested = match change {
                Change::ReenterSet(value) => Some(
                    store
                        .set(kind, key, value)
                        .map(Nested::Set)
                        .map_err(failure),
                ),
                Change::ReenterDelete => Some(
                    store
                        .delete(kind, key)
                        .map(|previous| Nested::Delete(previous.map(|v| Stored::of(&v, key))))
                        .map_err(failure),
                ),
                _ => None,
            };
        }
        change.apply(*old)
    }
}

// ----- the store's callbacks, shared by the store and the model -----

/// How the store compares values.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CompareMode {
    /// `PartialEq` (the builder's default).
    Exact,
    /// Values in the same block of 8 are equal: `set` then answers
    /// `Unchanged` and keeps the old value, which a model must notice.
    Coarse,
}

/// A validator's decision.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    Pass,
    Reject,
    Panic,
}

/// A compare function's decision.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Sameness {
    Equal,
    Different,
    Panic,
}

/// The values that make the callbacks panic, while armed.
#[derive(Debug, Default)]
pub struct Faults {
    pub validator_panics_on: u8,
    pub compare_panics_on: u8,
    validator_armed: AtomicBool,
    compare_armed: AtomicBool,
}

impl Faults {
    pub fn new(validator_panics_on: u8, compare_panics_on: u8) -> Self {
        Faults {
            validator_panics_on,
            compare_panics_on,
            ..Faults::default()
        }
    }

    /// Arms or disarms the panics (the store's callbacks read this too).
    pub fn arm(&self, validator: bool, compare: bool) {
        // Relaxed: the harness is single-threaded.
        self.validator_armed.store(validator, Ordering::Relaxed);
        self.compare_armed.store(compare, Ordering::Relaxed);
    }
}

/// The store's configuration: one definition of each callback, which the
/// store runs and the model consults, so they cannot disagree.
#[derive(Debug, Clone)]
pub struct Rules {
    pub compare: CompareMode,
    /// The kinds that have a validator.
    pub validated: &'static [KindName],
    /// Validators reject values at or above this.
    pub reject_from: u8,
    pub faults: Option<Arc<Faults>>,
}

impl Rules {
    pub fn validate(&self, kind: &str, value: u8) -> Verdict {
        if !self.validated.iter().any(|k| k.as_str() == kind) {
            return Verdict::Pass;
        }
        match &self.faults {
            Some(faults)
                if faults.validator_armed.load(Ordering::Relaxed)
                    && value == faults.validator_panics_on =>
            {
                Verdict::Panic
            }
            _ if value >= self.reject_from => Verdict::Reject,
            _ => Verdict::Pass,
        }
    }

    pub fn compare(&self, old: u8, new: u8) -> Sameness {
        if let Some(faults) = &self.faults {
            if faults.compare_armed.load(Ordering::Relaxed) && new == faults.compare_panics_on {
                return Sameness::Panic;
            }
        }
        let equal = match self.compare {
            CompareMode::Exact => old == new,
            CompareMode::Coarse => old / 8 == new / 8,
        };
        if equal {
            Sameness::Equal
        } else {
            Sameness::Different
        }
    }

    /// A store running these callbacks.
    pub fn build_store(&self, ring_capacity: usize, history: Option<usize>) -> Store<u8> {
        let builder = Store::<u8>::builder().ring_capacity(ring_capacity);
        self.configure(match history {
            Some(history) => builder.history(history),
            None => builder,
        })
    }

    /// Builds the store from `builder` (a fresh one, or one that carries a
    /// journal already) with these callbacks.
    pub fn configure(&self, mut builder: StoreBuilder<u8>) -> Store<u8> {
        for kind in self.validated {
            let rules = self.clone();
            builder = builder.validate(kind.as_str(), move |value: &u8| {
                match rules.validate(kind.as_str(), *value) {
                    Verdict::Pass => Ok(()),
                    Verdict::Reject => Err(REJECT_REASON),
                    Verdict::Panic => panics::inject(),
                }
            });
        }
        if self.compare == CompareMode::Exact && self.faults.is_none() {
            // The builder's own default compare (`PartialEq`).
            return builder.build();
        }
        let rules = self.clone();
        builder
            .compare(move |old, new| match rules.compare(*old, *new) {
                Sameness::Equal => true,
                Sameness::Different => false,
                Sameness::Panic => panics::inject(),
            })
            .build()
    }
}

/// The effective ring capacity the store documents: clamped to
/// `1..=MAX_RING_CAPACITY`, rounded up to a power of two.
pub fn effective_ring_capacity(requested: usize) -> usize {
    requested
        .clamp(1, zestor::StoreBuilder::<u8>::MAX_RING_CAPACITY)
        .next_power_of_two()
}

// ----- outcomes -----

/// A store error, reduced to what the model can predict.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Failure {
    Closed,
    KindRequired,
    KeyRequired,
    KeyNotFound,
    Validation {
        kind: String,
        key: String,
        reason: String,
    },
    Update(String),
    Transaction(String),
    InvalidArgument,
    Compacted {
        requested: u64,
    },
    /// A variant the model does not know (`Error` is non-exhaustive).
    Other(String),
}

impl Failure {
    pub fn of(error: &Error) -> Self {
        match error {
            Error::Closed => Failure::Closed,
            Error::KindRequired => Failure::KindRequired,
            Error::KeyRequired => Failure::KeyRequired,
            Error::KeyNotFound => Failure::KeyNotFound,
            Error::Validation { kind, key, source } => Failure::Validation {
                kind: kind.clone(),
                key: key.clone(),
                reason: source.to_string(),
            },
            Error::Update(source) => Failure::Update(source.to_string()),
            Error::Transaction(source) => Failure::Transaction(source.to_string()),
            Error::InvalidArgument(_) => Failure::InvalidArgument,
            Error::Compacted { requested, .. } => Failure::Compacted {
                requested: *requested,
            },
            other => Failure::Other(other.to_string()),
        }
    }
}

/// Why a call produced no result.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Stopped {
    Failed(Failure),
    /// A callback panicked (an injected panic) and the call unwound.
    Panicked,
}

impl From<Failure> for Stopped {
    fn from(failure: Failure) -> Self {
        Stopped::Failed(failure)
    }
}

/// What a call did, in a form the model and the store can both produce.
pub type Outcome<R> = Result<R, Stopped>;

/// The outcome of a store call (run under [`panics::catch`], or wrapped in
/// `Ok` when no panic can happen), its result converted by `convert`.
pub fn outcome<S, R>(
    caught: Result<Result<S, Error>, Panicked>,
    convert: impl FnOnce(S) -> R,
) -> Outcome<R> {
    match caught {
        Ok(Ok(result)) => Ok(convert(result)),
        Ok(Err(error)) => Err(Stopped::Failed(Failure::of(&error))),
        Err(Panicked) => Err(Stopped::Panicked),
    }
}

// ----- state -----

/// A stored value and the revision of the write that stored it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Stored {
    pub value: u8,
    pub revision: u64,
}

impl Stored {
    /// A value handed out by the store, which must belong to `key`.
    pub fn of(value: &Value<u8>, key: &str) -> Self {
        assert_eq!(value.key(), key, "a Value reports the wrong key");
        Stored {
            value: **value,
            revision: value.revision(),
        }
    }
}

/// Converts a store's entry list, checking each value's key.
pub fn entries_of(list: Vec<(Arc<str>, Value<u8>)>) -> Vec<(String, Stored)> {
    list.into_iter()
        .map(|(key, value)| {
            let stored = Stored::of(&value, &key);
            (key.to_string(), stored)
        })
        .collect()
}

/// One event of a kind's history.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Logged {
    pub key: String,
    pub event_type: EventType,
    /// The value written; for a delete, the value the key held before.
    pub value: Stored,
    /// What the key held before the write: `None` for a create; for a
    /// delete the removed value (as `value`).
    pub previous: Option<Stored>,
}

#[derive(Debug, Default, Clone)]
pub struct KindModel {
    pub entries: BTreeMap<String, Stored>,
    /// Every revision from 1, in order: an event, or `None` for a hole.
    /// The events of each revision from 1: one for a single write, several
    /// (in key order) for an atomic batch.
    pub log: Vec<Vec<Logged>>,
}

/// The model of a whole store. (`Clone`: a harness that reopens a store
/// from a crash image rolls the model back to a copy.)
#[derive(Debug, Clone)]
pub struct Model {
    rules: Rules,
    kinds: BTreeMap<String, KindModel>,
    closed: bool,
}

static NO_ENTRIES: BTreeMap<String, Stored> = BTreeMap::new();

impl Model {
    pub fn new(rules: Rules) -> Self {
        Model {
            rules,
            kinds: BTreeMap::new(),
            closed: false,
        }
    }

    pub fn rules(&self) -> &Rules {
        &self.rules
    }

    pub fn is_closed(&self) -> bool {
        self.closed
    }

    pub fn close(&mut self) {
        self.closed = true;
    }

    /// The checks every call makes before anything else, in the store's
    /// order: closed, then the kind name, then the key.
    pub fn gate(&self, kind: &str, key: Option<&str>) -> Result<(), Failure> {
        if self.closed {
            Err(Failure::Closed)
        } else if kind.is_empty() {
            Err(Failure::KindRequired)
        } else if key == Some("") {
            Err(Failure::KeyRequired)
        } else {
            Ok(())
        }
    }

    /// The kind's entries (none for a kind never written).
    pub fn entries(&self, kind: &str) -> &BTreeMap<String, Stored> {
        self.kinds.get(kind).map_or(&NO_ENTRIES, |k| &k.entries)
    }

    /// The kind's latest revision (0 for a kind never written).
    pub fn revision(&self, kind: &str) -> u64 {
        self.kinds
            .get(kind)
            .map_or(0, |k| k.log.len().try_into().expect("fits"))
    }

    /// The events of `revision` (from 1) of `kind`.
    pub fn events(&self, kind: &str, revision: u64) -> &[Logged] {
        let index = usize::try_from(revision - 1).expect("fits");
        &self.kinds[kind].log[index]
    }

    /// What `key` held once revision `revision` of `kind` was applied: a
    /// mirror stamps each event with such a revision, old or not.
    pub fn value_at(&self, kind: &str, key: &str, revision: u64) -> Option<Stored> {
        let log = self.kinds.get(kind).map_or(&[][..], |k| &k.log[..]);
        let upto = usize::try_from(revision).expect("fits").min(log.len());
        log[..upto]
            .iter()
            .rev()
            .flat_map(|events| events.iter().rev())
            .find(|event| event.key == key)
            .and_then(|event| match event.event_type {
                EventType::Delete => None,
                EventType::Create | EventType::Update => Some(event.value),
            })
    }

    fn validate(&self, kind: &str, key: &str, value: u8) -> Outcome<()> {
        match self.rules.validate(kind, value) {
            Verdict::Pass => Ok(()),
            Verdict::Reject => Err(Failure::Validation {
                kind: kind.to_owned(),
                key: key.to_owned(),
                reason: REJECT_REASON.to_owned(),
            }
            .into()),
            Verdict::Panic => Err(Stopped::Panicked),
        }
    }

    /// Records a write: the next revision of the kind, and its event.
    fn write(&mut self, kind: &str, key: &str, value: Option<u8>) {
        let model = self.kinds.entry(kind.to_owned()).or_default();
        let revision = u64::try_from(model.log.len()).expect("fits") + 1;
        let logged = Self::apply(model, revision, key, value);
        model.log.push(vec![logged]);
    }

    /// Records an atomic batch: every change (`None`: a delete) at one
    /// revision, in key order. No change: no revision.
    fn write_batch(&mut self, kind: &str, changes: &[(&str, Option<u8>)]) {
        if changes.is_empty() {
            return;
        }
        let model = self.kinds.entry(kind.to_owned()).or_default();
        let revision = u64::try_from(model.log.len()).expect("fits") + 1;
        let logged = changes
            .iter()
            .map(|&(key, value)| Self::apply(model, revision, key, value))
            .collect();
        model.log.push(logged);
    }

    /// Applies one change to a kind's entries; its event.
    fn apply(model: &mut KindModel, revision: u64, key: &str, value: Option<u8>) -> Logged {
        let (event_type, value, previous) = match value {
            Some(value) => {
                let stored = Stored { value, revision };
                match model.entries.insert(key.to_owned(), stored) {
                    Some(old) => (EventType::Update, stored, Some(old)),
                    None => (EventType::Create, stored, None),
                }
            }
            None => {
                let removed = model
                    .entries
                    .remove(key)
                    .expect("only live keys are deleted");
                (EventType::Delete, removed, Some(removed))
            }
        };
        Logged {
            key: key.to_owned(),
            event_type,
            value,
            previous,
        }
    }

    // ----- writes -----

    pub fn set(&mut self, kind: &str, key: &str, value: u8) -> Outcome<SetResult> {
        self.gate(kind, Some(key))?;
        self.validate(kind, key, value)?;
        self.store_value(kind, key, value)
    }

    /// A validated `set`: the compare function decides, then the write.
    fn store_value(&mut self, kind: &str, key: &str, value: u8) -> Outcome<SetResult> {
        let result = match self.entries(kind).get(key) {
            None => SetResult::Created,
            Some(old) => match self.rules.compare(old.value, value) {
                Sameness::Equal => return Ok(SetResult::Unchanged),
                Sameness::Different => SetResult::Updated,
                Sameness::Panic => return Err(Stopped::Panicked),
            },
        };
        self.write(kind, key, Some(value));
        Ok(result)
    }

    /// `set_many`: every item is checked (key, then validator) in the order
    /// given, and only then applied, in key order (a stable sort: of two
    /// items with one key the later wins), atomically: the changed keys take
    /// one revision together, the unchanged are skipped, and a batch that
    /// changes nothing takes none. A compare panic stops it with nothing
    /// written.
    pub fn set_many(&mut self, kind: &str, items: &[(&str, u8)]) -> Outcome<()> {
        self.gate(kind, None)?;
        for &(key, value) in items {
            if key.is_empty() {
                return Err(Failure::KeyRequired.into());
            }
            self.validate(kind, key, value)?;
        }
        let mut sorted = items.to_vec();
        sorted.sort_by_key(|&(key, _)| key);
        let mut last: BTreeMap<&str, u8> = BTreeMap::new();
        for (key, value) in sorted {
            last.insert(key, value);
        }
        let writes: Vec<(&str, Option<u8>)> = last
            .into_iter()
            .map(|(key, value)| (key, Some(value)))
            .collect();
        let changes = self.changes(kind, &writes)?;
        self.write_batch(kind, &changes);
        Ok(())
    }

    /// The writes of a batch that change something, in key order: the
    /// compare function skips the unchanged, a delete of an absent key does
    /// nothing.
    fn changes<'k>(
        &self,
        kind: &str,
        writes: &[(&'k str, Option<u8>)],
    ) -> Outcome<Vec<(&'k str, Option<u8>)>> {
        let mut changes = Vec::new();
        for &(key, value) in writes {
            match (self.entries(kind).get(key), value) {
                (None, Some(_)) => changes.push((key, value)),
                (Some(old), Some(new)) => match self.rules.compare(old.value, new) {
                    Sameness::Equal => {}
                    Sameness::Different => changes.push((key, value)),
                    Sameness::Panic => return Err(Stopped::Panicked),
                },
                (Some(_), None) => changes.push((key, None)),
                (None, None) => {}
            }
        }
        Ok(changes)
    }

    /// A transaction whose closure reads `reads` (in order), then makes
    /// `writes` (the later of two writes to one key wins), then fails if
    /// `fail`. What each read returned (as far as the closure ran), and the
    /// outcome.
    pub fn transaction(
        &mut self,
        kind: &str,
        reads: &[&str],
        writes: &[(&str, Option<u8>)],
        fail: bool,
    ) -> (Outcome<()>, Vec<Option<u8>>) {
        if let Err(failure) = self.gate(kind, None) {
            return (Err(failure.into()), Vec::new());
        }
        let seen: Vec<Option<u8>> = reads
            .iter()
            .map(|key| self.entries(kind).get(*key).map(|stored| stored.value))
            .collect();
        if fail {
            return (
                Err(Failure::Transaction(TRANSACTION_FAILS.to_owned()).into()),
                seen,
            );
        }
        if reads
            .iter()
            .chain(writes.iter().map(|(key, _)| key))
            .any(|key| key.is_empty())
        {
            return (Err(Failure::KeyRequired.into()), seen);
        }
        let mut last: BTreeMap<&str, Option<u8>> = BTreeMap::new();
        for &(key, value) in writes {
            last.insert(key, value);
        }
        for (&key, value) in &last {
            if let Some(value) = value {
                if let Err(stopped) = self.validate(kind, key, *value) {
                    return (Err(stopped), seen);
                }
            }
        }
        let writes: Vec<(&str, Option<u8>)> = last.into_iter().collect();
        match self.changes(kind, &writes) {
            Ok(changes) => {
                self.write_batch(kind, &changes);
                (Ok(()), seen)
            }
            Err(stopped) => (Err(stopped), seen),
        }
    }

    /// `snapshot`: the kind's revision and entries now.
    pub fn snapshot(&self, kind: &str) -> Outcome<(u64, BTreeMap<String, Stored>)> {
        self.gate(kind, None)?;
        Ok((self.revision(kind), self.entries(kind).clone()))
    }

    /// `update`, and the calls its closure must see.
    pub fn update(
        &mut self,
        kind: &str,
        key: &str,
        change: Change,
    ) -> (Outcome<bool>, UpdateCalls) {
        let mut calls = UpdateCalls::default();
        let outcome = match self.gate(kind, Some(key)) {
            Ok(()) => self.update_existing(kind, key, change, &mut calls),
            Err(failure) => Err(failure.into()),
        };
        (outcome, calls)
    }

    /// P1 for `update`: load, run the closure, validate, compare, then
    /// install — which fails only if the closure itself wrote the key, and
    /// then costs a new round (no revision: it is taken after the install).
    fn update_existing(
        &mut self,
        kind: &str,
        key: &str,
        change: Change,
        calls: &mut UpdateCalls,
    ) -> Outcome<bool> {
        loop {
            let Some(loaded) = self.entries(kind).get(key).copied() else {
                return Err(Failure::KeyNotFound.into());
            };
            calls.seen.push(loaded.value);
            if calls.seen.len() == 1 {
                let nested = match change {
                    Change::ReenterSet(value) => Some(self.set(kind, key, value).map(Nested::Set)),
                    Change::ReenterDelete => Some(self.delete(kind, key).map(Nested::Delete)),
                    _ => None,
                };
                calls.nested = match nested {
                    // A panic in the nested write unwinds through the closure.
                    Some(Err(Stopped::Panicked)) => return Err(Stopped::Panicked),
                    Some(Err(Stopped::Failed(failure))) => Some(Err(failure)),
                    Some(Ok(nested)) => Some(Ok(nested)),
                    None => None,
                };
            }
            if change == Change::Panic {
                return Err(Stopped::Panicked);
            }
            let new = change
                .apply(loaded.value)
                .map_err(|reason| Failure::Update(reason.to_owned()))?;
            self.validate(kind, key, new)?;
            match self.rules.compare(loaded.value, new) {
                Sameness::Equal => return Ok(false),
                Sameness::Panic => return Err(Stopped::Panicked),
                Sameness::Different => {}
            }
            if self.entries(kind).get(key) == Some(&loaded) {
                self.write(kind, key, Some(new));
                return Ok(true);
            }
        }
    }

    pub fn delete(&mut self, kind: &str, key: &str) -> Outcome<Option<Stored>> {
        self.gate(kind, Some(key))?;
        let previous = self.entries(kind).get(key).copied();
        if previous.is_some() {
            self.write(kind, key, None);
        }
        Ok(previous)
    }

    /// `watch`: the gate, then the buffer size against the ring capacity.
    pub fn watch(&self, kind: &str, spec: &WatchSpec, ring_capacity: usize) -> Outcome<()> {
        self.gate(kind, None)?;
        if spec.buffer_size == 0 || spec.buffer_size > ring_capacity {
            return Err(Failure::InvalidArgument.into());
        }
        let Some(start) = spec.start(self.revision(kind)) else {
            return Ok(());
        };
        if spec.replay {
            return Err(Failure::InvalidArgument.into());
        }
        // The ring keeps the last `ring_capacity` revisions: one slot per
        // revision modulo the capacity, holding the newest published there.
        let requested = start.max(1);
        if requested + ring_capacity as u64 <= self.revision(kind) {
            return Err(Failure::Compacted { requested }.into());
        }
        Ok(())
    }

    /// Whether a watch the model lets start (`watch` above) may still be
    /// `Compacted` because its start is history an unwatched kind released:
    /// each write at revision `r` that found no subscriber may have
    /// released every revision up to `r − history` (`ring.rs`, "History").
    pub fn may_be_released(&self, kind: &str, spec: &WatchSpec, history: usize) -> bool {
        let revision = self.revision(kind);
        match spec.start(revision) {
            Some(start) if !spec.replay => start.max(1) + history as u64 <= revision,
            _ => false,
        }
    }

    /// `mirror` / `mirror_with`: a watch's checks, and neither replay nor
    /// a start revision (a mirror always starts from a snapshot).
    pub fn mirror(&self, kind: &str, spec: &MirrorSpec, ring_capacity: usize) -> Outcome<()> {
        self.gate(kind, None)?;
        let Some(spec) = &spec.options else {
            // `mirror()`: a buffer of the whole ring, which always fits.
            return Ok(());
        };
        if spec.buffer_size == 0 || spec.buffer_size > ring_capacity {
            return Err(Failure::InvalidArgument.into());
        }
        if spec.replay || spec.start_back.is_some() {
            return Err(Failure::InvalidArgument.into());
        }
        Ok(())
    }

    // ----- reads -----

    /// What a read of one key sees.
    pub fn read_key(&self, kind: &str, key: &str) -> Outcome<Option<Stored>> {
        self.gate(kind, Some(key))?;
        Ok(self.entries(kind).get(key).copied())
    }

    /// What a read of a whole kind sees.
    pub fn read_kind(&self, kind: &str) -> Outcome<&BTreeMap<String, Stored>> {
        self.gate(kind, None)?;
        Ok(self.entries(kind))
    }

    /// The kinds holding at least one entry, in order.
    pub fn kinds(&self) -> Outcome<Vec<String>> {
        Ok(self.get_all()?.into_keys().collect())
    }

    pub fn get_all(&self) -> Outcome<BTreeMap<String, Vec<(String, Stored)>>> {
        if self.closed {
            return Err(Failure::Closed.into());
        }
        Ok(self
            .kinds
            .iter()
            .filter(|(_, kind)| !kind.entries.is_empty())
            .map(|(name, kind)| {
                let entries = kind.entries.iter().map(|(k, v)| (k.clone(), *v)).collect();
                (name.clone(), entries)
            })
            .collect())
    }

    /// `dump`'s text, in the store's format.
    pub fn dump(&self) -> Outcome<String> {
        let mut out = String::new();
        for (kind, entries) in self.get_all()? {
            let noun = if entries.len() == 1 {
                "entry"
            } else {
                "entries"
            };
            writeln!(out, "kind {kind:?} ({} {noun})", entries.len()).expect("infallible");
            for (key, stored) in entries {
                writeln!(out, "  {key:?} => {:?}", stored.value).expect("infallible");
            }
        }
        Ok(out)
    }
}
