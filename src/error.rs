//! Errors: what went wrong, and what the caller can do about it.

use std::fmt;

/// A boxed error from user code (a validator or an update closure).
pub type BoxError = Box<dyn std::error::Error + Send + Sync + 'static>;

/// The error type of every fallible store operation.
///
/// Errors from user code are kept whole and reachable through
/// [`source()`](std::error::Error::source).
#[derive(Debug)]
#[non_exhaustive]
pub enum Error {
    /// The store was closed with [`Store::close`](crate::Store::close); it
    /// accepts no further calls.
    Closed,
    /// The kind name was empty. Every kind needs a name.
    KindRequired,
    /// The key was empty. Every entry needs a key.
    KeyRequired,
    /// [`update`](crate::Store::update) found no entry under the key.
    KeyNotFound,
    /// The kind's validator rejected the value; nothing was written.
    Validation {
        /// The kind whose validator rejected the value.
        kind: String,
        /// The key the value was meant for.
        key: String,
        /// The validator's reason.
        source: BoxError,
    },
    /// The closure given to [`update`](crate::Store::update) returned an
    /// error; nothing was written.
    Update(BoxError),
    /// The closure given to [`transaction`](crate::Store::transaction)
    /// returned an error; nothing was written.
    Transaction(BoxError),
    /// An argument was out of range; the message names it and the valid range.
    InvalidArgument(String),
    /// The store's [`Journal`](crate::Journal) (its copy of record, such as
    /// a disk) refused the write, typically because an earlier write failed
    /// to be kept; nothing was applied. The source says what failed; the
    /// store keeps refusing writes until it is reopened.
    Refused(BoxError),
    /// The write was applied in memory (readers may see it) but the store's
    /// [`Journal`](crate::Journal) could not keep it: it is not durable and
    /// will not survive a restart. The source says why (an I/O error, a full
    /// disk, a value that could not be encoded); later writes are refused.
    NotDurable(BoxError),
    /// [`WatchOptions::start_revision`](crate::WatchOptions::start_revision)
    /// asked for a revision the kind no longer keeps (its event ring has
    /// moved past it). Take a [`snapshot`](crate::Store::snapshot) and watch
    /// from its revision + 1, or use a larger `ring_capacity`.
    Compacted {
        /// The revision asked for.
        requested: u64,
        /// The oldest revision the kind still kept when asked.
        oldest: u64,
    },
    /// [`remove_kind`](crate::Store::remove_kind): a key of the kind still
    /// holds a value. Delete its keys first.
    KindNotEmpty {
        /// The kind that was not removed.
        kind: String,
    },
    /// [`remove_kind`](crate::Store::remove_kind): a
    /// [`Watch`](crate::Watch) or [`Mirror`](crate::Mirror) of the kind is
    /// alive. Drop it first.
    KindWatched {
        /// The kind that was not removed.
        kind: String,
    },
    /// [`remove_kind`](crate::Store::remove_kind): writes (or new watches)
    /// kept entering the kind while it tried; a removal never waits for
    /// them. Try again when the kind is quiet.
    KindBusy {
        /// The kind that was not removed.
        kind: String,
    },
    /// The store cannot do this in its configuration; the message says
    /// what and why (for now: removing a kind from a store with a
    /// [`Journal`](crate::Journal)).
    Unsupported(&'static str),
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Error::Closed => f.write_str("the store is closed: no call is accepted after Store::close"),
            Error::KindRequired => f.write_str("a kind name is required: pass a non-empty kind"),
            Error::KeyRequired => f.write_str("a key is required: pass a non-empty key"),
            Error::KeyNotFound => {
                f.write_str("no entry under that key: update only changes existing entries (use set to create one)")
            }
            Error::Validation { kind, key, source } => {
                write!(f, "validation failed for kind {kind:?}, key {key:?}: {source}")
            }
            Error::Update(source) => write!(f, "the update closure failed: {source}"),
            Error::Transaction(source) => {
                write!(f, "the transaction closure failed, nothing was written: {source}")
            }
            Error::InvalidArgument(message) => write!(f, "invalid argument: {message}"),
            Error::Refused(source) => write!(
                f,
                "the write was refused, nothing was applied: the store's journal cannot keep writes ({source})"
            ),
            Error::NotDurable(source) => write!(
                f,
                "the write was applied in memory but is not durable and will not survive a restart: {source}"
            ),
            Error::Compacted { requested, oldest } => write!(
                f,
                "revision {requested} is no longer kept (the oldest kept is {oldest}): \
                 resync from a snapshot and watch from its revision + 1"
            ),
            Error::KindNotEmpty { kind } => write!(
                f,
                "kind {kind:?} was not removed: it still holds values (delete its keys first)"
            ),
            Error::KindWatched { kind } => write!(
                f,
                "kind {kind:?} was not removed: a watch or mirror of it is alive (drop it first)"
            ),
            Error::KindBusy { kind } => write!(
                f,
                "kind {kind:?} was not removed: writes kept entering it; try again when it is quiet"
            ),
            Error::Unsupported(what) => write!(f, "not supported: {what}"),
        }
    }
}

impl std::error::Error for Error {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            Error::Validation { source, .. }
            | Error::Update(source)
            | Error::Transaction(source)
            | Error::Refused(source)
            | Error::NotDurable(source) => Some(&**source),
            _ => None,
        }
    }
}

/// Why a watch stopped delivering events.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum WatchError {
    /// The watcher fell more than its buffer behind (or the event ring lapped
    /// it), so events were lost. Reported once; the watch then ends. Re-list
    /// the kind and watch again (with replay) to resynchronize.
    Overflow,
    /// The watch has ended: the store was closed, or an overflow was
    /// already reported.
    Closed,
}

impl fmt::Display for WatchError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            WatchError::Overflow => f.write_str(
                "the watcher fell behind and events were lost: re-list the kind and watch again (with replay), or raise buffer_size",
            ),
            WatchError::Closed => f.write_str("the watch has ended (store closed, or overflow already reported)"),
        }
    }
}

impl std::error::Error for WatchError {}

/// Shorthand for `Result<T, zestor::Error>`.
pub type Result<T, E = Error> = std::result::Result<T, E>;
