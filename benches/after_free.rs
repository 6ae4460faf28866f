//! Write→receive latency of a zestor watch right after the process freed a
//! large store, against the same measurement before and a moment later —
//! the finding behind the order of sections in `benches/latency.rs`.
//!
//!     cargo bench --bench after_free           # the store is freed
//!     cargo bench --bench after_free -- leak   # the store is leaked instead
//!
//! Each phase: a writer sets a key every ~50 µs (20,000 times), a watcher
//! thread blocks in `recv`; the table shows latency percentiles and the
//! process's minor page faults during the phase.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use zestor::{Store, WatchOptions};

const EVENTS: u64 = 20_000;
const KEYS: usize = 100_000;

/// A store of `KEYS` keys, hammered by a bulk writer and a reader for two
/// seconds, then dropped (or leaked).
fn churn_then_free(leak: bool) {
    let store = Store::<u64>::new();
    let keys: Vec<String> = (0..KEYS)
        .map(|i| format!("{i:08}-key-{:08x}", i * 2_654_435_761))
        .collect();
    for (i, key) in keys.iter().enumerate() {
        store.set("bench", key, i as u64).unwrap();
    }
    let stop = AtomicBool::new(false);
    std::thread::scope(|scope| {
        scope.spawn(|| {
            let mut n = 0u64;
            while !stop.load(Ordering::Relaxed) {
                let batch: Vec<(&str, u64)> = (0..1000)
                    .map(|_| {
                        n += 1;
                        (keys[(n * 7919 % KEYS as u64) as usize].as_str(), n)
                    })
                    .collect();
                store.set_many("bench", batch).unwrap();
            }
        });
        scope.spawn(|| {
            let mut i = 0;
            while !stop.load(Ordering::Relaxed) {
                i = (i + 7) % KEYS;
                std::hint::black_box(store.get("bench", &keys[i]).unwrap());
            }
        });
        std::thread::sleep(Duration::from_secs(2));
        stop.store(true, Ordering::Relaxed);
    });
    if leak {
        std::mem::forget(store);
    }
}

/// Minor page faults of this process so far (`/proc/self/stat`, field 10).
fn minor_faults() -> u64 {
    let stat = std::fs::read_to_string("/proc/self/stat").unwrap_or_default();
    let after_name = stat.rfind(')').map_or("", |end| &stat[end + 2..]);
    after_name
        .split(' ')
        .nth(7)
        .and_then(|f| f.parse().ok())
        .unwrap_or(0)
}

/// One paced delivery phase: (p50, p99.9, max) in ns, and minor faults.
fn delivery() -> ([u64; 3], u64) {
    let faults = minor_faults();
    let store = Store::<u64>::new();
    let mut watch = store
        .watch("w", WatchOptions::new().buffer_size(1024))
        .unwrap();
    let base = Instant::now();
    let received = AtomicU64::new(0);
    let mut latencies = std::thread::scope(|scope| {
        let consumer = scope.spawn(|| {
            let mut latencies = Vec::with_capacity(EVENTS as usize);
            for _ in 0..EVENTS {
                let event = watch.recv().expect("no overflow");
                latencies.push(base.elapsed().as_nanos() as u64 - *event.value);
                received.fetch_add(1, Ordering::Release);
            }
            latencies
        });
        for i in 0..EVENTS {
            std::thread::sleep(Duration::from_micros(50));
            while i - received.load(Ordering::Acquire) > 512 {
                std::thread::yield_now();
            }
            let stamp = base.elapsed().as_nanos() as u64;
            store.set("w", &format!("k{}", i % 64), stamp).unwrap();
        }
        consumer.join().expect("consumer")
    });
    latencies.sort_unstable();
    let at = |q: f64| latencies[((latencies.len() - 1) as f64 * q) as usize];
    ([at(0.5), at(0.999), at(1.0)], minor_faults() - faults)
}

fn main() {
    let leak = std::env::args().skip(1).any(|arg| arg == "leak");
    println!("phase                          p50 ns   p99.9 ns     max ns  minor faults");
    let row = |name: &str, ([p50, p999, max], faults): ([u64; 3], u64)| {
        println!("{name:<28} {p50:>8} {p999:>10} {max:>10} {faults:>13}");
    };
    row("before", delivery());
    churn_then_free(leak);
    let label = if leak {
        "right after (store leaked)"
    } else {
        "right after (store freed)"
    };
    row(label, delivery());
    row("a moment later", delivery());
}
