//! A watch checked delivery by delivery against the model.
//!
//! On one thread the model can say exactly what a watch delivers next: the
//! replay (the kind's entries under the prefix when `watch` returned, as
//! creates in key order), then the kind's log from the revision after the
//! one current at subscription, minus holes, filtered event types and keys
//! outside the prefix — or `Overflow` as soon as the watcher is more than
//! its buffer behind the kind's head (revisions of the kind, filtered,
//! holes or not, under the prefix or not; the ring is at least as large as
//! the buffer, so a lap is always caught by that rule first), or `Closed`
//! after close or after the overflow. The store must deliver exactly that,
//! `Event::previous` included (the model knows what each write replaced),
//! which also means live revisions strictly increasing, and consecutive but
//! for holes and filtered events. An overflow the rule calls for is the
//! contract at work; anything else that differs is a bug: a silent gap, a
//! missing or spurious overflow, a lost event, a wrong previous value.
//!
//! Every watch also keeps the replica a consumer would build from its events.
//! Whenever a watch without a type filter has nothing left to deliver, its
//! replica must equal the kind (under its prefix) in the model: the
//! contract's "a consumer applying events in order converges". After an
//! overflow the replica is abandoned.

use std::collections::{BTreeMap, VecDeque};
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll, Wake, Waker};
use std::time::Duration;

use futures_core::{FusedStream, Stream};
use zestor::{Event, EventType, Watch, WatchError, WatchOptions, WatchStream};

use super::model::{Model, Point, Stored};

/// How long a receive waits for an event the model says is ready: far
/// longer than any delivery takes, short enough to report a hang.
pub const PATIENCE: Duration = Duration::from_secs(10);

/// An event-type filter as a bit set: create 1, update 2, delete 4. No bit
/// set means the empty slice, which the store reads as every type.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct EventMask(pub u8);

impl EventMask {
    pub const ALL: EventMask = EventMask(0);

    fn bit(event_type: EventType) -> u8 {
        match event_type {
            EventType::Create => 1,
            EventType::Update => 2,
            EventType::Delete => 4,
        }
    }

    /// The slice to hand to `WatchOptions::event_types`.
    pub fn types(self) -> Vec<EventType> {
        [EventType::Create, EventType::Update, EventType::Delete]
            .into_iter()
            .filter(|t| self.0 & Self::bit(*t) != 0)
            .collect()
    }

    pub fn admits(self, event_type: EventType) -> bool {
        self.is_all() || self.0 & Self::bit(event_type) != 0
    }

    pub fn is_all(self) -> bool {
        matches!(self.0 & 7, 0 | 7)
    }
}

/// The options of a watch.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct WatchSpec {
    pub replay: bool,
    pub types: EventMask,
    pub buffer_size: usize,
    /// `start_revision`: how many revisions back from the kind's next one
    /// (0: the next revision; more than there are: revision 0).
    pub start_back: Option<u8>,
    /// `prefix`, if called at all (`Point::Empty` must act as no prefix).
    pub prefix: Option<Point>,
}

impl WatchSpec {
    /// The options, with `start_back` resolved against the kind's revision.
    pub fn options(&self, revision: u64) -> WatchOptions {
        let mut options = WatchOptions::new()
            .replay(self.replay)
            .event_types(&self.types.types())
            .buffer_size(self.buffer_size);
        if let Some(prefix) = self.prefix {
            options = options.prefix(prefix.as_str());
        }
        match self.start(revision) {
            Some(start) => options.start_revision(start),
            None => options,
        }
    }

    /// The prefix every delivered key must start with ("" for any key).
    pub fn prefix_str(&self) -> &'static str {
        self.prefix.map_or("", Point::as_str)
    }

    /// The start revision asked for, if any, for a kind at `revision`.
    pub fn start(&self, revision: u64) -> Option<u64> {
        self.start_back
            .map(|back| (revision + 1).saturating_sub(u64::from(back)))
    }
}

/// How a consumer asks for the next event.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RecvMode {
    TryRecv,
    /// `recv_timeout`: zero when the model expects nothing (so the
    /// register-then-recheck path runs), [`PATIENCE`] otherwise.
    RecvTimeout,
    /// One `poll_next` of `into_stream` with a waker that does nothing,
    /// then `into_inner`.
    Stream,
}

/// An event, reduced to what the model predicts.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Seen {
    pub key: String,
    pub event_type: EventType,
    /// The event's value and that value's own revision (for a delete: the
    /// deleted value and the revision that had stored it).
    pub value: Stored,
    pub revision: u64,
    /// `Event::previous`, as the value and its revision.
    pub previous: Option<Stored>,
}

/// One answer of a watch.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Delivery {
    Event(Seen),
    /// Nothing yet.
    Pending,
    Overflow,
    Closed,
}

/// What a run went through, so a test can tell that its scenario happened.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Tally {
    /// Events delivered (replayed or live), by watches and by mirrors.
    pub events: usize,
    /// Watches ended by an overflow.
    pub overflows: usize,
    /// Watches and mirrors ended by close.
    pub closes: usize,
    /// Calls that unwound from an injected panic.
    pub panics: usize,
    /// Times a mirror fell behind and re-synced from a snapshot.
    pub resyncs: usize,
}

impl Tally {
    pub fn add(&mut self, other: Tally) {
        self.events += other.events;
        self.overflows += other.overflows;
        self.closes += other.closes;
        self.panics += other.panics;
        self.resyncs += other.resyncs;
    }
}

/// What the model says one watch delivers next.
#[derive(Debug)]
struct Expected {
    kind: String,
    spec: WatchSpec,
    /// Replayed creates still to come (the type filter applies when they
    /// are due; the prefix, at subscription).
    replay: VecDeque<(String, Stored)>,
    /// The kind's revision when `watch` returned: a resumed watch may read
    /// updates up to it without their replaced value (it may be freed).
    subscribed: u64,
    /// The next live revision, and the next event within it.
    next: u64,
    within: usize,
    /// Overflow or `Closed` was delivered: only `Closed` follows.
    ended: bool,
}

impl Expected {
    fn new(model: &Model, kind: &str, spec: WatchSpec) -> Self {
        let start = spec.start(model.revision(kind)).map(|start| start.max(1));
        let replay = if spec.replay {
            values_under(model, kind, spec.prefix_str())
                .into_iter()
                .collect()
        } else {
            VecDeque::new()
        };
        Expected {
            kind: kind.to_owned(),
            spec,
            replay,
            subscribed: model.revision(kind),
            next: start.unwrap_or(model.revision(kind) + 1),
            within: 0,
            ended: false,
        }
    }

    fn end(&mut self) {
        self.ended = true;
        self.replay.clear();
    }

    /// The documented exception to `Event::previous`: an update a resumed
    /// watch reads from before it subscribed may come without the value it
    /// replaced, if that value was freed by then. Whether it was depends on
    /// who else held it (snapshots, mirrors, other watches), which the model
    /// does not track, so either answer passes there.
    fn excuse_freed_previous(&self, expected: Delivery, actual: &Delivery) -> Delivery {
        match (expected, actual) {
            (Delivery::Event(mut seen), Delivery::Event(got))
                if self.spec.start_back.is_some()
                    && seen.event_type == EventType::Update
                    && seen.revision <= self.subscribed
                    && got.previous.is_none() =>
            {
                seen.previous = None;
                Delivery::Event(seen)
            }
            (expected, _) => expected,
        }
    }

    fn next(&mut self, model: &Model) -> Delivery {
        if self.ended {
            return Delivery::Closed;
        }
        if model.is_closed() {
            // Close ends the watch at its next step; nothing pending is
            // delivered, not even the replay.
            self.end();
            return Delivery::Closed;
        }
        while let Some((key, value)) = self.replay.pop_front() {
            if self.spec.types.admits(EventType::Create) {
                return Delivery::Event(Seen {
                    key,
                    event_type: EventType::Create,
                    value,
                    revision: value.revision,
                    previous: None,
                });
            }
        }
        // The rest of a revision already read (a batch): the store's cursor
        // holds it and delivers it before it looks at the ring again, buffer
        // rule or not.
        if self.within > 0 {
            if let Some(seen) = self.next_of_revision(model) {
                return Delivery::Event(seen);
            }
            self.next += 1;
            self.within = 0;
        }
        let head = model.revision(&self.kind) + 1;
        if head - self.next > self.spec.buffer_size as u64 {
            self.end();
            return Delivery::Overflow;
        }
        while self.next < head {
            // Reading a revision: its first admitted event, if any.
            if let Some(seen) = self.next_of_revision(model) {
                return Delivery::Event(seen);
            }
            self.next += 1;
            self.within = 0;
        }
        Delivery::Pending
    }

    /// The next admitted event of revision `next`, from index `within` on.
    fn next_of_revision(&mut self, model: &Model) -> Option<Seen> {
        let events = model.events(&self.kind, self.next);
        while let Some(event) = events.get(self.within) {
            self.within += 1;
            if self.spec.types.admits(event.event_type)
                && event.key.starts_with(self.spec.prefix_str())
            {
                return Some(Seen {
                    key: event.key.clone(),
                    event_type: event.event_type,
                    value: event.value,
                    revision: self.next,
                    previous: event.previous,
                });
            }
        }
        None
    }
}

/// A watch with its expected stream and its consumer's replica.
#[derive(Debug)]
pub struct CheckedWatch {
    id: usize,
    /// Out only while a `Stream` receive holds it as a stream.
    watch: Option<Watch<u8>>,
    expected: Expected,
    replica: BTreeMap<String, u8>,
    tally: Tally,
}

impl CheckedWatch {
    /// Wraps a watch that `watch(kind, spec.options(..))` just returned.
    pub fn new(id: usize, kind: &str, spec: WatchSpec, watch: Watch<u8>, model: &Model) -> Self {
        assert_eq!(watch.kind(), kind, "watch #{id}: Watch::kind");
        assert!(!watch.is_ended(), "watch #{id}: ended at birth");
        let expected = Expected::new(model, kind, spec);
        assert_eq!(
            watch.replay_remaining(),
            expected.replay.len(),
            "watch #{id}: replay_remaining at subscription"
        );
        // A replay watch builds its replica from the replay; any other starts
        // from the state at subscription, as a consumer that listed first.
        let replica = if spec.replay {
            BTreeMap::new()
        } else {
            values(model, kind, spec.prefix_str())
        };
        CheckedWatch {
            id,
            watch: Some(watch),
            expected,
            replica,
            tally: Tally::default(),
        }
    }

    pub fn kind(&self) -> &str {
        &self.expected.kind
    }

    fn watch(&self) -> &Watch<u8> {
        self.watch.as_ref().expect("not in a stream")
    }

    /// True once the watch delivered its overflow or its close.
    pub fn is_ended(&self) -> bool {
        self.expected.ended
    }

    /// What this watch delivered so far.
    pub fn tally(&self) -> Tally {
        self.tally
    }

    /// Receives one delivery and checks it against the model.
    pub fn step(&mut self, model: &Model, mode: RecvMode) -> Delivery {
        let was_ended = self.expected.ended;
        let expected = self.expected.next(model);
        let actual = self.receive(mode, &expected);
        let expected = self.expected.excuse_freed_previous(expected, &actual);
        let id = self.id;
        if actual != expected {
            panic!(
                "watch #{id} on kind {:?} with {:?}, by {mode:?}: {}\n  expected {expected:?}\n  received {actual:?}",
                self.expected.kind,
                self.expected.spec,
                diagnose(&expected, &actual),
            );
        }
        match &actual {
            Delivery::Event(seen) => {
                self.tally.events += 1;
                self.apply(seen);
            }
            Delivery::Pending if self.expected.spec.types.is_all() => {
                let store = values(model, &self.expected.kind, self.expected.spec.prefix_str());
                assert_eq!(
                    self.replica, store,
                    "watch #{id}: caught up, but its replica differs from the kind (silent gap)"
                );
            }
            Delivery::Pending => {}
            Delivery::Overflow => {
                self.tally.overflows += 1;
                self.replica.clear();
            }
            Delivery::Closed if !was_ended => self.tally.closes += 1,
            Delivery::Closed => {}
        }
        assert_eq!(
            self.watch().replay_remaining(),
            self.expected.replay.len(),
            "watch #{id}: replay_remaining"
        );
        assert_eq!(
            self.watch().is_ended(),
            self.expected.ended,
            "watch #{id}: is_ended after {actual:?}"
        );
        actual
    }

    /// Receives until nothing is pending; an ending (overflow or close) is
    /// followed by one more receive, which must say `Closed`.
    pub fn drain(&mut self, model: &Model, mode: RecvMode) {
        loop {
            match self.step(model, mode) {
                Delivery::Event(_) => {}
                Delivery::Pending => return,
                Delivery::Overflow | Delivery::Closed => {
                    self.step(model, mode);
                    return;
                }
            }
        }
    }

    fn receive(&mut self, mode: RecvMode, expected: &Delivery) -> Delivery {
        let watch = self.watch.as_mut().expect("not in a stream");
        let received = match mode {
            RecvMode::TryRecv => watch.try_recv(),
            RecvMode::RecvTimeout => {
                let timeout = if *expected == Delivery::Pending {
                    Duration::ZERO
                } else {
                    PATIENCE
                };
                watch.recv_timeout(timeout)
            }
            RecvMode::Stream => {
                let mut stream = self.watch.take().expect("not in a stream").into_stream();
                let polled = poll_once(&mut stream);
                assert_eq!(
                    stream.is_terminated(),
                    stream.get_ref().is_ended(),
                    "watch #{}: WatchStream::is_terminated",
                    self.id
                );
                self.watch = Some(stream.into_inner());
                polled
            }
        };
        match received {
            Ok(Some(event)) => Delivery::Event(self.seen(&event)),
            Ok(None) => Delivery::Pending,
            Err(WatchError::Overflow) => Delivery::Overflow,
            Err(WatchError::Closed) => Delivery::Closed,
        }
    }

    fn seen(&self, event: &Event<u8>) -> Seen {
        assert_eq!(
            &*event.kind, self.expected.kind,
            "watch #{}: event of another kind",
            self.id
        );
        let prefix = self.expected.spec.prefix_str();
        assert!(
            event.key.starts_with(prefix),
            "watch #{}: key {:?} outside its prefix {prefix:?}",
            self.id,
            event.key
        );
        Seen {
            key: event.key.to_string(),
            event_type: event.event_type,
            value: Stored::of(&event.value, &event.key),
            revision: event.revision,
            previous: event.previous.as_ref().map(|v| Stored::of(v, &event.key)),
        }
    }

    fn apply(&mut self, seen: &Seen) {
        match seen.event_type {
            EventType::Create | EventType::Update => {
                self.replica.insert(seen.key.clone(), seen.value.value);
            }
            EventType::Delete => {
                self.replica.remove(&seen.key);
            }
        }
    }
}

/// Names the kind of mismatch, for the failure message.
fn diagnose(expected: &Delivery, actual: &Delivery) -> &'static str {
    use Delivery::*;
    match (expected, actual) {
        (Event(e), Event(a)) if a.revision > e.revision => "silent gap: an event was skipped",
        (Event(e), Event(a))
            if e.previous != a.previous && e.key == a.key && e.value == a.value =>
        {
            "Event::previous is not the value the write replaced"
        }
        (Event(_), Event(_)) => "the event differs from the model's",
        (Event(_) | Pending, Overflow) => "spurious overflow",
        (Overflow, Event(_) | Pending) => {
            "missing overflow: the watcher is more than its buffer behind"
        }
        (Event(_), Pending) => "an event is missing (lost, or never woken)",
        (Pending, Event(_)) => "an event the model does not know",
        (Closed, _) => "the watch did not end (after close, or after its overflow)",
        (_, Closed) => "the watch ended early",
        _ => "the delivery differs from the model's",
    }
}

/// The kind's values under `prefix` in the model, as a replica holds them.
fn values(model: &Model, kind: &str, prefix: &str) -> BTreeMap<String, u8> {
    values_under(model, kind, prefix)
        .into_iter()
        .map(|(key, stored)| (key, stored.value))
        .collect()
}

/// The kind's entries under `prefix` in the model, in key order.
pub fn values_under(model: &Model, kind: &str, prefix: &str) -> BTreeMap<String, Stored> {
    model
        .entries(kind)
        .iter()
        .filter(|(key, _)| key.starts_with(prefix))
        .map(|(key, stored)| (key.clone(), *stored))
        .collect()
}

/// A waker that does nothing: the harness polls again by itself.
struct NoopWaker;

impl Wake for NoopWaker {
    fn wake(self: Arc<Self>) {}
}

/// One `poll_next`, in `try_recv`'s terms (the stream ends instead of
/// saying `Closed`).
fn poll_once(stream: &mut WatchStream<u8>) -> Result<Option<Event<u8>>, WatchError> {
    let waker = Waker::from(Arc::new(NoopWaker));
    let mut context = Context::from_waker(&waker);
    match Pin::new(stream).poll_next(&mut context) {
        Poll::Ready(Some(item)) => item.map(Some),
        Poll::Ready(None) => Err(WatchError::Closed),
        Poll::Pending => Ok(None),
    }
}
