//! How a kind's point index hashes keys: the public [`KeyHashing`] choice,
//! and the [`PointHasher`] that carries it out.
//!
//! The choice is per store and costs one predictable branch per hash: the
//! enum is matched on every `write`, and the match always goes the same way.

use std::hash::{BuildHasher, Hash, Hasher};

/// How a store hashes keys for its point lookups
/// ([`StoreBuilder::key_hashing`](crate::StoreBuilder::key_hashing)).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
#[non_exhaustive]
pub enum KeyHashing {
    /// foldhash, seeded at random per kind: a fraction of SipHash's cost on
    /// short keys, and resistant to collisions by accident but not to an
    /// attacker who can study the process. The default.
    #[default]
    Fast,
    /// std's SipHash-1-3, keyed at random per kind: made to resist an
    /// attacker who chooses keys to collide. Use it when keys come from
    /// untrusted input.
    DosResistant,
}

/// The hasher of a point index, picked by [`KeyHashing`]: foldhash (fast,
/// randomly seeded per map) or std's SipHash (keyed per map, made to resist
/// chosen-key collision floods).
#[derive(Clone)]
pub(crate) enum PointHasher {
    Fast(foldhash::fast::RandomState),
    DosResistant(std::collections::hash_map::RandomState),
}

impl PointHasher {
    pub(crate) fn new(hashing: KeyHashing) -> Self {
        match hashing {
            KeyHashing::Fast => PointHasher::Fast(Default::default()),
            KeyHashing::DosResistant => PointHasher::DosResistant(Default::default()),
        }
    }
}

/// The per-hash state of a [`PointHasher`].
pub(crate) enum PointHasherState {
    Fast(foldhash::fast::FoldHasher<'static>),
    DosResistant(std::collections::hash_map::DefaultHasher),
}

impl BuildHasher for PointHasher {
    type Hasher = PointHasherState;

    /// One branch per hash, not one per `write`: papaya hashes through
    /// this, and the inner hashers' own `hash_one` inline whole.
    #[inline]
    fn hash_one<X: Hash>(&self, x: X) -> u64 {
        match self {
            PointHasher::Fast(state) => state.hash_one(x),
            PointHasher::DosResistant(state) => state.hash_one(x),
        }
    }

    #[inline]
    fn build_hasher(&self) -> PointHasherState {
        match self {
            PointHasher::Fast(state) => PointHasherState::Fast(state.build_hasher()),
            PointHasher::DosResistant(state) => {
                PointHasherState::DosResistant(state.build_hasher())
            }
        }
    }
}

impl Hasher for PointHasherState {
    #[inline]
    fn write(&mut self, bytes: &[u8]) {
        match self {
            PointHasherState::Fast(hasher) => hasher.write(bytes),
            PointHasherState::DosResistant(hasher) => hasher.write(bytes),
        }
    }

    #[inline]
    fn write_u8(&mut self, byte: u8) {
        match self {
            PointHasherState::Fast(hasher) => hasher.write_u8(byte),
            PointHasherState::DosResistant(hasher) => hasher.write_u8(byte),
        }
    }

    #[inline]
    fn finish(&self) -> u64 {
        match self {
            PointHasherState::Fast(hasher) => hasher.finish(),
            PointHasherState::DosResistant(hasher) => hasher.finish(),
        }
    }
}

#[cfg(all(test, not(zestor_loom)))]
mod tests {
    use super::*;

    /// papaya may hash a key through `hash_one` or through a built hasher;
    /// both paths must agree for every key, with either choice.
    #[test]
    #[allow(clippy::manual_hash_one)] // the built-hasher path is the point
    fn hash_one_agrees_with_a_built_hasher() {
        for hashing in [KeyHashing::Fast, KeyHashing::DosResistant] {
            let hasher = PointHasher::new(hashing);
            for key in ["", "a", "user-0042", &"long-key-".repeat(20)] {
                let mut state = hasher.build_hasher();
                key.hash(&mut state);
                assert_eq!(hasher.hash_one(key), state.finish(), "{hashing:?} {key:?}");
            }
        }
    }
}
