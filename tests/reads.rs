//! Contract 9–10: reads agree, are ordered, and never see a torn write.

use std::collections::BTreeMap;
use std::ops::Bound;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use zestor::Store;

fn sample() -> Store<u32> {
    let store = Store::<u32>::new();
    // Inserted out of order on purpose.
    for (i, key) in [
        "delta", "alpha", "charlie", "echo", "bravo", "alphabet", "al",
    ]
    .iter()
    .enumerate()
    {
        store.set("k", key, i as u32).unwrap();
    }
    store.set("other", "alpha", 100).unwrap();
    store
}

fn keys_of<V>(entries: &[(Arc<str>, V)]) -> Vec<&str> {
    entries.iter().map(|(k, _)| &**k).collect()
}

#[test]
fn reads_agree_on_a_quiescent_store() {
    // Contract 9.
    let store = sample();
    store.delete("k", "echo").unwrap();
    let list = store.list("k").unwrap();
    let keys = store.keys("k").unwrap();
    let values = store.values("k").unwrap();
    assert_eq!(list.len(), store.count("k").unwrap());
    assert_eq!(keys.len(), list.len());
    assert_eq!(values.len(), list.len());
    for (i, (key, value)) in list.iter().enumerate() {
        assert_eq!(keys[i], *key);
        assert_eq!(*values[i], **value);
        assert_eq!(*store.get("k", key).unwrap().unwrap(), **value);
        assert_eq!(store.read("k", key, |v| *v).unwrap(), Some(**value));
        assert!(store.contains("k", key).unwrap());
    }
    let all = store.get_all().unwrap();
    assert_eq!(all.len(), 2);
    let from_all: Vec<(&str, u32)> = all["k"].iter().map(|(k, v)| (&**k, **v)).collect();
    let from_list: Vec<(&str, u32)> = list.iter().map(|(k, v)| (&**k, **v)).collect();
    assert_eq!(from_all, from_list);
    assert_eq!(*all["other"][0].1, 100);
}

#[test]
fn lists_are_in_ascending_key_order() {
    // Contract 9.
    let store = sample();
    let list = store.list("k").unwrap();
    assert_eq!(
        keys_of(&list),
        ["al", "alpha", "alphabet", "bravo", "charlie", "delta", "echo"]
    );
    let mut sorted = store.keys("k").unwrap();
    sorted.sort();
    assert_eq!(sorted, store.keys("k").unwrap());
}

#[test]
fn list_filtered_keeps_what_the_filter_accepts() {
    // Contract 9.
    let store = sample();
    let even = store.list_filtered("k", |_, v| v % 2 == 0).unwrap();
    assert!(even.iter().all(|(_, v)| **v % 2 == 0));
    let expected: Vec<_> = store
        .list("k")
        .unwrap()
        .into_iter()
        .filter(|(_, v)| **v % 2 == 0)
        .map(|(k, _)| k)
        .collect();
    assert_eq!(
        even.iter().map(|(k, _)| k.clone()).collect::<Vec<_>>(),
        expected
    );
    let by_key = store.list_filtered("k", |k, _| k.len() == 5).unwrap();
    assert_eq!(keys_of(&by_key), ["alpha", "bravo", "delta"]);
}

#[test]
fn range_matches_a_btreemap() {
    // Contract 9, range flavour: same answers as BTreeMap::range.
    let store = sample();
    let model: BTreeMap<String, u32> = store
        .list("k")
        .unwrap()
        .into_iter()
        .map(|(k, v)| (k.to_string(), *v))
        .collect();
    let points = [
        "", "a", "al", "alpha", "alphaz", "b", "charlie", "d", "echo", "z",
    ];
    for &start in &points {
        for &end in &points {
            let bounds = [
                (Bound::Included(start), Bound::Excluded(end)),
                (Bound::Included(start), Bound::Included(end)),
                (Bound::Excluded(start), Bound::Excluded(end)),
                (Bound::Excluded(start), Bound::Included(end)),
                (Bound::Unbounded, Bound::Included(end)),
                (Bound::Included(start), Bound::Unbounded),
            ];
            for (lo, hi) in bounds {
                let got: Vec<String> = store
                    .range("k", (lo, hi))
                    .unwrap()
                    .iter()
                    .map(|(k, _)| k.to_string())
                    .collect();
                let valid = match (lo, hi) {
                    (
                        Bound::Included(a) | Bound::Excluded(a),
                        Bound::Included(b) | Bound::Excluded(b),
                    ) => {
                        a < b
                            || (a == b
                                && matches!((lo, hi), (Bound::Included(_), Bound::Included(_))))
                    }
                    _ => true,
                };
                let want: Vec<String> = if valid {
                    let lo = lo.map(str::to_owned);
                    let hi = hi.map(str::to_owned);
                    model.range((lo, hi)).map(|(k, _)| k.clone()).collect()
                } else {
                    Vec::new() // BTreeMap would panic; the store says "empty".
                };
                assert_eq!(got, want, "range {lo:?}..{hi:?}");
            }
        }
    }
    let std_range: Vec<String> = store
        .range("k", "alpha".."charlie")
        .unwrap()
        .iter()
        .map(|(k, _)| k.to_string())
        .collect();
    assert_eq!(std_range, ["alpha", "alphabet", "bravo"]);
    assert_eq!(store.range("k", ..).unwrap().len(), 7);
    assert_eq!(store.range("k", "charlie"..).unwrap().len(), 3);
}

#[test]
fn prefix_returns_exactly_the_matching_keys() {
    // Contract 9, prefix flavour.
    let store = sample();
    assert_eq!(
        keys_of(&store.prefix("k", "al").unwrap()),
        ["al", "alpha", "alphabet"]
    );
    assert_eq!(
        keys_of(&store.prefix("k", "alpha").unwrap()),
        ["alpha", "alphabet"]
    );
    assert!(store.prefix("k", "alphabets").unwrap().is_empty());
    assert!(store.prefix("k", "zulu").unwrap().is_empty());
    assert_eq!(store.prefix("k", "").unwrap().len(), 7);
}

#[test]
fn a_value_handle_is_a_snapshot() {
    let store = Store::<String>::new();
    store.set("k", "a", "first".into()).unwrap();
    let first = store.get("k", "a").unwrap().unwrap();
    store.set("k", "a", "second".into()).unwrap();
    store.delete("k", "a").unwrap();
    assert_eq!(*first, "first");
    assert_eq!(first.key(), "a");
}

#[test]
fn reads_see_whole_writes_and_never_go_back_in_time() {
    // Contract 10: under concurrent writes a reader sees, per key, the value
    // before or after each write, and (one reader thread) never an older value
    // after a newer one. Values carry a checksum to catch a torn read.
    #[derive(PartialEq, Debug)]
    struct Pair {
        n: u64,
        check: u64,
    }
    let store = Store::<Pair>::new();
    store.set("k", "hot", Pair { n: 0, check: !0 }).unwrap();
    let done = AtomicBool::new(false);
    let writes = if cfg!(miri) { 200 } else { 50_000 };
    std::thread::scope(|scope| {
        scope.spawn(|| {
            for n in 1..=writes {
                store.set("k", "hot", Pair { n, check: !n }).unwrap();
            }
            done.store(true, Ordering::Release);
        });
        for _ in 0..2 {
            scope.spawn(|| {
                let mut last = 0;
                let mut reads = 0u64;
                while !done.load(Ordering::Acquire) || reads < 100 {
                    let seen = store
                        .read("k", "hot", |p| {
                            assert_eq!(p.check, !p.n, "torn value");
                            p.n
                        })
                        .unwrap()
                        .expect("the key is never absent");
                    assert!(seen >= last, "went back from {last} to {seen}");
                    last = seen;
                    let got = store.get("k", "hot").unwrap().unwrap();
                    assert!(got.n >= last);
                    last = got.n;
                    reads += 1;
                }
            });
        }
    });
    assert_eq!(store.get("k", "hot").unwrap().unwrap().n, writes);
}

#[test]
fn scans_under_concurrent_writes_stay_sorted_and_whole() {
    // Contract 10 for scans: every listed value is one that was written for
    // that key, keys stay strictly ascending, stable keys are always present.
    let store = Store::<u64>::new();
    for i in 0..50u64 {
        store.set("k", &format!("stable-{i:03}"), i).unwrap();
    }
    let done = AtomicBool::new(false);
    let rounds = if cfg!(miri) { 20 } else { 5_000 };
    std::thread::scope(|scope| {
        scope.spawn(|| {
            for round in 0..rounds {
                let key = format!("churn-{:03}", round % 40);
                store.set("k", &key, round).unwrap();
                if round % 3 == 0 {
                    store.delete("k", &key).unwrap();
                }
            }
            done.store(true, Ordering::Release);
        });
        scope.spawn(|| {
            while !done.load(Ordering::Acquire) {
                let list = store.list("k").unwrap();
                assert!(
                    list.windows(2).all(|w| w[0].0 < w[1].0),
                    "ascending, no duplicates"
                );
                let stable = list
                    .iter()
                    .filter(|(k, _)| k.starts_with("stable-"))
                    .count();
                assert_eq!(stable, 50);
                for (key, value) in &list {
                    if let Some(i) = key.strip_prefix("stable-") {
                        assert_eq!(i.parse::<u64>().unwrap(), **value);
                    }
                }
            }
        });
    });
}
