//! [`Snapshot`]: a point-in-time view of one kind, and the multi-key reads
//! every point-in-time read (`list`, `range`, …) is made of.

use std::fmt;
use std::ops::{Bound, ControlFlow, RangeBounds};

use crate::raw::kind::RawSnapshot;
use crate::raw::version::Version;
use crate::sync::Arc;
use crate::value::Value;

/// The entry pair that list-like reads return.
pub(crate) type Entry<T> = (Arc<str>, Value<T>);

/// Every key of a kind.
const ALL: (Bound<&str>, Bound<&str>) = (Bound::Unbounded, Bound::Unbounded);

/// A point-in-time view of one kind, from
/// [`Store::snapshot`](crate::Store::snapshot) or
/// [`Kind::snapshot`](crate::Kind::snapshot).
///
/// It holds the kind exactly as it was at one [`revision`](Self::revision):
/// every write with a revision at or below it, and none after — also an
/// atomic [`set_many`](crate::Store::set_many) or
/// [`transaction`](crate::Store::transaction), whole or not at all. It stays
/// readable however many writes follow and whatever is deleted, and its reads
/// never wait for writers.
///
/// Taking one is O(1). While it is held, each write to the kind keeps the
/// version it replaced alive for it (one pointer per write, plus the
/// replaced value itself), so memory grows with the writes made while it is
/// held; dropping the last clone releases them. Cheap to clone, `Send` and
/// `Sync`. It stays readable after [`close`](crate::Store::close).
///
/// ```
/// use zestor::Store;
///
/// let store = Store::<u32>::new();
/// store.set("counters", "a", 1)?;
/// let before = store.snapshot("counters")?;
/// store.set("counters", "a", 2)?;
/// store.delete("counters", "a")?;
/// assert_eq!(before.get("a").as_deref(), Some(&1));
/// assert!(store.get("counters", "a")?.is_none());
/// # Ok::<(), zestor::Error>(())
/// ```
pub struct Snapshot<T: Send + Sync + 'static> {
    raw: Arc<RawSnapshot<T>>,
    /// The kind's name as asked for (a kind never written is read through a
    /// nameless stand-in).
    kind: Arc<str>,
}

impl<T: Send + Sync + 'static> Clone for Snapshot<T> {
    fn clone(&self) -> Self {
        Snapshot {
            raw: Arc::clone(&self.raw),
            kind: Arc::clone(&self.kind),
        }
    }
}

impl<T: Send + Sync + 'static> Snapshot<T> {
    pub(crate) fn new(raw: RawSnapshot<T>, kind: &str) -> Self {
        Snapshot {
            raw: Arc::new(raw),
            kind: Arc::from(kind),
        }
    }

    /// The kind this is a view of.
    pub fn kind(&self) -> &str {
        &self.kind
    }

    /// The revision the view is at: every write to the kind with a revision
    /// at or below it is in it, and none after. Watch from `revision() + 1`
    /// ([`WatchOptions::start_revision`](crate::WatchOptions::start_revision))
    /// to follow the kind from here with no gap and no duplicate.
    pub fn revision(&self) -> u64 {
        self.raw.revision()
    }

    /// The value under `key` at the snapshot's revision.
    pub fn get(&self, key: &str) -> Option<Value<T>> {
        self.raw
            .with_live(key, |version| Value::new(Arc::clone(version)))
    }

    /// Calls `f` with the value under `key` at the snapshot's revision.
    pub fn read<R>(&self, key: &str, f: impl FnOnce(&T) -> R) -> Option<R> {
        self.raw
            .with_live(key, |version| version.live().map(f))
            .flatten()
    }

    /// True if `key` held a value at the snapshot's revision.
    pub fn contains(&self, key: &str) -> bool {
        self.raw.with_live(key, |_| ()).is_some()
    }

    /// Every entry, in ascending key order.
    pub fn list(&self) -> Vec<(Arc<str>, Value<T>)> {
        list(&self.raw)
    }

    /// The entries `filter` accepts, in ascending key order.
    pub fn list_filtered(&self, filter: impl FnMut(&str, &T) -> bool) -> Vec<(Arc<str>, Value<T>)> {
        list_filtered(&self.raw, filter)
    }

    /// The entries whose keys fall in `range`, in ascending key order.
    pub fn range<'r>(&self, range: impl RangeBounds<&'r str>) -> Vec<(Arc<str>, Value<T>)> {
        self::range(&self.raw, range)
    }

    /// The entries whose keys start with `prefix`, in ascending key order.
    pub fn prefix(&self, prefix: &str) -> Vec<(Arc<str>, Value<T>)> {
        self::prefix(&self.raw, prefix)
    }

    /// The keys, in ascending order.
    pub fn keys(&self) -> Vec<Arc<str>> {
        keys(&self.raw)
    }

    /// The values, in ascending key order.
    pub fn values(&self) -> Vec<Value<T>> {
        values(&self.raw)
    }

    /// The number of entries at the snapshot's revision. Exact; O(n) (it
    /// walks the kind).
    pub fn count(&self) -> usize {
        let mut count = 0;
        self.raw.scan(ALL, |_, _| {
            count += 1;
            ControlFlow::Continue(())
        });
        count
    }
}

impl<T: Send + Sync + 'static> fmt::Debug for Snapshot<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Snapshot")
            .field("kind", &self.kind())
            .field("revision", &self.revision())
            .finish_non_exhaustive()
    }
}

// ----- the multi-key reads, shared with the store's point-in-time reads -----

/// Collects the live entries in `range` that `keep` accepts. `capacity` is
/// a hint (the live count for whole-kind scans), so the vector is allocated
/// once instead of doubling its way up.
fn collect<T: Send + Sync + 'static, R>(
    raw: &RawSnapshot<T>,
    range: (Bound<&str>, Bound<&str>),
    capacity: usize,
    mut keep: impl FnMut(&str, &T) -> ControlFlow<(), bool>,
    mut map: impl FnMut(&Arc<Version<T>>) -> R,
) -> Vec<R> {
    let mut out = Vec::with_capacity(capacity);
    if range_is_empty(range) {
        return out;
    }
    raw.scan(range, |version, value| {
        if keep(&version.key, value)? {
            out.push(map(version));
        }
        ControlFlow::Continue(())
    });
    out
}

fn everything<T>(_: &str, _: &T) -> ControlFlow<(), bool> {
    ControlFlow::Continue(true)
}

pub(crate) fn list<T: Send + Sync + 'static>(raw: &RawSnapshot<T>) -> Vec<Entry<T>> {
    collect(raw, ALL, raw.kind().count(), everything, entry)
}

pub(crate) fn list_filtered<T: Send + Sync + 'static>(
    raw: &RawSnapshot<T>,
    mut filter: impl FnMut(&str, &T) -> bool,
) -> Vec<Entry<T>> {
    let filtered = |key: &str, value: &T| ControlFlow::Continue(filter(key, value));
    collect(raw, ALL, 0, filtered, entry)
}

pub(crate) fn range<'r, T: Send + Sync + 'static>(
    raw: &RawSnapshot<T>,
    range: impl RangeBounds<&'r str>,
) -> Vec<Entry<T>> {
    let bounds = (
        range.start_bound().map(|key| *key),
        range.end_bound().map(|key| *key),
    );
    collect(raw, bounds, 0, everything, entry)
}

pub(crate) fn prefix<T: Send + Sync + 'static>(
    raw: &RawSnapshot<T>,
    prefix: &str,
) -> Vec<Entry<T>> {
    // Keys are ordered, so the first key past the prefix ends the walk.
    let matching = |key: &str, _: &T| {
        if key.starts_with(prefix) {
            ControlFlow::Continue(true)
        } else {
            ControlFlow::Break(())
        }
    };
    collect(
        raw,
        (Bound::Included(prefix), Bound::Unbounded),
        0,
        matching,
        entry,
    )
}

pub(crate) fn keys<T: Send + Sync + 'static>(raw: &RawSnapshot<T>) -> Vec<Arc<str>> {
    collect(raw, ALL, raw.kind().count(), everything, |version| {
        Arc::clone(&version.key)
    })
}

pub(crate) fn values<T: Send + Sync + 'static>(raw: &RawSnapshot<T>) -> Vec<Value<T>> {
    collect(raw, ALL, raw.kind().count(), everything, |version| {
        Value::new(Arc::clone(version))
    })
}

fn entry<T>(version: &Arc<Version<T>>) -> Entry<T> {
    (Arc::clone(&version.key), Value::new(Arc::clone(version)))
}

/// True for a range that can hold no key (inverted, or empty-exclusive),
/// which the skip list would otherwise be asked to walk.
fn range_is_empty((start, end): (Bound<&str>, Bound<&str>)) -> bool {
    match (start, end) {
        (Bound::Included(start), Bound::Included(end)) => start > end,
        (Bound::Included(start), Bound::Excluded(end))
        | (Bound::Excluded(start), Bound::Included(end))
        | (Bound::Excluded(start), Bound::Excluded(end)) => start >= end,
        _ => false,
    }
}
