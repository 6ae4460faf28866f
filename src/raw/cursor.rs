//! The consumer side of P3/P4: one watcher's position in its kind's ring,
//! plus the replay it delivers first.
//!
//! A cursor delivers, in order: the replayed live versions of its snapshot
//! (key order, each with the revision of the write that stored it), then
//! ring events by strictly increasing revision — every event of one batch
//! (one revision) in key order before the next revision — skipping holes
//! and event types the watcher did not ask for.
//!
//! Overflow is reported instead of any gap, and the owner ends the watch,
//! when any of three things happens:
//!
//! * the cursor is more than its buffer behind `head` (revisions, filtered
//!   or not, holes included);
//! * the slot it reads holds a newer revision: the ring lapped it;
//! * a producer marked its subscriber: that producer was lapped itself, so
//!   the revision it carried can no longer be delivered.
//!
//! `delivered` is the revision everything up to which has been passed
//! (delivered, filtered out, or a hole): a batch counts only once its last
//! admitted event is out, so a consumer that resumes after it
//! (`start_revision(delivered + 1)`) gets no event twice and none missed.

use super::kind::RawKind;
use super::ring::SlotRead;
use super::subscriber::Subscriber;
use super::version::{EventType, EventTypes, Payload, Version};
use crate::sync::Arc;

/// Where a new cursor starts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Start {
    /// At the next revision: only writes after the watch began.
    Now,
    /// The kind at one revision, then every event after it (P4).
    Replay,
    /// At this revision, if the ring still holds it.
    At(u64),
}

pub(crate) struct Cursor<T: Send + Sync + 'static> {
    kind: Arc<RawKind<T>>,
    subscriber: Arc<Subscriber>,
    /// The next revision to read from the ring.
    next: u64,
    /// Overflow when `head - next` exceeds this.
    buffer: u64,
    types: EventTypes,
    /// The snapshot's live versions, in key order, still to deliver.
    replay: std::vec::IntoIter<Arc<Version<T>>>,
    /// The batch being delivered, and the index of its next version.
    batch: Option<(Arc<Version<T>>, usize)>,
    delivered: u64,
}

/// What the cursor has next.
pub(crate) enum Step<T> {
    /// A version to deliver, with the type of its event.
    Event(Arc<Version<T>>, EventType),
    /// Nothing yet.
    Pending,
    /// The watcher can no longer be given a gap-free stream.
    Overflow,
}

impl<T: Send + Sync + 'static> Cursor<T> {
    pub(crate) fn new(
        kind: Arc<RawKind<T>>,
        subscriber: Arc<Subscriber>,
        next: u64,
        buffer: u64,
        types: EventTypes,
        replay: Vec<Arc<Version<T>>>,
    ) -> Self {
        Cursor {
            kind,
            subscriber,
            next,
            buffer,
            types,
            replay: replay.into_iter(),
            batch: None,
            delivered: next - 1,
        }
    }

    /// Replayed entries not yet passed (delivered or filtered out).
    pub(crate) fn replay_left(&self) -> usize {
        self.replay.len()
    }

    /// Everything up to this revision has been passed (see the module docs).
    pub(crate) fn delivered(&self) -> u64 {
        self.delivered
    }

    pub(crate) fn kind(&self) -> &Arc<RawKind<T>> {
        &self.kind
    }

    pub(crate) fn subscriber(&self) -> &Subscriber {
        &self.subscriber
    }

    /// The next thing to deliver. Never blocks.
    pub(crate) fn step(&mut self) -> Step<T> {
        for version in self.replay.by_ref() {
            if self.types.contains(EventType::Create) {
                return Step::Event(version, EventType::Create);
            }
        }
        if let Some(event) = self.next_in_batch() {
            return event;
        }
        loop {
            if self.subscriber.is_overflowed() {
                return Step::Overflow;
            }
            if self.kind.head().saturating_sub(self.next) > self.buffer {
                return Step::Overflow;
            }
            let version = match self.kind.ring().read(self.next) {
                SlotRead::Published(version) => version,
                SlotRead::NotYet => return Step::Pending,
                SlotRead::Overwritten => return Step::Overflow,
            };
            let revision = self.next;
            self.next += 1;
            match &version.payload {
                Payload::Batch(_) => {
                    self.batch = Some((Arc::clone(&version), 0));
                    if let Some(event) = self.next_in_batch() {
                        return event;
                    }
                }
                payload => {
                    self.delivered = revision;
                    match payload.event_type() {
                        Some(event_type) if self.types.contains(event_type) => {
                            return Step::Event(Arc::clone(&version), event_type);
                        }
                        _ => {} // a hole, or filtered out
                    }
                }
            }
        }
    }

    /// The next admitted event of the batch being delivered; marks the batch
    /// delivered as soon as no admitted event is left in it.
    fn next_in_batch(&mut self) -> Option<Step<T>> {
        let (envelope, index) = self.batch.as_mut()?;
        let Payload::Batch(versions) = &envelope.payload else {
            unreachable!("a batch cursor holds a batch envelope")
        };
        let admitted = |version: &Arc<Version<T>>| {
            version
                .payload
                .event_type()
                .filter(|event_type| self.types.contains(*event_type))
        };
        let mut found = None;
        while let Some(version) = versions.get(*index) {
            *index += 1;
            if let Some(event_type) = admitted(version) {
                found = Some(Step::Event(Arc::clone(version), event_type));
                break;
            }
        }
        if versions[*index..]
            .iter()
            .all(|version| admitted(version).is_none())
        {
            self.delivered = envelope.revision();
            self.batch = None;
        }
        found
    }
}

impl<T: Send + Sync + 'static> Drop for Cursor<T> {
    fn drop(&mut self) {
        self.kind.unsubscribe(&self.subscriber);
    }
}
