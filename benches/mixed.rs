//! Group 2: mixed read/update workloads (100/0, 95/5, 50/50) over existing
//! keys, uniform and Zipf 0.99, on 1, 2 and 4 threads (`ZESTOR_BENCH_THREADS`
//! overrides; `ci/scaling.sh` sweeps 1–16). On this 2-core machine 4 threads
//! oversubscribe the cores, which is where a preempted lock holder hurts.
//!
//! Each sample is the wall time of N threads doing their share of the ops
//! (`support::run_threads`), so the reported time per op is the inverse of the
//! aggregate throughput: perfect scaling halves it from 1 to 2 threads.

mod support;

use std::sync::atomic::{AtomicU64, Ordering};

use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};
use support::contenders::{self, Contender, Variants, Visitor};
use support::{
    consume, op_sequence, run_threads, sequence_len, Dist, Keys, Record, Zipf, WRITE_BIT,
};

/// Read percentages and their labels.
const MIXES: &[(u32, &str)] = &[(100, "r100"), (95, "r95"), (50, "r50")];

/// The contenders of this group: zestor's two read paths, the locked design,
/// and the primary variant of every other map.
const SKIPPED: &[&str] = &[
    "zestor_kind",
    "zestor_kind_read",
    "locked_read",
    "papaya_read",
];

struct Workload {
    group: String,
    /// One op sequence per thread (different seeds, same distribution).
    per_thread: Vec<Vec<u32>>,
}

struct Mixed<'a> {
    criterion: &'a mut Criterion,
    keys: &'a Keys,
    workloads: Vec<Workload>,
    threads: Vec<usize>,
}

/// Makes every written record unique across samples, so no write is
/// "unchanged" (which zestor would skip).
static STAMP: AtomicU64 = AtomicU64::new(1);

impl Visitor for Mixed<'_> {
    fn visit<C: Contender>(&mut self, contender: &C) {
        if SKIPPED.contains(&contender.name()) {
            return;
        }
        for workload in &self.workloads {
            let mut group = self.criterion.benchmark_group(&workload.group);
            group.throughput(Throughput::Elements(1));
            for &threads in &self.threads {
                let id = BenchmarkId::new(contender.name(), format!("{threads}t"));
                group.bench_function(id, |b| {
                    b.iter_custom(|iters| {
                        let stamp = STAMP.fetch_add(1, Ordering::Relaxed) << 40;
                        run_threads(threads, iters, |t, first, count| {
                            let ops = &workload.per_thread[t];
                            let mask = ops.len() - 1;
                            let stamp = stamp | (t as u64) << 32;
                            for i in first..first + count {
                                let op = ops[i as usize & mask];
                                let index = op & !WRITE_BIT;
                                let key = &self.keys.present[index as usize];
                                if op & WRITE_BIT != 0 {
                                    contender.set(key, Record::new(u64::from(index), stamp | i));
                                } else {
                                    consume(contender.get(key));
                                }
                            }
                        })
                    })
                });
            }
            group.finish();
        }
    }
}

fn mixed(criterion: &mut Criterion) {
    let n = support::base_size();
    let keys = Keys::new(n);
    let fill = keys.fill_order();
    let threads = support::thread_counts();
    let max_threads = threads.iter().copied().max().unwrap_or(1);
    let zipf = Zipf::new(n, 0.99);
    let len = sequence_len(n);
    let mut workloads = Vec::new();
    for dist in [Dist::Uniform, Dist::Zipf] {
        for &(read_percent, mix) in MIXES {
            let per_thread = (0..max_threads)
                .map(|t| {
                    let seed = 1000 * u64::from(read_percent) + t as u64;
                    op_sequence(n, len, dist, Some(&zipf), 100 - read_percent, seed)
                })
                .collect();
            workloads.push(Workload {
                group: format!("mixed_{mix}_{}", dist.label()),
                per_thread,
            });
        }
    }
    let mut bench = Mixed {
        criterion,
        keys: &keys,
        workloads,
        threads,
    };
    for &family in contenders::ALL {
        contenders::visit(family, &fill, Variants::All, &mut bench);
    }
}

criterion_group! {
    name = benches;
    config = support::criterion();
    targets = mixed
}
criterion_main!(benches);
