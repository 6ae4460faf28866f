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
//!      RawKind                             kind.rs: writes (P1), snapshots (P6), subscribing (P4)
//!       ├─ gate: Gate                      gate.rs: who is changing the kind; removing it (P8)
//!       ├─ keys: KeyIndex                  keys.rs: two indexes, one cell per key (I6)
//!       │    ├─ order: LazyOrderedIndex    lazy.rs: the skip list, made on the first key; list, range, prefix
//!       │    └─ point: PointIndex<Cell>    papaya, hashed by hash.rs, built at the 64th key: point get/set/delete
//!       │         Cell                     cell.rs: a CAS register of Versions (I4)
//!       ├─ head: AtomicU64                 the next revision
//!       ├─ live: AtomicI64                 the O(1) count
//!       ├─ ring: Ring                      ring.rs: recent versions by revision (P3)
//!       ├─ subscribers: Subscribers        subscriber.rs: what producers know of watchers; wake-ups
//!       ├─ snapshots: SnapshotRegistry     snapshot.rs: held snapshots and their pins (P6)
//!       └─ graveyard: Stack                stack.rs: deleted cells kept for snapshots (P6)
//!  journal: JournalHook                    journal.rs: a copy of record told each revision (J1–J3)
//!  Version, Txn                            version.rs: one allocation per write; its status word
//!  batch                                   batch.rs: atomic multi-key writes (P7)
//!  Cursor                                  cursor.rs: one watcher's position: replay, then the ring
//! ```
//!
//! # Where each argument lives
//!
//! | what | module |
//! |---|---|
//! | P1 write protocol (install, then stamp); I1 per-key order, I2 real-time order, I3 every revision published once (`Ticket`) | [`kind`] |
//! | P6 snapshots: exact, the walk back never breaks, deleted keys stay findable | [`kind`], [`snapshot`] |
//! | P4 subscribe with replay (a snapshot, then every event after it); I5 replay converges | [`kind`] |
//! | P7 atomic batches and transactions: all or nothing, one revision, serializable | [`batch`] |
//! | the status word of a version and a transaction's decision | [`version`] |
//! | P3 the event ring, producer side | [`ring`] |
//! | P3 the consumer side: delivery order, the three overflow rules, prefix filtering | [`cursor`] |
//! | previous values: attached while watched, kept for resumed cursors | [`ring`], [`cursor`] |
//! | wake-ups without lost signals (F1/F3), the subscriber list | [`subscriber`] |
//! | P5 close | [`store`] |
//! | P8 removing a kind: the gate, a removal that waits for nobody and loses to any writer, revisions that continue across it | [`gate`] |
//! | J1–J3 the journal hook: every revision recorded once; admit and sync around a write; restoring a kind | [`journal`] |
//! | I4 dying cells are terminal; tombstones are claimed `KEEP` or `DYING` | [`cell`] |
//! | I6 one live cell per key across both indexes; why two indexes; the hash index built at the 64th key (F4) | [`keys`] |
//! | reads that write no shared memory; the maps' seams | [`index`] |
//! | a kind's key order allocated on its first key, installed once without waiting | [`lazy`] |
//! | the loom seam and its stand-ins | `crate::sync` |
//!
//! # The fences
//!
//! No atomic access is SeqCst. Every store→load ("Dekker") ordering the
//! protocols need is one of four `fence(SeqCst)`, the form loom models
//! exactly; each is named where it stands and pairs with the others:
//!
//! | fence | where | orders | pairs with |
//! |---|---|---|---|
//! | F1 | every producer after its write (`RawKind::publish`), after marking an overflow (`Subscriber::mark_overflowed`), `RawStore::close` before it scans the kinds, and a graveyard sweep (`RawKind::sweep`) | the write (revision, ring slot, flag) before the loads of the subscriber list, the count of sleepers, each `waiting` flag, and the snapshot registry | F2, F3 |
//! | F2 | `Subscribers::register`, after adding a subscriber; `SnapshotRegistry::register`, after adding a snapshot | the registration before the reads that follow it: the ring; `head`, which fixes the snapshot's revision | F1 |
//! | F3 | `Subscriber::prepare_wait`, before sleeping | `waiting = true` and the kind's count of sleepers before the re-check | F1 |
//! | F4 | `KeyIndex::publish`, a writer of a kind whose hash index it has not seen built; `KeyIndex::fill`, after building it | the cell's insert into the ordered index before the second look for the hash index; the hash index's `set` before the fill's scan | F4 (the other side) |
//!
//! # Linearization points
//!
//! A single-key write: the stamp of its version (its CAS from pending to a
//! revision, by the writer or a helper). A batch or transaction: the CAS
//! that commits its `Txn`. A read, or a write that finds nothing to do
//! (unchanged, not found): its load of the cell and of the version's status
//! (a version not stamped yet reads as the one it replaced), or the hash
//! index lookup that found no cell. A snapshot, and a watch: the read of
//! `head` that fixes its revision. A removal: its second CAS on the kind's
//! gate (R2), which needs no fence — one word orders it against every
//! writer and registration (`gate.rs`).
//!
//! # Failure modes, and what they cost
//!
//! * A writer stalled after installing its version is finished by whoever
//!   meets the version next (a writer of the key, a snapshot): nobody waits
//!   for it. One stalled after taking a revision and before publishing it
//!   delays watchers (they deliver in revision order), never readers or
//!   writers; if it stalls for a whole lap of the ring, the watchers it
//!   would hold up are overflowed.
//! * A panic in user code happens before anything is installed (a
//!   `set_many` takes back what it installed); a later unwind drops the
//!   `Ticket`, which publishes a hole.
//! * A batch or transaction that meets a single-key write on one of its
//!   keys while it installs is aborted and starts over (obstruction-free).
//! * A watcher that falls behind more than its buffer is overflowed; it
//!   never slows a producer.
//! * A thread stalled inside a kind's gate (a preempted writer, an
//!   `update` closure that blocks) makes every removal of that kind report
//!   `Busy` until it leaves; no writer ever waits for a removal, and a
//!   remover stalled between its two CASes is cancelled by the next thread
//!   that enters (`gate.rs`).

pub(crate) mod batch;
pub(crate) mod cell;
pub(crate) mod cursor;
pub(crate) mod gate;
pub(crate) mod hash;
#[cfg(not(zestor_loom))]
pub(crate) mod index;
#[cfg(zestor_loom)]
#[path = "loom_index.rs"]
pub(crate) mod index;
pub(crate) mod journal;
pub(crate) mod keys;
pub(crate) mod kind;
pub(crate) mod lazy;
pub(crate) mod ring;
pub(crate) mod snapshot;
pub(crate) mod stack;
pub(crate) mod store;
pub(crate) mod subscriber;
pub(crate) mod version;

#[cfg(all(test, zestor_loom))]
mod tests;
