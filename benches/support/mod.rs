//! Shared by every bench binary: configuration (full or quick mode), keys,
//! workloads (uniform and Zipf), the multi-thread runner, and the contenders.
//!
//! Each bench binary includes this module with `mod support;` and uses a
//! different part of it, hence the `dead_code` allowance.
#![allow(dead_code)]

pub mod contenders;
pub mod fanout;
pub mod locked;

use std::hint::black_box;
use std::path::PathBuf;
use std::sync::Barrier;
use std::time::{Duration, Instant};

use criterion::Criterion;

/// The kind every benchmark writes to.
pub const KIND: &str = "bench";

// ----- configuration -----

/// True when `ZESTOR_BENCH_QUICK=1`: the CI smoke mode that only checks that
/// every bench still runs (1K keys, fewer threads, short timings). Also true
/// when the binary runs without `--bench` (as `cargo test --benches` runs
/// it), where criterion only checks each benchmark once: building 1M-key
/// stores for that would be waste.
pub fn quick() -> bool {
    std::env::var("ZESTOR_BENCH_QUICK").is_ok_and(|v| v == "1" || v == "true")
        || !std::env::args().any(|arg| arg == "--bench")
}

/// The criterion settings of the suite. Full mode keeps each benchmark near
/// 1.5 s so the whole suite fits in well under 30 minutes on 2 cores; the
/// command line (`--warm-up-time`, `--measurement-time`, ...) still overrides.
pub fn criterion() -> Criterion {
    let base = Criterion::default().without_plots();
    if quick() {
        base.warm_up_time(Duration::from_millis(50))
            .measurement_time(Duration::from_millis(150))
            .sample_size(10)
            .nresamples(1_000)
    } else {
        base.warm_up_time(Duration::from_millis(300))
            .measurement_time(Duration::from_millis(1_000))
            .sample_size(30)
            .nresamples(10_000)
    }
}

/// Store sizes: `ZESTOR_BENCH_SIZES` (e.g. `1K,100K`), else 1K, 100K and 1M
/// (1K only in quick mode).
pub fn sizes() -> Vec<usize> {
    match std::env::var("ZESTOR_BENCH_SIZES") {
        Ok(list) => list.split(',').map(parse_size).collect(),
        Err(_) if quick() => vec![1_000],
        Err(_) => vec![1_000, 100_000, 1_000_000],
    }
}

/// One size for the groups that are not swept over sizes: 100K keys (1K in
/// quick mode), or `ZESTOR_BENCH_BASE`.
pub fn base_size() -> usize {
    match std::env::var("ZESTOR_BENCH_BASE") {
        Ok(size) => parse_size(&size),
        Err(_) if quick() => 1_000,
        Err(_) => 100_000,
    }
}

/// Thread counts of the mixed group: `ZESTOR_BENCH_THREADS` (e.g.
/// `1,2,4,8,16`, which `ci/scaling.sh` sets), else 1, 2, 4 (1, 2 quick).
pub fn thread_counts() -> Vec<usize> {
    match std::env::var("ZESTOR_BENCH_THREADS") {
        Ok(list) => list
            .split(',')
            .map(|t| t.trim().parse().expect("ZESTOR_BENCH_THREADS: numbers"))
            .collect(),
        Err(_) if quick() => vec![1, 2],
        Err(_) => vec![1, 2, 4],
    }
}

fn parse_size(text: &str) -> usize {
    let text = text.trim();
    let (digits, scale) = match text.as_bytes().last() {
        Some(b'K' | b'k') => (&text[..text.len() - 1], 1_000),
        Some(b'M' | b'm') => (&text[..text.len() - 1], 1_000_000),
        _ => (text, 1),
    };
    digits
        .parse::<usize>()
        .expect("a size like 1000, 100K or 1M")
        * scale
}

/// `1000` → `1K`, `1000000` → `1M`: the labels in benchmark ids.
pub fn size_label(n: usize) -> String {
    if n >= 1_000_000 && n % 1_000_000 == 0 {
        format!("{}M", n / 1_000_000)
    } else if n >= 1_000 && n % 1_000 == 0 {
        format!("{}K", n / 1_000)
    } else {
        n.to_string()
    }
}

/// Where the non-criterion benches write their tables:
/// `$CARGO_TARGET_DIR/zestor-bench` (or `target/zestor-bench`).
pub fn output_dir() -> PathBuf {
    let target = std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from("target"));
    let dir = target.join("zestor-bench");
    std::fs::create_dir_all(&dir).expect("create the bench output directory");
    dir
}

// ----- values and keys -----

/// The stored value: 32 bytes, no heap, so every write allocates the same
/// thing in every contender (one value box, `Arc` or zestor `Version`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Record {
    pub id: u64,
    pub payload: [u64; 3],
}

impl Record {
    /// A record that differs from every other made with a different `stamp`,
    /// so a write is never "unchanged" (zestor stores nothing then).
    pub fn new(id: u64, stamp: u64) -> Self {
        Record {
            id,
            payload: [stamp, id ^ stamp, 0],
        }
    }
}

/// SplitMix64: a tiny, good-enough generator; no crate needed.
#[derive(Debug, Clone)]
pub struct Rng(u64);

impl Rng {
    pub fn new(seed: u64) -> Self {
        Rng(seed ^ 0x9E37_79B9_7F4A_7C15)
    }

    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        mix(self.0)
    }

    /// Uniform in `0..n`.
    pub fn below(&mut self, n: u64) -> u64 {
        ((self.next_u64() as u128 * n as u128) >> 64) as u64
    }

    /// Uniform in `[0, 1)`.
    pub fn unit(&mut self) -> f64 {
        (self.next_u64() >> 11) as f64 * (1.0 / (1u64 << 53) as f64)
    }

    pub fn shuffle<T>(&mut self, items: &mut [T]) {
        for i in (1..items.len()).rev() {
            let j = self.below(i as u64 + 1) as usize;
            items.swap(i, j);
        }
    }
}

fn mix(mut z: u64) -> u64 {
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

/// Key `i`: seven zero-padded digits, a colon, and 8–24 hex characters of
/// noise, so keys are 16–32 bytes and sort by `i`. The digits make range and
/// prefix queries of an exact size easy: ids `m..2m` share a prefix when `m`
/// is a power of ten (`prefix_for`).
pub fn key(i: u64) -> String {
    key_with_tail(i, mix(i))
}

/// An absent key that sorts right next to `key(i)`: same digits, other noise.
/// Misses and fresh inserts use these, so they land all over the key space
/// instead of after its end.
pub fn absent_key(i: u64) -> String {
    let k = key_with_tail(i, mix(i ^ 0xA5A5_5A5A_DEAD_BEEF));
    debug_assert_ne!(k, key(i));
    k
}

fn key_with_tail(i: u64, noise: u64) -> String {
    let tail_len = 8 + (noise % 17) as usize;
    let tail = format!("{:016x}{:016x}", noise, mix(noise));
    format!("{i:07}:{}", &tail[..tail_len])
}

/// The prefix shared by exactly the keys with ids `m..2m`, for `m` a power of
/// ten below 10^7: `prefix_for(1000)` = `"0001"`.
pub fn prefix_for(m: u64) -> String {
    let digits = m.ilog10() as usize;
    format!("{m:07}")[..7 - digits].to_owned()
}

/// Bounds `[lo, hi)` that hold exactly the keys with ids `m..2m`.
pub fn range_for(m: u64) -> (String, String) {
    (format!("{m:07}"), format!("{:07}", 2 * m))
}

/// The keys of a store of `n` entries, and as many absent keys next to them.
#[derive(Debug)]
pub struct Keys {
    pub present: Vec<String>,
    pub absent: Vec<String>,
}

impl Keys {
    pub fn new(n: usize) -> Self {
        Keys {
            present: (0..n as u64).map(key).collect(),
            absent: (0..n as u64).map(absent_key).collect(),
        }
    }

    /// The present keys in a fixed shuffled order: every contender is filled
    /// in this order, so no structure gets a sorted-insert advantage (or an
    /// allocation order that makes scans unusually cache-friendly).
    pub fn fill_order(&self) -> Vec<&str> {
        let mut order: Vec<&str> = self.present.iter().map(String::as_str).collect();
        Rng::new(0xF111).shuffle(&mut order);
        order
    }
}

// ----- workloads -----

/// How keys are picked.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Dist {
    Uniform,
    /// Zipf with exponent 0.99 (YCSB's default skew); the hot keys are
    /// scattered over the key space, not the first ids.
    Zipf,
}

impl Dist {
    pub fn label(self) -> &'static str {
        match self {
            Dist::Uniform => "uniform",
            Dist::Zipf => "zipf",
        }
    }
}

/// A Zipf(s) sampler over `0..n`, by inverse transform on the exact CDF:
/// O(n) to build, O(log n) per sample, which is why workloads are
/// precomputed (`op_sequence`) instead of sampled in the timed loop.
pub struct Zipf {
    cdf: Vec<f64>,
    /// Rank → key index, so the hottest keys are not neighbours.
    scatter: Vec<u32>,
}

impl Zipf {
    pub fn new(n: usize, exponent: f64) -> Self {
        let mut cdf = Vec::with_capacity(n);
        let mut total = 0.0;
        for rank in 1..=n {
            total += 1.0 / (rank as f64).powf(exponent);
            cdf.push(total);
        }
        for p in &mut cdf {
            *p /= total;
        }
        let mut scatter: Vec<u32> = (0..n as u32).collect();
        Rng::new(0x21FF).shuffle(&mut scatter);
        Zipf { cdf, scatter }
    }

    pub fn sample(&self, rng: &mut Rng) -> usize {
        let u = rng.unit();
        let rank = self.cdf.partition_point(|&p| p < u).min(self.cdf.len() - 1);
        self.scatter[rank] as usize
    }
}

/// The top bit of an op marks a write; the rest is the key index.
pub const WRITE_BIT: u32 = 1 << 31;

/// A precomputed op sequence over `n` keys: `len` ops (a power of two),
/// `write_percent` of them writes, keys drawn from `dist`. Precomputing keeps
/// the random number generator and the Zipf search out of the timed loop, and
/// gives every contender exactly the same ops.
pub fn op_sequence(
    n: usize,
    len: usize,
    dist: Dist,
    zipf: Option<&Zipf>,
    write_percent: u32,
    seed: u64,
) -> Vec<u32> {
    assert!(len.is_power_of_two() && n < WRITE_BIT as usize);
    let mut rng = Rng::new(seed);
    (0..len)
        .map(|_| {
            let index = match dist {
                Dist::Uniform => rng.below(n as u64) as usize,
                Dist::Zipf => zipf
                    .expect("a Zipf sampler for Dist::Zipf")
                    .sample(&mut rng),
            } as u32;
            let write = rng.below(100) < u64::from(write_percent);
            if write {
                index | WRITE_BIT
            } else {
                index
            }
        })
        .collect()
}

/// The length of op sequences for `n` keys: at least 64K ops and at least
/// `n`, so a uniform walk over 1M keys really touches 1M keys (and misses
/// the cache like a real one) rather than a cache-sized subset.
pub fn sequence_len(n: usize) -> usize {
    n.max(1 << 16).next_power_of_two()
}

// ----- running threads -----

/// Runs `threads` threads that each do their share of `iters` ops
/// (`op(thread, first_op, count)`), released together by a barrier, and
/// returns the wall time from the first start to the last finish: so
/// time / iters is the inverse of the aggregate throughput. Spawning is not
/// timed.
pub fn run_threads<F>(threads: usize, iters: u64, op: F) -> Duration
where
    F: Fn(usize, u64, u64) + Sync,
{
    let barrier = Barrier::new(threads);
    let per_thread = iters / threads as u64;
    let extra = iters % threads as u64;
    let spans: Vec<(Instant, Instant)> = std::thread::scope(|scope| {
        let handles: Vec<_> = (0..threads)
            .map(|t| {
                let (barrier, op) = (&barrier, &op);
                let count = per_thread + u64::from((t as u64) < extra);
                scope.spawn(move || {
                    barrier.wait();
                    let start = Instant::now();
                    op(t, t as u64 * per_thread, count);
                    (start, Instant::now())
                })
            })
            .collect();
        handles
            .into_iter()
            .map(|h| h.join().expect("bench thread panicked"))
            .collect()
    });
    let first = spans
        .iter()
        .map(|s| s.0)
        .min()
        .expect("at least one thread");
    let last = spans
        .iter()
        .map(|s| s.1)
        .max()
        .expect("at least one thread");
    last - first
}

/// Keeps the optimizer from discarding a result, for bench loops.
#[inline]
pub fn consume<T>(value: T) {
    black_box(value);
}
