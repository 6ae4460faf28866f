//! [`Transaction`]: reads and writes on one kind that commit as one
//! revision, serializably, or not at all.

use std::collections::BTreeMap;
use std::fmt;

use crate::error::{Error, Result};
use crate::raw::batch::{BatchOp, BatchRead, BatchWrite};
use crate::raw::kind::RawKind;
use crate::raw::version::{Payload, Version};
use crate::sync::Arc;
use crate::value::Value;

/// A transaction's checked writes, and its reads, ready to commit.
pub(crate) type Batch<'k, T> = (Vec<BatchWrite<'k, T>>, Vec<BatchRead<'k, T>>);

/// The reads and writes of one run of a transaction's closure, from
/// [`Store::transaction`](crate::Store::transaction) or
/// [`Kind::transaction`](crate::Kind::transaction).
///
/// [`get`](Self::get) reads the kind's committed state — or what this
/// transaction wrote to the key — and records what it saw;
/// [`set`](Self::set) and [`delete`](Self::delete) only record. Nothing is
/// written until the closure returns `Ok`: then the writes commit together,
/// as one revision, if every key the closure read still holds what it saw;
/// otherwise the closure runs again on the new state.
///
/// ```
/// use zestor::Store;
///
/// let store = Store::<i64>::new();
/// store.set_many("accounts", [("alice", 100), ("bob", 0)])?;
/// // Move 30 from alice to bob: both balances change, or neither.
/// store.transaction("accounts", |tx| {
///     let alice = tx.get("alice").map_or(0, |v| *v);
///     let bob = tx.get("bob").map_or(0, |v| *v);
///     if alice < 30 {
///         return Err("insufficient funds");
///     }
///     tx.set("alice", alice - 30);
///     tx.set("bob", bob + 30);
///     Ok(())
/// })?;
/// assert_eq!(store.get("accounts", "bob")?.as_deref(), Some(&30));
/// # Ok::<(), zestor::Error>(())
/// ```
pub struct Transaction<'a, T: Send + Sync + 'static> {
    kind: &'a Arc<RawKind<T>>,
    /// Every key the closure touched, in key order (the order a batch
    /// installs in), each allocated once whether it was read, written or
    /// both.
    touched: BTreeMap<Box<str>, Touched<T>>,
    /// A key was empty: reported at commit.
    bad_key: bool,
}

/// What a transaction did with one key.
struct Touched<T> {
    /// The committed version its first read saw (`Some(None)`: absent);
    /// `None` if the closure wrote the key without reading it first.
    seen: Option<Option<Arc<Version<T>>>>,
    /// What it will write, if anything.
    write: Option<Write<T>>,
}

/// A transaction's write to one key.
enum Write<T> {
    /// Store the value. `shown` is the version a `get` of the key handed
    /// out, made the first time one asked (so two `get`s are the same
    /// write to [`Value::ptr_eq`]) and not before: a transfer never reads
    /// its own writes, and should not pay for a version it never shows.
    Set {
        value: Arc<T>,
        shown: Option<Arc<Version<T>>>,
    },
    /// Delete the key.
    Delete,
}

impl<'a, T: Send + Sync + 'static> Transaction<'a, T> {
    pub(crate) fn new(kind: &'a Arc<RawKind<T>>) -> Self {
        Transaction {
            kind,
            touched: BTreeMap::new(),
            bad_key: false,
        }
    }

    /// The value under `key`: what this transaction wrote to it, if it did,
    /// else the kind's committed value (recorded: the transaction commits
    /// only if it still holds then). A value this transaction set has
    /// revision 0 until the transaction commits.
    pub fn get(&mut self, key: &str) -> Option<Value<T>> {
        if key.is_empty() {
            self.bad_key = true;
            return None;
        }
        if let Some(touched) = self.touched.get_mut(key) {
            return match &mut touched.write {
                None => touched
                    .seen
                    .clone()
                    .flatten()
                    .filter(|version| version.live().is_some())
                    .map(Value::new),
                Some(Write::Delete) => None,
                Some(Write::Set { value, shown }) => {
                    let version = shown.get_or_insert_with(|| {
                        Arc::new(Version::committed(
                            0,
                            Arc::from(key),
                            Payload::LiveShared {
                                value: Arc::clone(value),
                                created: false,
                                txn: None,
                            },
                        ))
                    });
                    Some(Value::new(Arc::clone(version)))
                }
            };
        }
        let seen = self.kind.committed(key);
        self.touched.insert(
            Box::from(key),
            Touched {
                seen: Some(seen.clone()),
                write: None,
            },
        );
        seen.filter(|version| version.live().is_some())
            .map(Value::new)
    }

    /// True if [`get`](Self::get) would return a value.
    pub fn contains(&mut self, key: &str) -> bool {
        self.get(key).is_some()
    }

    /// Stores `value` under `key` when the transaction commits. The kind's
    /// validator checks it at commit; an empty key fails the transaction
    /// with [`Error::KeyRequired`].
    pub fn set(&mut self, key: &str, value: T) {
        self.write(
            key,
            Write::Set {
                value: Arc::new(value),
                shown: None,
            },
        );
    }

    /// Deletes `key` when the transaction commits (nothing, if it holds no
    /// value then).
    pub fn delete(&mut self, key: &str) {
        self.write(key, Write::Delete);
    }

    fn write(&mut self, key: &str, write: Write<T>) {
        if key.is_empty() {
            self.bad_key = true;
            return;
        }
        match self.touched.get_mut(key) {
            Some(touched) => touched.write = Some(write),
            None => {
                self.touched.insert(
                    Box::from(key),
                    Touched {
                        seen: None,
                        write: Some(write),
                    },
                );
            }
        }
    }

    /// True if the transaction writes anything.
    pub(crate) fn writes_anything(&self) -> bool {
        self.touched.values().any(|touched| touched.write.is_some())
    }

    /// The checked writes and the reads, for the commit.
    pub(crate) fn batch(&self) -> Result<Batch<'_, T>> {
        if self.bad_key {
            return Err(Error::KeyRequired);
        }
        let validation = self.kind.validation();
        let mut writes = Vec::with_capacity(self.touched.len());
        let mut reads = Vec::with_capacity(self.touched.len());
        for (key, touched) in &self.touched {
            if let Some(seen) = &touched.seen {
                reads.push(BatchRead {
                    key,
                    seen: seen.clone(),
                });
            }
            let op = match &touched.write {
                Some(Write::Set { value, .. }) => {
                    validation.validate(key, value)?;
                    BatchOp::Set(Arc::clone(value))
                }
                Some(Write::Delete) => BatchOp::Delete,
                None => continue,
            };
            writes.push(BatchWrite { key, op });
        }
        Ok((writes, reads))
    }
}

impl<T: Send + Sync + 'static> fmt::Debug for Transaction<'_, T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Transaction")
            .field("kind", &self.kind.name())
            .field(
                "reads",
                &self.touched.values().filter(|t| t.seen.is_some()).count(),
            )
            .field(
                "writes",
                &self.touched.values().filter(|t| t.write.is_some()).count(),
            )
            .finish_non_exhaustive()
    }
}
