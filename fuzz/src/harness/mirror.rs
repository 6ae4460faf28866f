//! A mirror checked against the model, event by event.
//!
//! A watch's stream is the model's to predict exactly; a mirror's is not:
//! when it coalesces a backlog and when it resyncs from a snapshot depend on
//! its buffer and on how often its consumer asks, and predicting that would
//! mean re-implementing it. So the harness checks what the contract fixes,
//! whatever path the mirror took:
//! - every event is of the kind, under the prefix, admitted by the type
//!   filter, and true of the kind: at the event's revision the key held the
//!   event's value (a delete: held nothing);
//! - `previous` fits the event type (`None` for a create, the replaced value
//!   for an update, the removed value for a delete); without a type filter
//!   it is exactly what the consumer was last shown for the key, the event
//!   type is the one that takes the consumer from that to the new value,
//!   and after each event the events yielded so far, applied in order to an
//!   empty map, are `list()`;
//! - once a receive finds nothing (`pending() == 0`), `list()` is the kind
//!   under the prefix now, and `revision()` is the kind's revision;
//! - it never reports an overflow; it says `Closed` on every receive once
//!   the store is closed, and nothing before;
//! - `len`, `get`, `is_empty` agree with `list`; `revision` and `resyncs`
//!   never go back.

use std::collections::BTreeMap;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll, Wake, Waker};
use std::time::Duration;

use futures_core::{FusedStream, Stream};
use zestor::{Event, EventType, Mirror, MirrorStream, WatchError, WatchOptions};

use super::model::{entries_of, KeyName, Model, Stored};
use super::watch::{values_under, Delivery, EventMask, Seen, Tally, WatchSpec, PATIENCE};

/// More events than any drain of a run can hold (a run writes at most a few
/// hundred revisions): past this, the mirror is yielding forever.
const DRAIN_LIMIT: usize = 10_000;

/// How a mirror is made.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MirrorSpec {
    /// `None`: `mirror()`, with the default options; otherwise `mirror_with`
    /// these (replay and a start revision are there to be rejected).
    pub options: Option<WatchSpec>,
}

impl MirrorSpec {
    pub fn types(&self) -> EventMask {
        self.options.map_or(EventMask::ALL, |spec| spec.types)
    }

    pub fn prefix_str(&self) -> &'static str {
        self.options.map_or("", |spec| spec.prefix_str())
    }

    /// The options for `mirror_with`, or `None` for `mirror()`.
    pub fn watch_options(&self, revision: u64) -> Option<WatchOptions> {
        self.options.map(|spec| spec.options(revision))
    }
}

/// How a consumer asks a mirror for its next event.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MirrorRecv {
    TryRecv,
    /// `recv_timeout`: [`PATIENCE`] when an event (or `Closed`) is certain,
    /// else zero.
    RecvTimeout,
    /// One `poll_next` of `into_stream`, then `into_inner`.
    Stream,
    /// The blocking `recv`, when an event (or `Closed`) is certain (else
    /// `try_recv`, as `recv` would wait for a write that never comes).
    Recv,
}

/// A mirror with the events it yielded, checked against the model.
#[derive(Debug)]
pub struct CheckedMirror {
    id: usize,
    kind: String,
    spec: MirrorSpec,
    /// Out only while a `Stream` receive holds it as a stream.
    mirror: Option<Mirror<u8>>,
    /// The yielded events applied in order to an empty map. With a type
    /// filter it misses the hidden changes and is not compared.
    shown: BTreeMap<String, Stored>,
    /// `revision()` and `resyncs()` as last read: neither may go back.
    revision: u64,
    resyncs: u64,
    /// The mirror said `Closed`.
    closed: bool,
    tally: Tally,
}

impl CheckedMirror {
    /// Wraps a mirror that `mirror` / `mirror_with` just returned.
    pub fn new(id: usize, kind: &str, spec: MirrorSpec, mirror: Mirror<u8>, model: &Model) -> Self {
        assert_eq!(mirror.kind(), kind, "mirror #{id}: Mirror::kind");
        assert_eq!(mirror.resyncs(), 0, "mirror #{id}: resyncs at creation");
        let mut checked = CheckedMirror {
            id,
            kind: kind.to_owned(),
            spec,
            mirror: Some(mirror),
            shown: BTreeMap::new(),
            revision: 0,
            resyncs: 0,
            closed: false,
            tally: Tally::default(),
        };
        // Nothing is shown before the first receive: the entries come as
        // creates.
        assert!(
            checked.mirror().is_empty(),
            "mirror #{id}: shows entries before any event"
        );
        checked.check_readable(model);
        checked
    }

    pub fn kind(&self) -> &str {
        &self.kind
    }

    /// What this mirror went through.
    pub fn tally(&self) -> Tally {
        let mut tally = self.tally;
        tally.resyncs = usize::try_from(self.resyncs).expect("fits");
        tally
    }

    fn mirror(&self) -> &Mirror<u8> {
        self.mirror
            .as_ref()
            .expect("the mirror is back from its stream")
    }

    fn unfiltered(&self) -> bool {
        self.spec.types().is_all()
    }

    /// Without a type filter, the consumer is behind exactly when what it
    /// was shown differs from the kind: then some receive must yield.
    fn certain(&self, model: &Model) -> bool {
        !model.is_closed()
            && self.unfiltered()
            && self.shown != values_under(model, &self.kind, self.spec.prefix_str())
    }

    /// Receives once and checks the answer against the model.
    pub fn step(&mut self, model: &Model, mode: MirrorRecv) -> Delivery {
        let id = self.id;
        let certain = self.certain(model);
        let before = self.list();
        // After close a blocking receive must return at once, with Closed:
        // one that waits instead shows as a wrong answer or a hang.
        let received = self.receive(mode, certain || model.is_closed());
        let delivery = match received {
            Ok(Some(event)) => {
                assert!(
                    !model.is_closed(),
                    "mirror #{id} by {mode:?}: an event after close: {event:?}"
                );
                let seen = self.check_event(&event, model, mode);
                self.tally.events += 1;
                Delivery::Event(seen)
            }
            Ok(None) => {
                assert!(
                    !model.is_closed(),
                    "mirror #{id} by {mode:?}: nothing instead of Closed after close"
                );
                assert!(
                    !certain,
                    "mirror #{id} by {mode:?}: nothing, but the consumer was shown {:?} \
                     and the kind holds {:?} (a change is lost, or never woken)",
                    self.shown,
                    values_under(model, &self.kind, self.spec.prefix_str()),
                );
                self.check_caught_up(model, mode);
                Delivery::Pending
            }
            Err(WatchError::Closed) => {
                assert!(
                    model.is_closed(),
                    "mirror #{id} by {mode:?}: Closed on an open store"
                );
                assert_eq!(
                    self.list(),
                    before,
                    "mirror #{id} by {mode:?}: the view changed on the way to Closed"
                );
                if !self.closed {
                    self.tally.closes += 1;
                }
                self.closed = true;
                Delivery::Closed
            }
            Err(error) => {
                panic!("mirror #{id} by {mode:?}: {error:?}, but a mirror's only error is Closed")
            }
        };
        self.check_readable(model);
        delivery
    }

    /// Receives until nothing is ready (or the store is closed), checking
    /// each answer; a mirror that never runs dry is a failure.
    pub fn drain(&mut self, model: &Model) {
        for _ in 0..DRAIN_LIMIT {
            match self.step(model, MirrorRecv::TryRecv) {
                Delivery::Event(_) => {}
                _ => return,
            }
        }
        panic!(
            "mirror #{}: still yielding after {DRAIN_LIMIT} events",
            self.id
        );
    }

    fn receive(
        &mut self,
        mode: MirrorRecv,
        certain: bool,
    ) -> Result<Option<Event<u8>>, WatchError> {
        let mirror = self.mirror.as_mut().expect("not in a stream");
        match mode {
            MirrorRecv::TryRecv => mirror.try_recv(),
            MirrorRecv::RecvTimeout => {
                let timeout = if certain { PATIENCE } else { Duration::ZERO };
                mirror.recv_timeout(timeout)
            }
            MirrorRecv::Recv if certain => mirror.recv().map(Some),
            MirrorRecv::Recv => mirror.try_recv(),
            MirrorRecv::Stream => {
                let mut stream = self.mirror.take().expect("not in a stream").into_stream();
                let polled = poll_once(&mut stream);
                assert_eq!(
                    stream.is_terminated(),
                    stream.get_ref().is_closed(),
                    "mirror #{}: MirrorStream::is_terminated",
                    self.id
                );
                self.mirror = Some(stream.into_inner());
                polled
            }
        }
    }

    /// The mirror's view, converted (each value's key checked).
    fn list(&self) -> Vec<(String, Stored)> {
        entries_of(self.mirror().list())
    }

    /// One yielded event, against the contract and the model.
    fn check_event(&mut self, event: &Event<u8>, model: &Model, mode: MirrorRecv) -> Seen {
        let id = self.id;
        let key = event.key.to_string();
        let seen = Seen {
            key: key.clone(),
            event_type: event.event_type,
            value: Stored::of(&event.value, &event.key),
            revision: event.revision,
            previous: event.previous.as_ref().map(|v| Stored::of(v, &event.key)),
        };
        let context = format!(
            "mirror #{id} on kind {:?} with {:?}, by {mode:?}: event {seen:?}",
            self.kind, self.spec
        );
        assert_eq!(&*event.kind, self.kind, "{context}: of another kind");
        let prefix = self.spec.prefix_str();
        assert!(key.starts_with(prefix), "{context}: outside the prefix");
        assert!(
            self.spec.types().admits(seen.event_type),
            "{context}: a type the filter hides"
        );
        // The mirror's revision moves past an atomic batch only once the
        // batch's last event is taken in: mid-batch it is one behind.
        let mirror_revision = self.mirror().revision();
        assert!(
            seen.revision <= mirror_revision + 1 && mirror_revision <= model.revision(&self.kind),
            "{context}: revisions out of order: the event's {}, the mirror's {mirror_revision}, \
             the kind's {}",
            seen.revision,
            model.revision(&self.kind)
        );
        let after = match seen.event_type {
            EventType::Delete => None,
            EventType::Create | EventType::Update => Some(seen.value),
        };
        assert_eq!(
            after,
            model.value_at(&self.kind, &key, seen.revision),
            "{context}: the key did not hold that (left) at the event's revision (right: \
             what it held)"
        );
        match seen.event_type {
            EventType::Create => {
                assert_eq!(seen.previous, None, "{context}: a create with a previous")
            }
            EventType::Update => assert!(
                seen.previous.is_some() && seen.previous != Some(seen.value),
                "{context}: an update without a replaced value, or with the same one"
            ),
            EventType::Delete => assert_eq!(
                seen.previous,
                Some(seen.value),
                "{context}: a delete whose previous is not its removed value"
            ),
        }
        let before = self.shown.get(&key).copied();
        if self.unfiltered() {
            let expected_type = match (before, after) {
                (None, Some(_)) => Some(EventType::Create),
                (Some(before), Some(after)) if before != after => Some(EventType::Update),
                (Some(_), None) => Some(EventType::Delete),
                _ => None,
            };
            assert_eq!(
                Some(seen.event_type),
                expected_type,
                "{context}: the consumer was shown {before:?} for the key"
            );
            assert_eq!(
                seen.previous, before,
                "{context}: previous is not what the consumer was shown"
            );
        }
        match after {
            Some(value) => self.shown.insert(key.clone(), value),
            None => self.shown.remove(&key),
        };
        let got = self.mirror().get(&key).map(|v| Stored::of(&v, &key));
        assert_eq!(got, after, "{context}: get after the event");
        seen
    }

    /// After a receive that found nothing: the view is the kind now.
    fn check_caught_up(&self, model: &Model, mode: MirrorRecv) {
        let id = self.id;
        let mirror = self.mirror();
        assert_eq!(
            mirror.pending(),
            0,
            "mirror #{id} by {mode:?}: nothing received, yet changes pending"
        );
        let kind = values_under(model, &self.kind, self.spec.prefix_str());
        let list: BTreeMap<String, Stored> = self.list().into_iter().collect();
        assert_eq!(
            list, kind,
            "mirror #{id} on kind {:?} with {:?}, by {mode:?}: caught up, but its list (left) \
             differs from the kind (right)",
            self.kind, self.spec
        );
        assert_eq!(
            mirror.revision(),
            model.revision(&self.kind),
            "mirror #{id} by {mode:?}: caught up, but not at the kind's revision"
        );
    }

    /// What holds between any two calls: the reads agree with each other,
    /// and without a type filter `list` is the events yielded so far.
    fn check_readable(&mut self, model: &Model) {
        let id = self.id;
        let list = self.list();
        let mirror = self.mirror();
        assert!(
            list.windows(2).all(|pair| pair[0].0 < pair[1].0),
            "mirror #{id}: list not in key order: {list:?}"
        );
        assert_eq!(mirror.len(), list.len(), "mirror #{id}: len");
        assert_eq!(mirror.is_empty(), list.is_empty(), "mirror #{id}: is_empty");
        let prefix = self.spec.prefix_str();
        assert!(
            list.iter().all(|(key, _)| key.starts_with(prefix)),
            "mirror #{id}: list holds keys outside the prefix {prefix:?}: {list:?}"
        );
        for key in KeyName::ALL.iter().map(|key| key.as_str()).chain(["nope"]) {
            let got = mirror.get(key).map(|v| Stored::of(&v, key));
            let listed = list.iter().find(|(k, _)| k == key).map(|(_, v)| *v);
            assert_eq!(got, listed, "mirror #{id}: get({key:?}) against list");
        }
        if self.unfiltered() {
            let shown: Vec<(String, Stored)> =
                self.shown.iter().map(|(k, v)| (k.clone(), *v)).collect();
            assert_eq!(
                list, shown,
                "mirror #{id}: list (left) is not the yielded events applied in order (right)"
            );
        }
        assert_eq!(
            mirror.is_closed(),
            model.is_closed(),
            "mirror #{id}: is_closed"
        );
        let (revision, resyncs) = (mirror.revision(), mirror.resyncs());
        assert!(
            revision >= self.revision && revision <= model.revision(&self.kind),
            "mirror #{id}: revision {revision}, was {}, the kind's is {}",
            self.revision,
            model.revision(&self.kind)
        );
        assert!(resyncs >= self.resyncs, "mirror #{id}: resyncs went back");
        self.revision = revision;
        self.resyncs = resyncs;
    }
}

/// A waker that does nothing: the harness polls again by itself.
struct NoopWaker;

impl Wake for NoopWaker {
    fn wake(self: Arc<Self>) {}
}

/// One `poll_next`, in `try_recv`'s terms (the stream ends instead of
/// saying `Closed`).
fn poll_once(stream: &mut MirrorStream<u8>) -> Result<Option<Event<u8>>, WatchError> {
    let waker = Waker::from(Arc::new(NoopWaker));
    let mut context = Context::from_waker(&waker);
    match Pin::new(stream).poll_next(&mut context) {
        Poll::Ready(Some(event)) => Ok(Some(event)),
        Poll::Ready(None) => Err(WatchError::Closed),
        Poll::Pending => Ok(None),
    }
}
