//! [`Value`]: the handle to a stored value that reads and events hand out.

use std::fmt;
use std::ops::Deref;

use crate::raw::version::Version;
use crate::sync::Arc;

/// A shared handle to a stored value, as `get`, `list` and events hand out.
///
/// It dereferences to `T` and is as cheap to clone as an `Arc`. It is a
/// snapshot: later writes to the key do not change it.
pub struct Value<T>(Arc<Version<T>>);

impl<T> Value<T> {
    /// Wraps a live version. Every `Value` is built from one (a tombstone's
    /// `previous` is live too).
    pub(crate) fn new(version: Arc<Version<T>>) -> Self {
        debug_assert!(version.live().is_some());
        Value(version)
    }

    /// The kind revision of the write that stored this value.
    pub fn revision(&self) -> u64 {
        self.0.revision()
    }

    /// The key this value was stored under.
    pub fn key(&self) -> &str {
        &self.0.key
    }

    /// True if this handle wraps exactly `version`.
    pub(crate) fn is_version(&self, version: &Arc<Version<T>>) -> bool {
        Arc::ptr_eq(&self.0, version)
    }

    /// True if both handles point at the same stored value (the same write).
    pub fn ptr_eq(this: &Self, other: &Self) -> bool {
        Arc::ptr_eq(&this.0, &other.0)
    }
}

impl<T> Deref for Value<T> {
    type Target = T;

    #[inline]
    fn deref(&self) -> &T {
        match self.0.live() {
            Some(value) => value,
            None => unreachable!("a Value always wraps a live version"),
        }
    }
}

impl<T> AsRef<T> for Value<T> {
    fn as_ref(&self) -> &T {
        self
    }
}

impl<T> std::borrow::Borrow<T> for Value<T> {
    fn borrow(&self) -> &T {
        self
    }
}

impl<T> Clone for Value<T> {
    fn clone(&self) -> Self {
        Value(Arc::clone(&self.0))
    }
}

impl<T: fmt::Debug> fmt::Debug for Value<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(&**self, f)
    }
}

impl<T: fmt::Display> fmt::Display for Value<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(&**self, f)
    }
}

impl<T: PartialEq> PartialEq for Value<T> {
    fn eq(&self, other: &Self) -> bool {
        **self == **other
    }
}

impl<T: Eq> Eq for Value<T> {}

impl<T: PartialEq> PartialEq<T> for Value<T> {
    fn eq(&self, other: &T) -> bool {
        **self == *other
    }
}

impl<T: PartialOrd> PartialOrd for Value<T> {
    fn partial_cmp(&self, other: &Self) -> Option<std::cmp::Ordering> {
        (**self).partial_cmp(&**other)
    }
}

impl<T: Ord> Ord for Value<T> {
    fn cmp(&self, other: &Self) -> std::cmp::Ordering {
        (**self).cmp(&**other)
    }
}

impl<T: std::hash::Hash> std::hash::Hash for Value<T> {
    fn hash<H: std::hash::Hasher>(&self, state: &mut H) {
        (**self).hash(state)
    }
}
