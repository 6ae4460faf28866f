//! A [`zestor::Store`] kept on disk.
//!
//! The in-memory store stays the working copy: every read and every watch
//! is served from memory, lock-free, exactly as in `zestor`. A file — a
//! [redb](https://docs.rs/redb) database, a crash-safe copy-on-write B-tree —
//! is the copy of record: every write is recorded there, and opening the
//! file again loads every kind, key, value and revision back.
//!
//! ```
//! # fn main() -> Result<(), Box<dyn std::error::Error>> {
//! # let dir = std::env::temp_dir().join(format!("zestor-durable-doc-{}", std::process::id()));
//! # std::fs::create_dir_all(&dir)?;
//! # let path = dir.join("users.db");
//! # let _ = std::fs::remove_file(&path);
//! use zestor_durable::{Durability, Options};
//!
//! #[derive(serde::Serialize, serde::Deserialize, PartialEq, Debug)]
//! struct User { name: String }
//!
//! let store = zestor_durable::open::<User>(&path, Options::new())?;
//! store.set("users", "u1", User { name: "Ada".into() })?; // on disk when it returns
//! store.close(); // flushes and releases the file
//!
//! let store = zestor_durable::open::<User>(&path, Options::new())?;
//! assert_eq!(store.get("users", "u1")?.unwrap().name, "Ada");
//! assert_eq!(store.revision("users")?, 1); // revisions survive too
//! # store.close();
//! # std::fs::remove_dir_all(&dir)?;
//! # Ok(())
//! # }
//! ```
//!
//! # What each mode promises
//!
//! | | [`Durability::Immediate`] (default) | [`Durability::Interval`]`(d)` |
//! |---|---|---|
//! | a write returns | once it is on disk (`fsync`ed) | at memory speed |
//! | after `kill -9` of the process | every acknowledged write is there | every acknowledged write is there once its interval has committed: at most the last `d` is lost |
//! | after a power loss or OS crash | every acknowledged write is there | at most the writes of the last `d` (plus the commit in progress) are lost |
//! | atomic `set_many` / `transaction` | there whole or not at all | there whole or not at all |
//! | each kind after a crash | at one revision it really had: nothing after a revision without that revision | the same |
//! | revisions | survive a restart; an acknowledged revision is never handed out again | survive a restart; the revisions of lost writes are handed out again |
//! | writes per second | group commit: many writers share one `fsync` | as the in-memory store |
//!
//! **What a reader may see before a write is durable.** Reads and watches
//! are served from memory, and a write is applied in memory *before* it is
//! written to disk (that is what lets writers share an `fsync`). So another
//! thread may read a value, or a watcher receive its event, before the
//! write's own `set` has returned — and if the process then dies before the
//! commit, that value is gone after a restart. Only what a writer was told
//! is durable (its call returned `Ok`) is promised. Act outside the process
//! on a value only after its write returned, or in `Interval` mode, after
//! the interval.
//!
//! # Errors
//!
//! Opening returns an [`Error`] naming what to do: the file is held by
//! another open store ([`Error::Locked`]), an I/O error, a file written by a
//! newer version, a stored value that no longer deserializes. Once open, a
//! write that could not be kept returns [`zestor::Error::NotDurable`] (it is
//! in memory, not on disk) with this crate's [`Error`] as its source, and
//! every later write returns [`zestor::Error::Refused`]: the store never
//! acknowledges what it cannot keep. Reads keep working; reopen the store
//! once the cause is fixed.
//!
//! # Closing
//!
//! [`Store::close`](zestor::Store::close) commits everything recorded and
//! releases the file; so does dropping the last handle (a `Store`, `Kind`,
//! `Watch` or `Mirror`) — the same process can open the path again right
//! after.
//!
//! Values are stored as JSON (`serde_json`), so a type may gain fields with
//! `#[serde(default)]` and still load what an older version wrote.

#![forbid(unsafe_code)]
#![deny(missing_docs)]
#![warn(rust_2018_idioms, missing_debug_implementations)]

mod committer;
mod error;
mod schema;

use std::collections::HashMap;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use redb::{Database, ReadableDatabase, ReadableTable, StorageBackend};
use serde::de::DeserializeOwned;
use serde::Serialize;
use zestor::{Store, StoreBuilder};

use crate::committer::DurableJournal;
pub use crate::error::Error;
use crate::schema::{ENTRIES, FORMAT, FORMAT_KEY, KINDS, META};

/// When a write is acknowledged: once it is on disk, or at memory speed
/// with a bounded window of loss. See the [crate docs](crate) for what each
/// promises.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Durability {
    /// A write returns once it is on disk. Concurrent writers share each
    /// `fsync` (group commit). The default.
    Immediate,
    /// A write returns at memory speed; what was written is committed every
    /// interval. On a crash or power loss at most the last interval's
    /// writes are lost. (If more than 65,536 writes wait for the next
    /// commit, writers wait for it, so memory stays bounded.)
    Interval(Duration),
}

/// How to open a durable store.
///
/// ```
/// use std::time::Duration;
/// use zestor_durable::{Durability, Options};
///
/// let options = Options::new().durability(Durability::Interval(Duration::from_millis(10)));
/// # let _ = options;
/// ```
#[derive(Debug, Clone)]
pub struct Options {
    durability: Durability,
    verify: bool,
}

impl Default for Options {
    fn default() -> Self {
        Self::new()
    }
}

impl Options {
    /// The defaults: [`Durability::Immediate`], no full verification.
    pub fn new() -> Self {
        Options {
            durability: Durability::Immediate,
            verify: false,
        }
    }

    /// When writes are acknowledged.
    pub fn durability(mut self, durability: Durability) -> Self {
        self.durability = durability;
        self
    }

    /// Reads and checks the whole file when opening it (redb's integrity
    /// check), so a file damaged outside the engine is reported as an
    /// [`Error::Engine`] instead of being trusted. It costs a full read of
    /// the file. Off by default: redb already recovers from crashes by
    /// itself, and a damaged file that makes the engine panic is still
    /// reported as an error.
    pub fn verify_on_open(mut self, verify: bool) -> Self {
        self.verify = verify;
        self
    }
}

/// Opens (or creates) the store kept in the file at `path`, comparing values
/// with `PartialEq`. Use [`open_with`] for validators or a custom compare
/// function.
///
/// Every kind, key, value and revision the file holds is loaded into memory
/// before this returns; the store then works exactly as a
/// [`zestor::Store`], with every write also kept in the file.
pub fn open<T>(path: impl AsRef<Path>, options: Options) -> Result<Store<T>, Error>
where
    T: Serialize + DeserializeOwned + PartialEq + Send + Sync + 'static,
{
    open_with(path, options, |builder| builder.build())
}

/// [`open`], with the store built by `configure` from a
/// [`StoreBuilder`] that already carries the file's journal: add validators,
/// a compare function or a ring capacity, then `build()`.
///
/// ```
/// # fn main() -> Result<(), Box<dyn std::error::Error>> {
/// # let dir = std::env::temp_dir().join(format!("zestor-durable-open-with-{}", std::process::id()));
/// # std::fs::create_dir_all(&dir)?;
/// # let path = dir.join("prices.db");
/// # let _ = std::fs::remove_file(&path);
/// let store = zestor_durable::open_with::<f64>(&path, zestor_durable::Options::new(), |builder| {
///     builder
///         .validate("prices", |price: &f64| if *price >= 0.0 { Ok(()) } else { Err("negative") })
///         .compare(|old, new| (old - new).abs() < 1e-9)
///         .build()
/// })?;
/// assert!(store.set("prices", "eur", -1.0).is_err());
/// # store.close();
/// # std::fs::remove_dir_all(&dir)?;
/// # Ok(())
/// # }
/// ```
///
/// The closure must build the store from the builder it is given
/// ([`Error::NotJournaled`] otherwise).
pub fn open_with<T>(
    path: impl AsRef<Path>,
    options: Options,
    configure: impl FnOnce(StoreBuilder<T>) -> Store<T>,
) -> Result<Store<T>, Error>
where
    T: Serialize + DeserializeOwned + Send + Sync + 'static,
{
    let path = path.as_ref();
    let verify = options.verify;
    let create = || {
        let mut builder = Database::builder();
        builder.set_check_integrity_on_open(verify);
        builder.create(path)
    };
    let db = match guard_open(Some(path), create) {
        // A crash while the file was first being created can leave it
        // without even its header: all zeros. Nothing was ever committed
        // to it (a store is handed out only after its first commit), so
        // it is created again rather than reported as damaged.
        // (Not when it is locked: then its creator is still at work.)
        Err(error) if !matches!(error, Error::Locked { .. }) && holds_only_zeros(path) => {
            std::fs::OpenOptions::new()
                .write(true)
                .open(path)
                .and_then(|file| file.set_len(0))
                .map_err(|source| Error::Io {
                    doing: "creating the file again after an interrupted creation",
                    source,
                })?;
            guard_open(Some(path), create)?
        }
        result => result?,
    };
    start(db, options, configure)
}

/// True if the file at `path` exists and holds nothing but zero bytes.
fn holds_only_zeros(path: &Path) -> bool {
    std::fs::read(path).is_ok_and(|bytes| bytes.iter().all(|&byte| byte == 0))
}

/// [`open_with`] on a storage backend of your own instead of a file: redb's
/// [`StorageBackend`] (an in-memory one, or one that injects faults, as the
/// crash tests do). The backend's contents are loaded as a file's would be.
pub fn open_backend<T>(
    backend: impl StorageBackend,
    options: Options,
    configure: impl FnOnce(StoreBuilder<T>) -> Store<T>,
) -> Result<Store<T>, Error>
where
    T: Serialize + DeserializeOwned + Send + Sync + 'static,
{
    let verify = options.verify;
    let db = guard_open(None, move || {
        let mut builder = Database::builder();
        builder.set_check_integrity_on_open(verify);
        builder.create_with_backend(backend)
    })?;
    start(db, options, configure)
}

/// Opens the database, turning the engine's errors — and a panic on a file
/// damaged outside it — into this crate's.
fn guard_open(
    path: Option<&Path>,
    open: impl FnOnce() -> Result<Database, redb::DatabaseError>,
) -> Result<Database, Error> {
    match catch_unwind(AssertUnwindSafe(open)) {
        Ok(Ok(db)) => Ok(db),
        Ok(Err(redb::DatabaseError::DatabaseAlreadyOpen)) => Err(Error::Locked {
            path: path.map_or_else(|| PathBuf::from("<backend>"), Path::to_path_buf),
        }),
        Ok(Err(error)) => Err(Error::engine("opening the file", error)),
        Err(_) => Err(Error::Engine {
            doing: "opening the file",
            source: redb::Error::Corrupted(
                "the engine panicked reading the file: it was damaged outside redb \
                 (open it with Options::verify_on_open(true) for details)"
                    .to_owned(),
            ),
        }),
    }
}

/// A kind as the file holds it: its revision and entries.
struct StoredKind<T> {
    revision: u64,
    entries: Vec<(String, u64, T)>,
}

/// Prepares the file, loads it, and builds the store around its journal.
fn start<T>(
    db: Database,
    options: Options,
    configure: impl FnOnce(StoreBuilder<T>) -> Store<T>,
) -> Result<Store<T>, Error>
where
    T: Serialize + DeserializeOwned + Send + Sync + 'static,
{
    prepare(&db)?;
    let kinds: HashMap<String, StoredKind<T>> = load(&db)?;
    let revisions = kinds
        .iter()
        .map(|(kind, stored)| (Arc::from(kind.as_str()), stored.revision))
        .collect();
    let journal = DurableJournal::start(db, revisions, options.durability)?;
    let liveness = journal.liveness();
    let store = configure(Store::builder().journal(journal));
    if liveness.upgrade().is_none() {
        return Err(Error::NotJournaled);
    }
    for (kind, stored) in kinds {
        if let Err(error) = store.restore_kind(&kind, stored.revision, stored.entries) {
            store.close();
            return Err(Error::Store(error));
        }
    }
    Ok(store)
}

/// Creates the tables of a new file, and checks the format of an old one.
fn prepare(db: &Database) -> Result<(), Error> {
    let txn = db
        .begin_write()
        .map_err(|error| Error::engine("preparing the file", error))?;
    {
        let mut meta = txn
            .open_table(META)
            .map_err(|error| Error::engine("opening the meta table", error))?;
        let found = meta
            .get(FORMAT_KEY)
            .map_err(|error| Error::engine("reading the format", error))?
            .map(|format| format.value());
        match found {
            None => {
                meta.insert(FORMAT_KEY, FORMAT)
                    .map_err(|error| Error::engine("writing the format", error))?;
            }
            Some(found) if found > FORMAT => {
                return Err(Error::NewerFormat {
                    found: format!("zestor-durable format {found}"),
                    supported: format!("zestor-durable format {FORMAT}"),
                })
            }
            Some(_) => {}
        }
        txn.open_table(KINDS)
            .map_err(|error| Error::engine("opening the kinds table", error))?;
        txn.open_table(ENTRIES)
            .map_err(|error| Error::engine("opening the entries table", error))?;
    }
    txn.commit()
        .map_err(|error| Error::engine("preparing the file", error))
}

/// Reads every kind and entry, decoding each value.
fn load<T: DeserializeOwned>(db: &Database) -> Result<HashMap<String, StoredKind<T>>, Error> {
    let txn = db
        .begin_read()
        .map_err(|error| Error::engine("reading the file", error))?;
    let kinds_table = txn
        .open_table(KINDS)
        .map_err(|error| Error::engine("opening the kinds table", error))?;
    let mut kinds: HashMap<String, StoredKind<T>> = HashMap::new();
    for row in kinds_table
        .iter()
        .map_err(|error| Error::engine("reading the kinds", error))?
    {
        let (kind, revision) = row.map_err(|error| Error::engine("reading the kinds", error))?;
        kinds.insert(
            kind.value().to_owned(),
            StoredKind {
                revision: revision.value(),
                entries: Vec::new(),
            },
        );
    }
    let entries = txn
        .open_table(ENTRIES)
        .map_err(|error| Error::engine("opening the entries table", error))?;
    for row in entries
        .iter()
        .map_err(|error| Error::engine("reading the entries", error))?
    {
        let (key, value) = row.map_err(|error| Error::engine("reading the entries", error))?;
        let (kind, key) = key.value();
        let (revision, bytes) = value.value();
        let value: T = serde_json::from_slice(bytes).map_err(|source| Error::Decode {
            kind: kind.to_owned(),
            key: key.to_owned(),
            source,
        })?;
        let Some(stored) = kinds.get_mut(kind) else {
            return Err(Error::NotAStore {
                detail: format!("an entry of kind {kind:?}, which has no revision"),
            });
        };
        stored.entries.push((key.to_owned(), revision, value));
    }
    Ok(kinds)
}
