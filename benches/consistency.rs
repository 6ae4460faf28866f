//! Group 8: what consistency costs (issue 8). zestor against itself (the
//! same work without the guarantee) and against the locked design (Go
//! Zestor's one lock, which gives the same guarantees by excluding everyone):
//!
//! * `snapshot_take`: take a snapshot of a quiet kind and drop it, by kind
//!   size — O(1), so the same at every size;
//! * `snapshot_get`: a point read through a held snapshot, next to `get`
//!   and `Kind::get` on the same store (100K keys, uniform);
//! * `batch_100`: an atomic `set_many` of 100 keys (`zestor`), next to 100
//!   single `set`s in key order (`zestor_single_sets`: the per-item work of
//!   the non-atomic `set_many` before issue 8) and the locked design's
//!   `set_many` (one write lock);
//! * `transfer`: a transaction that reads two keys and writes both
//!   (`zestor`), next to two `update`s (`zestor_two_updates`, no
//!   atomicity) and the locked design doing both under one write lock, 1
//!   thread;
//! * `transfers_threads`: the same transfer between random pairs of 100
//!   accounts from 2 threads: time per transfer = 1 / aggregate throughput.

mod support;

use std::hint::black_box;
use std::sync::Arc;

use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};
use support::locked::LockedDesign;
use support::{op_sequence, sequence_len, size_label, Dist, Keys, Record, Rng, KIND};
use zestor::{Error, Store};

fn filled(n: usize) -> (Store<Record>, Keys) {
    let keys = Keys::new(n);
    let store = Store::<Record>::new();
    for (i, key) in keys.fill_order().into_iter().enumerate() {
        store.set(KIND, key, Record::new(i as u64, 0)).unwrap();
    }
    (store, keys)
}

fn snapshot_take(c: &mut Criterion) {
    let mut group = c.benchmark_group("snapshot_take");
    for n in support::sizes() {
        let (store, _keys) = filled(n);
        let kind = store.kind(KIND).unwrap();
        group.bench_function(BenchmarkId::new("zestor", size_label(n)), |b| {
            b.iter(|| black_box(kind.snapshot().unwrap().revision()));
        });
    }
    group.finish();
}

fn snapshot_get(c: &mut Criterion) {
    let n = support::base_size();
    let (store, keys) = filled(n);
    let ops = op_sequence(n, sequence_len(n), Dist::Uniform, None, 0, 11);
    let mask = ops.len() - 1;
    let kind = store.kind(KIND).unwrap();
    let snapshot = kind.snapshot().unwrap();
    let mut group = c.benchmark_group("snapshot_get");
    let label = size_label(n);
    let mut i = 0usize;
    group.bench_function(BenchmarkId::new("zestor", &label), |b| {
        b.iter(|| {
            i += 1;
            black_box(
                store
                    .get(KIND, &keys.present[ops[i & mask] as usize])
                    .unwrap(),
            )
        });
    });
    group.bench_function(BenchmarkId::new("zestor_kind", &label), |b| {
        b.iter(|| {
            i += 1;
            black_box(kind.get(&keys.present[ops[i & mask] as usize]).unwrap())
        });
    });
    group.bench_function(BenchmarkId::new("zestor_snapshot", &label), |b| {
        b.iter(|| {
            i += 1;
            black_box(snapshot.get(&keys.present[ops[i & mask] as usize]))
        });
    });
    group.finish();
}

fn batch_100(c: &mut Criterion) {
    let n = support::base_size();
    let (store, keys) = filled(n);
    let locked = LockedDesign::<Record>::new();
    for (i, key) in keys.fill_order().into_iter().enumerate() {
        locked.set(KIND, key, Record::new(i as u64, 0));
    }
    let mut rng = Rng::new(5);
    let batches: Vec<Vec<&str>> = (0..64)
        .map(|_| {
            let mut batch: Vec<&str> = (0..100)
                .map(|_| keys.present[(rng.next_u64() % n as u64) as usize].as_str())
                .collect();
            batch.sort_unstable();
            batch.dedup();
            batch
        })
        .collect();
    let mut group = c.benchmark_group("batch_100");
    group.throughput(Throughput::Elements(100));
    let mut stamp = 0u64;
    let mut next = move || {
        stamp += 1;
        stamp
    };
    let mut i = 0usize;
    group.bench_function("zestor", |b| {
        b.iter(|| {
            i += 1;
            let s = next();
            let batch = &batches[i % batches.len()];
            store
                .set_many(KIND, batch.iter().map(|key| (*key, Record::new(7, s))))
                .unwrap();
        });
    });
    group.bench_function("zestor_single_sets", |b| {
        b.iter(|| {
            i += 1;
            let s = next();
            for key in &batches[i % batches.len()] {
                store.set(KIND, key, Record::new(7, s)).unwrap();
            }
        });
    });
    group.bench_function("locked", |b| {
        b.iter(|| {
            i += 1;
            let s = next();
            let batch = &batches[i % batches.len()];
            locked.set_many(KIND, batch.iter().map(|key| (*key, Record::new(7, s))));
        });
    });
    group.finish();
}

const ACCOUNTS: u64 = 100;

fn accounts() -> (Store<Record>, Arc<LockedDesign<Record>>, Vec<String>) {
    let names: Vec<String> = (0..ACCOUNTS).map(|i| format!("account-{i:03}")).collect();
    let store = Store::<Record>::new();
    let locked = Arc::new(LockedDesign::new());
    for name in &names {
        store.set(KIND, name, Record::new(1_000_000, 0)).unwrap();
        locked.set(KIND, name, Record::new(1_000_000, 0));
    }
    (store, locked, names)
}

/// Moves one unit from `from` to `to`.
fn moved(from: &Record, to: &Record) -> (Record, Record) {
    (
        Record::new(from.id - 1, from.payload[0] + 1),
        Record::new(to.id + 1, to.payload[0] + 1),
    )
}

fn transfer_zestor(store: &Store<Record>, from: &str, to: &str) {
    store
        .transaction(KIND, |tx| {
            let a = tx.get(from).unwrap();
            let b = tx.get(to).unwrap();
            let (a, b) = moved(&a, &b);
            tx.set(from, a);
            tx.set(to, b);
            Ok::<_, Error>(())
        })
        .unwrap();
}

fn pair(rng: &mut Rng) -> (usize, usize) {
    let from = (rng.next_u64() % ACCOUNTS) as usize;
    let to = (from + 1 + (rng.next_u64() % (ACCOUNTS - 1)) as usize) % ACCOUNTS as usize;
    (from, to)
}

fn transfer(c: &mut Criterion) {
    let (store, locked, names) = accounts();
    let mut group = c.benchmark_group("transfer");
    let mut rng = Rng::new(9);
    group.bench_function("zestor", |b| {
        b.iter(|| {
            let (from, to) = pair(&mut rng);
            transfer_zestor(&store, &names[from], &names[to]);
        });
    });
    group.bench_function("zestor_two_updates", |b| {
        b.iter(|| {
            let (from, to) = pair(&mut rng);
            store
                .update(KIND, &names[from], |a| {
                    Ok::<_, Error>(Record::new(a.id - 1, a.payload[0] + 1))
                })
                .unwrap();
            store
                .update(KIND, &names[to], |b| {
                    Ok::<_, Error>(Record::new(b.id + 1, b.payload[0] + 1))
                })
                .unwrap();
        });
    });
    group.bench_function("locked", |b| {
        b.iter(|| {
            let (from, to) = pair(&mut rng);
            assert!(locked.update_two(KIND, &names[from], &names[to], moved));
        });
    });
    group.finish();
}

/// One transfer between two named accounts, as a contender makes it.
type Transfer<'a> = dyn Fn(&str, &str) + Sync + 'a;

fn transfers_threads(c: &mut Criterion) {
    let (store, locked, names) = accounts();
    let zestor = |from: &str, to: &str| transfer_zestor(&store, from, to);
    let locked = |from: &str, to: &str| assert!(locked.update_two(KIND, from, to, moved));
    let contenders: [(&str, &Transfer<'_>); 2] = [("zestor", &zestor), ("locked", &locked)];
    let mut group = c.benchmark_group("transfers_threads");
    for threads in support::thread_counts().into_iter().filter(|t| *t <= 2) {
        for (name, transfer) in contenders {
            group.bench_function(BenchmarkId::new(name, format!("{threads}t")), |b| {
                b.iter_custom(|iters| {
                    support::run_threads(threads, iters, |t, first, count| {
                        let mut rng = Rng::new(first ^ ((t as u64 + 1) * 0x9E37));
                        for _ in 0..count {
                            let (from, to) = pair(&mut rng);
                            transfer(&names[from], &names[to]);
                        }
                    })
                });
            });
        }
    }
    group.finish();
}

criterion_group! {
    name = benches;
    config = support::criterion();
    targets = snapshot_take, snapshot_get, batch_100, transfer, transfers_threads
}
criterion_main!(benches);
