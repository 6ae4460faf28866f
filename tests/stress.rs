//! Stress: writers hammer a small key space with set / update / delete while
//! a replay watcher mirrors the kind, re-subscribing whenever it overflows.
//! At the end the mirror equals `list()` and `count()`, and along every live
//! stream revisions strictly increase.
//!
//! Size it with `ZESTOR_STRESS_OPS` (operations per writer; default 200 000).

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::thread;
use std::time::{Duration, Instant};

use zestor::{Error, EventType, Store, WatchError, WatchOptions};

const KEYS: u64 = 16;
const WRITERS: u64 = 3;

mod support;
use support::Rng;

fn ops_per_writer() -> u64 {
    if cfg!(miri) {
        return 50;
    }
    std::env::var("ZESTOR_STRESS_OPS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(200_000)
}

#[derive(Default, Debug)]
struct MirrorReport {
    mirror: BTreeMap<String, u64>,
    events: u64,
    subscriptions: u64,
    overflows: u64,
}

#[test]
fn flat_out_writers_and_a_mirroring_watcher() {
    // The mirror cannot keep up with three writers on two cores: it overflows
    // and re-subscribes many times, which is what this run exercises.
    run(ops_per_writer(), false);
}

#[test]
fn paced_writers_and_a_mirroring_watcher() {
    // Writers yield after every operation, so the mirror mostly keeps up and
    // long live streams are checked.
    run(ops_per_writer() / 4, true);
}

fn run(ops: u64, paced: bool) {
    let started = Instant::now();
    let store = Store::<u64>::builder().ring_capacity(1024).build();
    let writers_done = AtomicBool::new(false);

    let report = thread::scope(|scope| {
        let writers: Vec<_> = (0..WRITERS)
            .map(|writer| {
                let store = &store;
                scope.spawn(move || {
                    let mut rng = Rng(0x9E37_79B9_7F4A_7C15 ^ (writer + 1));
                    for _ in 0..ops {
                        let roll = rng.next();
                        let key = format!("key-{:02}", roll % KEYS);
                        match (roll >> 8) % 10 {
                            0..=4 => {
                                store.set("k", &key, roll >> 16).unwrap();
                            }
                            5..=7 => match store
                                .update("k", &key, |v| Ok::<_, Error>(v.wrapping_add(1)))
                            {
                                Ok(_) | Err(Error::KeyNotFound) => {}
                                Err(e) => panic!("update: {e}"),
                            },
                            _ => {
                                store.delete("k", &key).unwrap();
                            }
                        }
                        if paced {
                            thread::yield_now();
                        }
                    }
                })
            })
            .collect();

        // A reader checking scans stay sorted and agree with themselves.
        let reader = scope.spawn(|| {
            let mut scans = 0u64;
            while !writers_done.load(Ordering::Acquire) {
                let list = store.list("k").unwrap();
                assert!(list.windows(2).all(|w| w[0].0 < w[1].0));
                assert!(list.len() as u64 <= KEYS);
                scans += 1;
            }
            scans
        });

        let mirror = scope.spawn(|| {
            let mut report = MirrorReport::default();
            let subscribe = |report: &mut MirrorReport| {
                report.subscriptions += 1;
                store
                    .watch("k", WatchOptions::new().replay(true).buffer_size(1024))
                    .unwrap()
            };
            let mut watch = subscribe(&mut report);
            let mut last_live = 0u64;
            let mut last_replayed_key: Option<String> = None;
            loop {
                let replaying = watch.replay_remaining() > 0;
                match watch.recv_timeout(Duration::from_millis(200)) {
                    Ok(Some(event)) => {
                        report.events += 1;
                        if replaying {
                            assert_eq!(event.event_type, EventType::Create);
                            if let Some(previous) = &last_replayed_key {
                                assert!(**previous < *event.key, "replay in key order");
                            }
                            last_replayed_key = Some(event.key.to_string());
                        } else {
                            assert!(
                                event.revision > last_live,
                                "live revisions strictly increase: {} after {last_live}",
                                event.revision
                            );
                            last_live = event.revision;
                        }
                        match event.event_type {
                            EventType::Create | EventType::Update => {
                                report.mirror.insert(event.key.to_string(), *event.value);
                            }
                            EventType::Delete => {
                                report.mirror.remove(&*event.key);
                            }
                        }
                    }
                    Ok(None) => {
                        if writers_done.load(Ordering::Acquire) {
                            return report;
                        }
                    }
                    Err(WatchError::Overflow) => {
                        report.overflows += 1;
                        report.mirror.clear();
                        last_live = 0;
                        last_replayed_key = None;
                        watch = subscribe(&mut report);
                    }
                    Err(WatchError::Closed) => panic!("the store was not closed"),
                }
            }
        });

        for writer in writers {
            writer.join().unwrap();
        }
        writers_done.store(true, Ordering::Release);
        let scans = reader.join().unwrap();
        let report = mirror.join().unwrap();
        eprintln!(
            "stress (paced: {paced}): {} writers x {ops} ops, {} events, {} subscriptions ({} overflows), {scans} scans, {:?}",
            WRITERS,
            report.events,
            report.subscriptions,
            report.overflows,
            started.elapsed()
        );
        report
    });

    let listed: BTreeMap<String, u64> = store
        .list("k")
        .unwrap()
        .into_iter()
        .map(|(k, v)| (k.to_string(), *v))
        .collect();
    assert_eq!(report.mirror, listed, "the mirror converged on the store");
    assert_eq!(store.count("k").unwrap(), listed.len(), "count agrees");
    assert_eq!(store.keys("k").unwrap().len(), listed.len());
}
