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
//!
//! A version is admitted when its event type is asked for and its key has
//! the watcher's prefix; the buffer rule counts every revision of the kind,
//! admitted or not (a prefix watch on a busy kind overflows like any other).
//!
//! Each update is delivered with the value it replaced (`ring.rs`,
//! "Previous values"): from the slot's envelope (`RingEntry`), else by
//! upgrading the version's weak link, else from the slot read again (the
//! publisher may have just wrapped it). A subscribed cursor that still finds
//! none was lapped (the slot was overwritten) and reports overflow. A cursor
//! that starts at a past revision (`start_revision`) reads writes published
//! before it subscribed, whose publishers attached nothing: it keeps, from
//! the moment it subscribes, the replaced values still alive
//! (`RawKind::subscribe`); for one already freed it delivers the update
//! without a previous value — like etcd's `prev_kv` after a compaction.

use super::kind::RawKind;
use super::ring::{BucketCache, SlotRead};
use super::subscriber::Subscriber;
use super::version::{EventType, EventTypes, RingEntry, Version};
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

/// What a cursor admits, and how far behind it may fall.
#[derive(Clone)]
pub(crate) struct Filter {
    /// Overflow when `head - next` exceeds this.
    pub(crate) buffer: u64,
    pub(crate) types: EventTypes,
    /// Only keys that start with it.
    pub(crate) prefix: Option<Arc<str>>,
    /// Whether updates come with the value they replaced. Without, an
    /// update's `Step::Event` carries `None` (a mirror keeps its own).
    pub(crate) previous: bool,
}

impl Filter {
    /// The event type of `version`, if the filter admits it.
    #[inline]
    fn admit<T>(&self, version: &Version<T>) -> Option<EventType> {
        let event_type = version.payload.event_type()?;
        let wanted = self.types.contains(event_type)
            && self
                .prefix
                .as_ref()
                .map_or(true, |prefix| version.key.starts_with(&**prefix));
        wanted.then_some(event_type)
    }
}

pub(crate) struct Cursor<T: Send + Sync + 'static> {
    kind: Arc<RawKind<T>>,
    subscriber: Arc<Subscriber>,
    /// The next revision to read from the ring.
    next: u64,
    filter: Filter,
    /// The snapshot's live versions, in key order, still to deliver.
    replay: std::vec::IntoIter<Arc<Version<T>>>,
    /// The ring entry being delivered (a version, a batch envelope, or one
    /// of them wrapped with previous values), and the index of its next
    /// version.
    entry: Option<(Arc<Version<T>>, usize)>,
    delivered: u64,
    /// Previous values of updates published before the cursor subscribed
    /// (see the module docs).
    kept: Kept<T>,
    /// The ring bucket read last: reading on within it skips the ring's
    /// directory (`ring.rs`, "Lazy buckets").
    bucket: BucketCache<T>,
}

/// Values a cursor keeps alive until it has read past `until`.
pub(crate) struct Kept<T> {
    pub(crate) values: Vec<Arc<Version<T>>>,
    pub(crate) until: u64,
}

/// What the cursor has next.
pub(crate) enum Step<T> {
    /// A version to deliver, with the type of its event and, for an update,
    /// the version it replaced (for a delete, the tombstone holds it).
    Event(Arc<Version<T>>, EventType, Option<Arc<Version<T>>>),
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
        filter: Filter,
        replay: Vec<Arc<Version<T>>>,
    ) -> Self {
        Cursor {
            kind,
            subscriber,
            next,
            filter,
            replay: replay.into_iter(),
            entry: None,
            delivered: next - 1,
            kept: Kept {
                values: Vec::new(),
                until: 0,
            },
            bucket: None,
        }
    }

    /// Keeps `kept.values` alive until the cursor has read past `kept.until`.
    pub(crate) fn keep(&mut self, kept: Kept<T>) {
        self.kept = kept;
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
            if self.filter.types.contains(EventType::Create) {
                return Step::Event(version, EventType::Create, None);
            }
        }
        if let Some(step) = self.next_in_entry() {
            return step;
        }
        loop {
            if self.subscriber.is_overflowed() {
                return Step::Overflow;
            }
            if self.kind.head().saturating_sub(self.next) > self.filter.buffer {
                return Step::Overflow;
            }
            let entry = match self.kind.ring().read_cached(self.next, &mut self.bucket) {
                SlotRead::Published(entry) => Arc::clone(&entry),
                SlotRead::NotYet => return Step::Pending,
                SlotRead::Overwritten => return Step::Overflow,
            };
            self.next += 1;
            if self.next > self.kept.until && !self.kept.values.is_empty() {
                self.kept.values = Vec::new();
            }
            self.entry = Some((entry, 0));
            if let Some(step) = self.next_in_entry() {
                return step;
            }
        }
    }

    /// The next admitted event of the ring entry being delivered; marks its
    /// revision delivered as soon as no admitted event is left in it.
    fn next_in_entry(&mut self) -> Option<Step<T>> {
        let (entry, index) = self.entry.as_mut()?;
        let versions = RingEntry::of(entry);
        let mut found = None;
        while *index < versions.len() {
            let version = versions.version(*index);
            *index += 1;
            if let Some(event_type) = self.filter.admit(version) {
                found = Some((Arc::clone(version), event_type, *index - 1));
                break;
            }
        }
        let done =
            (*index..versions.len()).all(|at| self.filter.admit(versions.version(at)).is_none());
        let step = found.map(|(version, event_type, at)| match event_type {
            EventType::Update if self.filter.previous => {
                match previous_of(&self.kind, entry, &version, at) {
                    Previous::Found(previous) => Step::Event(version, event_type, Some(previous)),
                    Previous::Unkept => Step::Event(version, event_type, None),
                    Previous::Lapped => Step::Overflow,
                }
            }
            _ => Step::Event(version, event_type, None),
        });
        // An update met lapped is not delivered: its revision must stay
        // undelivered for a resume.
        if done && !matches!(step, Some(Step::Overflow)) {
            self.delivered = entry.revision();
            self.entry = None;
        }
        step
    }
}

/// What a cursor finds of the value an update replaced.
enum Previous<T> {
    Found(Arc<Version<T>>),
    /// Written before the cursor subscribed, and freed since.
    Unkept,
    /// The slot was overwritten: the cursor was lapped.
    Lapped,
}

/// The value the update `version` (at `index` of the ring entry `entry`)
/// replaced (see the module docs).
fn previous_of<T: Send + Sync + 'static>(
    kind: &RawKind<T>,
    entry: &Arc<Version<T>>,
    version: &Arc<Version<T>>,
    index: usize,
) -> Previous<T> {
    let attached =
        |entry: &Arc<Version<T>>| RingEntry::of(entry).attached(index).flatten().cloned();
    if let Some(previous) = attached(entry) {
        return Previous::Found(previous);
    }
    if let Ok(Some(previous)) = version.predecessor() {
        return Previous::Found(previous);
    }
    match kind.ring().read(entry.revision()) {
        SlotRead::Published(again) => match attached(&again) {
            Some(previous) => Previous::Found(previous),
            None => Previous::Unkept,
        },
        SlotRead::NotYet | SlotRead::Overwritten => Previous::Lapped,
    }
}

impl<T: Send + Sync + 'static> Drop for Cursor<T> {
    fn drop(&mut self) {
        self.kind.unsubscribe(&self.subscriber);
    }
}
