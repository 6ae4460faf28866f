//! P7, atomic multi-key writes: a batch (`set_many`) or a transaction is
//! one revision, and every reader sees all of it or none.
//!
//! # Protocol
//!
//! 1. The owner makes one [`Txn`] (the batch's decision, undecided) and, in
//!    key order, **installs** a version for each key that changes, pointing
//!    at the `Txn` (`IN_TXN`) and linking to the committed state it
//!    replaces — the same step 2–4 as a single-key write (P1, `kind.rs`),
//!    the compare function skipping unchanged keys. A batch with nothing to
//!    change takes no revision.
//! 2. It takes a revision `r` (`head.fetch_add`, after every install), and
//!    for a transaction **validates** its reads: the state of each key it
//!    read, just before `r`, must still be what it read.
//! 3. It **decides**, with one CAS on the `Txn`: committed at `r`. From that
//!    instant every version of the batch is visible to every reader at
//!    once (their status says `IN_TXN`; the `Txn` says committed). Then it
//!    copies `r` into each version (so later readers decide from the
//!    version alone), and publishes the batch as one ring entry at `r`: its
//!    events in key order, contiguous, sharing `r`.
//!
//! # Meeting a batch being installed
//!
//! * A reader (`get`, `read`, a transaction's `get`) reads past it, to the
//!   state it replaced: the owner holds that strongly until it decides.
//! * A writer must replace the batch's version now, and cannot wait: it
//!   **aborts** the `Txn` (one CAS), then writes over the aborted version.
//!   The owner finds the abort at its decision, puts back what it replaced
//!   in the cells it still holds, and starts again (a `set_many` holds its
//!   values in `Arc`s for this; a transaction keeps what its closure wrote).
//! * A snapshot at `R` only needs the batch to land after `R`: it **raises
//!   the `Txn`'s floor** to `R + 1` and reads past it. An owner whose
//!   revision is below the floor publishes it as a hole and takes another
//!   (re-validating a transaction's reads at it).
//!
//! # Invariants and progress
//!
//! * **All or nothing.** The decision is one CAS; a version of an undecided
//!   or aborted batch stands for the state it replaced, for every reader.
//! * **One revision, after every install.** So a snapshot at `R ≥ r` finds
//!   every version of the batch installed (P6's "Exact" argument, `kind.rs`),
//!   and a snapshot at `R < r` reads past them.
//! * **Serializable, strictly.** A transaction's reads are validated after
//!   it took `r` (the `fetch_add` is AcqRel, so every install of a smaller
//!   revision is seen): a conflicting write with a smaller revision is found
//!   (validation fails and the closure runs again), one with a larger
//!   revision comes after it. A transaction that committed before another
//!   began has the smaller revision (I2).
//! * **Progress.** Single-key writes stay lock-free: they never wait for a
//!   batch. Batches are obstruction-free: one that runs alone completes,
//!   but two batches on common keys, or a batch and a stream of single-key
//!   writes, can abort each other; the owner retries.
//! * Installs in key order, and an abort never waits, so no batch waits for
//!   another: there is no cycle to deadlock on.

use super::cell::Cell;
use super::gate::Removed;
use super::kind::{live_delta, Base, Meeting, RawKind, Retry, Ticket};
use super::version::{Gone, Payload, Txn, TxnState, Version};
use crate::sync::{Arc, Ordering};

/// What a batch does to one key.
pub(crate) enum BatchOp<T> {
    /// Store this value (shared, so an aborted attempt can install it again).
    Set(Arc<T>),
    /// Delete the key, if it holds a value.
    Delete,
}

/// One write of a batch.
pub(crate) struct BatchWrite<'k, T> {
    pub(crate) key: &'k str,
    pub(crate) op: BatchOp<T>,
}

/// A key a transaction read, and the committed version it saw (`None`: the
/// key was absent).
pub(crate) struct BatchRead<'k, T> {
    pub(crate) key: &'k str,
    pub(crate) seen: Option<Arc<Version<T>>>,
}

/// What a batch did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum BatchOutcome {
    /// Committed at this revision, changing this many keys.
    Applied { revision: u64, changed: usize },
    /// Nothing changed: no revision was taken.
    Unchanged,
}

/// A transaction's reads no longer hold: run its closure again.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Conflict;

/// Why one attempt of a batch failed.
enum Failure {
    /// A writer aborted it: try the same writes again.
    Aborted,
    /// Its reads no longer hold.
    Conflict,
}

/// A version the batch installed, and what it needs to decide or undo it.
struct Installed<T> {
    version: Arc<Version<T>>,
    /// The committed state it replaced: put back if the batch aborts (`None`:
    /// an empty cell), held strongly until the decision, and pinned for the
    /// snapshots that need it.
    replaced: Option<Arc<Version<T>>>,
    delta: i64,
}

impl<T: Send + Sync + 'static> RawKind<T> {
    /// Applies `writes` (in key order, one per key, validated) atomically,
    /// after checking a transaction's `reads` at its revision.
    /// `Err(Removed)`: the kind was removed (P8), so resolve the name again
    /// (a transaction's reads, made in this kind, are then stale too).
    pub(crate) fn apply_batch(
        &self,
        writes: &[BatchWrite<'_, T>],
        reads: &[BatchRead<'_, T>],
    ) -> Result<Result<BatchOutcome, Conflict>, Removed> {
        let _inside = self.enter()?;
        Ok(self.apply_batch_inside(writes, reads))
    }

    fn apply_batch_inside(
        &self,
        writes: &[BatchWrite<'_, T>],
        reads: &[BatchRead<'_, T>],
    ) -> Result<BatchOutcome, Conflict> {
        debug_assert!(writes.windows(2).all(|pair| pair[0].key < pair[1].key));
        loop {
            let failure = match self.try_batch(writes, reads) {
                Ok(outcome) => return Ok(outcome),
                Err(failure) => failure,
            };
            // Relaxed: a statistic.
            self.batch_retries.fetch_add(1, Ordering::Relaxed);
            match failure {
                Failure::Aborted => continue,
                Failure::Conflict => return Err(Conflict),
            }
        }
    }

    fn try_batch(
        &self,
        writes: &[BatchWrite<'_, T>],
        reads: &[BatchRead<'_, T>],
    ) -> Result<BatchOutcome, Failure> {
        let txn = Arc::new(Txn::new());
        // The compare function runs between installs and may panic: then the
        // guard aborts the batch and undoes its installs as it unwinds.
        let mut guard = Undo {
            kind: self,
            txn: &txn,
            installed: Vec::with_capacity(writes.len()),
        };
        for write in writes {
            match self.install_in(&txn, write) {
                Ok(Some(done)) => guard.installed.push(done),
                Ok(None) => {}
                Err(Failure::Aborted) => {
                    self.undo(&guard.installed);
                    return Err(Failure::Aborted);
                }
                Err(Failure::Conflict) => unreachable!("installs do not validate"),
            }
        }
        let installed = guard.disarm();
        if installed.is_empty() {
            // Nothing to write: a read-only check at the current revision.
            // Acquire: as a snapshot's read of `head` (P6).
            let now = self.head.load(Ordering::Acquire) - 1;
            return if self.reads_hold(reads, now + 1, &txn) {
                Ok(BatchOutcome::Unchanged)
            } else {
                Err(Failure::Conflict)
            };
        }
        let ticket = loop {
            let ticket = Ticket::take(self);
            if !self.reads_hold(reads, ticket.revision, &txn) {
                txn.abort();
                drop(ticket);
                self.undo(&installed);
                return Err(Failure::Conflict);
            }
            match txn.commit(ticket.revision) {
                Ok(()) => break ticket,
                // A snapshot floored it above this revision: take a later one.
                Err(TxnState::Installing { .. }) => drop(ticket),
                Err(_) => {
                    drop(ticket);
                    self.undo(&installed);
                    return Err(Failure::Aborted);
                }
            }
        };
        let revision = ticket.revision;
        let decision = TxnState::Committed(revision);
        let mut delta = 0;
        for done in &installed {
            done.version.finalize(decision);
            delta += done.delta;
        }
        if delta != 0 {
            self.live.fetch_add(delta, Ordering::Relaxed);
        }
        let changed = installed.len();
        let mut replaced = Vec::with_capacity(changed);
        let versions: Box<[Arc<Version<T>>]> = installed
            .into_iter()
            .map(|done| {
                replaced.extend(done.replaced);
                done.version
            })
            .collect();
        let envelope = Arc::new(Version::committed(
            revision,
            Arc::clone(self.name()),
            Payload::Batch(versions),
        ));
        ticket.publish(&envelope, &replaced);
        Ok(BatchOutcome::Applied { revision, changed })
    }

    /// Steps 2–4 of P1 for one key of a batch: `None` if it changes nothing.
    fn install_in(
        &self,
        txn: &Arc<Txn>,
        write: &BatchWrite<'_, T>,
    ) -> Result<Option<Installed<T>>, Failure> {
        loop {
            if txn.state() == TxnState::Aborted {
                return Err(Failure::Aborted);
            }
            let attempt = match write.op {
                BatchOp::Set(_) => self
                    .keys
                    .with_cell_for_insert(write.key, |cell| self.try_install(txn, write, cell)),
                BatchOp::Delete => self.keys.with_cell(write.key, |cell| match cell {
                    Some(cell) => self.try_install(txn, write, cell),
                    None => Ok(None),
                }),
            };
            if let Ok(done) = attempt {
                return Ok(done);
            }
        }
    }

    /// One attempt of `install_in` on the key's cell: `Err(Retry)` if the
    /// cell is dead or changed under it.
    fn try_install(
        &self,
        txn: &Arc<Txn>,
        write: &BatchWrite<'_, T>,
        cell: &Cell<T>,
    ) -> Result<Option<Installed<T>>, Retry> {
        let current = cell.load();
        let base = self.base(cell, &current)?;
        let payload = match (&write.op, &base) {
            (BatchOp::Set(value), Base::Live(old)) => {
                let old = old.live().expect("a live base holds a value");
                if (self.compare)(old, value) {
                    return Ok(None);
                }
                Payload::LiveShared {
                    value: Arc::clone(value),
                    created: false,
                    txn: Some(Arc::clone(txn)),
                }
            }
            (BatchOp::Set(value), Base::Absent(_)) => Payload::LiveShared {
                value: Arc::clone(value),
                created: true,
                txn: Some(Arc::clone(txn)),
            },
            (BatchOp::Delete, Base::Live(old)) => Payload::Deleted {
                previous: Arc::clone(old),
                txn: Some(Arc::clone(txn)),
            },
            (BatchOp::Delete, Base::Absent(_)) => return Ok(None),
        };
        let replaced = base.replaced().cloned();
        let delta = live_delta(&base, &payload);
        let link = match payload {
            Payload::Deleted { .. } => None,
            _ => replaced.as_ref(),
        };
        let version = Arc::new(Version::in_txn(Arc::clone(&current.key), payload, link));
        drop(base);
        if cell.compare_and_swap(&current, &version) {
            Ok(Some(Installed {
                version,
                replaced,
                delta,
            }))
        } else {
            Err(Retry)
        }
    }

    /// True if every read still holds just before `revision`: the committed
    /// state of its key then is the version the transaction saw.
    fn reads_hold(&self, reads: &[BatchRead<'_, T>], revision: u64, txn: &Arc<Txn>) -> bool {
        reads
            .iter()
            .all(|read| match self.state_before(read.key, revision, txn) {
                Ok(state) => match (&state, &read.seen) {
                    (None, None) => true,
                    (Some(now), Some(seen)) => Arc::ptr_eq(now, seen),
                    _ => false,
                },
                Err(Conflict) => false,
            })
    }

    /// The committed version of `key` just before `revision`, not counting
    /// the versions of `txn` itself; `None` if the key was absent.
    /// `Err(Conflict)` if a version it would have to look past is gone.
    fn state_before(
        &self,
        key: &str,
        revision: u64,
        txn: &Arc<Txn>,
    ) -> Result<Option<Arc<Version<T>>>, Conflict> {
        let Some(cell) = self.keys.cell(key) else {
            return Ok(None);
        };
        let mut held = cell.load_full();
        loop {
            let ours = held.txn().is_some_and(|owner| Arc::ptr_eq(owner, txn));
            let before = !ours
                && self
                    .settle(&held, Meeting::Abort)
                    .is_some_and(|committed| committed < revision);
            if before {
                return Ok(match held.payload {
                    Payload::Live { .. } | Payload::LiveShared { .. } => Some(held),
                    _ => None,
                });
            }
            held = match held.predecessor() {
                Ok(Some(replaced)) => replaced,
                Ok(None) => return Ok(None),
                Err(Gone) => return Err(Conflict),
            };
        }
    }
}

/// Undoes a batch's installs if it unwinds before its decision.
struct Undo<'a, T: Send + Sync + 'static> {
    kind: &'a RawKind<T>,
    txn: &'a Arc<Txn>,
    installed: Vec<Installed<T>>,
}

impl<T: Send + Sync + 'static> Undo<'_, T> {
    fn disarm(mut self) -> Vec<Installed<T>> {
        std::mem::take(&mut self.installed)
    }
}

impl<T: Send + Sync + 'static> Drop for Undo<'_, T> {
    fn drop(&mut self) {
        if !self.installed.is_empty() {
            self.txn.abort();
            self.kind.undo(&self.installed);
        }
    }
}

impl<T: Send + Sync + 'static> RawKind<T> {
    /// Puts back the committed state each install replaced, newest first,
    /// where the batch's version is still in the cell (a writer may have
    /// written over it since). An empty cell gets a fresh `Empty` version.
    fn undo(&self, installed: &[Installed<T>]) {
        for done in installed.iter().rev() {
            let key = &done.version.key;
            let back = match &done.replaced {
                Some(replaced) => Arc::clone(replaced),
                None => Arc::new(Version::committed(0, Arc::clone(key), Payload::Empty)),
            };
            self.keys.with_cell(key, |cell| {
                if let Some(cell) = cell {
                    cell.compare_and_swap(&done.version, &back);
                }
            });
        }
    }
}
