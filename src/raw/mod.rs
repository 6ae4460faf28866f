//! The raw protocol layer: the lock-free machinery under the public API.
//!
//! Everything here is crate-private, and names nothing above it: only
//! `crate::sync` (the loom seam), `crate::error`, and itself. The public
//! layer (`store.rs`, `kind.rs`, `ops.rs`, `watch.rs`, `value.rs`) adds
//! argument checks, the closed check and the event type on top, the way
//! `crossbeam-skiplist`'s `map` sits over its `base`. The vocabulary types
//! users see — [`KeyHashing`](hash::KeyHashing),
//! [`SetResult`](kind::SetResult), [`EventType`](version::EventType) — are
//! defined here, where the protocols use them, and re-exported by `lib.rs`.
//!
//! # Shape
//!
//! ```text
//! RawStore                                 store.rs: the kinds by name; close (P5)
//!  └─ kinds: OrderedIndex<RawKind>         index.rs: crossbeam-skiplist (loom_index.rs under loom)
//!      RawKind                             kind.rs: writes (P1), subscribe with replay (P4)
//!       ├─ keys: KeyIndex                  keys.rs: two indexes, one cell per key (I6)
//!       │    ├─ order: OrderedIndex<Cell>  ordered: list, range, prefix, replay
//!       │    └─ point: PointIndex<Cell>    papaya, hashed by hash.rs: point get/set/delete
//!       │         Cell                     cell.rs: a CAS register of Versions (I4)
//!       ├─ head: AtomicU64                 the next revision
//!       ├─ live: AtomicI64                 the O(1) count
//!       ├─ ring: Ring                      ring.rs: recent versions by revision (P3)
//!       └─ subscribers: Subscribers        subscriber.rs: what producers know of watchers; wake-ups
//!  Version                                 version.rs: one allocation per write, cell and event at once
//!  Cursor                                  cursor.rs: one watcher's position: replay, then the ring
//! ```
//!
//! # Where each argument lives
//!
//! | what | module |
//! |---|---|
//! | P1 write protocol; I1 per-key order, I2 real-time order, I3 every revision published once (`Ticket`) | [`kind`] |
//! | P4 subscribe with replay, the replay floor; I5 replay converges | [`kind`] |
//! | P3 the event ring, producer side | [`ring`] |
//! | P3 the consumer side: delivery order, the three overflow rules | [`cursor`] |
//! | wake-ups without lost signals (F1/F3), the subscriber list | [`subscriber`] |
//! | P5 close | [`store`] |
//! | I4 tombstones are terminal | [`cell`] |
//! | I6 one live cell per key across both indexes; why two indexes | [`keys`] |
//! | reads that write no shared memory; the maps' seams | [`index`] |
//! | the loom seam and its stand-ins | `crate::sync` |
//!
//! # The fences
//!
//! No atomic access is SeqCst. Every store→load ("Dekker") ordering the
//! protocols need is one of three `fence(SeqCst)`, the form loom models
//! exactly; each is named where it stands and pairs with the others:
//!
//! | fence | where | orders | pairs with |
//! |---|---|---|---|
//! | F1 | every producer after its write (`Subscribers::wake_after_write`), after marking an overflow (`Subscriber::mark_overflowed`), and `RawStore::close` before it scans the kinds | the write (ring slot, flag) before the loads of the subscriber count, the list and each `waiting` | F2, F3 |
//! | F2 | `Subscribers::register`, after adding a subscriber | the registration before the subscriber's next reads: the replay walk (P4) | F1 |
//! | F3 | `Subscriber::prepare_wait`, before sleeping | `waiting = true` before the re-check | F1 |
//!
//! # Linearization points
//!
//! A successful write: its CAS on the cell. A read, or a write that finds
//! nothing to do (unchanged, not found): its load of the cell, or the hash
//! index lookup that found no cell. A watch: the read of `head` that fixes
//! its starting revision.
//!
//! # Failure modes, and what they cost
//!
//! * A writer stalled between taking a revision and publishing it delays
//!   watchers (they deliver in revision order), never readers or writers;
//!   if it stalls for a whole lap of the ring, the watchers it would have
//!   gapped are overflowed instead.
//! * A panic in user code happens before a revision is taken; any later
//!   unwind drops the `Ticket`, which publishes a hole.
//! * A watcher that falls behind more than its buffer is overflowed; it
//!   never slows a producer.

pub(crate) mod batch;
pub(crate) mod cell;
pub(crate) mod cursor;
pub(crate) mod hash;
#[cfg(not(zestor_loom))]
pub(crate) mod index;
#[cfg(zestor_loom)]
#[path = "loom_index.rs"]
pub(crate) mod index;
pub(crate) mod keys;
pub(crate) mod kind;
pub(crate) mod ring;
pub(crate) mod snapshot;
pub(crate) mod stack;
pub(crate) mod store;
pub(crate) mod subscriber;
pub(crate) mod version;

#[cfg(all(test, zestor_loom))]
mod tests;
