//! The pattern users copy: keep a local replica of a kind in sync while
//! writers run, resynchronizing from a snapshot whenever the watcher
//! overflows.
//!
//! Run: `cargo run --release --example mirror`
//!
//! Writers update prices flat out; the mirror applies events as they come.
//! The mirror's buffer is deliberately small so it overflows now and then,
//! and recovers: it takes a snapshot (the kind at one revision), replaces its
//! replica with it, and watches again from the snapshot's revision + 1 —
//! no gap, no duplicate, no stale value.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::thread;
use std::time::{Duration, Instant};

use zestor::{Error, EventType, Store, Watch, WatchError, WatchOptions};

/// A local replica of one kind, kept in sync from a watch.
struct Mirror {
    entries: BTreeMap<String, u64>,
    resyncs: usize,
    events: usize,
}

impl Mirror {
    /// Follows `kind` until `stop` is set and the stream is quiet.
    fn follow(store: &Store<u64>, kind: &str, stop: &AtomicBool) -> Result<Mirror, Error> {
        let mut mirror = Mirror {
            entries: BTreeMap::new(),
            resyncs: 0,
            events: 0,
        };
        let options = WatchOptions::new().replay(true).buffer_size(512);
        let mut watch = store.watch(kind, options)?;
        loop {
            match watch.recv_timeout(Duration::from_millis(50)) {
                Ok(Some(event)) => {
                    mirror.events += 1;
                    match event.event_type {
                        EventType::Create | EventType::Update => {
                            mirror.entries.insert(event.key.to_string(), *event.value);
                        }
                        EventType::Delete => {
                            mirror.entries.remove(&*event.key);
                        }
                    }
                }
                Ok(None) if stop.load(Ordering::Acquire) => return Ok(mirror),
                Ok(None) => {}
                // Fell behind: events were lost. Start over from a snapshot,
                // and follow on from exactly its revision.
                Err(WatchError::Overflow) => {
                    mirror.resyncs += 1;
                    watch = resync(store, kind, &mut mirror.entries)?;
                }
                Err(WatchError::Closed) => return Ok(mirror),
            }
        }
    }
}

/// Replaces `entries` with a snapshot of `kind`, and watches from the
/// snapshot's revision + 1. If the writers lapped the kind's event ring
/// between the two calls (`Compacted`), it takes another snapshot.
fn resync(
    store: &Store<u64>,
    kind: &str,
    entries: &mut BTreeMap<String, u64>,
) -> Result<Watch<u64>, Error> {
    loop {
        let snapshot = store.snapshot(kind)?;
        let resume = WatchOptions::new()
            .start_revision(snapshot.revision() + 1)
            .buffer_size(512);
        match store.watch(kind, resume) {
            Ok(watch) => {
                *entries = snapshot
                    .list()
                    .into_iter()
                    .map(|(key, value)| (key.to_string(), *value))
                    .collect();
                return Ok(watch);
            }
            Err(Error::Compacted { .. }) => continue,
            Err(error) => return Err(error),
        }
    }
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let store = Store::<u64>::new();
    let prices = store.kind("prices")?;
    for item in 0..100 {
        prices.set(&format!("item-{item:03}"), 100)?;
    }

    let stop = AtomicBool::new(false);
    let started = Instant::now();
    let mirror = thread::scope(|scope| {
        let follower = scope.spawn(|| Mirror::follow(&store, "prices", &stop));
        let writers: Vec<_> = (0..2u64)
            .map(|writer| {
                let prices = prices.clone();
                scope.spawn(move || {
                    for i in 0..200_000u64 {
                        let key = format!("item-{:03}", (i * 7 + writer * 13) % 100);
                        if i % 50 == 0 {
                            prices.delete(&key).unwrap();
                        } else if i % 3 == 0 {
                            prices.set(&key, i).unwrap();
                        } else {
                            // Missing after a delete: fine, skip it.
                            let _ = prices.update(&key, |p| Ok::<_, Error>(p + 1));
                        }
                    }
                })
            })
            .collect();
        for writer in writers {
            writer.join().expect("writer");
        }
        stop.store(true, Ordering::Release);
        follower.join().expect("follower")
    })?;

    let store_state: BTreeMap<String, u64> = prices
        .list()?
        .into_iter()
        .map(|(key, value)| (key.to_string(), *value))
        .collect();
    println!(
        "mirror: {} entries after {} events and {} resyncs in {:?}",
        mirror.entries.len(),
        mirror.events,
        mirror.resyncs,
        started.elapsed()
    );
    println!(
        "store:  {} entries, revision {}",
        store_state.len(),
        prices.revision()?
    );
    assert_eq!(
        mirror.entries, store_state,
        "the mirror converged on the store"
    );
    println!("in sync: the replica equals the store");
    Ok(())
}
