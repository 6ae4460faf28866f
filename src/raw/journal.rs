//! The journal hook: how a copy of record (a disk engine, a replica) is
//! told about every revision, and how a kind is loaded back from one.
//!
//! The store stays the working copy: every read and watch is served from
//! memory, and nothing here is on a read path. A store built with a journal
//! hands it each revision of each kind exactly once, and the public layer
//! (`ops.rs`) brackets every write with the journal's admission and sync
//! calls. The protocol has three parts.
//!
//! # J1, recording
//!
//! `RawKind::publish` — which every revision passes through exactly once, as
//! a version, a batch envelope or a hole (I3, `kind.rs`) — calls
//! [`JournalHook::record`] last, after the ring, the wake-ups and the pins.
//! So the journal sees exactly the revisions watchers see, each once, with
//! the same content: a batch or transaction is one envelope, and so one
//! record. Records of one kind may arrive in any order and on any thread
//! (a helper that stamps another thread's pending version publishes it,
//! and a snapshot reader can be that helper), so `record` must not block,
//! must not run user code, and must not panic: a journal enqueues and
//! returns. Ordering them is the journal's job: a contiguous prefix of
//! revisions is a state the kind really had.
//!
//! # J2, admission and sync (in `ops.rs`)
//!
//! A write asks [`JournalHook::admit`] before it applies anything (a journal
//! that can no longer keep what it is given refuses: the store then refuses
//! the write), and calls [`JournalHook::sync`] with the kind's revision read
//! after it applied, before it returns. That revision covers the write's own
//! and everything the write observed — a write that found nothing to do
//! (unchanged, not found) may have observed another writer's revision that
//! is published but not yet in the copy of record, and must not be
//! acknowledged before it is. Waiting there is the one place a durable
//! store may block a writer: never a reader, never a watcher.
//!
//! # J3, restoring
//!
//! [`RawStore::restore`](super::store::RawStore::restore) builds a kind
//! whole — its entries committed at their own revisions, `head` one past
//! the kind's revision, the live count — before any thread can see it, and
//! inserts it only if the kind does not exist. Nothing is published: no
//! event, no record. The ring holds none of the restored revisions, so a
//! watch asking to start at or below the restored revision gets `Compacted`
//! (`RawKind::floor`) instead of waiting for slots no write will fill.
//!
//! # Failure modes
//!
//! * A journal that fails: `admit` refuses later writes; `sync` reports the
//!   write as not durable (it is applied in memory and stays there: the
//!   public layer says so in the error).
//! * A writer that stalls between taking a revision and publishing it
//!   delays the `sync` of every write that observed that revision, as it
//!   delays watchers; it never delays readers.
//! * Closing: [`JournalHook::close`] runs once the store is closed (after the
//!   flag and the wake-ups) and again when the last handle drops; the
//!   journal makes it idempotent. A write in flight across a close may
//!   record after it; the journal answers its `sync` with an error.

use super::version::Version;
use crate::error::BoxError;
use crate::sync::Arc;

/// The journal as the raw layer sees it. The public `Journal` trait is
/// adapted to it in `journal.rs`.
pub(crate) trait JournalHook<T>: Send + Sync {
    /// J1: `version` was published in `kind` at `version.revision()`: a
    /// single write, a batch envelope, or a hole. Must not block.
    fn record(&self, kind: &Arc<str>, version: &Arc<Version<T>>);
    /// J2: may a write be applied now?
    fn admit(&self) -> Result<(), BoxError>;
    /// J2: returns once every revision of `kind` up to `revision` is kept.
    fn sync(&self, kind: &str, revision: u64) -> Result<(), BoxError>;
    /// Flush and release; called on close and on drop of the last handle.
    fn close(&self);
}
