//! The probe behind BENCHMARKS.md "Controllers (issue 9)"; how to run it: Cargo.toml.
//! Instruction counts per received event (callgrind --toggle-collect on the
//! drain_* functions): a Mirror, a plain Watch, a Watch feeding a BTreeMap.
use std::collections::BTreeMap;
use std::hint::black_box;
use std::sync::Arc;
use zestor::{EventType, Kind, Mirror, Store, Value, Watch, WatchOptions};

#[derive(Clone, Copy, PartialEq, Debug)]
struct Record { id: u64, payload: [u64; 3] }

fn key(i: u64) -> String {
    let mut z = i.wrapping_add(0x9E37_79B9_7F4A_7C15);
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^= z >> 31;
    let tail = format!("{:016x}", z);
    format!("{i:07}:{}", &tail[..8 + (z % 9) as usize])
}

#[inline(never)]
fn drain_watch(w: &mut Watch<Record>) -> u64 { let mut n = 0; while let Some(e) = w.try_recv().unwrap() { black_box(e); n += 1; } n }
#[inline(never)]
fn drain_mirror(m: &mut Mirror<Record>) -> u64 { let mut n = 0; while let Some(e) = m.try_recv().unwrap() { black_box(e); n += 1; } n }
#[inline(never)]
fn drain_replica(w: &mut Watch<Record>, r: &mut BTreeMap<Arc<str>, Value<Record>>) -> u64 {
    let mut n = 0;
    while let Some(e) = w.try_recv().unwrap() {
        match e.event_type { EventType::Delete => { black_box(r.remove(&e.key)); } _ => { black_box(r.insert(e.key, e.value)); } }
        n += 1;
    }
    n
}
#[inline(never)]
fn drain_prefix(w: &mut Watch<Record>) -> u64 { drain_watch(w) }
#[inline(never)]
fn drain_filter(w: &mut Watch<Record>) -> u64 { let mut n = 0; while let Some(e) = w.try_recv().unwrap() { if e.key.starts_with("p3/") { black_box(e); n += 1; } } n }

fn filled(keys: &[String]) -> (Store<Record>, Kind<Record>) {
    let store = Store::<Record>::builder().ring_capacity(32768).build();
    let kind = store.kind("b").unwrap();
    for (i, k) in keys.iter().enumerate() { kind.set(k, Record { id: i as u64, payload: [0; 3] }).unwrap(); }
    (store, kind)
}

#[inline(never)]
fn do_sets(kind: &Kind<Record>, keys: &[String], n: u64) {
    let mut x = 0x9876_5432u64;
    for stamp in 0..n {
        x ^= x << 13; x ^= x >> 7; x ^= x << 17;
        let i = (x % keys.len() as u64) as usize;
        kind.set(&keys[i], Record { id: i as u64, payload: [stamp + 1_000_000; 3] }).unwrap();
    }
}

fn main() {
    let which = std::env::args().nth(1).unwrap();
    if which == "set" || which == "setw" || which == "setm" {
        let keys: Vec<String> = (0..100_000).map(key).collect();
        let (_s, kind) = filled(&keys);
        let _watch = (which == "setw").then(|| kind.watch(WatchOptions::new().buffer_size(32768)).unwrap());
        let _mirror = (which == "setm").then(|| kind.mirror_with(WatchOptions::new().buffer_size(32768)).unwrap());
        do_sets(&kind, &keys, 20_000);
        println!("{which}: 20000 sets");
        return;
    }
    let batch: u64 = std::env::args().nth(2).map_or(500, |s| s.parse().unwrap());
    let rounds = 40_000 / batch;
    let prefixed = which == "prefix" || which == "filter";
    let keys: Vec<String> = if prefixed {
        (0..10).flat_map(|p| (0..1000).map(move |i| format!("p{p}/{}", key(i)))).collect()
    } else { (0..10_000).map(key).collect() };
    let (_s, kind) = filled(&keys);
    let opts = if which == "prefix" { WatchOptions::new().buffer_size(32768).prefix("p3/") } else { WatchOptions::new().buffer_size(32768) };
    let mut watch = kind.watch(opts.clone()).unwrap();
    let mut mirror = kind.mirror_with(WatchOptions::new().buffer_size(32768)).unwrap();
    while mirror.try_recv().unwrap().is_some() {}
    let mut replica: BTreeMap<Arc<str>, Value<Record>> = kind.list().unwrap().into_iter().collect();
    let mut x = 0x1234_5678u64;
    let mut got = 0;
    let mut stamp = 1u64;
    for _ in 0..rounds {
        for _ in 0..batch {
            x ^= x << 13; x ^= x >> 7; x ^= x << 17;
            let i = (x % keys.len() as u64) as usize;
            stamp += 1;
            kind.set(&keys[i], Record { id: i as u64, payload: [stamp; 3] }).unwrap();
        }
        got += match which.as_str() {
            "watch" => { let n = drain_watch(&mut watch); while mirror.try_recv().unwrap().is_some() {} n }
            "mirror" => { while watch.try_recv().unwrap().is_some() {} drain_mirror(&mut mirror) }
            "replica" => { let n = drain_replica(&mut watch, &mut replica); while mirror.try_recv().unwrap().is_some() {} n }
            "prefix" => { let n = drain_prefix(&mut watch); while mirror.try_recv().unwrap().is_some() {} n }
            "filter" => { let n = drain_filter(&mut watch); while mirror.try_recv().unwrap().is_some() {} n }
            _ => panic!(),
        };
    }
    assert_eq!(mirror.resyncs(), 0);
    println!("{which} batch {batch}: {got} events, {} writes", rounds * batch);
}
