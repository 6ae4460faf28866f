//! Group 9: what a [`Mirror`](zestor::Mirror) and a prefix watch cost
//! (issue 9). zestor against itself: the same write stream received in
//! several ways, and a resync next to the re-list it replaces.
//!
//! * `mirror_receive/<name>/<batch>`: per event received, by a `Mirror`
//!   (`zestor`), by a plain `Watch` (`zestor_watch`), and by a plain watch
//!   whose consumer keeps its own `BTreeMap` replica
//!   (`zestor_watch_replica`: the hand-written mirror a user would keep
//!   before `Mirror`, minus its resync). A kind of 10K keys (1K
//!   quick), updates to random keys, drained after every `batch` writes.
//!   Target: the mirror's cost per event at most 1.5× the watch's.
//! * `mirror_resync/<name>/100K`: a mirror of a kind of `base_size` keys
//!   that has fallen behind while 1% of the keys changed: the `try_recv`
//!   that resyncs plus the drain of what it yields (`zestor`), next to what
//!   the hand-written pattern does instead, a snapshot listed into a fresh
//!   `BTreeMap` (`zestor_relist`). Every iteration checks, untimed, that
//!   the mirror yielded exactly one event per changed key (1,000, not
//!   100K) and that its `resyncs()` went up by one; the counts go to
//!   `mirror_resync.csv` for `ci/bench-report.py`.
//! * `watch_prefix/<name>/<batch>`: per write to a kind of 10 prefixes
//!   (`p0/`..`p9/`, 1K keys each, 100 quick), writes spread uniformly over
//!   all of them, received by a watch with `.prefix("p3/")` (`zestor`) and
//!   by a plain watch whose consumer drops the other keys
//!   (`zestor_consumer_filter`). Both read the same writes; about a tenth
//!   are delivered. The time is per write made, so the ratio is the cost
//!   of filtering in the cursor against building and dropping the other
//!   nine tenths of the events.
//!
//! # Why writes first, then a timed drain, in two batch sizes
//!
//! Each receive benchmark writes a batch untimed, then times only the
//! consumer draining it with `try_recv` until it has all of it. The ring
//! and the buffers hold four of the largest batch, so a drain never meets
//! an overflow (each checks it got exactly the batch's events; the mirror
//! checks it never resynced): what is timed is the receive path itself —
//! reading the ring, building the event, and for a mirror updating its
//! replica and reading the replaced value from it. A writer thread racing
//! a consumer thread would instead time the scheduler on this 2-core
//! machine (see `watch_fanout_threads`), and the slower side would set the
//! pace for both contenders.
//!
//! The batch size decides where the events are when they are read, and
//! the two columns bracket a real consumer's case. After 500 writes
//! (`500`) the versions, keys and ring slots just written are still in
//! this core's L1/L2: the pure CPU cost of a consumer that keeps up, a
//! lower bound. After 8,000 (`8K`) most of them have left L2 (512 KB
//! here) for L3, as they would for a consumer on another core or one
//! working through a backlog: each event then costs a few cache misses
//! (the ring entry, the version, its key), which every contender pays
//! alike.

mod support;

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use criterion::measurement::WallTime;
use criterion::{
    criterion_group, criterion_main, BenchmarkGroup, BenchmarkId, Criterion, Throughput,
};
use support::{consume, key, size_label, Keys, Record, Rng, KIND};
use zestor::{Event, EventType, Kind, Mirror, Store, Value, Watch, WatchOptions};

/// Writes per drain, one column each (see the module docs).
const BATCHES: [u64; 2] = [500, 8_000];

/// The ring of the receive benchmarks, and every watcher's buffer: four of
/// the largest batch, so no cursor is ever lapped or more than its buffer
/// behind.
const RING: usize = 32_768;

static STAMP: AtomicU64 = AtomicU64::new(1);

/// A unique stamp per batch, so no write is ever "unchanged".
fn next_stamp() -> u64 {
    STAMP.fetch_add(1, Ordering::Relaxed) << 32
}

/// A store with a ring that holds four batches, and a kind of `keys`
/// filled in a shuffled order.
fn filled(keys: &[String]) -> (Store<Record>, Kind<Record>) {
    let store = Store::<Record>::builder().ring_capacity(RING).build();
    let kind = store.kind(KIND).expect("open store");
    let mut order: Vec<usize> = (0..keys.len()).collect();
    Rng::new(0xF111).shuffle(&mut order);
    for i in order {
        kind.set(&keys[i], Record::new(i as u64, 0))
            .expect("valid write");
    }
    (store, kind)
}

/// The writes of the receive benchmarks: key indices drawn uniformly, long
/// enough to be walked in order without a visible period. Every contender
/// walks the same sequence.
struct Writes {
    order: Vec<u32>,
    at: usize,
}

impl Writes {
    fn new(keys: usize) -> Self {
        let mut rng = Rng::new(0x3117);
        let len = (keys * 4).max(1 << 16);
        let order = (0..len).map(|_| rng.below(keys as u64) as u32).collect();
        Writes { order, at: 0 }
    }

    /// Writes `count` updates; returns how many were to keys for which
    /// `delivered` (given the key's index) is true.
    fn write(
        &mut self,
        kind: &Kind<Record>,
        keys: &[String],
        count: u64,
        delivered: impl Fn(usize) -> bool,
    ) -> u64 {
        let stamp = next_stamp();
        let mut events = 0;
        for i in 0..count {
            let index = self.order[self.at] as usize;
            self.at = (self.at + 1) % self.order.len();
            kind.set(&keys[index], Record::new(index as u64, stamp | i))
                .expect("valid write");
            events += u64::from(delivered(index));
        }
        events
    }
}

/// One contender of a receive group: for each of `BATCHES`, `iters` writes
/// to `kind` in batches, each written untimed, then received by `drain`
/// (which says how many events it got), timed. `delivered` says which key
/// indices the drain should get an event for.
fn bench_batches(
    group: &mut BenchmarkGroup<'_, WallTime>,
    name: &str,
    kind: &Kind<Record>,
    keys: &[String],
    delivered: impl Fn(usize) -> bool,
    mut drain: impl FnMut() -> u64,
) {
    let mut writes = Writes::new(keys.len());
    for batch in BATCHES {
        group.bench_function(BenchmarkId::new(name, size_label(batch as usize)), |b| {
            b.iter_custom(|iters| {
                let mut total = Duration::ZERO;
                let mut left = iters;
                while left > 0 {
                    let count = left.min(batch);
                    let expected = writes.write(kind, keys, count, &delivered);
                    let began = Instant::now();
                    let received = drain();
                    total += began.elapsed();
                    assert_eq!(received, expected, "every event of the batch, nothing else");
                    left -= count;
                }
                total
            })
        });
    }
}

/// Receives everything `watch` has ready; how many.
fn drain_watch(watch: &mut Watch<Record>) -> u64 {
    let mut received = 0;
    while let Some(event) = watch.try_recv().expect("no overflow") {
        consume(event);
        received += 1;
    }
    received
}

/// Receives everything `mirror` has ready; how many.
fn drain_mirror(mirror: &mut Mirror<Record>) -> u64 {
    let mut received = 0;
    while let Some(event) = mirror.try_recv().expect("open store") {
        consume(event);
        received += 1;
    }
    received
}

/// A hand-kept replica, fed from a plain watch.
fn apply(replica: &mut BTreeMap<Arc<str>, Value<Record>>, event: Event<Record>) {
    match event.event_type {
        EventType::Create | EventType::Update => {
            consume(replica.insert(event.key, event.value));
        }
        EventType::Delete => {
            consume(replica.remove(&event.key));
        }
    }
}

fn mirror_receive(c: &mut Criterion) {
    let n = if support::quick() { 1_000 } else { 10_000 };
    let keys: Vec<String> = (0..n as u64).map(key).collect();
    let options = WatchOptions::new().buffer_size(RING);
    let mut group = c.benchmark_group("mirror_receive");
    group.throughput(Throughput::Elements(1));
    let every = |_| true;

    let (_store, kind) = filled(&keys);
    let mut mirror = kind.mirror_with(options.clone()).expect("open store");
    assert_eq!(drain_mirror(&mut mirror), n as u64, "the initial creates");
    bench_batches(&mut group, "zestor", &kind, &keys, every, || {
        drain_mirror(&mut mirror)
    });
    // Otherwise some of what was timed was a resync, not the live path.
    assert_eq!(mirror.resyncs(), 0, "the mirror never fell behind");
    assert_eq!((mirror.pending(), mirror.len()), (0, n));

    let (_store, kind) = filled(&keys);
    let mut watch = kind.watch(options.clone()).expect("open store");
    bench_batches(&mut group, "zestor_watch", &kind, &keys, every, || {
        drain_watch(&mut watch)
    });

    let (_store, kind) = filled(&keys);
    let mut watch = kind.watch(options).expect("open store");
    // Starts as the kind's state, as a replayed watch would leave it, so
    // every timed event updates a held key (as in the mirror).
    let mut replica: BTreeMap<Arc<str>, Value<Record>> =
        kind.list().expect("open store").into_iter().collect();
    bench_batches(
        &mut group,
        "zestor_watch_replica",
        &kind,
        &keys,
        every,
        || {
            let mut received = 0;
            while let Some(event) = watch.try_recv().expect("no overflow") {
                apply(&mut replica, event);
                received += 1;
            }
            received
        },
    );
    assert_eq!(replica.len(), n);
    group.finish();
}

fn mirror_resync(c: &mut Criterion) {
    let n = support::base_size();
    let changes = n / 100;
    let keys = Keys::new(n);
    let label = size_label(n);
    // A ring of 16 and a buffer of 1: the mirror's next look after the
    // changes finds its watch far behind and resyncs.
    let store = Store::<Record>::builder().ring_capacity(16).build();
    let kind = store.kind(KIND).expect("open store");
    let fill = keys.fill_order();
    for (i, key) in fill.iter().enumerate() {
        kind.set(key, Record::new(i as u64, 0))
            .expect("valid write");
    }
    // Each iteration changes the next `changes` keys of the shuffled fill
    // order: distinct keys, spread over the whole key space.
    let mut next = 0usize;
    let mut change = |kind: &Kind<Record>| {
        let stamp = next_stamp();
        for i in 0..changes {
            let key = fill[(next + i) % n];
            kind.set(key, Record::new(i as u64, stamp))
                .expect("valid write");
        }
        next = (next + changes) % n;
    };

    let mut group = c.benchmark_group("mirror_resync");
    // One iteration walks the whole kind (milliseconds): fewer samples.
    group.sample_size(10);

    let options = WatchOptions::new().buffer_size(1);
    let mut mirror = kind.mirror_with(options).expect("open store");
    assert_eq!(drain_mirror(&mut mirror), n as u64, "the initial creates");
    let resyncs_before = mirror.resyncs();
    let mut iterations = 0u64;
    let mut events = 0usize;
    group.bench_function(BenchmarkId::new("zestor", &label), |b| {
        b.iter_custom(|iters| {
            let mut total = Duration::ZERO;
            for _ in 0..iters {
                change(&kind);
                let resyncs = mirror.resyncs();
                let began = Instant::now();
                let mut yielded = 0usize;
                while let Some(event) = mirror.try_recv().expect("open store") {
                    consume(event);
                    yielded += 1;
                }
                total += began.elapsed();
                assert_eq!(yielded, changes, "one event per changed key, not the kind");
                assert_eq!(mirror.resyncs(), resyncs + 1, "exactly one resync");
                assert_eq!(mirror.revision(), kind.revision().expect("open store"));
                events = yielded;
            }
            iterations += iters;
            total
        })
    });
    // For ci/bench-report.py: the counts behind the time (every iteration
    // asserted them; a mismatch panics above). None when filtered out.
    if iterations > 0 {
        let path = support::output_dir().join("mirror_resync.csv");
        let csv = format!(
            "keys,changes,events,iterations,resyncs_before,resyncs_after\n\
             {n},{changes},{events},{iterations},{resyncs_before},{}\n",
            mirror.resyncs()
        );
        std::fs::write(&path, csv).expect("write mirror_resync.csv");
        println!(
            "mirror_resync/zestor/{label}: {events} events per resync of {n} keys with \
             {changes} changed; resyncs {resyncs_before} -> {} in {iterations} iterations ({})",
            mirror.resyncs(),
            path.display()
        );
    }
    drop(mirror);

    let mut replica: BTreeMap<Arc<str>, Value<Record>> = BTreeMap::new();
    group.bench_function(BenchmarkId::new("zestor_relist", &label), |b| {
        b.iter_custom(|iters| {
            let mut total = Duration::ZERO;
            for _ in 0..iters {
                change(&kind);
                let began = Instant::now();
                let snapshot = kind.snapshot().expect("open store");
                // Dropping the old replica is part of replacing it.
                replica = snapshot.list().into_iter().collect();
                total += began.elapsed();
                assert_eq!(replica.len(), n);
            }
            total
        })
    });
    group.finish();
}

fn watch_prefix(c: &mut Criterion) {
    const PREFIXES: usize = 10;
    const WATCHED: &str = "p3/";
    let per_prefix = if support::quick() { 100 } else { 1_000 };
    let keys: Vec<String> = (0..PREFIXES)
        .flat_map(|p| (0..per_prefix as u64).map(move |i| format!("p{p}/{}", key(i))))
        .collect();
    let watched: Vec<bool> = keys.iter().map(|k| k.starts_with(WATCHED)).collect();
    let is_watched = |i: usize| watched[i];
    let mut group = c.benchmark_group("watch_prefix");
    // Per write made, for both: the same stream, filtered in two places.
    group.throughput(Throughput::Elements(1));

    let (_store, kind) = filled(&keys);
    let options = WatchOptions::new().buffer_size(RING).prefix(WATCHED);
    let mut watch = kind.watch(options).expect("open store");
    bench_batches(&mut group, "zestor", &kind, &keys, is_watched, || {
        drain_watch(&mut watch)
    });

    let (_store, kind) = filled(&keys);
    let options = WatchOptions::new().buffer_size(RING);
    let mut watch = kind.watch(options).expect("open store");
    bench_batches(
        &mut group,
        "zestor_consumer_filter",
        &kind,
        &keys,
        is_watched,
        || {
            let mut kept = 0;
            while let Some(event) = watch.try_recv().expect("no overflow") {
                if event.key.starts_with(WATCHED) {
                    consume(event);
                    kept += 1;
                }
            }
            kept
        },
    );
    group.finish();
}

criterion_group! {
    name = benches;
    config = support::criterion();
    targets = mirror_receive, mirror_resync, watch_prefix
}
criterion_main!(benches);
