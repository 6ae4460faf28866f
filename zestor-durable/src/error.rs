//! [`Error`]: what opening or keeping a durable store can run into, each
//! with what to do about it.

use std::fmt;
use std::io;
use std::path::PathBuf;

/// Why a durable store could not be opened, or why it stopped keeping
/// writes.
///
/// Opening returns it directly. Once a store is open, a write that could not
/// be kept comes back as [`zestor::Error::NotDurable`] (or, for later writes,
/// [`zestor::Error::Refused`]) with this error as its
/// [`source`](std::error::Error::source).
#[derive(Debug)]
#[non_exhaustive]
pub enum Error {
    /// Another process — or another open store in this one — holds the
    /// file. Close that store (or end that process) first; a store releases
    /// the file when it is closed or its last handle is dropped.
    Locked {
        /// The file asked for.
        path: PathBuf,
    },
    /// The file could not be opened, read or written: a missing directory,
    /// missing permissions, a full disk, a failing device. After one during
    /// a write the store refuses further writes: reopen it once the cause is
    /// fixed (everything acknowledged before the error is on disk).
    Io {
        /// What the store was doing.
        doing: &'static str,
        /// The operating system's error.
        source: io::Error,
    },
    /// The storage engine (redb) reported something else: a corrupted
    /// file, a value too large, an internal error. After one during a write
    /// the store refuses further writes.
    Engine {
        /// What the store was doing.
        doing: &'static str,
        /// The engine's error.
        source: redb::Error,
    },
    /// The file was written by a newer version of zestor-durable (or of
    /// redb) than this one: upgrade this program; the data in the file was not changed.
    NewerFormat {
        /// The format found in the file.
        found: String,
        /// The newest format this version reads.
        supported: String,
    },
    /// The file is a redb database, but not one a zestor-durable store wrote
    /// (its tables do not match): point the store at its own file.
    NotAStore {
        /// What did not match.
        detail: String,
    },
    /// A stored value no longer deserializes as `T` (its type changed
    /// incompatibly since it was written). Make the type accept the old
    /// form (for example `#[serde(default)]` on new fields, or an
    /// `#[serde(alias)]`), or delete the entry with the version that wrote
    /// it. Nothing was loaded.
    Decode {
        /// The entry's kind.
        kind: String,
        /// The entry's key.
        key: String,
        /// What serde said.
        source: serde_json::Error,
    },
    /// A value could not be serialized (for example a map whose keys are not
    /// strings, which JSON cannot hold, or a `Serialize` impl that failed or
    /// panicked). The write is in memory only; the store refuses further
    /// writes. Make the value's type serializable as JSON.
    Encode {
        /// The entry's kind.
        kind: String,
        /// The entry's key.
        key: String,
        /// What went wrong.
        message: String,
    },
    /// An earlier write could not be kept, so this one is refused; the
    /// message is that first error. Reopen the store once its cause is
    /// fixed: everything acknowledged before it is on disk.
    Failed {
        /// The first error, as text.
        first: String,
    },
    /// The store was closed while this write was in flight: it is in memory
    /// but may not be on disk.
    Closed,
    /// The closure given to [`open_with`](crate::open_with) did not build the
    /// store from the builder it was given, so the store would not be kept
    /// on disk: build it from that builder (`|builder| builder.build()`).
    NotJournaled,
    /// The core store rejected what the file holds (a bug: please report
    /// it, with the file).
    Store(zestor::Error),
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Error::Locked { path } => write!(
                f,
                "{} is held by another open store (another process, or a store in this one \
                 that is not closed): close it first",
                path.display()
            ),
            Error::Io { doing, source } => write!(f, "I/O error while {doing}: {source}"),
            Error::Engine { doing, source } => {
                write!(f, "the storage engine failed while {doing}: {source}")
            }
            Error::NewerFormat { found, supported } => write!(
                f,
                "the file is in format {found}, newer than this version reads ({supported}): \
                 upgrade zestor-durable; the data was not changed"
            ),
            Error::NotAStore { detail } => write!(
                f,
                "the file is not a zestor-durable store ({detail}): point the store at its own file"
            ),
            Error::Decode { kind, key, source } => write!(
                f,
                "the value of kind {kind:?}, key {key:?} no longer deserializes ({source}): \
                 make the type accept its stored form (e.g. #[serde(default)] on new fields)"
            ),
            Error::Encode { kind, key, message } => write!(
                f,
                "the value of kind {kind:?}, key {key:?} cannot be stored as JSON ({message}); \
                 the store refuses further writes"
            ),
            Error::Failed { first } => write!(
                f,
                "an earlier write could not be kept, so the store refuses writes until it is \
                 reopened: {first}"
            ),
            Error::Closed => f.write_str(
                "the store was closed while the write was in flight; it may not be on disk",
            ),
            Error::NotJournaled => f.write_str(
                "open_with's closure must build the store from the builder it is given \
                 (|builder| builder.build()), or the store is not kept on disk",
            ),
            Error::Store(error) => write!(f, "the store rejected the file's contents: {error}"),
        }
    }
}

impl std::error::Error for Error {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            Error::Io { source, .. } => Some(source),
            Error::Engine { source, .. } => Some(source),
            Error::Decode { source, .. } => Some(source),
            Error::Store(source) => Some(source),
            _ => None,
        }
    }
}

impl Error {
    /// Classifies an engine error: I/O errors (a full disk among them) and
    /// format versions get their own variants.
    pub(crate) fn engine(doing: &'static str, error: impl Into<redb::Error>) -> Self {
        match error.into() {
            redb::Error::Io(source) => Error::Io { doing, source },
            redb::Error::UpgradeRequired(found) => Error::NewerFormat {
                found: format!("redb file format {found}"),
                supported: "the format of redb 5".to_owned(),
            },
            redb::Error::TableTypeMismatch(mismatch) => Error::NotAStore {
                detail: mismatch.to_string(),
            },
            source => Error::Engine { doing, source },
        }
    }
}
