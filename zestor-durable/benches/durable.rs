//! zestor-durable measured against redb used directly and SQLite, and
//! against the in-memory store: four tables printed to stdout, in this
//! order. Not a criterion timing: criterion fits single-thread loops, not
//! the throughput of many threads whose writes each wait for an `fsync`.
//!
//! 1. `interval_write_cost`: one thread `set`ting an existing key (10,000
//!    keys) with a small value (`Small`, four numbers, about 60 bytes of
//!    JSON), zestor-durable in `Interval` mode against a plain
//!    `zestor::Store::new()`: ns per write, median of 3 runs each,
//!    alternated. Three rows:
//!    * sustained: 1M writes back to back (100K quick), `Interval(10 ms)`.
//!      Past 65,536 records waiting for a commit, writers wait for the
//!      committer, so this is the committer's pace when it cannot keep up;
//!    * bursts: 200K writes (50K quick), 10,000 at a time with an untimed
//!      30 ms pause after each, `Interval(10 ms)`: the committer catches up
//!      between bursts, and runs beside the writer during them;
//!    * write path: 200K writes (100K quick), 50,000 per opened store
//!      (below the backlog limit), with an interval no run reaches: nothing
//!      is committed while timed (the store's release commits, untimed).
//!
//!    Target: at most 1.3× the in-memory store.
//! 2. `durable_reads`: `get` of existing keys in random order, a durable
//!    store against an in-memory one with the same 100,000 keys (10,000
//!    quick): ns per get, median of 3 runs each, alternated. Reads are
//!    served from memory in both, so the ratio should be about 1.
//! 3. `durable_write_throughput`: acknowledged writes per second (a write
//!    counts once it returned, so once it is on disk) with 1, 4 and 16
//!    threads, each upserting a `Small` to its own 1,000 keys for a fixed
//!    time (2 s a cell; 0.3 s quick), each cell on a new file:
//!    * zestor-durable, `Durability::Immediate` (group commit: concurrent
//!      writers share one commit and `fsync`);
//!    * redb used directly: one write transaction per write, redb's default
//!      `Durability::Immediate`, the threads queueing on `begin_write`;
//!    * SQLite (rusqlite, bundled): WAL, `synchronous=FULL`, one connection
//!      per thread, one `INSERT ... ON CONFLICT DO UPDATE` per write in
//!      autocommit, `busy_timeout` so that contention waits.
//!
//!    redb and SQLite store the same JSON bytes zestor-durable does. The
//!    table starts with the disk's own `fdatasync` time, the floor of one
//!    thread's write. Target (the issue's): zestor-durable with 16 threads
//!    at least 5× its 1 thread.
//! 4. `durable_recovery`: a file holding 1,000,000 keys (20,000 quick),
//!    written with `set_many` batches of 10,000 in `Interval` mode and
//!    closed; `open` (read, decode, restore into memory) timed twice. The
//!    file was just written: it is read from the page cache, not the disk.
//!
//! The single-thread timings run first: run after the 16-thread cells, the
//! in-memory store's `set` took 2–3× as long (about 1,000 ns against 390 ns
//! in one session), the durable store's less so, which skewed the ratios.
//!
//! `cargo bench -p zestor-durable --bench durable -- <filter>` runs the
//! tables whose name contains the filter (`interval`, `reads`, `write`,
//! `recovery`). Files go to a temporary directory (`TMPDIR`, else `/tmp`),
//! which should be on the disk being measured: on the project's VM `/tmp`
//! and the build share one ext4 disk. `ZESTOR_BENCH_QUICK=1` (or running
//! without `--bench`, as `cargo test --benches` does) runs a short smoke
//! version (about 10 s); the full run takes about a minute on 2 cores.
//!
//! The numbers are from whatever machine runs this, with whatever else it
//! runs: on a shared 2-core VM, single cells move by tens of percent between
//! runs, and 16 threads share 2 cores with the committer and the engines'
//! own threads. Quote ratios taken in one run, and say which machine; the
//! load average is printed at the start and the end.

use std::fs::{File, OpenOptions};
use std::hint::black_box;
use std::io::{Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Barrier;
use std::time::{Duration, Instant};

use redb::TableDefinition;
use rusqlite::Connection;
use serde::{Deserialize, Serialize};
use zestor::Store;
use zestor_durable::{Durability, Options};

/// The kind every store writes to.
const KIND: &str = "bench";

/// The value every engine stores: four numbers, about 60 bytes as JSON.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
struct Small {
    id: u64,
    stamp: u64,
    payload: [u64; 2],
}

impl Small {
    /// A value different from any other made with another `(id, stamp)`,
    /// so no write is ever "unchanged" (zestor would store nothing).
    fn new(id: u64, stamp: u64) -> Self {
        Small {
            id,
            stamp,
            payload: [mix(id ^ stamp), id.wrapping_mul(31) ^ stamp],
        }
    }

    fn json(&self) -> Vec<u8> {
        serde_json::to_vec(self).expect("Small serializes")
    }
}

/// SplitMix64's finalizer: key noise and random read order.
fn mix(mut z: u64) -> u64 {
    z = z.wrapping_add(0x9E37_79B9_7F4A_7C15);
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

/// Key `i`: seven digits, a colon, eight hex characters of noise (16 bytes),
/// sorting by `i`.
fn key(i: u64) -> String {
    format!("{i:07}:{:08x}", mix(i) as u32)
}

// ----- configuration -----

/// True when `ZESTOR_BENCH_QUICK=1`, or when run without `--bench` (as
/// `cargo test --benches` runs it): the same rule as the root benches.
fn quick() -> bool {
    std::env::var("ZESTOR_BENCH_QUICK").is_ok_and(|v| v == "1" || v == "true")
        || !std::env::args().any(|arg| arg == "--bench")
}

struct Config {
    quick: bool,
    /// How long each throughput cell runs.
    cell: Duration,
    threads: [usize; 3],
    /// Keys each writer thread cycles over.
    keys_per_thread: usize,
    /// Writes per timed run of the Interval table (sustained row).
    set_ops: usize,
    /// Writes per timed run of the bursts row.
    burst_ops: usize,
    /// Writes per timed run of the write-path row.
    write_path_ops: usize,
    /// Keys the Interval table writes to.
    set_keys: usize,
    /// Keys of the read table, and gets per timed run.
    read_keys: usize,
    get_ops: usize,
    /// Keys in the recovery file.
    recovery_keys: usize,
}

impl Config {
    fn new() -> Self {
        let quick = quick();
        Config {
            quick,
            cell: if quick {
                Duration::from_millis(300)
            } else {
                Duration::from_secs(2)
            },
            threads: [1, 4, 16],
            keys_per_thread: 1_000,
            set_ops: if quick { 100_000 } else { 1_000_000 },
            burst_ops: if quick { 50_000 } else { 200_000 },
            write_path_ops: if quick { 100_000 } else { 200_000 },
            set_keys: 10_000,
            read_keys: if quick { 10_000 } else { 100_000 },
            get_ops: if quick { 200_000 } else { 1_000_000 },
            recovery_keys: if quick { 20_000 } else { 1_000_000 },
        }
    }
}

/// Repetitions of the single-thread timings (median taken).
const REPS: usize = 3;
/// Items per `set_many` when filling a store.
const BATCH: usize = 10_000;
/// Writes per burst in the bursts row of the Interval table.
const BURST: usize = 10_000;
/// The untimed pause after each burst: several commit intervals.
const BURST_PAUSE: Duration = Duration::from_millis(30);
/// The interval of the Interval-mode store.
const INTERVAL: Duration = Duration::from_millis(10);
/// The write-path row: an interval no run reaches, and at most this many
/// writes per opened store, fewer than the 65,536 pending records past which
/// writers wait for a commit.
const WRITE_PATH_INTERVAL: Duration = Duration::from_secs(600);
const WRITE_PATH_SEGMENT: usize = 50_000;

/// The caveat line every table starts with.
fn caveat() -> String {
    let cores = std::thread::available_parallelism().map_or(0, |n| n.get());
    format!(
        "  (machine: {cores} cores, a shared and noisy VM; absolute numbers move by tens of \
         percent between runs, and what they say about other machines is the reader's call)"
    )
}

/// `/proc/loadavg`'s first three fields (what else the machine was doing).
fn load_average() -> String {
    std::fs::read_to_string("/proc/loadavg").map_or_else(
        |_| "unknown".to_owned(),
        |text| {
            text.split_whitespace()
                .take(3)
                .collect::<Vec<_>>()
                .join(" ")
        },
    )
}

fn median(mut values: Vec<f64>) -> f64 {
    values.sort_by(f64::total_cmp);
    values[values.len() / 2]
}

/// Lets go of a durable store: dropping its last handle commits what is
/// pending and releases the file, as `close` does. Not `close()` followed
/// by the drop: that closes the journal twice, and at the time of writing
/// the second close could wait forever (it can reach the committer's channel
/// after the committer answered the first close and before it hung up).
fn release(store: Store<Small>) {
    drop(store);
}

/// A new file's path in `dir`, removed first if a previous run left it.
fn fresh(dir: &Path, name: &str) -> PathBuf {
    let path = dir.join(name);
    let _ = std::fs::remove_file(&path);
    path
}

// ----- 3. acknowledged writes per second -----

/// Runs `threads` writers for `duration`: each calls `body(thread, barrier,
/// stop)`, which prepares (untimed), waits on the barrier, writes until
/// `stop`, and returns how many writes were acknowledged. Returns all
/// threads' writes per second, the clock running from the barrier to the
/// last writer's return (so writes in flight at the deadline count, with
/// their time).
fn run_writers<F>(threads: usize, duration: Duration, body: F) -> f64
where
    F: Fn(usize, &Barrier, &AtomicBool) -> u64 + Sync,
{
    let barrier = Barrier::new(threads + 1);
    let stop = AtomicBool::new(false);
    let (total, elapsed) = std::thread::scope(|scope| {
        let handles: Vec<_> = (0..threads)
            .map(|t| {
                let (body, barrier, stop) = (&body, &barrier, &stop);
                scope.spawn(move || body(t, barrier, stop))
            })
            .collect();
        barrier.wait();
        let start = Instant::now();
        std::thread::sleep(duration);
        stop.store(true, Ordering::Relaxed);
        let total: u64 = handles
            .into_iter()
            .map(|handle| handle.join().expect("writer thread"))
            .sum();
        (total, start.elapsed())
    });
    total as f64 / elapsed.as_secs_f64()
}

/// The loop of one writer: `write(i)` until stopped; the count.
fn write_until(barrier: &Barrier, stop: &AtomicBool, mut write: impl FnMut(u64)) -> u64 {
    barrier.wait();
    let mut done = 0u64;
    while !stop.load(Ordering::Relaxed) {
        write(done);
        done += 1;
    }
    done
}

fn thread_keys(config: &Config, thread: usize) -> Vec<String> {
    (0..config.keys_per_thread)
        .map(|i| format!("t{thread:02}-{i:05}"))
        .collect()
}

fn zestor_durable_writes(config: &Config, dir: &Path, threads: usize) -> f64 {
    let path = fresh(dir, &format!("zd-immediate-{threads}.db"));
    let store = zestor_durable::open::<Small>(&path, Options::new())
        .expect("open the zestor-durable store");
    let rate = run_writers(threads, config.cell, |t, barrier, stop| {
        let keys = thread_keys(config, t);
        write_until(barrier, stop, |i| {
            let key = &keys[i as usize % keys.len()];
            store
                .set(KIND, key, Small::new(i, t as u64))
                .expect("zestor-durable set");
        })
    });
    release(store);
    rate
}

const REDB_TABLE: TableDefinition<'static, &'static str, &'static [u8]> =
    TableDefinition::new("kv");

fn redb_writes(config: &Config, dir: &Path, threads: usize) -> f64 {
    let path = fresh(dir, &format!("redb-{threads}.db"));
    let db = redb::Database::create(&path).expect("create the redb file");
    let txn = db.begin_write().expect("begin the first transaction");
    txn.open_table(REDB_TABLE).expect("create the table");
    txn.commit().expect("commit the table");
    let rate = run_writers(threads, config.cell, |t, barrier, stop| {
        let keys = thread_keys(config, t);
        write_until(barrier, stop, |i| {
            let key = &keys[i as usize % keys.len()];
            let bytes = Small::new(i, t as u64).json();
            // Durability::Immediate: redb's default.
            let txn = db.begin_write().expect("redb begin_write");
            {
                let mut table = txn.open_table(REDB_TABLE).expect("redb open_table");
                table
                    .insert(key.as_str(), bytes.as_slice())
                    .expect("redb insert");
            }
            txn.commit().expect("redb commit");
        })
    });
    drop(db);
    rate
}

const SQLITE_UPSERT: &str =
    "INSERT INTO kv (k, v) VALUES (?1, ?2) ON CONFLICT(k) DO UPDATE SET v = excluded.v";

/// A connection as every SQLite writer has it: WAL (a property of the
/// file), `synchronous=FULL`, waiting up to 60 s for the write lock.
fn sqlite_connection(path: &Path) -> Connection {
    let conn = Connection::open(path).expect("open the SQLite file");
    conn.busy_timeout(Duration::from_secs(60))
        .expect("set busy_timeout");
    let mode: String = conn
        .query_row("PRAGMA journal_mode = WAL", [], |row| row.get(0))
        .expect("set WAL mode");
    assert_eq!(mode.to_ascii_lowercase(), "wal", "SQLite refused WAL mode");
    conn.pragma_update(None, "synchronous", "FULL")
        .expect("set synchronous=FULL");
    let synchronous: i64 = conn
        .query_row("PRAGMA synchronous", [], |row| row.get(0))
        .expect("read synchronous");
    assert_eq!(synchronous, 2, "synchronous is not FULL");
    conn
}

fn sqlite_writes(config: &Config, dir: &Path, threads: usize) -> f64 {
    let path = fresh(dir, &format!("sqlite-{threads}.db"));
    for suffix in ["-wal", "-shm"] {
        let _ = std::fs::remove_file(dir.join(format!("sqlite-{threads}.db{suffix}")));
    }
    let setup = sqlite_connection(&path);
    setup
        .execute(
            "CREATE TABLE kv (k TEXT PRIMARY KEY NOT NULL, v BLOB NOT NULL)",
            [],
        )
        .expect("create the table");
    let rate = run_writers(threads, config.cell, |t, barrier, stop| {
        let keys = thread_keys(config, t);
        let conn = sqlite_connection(&path);
        let mut upsert = conn.prepare(SQLITE_UPSERT).expect("prepare the upsert");
        write_until(barrier, stop, |i| {
            let key = &keys[i as usize % keys.len()];
            let bytes = Small::new(i, t as u64).json();
            let changed = upsert
                .execute(rusqlite::params![key, bytes])
                .expect("SQLite upsert");
            debug_assert_eq!(changed, 1);
        })
    });
    drop(setup);
    rate
}

/// The disk's own cost of a durable write: overwrite 4 KiB, `fdatasync`;
/// the median of `rounds`, in µs.
fn fdatasync_micros(dir: &Path, rounds: usize) -> f64 {
    let path = fresh(dir, "fsync-probe");
    let mut file = OpenOptions::new()
        .create(true)
        .truncate(true)
        .read(true)
        .write(true)
        .open(&path)
        .expect("create the fsync probe");
    let block = [0x5Au8; 4096];
    file.write_all(&block).expect("write the probe");
    file.sync_all().expect("sync the probe");
    let times: Vec<f64> = (0..rounds)
        .map(|round| {
            let start = Instant::now();
            file.seek(SeekFrom::Start((round % 16 * 4096) as u64))
                .and_then(|_| file.write_all(&block))
                .expect("write the probe");
            file.sync_data().expect("fdatasync the probe");
            start.elapsed().as_secs_f64() * 1e6
        })
        .collect();
    drop(file);
    let _ = std::fs::remove_file(&path);
    median(times)
}

fn write_throughput(config: &Config, dir: &Path) {
    let fsync = fdatasync_micros(dir, if config.quick { 50 } else { 300 });
    type Engine = fn(&Config, &Path, usize) -> f64;
    let engines: [(&str, Engine); 3] = [
        (
            "zestor-durable Immediate (group commit)",
            zestor_durable_writes,
        ),
        ("redb direct, 1 txn per write", redb_writes),
        ("SQLite WAL sync=FULL, autocommit", sqlite_writes),
    ];
    let mut rows = Vec::new();
    for (name, engine) in engines {
        let rates: Vec<f64> = config
            .threads
            .iter()
            .map(|&threads| engine(config, dir, threads))
            .collect();
        rows.push((name, rates));
    }

    println!("\ndurable_write_throughput");
    println!("{}", caveat());
    println!(
        "  acknowledged writes/s (a write counts once it returned: on disk), {} threads each \
         upserting its own {} keys, {:.1} s per cell, a new file per cell",
        config
            .threads
            .iter()
            .map(usize::to_string)
            .collect::<Vec<_>>()
            .join("/"),
        config.keys_per_thread,
        config.cell.as_secs_f64()
    );
    println!(
        "  the disk: overwrite 4 KiB + fdatasync, median {fsync:.0} µs ({:.0}/s)",
        1e6 / fsync
    );
    println!(
        "{:<42} {:>12} {:>12} {:>12} {:>8}",
        "engine", "1 thread", "4 threads", "16 threads", "16t/1t"
    );
    for (name, rates) in &rows {
        println!(
            "{:<42} {:>12.0} {:>12.0} {:>12.0} {:>7.2}×",
            name,
            rates[0],
            rates[1],
            rates[2],
            rates[2] / rates[0]
        );
    }
    let zd = &rows[0].1;
    let scaling = zd[2] / zd[0];
    println!(
        "  target: zestor-durable 16 threads >= 5× its 1 thread: {:.2}× — {}",
        scaling,
        if scaling >= 5.0 { "MET" } else { "MISSED" }
    );
    println!(
        "  zestor-durable ÷ redb direct: {:.2}× / {:.2}× / {:.2}×; ÷ SQLite: {:.2}× / {:.2}× / {:.2}×",
        zd[0] / rows[1].1[0],
        zd[1] / rows[1].1[1],
        zd[2] / rows[1].1[2],
        zd[0] / rows[2].1[0],
        zd[1] / rows[2].1[1],
        zd[2] / rows[2].1[2],
    );
}

// ----- 1. Interval mode: the cost of a write -----

/// Sets `ops` values, `BURST` at a time with an untimed `pause` after each
/// burst (none: back to back); ns per write.
fn time_sets(
    store: &Store<Small>,
    keys: &[String],
    ops: usize,
    stamp: u64,
    pause: Option<Duration>,
) -> f64 {
    let mut timed = Duration::ZERO;
    let chunk = if pause.is_some() { BURST } else { ops };
    let mut done = 0;
    while done < ops {
        let end = (done + chunk).min(ops);
        let start = Instant::now();
        for i in done..end {
            black_box(
                store
                    .set(KIND, &keys[i % keys.len()], Small::new(i as u64, stamp))
                    .expect("set"),
            );
        }
        timed += start.elapsed();
        done = end;
        if let Some(pause) = pause {
            std::thread::sleep(pause);
        }
    }
    timed.as_nanos() as f64 / ops as f64
}

fn fill(store: &Store<Small>, keys: &[String], stamp: u64) {
    for (c, chunk) in keys.chunks(BATCH).enumerate() {
        store
            .set_many(
                KIND,
                chunk
                    .iter()
                    .enumerate()
                    .map(|(i, key)| (key.as_str(), Small::new((c * BATCH + i) as u64, stamp))),
            )
            .expect("set_many");
    }
}

/// A row of the Interval table: what runs, and the timings.
struct CostRow {
    label: &'static str,
    interval: Duration,
    ops: usize,
    memory_ns: Vec<f64>,
    durable_ns: Vec<f64>,
}

fn interval_cost(config: &Config, dir: &Path) {
    let keys: Vec<String> = (0..config.set_keys as u64).map(key).collect();
    let path = fresh(dir, "zd-interval.db");
    let memory = Store::<Small>::new();
    fill(&memory, &keys, u64::MAX);
    {
        let options = Options::new().durability(Durability::Interval(INTERVAL));
        let durable = zestor_durable::open::<Small>(&path, options).expect("open");
        fill(&durable, &keys, u64::MAX);
        release(durable);
    }
    // Each timed durable run opens the file (untimed) and releases it after
    // (untimed; that commits what is pending), so its committer's work
    // never overlaps the next in-memory run.
    // `segment` writes at most per opened store.
    let run_durable =
        |interval: Duration, ops: usize, segment: usize, stamp: u64, pause: Option<Duration>| {
            let options = Options::new().durability(Durability::Interval(interval));
            let mut total_ns = 0.0;
            let mut done = 0;
            while done < ops {
                let n = segment.min(ops - done);
                let durable = zestor_durable::open::<Small>(&path, options.clone()).expect("open");
                total_ns += time_sets(&durable, &keys, n, stamp, pause) * n as f64;
                release(durable);
                done += n;
            }
            total_ns / ops as f64
        };
    let mut rows: Vec<CostRow> = Vec::new();
    for (label, interval, ops, segment, pause) in [
        (
            "sustained, back to back",
            INTERVAL,
            config.set_ops,
            config.set_ops,
            None,
        ),
        (
            "bursts of 10K, 30 ms pause",
            INTERVAL,
            config.burst_ops,
            config.burst_ops,
            Some(BURST_PAUSE),
        ),
        // Fewer writes per opened store than the backlog that makes writers
        // wait, and no commit before the store is released: the write path
        // alone.
        (
            "write path: no commit",
            WRITE_PATH_INTERVAL,
            config.write_path_ops,
            WRITE_PATH_SEGMENT,
            None,
        ),
    ] {
        let (mut memory_ns, mut durable_ns) = (Vec::new(), Vec::new());
        for rep in 0..REPS {
            let stamp = (rows.len() * REPS + rep) as u64;
            if rep % 2 == 0 {
                memory_ns.push(time_sets(&memory, &keys, ops, stamp, pause));
                durable_ns.push(run_durable(interval, ops, segment, stamp, pause));
            } else {
                durable_ns.push(run_durable(interval, ops, segment, stamp, pause));
                memory_ns.push(time_sets(&memory, &keys, ops, stamp, pause));
            }
        }
        rows.push(CostRow {
            label,
            interval,
            ops,
            memory_ns,
            durable_ns,
        });
    }
    drop(memory);

    println!("\ninterval_write_cost");
    println!("{}", caveat());
    println!(
        "  1 thread, set of an existing key ({} keys), ns per write, median of {REPS} runs \
         alternated (every run on the right); in-memory = zestor::Store::new()",
        config.set_keys
    );
    println!(
        "{:<28} {:>9} {:>9} {:>10} {:>9} {:>7}   runs (in-memory | durable)",
        "mode", "interval", "writes", "in-memory", "durable", "ratio"
    );
    let runs = |values: &[f64]| {
        values
            .iter()
            .map(|v| format!("{v:.0}"))
            .collect::<Vec<_>>()
            .join(" ")
    };
    let mut ratios = Vec::new();
    for row in &rows {
        let (m, d) = (
            median(row.memory_ns.clone()),
            median(row.durable_ns.clone()),
        );
        ratios.push(d / m);
        println!(
            "{:<28} {:>9} {:>9} {:>10.0} {:>9.0} {:>6.2}×   {} | {}",
            row.label,
            if row.interval < Duration::from_secs(1) {
                format!("{} ms", row.interval.as_millis())
            } else {
                format!("{} s", row.interval.as_secs())
            },
            row.ops,
            m,
            d,
            d / m,
            runs(&row.memory_ns),
            runs(&row.durable_ns)
        );
    }
    let verdict = |ratio: f64| if ratio <= 1.3 { "MET" } else { "MISSED" };
    println!(
        "  target: Interval write at most 1.3× the in-memory store's: sustained {:.2}× — {}; \
         bursts {:.2}× — {}; write path alone {:.2}× — {}",
        ratios[0],
        verdict(ratios[0]),
        ratios[1],
        verdict(ratios[1]),
        ratios[2],
        verdict(ratios[2])
    );
}

// ----- 2. reads -----

fn time_gets(store: &Store<Small>, keys: &[String], order: &[u32]) -> f64 {
    let start = Instant::now();
    for &i in order {
        black_box(store.get(KIND, &keys[i as usize]).expect("get"));
    }
    start.elapsed().as_nanos() as f64 / order.len() as f64
}

fn reads(config: &Config, dir: &Path) {
    let keys: Vec<String> = (0..config.read_keys as u64).map(key).collect();
    let order: Vec<u32> = (0..config.get_ops as u64)
        .map(|i| (mix(i ^ 0xBEEF) % config.read_keys as u64) as u32)
        .collect();
    let memory = Store::<Small>::new();
    fill(&memory, &keys, 0);
    let path = fresh(dir, "zd-reads.db");
    let durable = zestor_durable::open::<Small>(&path, Options::new()).expect("open");
    fill(&durable, &keys, 0);
    let hits = |store: &Store<Small>| {
        order
            .iter()
            .take(1_000)
            .all(|&i| store.get(KIND, &keys[i as usize]).expect("get").is_some())
    };
    assert!(hits(&memory) && hits(&durable), "a filled key is missing");
    let (mut mem_ns, mut durable_ns) = (Vec::new(), Vec::new());
    for rep in 0..REPS {
        if rep % 2 == 0 {
            mem_ns.push(time_gets(&memory, &keys, &order));
            durable_ns.push(time_gets(&durable, &keys, &order));
        } else {
            durable_ns.push(time_gets(&durable, &keys, &order));
            mem_ns.push(time_gets(&memory, &keys, &order));
        }
    }
    release(durable);
    drop(memory);

    let (m, d) = (median(mem_ns.clone()), median(durable_ns.clone()));
    println!("\ndurable_reads");
    println!("{}", caveat());
    println!(
        "  get of existing keys in random order, {} keys, {} gets per run, ns per get, \
         median of {REPS} runs alternated; durable = Immediate, everything committed",
        config.read_keys, config.get_ops
    );
    println!(
        "{:<10} {:>10} {:>10} {:>7}   runs (in-memory | durable)",
        "keys", "in-memory", "durable", "ratio"
    );
    let runs = |values: &[f64]| {
        values
            .iter()
            .map(|v| format!("{v:.1}"))
            .collect::<Vec<_>>()
            .join(" ")
    };
    println!(
        "{:<10} {:>10.1} {:>10.1} {:>6.2}×   {} | {}",
        config.read_keys,
        m,
        d,
        d / m,
        runs(&mem_ns),
        runs(&durable_ns)
    );
}

// ----- 4. recovery -----

fn recovery(config: &Config, dir: &Path) {
    let n = config.recovery_keys;
    let path = fresh(dir, "zd-recovery.db");
    let fill_start = Instant::now();
    {
        let options = Options::new().durability(Durability::Interval(INTERVAL));
        let store = zestor_durable::open::<Small>(&path, options).expect("open");
        let keys: Vec<String> = (0..n as u64).map(key).collect();
        fill(&store, &keys, 7);
        release(store);
    }
    let fill_time = fill_start.elapsed();
    let bytes = std::fs::metadata(&path).expect("the file's size").len();
    let mut opens = Vec::new();
    for _ in 0..2 {
        let start = Instant::now();
        let store = zestor_durable::open::<Small>(&path, Options::new()).expect("reopen");
        let elapsed = start.elapsed();
        assert_eq!(store.count(KIND).expect("count"), n, "keys lost on reopen");
        assert_eq!(
            store.revision(KIND).expect("revision"),
            n.div_ceil(BATCH) as u64
        );
        release(store);
        opens.push(elapsed.as_secs_f64());
    }
    // Read the file once more to show it is cached (not a timing of the disk).
    let mut sink = Vec::new();
    let read_start = Instant::now();
    std::io::Read::read_to_end(&mut File::open(&path).expect("open the file"), &mut sink)
        .expect("read the file");
    let read_time = read_start.elapsed();
    drop(sink);

    println!("\ndurable_recovery");
    println!("{}", caveat());
    println!(
        "  open of a file holding {n} keys (written with set_many of {BATCH} in Interval mode, \
         closed; filled in {:.1} s), timed twice; the file is in the page cache (reading it \
         whole with read(2) took {:.3} s)",
        fill_time.as_secs_f64(),
        read_time.as_secs_f64()
    );
    println!(
        "{:<10} {:>10} {:>11} {:>10} {:>12} {:>10} {:>12}",
        "keys", "file MiB", "bytes/key", "open 1 s", "keys/s", "open 2 s", "keys/s"
    );
    println!(
        "{:<10} {:>10.1} {:>11.0} {:>10.3} {:>12.0} {:>10.3} {:>12.0}",
        n,
        bytes as f64 / (1024.0 * 1024.0),
        bytes as f64 / n as f64,
        opens[0],
        n as f64 / opens[0],
        opens[1],
        n as f64 / opens[1]
    );
}

fn main() {
    // `-- <filter>`: the tables whose name contains it; none: all four.
    let filter: Vec<String> = std::env::args()
        .skip(1)
        .filter(|arg| !arg.starts_with("--"))
        .collect();
    let wanted = |table: &str| filter.is_empty() || filter.iter().any(|f| table.contains(f));
    let config = Config::new();
    let dir = tempfile::Builder::new()
        .prefix("zestor-durable-bench-")
        .tempdir()
        .expect("create a temporary directory");
    let began = Instant::now();
    println!(
        "zestor-durable benches ({} mode), files in {}; load average at start: {}",
        if config.quick { "quick" } else { "full" },
        dir.path().display(),
        load_average()
    );
    // Single-thread timings first (see the module docs).
    if wanted("interval_write_cost") {
        interval_cost(&config, dir.path());
    }
    if wanted("durable_reads") {
        reads(&config, dir.path());
    }
    if wanted("durable_write_throughput") {
        write_throughput(&config, dir.path());
    }
    if wanted("durable_recovery") {
        recovery(&config, dir.path());
    }
    println!(
        "\ntotal: {:.1} s; load average at the end: {}",
        began.elapsed().as_secs_f64(),
        load_average()
    );
}
