//! The contenders: zestor (by kind name, and through a `Kind` handle; `get`
//! and the borrowing `read`), the locked port of the Go design, and the maps a
//! user might pick instead. Each implements [`Contender`] through its own
//! idiomatic API, so every benchmark runs each structure's real code path.
//!
//! Conventions that keep the comparison fair:
//! * every map stores `Arc<Record>` under `String` keys, so a `get` hands out
//!   a shared handle as zestor's `Value` does (one reference-count increment);
//!   the `*_read` variants borrow instead (no increment);
//! * writers get a `&str` key, and a map that needs an owned key (papaya,
//!   `SkipMap`, `TreeIndex`, a new key anywhere) allocates it in the timed
//!   path: that is the cost of its API;
//! * ordered reads return values in key order. zestor's `list`/`range`/
//!   `prefix` return `(key, value)` pairs (one more reference-count increment
//!   per entry than the others): conservative for zestor. Unordered maps
//!   collect, filter and sort, as their users must.
//!
//! Benches iterate with [`visit`]: it builds one family at a time (a 1M-key
//! structure is big), hands each of its variants to a generic visitor (no
//! dynamic dispatch in the timed loops), then drops it.

use std::collections::BTreeMap;
use std::ops::Bound;
use std::sync::{Arc, RwLock};

use crossbeam_epoch as epoch;
use crossbeam_skiplist::{base::SkipList, SkipMap};
use zestor::{Kind, Store};

use super::locked::LockedDesign;
use super::{Record, KIND};

/// One structure under test, through its own API.
pub trait Contender: Sync {
    fn name(&self) -> &'static str;
    /// Point lookup; the id of the record found. `get` variants clone the
    /// value handle out (and drop it), `read` variants borrow it.
    fn get(&self, key: &str) -> Option<u64>;
    /// Insert or replace.
    fn set(&self, key: &str, value: Record);
    fn delete(&self, key: &str) -> bool;
    /// Writes a batch through the contender's batch API where it has one
    /// (zestor's `set_many`, one write lock for the locked maps), else one
    /// `set` per item.
    fn set_batch(&self, items: &[(&str, Record)]) {
        for (key, value) in items {
            self.set(key, *value);
        }
    }
    /// All entries in key order; how many.
    fn list(&self) -> usize;
    /// Entries with keys in `[lo, hi)`, in key order; how many.
    fn range(&self, lo: &str, hi: &str) -> usize;
    /// Entries whose keys start with `prefix`, in key order; how many.
    fn prefix(&self, prefix: &str) -> usize;
    fn count(&self) -> usize;
}

/// Receives each contender in turn.
pub trait Visitor {
    fn visit<C: Contender>(&mut self, contender: &C);
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Family {
    /// `Store` by kind name and through a `Kind` handle, `get` and `read`.
    Zestor,
    /// The Go design: `RwLock<HashMap<String, HashMap<String, Arc<T>>>>`.
    Locked,
    /// `crossbeam_skiplist::SkipMap`: zestor's ordered index, refcounted API.
    SkipMap,
    /// `crossbeam_skiplist::base::SkipList` with an explicit epoch guard, as
    /// zestor uses it: our overhead over the structure we build on.
    SkipList,
    /// `scc::TreeIndex`: lock-free reads, ordered.
    TreeIndex,
    /// `RwLock<BTreeMap>`: the std ordered map behind one lock.
    BTree,
    /// `papaya::HashMap`: zestor's point index alone; the unordered ceiling.
    Papaya,
    /// `scc::HashIndex`: a read-optimized lock-free hash map.
    HashIndex,
    /// `DashMap`: a sharded `RwLock<HashMap>`.
    DashMap,
}

/// Every family, for the point and write groups.
pub const ALL: &[Family] = &[
    Family::Zestor,
    Family::Locked,
    Family::SkipMap,
    Family::SkipList,
    Family::TreeIndex,
    Family::BTree,
    Family::Papaya,
    Family::HashIndex,
    Family::DashMap,
];

/// The ordered structures, plus papaya as "hash map, then sort" without a lock.
pub const ORDERED: &[Family] = &[
    Family::Zestor,
    Family::Locked,
    Family::SkipMap,
    Family::SkipList,
    Family::TreeIndex,
    Family::BTree,
    Family::Papaya,
];

/// Which variants of a family to visit.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Variants {
    /// One per family: `zestor` (store by kind name, `get`), `locked`, ...
    Primary,
    /// Also `zestor_read`, `zestor_kind`, `zestor_kind_read`, `locked_read`,
    /// `papaya_read`.
    All,
}

/// Builds `family` holding `keys` (inserted in the slice's order) and hands
/// each of its variants to `visitor`; the structure is dropped afterwards.
pub fn visit<V: Visitor>(family: Family, keys: &[&str], variants: Variants, visitor: &mut V) {
    let all = variants == Variants::All;
    match family {
        Family::Zestor => {
            let store = Store::<Record>::new();
            let kind = store.kind(KIND).expect("open store");
            fill(&ZestorStore(store.clone()), keys);
            visitor.visit(&ZestorStore(store.clone()));
            if all {
                visitor.visit(&ZestorRead(store.clone()));
                visitor.visit(&ZestorKind(kind.clone()));
                visitor.visit(&ZestorKindRead(kind));
            }
        }
        Family::Locked => {
            let locked = Arc::new(LockedDesign::new());
            fill(&Locked(Arc::clone(&locked)), keys);
            visitor.visit(&Locked(Arc::clone(&locked)));
            if all {
                visitor.visit(&LockedRead(locked));
            }
        }
        Family::SkipMap => visit_one(SkipMapC(SkipMap::new()), keys, visitor),
        Family::SkipList => visit_one(
            SkipListC(SkipList::new(epoch::default_collector().clone())),
            keys,
            visitor,
        ),
        Family::TreeIndex => visit_one(TreeIndexC(scc::TreeIndex::new()), keys, visitor),
        Family::BTree => visit_one(BTreeC(RwLock::new(BTreeMap::new())), keys, visitor),
        Family::Papaya => {
            let map = Arc::new(papaya::HashMap::new());
            fill(&PapayaC(Arc::clone(&map)), keys);
            visitor.visit(&PapayaC(Arc::clone(&map)));
            if all {
                visitor.visit(&PapayaRead(map));
            }
        }
        Family::HashIndex => visit_one(HashIndexC(scc::HashIndex::new()), keys, visitor),
        Family::DashMap => visit_one(DashMapC(dashmap::DashMap::new()), keys, visitor),
    }
}

fn visit_one<C: Contender, V: Visitor>(contender: C, keys: &[&str], visitor: &mut V) {
    fill(&contender, keys);
    visitor.visit(&contender);
}

/// Inserts `keys` in the given order; the record id is the key's position in
/// the slice, which callers do not rely on (they look at `Option::is_some`).
pub fn fill<C: Contender>(contender: &C, keys: &[&str]) {
    for (i, key) in keys.iter().enumerate() {
        contender.set(key, Record::new(i as u64, 0));
    }
}

// ----- zestor -----

/// `Store` by kind name: `get`, `set`, `delete`, `list`, `range`, `prefix`.
pub struct ZestorStore(pub Store<Record>);
/// `Store::read`: the borrowing closure read.
pub struct ZestorRead(pub Store<Record>);
/// The same through a `Kind` handle (no kind lookup per call).
pub struct ZestorKind(pub Kind<Record>);
pub struct ZestorKindRead(pub Kind<Record>);

impl Contender for ZestorStore {
    fn name(&self) -> &'static str {
        "zestor"
    }
    fn get(&self, key: &str) -> Option<u64> {
        self.0.get(KIND, key).expect("open store").map(|v| v.id)
    }
    fn set(&self, key: &str, value: Record) {
        self.0.set(KIND, key, value).expect("valid write");
    }
    fn delete(&self, key: &str) -> bool {
        self.0.delete(KIND, key).expect("open store").is_some()
    }
    fn set_batch(&self, items: &[(&str, Record)]) {
        self.0
            .set_many(KIND, items.iter().copied())
            .expect("valid writes");
    }
    fn list(&self) -> usize {
        self.0.list(KIND).expect("open store").len()
    }
    fn range(&self, lo: &str, hi: &str) -> usize {
        self.0.range(KIND, lo..hi).expect("open store").len()
    }
    fn prefix(&self, prefix: &str) -> usize {
        self.0.prefix(KIND, prefix).expect("open store").len()
    }
    fn count(&self) -> usize {
        self.0.count(KIND).expect("open store")
    }
}

impl Contender for ZestorRead {
    fn name(&self) -> &'static str {
        "zestor_read"
    }
    fn get(&self, key: &str) -> Option<u64> {
        self.0.read(KIND, key, |r| r.id).expect("open store")
    }
    fn set(&self, key: &str, value: Record) {
        self.0.set(KIND, key, value).expect("valid write");
    }
    fn delete(&self, key: &str) -> bool {
        self.0.delete(KIND, key).expect("open store").is_some()
    }
    fn set_batch(&self, items: &[(&str, Record)]) {
        self.0
            .set_many(KIND, items.iter().copied())
            .expect("valid writes");
    }
    fn list(&self) -> usize {
        self.0.list(KIND).expect("open store").len()
    }
    fn range(&self, lo: &str, hi: &str) -> usize {
        self.0.range(KIND, lo..hi).expect("open store").len()
    }
    fn prefix(&self, prefix: &str) -> usize {
        self.0.prefix(KIND, prefix).expect("open store").len()
    }
    fn count(&self) -> usize {
        self.0.count(KIND).expect("open store")
    }
}

impl Contender for ZestorKind {
    fn name(&self) -> &'static str {
        "zestor_kind"
    }
    fn get(&self, key: &str) -> Option<u64> {
        self.0.get(key).expect("open store").map(|v| v.id)
    }
    fn set(&self, key: &str, value: Record) {
        self.0.set(key, value).expect("valid write");
    }
    fn delete(&self, key: &str) -> bool {
        self.0.delete(key).expect("open store").is_some()
    }
    fn set_batch(&self, items: &[(&str, Record)]) {
        self.0
            .set_many(items.iter().copied())
            .expect("valid writes");
    }
    fn list(&self) -> usize {
        self.0.list().expect("open store").len()
    }
    fn range(&self, lo: &str, hi: &str) -> usize {
        self.0.range(lo..hi).expect("open store").len()
    }
    fn prefix(&self, prefix: &str) -> usize {
        self.0.prefix(prefix).expect("open store").len()
    }
    fn count(&self) -> usize {
        self.0.count().expect("open store")
    }
}

impl Contender for ZestorKindRead {
    fn name(&self) -> &'static str {
        "zestor_kind_read"
    }
    fn get(&self, key: &str) -> Option<u64> {
        self.0.read(key, |r| r.id).expect("open store")
    }
    fn set(&self, key: &str, value: Record) {
        self.0.set(key, value).expect("valid write");
    }
    fn delete(&self, key: &str) -> bool {
        self.0.delete(key).expect("open store").is_some()
    }
    fn set_batch(&self, items: &[(&str, Record)]) {
        self.0
            .set_many(items.iter().copied())
            .expect("valid writes");
    }
    fn list(&self) -> usize {
        self.0.list().expect("open store").len()
    }
    fn range(&self, lo: &str, hi: &str) -> usize {
        self.0.range(lo..hi).expect("open store").len()
    }
    fn prefix(&self, prefix: &str) -> usize {
        self.0.prefix(prefix).expect("open store").len()
    }
    fn count(&self) -> usize {
        self.0.count().expect("open store")
    }
}

// ----- the locked Go design -----

pub struct Locked(pub Arc<LockedDesign<Record>>);
pub struct LockedRead(pub Arc<LockedDesign<Record>>);

macro_rules! locked_rest {
    () => {
        fn set(&self, key: &str, value: Record) {
            self.0.set(KIND, key, value);
        }
        fn delete(&self, key: &str) -> bool {
            self.0.delete(KIND, key).is_some()
        }
        fn set_batch(&self, items: &[(&str, Record)]) {
            self.0.set_many(KIND, items.iter().copied());
        }
        fn list(&self) -> usize {
            self.0.list(KIND).len()
        }
        fn range(&self, lo: &str, hi: &str) -> usize {
            self.0.range(KIND, lo, hi).len()
        }
        fn prefix(&self, prefix: &str) -> usize {
            self.0.prefix(KIND, prefix).len()
        }
        fn count(&self) -> usize {
            self.0.count(KIND)
        }
    };
}

impl Contender for Locked {
    fn name(&self) -> &'static str {
        "locked"
    }
    fn get(&self, key: &str) -> Option<u64> {
        self.0.get(KIND, key).map(|v| v.id)
    }
    locked_rest!();
}

impl Contender for LockedRead {
    fn name(&self) -> &'static str {
        "locked_read"
    }
    fn get(&self, key: &str) -> Option<u64> {
        self.0.read(KIND, key, |r| r.id)
    }
    locked_rest!();
}

// ----- ordered maps -----

/// `[lo, hi)` as bounds over `str`.
fn bounds<'a>(lo: &'a str, hi: &'a str) -> (Bound<&'a str>, Bound<&'a str>) {
    (Bound::Included(lo), Bound::Excluded(hi))
}

pub struct SkipMapC(SkipMap<String, Arc<Record>>);

impl Contender for SkipMapC {
    fn name(&self) -> &'static str {
        "skipmap"
    }
    fn get(&self, key: &str) -> Option<u64> {
        self.0.get(key).map(|e| Arc::clone(e.value()).id)
    }
    fn set(&self, key: &str, value: Record) {
        self.0.insert(key.to_owned(), Arc::new(value));
    }
    fn delete(&self, key: &str) -> bool {
        self.0.remove(key).is_some()
    }
    fn list(&self) -> usize {
        let out: Vec<Arc<Record>> = self.0.iter().map(|e| Arc::clone(e.value())).collect();
        out.len()
    }
    fn range(&self, lo: &str, hi: &str) -> usize {
        let out: Vec<Arc<Record>> = self
            .0
            .range::<str, _>(bounds(lo, hi))
            .map(|e| Arc::clone(e.value()))
            .collect();
        out.len()
    }
    fn prefix(&self, prefix: &str) -> usize {
        let out: Vec<Arc<Record>> = self
            .0
            .range::<str, _>((Bound::Included(prefix), Bound::Unbounded))
            .take_while(|e| e.key().starts_with(prefix))
            .map(|e| Arc::clone(e.value()))
            .collect();
        out.len()
    }
    fn count(&self) -> usize {
        self.0.len()
    }
}

pub struct SkipListC(SkipList<String, Arc<Record>>);

impl Contender for SkipListC {
    fn name(&self) -> &'static str {
        "skiplist_base"
    }
    fn get(&self, key: &str) -> Option<u64> {
        let guard = epoch::pin();
        self.0.get(key, &guard).map(|e| Arc::clone(e.value()).id)
    }
    fn set(&self, key: &str, value: Record) {
        let guard = epoch::pin();
        self.0
            .insert(key.to_owned(), Arc::new(value), &guard)
            .release(&guard);
    }
    fn delete(&self, key: &str) -> bool {
        let guard = epoch::pin();
        match self.0.remove(key, &guard) {
            Some(entry) => {
                entry.release(&guard);
                true
            }
            None => false,
        }
    }
    fn list(&self) -> usize {
        let guard = epoch::pin();
        let out: Vec<Arc<Record>> = self.0.iter(&guard).map(|e| Arc::clone(e.value())).collect();
        out.len()
    }
    fn range(&self, lo: &str, hi: &str) -> usize {
        let guard = epoch::pin();
        let out: Vec<Arc<Record>> = self
            .0
            .range::<str, _>(bounds(lo, hi), &guard)
            .map(|e| Arc::clone(e.value()))
            .collect();
        out.len()
    }
    fn prefix(&self, prefix: &str) -> usize {
        let guard = epoch::pin();
        let out: Vec<Arc<Record>> = self
            .0
            .range::<str, _>((Bound::Included(prefix), Bound::Unbounded), &guard)
            .take_while(|e| e.key().starts_with(prefix))
            .map(|e| Arc::clone(e.value()))
            .collect();
        out.len()
    }
    fn count(&self) -> usize {
        self.0.len()
    }
}

pub struct TreeIndexC(scc::TreeIndex<String, Arc<Record>>);

impl Contender for TreeIndexC {
    fn name(&self) -> &'static str {
        "scc_treeindex"
    }
    fn get(&self, key: &str) -> Option<u64> {
        self.0.peek_with(key, |_, v| Arc::clone(v)).map(|v| v.id)
    }
    /// `TreeIndex` has no in-place update: remove, then insert (retried if a
    /// concurrent writer re-inserted the key in between).
    fn set(&self, key: &str, value: Record) {
        let value = Arc::new(value);
        loop {
            self.0.remove(key);
            if self.0.insert(key.to_owned(), Arc::clone(&value)).is_ok() {
                return;
            }
        }
    }
    fn delete(&self, key: &str) -> bool {
        self.0.remove(key)
    }
    fn list(&self) -> usize {
        let guard = scc::ebr::Guard::new();
        let out: Vec<Arc<Record>> = self.0.iter(&guard).map(|(_, v)| Arc::clone(v)).collect();
        out.len()
    }
    fn range(&self, lo: &str, hi: &str) -> usize {
        let guard = scc::ebr::Guard::new();
        let out: Vec<Arc<Record>> = self
            .0
            .range::<str, _>(bounds(lo, hi), &guard)
            .map(|(_, v)| Arc::clone(v))
            .collect();
        out.len()
    }
    fn prefix(&self, prefix: &str) -> usize {
        let guard = scc::ebr::Guard::new();
        let out: Vec<Arc<Record>> = self
            .0
            .range::<str, _>((Bound::Included(prefix), Bound::Unbounded), &guard)
            .take_while(|(k, _)| k.starts_with(prefix))
            .map(|(_, v)| Arc::clone(v))
            .collect();
        out.len()
    }
    fn count(&self) -> usize {
        self.0.len()
    }
}

pub struct BTreeC(RwLock<BTreeMap<String, Arc<Record>>>);

impl Contender for BTreeC {
    fn name(&self) -> &'static str {
        "rwlock_btreemap"
    }
    fn get(&self, key: &str) -> Option<u64> {
        self.0.read().unwrap().get(key).map(|v| Arc::clone(v).id)
    }
    fn set(&self, key: &str, value: Record) {
        let mut map = self.0.write().unwrap();
        match map.get_mut(key) {
            Some(slot) => *slot = Arc::new(value),
            None => {
                map.insert(key.to_owned(), Arc::new(value));
            }
        }
    }
    fn delete(&self, key: &str) -> bool {
        self.0.write().unwrap().remove(key).is_some()
    }
    /// One write lock for the whole batch, as a user of a locked map would.
    fn set_batch(&self, items: &[(&str, Record)]) {
        let mut map = self.0.write().unwrap();
        for (key, value) in items {
            match map.get_mut(*key) {
                Some(slot) => *slot = Arc::new(*value),
                None => {
                    map.insert((*key).to_owned(), Arc::new(*value));
                }
            }
        }
    }
    fn list(&self) -> usize {
        let map = self.0.read().unwrap();
        let out: Vec<Arc<Record>> = map.values().cloned().collect();
        out.len()
    }
    fn range(&self, lo: &str, hi: &str) -> usize {
        let map = self.0.read().unwrap();
        let out: Vec<Arc<Record>> = map
            .range::<str, _>(bounds(lo, hi))
            .map(|(_, v)| Arc::clone(v))
            .collect();
        out.len()
    }
    fn prefix(&self, prefix: &str) -> usize {
        let map = self.0.read().unwrap();
        let out: Vec<Arc<Record>> = map
            .range::<str, _>((Bound::Included(prefix), Bound::Unbounded))
            .take_while(|(k, _)| k.starts_with(prefix))
            .map(|(_, v)| Arc::clone(v))
            .collect();
        out.len()
    }
    fn count(&self) -> usize {
        self.0.read().unwrap().len()
    }
}

// ----- hash maps (ordered reads: collect, filter, sort) -----

/// Sorts `(key, value)` references by key and clones the values out.
fn sorted_values<'a>(mut entries: Vec<(&'a String, &'a Arc<Record>)>) -> usize {
    entries.sort_unstable_by(|a, b| a.0.cmp(b.0));
    let out: Vec<Arc<Record>> = entries.into_iter().map(|(_, v)| Arc::clone(v)).collect();
    out.len()
}

type Papaya = papaya::HashMap<String, Arc<Record>>;

pub struct PapayaC(Arc<Papaya>);

impl Default for PapayaC {
    fn default() -> Self {
        PapayaC(Arc::new(Papaya::new()))
    }
}
/// papaya `get` borrowed under the guard: the ceiling for zestor's `read`.
pub struct PapayaRead(Arc<Papaya>);

macro_rules! papaya_rest {
    () => {
        fn set(&self, key: &str, value: Record) {
            self.0.pin().insert(key.to_owned(), Arc::new(value));
        }
        fn delete(&self, key: &str) -> bool {
            self.0.pin().remove(key).is_some()
        }
        fn list(&self) -> usize {
            let map = self.0.pin();
            sorted_values(map.iter().collect())
        }
        fn range(&self, lo: &str, hi: &str) -> usize {
            let map = self.0.pin();
            let range = bounds(lo, hi);
            sorted_values(
                map.iter()
                    .filter(|(k, _)| std::ops::RangeBounds::contains(&range, &k.as_str()))
                    .collect(),
            )
        }
        fn prefix(&self, prefix: &str) -> usize {
            let map = self.0.pin();
            sorted_values(map.iter().filter(|(k, _)| k.starts_with(prefix)).collect())
        }
        fn count(&self) -> usize {
            self.0.len()
        }
    };
}

impl Contender for PapayaC {
    fn name(&self) -> &'static str {
        "papaya"
    }
    fn get(&self, key: &str) -> Option<u64> {
        self.0.pin().get(key).map(|v| Arc::clone(v).id)
    }
    papaya_rest!();
}

impl Contender for PapayaRead {
    fn name(&self) -> &'static str {
        "papaya_read"
    }
    fn get(&self, key: &str) -> Option<u64> {
        self.0.pin().get(key).map(|v| v.id)
    }
    papaya_rest!();
}

pub struct HashIndexC(scc::HashIndex<String, Arc<Record>>);

impl Contender for HashIndexC {
    fn name(&self) -> &'static str {
        "scc_hashindex"
    }
    fn get(&self, key: &str) -> Option<u64> {
        self.0.peek_with(key, |_, v| Arc::clone(v)).map(|v| v.id)
    }
    fn set(&self, key: &str, value: Record) {
        let value = Arc::new(value);
        loop {
            if let Some(entry) = self.0.get(key) {
                entry.update(value);
                return;
            }
            if self.0.insert(key.to_owned(), Arc::clone(&value)).is_ok() {
                return;
            }
        }
    }
    fn delete(&self, key: &str) -> bool {
        self.0.remove(key)
    }
    fn list(&self) -> usize {
        let guard = scc::ebr::Guard::new();
        sorted_values(self.0.iter(&guard).collect())
    }
    fn range(&self, lo: &str, hi: &str) -> usize {
        let guard = scc::ebr::Guard::new();
        let range = bounds(lo, hi);
        sorted_values(
            self.0
                .iter(&guard)
                .filter(|(k, _)| std::ops::RangeBounds::contains(&range, &k.as_str()))
                .collect(),
        )
    }
    fn prefix(&self, prefix: &str) -> usize {
        let guard = scc::ebr::Guard::new();
        sorted_values(
            self.0
                .iter(&guard)
                .filter(|(k, _)| k.starts_with(prefix))
                .collect(),
        )
    }
    fn count(&self) -> usize {
        self.0.len()
    }
}

pub struct DashMapC(dashmap::DashMap<String, Arc<Record>>);

impl Contender for DashMapC {
    fn name(&self) -> &'static str {
        "dashmap"
    }
    fn get(&self, key: &str) -> Option<u64> {
        self.0.get(key).map(|v| Arc::clone(v.value()).id)
    }
    fn set(&self, key: &str, value: Record) {
        match self.0.get_mut(key) {
            Some(mut slot) => *slot = Arc::new(value),
            None => {
                self.0.insert(key.to_owned(), Arc::new(value));
            }
        }
    }
    fn delete(&self, key: &str) -> bool {
        self.0.remove(key).is_some()
    }
    /// Sharded locks: iterating holds one shard's read lock at a time, so
    /// (like every hash map here) the copy is collected, then sorted.
    fn list(&self) -> usize {
        let mut out: Vec<(String, Arc<Record>)> = self
            .0
            .iter()
            .map(|e| (e.key().clone(), Arc::clone(e.value())))
            .collect();
        out.sort_unstable_by(|a, b| a.0.cmp(&b.0));
        out.len()
    }
    fn range(&self, lo: &str, hi: &str) -> usize {
        let range = bounds(lo, hi);
        let mut out: Vec<(String, Arc<Record>)> = self
            .0
            .iter()
            .filter(|e| std::ops::RangeBounds::contains(&range, &e.key().as_str()))
            .map(|e| (e.key().clone(), Arc::clone(e.value())))
            .collect();
        out.sort_unstable_by(|a, b| a.0.cmp(&b.0));
        out.len()
    }
    fn prefix(&self, prefix: &str) -> usize {
        let mut out: Vec<(String, Arc<Record>)> = self
            .0
            .iter()
            .filter(|e| e.key().starts_with(prefix))
            .map(|e| (e.key().clone(), Arc::clone(e.value())))
            .collect();
        out.sort_unstable_by(|a, b| a.0.cmp(&b.0));
        out.len()
    }
    fn count(&self) -> usize {
        self.0.len()
    }
}
