//! `LockedDesign`: Go Zestor's in-memory `gomap` backend ported literally —
//! one `RwLock` around `map[kind]map[key]T`, and watchers as per-subscriber
//! bounded queues (Go's buffered channels: `sync_channel`) that writers push
//! to while holding the write lock. This is the design zestor replaces; the
//! benches run it side by side with the store.
//!
//! Faithful, not a strawman: values are `Arc<T>` (what `get` hands out),
//! unchanged writes are skipped with `PartialEq` as zestor does, and an event
//! carries its key as one `Arc<str>` made per write (Go copies a string header
//! for free; cloning a `String` per subscriber would overstate the cost).

use std::collections::HashMap;
use std::ops::Bound;
use std::sync::mpsc::{sync_channel, Receiver, SyncSender, TrySendError};
use std::sync::{Arc, RwLock};

/// What a write did (zestor's `SetResult`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    Created,
    Updated,
    Unchanged,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EventType {
    Create,
    Update,
    Delete,
}

/// One change, as a watcher receives it.
#[derive(Debug)]
pub struct Event<T> {
    pub key: Arc<str>,
    pub event_type: EventType,
    pub value: Arc<T>,
    pub revision: u64,
}

impl<T> Clone for Event<T> {
    fn clone(&self) -> Self {
        Event {
            key: Arc::clone(&self.key),
            event_type: self.event_type,
            value: Arc::clone(&self.value),
            revision: self.revision,
        }
    }
}

/// A subscription: the replayed entries (key order), then live events.
pub struct Watch<T> {
    pub replay: Vec<Event<T>>,
    pub events: Receiver<Event<T>>,
}

struct Inner<T> {
    kinds: HashMap<String, HashMap<String, Arc<T>>>,
    /// Go's watcher list per kind; a watcher whose channel is full is dropped
    /// (its receiver sees the channel close: the overflow signal).
    watchers: HashMap<String, Vec<SyncSender<Event<T>>>>,
    revision: u64,
}

pub struct LockedDesign<T> {
    inner: RwLock<Inner<T>>,
}

impl<T: PartialEq + Send + Sync> Default for LockedDesign<T> {
    fn default() -> Self {
        Self::new()
    }
}

impl<T: PartialEq + Send + Sync> LockedDesign<T> {
    pub fn new() -> Self {
        LockedDesign {
            inner: RwLock::new(Inner {
                kinds: HashMap::new(),
                watchers: HashMap::new(),
                revision: 0,
            }),
        }
    }

    // ----- reads: under the read lock -----

    pub fn get(&self, kind: &str, key: &str) -> Option<Arc<T>> {
        let inner = self.inner.read().unwrap();
        inner.kinds.get(kind)?.get(key).cloned()
    }

    /// Borrowing read: no reference count, like zestor's `read`.
    pub fn read<R>(&self, kind: &str, key: &str, f: impl FnOnce(&T) -> R) -> Option<R> {
        let inner = self.inner.read().unwrap();
        inner.kinds.get(kind)?.get(key).map(|value| f(value))
    }

    pub fn count(&self, kind: &str) -> usize {
        let inner = self.inner.read().unwrap();
        inner.kinds.get(kind).map_or(0, HashMap::len)
    }

    /// Every value of the kind in key order: Go's map iteration is unordered,
    /// so the port sorts (the references, then clones the values).
    pub fn list(&self, kind: &str) -> Vec<Arc<T>> {
        self.collect_sorted(kind, |_| true)
    }

    /// Values whose keys are in `[lo, hi)`, in key order: a hash map has no
    /// order, so this filters the whole kind, then sorts.
    pub fn range(&self, kind: &str, lo: &str, hi: &str) -> Vec<Arc<T>> {
        let bounds = (Bound::Included(lo), Bound::Excluded(hi));
        self.collect_sorted(kind, |key| std::ops::RangeBounds::contains(&bounds, &key))
    }

    pub fn prefix(&self, kind: &str, prefix: &str) -> Vec<Arc<T>> {
        self.collect_sorted(kind, |key| key.starts_with(prefix))
    }

    fn collect_sorted(&self, kind: &str, keep: impl Fn(&str) -> bool) -> Vec<Arc<T>> {
        let inner = self.inner.read().unwrap();
        let Some(entries) = inner.kinds.get(kind) else {
            return Vec::new();
        };
        let mut matching: Vec<(&String, &Arc<T>)> =
            entries.iter().filter(|(key, _)| keep(key)).collect();
        matching.sort_unstable_by(|a, b| a.0.cmp(b.0));
        matching.into_iter().map(|(_, v)| Arc::clone(v)).collect()
    }

    // ----- writes: under the write lock, events pushed before unlocking -----

    pub fn set(&self, kind: &str, key: &str, value: T) -> Outcome {
        let mut inner = self.inner.write().unwrap();
        inner.set(kind, key, value)
    }

    /// Go's `SetMany`: one write lock for the whole batch.
    pub fn set_many<K: AsRef<str>>(&self, kind: &str, items: impl IntoIterator<Item = (K, T)>) {
        let mut inner = self.inner.write().unwrap();
        for (key, value) in items {
            inner.set(kind, key.as_ref(), value);
        }
    }

    /// Reads two keys and writes both, under one write lock: what a
    /// transaction is in the locked design.
    pub fn update_two(
        &self,
        kind: &str,
        a: &str,
        b: &str,
        f: impl FnOnce(&T, &T) -> (T, T),
    ) -> bool {
        let mut inner = self.inner.write().unwrap();
        let entries = match inner.kinds.get(kind) {
            Some(entries) => entries,
            None => return false,
        };
        let (Some(old_a), Some(old_b)) = (entries.get(a).cloned(), entries.get(b).cloned()) else {
            return false;
        };
        let (new_a, new_b) = f(&old_a, &old_b);
        inner.set(kind, a, new_a);
        inner.set(kind, b, new_b);
        true
    }

    pub fn delete(&self, kind: &str, key: &str) -> Option<Arc<T>> {
        let mut inner = self.inner.write().unwrap();
        let previous = inner.kinds.get_mut(kind)?.remove(key)?;
        inner.emit(kind, key, EventType::Delete, &previous);
        Some(previous)
    }

    /// Go's `Close`: drops every watcher's sender, which ends its stream.
    pub fn close(&self) {
        self.inner.write().unwrap().watchers.clear();
    }

    /// Subscribes with a channel of `buffer` events; with `replay`, the
    /// current entries too, taken under the same write lock so no write falls
    /// between the snapshot and the registration.
    pub fn watch(&self, kind: &str, buffer: usize, replay: bool) -> Watch<T> {
        let (sender, events) = sync_channel(buffer);
        let mut inner = self.inner.write().unwrap();
        let replay = if replay {
            let revision = inner.revision;
            let mut entries: Vec<(&String, &Arc<T>)> = inner
                .kinds
                .get(kind)
                .map(|entries| entries.iter().collect())
                .unwrap_or_default();
            entries.sort_unstable_by(|a, b| a.0.cmp(b.0));
            entries
                .into_iter()
                .map(|(key, value)| Event {
                    key: Arc::from(key.as_str()),
                    event_type: EventType::Create,
                    value: Arc::clone(value),
                    revision,
                })
                .collect()
        } else {
            Vec::new()
        };
        inner
            .watchers
            .entry(kind.to_owned())
            .or_default()
            .push(sender);
        Watch { replay, events }
    }
}

impl<T: PartialEq> Inner<T> {
    fn set(&mut self, kind: &str, key: &str, value: T) -> Outcome {
        if !self.kinds.contains_key(kind) {
            self.kinds.insert(kind.to_owned(), HashMap::new());
        }
        let entries = self.kinds.get_mut(kind).expect("inserted above");
        let (outcome, stored) = match entries.get_mut(key) {
            Some(current) if **current == value => return Outcome::Unchanged,
            Some(current) => {
                *current = Arc::new(value);
                (Outcome::Updated, Arc::clone(current))
            }
            None => {
                let stored = Arc::new(value);
                entries.insert(key.to_owned(), Arc::clone(&stored));
                (Outcome::Created, stored)
            }
        };
        let event_type = match outcome {
            Outcome::Created => EventType::Create,
            _ => EventType::Update,
        };
        self.emit(kind, key, event_type, &stored);
        outcome
    }

    /// Bumps the revision and pushes the event to every watcher of the kind,
    /// still under the write lock (Go's non-blocking channel send). Builds
    /// nothing when nobody watches.
    fn emit(&mut self, kind: &str, key: &str, event_type: EventType, value: &Arc<T>) {
        self.revision += 1;
        let Some(watchers) = self.watchers.get_mut(kind) else {
            return;
        };
        if watchers.is_empty() {
            return;
        }
        let event = Event {
            key: Arc::from(key),
            event_type,
            value: Arc::clone(value),
            revision: self.revision,
        };
        watchers.retain(|watcher| match watcher.try_send(event.clone()) {
            Ok(()) => true,
            Err(TrySendError::Full(_) | TrySendError::Disconnected(_)) => false,
        });
    }
}
