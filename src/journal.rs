//! [`Journal`]: the hook a copy of record (a disk engine, a replica) plugs
//! into, and [`Record`], what it is told. The protocol (J1–J3) is argued in
//! `raw/journal.rs`; `zestor-durable` is its first user.

use std::fmt;

use crate::error::BoxError;
use crate::raw::journal::JournalHook;
use crate::raw::version::{Payload, Version};
use crate::sync::Arc;

/// A copy of record for a [`Store`](crate::Store): told every revision of
/// every kind, and asked before and after every write.
///
/// Install one with [`StoreBuilder::journal`](crate::StoreBuilder::journal)
/// and load what it kept with [`Store::restore_kind`](crate::Store::restore_kind).
/// The store stays the working copy: reads and watches never call the
/// journal.
///
/// For each write (`set`, `set_many`, `update`, `delete`, `transaction`, on a
/// [`Store`](crate::Store) or a [`Kind`](crate::Kind)):
///
/// 1. [`admit`](Self::admit): an `Err` refuses the write before anything
///    is applied ([`Error::Refused`](crate::Error::Refused));
/// 2. the write is applied in memory, and each revision it takes is passed
///    to [`record`](Self::record) — exactly once, as one [`Record`], a
///    whole `set_many` or transaction included;
/// 3. [`sync`](Self::sync) with the kind's revision after the write: the
///    write returns once it returns. An `Err` comes back as
///    [`Error::NotDurable`](crate::Error::NotDurable): the write is applied
///    in memory but the journal did not keep it.
///
/// [`close`](Self::close) runs when the store is closed and again when its
/// last handle is dropped.
pub trait Journal<T>: Send + Sync + 'static {
    /// Takes one revision of one kind. Called for every revision exactly
    /// once, from whichever thread published it, and in no particular order
    /// across threads (revisions of one kind may arrive out of order: a
    /// prefix `1..=r` that has all arrived is a state the kind really had).
    ///
    /// It runs inside the write protocol, possibly on a reader's thread that
    /// helped finish another writer's write: it must not block, must not
    /// panic, and should only enqueue.
    fn record(&self, record: Record<T>);

    /// Whether a write may be applied now. The default admits everything.
    fn admit(&self) -> Result<(), BoxError> {
        Ok(())
    }

    /// Returns once revisions `1..=revision` of `kind` are kept (a write
    /// calls it with the revision it observed, which covers its own). It may
    /// block: this is where a durable store makes a writer wait.
    fn sync(&self, kind: &str, revision: u64) -> Result<(), BoxError>;

    /// Keeps what was recorded and releases what the journal holds. Called
    /// by [`Store::close`](crate::Store::close) and when the last handle is
    /// dropped, so possibly twice: make it idempotent.
    fn close(&self) {}
}

/// One revision of one kind, as a [`Journal`] is told it: a single write,
/// a whole atomic `set_many` or transaction, or a hole (a revision taken and
/// abandoned, which changes nothing).
pub struct Record<T> {
    kind: Arc<str>,
    version: Arc<Version<T>>,
}

impl<T> Record<T> {
    /// The kind it belongs to.
    pub fn kind(&self) -> &str {
        &self.kind
    }

    /// Its revision within the kind.
    pub fn revision(&self) -> u64 {
        self.version.revision()
    }

    /// What it changed, in key order for a batch: each key with its new
    /// value, or `None` for a delete. Empty for a hole.
    pub fn changes(&self) -> impl Iterator<Item = Change<'_, T>> + '_ {
        let members: &[Arc<Version<T>>] = match &self.version.payload {
            Payload::Batch(versions) => versions,
            Payload::Hole => &[],
            _ => std::slice::from_ref(&self.version),
        };
        members.iter().map(|version| Change {
            key: &version.key,
            value: version.live(),
        })
    }

    /// True for a revision that changed nothing.
    pub fn is_hole(&self) -> bool {
        matches!(self.version.payload, Payload::Hole)
    }
}

impl<T> fmt::Debug for Record<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Record")
            .field("kind", &self.kind)
            .field("revision", &self.revision())
            .field("changes", &self.changes().count())
            .finish()
    }
}

/// One key's change within a [`Record`].
#[derive(Debug)]
pub struct Change<'a, T> {
    /// The key.
    pub key: &'a str,
    /// The key's new value; `None` when the key was deleted.
    pub value: Option<&'a T>,
}

/// Adapts a public [`Journal`] to the raw layer's hook.
pub(crate) struct Hook<T>(pub(crate) Arc<dyn Journal<T>>);

impl<T: Send + Sync + 'static> JournalHook<T> for Hook<T> {
    #[inline]
    fn record(&self, kind: &Arc<str>, version: &Arc<Version<T>>) {
        self.0.record(Record {
            kind: Arc::clone(kind),
            version: Arc::clone(version),
        });
    }

    fn admit(&self) -> Result<(), BoxError> {
        self.0.admit()
    }

    fn sync(&self, kind: &str, revision: u64) -> Result<(), BoxError> {
        self.0.sync(kind, revision)
    }

    fn close(&self) {
        self.0.close();
    }
}
