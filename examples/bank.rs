//! Money moves between accounts in transactions, from several threads; an
//! auditor sums snapshots while it moves; a mirror follows the ledger from a
//! snapshot and a resumed watch. Everything it checks, it prints.
//!
//! Run: `cargo run --release --example bank`
//!
//! * Each transfer reads two balances and writes both, as one transaction:
//!   it commits only if neither balance changed since it read them.
//! * Each snapshot the auditor takes is the ledger at one revision, so its
//!   sum is always the total that was deposited — never a transfer half
//!   done.
//! * The mirror starts from a snapshot and watches from its revision + 1:
//!   it sees every transfer exactly once, both legs together (they share a
//!   revision), and ends equal to the ledger.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::thread;
use std::time::{Duration, Instant};

use zestor::{Error, EventType, Store, WatchOptions};

const ACCOUNTS: usize = 20;
const OPENING_BALANCE: i64 = 1_000;
const TELLERS: u64 = 4;
const TRANSFERS_PER_TELLER: u64 = 5_000;

fn account(i: u64) -> String {
    format!("acct-{:02}", i % ACCOUNTS as u64)
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let store = Store::<i64>::builder().ring_capacity(1 << 16).build();
    let ledger = store.kind("ledger")?;
    ledger.set_many((0..ACCOUNTS as u64).map(|i| (account(i), OPENING_BALANCE)))?;
    let total = OPENING_BALANCE * ACCOUNTS as i64;

    // The mirror's starting point: a snapshot, and the revision after it.
    let start = ledger.snapshot()?;
    let mut mirror: BTreeMap<String, i64> = start
        .list()
        .into_iter()
        .map(|(key, value)| (key.to_string(), *value))
        .collect();
    let mut watch = ledger.watch(
        WatchOptions::new()
            .start_revision(start.revision() + 1)
            .buffer_size(1 << 16),
    )?;
    drop(start);

    let done = AtomicBool::new(false);
    let reruns = AtomicU64::new(0);
    let rejected = AtomicU64::new(0);
    let started = Instant::now();
    let audits = thread::scope(|scope| -> Result<u64, Error> {
        let tellers: Vec<_> = (0..TELLERS)
            .map(|teller| {
                let (ledger, reruns, rejected) = (&ledger, &reruns, &rejected);
                scope.spawn(move || -> Result<(), Error> {
                    for i in 0..TRANSFERS_PER_TELLER {
                        let from = account(teller * 7 + i * 3);
                        let to = account(teller * 13 + i * 5 + 1);
                        if from == to {
                            continue;
                        }
                        let amount = (i % 10) as i64 + 1;
                        let mut runs = 0;
                        let result = ledger.transaction(|tx| {
                            runs += 1;
                            let a = tx.get(&from).map_or(0, |v| *v);
                            let b = tx.get(&to).map_or(0, |v| *v);
                            if a < amount {
                                return Err("insufficient funds");
                            }
                            tx.set(&from, a - amount);
                            tx.set(&to, b + amount);
                            Ok(())
                        });
                        reruns.fetch_add(runs - 1, Ordering::Relaxed);
                        match result {
                            Ok(()) => {}
                            Err(Error::Transaction(_)) => {
                                rejected.fetch_add(1, Ordering::Relaxed);
                            }
                            Err(error) => return Err(error),
                        }
                    }
                    Ok(())
                })
            })
            .collect();
        let auditor = scope.spawn(|| -> Result<u64, Error> {
            let mut audits = 0;
            while !done.load(Ordering::Relaxed) {
                let snapshot = ledger.snapshot()?;
                let sum: i64 = snapshot.values().iter().map(|balance| **balance).sum();
                assert_eq!(
                    sum,
                    total,
                    "audit at revision {}: the books do not balance",
                    snapshot.revision()
                );
                assert!(snapshot.values().iter().all(|balance| **balance >= 0));
                audits += 1;
            }
            Ok(audits)
        });
        for teller in tellers {
            teller.join().expect("teller")?;
        }
        done.store(true, Ordering::Relaxed);
        auditor.join().expect("auditor")
    })?;
    let elapsed = started.elapsed();

    // The mirror: every event since the snapshot, each revision's events
    // together.
    let mut revisions = 0;
    let mut events = 0;
    let mut open: Option<u64> = None;
    while let Some(event) = watch.recv_timeout(Duration::from_millis(100))? {
        events += 1;
        assert_eq!(event.event_type, EventType::Update);
        mirror.insert(event.key.to_string(), *event.value);
        if let Some(revision) = open {
            assert_eq!(event.revision, revision, "both legs of a transfer together");
        }
        open = Some(event.revision);
        if event.revision == watch.revision() {
            revisions += 1; // the transfer is complete
            open = None;
        }
    }
    let books: BTreeMap<String, i64> = ledger
        .list()?
        .into_iter()
        .map(|(key, value)| (key.to_string(), *value))
        .collect();
    let transfers = TELLERS * TRANSFERS_PER_TELLER;
    println!(
        "{transfers} transfers tried by {TELLERS} tellers in {elapsed:?}: {} committed, {} refused (insufficient funds), {} closure reruns after a conflict",
        revisions,
        rejected.load(Ordering::Relaxed),
        reruns.load(Ordering::Relaxed),
    );
    println!("auditor: {audits} snapshots, every one summing to {total}");
    println!(
        "mirror: {events} events in {revisions} revisions, two legs each; equal to the ledger: {}",
        mirror == books
    );
    assert_eq!(mirror, books, "the mirror followed the ledger exactly");
    assert_eq!(
        books.values().sum::<i64>(),
        total,
        "money neither made nor lost"
    );
    println!("checked: the books balance at every revision, and the mirror is exact");
    Ok(())
}
