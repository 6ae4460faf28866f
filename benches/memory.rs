//! Group 7: memory per key, and the peak under delete churn, measured with a
//! counting global allocator (bytes requested, exact) and, for reference, the
//! resident set size from `/proc/self/statm` (includes allocator overhead
//! and fragmentation; page-granular).
//!
//! Each contender is measured in a child process of its own (this binary,
//! re-run with `ZESTOR_MEMORY_FAMILY` set), so one family's freed memory and
//! deferred garbage cannot flatter or hurt the next one's RSS.
//!
//! Per family: fill N keys (1M; 10K in quick mode) → `bytes/key` = heap
//! growth / N, keys included (each structure owns its copies of the keys).
//! Then churn: N times, delete a random key and insert it again → `peak
//! over steady` = the most the heap grew above the filled state during the
//! churn (tombstones, epoch-deferred frees, resize leftovers), and `after
//! churn` = what is still above it at the end. Written to
//! `$CARGO_TARGET_DIR/zestor-bench/memory.{csv,json}`. Then, in children of
//! their own: what held snapshots keep alive (`pins.csv`), and what history
//! keeps alive under each `StoreBuilder::history` setting, after `close`,
//! and per kind: empty, after 1, 8, 100 and 2,000 writes, and for 100K
//! kinds of one key, before and after that key's delete (`history.csv`).
//! Last, where the bytes per key go: the allocations still live after the
//! fill, by size, for zestor, papaya and the locked design
//! (`breakdown.csv`); a size names its structure (`BENCHMARKS.md`).

mod support;

use std::alloc::{GlobalAlloc, Layout, System};
use std::fmt::Write as _;
use std::process::Command;
use std::sync::atomic::{AtomicBool, AtomicIsize, AtomicUsize, Ordering};

use support::contenders::{self, Contender, Family, Variants, Visitor};
use support::{key, size_label, Record, Rng};

/// Counts the bytes the program holds and the most it ever held.
struct Counting;

static CURRENT: AtomicUsize = AtomicUsize::new(0);
static PEAK: AtomicUsize = AtomicUsize::new(0);

/// The largest allocation counted by its exact size in the breakdown;
/// larger ones are counted by power-of-two class.
const SMALL_MAX: usize = 4096;

/// While set, live allocations are also counted by size (the breakdown).
static BY_SIZE_ON: AtomicBool = AtomicBool::new(false);
/// Live allocations of each size up to `SMALL_MAX` bytes.
static BY_SIZE: [AtomicIsize; SMALL_MAX + 1] = [const { AtomicIsize::new(0) }; SMALL_MAX + 1];
/// Live allocations above `SMALL_MAX`, by class `k`: sizes in `[2^k, 2^(k+1))`.
static LARGE: [AtomicIsize; 64] = [const { AtomicIsize::new(0) }; 64];
/// Their bytes, by the same class.
static LARGE_BYTES: [AtomicIsize; 64] = [const { AtomicIsize::new(0) }; 64];

fn tally(bytes: usize, delta: isize) {
    if !BY_SIZE_ON.load(Ordering::Relaxed) {
        return;
    }
    if bytes <= SMALL_MAX {
        BY_SIZE[bytes].fetch_add(delta, Ordering::Relaxed);
    } else {
        let class = (usize::BITS - 1 - bytes.leading_zeros()) as usize;
        LARGE[class].fetch_add(delta, Ordering::Relaxed);
        LARGE_BYTES[class].fetch_add(delta * bytes as isize, Ordering::Relaxed);
    }
}

fn grew(bytes: usize) {
    let now = CURRENT.fetch_add(bytes, Ordering::Relaxed) + bytes;
    PEAK.fetch_max(now, Ordering::Relaxed);
    tally(bytes, 1);
}

fn shrank(bytes: usize) {
    CURRENT.fetch_sub(bytes, Ordering::Relaxed);
    tally(bytes, -1);
}

// SAFETY: every method forwards to `System` with the caller's arguments
// unchanged and only adds bookkeeping on atomics, which never allocates.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        // SAFETY: forwarded unchanged (see the impl).
        let ptr = unsafe { System.alloc(layout) };
        if !ptr.is_null() {
            grew(layout.size());
        }
        ptr
    }

    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        // SAFETY: forwarded unchanged (see the impl).
        let ptr = unsafe { System.alloc_zeroed(layout) };
        if !ptr.is_null() {
            grew(layout.size());
        }
        ptr
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: forwarded unchanged (see the impl).
        unsafe { System.dealloc(ptr, layout) };
        shrank(layout.size());
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        // SAFETY: forwarded unchanged (see the impl).
        let new = unsafe { System.realloc(ptr, layout, new_size) };
        if !new.is_null() {
            grew(new_size);
            shrank(layout.size());
        }
        new
    }
}

#[global_allocator]
static ALLOCATOR: Counting = Counting;

/// Resident set size in bytes.
fn rss() -> usize {
    let statm = std::fs::read_to_string("/proc/self/statm").expect("read /proc/self/statm");
    let pages: usize = statm
        .split_whitespace()
        .nth(1)
        .and_then(|field| field.parse().ok())
        .expect("statm's second field");
    pages * 4096
}

const FAMILIES: &[(&str, Family)] = &[
    ("zestor", Family::Zestor),
    ("locked", Family::Locked),
    ("papaya", Family::Papaya),
    ("skipmap", Family::SkipMap),
    ("skiplist_base", Family::SkipList),
    ("scc_hashindex", Family::HashIndex),
    ("dashmap", Family::DashMap),
    ("rwlock_btreemap", Family::BTree),
    ("scc_treeindex", Family::TreeIndex),
];

const COLUMNS: &str = "contender,keys,avg_key_bytes,bytes_per_key,rss_bytes_per_key,\
                       churn_peak_bytes_per_key,after_churn_bytes_per_key,\
                       after_drop_bytes";

/// Measures one family in this process; prints one CSV row.
struct Measure<'a> {
    keys: &'a [String],
    heap_before: usize,
    rss_before: usize,
    row: Option<String>,
}

impl Visitor for Measure<'_> {
    fn visit<C: Contender>(&mut self, contender: &C) {
        let n = self.keys.len();
        let filled = CURRENT.load(Ordering::Relaxed);
        let rss_filled = rss();
        PEAK.store(filled, Ordering::Relaxed);
        let mut rng = Rng::new(0xC0C0);
        for i in 0..n as u64 {
            let index = rng.below(n as u64) as usize;
            assert!(contender.delete(&self.keys[index]));
            contender.set(&self.keys[index], Record::new(index as u64, i + 1));
        }
        let peak = PEAK.load(Ordering::Relaxed);
        let after_churn = CURRENT.load(Ordering::Relaxed);
        let per_key = |bytes: usize| bytes as f64 / n as f64;
        let avg_key = self.keys.iter().map(String::len).sum::<usize>() as f64 / n as f64;
        self.row = Some(format!(
            "{},{n},{avg_key:.1},{:.1},{:.1},{:.1},{:.1}",
            contender.name(),
            per_key(filled - self.heap_before),
            per_key(rss_filled.saturating_sub(self.rss_before)),
            per_key(peak - filled),
            per_key(after_churn.saturating_sub(filled)),
        ));
    }
}

fn measure_here(family: Family, n: usize) -> String {
    let keys: Vec<String> = (0..n as u64).map(key).collect();
    let mut fill: Vec<&str> = keys.iter().map(String::as_str).collect();
    Rng::new(0xF111).shuffle(&mut fill);
    let mut measure = Measure {
        keys: &keys,
        heap_before: CURRENT.load(Ordering::Relaxed),
        rss_before: rss(),
        row: None,
    };
    contenders::visit(family, &fill, Variants::Primary, &mut measure);
    let after_drop = CURRENT
        .load(Ordering::Relaxed)
        .saturating_sub(measure.heap_before);
    format!("{},{after_drop}", measure.row.expect("visited"))
}

/// Where the bytes per key go: the allocations still live after filling
/// `n` keys, by size, counted while the structure was filled.
struct Breakdown<'a> {
    n: usize,
    keys: &'a [&'a str],
    rows: Vec<String>,
}

impl Visitor for Breakdown<'_> {
    fn visit<C: Contender>(&mut self, contender: &C) {
        BY_SIZE_ON.store(false, Ordering::Relaxed);
        let n = self.n as f64;
        let name = contender.name();
        // Sizes held by at least 1% of the keys get a row each; the rest
        // are summed, so the rows add up to the whole growth.
        let mut rest = 0;
        for (size, live) in BY_SIZE.iter().enumerate() {
            let live = live.load(Ordering::Relaxed);
            if live.unsigned_abs() * 100 >= self.n {
                let bytes = live * size as isize;
                self.rows.push(format!(
                    "{name},{size} B,{:.2},{:.1}",
                    live as f64 / n,
                    bytes as f64 / n
                ));
            } else {
                rest += live * size as isize;
            }
        }
        if rest != 0 {
            self.rows.push(format!(
                "{name},other sizes up to {SMALL_MAX} B,,{:.1}",
                rest as f64 / n
            ));
        }
        for (class, live) in LARGE.iter().enumerate() {
            let live = live.load(Ordering::Relaxed);
            if live != 0 {
                let bytes = LARGE_BYTES[class].load(Ordering::Relaxed);
                self.rows.push(format!(
                    "{name},{live} of {}..{},,{:.1}",
                    binary_label(1 << class),
                    binary_label(1 << (class + 1)),
                    bytes as f64 / n
                ));
            }
        }
        // Deferred frees: what the allocations above 4 KiB come to once a
        // few removals have gone through the structure's reclamation.
        BY_SIZE_ON.store(true, Ordering::Relaxed);
        for key in self.keys.iter().take(100) {
            assert!(contender.delete(key));
        }
        BY_SIZE_ON.store(false, Ordering::Relaxed);
        let large: isize = LARGE_BYTES
            .iter()
            .map(|bytes| bytes.load(Ordering::Relaxed))
            .sum();
        self.rows.push(format!(
            "{name},above {} after 100 deletes,,{:.1}",
            binary_label(SMALL_MAX),
            large as f64 / n
        ));
    }
}

/// `bytes` as KiB or MiB where it is a whole number of them.
fn binary_label(bytes: usize) -> String {
    if bytes >= 1 << 20 && bytes % (1 << 20) == 0 {
        format!("{} MiB", bytes >> 20)
    } else if bytes >= 1 << 10 && bytes % (1 << 10) == 0 {
        format!("{} KiB", bytes >> 10)
    } else {
        format!("{bytes} B")
    }
}

/// The breakdown of one family's bytes per key at `n` keys; CSV rows:
/// contender, allocation, allocations per key, bytes per key.
fn breakdown_here(family: Family, n: usize) -> Vec<String> {
    let keys: Vec<String> = (0..n as u64).map(key).collect();
    let mut fill: Vec<&str> = keys.iter().map(String::as_str).collect();
    Rng::new(0xF111).shuffle(&mut fill);
    let mut breakdown = Breakdown {
        n,
        keys: &fill,
        rows: Vec::new(),
    };
    BY_SIZE_ON.store(true, Ordering::Relaxed);
    contenders::visit(family, &fill, Variants::Primary, &mut breakdown);
    breakdown.rows
}

/// What a held snapshot keeps alive: the heap growth per write while `held`
/// snapshots are held over `writes` overwrites of random keys of a kind of
/// `n` keys, and what is left above the store's own size once they are
/// dropped. One CSV row: held, writes, bytes per write held, bytes after.
fn pins_here(n: usize, held: usize, writes: usize) -> String {
    let store = zestor::Store::<Record>::builder().ring_capacity(1).build();
    let keys: Vec<String> = (0..n as u64).map(key).collect();
    for (i, key) in keys.iter().enumerate() {
        store.set("pins", key, Record::new(i as u64, 0)).unwrap();
    }
    // Each key overwritten once first, so the store's own size (a current
    // version, and the allocation of the one it replaced) is settled.
    for (i, key) in keys.iter().enumerate() {
        store.set("pins", key, Record::new(i as u64, 1)).unwrap();
    }
    let settled = CURRENT.load(Ordering::Relaxed);
    let snapshots: Vec<_> = (0..held).map(|_| store.snapshot("pins").unwrap()).collect();
    let mut rng = Rng::new(0x9195);
    for i in 0..writes {
        let index = rng.below(n as u64) as usize;
        store
            .set(
                "pins",
                &keys[index],
                Record::new(index as u64, i as u64 + 2),
            )
            .unwrap();
    }
    let grown = CURRENT.load(Ordering::Relaxed).saturating_sub(settled);
    drop(snapshots);
    // One more round of writes lets the store reach its own steady size
    // (each key's replaced allocation is the newest one again).
    for (i, key) in keys.iter().enumerate() {
        store.set("pins", key, Record::new(i as u64, 9)).unwrap();
    }
    let after = CURRENT.load(Ordering::Relaxed).saturating_sub(settled);
    format!(
        "{held},{writes},{:.1},{after}",
        grown as f64 / writes as f64
    )
}

/// What history keeps alive (issue 11): bytes still allocated above the
/// live value after 300 overwrites of one key with 1 MiB values, for each
/// `history` setting, unwatched and with one idle watch; then after
/// `close`; then what a kind costs: empty, holding one key, and once that
/// key is deleted. One CSV row per setting: label, retained, after close.
fn history_here() -> Vec<String> {
    const MIB: usize = 1 << 20;
    let settings: [(&str, usize, bool); 4] = [
        ("history(0)", 0, false),
        ("default (16)", 16, false),
        ("history(1024)", 1024, false),
        ("watched (16)", 16, true),
    ];
    let mut rows = Vec::new();
    for (label, history, watched) in settings {
        let store = zestor::Store::<Vec<u8>>::builder().history(history).build();
        // A lap of one-byte writes first, so every ring bucket is allocated
        // (`ring.rs`, "Lazy buckets") and what follows counts values only.
        for round in 0..=zestor::StoreBuilder::<Vec<u8>>::DEFAULT_RING_CAPACITY {
            store.set("blobs", "big", vec![round as u8]).unwrap();
        }
        store.set("blobs", "big", vec![0; MIB]).unwrap();
        let watch = watched.then(|| {
            store
                .watch("blobs", zestor::WatchOptions::new().buffer_size(1024))
                .unwrap()
        });
        let before = CURRENT.load(Ordering::Relaxed);
        for round in 1..=300u32 {
            store.set("blobs", "big", vec![round as u8; MIB]).unwrap();
        }
        let retained = CURRENT.load(Ordering::Relaxed).saturating_sub(before);
        store.close();
        let after_close = CURRENT.load(Ordering::Relaxed).saturating_sub(before);
        drop(watch);
        rows.push(format!("{label},{retained},{after_close}"));
    }
    // An empty kind: what a `kind()` handle on a new name creates.
    let store = zestor::Store::<Vec<u8>>::new();
    let kinds = 10_000;
    let before = CURRENT.load(Ordering::Relaxed);
    let handles: Vec<_> = (0..kinds)
        .map(|i| store.kind(&format!("kind-{i}")).unwrap())
        .collect();
    let per_kind = CURRENT.load(Ordering::Relaxed).saturating_sub(before) / kinds;
    drop(handles);
    rows.push(format!("empty kind,{per_kind},"));
    // A kind after n writes of one key (each a new value, so none is
    // skipped as unchanged): what its ring grows to as revisions reach more
    // of its slots.
    for writes in [1u64, 8, 100, 2000] {
        let store = zestor::Store::<u64>::new();
        let kinds = 1_000;
        let before = CURRENT.load(Ordering::Relaxed);
        for i in 0..kinds {
            let kind = format!("kind-{i}");
            for value in 0..writes {
                store.set(&kind, "k", value).unwrap();
            }
        }
        let per_kind = CURRENT.load(Ordering::Relaxed).saturating_sub(before) / kinds;
        rows.push(format!("kind after {writes} writes,{per_kind},"));
    }
    // Many small kinds (issue 11: 100K kinds of one key each), and what
    // each still holds once its key is deleted (the kind itself stays).
    let store = zestor::Store::<Vec<u8>>::new();
    let kinds = if support::quick() { 10_000 } else { 100_000 };
    let before = CURRENT.load(Ordering::Relaxed);
    for i in 0..kinds {
        store.set(&format!("kind-{i}"), "key", Vec::new()).unwrap();
    }
    let per_kind = CURRENT.load(Ordering::Relaxed).saturating_sub(before) / kinds;
    for i in 0..kinds {
        store.delete(&format!("kind-{i}"), "key").unwrap();
    }
    let emptied = CURRENT.load(Ordering::Relaxed).saturating_sub(before) / kinds;
    rows.push(format!("one-key kind ({kinds} kinds),{per_kind},"));
    rows.push(format!("one-key kind after its delete,{emptied},"));
    rows
}

/// Runs this binary again with `env` set, for a table measured in a
/// process of its own; its rows.
fn child_rows(exe: &std::path::Path, env: &[(&str, &str)]) -> String {
    let output = Command::new(exe)
        .args(std::env::args().skip(1))
        .envs(env.iter().copied())
        .output()
        .expect("run the measuring child");
    assert!(
        output.status.success(),
        "{env:?}: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8(output.stdout).expect("UTF-8 output")
}

fn main() {
    if std::env::var("ZESTOR_MEMORY_HISTORY").is_ok() {
        for row in history_here() {
            println!("{row}");
        }
        return;
    }
    if std::env::var("ZESTOR_MEMORY_PINS").is_ok() {
        let quick = support::quick();
        let (n, writes) = if quick {
            (1_000, 10_000)
        } else {
            (100_000, 1_000_000)
        };
        for held in [0, 1, 2] {
            println!("{}", pins_here(n, held, writes));
        }
        return;
    }
    let n = match std::env::var("ZESTOR_MEMORY_KEYS") {
        Ok(keys) => keys.parse().expect("ZESTOR_MEMORY_KEYS: a number"),
        Err(_) if support::quick() => 10_000,
        Err(_) => 1_000_000,
    };
    if let Ok(name) = std::env::var("ZESTOR_MEMORY_BREAKDOWN") {
        let (_, family) = FAMILIES
            .iter()
            .find(|(known, _)| *known == name)
            .expect("a known family");
        for row in breakdown_here(*family, n) {
            println!("{row}");
        }
        return;
    }
    // In a child: measure the one family asked for.
    if let Ok(name) = std::env::var("ZESTOR_MEMORY_FAMILY") {
        let (_, family) = FAMILIES
            .iter()
            .find(|(known, _)| *known == name)
            .expect("a known family");
        println!("{}", measure_here(*family, n));
        return;
    }
    let exe = std::env::current_exe().expect("this binary's path");
    let mut rows = Vec::new();
    for (name, _) in FAMILIES {
        let keys = n.to_string();
        let row = child_rows(
            &exe,
            &[
                ("ZESTOR_MEMORY_FAMILY", name),
                ("ZESTOR_MEMORY_KEYS", &keys),
            ],
        );
        rows.push(row.trim().to_owned());
    }

    println!("memory at {} keys (bytes per key)", size_label(n));
    println!(
        "{:<16} {:>9} {:>9} {:>9} {:>11} {:>11} {:>11}",
        "contender", "key len", "heap", "rss", "churn peak", "after churn", "after drop"
    );
    let mut csv = format!("{COLUMNS}\n");
    let mut json = String::from("[\n");
    let names: Vec<&str> = COLUMNS.split(',').collect();
    for (i, row) in rows.iter().enumerate() {
        let fields: Vec<&str> = row.split(',').collect();
        println!(
            "{:<16} {:>9} {:>9} {:>9} {:>11} {:>11} {:>11}",
            fields[0], fields[2], fields[3], fields[4], fields[5], fields[6], fields[7]
        );
        let _ = writeln!(csv, "{row}");
        let object: Vec<String> = names
            .iter()
            .zip(&fields)
            .map(|(name, value)| match value.parse::<f64>() {
                Ok(_) => format!("\"{name}\": {value}"),
                Err(_) => format!("\"{name}\": \"{value}\""),
            })
            .collect();
        let comma = if i + 1 < rows.len() { "," } else { "" };
        let _ = writeln!(json, "  {{{}}}{comma}", object.join(", "));
    }
    json.push_str("]\n");
    let dir = support::output_dir();
    std::fs::write(dir.join("memory.csv"), csv).expect("write memory.csv");
    std::fs::write(dir.join("memory.json"), json).expect("write memory.json");
    println!("(after drop: bytes still allocated once the structure is gone: deferred frees)");
    println!("written: {}", dir.join("memory.{csv,json}").display());

    // What held snapshots keep alive, in a child of its own.
    println!();
    println!("zestor: what held snapshots keep alive (overwrites of random keys, 32-byte values)");
    println!(
        "{:>6} {:>9} {:>20} {:>26}",
        "held", "writes", "bytes/write held", "bytes left after dropping"
    );
    table(
        &child_rows(&exe, &[("ZESTOR_MEMORY_PINS", "1")]),
        "held,writes,bytes_per_write_held,bytes_after_drop",
        "pins.csv",
        |f| format!("{:>6} {:>9} {:>20} {:>26}", f[0], f[1], f[2], f[3]),
    );

    // What history keeps alive, in a child of its own.
    println!();
    println!("zestor: what history keeps alive (300 overwrites of one key, 1 MiB values; bytes above the live value)");
    println!("{:<32} {:>14} {:>14}", "setting", "retained", "after close");
    table(
        &child_rows(&exe, &[("ZESTOR_MEMORY_HISTORY", "1")]),
        "setting,retained_bytes,after_close_bytes",
        "history.csv",
        |f| format!("{:<32} {:>14} {:>14}", f[0], f[1], f[2]),
    );

    // Where zestor's bytes per key go, next to papaya's (its point index
    // alone) and the locked design's, each in a child of its own.
    println!();
    println!(
        "where the bytes per key go at {} keys (allocations live after the fill, by size)",
        size_label(n)
    );
    println!(
        "{:<10} {:<28} {:>14} {:>12}",
        "contender", "allocation", "count per key", "bytes/key"
    );
    let keys = n.to_string();
    let rows: String = ["zestor", "papaya", "locked"]
        .into_iter()
        .map(|family| {
            child_rows(
                &exe,
                &[
                    ("ZESTOR_MEMORY_BREAKDOWN", family),
                    ("ZESTOR_MEMORY_KEYS", &keys),
                ],
            )
        })
        .collect();
    table(
        &rows,
        "contender,allocation,count_per_key,bytes_per_key",
        "breakdown.csv",
        |f| format!("{:<10} {:<28} {:>14} {:>12}", f[0], f[1], f[2], f[3]),
    );
}

/// Prints each CSV row of `rows` as `line` lays out its fields, and writes
/// them under `header` to `file` in the bench output directory.
fn table(rows: &str, header: &str, file: &str, line: impl Fn(&[&str]) -> String) {
    let mut csv = format!("{header}\n");
    for row in rows.lines() {
        let fields: Vec<&str> = row.split(',').collect();
        println!("{}", line(&fields));
        let _ = writeln!(csv, "{row}");
    }
    let path = support::output_dir().join(file);
    std::fs::write(&path, csv).unwrap_or_else(|error| panic!("write {}: {error}", path.display()));
}
