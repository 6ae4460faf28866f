//! A profiling driver, not a benchmark: runs one operation in a tight loop
//! so `valgrind --tool=callgrind` (instruction counts, repeatable on a noisy
//! machine) or `perf` can say where its time goes. BENCHMARKS.md's profiles
//! come from it:
//!
//! ```sh
//! cargo bench --bench profile --no-run      # prints the binary's path
//! valgrind --tool=callgrind --collect-atstart=no --toggle-collect='profile::run*' \
//!     target/release/deps/profile-<hash> --bench get 1000000
//! callgrind_annotate --inclusive=yes callgrind.out.<pid> | head -60
//! ```
//!
//! Ops (`--bench <op> [count]`): `get`, `read`, `kind_get`, `kind_read`,
//! `set` (update of an existing key), `insert_delete`, `list`, and the
//! locked design's `locked_get`, `locked_read`, `locked_set`, `locked_list`,
//! and `papaya_get`; and, per call: `set_many100` (an atomic batch of 100
//! keys), `sets100` (the same 100 keys set one by one), `snapshot` (take and
//! drop one), `snapshot_get` (a get through a held snapshot), `transfer` (a
//! transaction reading and writing two keys), `update2` (two `update`s);
//! and per event, `watch_drain` (a watch receiving updates: only its
//! `try_recv`s are counted, not the writes, made in rounds of 512).
//! Store: 100K keys (`ZESTOR_BENCH_BASE`); lists: 10K.

mod support;

use std::hint::black_box;

use support::contenders::{self, Contender, Locked, PapayaC, ZestorKind, ZestorStore};
use support::locked::LockedDesign;
use support::{op_sequence, sequence_len, Dist, Keys, Record, Rng, KIND};

/// The measured loop: everything the profile should count is under here.
#[inline(never)]
fn run_gets<C: Contender>(contender: &C, keys: &[String], ops: &[u32], count: usize) {
    let mask = ops.len() - 1;
    for i in 0..count {
        black_box(contender.get(&keys[ops[i & mask] as usize]));
    }
}

#[inline(never)]
fn run_sets<C: Contender>(contender: &C, keys: &[String], ops: &[u32], count: usize) {
    let mask = ops.len() - 1;
    for i in 0..count {
        let index = ops[i & mask];
        contender.set(
            &keys[index as usize],
            Record::new(u64::from(index), i as u64 + 1),
        );
    }
}

#[inline(never)]
fn run_insert_delete<C: Contender>(contender: &C, fresh: &[String], count: usize) {
    for i in 0..count {
        let key = &fresh[i % fresh.len()];
        contender.set(key, Record::new(i as u64, 1));
        contender.delete(key);
    }
}

/// Batches of 100 distinct keys, each sorted, from the op sequence.
fn batches<'k>(keys: &'k [String], ops: &[u32]) -> Vec<Vec<&'k str>> {
    ops.chunks(100)
        .take(256)
        .map(|chunk| {
            let mut batch: Vec<&str> = chunk.iter().map(|i| keys[*i as usize].as_str()).collect();
            batch.sort_unstable();
            batch.dedup();
            batch
        })
        .collect()
}

#[inline(never)]
fn run_set_many(store: &zestor::Store<Record>, batches: &[Vec<&str>], count: usize) {
    for i in 0..count {
        let batch = &batches[i % batches.len()];
        store
            .set_many(
                KIND,
                batch.iter().map(|key| (*key, Record::new(7, i as u64 + 1))),
            )
            .unwrap();
    }
}

#[inline(never)]
fn run_batch_sets(store: &zestor::Store<Record>, batches: &[Vec<&str>], count: usize) {
    for i in 0..count {
        for key in &batches[i % batches.len()] {
            store.set(KIND, key, Record::new(7, i as u64 + 1)).unwrap();
        }
    }
}

#[inline(never)]
fn run_snapshots(kind: &zestor::Kind<Record>, count: usize) {
    for _ in 0..count {
        black_box(kind.snapshot().unwrap().revision());
    }
}

#[inline(never)]
fn run_snapshot_gets(
    snapshot: &zestor::Snapshot<Record>,
    keys: &[String],
    ops: &[u32],
    count: usize,
) {
    let mask = ops.len() - 1;
    for i in 0..count {
        black_box(snapshot.get(&keys[ops[i & mask] as usize]));
    }
}

#[inline(never)]
fn run_transfers(store: &zestor::Store<Record>, keys: &[String], ops: &[u32], count: usize) {
    let mask = ops.len() - 1;
    for i in 0..count {
        let (from, to) = (
            &keys[ops[i & mask] as usize],
            &keys[ops[(i + 1) & mask] as usize],
        );
        if from == to {
            continue;
        }
        store
            .transaction(KIND, |tx| {
                let a = tx.get(from).unwrap();
                let b = tx.get(to).unwrap();
                tx.set(from, Record::new(a.id - 1, i as u64 + 1));
                tx.set(to, Record::new(b.id + 1, i as u64 + 1));
                Ok::<_, zestor::Error>(())
            })
            .unwrap();
    }
}

#[inline(never)]
fn run_two_updates(store: &zestor::Store<Record>, keys: &[String], ops: &[u32], count: usize) {
    let mask = ops.len() - 1;
    for i in 0..count {
        let (from, to) = (
            &keys[ops[i & mask] as usize],
            &keys[ops[(i + 1) & mask] as usize],
        );
        if from == to {
            continue;
        }
        let stamp = i as u64 + 1;
        store
            .update(KIND, from, |a| {
                Ok::<_, zestor::Error>(Record::new(a.id - 1, stamp))
            })
            .unwrap();
        store
            .update(KIND, to, |b| {
                Ok::<_, zestor::Error>(Record::new(b.id + 1, stamp))
            })
            .unwrap();
    }
}

/// Not counted: `watch_drain`'s writes, one round of `BATCH`.
#[inline(never)]
fn write_round(store: &zestor::Store<Record>, keys: &[String], ops: &[u32], round: usize) {
    let mask = ops.len() - 1;
    for i in round * WATCH_ROUND..(round + 1) * WATCH_ROUND {
        let index = ops[i & mask];
        store
            .set(
                KIND,
                &keys[index as usize],
                Record::new(u64::from(index), i as u64 + 1),
            )
            .unwrap();
    }
}

const WATCH_ROUND: usize = 512;

#[inline(never)]
fn run_drain(watch: &mut zestor::Watch<Record>) {
    for _ in 0..WATCH_ROUND {
        black_box(watch.try_recv().unwrap().expect("an event"));
    }
}

#[inline(never)]
fn run_lists<C: Contender>(contender: &C, count: usize) {
    for _ in 0..count {
        black_box(contender.list());
    }
}

fn main() {
    // `cargo bench --bench profile -- get 1000` passes `--bench` last, and
    // `ci/bench-instructions.sh` first: take the two positional arguments.
    let mut args = std::env::args().skip(1).filter(|arg| arg != "--bench");
    let op = args.next().unwrap_or_else(|| "get".to_owned());
    let count: usize = args
        .next()
        .map(|n| n.parse().expect("a count"))
        .unwrap_or(1_000_000);
    let list_op = op.ends_with("list");
    let n = if list_op {
        10_000
    } else {
        support::base_size()
    };
    let keys = Keys::new(n);
    let fill = keys.fill_order();
    let ops = op_sequence(n, sequence_len(n), Dist::Uniform, None, 0, 9);
    let mut fresh = keys.absent.clone();
    Rng::new(3).shuffle(&mut fresh);

    let store = zestor::Store::<Record>::new();
    let locked = std::sync::Arc::new(LockedDesign::new());
    let zestor = ZestorStore(store.clone());
    let kind = ZestorKind(store.kind(KIND).expect("open store"));
    let locked_c = Locked(std::sync::Arc::clone(&locked));
    match op.as_str() {
        "papaya_get" => {}
        name if name.starts_with("locked") => contenders::fill(&locked_c, &fill),
        _ => contenders::fill(&zestor, &fill),
    }
    let present = &keys.present;
    match op.as_str() {
        "get" => run_gets(&zestor, present, &ops, count),
        "read" => run_gets(&contenders::ZestorRead(store.clone()), present, &ops, count),
        "kind_get" => run_gets(&kind, present, &ops, count),
        "kind_read" => run_gets(
            &contenders::ZestorKindRead(store.kind(KIND).expect("open store")),
            present,
            &ops,
            count,
        ),
        "set" => run_sets(&zestor, present, &ops, count),
        "insert_delete" => run_insert_delete(&zestor, &fresh, count),
        "list" => run_lists(&zestor, count),
        "locked_get" => run_gets(&locked_c, present, &ops, count),
        "locked_read" => run_gets(&contenders::LockedRead(locked), present, &ops, count),
        "locked_set" => run_sets(&locked_c, present, &ops, count),
        "locked_list" => run_lists(&locked_c, count),
        "set_many100" => run_set_many(&store, &batches(present, &ops), count),
        "sets100" => run_batch_sets(&store, &batches(present, &ops), count),
        "snapshot" => run_snapshots(&store.kind(KIND).expect("open store"), count),
        "snapshot_get" => {
            let snapshot = store.snapshot(KIND).expect("open store");
            run_snapshot_gets(&snapshot, present, &ops, count)
        }
        "transfer" => run_transfers(&store, present, &ops, count),
        "watch_drain" => {
            let options = zestor::WatchOptions::new().buffer_size(1024);
            let mut watch = store.watch(KIND, options).expect("open store");
            for round in 0..count / WATCH_ROUND {
                write_round(&store, present, &ops, round);
                run_drain(&mut watch);
            }
        }
        "update2" => run_two_updates(&store, present, &ops, count),
        "papaya_get" => {
            let papaya = PapayaC::default();
            contenders::fill(&papaya, &fill);
            run_gets(&papaya, present, &ops, count);
        }
        other => panic!("unknown op {other}"),
    }
    eprintln!("{op}: {count} ops on {n} keys");
}
