//! [`Transaction`]: reads and writes on one kind that commit as one
//! revision, serializably, or not at all.

use std::collections::btree_map::Entry as MapEntry;
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
    reads: BTreeMap<Arc<str>, Option<Arc<Version<T>>>>,
    writes: BTreeMap<Arc<str>, Option<Arc<Version<T>>>>,
    /// The first key that was empty, reported at commit.
    bad_key: bool,
}

impl<'a, T: Send + Sync + 'static> Transaction<'a, T> {
    pub(crate) fn new(kind: &'a Arc<RawKind<T>>) -> Self {
        Transaction {
            kind,
            reads: BTreeMap::new(),
            writes: BTreeMap::new(),
            bad_key: false,
        }
    }

    /// The value under `key`: what this transaction wrote to it, if it did,
    /// else the kind's committed value (recorded: the transaction commits
    /// only if it still holds then). A value this transaction set has
    /// revision 0 until the transaction commits.
    pub fn get(&mut self, key: &str) -> Option<Value<T>> {
        if let Some(written) = self.writes.get(key) {
            return written
                .as_ref()
                .map(|version| Value::new(Arc::clone(version)));
        }
        if key.is_empty() {
            self.bad_key = true;
            return None;
        }
        let seen = match self.reads.get(key) {
            Some(seen) => seen.clone(),
            None => {
                let seen = self.kind.committed(key);
                self.reads.insert(Arc::from(key), seen.clone());
                seen
            }
        };
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
        if key.is_empty() {
            self.bad_key = true;
            return;
        }
        let key: Arc<str> = Arc::from(key);
        let version = Arc::new(Version::committed(
            0,
            Arc::clone(&key),
            Payload::LiveShared {
                value: Arc::new(value),
                created: false,
            },
        ));
        self.writes.insert(key, Some(version));
    }

    /// Deletes `key` when the transaction commits (nothing, if it holds no
    /// value then).
    pub fn delete(&mut self, key: &str) {
        if key.is_empty() {
            self.bad_key = true;
            return;
        }
        match self.writes.entry(Arc::from(key)) {
            MapEntry::Occupied(mut entry) => {
                entry.insert(None);
            }
            MapEntry::Vacant(entry) => {
                entry.insert(None);
            }
        }
    }

    /// True if the transaction writes anything.
    pub(crate) fn writes_anything(&self) -> bool {
        !self.writes.is_empty()
    }

    /// The checked writes and the reads, for the commit.
    pub(crate) fn batch(&self) -> Result<Batch<'_, T>> {
        if self.bad_key {
            return Err(Error::KeyRequired);
        }
        let validation = self.kind.validation();
        let mut writes = Vec::with_capacity(self.writes.len());
        for (key, write) in &self.writes {
            let op = match write {
                Some(version) => {
                    let Payload::LiveShared { value, .. } = &version.payload else {
                        unreachable!("a transaction's writes are shared values")
                    };
                    validation.validate(key, value)?;
                    BatchOp::Set(Arc::clone(value))
                }
                None => BatchOp::Delete,
            };
            writes.push(BatchWrite { key, op });
        }
        let reads = self
            .reads
            .iter()
            .map(|(key, seen)| BatchRead {
                key,
                seen: seen.clone(),
            })
            .collect();
        Ok((writes, reads))
    }
}

impl<T: Send + Sync + 'static> fmt::Debug for Transaction<'_, T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Transaction")
            .field("kind", &self.kind.name())
            .field("reads", &self.reads.len())
            .field("writes", &self.writes.len())
            .finish_non_exhaustive()
    }
}
