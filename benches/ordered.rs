//! Group 4: ordered reads — `list` of a kind holding 10, 1K or 10K entries,
//! `range` and `prefix` returning 10, 1K or 10K entries out of the base store
//! (100K keys), each alone and with a concurrent writer updating random keys
//! of the same structure at full speed; and `count`.
//!
//! Hash maps (the locked design, papaya) answer by collecting, filtering and
//! sorting, as their users must; zestor returns `(key, value)` pairs where the
//! others return values (see `support::contenders`).

mod support;

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};

use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion};
use support::contenders::{self, Contender, Variants, Visitor};
use support::{prefix_for, range_for, size_label, Keys, Record, Rng};

/// Result sizes: 10, 1K, 10K (10 and 1K in quick mode).
fn result_sizes() -> Vec<u64> {
    if support::quick() {
        vec![10, 1_000]
    } else {
        vec![10, 1_000, 10_000]
    }
}

/// Runs `bench` alone, then again while another thread updates random keys
/// of `contender` (group name suffixed `_under_writer`).
fn with_and_without_writer<C: Contender>(
    contender: &C,
    keys: &[String],
    mut bench: impl FnMut(&str),
    group: &str,
) {
    bench(group);
    let stop = AtomicBool::new(false);
    let writes = AtomicU64::new(0);
    std::thread::scope(|scope| {
        scope.spawn(|| {
            let mut rng = Rng::new(0xB0B);
            let mut done = 0u64;
            // At least one write, even when a filter skips the timed part.
            loop {
                let index = rng.below(keys.len() as u64);
                contender.set(&keys[index as usize], Record::new(index, done + (1 << 40)));
                done += 1;
                if stop.load(Ordering::Relaxed) {
                    break;
                }
            }
            writes.store(done, Ordering::Relaxed);
        });
        bench(&format!("{group}_under_writer"));
        stop.store(true, Ordering::Relaxed);
    });
    assert!(writes.load(Ordering::Relaxed) > 0, "the writer wrote");
}

/// `list` of a structure holding exactly `size` entries.
struct Lists<'a> {
    criterion: &'a mut Criterion,
    keys: &'a Keys,
    size: u64,
}

impl Visitor for Lists<'_> {
    fn visit<C: Contender>(&mut self, contender: &C) {
        assert_eq!(contender.list(), self.size as usize);
        let label = size_label(self.size as usize);
        let criterion = &mut *self.criterion;
        let bench = |group: &str| {
            let mut group = criterion.benchmark_group(group);
            group.bench_function(BenchmarkId::new(contender.name(), &label), |b| {
                b.iter(|| contender.list())
            });
            group.finish();
        };
        with_and_without_writer(contender, &self.keys.present, bench, "list");
    }
}

/// `range`, `prefix` and `count` on the base store.
struct Scans<'a> {
    criterion: &'a mut Criterion,
    keys: &'a Keys,
    sizes: Vec<u64>,
}

impl Visitor for Scans<'_> {
    fn visit<C: Contender>(&mut self, contender: &C) {
        let name = contender.name();
        let n = self.keys.present.len();
        for &m in &self.sizes {
            // Check the queries select exactly m entries before timing them.
            let (lo, hi) = range_for(m);
            let prefix = prefix_for(m);
            assert_eq!(contender.range(&lo, &hi), m as usize, "{name} range {m}");
            assert_eq!(contender.prefix(&prefix), m as usize, "{name} prefix {m}");
            let label = size_label(m as usize);
            let criterion = &mut *self.criterion;
            let bench = |group: &str| {
                let mut group = criterion.benchmark_group(group);
                group.bench_function(BenchmarkId::new(name, &label), |b| {
                    b.iter(|| contender.range(&lo, &hi))
                });
                group.finish();
            };
            with_and_without_writer(contender, &self.keys.present, bench, "range");
            let bench = |group: &str| {
                let mut group = criterion.benchmark_group(group);
                group.bench_function(BenchmarkId::new(name, &label), |b| {
                    b.iter(|| contender.prefix(&prefix))
                });
                group.finish();
            };
            with_and_without_writer(contender, &self.keys.present, bench, "prefix");
        }
        assert_eq!(contender.count(), n);
        let mut group = self.criterion.benchmark_group("count");
        group.bench_function(BenchmarkId::new(name, size_label(n)), |b| {
            b.iter(|| contender.count())
        });
        group.finish();
    }
}

fn ordered(criterion: &mut Criterion) {
    for size in result_sizes() {
        let keys = Keys::new(size as usize);
        let fill = keys.fill_order();
        let mut lists = Lists {
            criterion: &mut *criterion,
            keys: &keys,
            size,
        };
        for &family in contenders::ORDERED {
            contenders::visit(family, &fill, Variants::Primary, &mut lists);
        }
    }
    let n = support::base_size();
    let keys = Keys::new(n);
    let fill = keys.fill_order();
    let mut scans = Scans {
        criterion,
        keys: &keys,
        // Ids m..2m must exist.
        sizes: result_sizes()
            .into_iter()
            .filter(|&m| 2 * m <= n as u64)
            .collect(),
    };
    for &family in contenders::ORDERED {
        contenders::visit(family, &fill, Variants::Primary, &mut scans);
    }
}

criterion_group! {
    name = benches;
    config = support::criterion();
    targets = ordered
}
criterion_main!(benches);
