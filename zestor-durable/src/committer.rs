//! The journal a durable store is built with, and the committer thread
//! behind it: group commit into redb.
//!
//! # The protocol
//!
//! * **Recording** (`Journal::record`, any thread, inside the core's write
//!   protocol): the record goes onto an unbounded channel to the committer
//!   and nothing else happens — no serialization, no I/O, no user code, and
//!   no wake-up: the committer is woken only by someone who waits for it
//!   (a writer in `sync`, a closer), so an `Interval` write costs a channel
//!   push and no system call.
//! * **Committing** (the committer thread, the only one that touches the
//!   engine): it parks until woken (or, in `Interval` mode, until the
//!   interval is up), drains everything queued,
//!   and for each kind moves the records that extend the kind's committed
//!   prefix (revision `c + 1`, `c + 2`, …; a hole just advances it) into one
//!   redb write transaction, together with each kind's new revision, and
//!   commits it — with `Durability::Immediate`, one `fsync` for the whole
//!   group. Of several changes to one key in a group only the last is
//!   written (a write-back cache's coalescing: in `Interval` mode a hot key
//!   costs one engine write per interval). Records beyond a gap wait for
//!   the gap (a revision still in
//!   flight on another thread). So the file always holds every kind at a
//!   revision it really had: a batch (one record) is there whole or not at
//!   all, and nothing after a revision is there without that revision.
//! * **Acknowledging** (`Journal::sync`, the writer's thread): in
//!   `Immediate` mode the writer queues a waiter for (kind, revision) and
//!   parks; the committer unparks it once the kind's committed revision
//!   reaches it, after the commit returned. While one group syncs, the next
//!   one queues: that is the group commit. In `Interval` mode the writer
//!   returns at once, and the committer commits every interval — unless
//!   more than `MAX_BACKLOG` records wait, then writers wait as in
//!   `Immediate` mode (memory stays bounded).
//! * **Failing**: the first engine error (or a value that cannot be
//!   serialized) is kept; every waiter from then on gets it, `admit` refuses
//!   every later write, and nothing more is committed. What was committed
//!   before stays valid on disk.
//! * **Closing**: `close` sends a close message and waits for the answer;
//!   the committer commits what it holds, drops the database (releasing the
//!   file lock), answers, and ends. Records and waiters that arrive later
//!   find the channel closed: their writes are reported as not durable. A
//!   wait whose message is never read (sent in the instant between the
//!   committer's last drain and the end of its thread, which drops the
//!   channel and every message in it) is answered by the message's `Drop`,
//!   so no second `close` — the drop of the last handle after `close` —
//!   and no writer can wait forever.
//!
//! No lock is taken on the writers' side: the channel is lock-free, and a
//! writer waits only for its own durability, on its own thread's park.

use std::collections::{BTreeMap, HashMap};
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::atomic::{AtomicBool, AtomicU8, AtomicUsize, Ordering};
use std::sync::mpsc::{self, Receiver, Sender, TryRecvError};
use std::sync::{Arc, OnceLock};
use std::thread::{self, Thread};
use std::time::{Duration, Instant};

use redb::Database;
use serde::Serialize;
use zestor::{BoxError, Journal, Record};

use crate::error::Error;
use crate::schema::{ENTRIES, KINDS};
use crate::Durability;

/// In `Interval` mode, how many records may wait for the next commit before
/// writers wait for it too.
pub(crate) const MAX_BACKLOG: usize = 1 << 16;

/// In `Immediate` mode, how long records nobody waits for (those of a
/// helper's thread, say) may stay uncommitted.
const IDLE_COMMIT: Duration = Duration::from_millis(50);

/// How often to look again for a revision a waiter needs that another thread
/// has taken and not yet recorded.
const GAP_POLL: Duration = Duration::from_micros(100);

/// A writer's (or a closer's) wait for the committer.
struct Waiter {
    kind: Arc<str>,
    revision: u64,
    /// `PENDING`, `DONE` or `FAILED`.
    state: AtomicU8,
    thread: Thread,
}

const PENDING: u8 = 0;
const DONE: u8 = 1;
const FAILED: u8 = 2;

impl Waiter {
    fn new(kind: &str, revision: u64) -> Arc<Self> {
        Arc::new(Waiter {
            kind: Arc::from(kind),
            revision,
            state: AtomicU8::new(PENDING),
            thread: thread::current(),
        })
    }

    /// Answers the wait, once: a later answer (the `Ticket`'s drop after
    /// the committer answered) changes nothing.
    fn complete(&self, ok: bool) {
        let state = if ok { DONE } else { FAILED };
        // Release: the writer that reads the state (Acquire) sees the
        // committed state behind it, and the error if it failed.
        if self
            .state
            .compare_exchange(PENDING, state, Ordering::Release, Ordering::Relaxed)
            .is_ok()
        {
            self.thread.unpark();
        }
    }

    /// Parks until completed; true if it succeeded.
    fn wait(&self) -> bool {
        loop {
            // Acquire: pairs with `complete`'s Release.
            match self.state.load(Ordering::Acquire) {
                PENDING => thread::park(),
                state => return state == DONE,
            }
        }
    }
}

/// A wait as it travels to the committer: dropped unanswered (the
/// committer ended with it still queued), it answers "failed".
struct Ticket(Arc<Waiter>);

impl Drop for Ticket {
    fn drop(&mut self) {
        self.0.complete(false);
    }
}

enum Message<T> {
    Record(Record<T>),
    Wait(Ticket),
    Close(Ticket),
}

/// What the journal and the committer share.
struct Shared {
    /// The first error, once there is one.
    failed: OnceLock<String>,
    /// Records sent and not yet committed (`Interval` backpressure).
    backlog: AtomicUsize,
    /// `Interval` mode: the last commit took longer than the interval, so
    /// the committer is behind; writers wait for commits (as in `Immediate`
    /// mode) until it catches up, which keeps the window of loss near the
    /// interval however fast they write.
    lagging: AtomicBool,
}

impl Shared {
    fn failure(&self) -> Option<Error> {
        self.failed.get().map(|first| Error::Failed {
            first: first.clone(),
        })
    }
}

/// The [`Journal`] a durable store is built with.
pub(crate) struct DurableJournal<T> {
    sender: Sender<Message<T>>,
    /// The committer thread, to wake it.
    committer: Thread,
    alive: Arc<()>,
    shared: Arc<Shared>,
    durability: Durability,
}

impl<T: Serialize + Send + Sync + 'static> DurableJournal<T> {
    /// Starts the committer on `db`, whose kinds are at `revisions`.
    pub(crate) fn start(
        db: Database,
        revisions: HashMap<Arc<str>, u64>,
        durability: Durability,
    ) -> Result<Self, Error> {
        let (sender, receiver) = mpsc::channel();
        let shared = Arc::new(Shared {
            failed: OnceLock::new(),
            backlog: AtomicUsize::new(0),
            lagging: AtomicBool::new(false),
        });
        let committer = Committer {
            db: Some(db),
            receiver,
            shared: Arc::clone(&shared),
            durability,
            kinds: revisions
                .into_iter()
                .map(|(kind, revision)| (kind, KindLog::after(revision)))
                .collect(),
            waiters: Vec::new(),
            closers: Vec::new(),
            last_commit: Instant::now(),
        };
        let handle = thread::Builder::new()
            .name("zestor-durable".to_owned())
            .spawn(move || committer.run())
            .map_err(|source| Error::Io {
                doing: "starting the committer thread",
                source,
            })?;
        Ok(DurableJournal {
            sender,
            committer: handle.thread().clone(),
            alive: Arc::new(()),
            shared,
            durability,
        })
    }

    /// Alive exactly as long as this journal: `open_with` checks with it
    /// that its closure built the store from the builder it was given.
    pub(crate) fn liveness(&self) -> std::sync::Weak<()> {
        Arc::downgrade(&self.alive)
    }
}

impl<T: Serialize + Send + Sync + 'static> Journal<T> for DurableJournal<T> {
    fn record(&self, record: Record<T>) {
        // Relaxed: a count for backpressure, not a synchronization.
        self.shared.backlog.fetch_add(1, Ordering::Relaxed);
        // A closed channel: the store was closed with this write in flight;
        // its `sync` reports it.
        let _ = self.sender.send(Message::Record(record));
    }

    fn admit(&self) -> Result<(), BoxError> {
        match self.shared.failure() {
            Some(error) => Err(error.into()),
            None => Ok(()),
        }
    }

    fn sync(&self, kind: &str, revision: u64) -> Result<(), BoxError> {
        if let Some(error) = self.shared.failure() {
            return Err(error.into());
        }
        if revision == 0 {
            return Ok(());
        }
        if let Durability::Interval(_) = self.durability {
            // Relaxed: estimates are enough to bound memory and the window.
            if !self.shared.lagging.load(Ordering::Relaxed)
                && self.shared.backlog.load(Ordering::Relaxed) < MAX_BACKLOG
            {
                return Ok(());
            }
        }
        match self.ask(Waiter::new(kind, revision), Message::Wait) {
            Some(true) => Ok(()),
            Some(false) => Err(self.shared.failure().unwrap_or(Error::Closed).into()),
            None => Err(Error::Closed.into()),
        }
    }

    fn close(&self) {
        self.close_committer();
    }
}

impl<T> DurableJournal<T> {
    /// Queues `waiter` for the committer as `message`, wakes it and parks
    /// until answered: whether it succeeded, or `None` if the committer has
    /// ended (the file is released already).
    fn ask(&self, waiter: Arc<Waiter>, message: fn(Ticket) -> Message<T>) -> Option<bool> {
        let ticket = Ticket(Arc::clone(&waiter));
        self.sender.send(message(ticket)).ok()?;
        self.committer.unpark();
        // Answered by the committer, or by the ticket's drop if the
        // committer ended with it still queued.
        Some(waiter.wait())
    }

    /// Asks the committer to commit what it holds and release the file;
    /// returns once it has. Idempotent.
    fn close_committer(&self) {
        let _ = self.ask(Waiter::new("", 0), Message::Close);
    }
}

/// What the committer knows of one kind: its committed revision, and its
/// records not yet committed.
struct KindLog<T> {
    /// The last revision in the file.
    committed: u64,
    /// Records that extend the committed prefix, in revision order.
    ready: Vec<Record<T>>,
    /// The revision the next ready record must have.
    next: u64,
    /// Records beyond a gap (a revision still in flight), by revision.
    later: BTreeMap<u64, Record<T>>,
}

impl<T> KindLog<T> {
    fn after(committed: u64) -> Self {
        KindLog {
            committed,
            ready: Vec::new(),
            next: committed + 1,
            later: BTreeMap::new(),
        }
    }

    /// Records usually arrive in order: then this is a push.
    fn add(&mut self, record: Record<T>) {
        let revision = record.revision();
        if revision != self.next {
            self.later.insert(revision, record);
            return;
        }
        self.ready.push(record);
        self.next += 1;
        while let Some(record) = self.later.remove(&self.next) {
            self.ready.push(record);
            self.next += 1;
        }
    }
}

impl<T> Drop for DurableJournal<T> {
    fn drop(&mut self) {
        // The store closes its journal before dropping it; a journal dropped
        // without a store (`open_with`'s closure discarded its builder)
        // must release the file too, now rather than at the committer's
        // next timeout.
        self.close_committer();
    }
}

/// The committer thread's state; see the module docs.
struct Committer<T> {
    db: Option<Database>,
    receiver: Receiver<Message<T>>,
    shared: Arc<Shared>,
    durability: Durability,
    /// Every kind the file holds or a record named.
    kinds: HashMap<Arc<str>, KindLog<T>>,
    waiters: Vec<Ticket>,
    closers: Vec<Ticket>,
    last_commit: Instant,
}

impl<T: Serialize + Send + Sync + 'static> Committer<T> {
    fn run(mut self) {
        loop {
            let disconnected = loop {
                match self.receiver.try_recv() {
                    Ok(message) => self.take(message),
                    Err(TryRecvError::Empty) => break false,
                    // Every journal handle is gone (the store was dropped).
                    Err(TryRecvError::Disconnected) => break true,
                }
            };
            let closing = disconnected || !self.closers.is_empty();
            if closing || self.due() {
                self.commit();
            }
            if closing {
                self.finish();
                return;
            }
            // Woken by a waiter or a closer (who queue their message first,
            // so nothing is missed: an unpark before the park makes the park
            // return at once); in `Interval` mode also by the clock. A waiter
            // left unanswered waits for a revision still in flight on another
            // thread (between its stamp and its record, microseconds): its
            // record wakes no one, so poll for it. The timeout in `Immediate`
            // mode only bounds how long records that nobody waits for stay
            // uncommitted.
            let wait = match self.durability {
                _ if !self.waiters.is_empty() => GAP_POLL,
                Durability::Immediate => IDLE_COMMIT,
                Durability::Interval(interval) => {
                    (self.last_commit + interval).saturating_duration_since(Instant::now())
                }
            };
            if !wait.is_zero() {
                thread::park_timeout(wait);
            }
        }
    }

    fn take(&mut self, message: Message<T>) {
        match message {
            Message::Record(record) => match self.kinds.get_mut(record.kind()) {
                Some(log) => log.add(record),
                None => {
                    // A kind new to the file: it starts at revision 0.
                    let mut log = KindLog::after(0);
                    let kind = Arc::from(record.kind());
                    log.add(record);
                    self.kinds.insert(kind, log);
                }
            },
            Message::Wait(waiter) => self.waiters.push(waiter),
            Message::Close(waiter) => self.closers.push(waiter),
        }
    }

    /// Whether to commit now: always in `Immediate` mode; in `Interval`
    /// mode once the interval has passed, a writer waits, or the backlog
    /// is full.
    fn due(&self) -> bool {
        match self.durability {
            Durability::Immediate => true,
            Durability::Interval(interval) => {
                !self.waiters.is_empty()
                    || self.last_commit.elapsed() >= interval
                    // Relaxed: an estimate.
                    || self.shared.backlog.load(Ordering::Relaxed) >= MAX_BACKLOG
            }
        }
    }

    /// Commits every kind's contiguous prefix of pending records as one
    /// transaction, then answers the waiters it satisfied.
    fn commit(&mut self) {
        self.last_commit = Instant::now();
        if self.shared.failed.get().is_none() {
            let mut group: Vec<Record<T>> = Vec::new();
            let mut advanced: Vec<(Arc<str>, u64)> = Vec::new();
            for (kind, log) in &mut self.kinds {
                if !log.ready.is_empty() {
                    group.append(&mut log.ready);
                    advanced.push((Arc::clone(kind), log.next - 1));
                }
            }
            if !group.is_empty() {
                let taken = group.len();
                let started = Instant::now();
                let written = self.write(&group, &advanced);
                if let Durability::Interval(interval) = self.durability {
                    // Relaxed: a hint; see `Shared::lagging`.
                    self.shared
                        .lagging
                        .store(started.elapsed() > interval, Ordering::Relaxed);
                }
                match written {
                    Ok(()) => {
                        for (kind, revision) in &advanced {
                            if let Some(log) = self.kinds.get_mut(kind) {
                                log.committed = *revision;
                            }
                        }
                    }
                    Err(error) => {
                        let _ = self.shared.failed.set(error.to_string());
                    }
                }
                // Relaxed: an estimate (see `MAX_BACKLOG`).
                self.shared.backlog.fetch_sub(taken, Ordering::Relaxed);
            }
        }
        let failed = self.shared.failed.get().is_some();
        let kinds = &self.kinds;
        self.waiters.retain(|Ticket(waiter)| {
            let committed = kinds.get(&waiter.kind).map_or(0, |log| log.committed);
            let reached = committed >= waiter.revision;
            if failed || reached {
                waiter.complete(reached && !failed);
                false
            } else {
                true
            }
        });
    }

    /// One redb write transaction: the group's changes and the kinds'
    /// revisions.
    fn write(&self, group: &[Record<T>], advanced: &[(Arc<str>, u64)]) -> Result<(), Error> {
        let db = self.db.as_ref().expect("the database is open until finish");
        let txn = db
            .begin_write()
            .map_err(|error| Error::engine("starting a commit", error))?;
        {
            let mut entries = txn
                .open_table(ENTRIES)
                .map_err(|error| Error::engine("opening the entries table", error))?;
            // The last change of each key in the group (`group` holds each
            // kind's records in revision order, so the last one wins), then
            // in key order, the order the B-tree takes inserts best.
            let mut last: HashMap<(&str, &str), (u64, Option<&T>)> = HashMap::new();
            for record in group {
                let revision = record.revision();
                for change in record.changes() {
                    last.insert((record.kind(), change.key), (revision, change.value));
                }
            }
            let mut last: Vec<_> = last.into_iter().collect();
            last.sort_unstable_by_key(|(key, _)| *key);
            let mut buffer = Vec::new();
            for ((kind, key), (revision, value)) in last {
                match value {
                    Some(value) => {
                        buffer.clear();
                        encode(&mut buffer, value).map_err(|message| Error::Encode {
                            kind: kind.to_owned(),
                            key: key.to_owned(),
                            message,
                        })?;
                        entries
                            .insert((kind, key), (revision, buffer.as_slice()))
                            .map_err(|error| Error::engine("writing an entry", error))?;
                    }
                    None => {
                        entries
                            .remove((kind, key))
                            .map_err(|error| Error::engine("deleting an entry", error))?;
                    }
                }
            }
            let mut kinds = txn
                .open_table(KINDS)
                .map_err(|error| Error::engine("opening the kinds table", error))?;
            for (kind, revision) in advanced {
                kinds
                    .insert(&**kind, *revision)
                    .map_err(|error| Error::engine("writing a kind's revision", error))?;
            }
        }
        txn.commit()
            .map_err(|error| Error::engine("committing", error))
    }

    /// Closing: answers everyone and releases the file.
    fn finish(&mut self) {
        // Whatever still waits (records after a gap that will never fill,
        // waiters for them) cannot be kept any more.
        for ticket in self.waiters.drain(..) {
            ticket.0.complete(false);
        }
        if let Some(db) = self.db.take() {
            if let Err(error) = db.close() {
                let _ = self
                    .shared
                    .failed
                    .set(Error::engine("closing the file", error).to_string());
            }
        }
        for ticket in self.closers.drain(..) {
            ticket.0.complete(true);
        }
    }
}

/// Serializes `value` as JSON into `buffer`; a panicking `Serialize` impl is
/// an error too, not a dead committer.
fn encode<T: Serialize>(buffer: &mut Vec<u8>, value: &T) -> Result<(), String> {
    match catch_unwind(AssertUnwindSafe(|| {
        serde_json::to_writer(&mut *buffer, value)
    })) {
        Ok(Ok(())) => Ok(()),
        Ok(Err(error)) => Err(error.to_string()),
        Err(_) => Err("its Serialize implementation panicked".to_owned()),
    }
}
