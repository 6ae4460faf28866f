//! The journal a durable store is built with, and the committer thread
//! behind it: group commit into redb.
//!
//! # The protocol
//!
//! * **Recording** (`Journal::record`, any thread, inside the core's write
//!   protocol): the record goes onto an unbounded channel to the committer
//!   and nothing else happens — no serialization, no I/O, no user code.
//! * **Committing** (the committer thread, the only one that touches the
//!   engine): it blocks for the next message, drains everything queued,
//!   and for each kind moves the records that extend the kind's committed
//!   prefix (revision `c + 1`, `c + 2`, …; a hole just advances it) into one
//!   redb write transaction, together with each kind's new revision, and
//!   commits it — with `Durability::Immediate`, one `fsync` for the whole
//!   group. Records beyond a gap wait for the gap (a revision still in
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
//!   find the channel closed: their writes are reported as not durable.
//!
//! No lock is taken on the writers' side: the channel is lock-free, and a
//! writer waits only for its own durability, on its own thread's park.

use std::collections::{BTreeMap, HashMap};
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::atomic::{AtomicU8, AtomicUsize, Ordering};
use std::sync::mpsc::{self, Receiver, RecvTimeoutError, Sender};
use std::sync::{Arc, OnceLock};
use std::thread::{self, Thread};
use std::time::Instant;

use redb::Database;
use serde::Serialize;
use zestor::{BoxError, Journal, Record};

use crate::error::Error;
use crate::schema::{ENTRIES, KINDS};
use crate::Durability;

/// In `Interval` mode, how many records may wait for the next commit before
/// writers wait for it too.
pub(crate) const MAX_BACKLOG: usize = 1 << 16;

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

    fn complete(&self, ok: bool) {
        // Release: the writer that reads the state (Acquire) sees the
        // committed state behind it, and the error if it failed.
        self.state
            .store(if ok { DONE } else { FAILED }, Ordering::Release);
        self.thread.unpark();
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

enum Message<T> {
    Record(Record<T>),
    Wait(Arc<Waiter>),
    Close(Arc<Waiter>),
}

/// What the journal and the committer share.
struct Shared {
    /// The first error, once there is one.
    failed: OnceLock<String>,
    /// Records sent and not yet committed (`Interval` backpressure).
    backlog: AtomicUsize,
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
        });
        let committer = Committer {
            db: Some(db),
            receiver,
            shared: Arc::clone(&shared),
            durability,
            committed: revisions,
            pending: HashMap::new(),
            waiters: Vec::new(),
            closers: Vec::new(),
            last_commit: Instant::now(),
        };
        thread::Builder::new()
            .name("zestor-durable".to_owned())
            .spawn(move || committer.run())
            .map_err(|source| Error::Io {
                doing: "starting the committer thread",
                source,
            })?;
        Ok(DurableJournal {
            sender,
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
            // Relaxed: an estimate is enough to bound memory.
            if self.shared.backlog.load(Ordering::Relaxed) < MAX_BACKLOG {
                return Ok(());
            }
        }
        let waiter = Waiter::new(kind, revision);
        if self
            .sender
            .send(Message::Wait(Arc::clone(&waiter)))
            .is_err()
        {
            return Err(Error::Closed.into());
        }
        if waiter.wait() {
            Ok(())
        } else {
            Err(self.shared.failure().unwrap_or(Error::Closed).into())
        }
    }

    fn close(&self) {
        let waiter = Waiter::new("", 0);
        if self
            .sender
            .send(Message::Close(Arc::clone(&waiter)))
            .is_ok()
        {
            waiter.wait();
        }
        // Else the committer is gone: the file was released already.
    }
}

/// The committer thread's state; see the module docs.
struct Committer<T> {
    db: Option<Database>,
    receiver: Receiver<Message<T>>,
    shared: Arc<Shared>,
    durability: Durability,
    /// Each kind's committed revision.
    committed: HashMap<Arc<str>, u64>,
    /// Records not yet committed, by kind and revision.
    pending: HashMap<Arc<str>, BTreeMap<u64, Record<T>>>,
    waiters: Vec<Arc<Waiter>>,
    closers: Vec<Arc<Waiter>>,
    last_commit: Instant,
}

impl<T: Serialize + Send + Sync + 'static> Committer<T> {
    fn run(mut self) {
        loop {
            let received = match self.durability {
                Durability::Immediate => self
                    .receiver
                    .recv()
                    .map_err(|_| RecvTimeoutError::Disconnected),
                Durability::Interval(interval) => {
                    let deadline = self.last_commit + interval;
                    self.receiver
                        .recv_timeout(deadline.saturating_duration_since(Instant::now()))
                }
            };
            let disconnected = match received {
                Ok(message) => {
                    self.take(message);
                    false
                }
                Err(RecvTimeoutError::Timeout) => false,
                // Every journal handle is gone (the store was dropped).
                Err(RecvTimeoutError::Disconnected) => true,
            };
            while let Ok(message) = self.receiver.try_recv() {
                self.take(message);
            }
            let closing = disconnected || !self.closers.is_empty();
            if closing || self.due() {
                self.commit();
            }
            if closing {
                self.finish();
                return;
            }
        }
    }

    fn take(&mut self, message: Message<T>) {
        match message {
            Message::Record(record) => {
                let kind: Arc<str> = Arc::from(record.kind());
                self.pending
                    .entry(kind)
                    .or_default()
                    .insert(record.revision(), record);
            }
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
            for (kind, records) in &mut self.pending {
                let committed = self.committed.get(kind).copied().unwrap_or(0);
                let mut next = committed + 1;
                while let Some(record) = records.remove(&next) {
                    group.push(record);
                    next += 1;
                }
                if next - 1 > committed {
                    advanced.push((Arc::clone(kind), next - 1));
                }
            }
            self.pending.retain(|_, records| !records.is_empty());
            if !group.is_empty() {
                let taken = group.len();
                match self.write(&group, &advanced) {
                    Ok(()) => {
                        for (kind, revision) in advanced {
                            self.committed.insert(kind, revision);
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
        let committed = &self.committed;
        self.waiters.retain(|waiter| {
            let reached = committed.get(&waiter.kind).copied().unwrap_or(0) >= waiter.revision;
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
            let mut buffer = Vec::new();
            for record in group {
                let revision = record.revision();
                for change in record.changes() {
                    let key = (record.kind(), change.key);
                    match change.value {
                        Some(value) => {
                            buffer.clear();
                            encode(&mut buffer, value).map_err(|message| Error::Encode {
                                kind: record.kind().to_owned(),
                                key: change.key.to_owned(),
                                message,
                            })?;
                            entries
                                .insert(key, (revision, buffer.as_slice()))
                                .map_err(|error| Error::engine("writing an entry", error))?;
                        }
                        None => {
                            entries
                                .remove(key)
                                .map_err(|error| Error::engine("deleting an entry", error))?;
                        }
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
        for waiter in self.waiters.drain(..) {
            waiter.complete(false);
        }
        if let Some(db) = self.db.take() {
            if let Err(error) = db.close() {
                let _ = self
                    .shared
                    .failed
                    .set(Error::engine("closing the file", error).to_string());
            }
        }
        for closer in self.closers.drain(..) {
            closer.complete(true);
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
