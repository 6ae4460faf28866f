//! Group 6: watch fan-out — what watchers cost the writer, and replay.
//! (Write → receive latency is in the `latency` binary.)
//!
//! * `watch_writer/{0,1,8,64}`: a writer updates 1K keys while N watchers are
//!   subscribed. Timed: batches of 512 writes; untimed between batches: every
//!   watcher drains what it got. This isolates the *writer's* cost of having
//!   N subscribers from the consumers' work, which on 2 cores would otherwise
//!   measure the scheduler (64 draining threads on 2 cores mostly measure
//!   context switches). It is also what the target "writer cost with 8
//!   watchers at most 2× the cost with none" is about.
//! * `watch_fanout_threads/{1,8}`: end to end — N watcher threads block on
//!   their streams; timed: batches of 512 writes, each until every watcher
//!   has received all of it. On 2 cores this includes the consumers' CPU and
//!   the wake-ups: read it as delivered events per second, not writer cost.
//! * `watch_idle/{0,1,100,1000,10000}`: a single writer updates 1K keys of
//!   one kind while N idle watches on it are live — created, never polled
//!   (issue 11, item 6: none waits, so none should cost a write; `1` shows
//!   what being watched at all costs, the previous values attached).
//!   Timed: the writes alone.
//! * `watch_replay/<n>`: subscribe with replay to a kind of n keys (the base
//!   size, 100K) and consume the replay.
//!
//! Contenders: `support::fanout` (zestor, the locked design, papaya +
//! `tokio::sync::broadcast`).

mod support;

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};
use support::fanout::{Fanout, Locked, PapayaBroadcast, Zestor, BUFFER};
use support::locked::LockedDesign;
use support::{consume, size_label, Keys, Record, KIND};
use zestor::{Store, WatchOptions};

/// Writes per timed batch: under every watcher's buffer (1024), so no
/// watcher ever overflows and every write pays for every watcher.
const BATCH: u64 = 512;

static STAMP: AtomicU64 = AtomicU64::new(1);

/// Writes `count` unique values round-robin over `keys`.
fn write_batch<F: Fanout>(fanout: &F, keys: &[String], count: u64) {
    let stamp = STAMP.fetch_add(1, Ordering::Relaxed) << 32;
    for i in 0..count {
        let index = (stamp + i) as usize % keys.len();
        fanout.write(&keys[index], Record::new(index as u64, stamp | i));
    }
}

/// `watch_writer`: the writer's cost with `watchers` subscribers drained
/// between batches.
fn writer_cost<F: Fanout>(c: &mut Criterion, fanout: &F, keys: &[String], watchers: usize) {
    write_batch(fanout, keys, keys.len() as u64);
    let mut subs: Vec<F::Sub> = (0..watchers).map(|_| fanout.subscribe()).collect();
    let mut group = c.benchmark_group("watch_writer");
    group.throughput(Throughput::Elements(1));
    group.bench_function(BenchmarkId::new(fanout.name(), watchers), |b| {
        b.iter_custom(|iters| {
            let mut total = Duration::ZERO;
            let mut left = iters;
            while left > 0 {
                let count = left.min(BATCH);
                let began = Instant::now();
                write_batch(fanout, keys, count);
                total += began.elapsed();
                for sub in &mut subs {
                    assert_eq!(F::drain(sub), count, "every watcher got every event");
                }
                left -= count;
            }
            total
        })
    });
    group.finish();
}

/// `watch_fanout_threads`: batches written until `watchers` blocking
/// consumer threads have received all of them.
fn fanout_threads<F: Fanout>(c: &mut Criterion, fanout: &F, keys: &[String], watchers: usize) {
    write_batch(fanout, keys, keys.len() as u64);
    let received: Vec<AtomicU64> = (0..watchers).map(|_| AtomicU64::new(0)).collect();
    let subs: Vec<F::Sub> = (0..watchers).map(|_| fanout.subscribe()).collect();
    std::thread::scope(|scope| {
        for (mut sub, count) in subs.into_iter().zip(&received) {
            scope.spawn(move || {
                while let Some(value) = F::recv(&mut sub) {
                    consume(value);
                    count.fetch_add(1, Ordering::Release);
                }
            });
        }
        let mut group = c.benchmark_group("watch_fanout_threads");
        group.throughput(Throughput::Elements(1));
        let mut sent = 0u64;
        group.bench_function(BenchmarkId::new(fanout.name(), watchers), |b| {
            b.iter_custom(|iters| {
                let began = Instant::now();
                let mut left = iters;
                while left > 0 {
                    let count = left.min(BATCH);
                    write_batch(fanout, keys, count);
                    sent += count;
                    // Wait for the slowest consumer before the next batch, so
                    // no one overflows.
                    for done in &received {
                        while done.load(Ordering::Acquire) < sent {
                            std::thread::yield_now();
                        }
                    }
                    left -= count;
                }
                began.elapsed()
            })
        });
        group.finish();
        fanout.close();
    });
}

fn watch_writer(c: &mut Criterion) {
    let keys = Keys::new(1_000).present;
    let watcher_counts: &[usize] = if support::quick() {
        &[0, 1, 8]
    } else {
        &[0, 1, 8, 64]
    };
    for &watchers in watcher_counts {
        writer_cost(c, &Zestor::new(), &keys, watchers);
        writer_cost(c, &Locked(LockedDesign::new()), &keys, watchers);
        writer_cost(c, &PapayaBroadcast::new(), &keys, watchers);
    }
    for watchers in [1, 8] {
        fanout_threads(c, &Zestor::new(), &keys, watchers);
        fanout_threads(c, &Locked(LockedDesign::new()), &keys, watchers);
        fanout_threads(c, &PapayaBroadcast::new(), &keys, watchers);
    }
}

/// `watch_idle`: the writer's cost with `watchers` watches that are never
/// polled.
fn idle_cost(c: &mut Criterion, keys: &[String], watchers: usize) {
    let fanout = Zestor::new();
    write_batch(&fanout, keys, keys.len() as u64);
    let idle: Vec<_> = (0..watchers).map(|_| fanout.subscribe()).collect();
    let mut group = c.benchmark_group("watch_idle");
    group.throughput(Throughput::Elements(1));
    group.bench_function(BenchmarkId::new(fanout.name(), watchers), |b| {
        b.iter_custom(|iters| {
            let began = Instant::now();
            write_batch(&fanout, keys, iters);
            began.elapsed()
        })
    });
    group.finish();
    drop(idle);
}

fn watch_idle(c: &mut Criterion) {
    let keys = Keys::new(1_000).present;
    for watchers in [0, 1, 100, 1_000, 10_000] {
        idle_cost(c, &keys, watchers);
    }
}

fn watch_replay(c: &mut Criterion) {
    let n = support::base_size();
    let keys = Keys::new(n);
    let store = Store::<Record>::new();
    let kind = store.kind(KIND).expect("open store");
    let locked = LockedDesign::new();
    for (i, key) in keys.fill_order().into_iter().enumerate() {
        kind.set(key, Record::new(i as u64, 0))
            .expect("valid write");
        locked.set(KIND, key, Record::new(i as u64, 0));
    }
    let mut group = c.benchmark_group("watch_replay");
    // One iteration replays the whole kind (milliseconds): fewer samples.
    group.sample_size(10);
    group.throughput(Throughput::Elements(n as u64));
    let label = size_label(n);
    group.bench_function(BenchmarkId::new("zestor", &label), |b| {
        b.iter(|| {
            let options = WatchOptions::new().replay(true).buffer_size(BUFFER);
            let mut watch = kind.watch(options).expect("open store");
            let mut replayed = 0;
            while watch.replay_remaining() > 0 {
                let event = watch.try_recv().expect("no overflow");
                consume(event.expect("the replay is ready"));
                replayed += 1;
            }
            assert_eq!(replayed, n);
        })
    });
    group.bench_function(BenchmarkId::new("locked", &label), |b| {
        b.iter(|| {
            let watch = locked.watch(KIND, BUFFER, true);
            let replayed = watch.replay.into_iter().map(consume).count();
            assert_eq!(replayed, n);
        })
    });
    group.finish();
}

criterion_group! {
    name = benches;
    config = support::criterion();
    targets = watch_writer, watch_idle, watch_replay
}
criterion_main!(benches);
