//! Group 3: writes, one thread, at each store size.
//!
//! * `update_existing`: `set` of an existing key to a new value (uniform);
//!   zestor also through `update` with a closure (`zestor_update`), and
//!   with `history` set to the whole ring (`zestor_keep_ring`: no slot
//!   released, the cost before issue 11);
//! * `insert_new`: `set` of a key that is not there. Fresh keys sit between
//!   the existing ones (`support::absent_key`), so ordered structures insert
//!   all over the key space. Inserted in chunks that are deleted again
//!   untimed, so the store stays at its size;
//! * `delete`: the reverse — chunks inserted untimed, deleted timed.

mod support;

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion};
use support::contenders::{self, Contender, Variants, Visitor};
use support::{op_sequence, sequence_len, size_label, Dist, Keys, Record, Rng, KIND};

/// Variants whose writes are the same code as another's.
const SKIPPED: &[&str] = &[
    "zestor_read",
    "zestor_kind_read",
    "locked_read",
    "papaya_read",
];

static STAMP: AtomicU64 = AtomicU64::new(1);

/// A stamp no earlier call returned, so written records are always new
/// (zestor skips "unchanged" writes).
fn stamp() -> u64 {
    STAMP.fetch_add(1, Ordering::Relaxed) << 32
}

/// Fresh (absent) keys in random order, handed out in chunks.
struct FreshKeys<'a> {
    keys: Vec<&'a str>,
    /// A tenth of the store, at most 10K keys: the store stays within 10% of
    /// its nominal size while a chunk is in.
    chunk: usize,
    next: usize,
}

/// Something done to a chunk of fresh keys, with a stamp for the values.
type ChunkOp<'a> = &'a mut dyn FnMut(&[&str], u64);

impl FreshKeys<'_> {
    /// Times `timed` over `iters` fresh keys, chunk by chunk; `before` and
    /// `after` run untimed on each chunk, to set it up and to bring the store
    /// back to its size. The ops are called through `dyn` once per chunk, not
    /// per key: the loops inside them are monomorphic.
    fn chunked(&mut self, iters: u64, [before, timed, after]: [ChunkOp<'_>; 3]) -> Duration {
        let mut total = Duration::ZERO;
        let mut left = iters as usize;
        while left > 0 {
            let start = self.next % (self.keys.len() - self.chunk + 1);
            let chunk = &self.keys[start..start + self.chunk.min(left)];
            self.next = start + chunk.len();
            let stamp = stamp();
            before(chunk, stamp);
            let began = Instant::now();
            timed(chunk, stamp);
            total += began.elapsed();
            after(chunk, stamp);
            left -= chunk.len();
        }
        total
    }
}

struct Writes<'a> {
    criterion: &'a mut Criterion,
    keys: &'a Keys,
    label: String,
    updates: Vec<u32>,
    fresh: FreshKeys<'a>,
}

impl Visitor for Writes<'_> {
    fn visit<C: Contender>(&mut self, contender: &C) {
        if SKIPPED.contains(&contender.name()) {
            return;
        }
        let id = BenchmarkId::new(contender.name(), &self.label);
        let keys = &self.keys.present;
        let updates = &self.updates;

        let mut group = self.criterion.benchmark_group("update_existing");
        group.bench_function(id.clone(), |b| {
            let mask = updates.len() - 1;
            let mut next = 0usize;
            let stamp = stamp();
            b.iter(|| {
                let index = updates[next & mask];
                next = next.wrapping_add(1);
                let value = Record::new(u64::from(index), stamp | next as u64);
                contender.set(&keys[index as usize], value)
            })
        });
        group.finish();

        let mut insert = |chunk: &[&str], stamp: u64| {
            for (i, key) in chunk.iter().enumerate() {
                contender.set(key, Record::new(i as u64, stamp));
            }
        };
        let mut delete = |chunk: &[&str], _: u64| {
            for key in chunk {
                assert!(contender.delete(key), "deletes a key that is there");
            }
        };
        let mut nothing = |_: &[&str], _: u64| {};
        let fresh = &mut self.fresh;

        let mut group = self.criterion.benchmark_group("insert_new");
        group.bench_function(id.clone(), |b| {
            b.iter_custom(|iters| fresh.chunked(iters, [&mut nothing, &mut insert, &mut delete]))
        });
        group.finish();

        let mut group = self.criterion.benchmark_group("delete");
        group.bench_function(id, |b| {
            b.iter_custom(|iters| fresh.chunked(iters, [&mut insert, &mut delete, &mut nothing]))
        });
        group.finish();
        assert_eq!(
            contender.count(),
            keys.len(),
            "the store is back at its size"
        );
    }
}

/// zestor's `update(kind, key, |v| ..)`: the read-modify-write path.
fn zestor_update_closure(writes: &mut Writes<'_>, fill: &[&str]) {
    let store = zestor::Store::<Record>::new();
    contenders::fill(&contenders::ZestorStore(store.clone()), fill);
    let (keys, updates) = (&writes.keys.present, &writes.updates);
    let mut group = writes.criterion.benchmark_group("update_existing");
    group.bench_function(BenchmarkId::new("zestor_update", &writes.label), |b| {
        let mask = updates.len() - 1;
        let mut next = 0usize;
        b.iter(|| {
            let index = updates[next & mask];
            next = next.wrapping_add(1);
            store.update(KIND, &keys[index as usize], |old: &Record| {
                let mut new = *old;
                new.payload[0] = new.payload[0].wrapping_add(1);
                Ok::<_, std::convert::Infallible>(new)
            })
        })
    });
    group.finish();
}

/// zestor's `set` on a store that keeps its whole ring as history
/// (`history(ring_capacity)`: nothing released, the behaviour before issue
/// 11), beside the default `zestor` (history 16: each unwatched write
/// releases the slot 16 revisions back).
fn zestor_keeping_the_ring(writes: &mut Writes<'_>, fill: &[&str]) {
    let store = zestor::Store::<Record>::builder()
        .history(zestor::StoreBuilder::<Record>::DEFAULT_RING_CAPACITY)
        .build();
    contenders::fill(&contenders::ZestorStore(store.clone()), fill);
    let (keys, updates) = (&writes.keys.present, &writes.updates);
    let mut group = writes.criterion.benchmark_group("update_existing");
    group.bench_function(BenchmarkId::new("zestor_keep_ring", &writes.label), |b| {
        let mask = updates.len() - 1;
        let mut next = 0usize;
        b.iter(|| {
            let index = updates[next & mask];
            next = next.wrapping_add(1);
            store.set(
                KIND,
                &keys[index as usize],
                Record::new(index.into(), stamp()),
            )
        })
    });
    group.finish();
}

fn writes(criterion: &mut Criterion) {
    for n in support::sizes() {
        let keys = Keys::new(n);
        let fill = keys.fill_order();
        let mut fresh: Vec<&str> = keys.absent.iter().map(String::as_str).collect();
        Rng::new(0xF2E5).shuffle(&mut fresh);
        let mut writes = Writes {
            criterion: &mut *criterion,
            keys: &keys,
            label: size_label(n),
            updates: op_sequence(n, sequence_len(n), Dist::Uniform, None, 0, 4),
            fresh: FreshKeys {
                keys: fresh,
                chunk: (n / 10).clamp(1, 10_000),
                next: 0,
            },
        };
        for &family in contenders::ALL {
            contenders::visit(family, &fill, Variants::All, &mut writes);
        }
        zestor_update_closure(&mut writes, &fill);
        zestor_keeping_the_ring(&mut writes, &fill);
    }
}

criterion_group! {
    name = benches;
    config = support::criterion();
    targets = writes
}
criterion_main!(benches);
