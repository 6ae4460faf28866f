//! Watching a kind: options, events, the [`Watch`] stream and its
//! asynchronous form, [`WatchStream`].

use std::fmt;
use std::pin::Pin;
use std::task::{Context, Poll, Waker};
use std::time::{Duration, Instant};

use crate::error::WatchError;
use crate::raw::cursor::{Cursor, Step};
use crate::raw::store::RawStore;
use crate::raw::version::{EventType, EventTypes, Payload, Version};
use crate::sync::{thread, Arc};
use crate::value::Value;

/// How to watch a kind: replay or resume, event-type and key-prefix
/// filters, buffer size.
///
/// ```
/// use zestor::{EventType, WatchOptions};
/// let options = WatchOptions::new()
///     .replay(true)
///     .prefix("app/")
///     .event_types(&[EventType::Create, EventType::Delete])
///     .buffer_size(256);
/// # let _ = options;
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WatchOptions {
    pub(crate) replay: bool,
    pub(crate) start_revision: Option<u64>,
    pub(crate) types: EventTypes,
    pub(crate) prefix: Option<Arc<str>>,
    pub(crate) buffer_size: usize,
}

impl WatchOptions {
    /// The default buffer size: how far (in revisions) a watcher may fall
    /// behind before it overflows.
    pub const DEFAULT_BUFFER_SIZE: usize = 128;

    /// No replay, every event type, a buffer of
    /// [`DEFAULT_BUFFER_SIZE`](Self::DEFAULT_BUFFER_SIZE).
    pub fn new() -> Self {
        WatchOptions {
            replay: false,
            start_revision: None,
            types: EventTypes::ALL,
            prefix: None,
            buffer_size: Self::DEFAULT_BUFFER_SIZE,
        }
    }

    /// With `true`, the watch starts with the kind as it is at one revision
    /// `R` — its entries, as creates in key order, each with the revision of
    /// the write that stored it — and then delivers every event after `R`:
    /// no gap, no duplicate, no event older than what the replay showed.
    /// [`Watch::replay_remaining`] says when the replay is done.
    pub fn replay(mut self, replay: bool) -> Self {
        self.replay = replay;
        self
    }

    /// Resume: deliver every event with a revision at or above `revision`,
    /// then live ones. To follow a kind from a [`Snapshot`](crate::Snapshot)
    /// with no gap and no duplicate, start at `snapshot.revision() + 1`; to
    /// resume a watch, at [`Watch::revision`] + 1.
    ///
    /// `watch` returns [`Error::Compacted`](crate::Error::Compacted) if the
    /// kind no longer keeps `revision` (its event ring, `ring_capacity`
    /// revisions, has moved past it), and
    /// [`Error::InvalidArgument`](crate::Error::InvalidArgument) together
    /// with [`replay`](Self::replay). A revision not reached yet is fine: the
    /// watch waits for it. The buffer rule applies from the start: a watch
    /// that starts more than `buffer_size` revisions behind the kind
    /// overflows at once, so resume far back with a larger buffer.
    pub fn start_revision(mut self, revision: u64) -> Self {
        self.start_revision = Some(revision);
        self
    }

    /// Deliver only these event types. An empty slice means every type (as in
    /// Go Zestor). The filter never hides an overflow.
    pub fn event_types(mut self, types: &[EventType]) -> Self {
        self.types = EventTypes::of(types);
        self
    }

    /// Deliver only keys that start with `prefix`, in the replay and live.
    /// An empty prefix means every key.
    ///
    /// The buffer rule still counts every revision of the kind, with the
    /// prefix or not: a watch on a quiet prefix of a busy kind falls behind
    /// (and overflows) as fast as one on the whole kind. Size its buffer for
    /// the kind's write rate. The filter never hides an overflow.
    pub fn prefix(mut self, prefix: &str) -> Self {
        self.prefix = (!prefix.is_empty()).then(|| Arc::from(prefix));
        self
    }

    /// How many revisions of the kind (writes, filtered or not) the watcher
    /// may fall behind before it overflows. Revisions can outnumber writes:
    /// a write that a concurrent reader or writer finished for it (stamped)
    /// leaves the revision it took unused, a hole that counts here too, so
    /// leave some room above the writes you expect. At least 1, at most
    /// the store's [`ring_capacity`](crate::StoreBuilder::ring_capacity);
    /// `watch` returns
    /// [`Error::InvalidArgument`](crate::Error::InvalidArgument) otherwise.
    pub fn buffer_size(mut self, buffer_size: usize) -> Self {
        self.buffer_size = buffer_size;
        self
    }
}

impl Default for WatchOptions {
    fn default() -> Self {
        Self::new()
    }
}

/// One change to one key of a watched kind.
pub struct Event<T> {
    /// The kind the key belongs to.
    pub kind: Arc<str>,
    /// The key that changed.
    pub key: Arc<str>,
    /// What happened to it.
    pub event_type: EventType,
    /// The new value; for a delete, the value the key held before.
    pub value: Value<T>,
    /// The value this write replaced: `None` for a create, `Some(old)` for
    /// an update, and for a delete the value removed (the same as `value`).
    ///
    /// One exception, like etcd's `prev_kv` after a compaction: a watch
    /// resumed with [`start_revision`](WatchOptions::start_revision) reads
    /// writes made before it subscribed, and an update among them whose
    /// replaced value was freed by then comes with `None`. (Values still
    /// alive when the watch subscribes are kept for it.) A watch subscribed
    /// when the write was made always gets it.
    ///
    /// Free when nobody watches. While a kind is watched, each update in its
    /// event ring keeps the value it replaced alive until the ring moves
    /// past it: at most `ring_capacity` more values per kind.
    pub previous: Option<Value<T>>,
    /// The kind revision of the write. Live events arrive in strictly
    /// increasing revision order; replayed ones carry the revision of the
    /// write that stored the value.
    pub revision: u64,
}

impl<T> Clone for Event<T> {
    fn clone(&self) -> Self {
        Event {
            kind: Arc::clone(&self.kind),
            key: Arc::clone(&self.key),
            event_type: self.event_type,
            value: self.value.clone(),
            revision: self.revision,
            previous: self.previous.clone(),
        }
    }
}

impl<T: fmt::Debug> fmt::Debug for Event<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Event")
            .field("kind", &self.kind)
            .field("key", &self.key)
            .field("event_type", &self.event_type)
            .field("value", &*self.value)
            .field("revision", &self.revision)
            .field("previous", &self.previous.as_deref())
            .finish()
    }
}

/// An ordered stream of one kind's events, from [`Store::watch`](crate::Store::watch).
///
/// Consume it by blocking ([`recv`](Self::recv),
/// [`recv_timeout`](Self::recv_timeout), the [`Iterator`] impl), by polling
/// ([`try_recv`](Self::try_recv)), or asynchronously
/// ([`into_stream`](Self::into_stream), a [`futures_core::Stream`]).
/// Dropping it unsubscribes.
///
/// A watch ends exactly once: with one [`WatchError::Overflow`] if it fell
/// behind (then [`WatchError::Closed`] on every later call), or with
/// [`WatchError::Closed`] when the store is closed. The iterator and the
/// stream yield the overflow as an item and then end; on close they just end.
///
/// `Watch` is an [`Iterator`] only; its stream is a type of its own (as
/// `flume`'s `Receiver::into_stream` and `tokio-stream`'s wrappers do): with
/// `futures::StreamExt` in scope, `watch.next()` is still the blocking
/// [`Iterator::next`], and `watch.into_stream().next().await` the
/// asynchronous one.
pub struct Watch<T: Send + Sync + 'static> {
    store: Arc<RawStore<T>>,
    kind: Arc<str>,
    /// `None` once the watch has ended.
    cursor: Option<Cursor<T>>,
    /// The cursor's `delivered` when it ended.
    ended_at: u64,
    /// The waker that unparks the thread blocked in `recv`, cached per thread.
    parker: Option<(thread::ThreadId, Waker)>,
}

/// Wakes a thread blocked in [`Watch::recv`].
struct Unparker(thread::Thread);

impl std::task::Wake for Unparker {
    fn wake(self: Arc<Self>) {
        self.0.unpark();
    }

    fn wake_by_ref(self: &Arc<Self>) {
        self.0.unpark();
    }
}

impl<T: Send + Sync + 'static> Watch<T> {
    pub(crate) fn new(store: Arc<RawStore<T>>, cursor: Cursor<T>) -> Self {
        Watch {
            store,
            // A copy of its own: every event clones this `Arc`, and sharing
            // the kind's would put all of a kind's watchers (on their own
            // threads) on one contended reference count.
            kind: Arc::from(&**cursor.kind().name()),
            ended_at: 0,
            cursor: Some(cursor),
            parker: None,
        }
    }

    /// The kind this watch follows.
    pub fn kind(&self) -> &str {
        &self.kind
    }

    /// The revision this watch has delivered everything up to: every event
    /// with a revision at or below it has been received (or filtered out),
    /// none above. Resume with
    /// [`start_revision`](WatchOptions::start_revision)`(revision() + 1)`.
    ///
    /// It moves past a revision only once its last event is out, so the
    /// events of one atomic write (which share a revision) end exactly when
    /// `event.revision == watch.revision()` after receiving one. During the
    /// replay it is the replay's revision.
    pub fn revision(&self) -> u64 {
        match &self.cursor {
            Some(cursor) => cursor.delivered(),
            None => self.ended_at,
        }
    }

    /// How many replayed entries are still to come. With replay on, events
    /// received while this is non-zero are the replay; once it reaches zero
    /// the consumer's replica is in sync and every later event is live.
    pub fn replay_remaining(&self) -> usize {
        match &self.cursor {
            Some(cursor) if !self.store.is_closed() => cursor.replay_left(),
            _ => 0,
        }
    }

    /// True once the watch has ended (overflow reported, or store closed).
    pub fn is_ended(&self) -> bool {
        self.cursor.is_none() || self.store.is_closed()
    }

    /// Blocks until the next event, an overflow, or the end of the watch.
    pub fn recv(&mut self) -> Result<Event<T>, WatchError> {
        if let Some(next) = self.spin_for_next() {
            return next;
        }
        loop {
            if let Some(next) = self.poll_blocking() {
                return next;
            }
            thread::park();
        }
    }

    /// Like [`recv`](Self::recv), but gives up after `timeout`: `Ok(None)`.
    pub fn recv_timeout(&mut self, timeout: Duration) -> Result<Option<Event<T>>, WatchError> {
        let deadline = Instant::now().checked_add(timeout);
        if let Some(next) = self.spin_for_next() {
            return next.map(Some);
        }
        loop {
            if let Some(next) = self.poll_blocking() {
                return next.map(Some);
            }
            match deadline {
                None => thread::park(),
                Some(deadline) => {
                    let now = Instant::now();
                    if now >= deadline {
                        if let Some(cursor) = &self.cursor {
                            cursor.subscriber().cancel_wait();
                        }
                        return Ok(None);
                    }
                    thread::park_timeout(deadline - now);
                }
            }
        }
    }

    /// The next event if one is ready: `Ok(None)` if there is none yet.
    pub fn try_recv(&mut self) -> Result<Option<Event<T>>, WatchError> {
        self.step().transpose()
    }

    /// The asynchronous form: a [`futures_core::Stream`] of the same items
    /// as the [`Iterator`] impl, which yields an overflow as an item and then
    /// ends, and on close just ends. [`WatchStream::into_inner`] gives the
    /// watch back.
    ///
    /// ```
    /// use futures::StreamExt;
    /// use zestor::{Store, WatchOptions};
    ///
    /// let store = Store::<u32>::new();
    /// let mut events = store.watch("jobs", WatchOptions::new())?.into_stream();
    /// store.set("jobs", "a", 1)?;
    /// futures::executor::block_on(async {
    ///     let event = events.next().await.expect("not ended")?;
    ///     assert_eq!((&*event.key, *event.value), ("a", 1));
    ///     store.close();
    ///     assert!(events.next().await.is_none()); // close ends the stream
    ///     Ok::<(), zestor::WatchError>(())
    /// })?;
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn into_stream(self) -> WatchStream<T> {
        WatchStream { watch: self }
    }

    /// Before a blocking receive goes to sleep, it re-checks for a short,
    /// growing while (about a microsecond of `spin_loop` in all): a watcher
    /// keeping up with a busy writer then often finds the next event without
    /// a park/unpark round trip, which costs the writer a futex wake. No
    /// `yield_now` rounds: measured here, they tripled the p50 write-to-receive
    /// latency of a watcher fed at a steady pace (10 µs against 4 µs), for a
    /// gain only when watcher threads outnumber cores. Never under loom (it
    /// would only multiply the interleavings to explore).
    fn spin_for_next(&mut self) -> Option<Result<Event<T>, WatchError>> {
        const SPIN_ROUNDS: u32 = 6;
        if cfg!(zestor_loom) {
            return None;
        }
        for round in 0..SPIN_ROUNDS {
            if let Some(next) = self.step() {
                return Some(next);
            }
            for _ in 0..1u32 << round {
                std::hint::spin_loop();
            }
        }
        self.step()
    }

    /// One step; `None` means nothing is ready.
    fn step(&mut self) -> Option<Result<Event<T>, WatchError>> {
        if self.store.is_closed() {
            self.end();
        }
        let Some(cursor) = &mut self.cursor else {
            return Some(Err(WatchError::Closed));
        };
        match cursor.step() {
            Step::Event(version, event_type, previous) => {
                Some(Ok(make_event(&self.kind, version, event_type, previous)))
            }
            Step::Pending => None,
            Step::Overflow => {
                self.end();
                // `close` releases the rings after setting the flag: a
                // cursor that found its slot released by it (an Acquire
                // load of a slot close wrote) sees the flag now. Close
                // ends a watch with `Closed`, not a stale `Overflow`.
                if self.store.is_closed() {
                    return Some(Err(WatchError::Closed));
                }
                Some(Err(WatchError::Overflow))
            }
        }
    }

    /// Ends the watch (unsubscribing), remembering how far it got.
    fn end(&mut self) {
        if let Some(cursor) = self.cursor.take() {
            self.ended_at = cursor.delivered();
        }
    }

    /// A step that, when nothing is ready, leaves the watch registered to be
    /// woken by `waker` (protocol: `raw/subscriber.rs`).
    fn step_or_register(&mut self, waker: &Waker) -> Option<Result<Event<T>, WatchError>> {
        let mut next = self.step();
        if next.is_none() {
            self.cursor.as_ref()?.subscriber().prepare_wait(waker);
            next = self.step();
        }
        if next.is_some() {
            // Found work: producers need not wake this consumer (a spurious
            // wake-up from an earlier sleep may also have left the flag set).
            if let Some(cursor) = &self.cursor {
                cursor.subscriber().cancel_wait();
            }
        }
        next
    }

    /// For a [`WatchStream`] and a [`Mirror`](crate::Mirror)'s stream: the
    /// next step, or `None` with `waker` registered to be woken when there
    /// may be one.
    pub(crate) fn poll_step(&mut self, waker: &Waker) -> Option<Result<Event<T>, WatchError>> {
        self.step_or_register(waker)
    }

    /// `step_or_register` with this thread's unparker.
    fn poll_blocking(&mut self) -> Option<Result<Event<T>, WatchError>> {
        let current = thread::current();
        let waker = match &self.parker {
            Some((id, waker)) if *id == current.id() => waker.clone(),
            _ => {
                let id = current.id();
                let waker = Waker::from(Arc::new(Unparker(current)));
                self.parker = Some((id, waker.clone()));
                waker
            }
        };
        self.step_or_register(&waker)
    }
}

fn make_event<T>(
    kind: &Arc<str>,
    version: Arc<Version<T>>,
    event_type: EventType,
    previous: Option<Arc<Version<T>>>,
) -> Event<T> {
    let revision = version.revision();
    let key = Arc::clone(&version.key);
    let (value, previous) = match &version.payload {
        Payload::Deleted {
            previous: removed, ..
        } => {
            let removed = Value::new(Arc::clone(removed));
            (removed.clone(), Some(removed))
        }
        _ => (Value::new(version), previous.map(Value::new)),
    };
    Event {
        kind: Arc::clone(kind),
        key,
        event_type,
        value,
        revision,
        previous,
    }
}

impl<T: Send + Sync + 'static> Iterator for Watch<T> {
    type Item = Result<Event<T>, WatchError>;

    /// Blocks for the next event. Yields an overflow as `Some(Err(..))` and
    /// then ends; ends on close.
    fn next(&mut self) -> Option<Self::Item> {
        match self.recv() {
            Err(WatchError::Closed) => None,
            other => Some(other),
        }
    }
}

impl<T: Send + Sync + 'static> std::iter::FusedIterator for Watch<T> {}

impl<T: Send + Sync + 'static> fmt::Debug for Watch<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Watch")
            .field("kind", &self.kind())
            .field("ended", &self.is_ended())
            .finish_non_exhaustive()
    }
}

/// A [`Watch`] as a [`futures_core::Stream`] of its events, from
/// [`Watch::into_stream`].
///
/// It yields what the watch's [`Iterator`] impl does, without blocking: each
/// event as `Ok`, an overflow as one `Err(`[`WatchError::Overflow`]`)` and
/// then the end, and on close just the end. A pending poll is woken by the
/// next write to the kind (or by `close`). It is a
/// [`FusedStream`](futures_core::FusedStream): terminated once the watch
/// has ended. [`into_inner`](Self::into_inner) gives the watch back, to
/// consume it by blocking.
///
/// Only the stream is a `Stream`, so `StreamExt` and `Iterator` never
/// compete for a method name:
///
/// ```
/// use futures::StreamExt;
/// use zestor::{Store, WatchError, WatchOptions};
///
/// let store = Store::<u32>::new();
/// let mut watch = store.watch("jobs", WatchOptions::new().buffer_size(2))?;
/// store.set("jobs", "a", 1)?;
///
/// // On a `Watch`, `next` is the blocking `Iterator::next`...
/// let first = watch.next().expect("not ended")?;
/// assert_eq!(*first.value, 1);
///
/// // ...and on its stream, `StreamExt::next`.
/// let mut events = watch.into_stream();
/// for i in 2..=4 {
///     store.set("jobs", "a", i)?; // three writes: more than the buffer of 2
/// }
/// futures::executor::block_on(async {
///     assert!(matches!(events.next().await, Some(Err(WatchError::Overflow))));
///     assert!(events.next().await.is_none()); // then the stream ends
/// });
/// assert!(events.get_ref().is_ended());
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub struct WatchStream<T: Send + Sync + 'static> {
    watch: Watch<T>,
}

impl<T: Send + Sync + 'static> WatchStream<T> {
    /// The watch, to read its [`revision`](Watch::revision),
    /// [`replay_remaining`](Watch::replay_remaining) or
    /// [`is_ended`](Watch::is_ended) between events.
    pub fn get_ref(&self) -> &Watch<T> {
        &self.watch
    }

    /// The watch, mutably: a [`try_recv`](Watch::try_recv) through it takes
    /// the next event from the same sequence the stream yields, so the two
    /// may be mixed.
    pub fn get_mut(&mut self) -> &mut Watch<T> {
        &mut self.watch
    }

    /// The watch back, to consume it by blocking. It goes on from the next
    /// event the stream has not yielded.
    pub fn into_inner(self) -> Watch<T> {
        self.watch
    }
}

impl<T: Send + Sync + 'static> futures_core::Stream for WatchStream<T> {
    type Item = Result<Event<T>, WatchError>;

    fn poll_next(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        match self.get_mut().watch.poll_step(cx.waker()) {
            None => Poll::Pending,
            Some(Err(WatchError::Closed)) => Poll::Ready(None),
            Some(other) => Poll::Ready(Some(other)),
        }
    }
}

impl<T: Send + Sync + 'static> futures_core::FusedStream for WatchStream<T> {
    fn is_terminated(&self) -> bool {
        self.watch.is_ended()
    }
}

impl<T: Send + Sync + 'static> fmt::Debug for WatchStream<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_tuple("WatchStream").field(&self.watch).finish()
    }
}
