//! The consumer side of P3/P4: one watcher's position in its kind's ring,
//! plus the replay it delivers first.
//!
//! A cursor delivers, in order: the replayed live versions (key order), then
//! ring events by strictly increasing revision, skipping holes, events the
//! replay already reflected, and event types the watcher did not ask for.
//! Overflow — the ring lapped the cursor, the cursor fell more than its buffer
//! behind `head`, or a producer marked the subscriber — is reported instead of
//! any gap, and the owner ends the watch.

use super::kind::RawKind;
use super::ring::SlotRead;
use super::subscriber::Subscriber;
use super::version::{EventType, EventTypes, Version};
use crate::sync::Arc;

pub(crate) struct Cursor<T: Send + Sync + 'static> {
    kind: Arc<RawKind<T>>,
    subscriber: Arc<Subscriber>,
    /// The next revision to deliver.
    next: u64,
    /// Overflow when `head - next` exceeds this.
    buffer: u64,
    types: EventTypes,
    /// Every version the replay walk saw, in key order; the live ones are
    /// delivered first, and all of them filter ring events until
    /// `filter_until`.
    seen: Vec<Arc<Version<T>>>,
    replayed: usize,
    /// Live versions in `seen[replayed..]`: replayed creates still to come.
    replay_left: usize,
    filter_until: u64,
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
        seen: Vec<Arc<Version<T>>>,
        filter_until: u64,
    ) -> Self {
        let replay_left = seen.iter().filter(|v| v.live().is_some()).count();
        Cursor {
            kind,
            subscriber,
            next,
            buffer,
            types,
            seen,
            replayed: 0,
            replay_left,
            filter_until,
        }
    }

    /// Replayed entries not yet passed (delivered or filtered out).
    pub(crate) fn replay_left(&self) -> usize {
        self.replay_left
    }

    pub(crate) fn kind(&self) -> &Arc<RawKind<T>> {
        &self.kind
    }

    pub(crate) fn subscriber(&self) -> &Subscriber {
        &self.subscriber
    }

    /// The next thing to deliver. Never blocks.
    pub(crate) fn step(&mut self) -> Step<T> {
        while let Some(version) = self.seen.get(self.replayed) {
            self.replayed += 1;
            if version.live().is_some() {
                self.replay_left -= 1;
                if self.types.contains(EventType::Create) {
                    return Step::Event(Arc::clone(version), EventType::Create);
                }
            }
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
            if revision < self.filter_until && self.replay_reflects(&version) {
                continue;
            }
            if self.next >= self.filter_until && !self.seen.is_empty() {
                // Replay delivered and every later revision is newer than it.
                self.seen = Vec::new();
            }
            let Some(event_type) = version.payload.event_type() else {
                continue; // a hole
            };
            if self.types.contains(event_type) {
                return Step::Event(Arc::clone(&version), event_type);
            }
        }
    }

    /// True if the replay walk saw a version of the same key at or after this
    /// one's revision (the replay already reflects it).
    fn replay_reflects(&self, version: &Version<T>) -> bool {
        self.seen
            .binary_search_by(|seen| (*seen.key).cmp(&*version.key))
            .map(|index| self.seen[index].revision >= version.revision)
            .unwrap_or(false)
    }
}

impl<T: Send + Sync + 'static> Drop for Cursor<T> {
    fn drop(&mut self) {
        self.kind.unsubscribe(&self.subscriber);
    }
}
