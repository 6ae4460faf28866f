//! The raw protocol layer: the lock-free machinery under the public API.
//!
//! Everything here is crate-private; `store.rs`, `kind.rs` and `watch.rs`
//! are the ergonomic layer over it (errors, closed checks, events), the way
//! `crossbeam-skiplist`'s `map` sits over its `base`.
//!
//! # Shape
//!
//! ```text
//! Store ── kinds: OrderedIndex<RawKind>            (crossbeam-skiplist)
//!           RawKind
//!            ├─ keys: KeyIndex                     keys.rs
//!            │    ├─ order: OrderedIndex<Cell>     ordered: list, range, prefix, replay
//!            │    └─ point: PointIndex<Cell>       papaya: point get/set/delete in O(1)
//!            │         Cell = ArcCell<Version>     cell.rs: one CAS register per live key
//!            ├─ head: AtomicU64                    next revision (P1)
//!            ├─ live: AtomicI64                    O(1) count
//!            ├─ ring: Ring                         ring.rs: recent versions by revision (P3)
//!            └─ subscribers: Subscribers           subscriber.rs: copy-on-write, wake-ups
//! ```
//!
//! # Invariants
//!
//! * **I1 per-key order** — the revisions of one key increase in the order
//!   its CASes succeeded (`kind.rs`).
//! * **I2 real-time order** — a write that returned before another started
//!   has the smaller revision (`head` is one counter per kind).
//! * **I3 every revision is published exactly once**, as a version or a
//!   hole, even when user code panics (`Ticket` in `kind.rs`).
//! * **I4 tombstones are terminal** — no CAS leaves a tombstone, so a cell
//!   is unlinked only when dead and no successful CAS lands in an unlinked
//!   cell (`cell.rs`).
//! * **I5 replay converges** — replay then live events, applied in order,
//!   reach the store's state; a replayed value never overwrites a newer one
//!   (`kind.rs`, P4).
//! * **I6 one live cell per key** across both indexes (`keys.rs`).
//!
//! # Linearization points
//!
//! A successful write: its CAS on the cell. A read, or a write that finds
//! nothing to do (unchanged, not found): its load of the cell, or the hash
//! index lookup that found no cell. A watch: the read of `head` that fixes
//! its starting revision.
//!
//! # Orderings
//!
//! Cell and ring-slot loads are Acquire and their CASes Release (the
//! `ArcCell` contract), which carries every version's contents to its
//! readers. `head` is Relaxed: I1/I2 follow from the cell's Acquire/Release
//! and `head`'s coherence. Three `fence(SeqCst)` make the store→load
//! orderings the protocols need — F1 in every producer after publishing,
//! F2 in subscribe after registering, F3 in a consumer before sleeping —
//! and no atomic access is SeqCst (the form loom models exactly).
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

pub(crate) mod cell;
pub(crate) mod cursor;
#[cfg(not(zestor_loom))]
pub(crate) mod index;
#[cfg(zestor_loom)]
#[path = "loom_index.rs"]
pub(crate) mod index;
pub(crate) mod keys;
pub(crate) mod kind;
pub(crate) mod ring;
pub(crate) mod subscriber;
pub(crate) mod version;
