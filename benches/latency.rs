//! Latency percentiles (hdrhistogram), printed as tables and written to
//! `$CARGO_TARGET_DIR/zestor-bench/latency.{csv,json}`. Not a criterion
//! timing: what matters here is the tail, not the mean.
//!
//! 1. `read_under_bulk_writer` (group 5): one thread reads random keys of the
//!    base store (100K keys) and times every read, first alone (`idle`), then
//!    while another thread writes batches of 1,000 items back to back
//!    (`bulk_writer`) through the contender's batch API: zestor's
//!    `set_many`, one write-lock hold per batch for the locked maps (Go's
//!    `SetMany`), one `set` per item for the others. A global write lock
//!    stalls every reader for a whole batch; that is what this shows.
//! 2. `watch_delivery` (group 6): a writer updates a key, sleeps 50 µs
//!    (about 100 µs with timer slack), and again; a watcher thread blocks on
//!    its stream. Latency from just before the write to the watcher holding
//!    the event: mostly a wake-up (unpark, futex, schedule), which every
//!    design pays, since the watcher is asleep when each write lands.
//!
//! Each timed read includes two clock reads (~20–40 ns on this VM): compare
//! the rows, not the absolute nanoseconds.

mod support;

use std::fmt::Write as _;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use hdrhistogram::Histogram;
use support::contenders::{self, Contender, Family, Variants, Visitor};
use support::fanout::{Fanout, Locked, PapayaBroadcast, Zestor};
use support::locked::LockedDesign;
use support::{consume, op_sequence, sequence_len, Dist, Keys, Record, Rng, WRITE_BIT};

/// Items per bulk write.
const BULK: usize = 1_000;

struct Row {
    section: &'static str,
    contender: String,
    phase: &'static str,
    histogram: Histogram<u64>,
    /// Reads (or events) per second, and items written per second.
    ops_per_s: f64,
    writes_per_s: f64,
}

fn histogram() -> Histogram<u64> {
    Histogram::new_with_bounds(1, 60_000_000_000, 3).expect("valid histogram bounds")
}

struct Durations {
    idle: Duration,
    loaded: Duration,
    events: u64,
}

fn durations() -> Durations {
    if support::quick() {
        Durations {
            idle: Duration::from_millis(100),
            loaded: Duration::from_millis(200),
            events: 2_000,
        }
    } else {
        Durations {
            idle: Duration::from_millis(500),
            loaded: Duration::from_secs(2),
            events: 20_000,
        }
    }
}

// ----- 1. reads under a bulk writer -----

/// The contenders of this table.
const READERS: &[&str] = &[
    "zestor",
    "zestor_kind_read",
    "locked",
    "locked_read",
    "rwlock_btreemap",
    "dashmap",
    "papaya",
];

struct ReadUnderWriter<'a> {
    keys: &'a Keys,
    ops: Vec<u32>,
    durations: &'a Durations,
    rows: Vec<Row>,
}

impl ReadUnderWriter<'_> {
    /// Times single reads for `duration`; returns the histogram and reads/s.
    fn read_for<C: Contender>(&self, contender: &C, duration: Duration) -> (Histogram<u64>, f64) {
        let mut histogram = histogram();
        let mask = self.ops.len() - 1;
        let began = Instant::now();
        let mut done = 0usize;
        while began.elapsed() < duration {
            for _ in 0..256 {
                let key = &self.keys.present[(self.ops[done & mask] & !WRITE_BIT) as usize];
                let start = Instant::now();
                consume(contender.get(key));
                let nanos = start.elapsed().as_nanos() as u64;
                histogram.saturating_record(nanos.max(1));
                done += 1;
            }
        }
        (histogram, done as f64 / began.elapsed().as_secs_f64())
    }
}

impl Visitor for ReadUnderWriter<'_> {
    fn visit<C: Contender>(&mut self, contender: &C) {
        if !READERS.contains(&contender.name()) {
            return;
        }
        let (histogram, ops_per_s) = self.read_for(contender, self.durations.idle);
        self.rows.push(Row {
            section: "read_under_bulk_writer",
            contender: contender.name().to_owned(),
            phase: "idle",
            histogram,
            ops_per_s,
            writes_per_s: 0.0,
        });

        let stop = AtomicBool::new(false);
        let written = AtomicU64::new(0);
        let keys = &self.keys.present;
        let (histogram, ops_per_s, elapsed) = std::thread::scope(|scope| {
            scope.spawn(|| {
                let mut rng = Rng::new(0xB17);
                let mut stamp = 1u64 << 40;
                let mut batch: Vec<(&str, Record)> = Vec::with_capacity(BULK);
                while !stop.load(Ordering::Relaxed) {
                    batch.clear();
                    for _ in 0..BULK {
                        let index = rng.below(keys.len() as u64);
                        stamp += 1;
                        batch.push((&keys[index as usize], Record::new(index, stamp)));
                    }
                    contender.set_batch(&batch);
                    written.fetch_add(BULK as u64, Ordering::Relaxed);
                }
            });
            let began = Instant::now();
            let (histogram, ops_per_s) = self.read_for(contender, self.durations.loaded);
            stop.store(true, Ordering::Relaxed);
            (histogram, ops_per_s, began.elapsed())
        });
        self.rows.push(Row {
            section: "read_under_bulk_writer",
            contender: contender.name().to_owned(),
            phase: "bulk_writer",
            histogram,
            ops_per_s,
            writes_per_s: written.load(Ordering::Relaxed) as f64 / elapsed.as_secs_f64(),
        });
    }
}

fn read_under_bulk_writer(durations: &Durations) -> Vec<Row> {
    let n = support::base_size();
    let keys = Keys::new(n);
    let fill = keys.fill_order();
    let mut bench = ReadUnderWriter {
        keys: &keys,
        ops: op_sequence(n, sequence_len(n), Dist::Uniform, None, 0, 5),
        durations,
        rows: Vec::new(),
    };
    for family in [
        Family::Zestor,
        Family::Locked,
        Family::BTree,
        Family::DashMap,
        Family::Papaya,
    ] {
        contenders::visit(family, &fill, Variants::All, &mut bench);
    }
    bench.rows
}

// ----- 2. write → receive latency of a watch -----

/// The writer's pause between writes. A sleep, not a spin: on 2 shared
/// cores a spinning writer would starve the consumer of a core and the
/// numbers would measure the scheduler's time slice.
const WRITE_PAUSE: Duration = Duration::from_micros(50);

fn watch_delivery<F: Fanout>(fanout: &F, events: u64) -> Row {
    let keys = Keys::new(64).present;
    let mut sub = fanout.subscribe();
    let base = Instant::now();
    let received = AtomicU64::new(0);
    let (histogram, elapsed) = std::thread::scope(|scope| {
        let consumer = scope.spawn(|| {
            let mut histogram = histogram();
            while let Some(value) = F::recv(&mut sub) {
                let now = base.elapsed().as_nanos() as u64;
                histogram.saturating_record(now.saturating_sub(value.payload[0]).max(1));
                received.fetch_add(1, Ordering::Release);
            }
            histogram
        });
        let began = Instant::now();
        for i in 0..events {
            // Pace the writes, and never get more than half a buffer ahead.
            std::thread::sleep(WRITE_PAUSE);
            while i - received.load(Ordering::Acquire) > 512 {
                std::thread::yield_now();
            }
            let stamp = base.elapsed().as_nanos() as u64;
            let record = Record {
                id: i,
                payload: [stamp, 0, 0],
            };
            fanout.write(&keys[i as usize % keys.len()], record);
        }
        while received.load(Ordering::Acquire) < events {
            std::thread::yield_now();
        }
        let elapsed = began.elapsed();
        fanout.close();
        (consumer.join().expect("consumer thread"), elapsed)
    });
    Row {
        section: "watch_delivery",
        contender: fanout.name().to_owned(),
        phase: "paced_50us",
        histogram,
        ops_per_s: events as f64 / elapsed.as_secs_f64(),
        writes_per_s: events as f64 / elapsed.as_secs_f64(),
    }
}

// ----- output -----

fn print_and_save(rows: &[Row]) {
    let mut csv = String::from(
        "section,contender,phase,count,p50_ns,p99_ns,p999_ns,max_ns,ops_per_s,writes_per_s\n",
    );
    let mut json = String::from("[\n");
    let mut section = "";
    for (i, row) in rows.iter().enumerate() {
        let h = &row.histogram;
        let (p50, p99, p999, max) = (
            h.value_at_quantile(0.5),
            h.value_at_quantile(0.99),
            h.value_at_quantile(0.999),
            h.max(),
        );
        if row.section != section {
            section = row.section;
            println!("\n{section}");
            println!(
                "{:<18} {:<12} {:>10} {:>9} {:>9} {:>9} {:>11} {:>12} {:>12}",
                "contender",
                "phase",
                "count",
                "p50 ns",
                "p99 ns",
                "p99.9 ns",
                "max ns",
                "ops/s",
                "writes/s"
            );
        }
        println!(
            "{:<18} {:<12} {:>10} {:>9} {:>9} {:>9} {:>11} {:>12.0} {:>12.0}",
            row.contender,
            row.phase,
            h.len(),
            p50,
            p99,
            p999,
            max,
            row.ops_per_s,
            row.writes_per_s
        );
        let _ = writeln!(
            csv,
            "{},{},{},{},{p50},{p99},{p999},{max},{:.0},{:.0}",
            row.section,
            row.contender,
            row.phase,
            h.len(),
            row.ops_per_s,
            row.writes_per_s
        );
        let _ = writeln!(
            json,
            "  {{\"section\": \"{}\", \"contender\": \"{}\", \"phase\": \"{}\", \"count\": {}, \
             \"p50_ns\": {p50}, \"p99_ns\": {p99}, \"p999_ns\": {p999}, \"max_ns\": {max}, \
             \"ops_per_s\": {:.0}, \"writes_per_s\": {:.0}}}{}",
            row.section,
            row.contender,
            row.phase,
            h.len(),
            row.ops_per_s,
            row.writes_per_s,
            if i + 1 < rows.len() { "," } else { "" }
        );
    }
    json.push_str("]\n");
    let dir = support::output_dir();
    std::fs::write(dir.join("latency.csv"), csv).expect("write latency.csv");
    std::fs::write(dir.join("latency.json"), json).expect("write latency.json");
    println!("\nwritten: {}", dir.join("latency.{csv,json}").display());
}

fn main() {
    // `cargo bench --bench latency -- <filter>` runs the sections whose name
    // contains the filter (`read`, `watch`); no filter runs both.
    let filter: Vec<String> = std::env::args()
        .skip(1)
        .filter(|arg| !arg.starts_with("--"))
        .collect();
    let wanted = |section: &str| filter.is_empty() || filter.iter().any(|f| section.contains(f));
    let durations = durations();
    let mut rows = Vec::new();
    // Delivery first. Run after the read section (which builds, hammers and
    // frees a 100K-key store per contender), zestor's delivery p50 was
    // 8.6-9.0 µs and its p99.9 13-32 ms in 3 runs of 3, against 3.9-5.1 µs
    // and under 0.1 ms when delivery runs first; the contenders measured
    // after zestor were unaffected. `cargo bench --bench after_free`
    // reproduces a milder, noisy form (p50 3.7-8.7 µs right after two seconds
    // of churn, whether the store is then freed or leaked). The cause is not
    // established: not page faults (fewer in the slow phase), not the free
    // itself. Running delivery first gives every contender the same start.
    if wanted("watch_delivery") {
        rows.push(watch_delivery(&Zestor::new(), durations.events));
        rows.push(watch_delivery(
            &Locked(LockedDesign::new()),
            durations.events,
        ));
        rows.push(watch_delivery(&PapayaBroadcast::new(), durations.events));
    }
    if wanted("read_under_bulk_writer") {
        rows.extend(read_under_bulk_writer(&durations));
    }
    print_and_save(&rows);
}
