//! The differential fuzz harness (`fuzz/`, run by `ci/fuzz.sh`) replayed on
//! chosen sequences. Each test goes through the same checks as the fuzz
//! targets — every call against the `BTreeMap` model, every watch delivery
//! against the stream the model expects — so `cargo test` exercises the
//! checker too, and the tally a run returns shows that the scenario really
//! happened. A crash the fuzzer finds is kept here as its minimized
//! sequence.

#[allow(dead_code)] // shared with the fuzz targets; not every item is used here
#[path = "../fuzz/src/harness/mod.rs"]
mod harness;

use std::ops::Bound;

use harness::callbacks;
use harness::mirror::{MirrorRecv, MirrorSpec};
use harness::model::{Change, CompareMode, KeyName, KindName, Point};
use harness::ops::{self, Op, PointRead, ScanRead, Via};
use harness::watch::{EventMask, RecvMode, Tally, WatchSpec};

fn set(kind: KindName, key: KeyName, value: u8) -> Op {
    set_via(kind, key, value, Via::Store)
}

fn set_via(kind: KindName, key: KeyName, value: u8, via: Via) -> Op {
    Op::Set {
        kind,
        key,
        value,
        via,
    }
}

fn delete(kind: KindName, key: KeyName) -> Op {
    Op::Delete {
        kind,
        key,
        via: Via::Store,
    }
}

fn watch(kind: KindName, replay: bool, types: EventMask, buffer_size: usize) -> Op {
    Op::Watch {
        kind,
        spec: WatchSpec {
            replay,
            types,
            buffer_size,
            start_back: None,
            prefix: None,
        },
        via: Via::Store,
    }
}

/// A watch that resumes `back` revisions before the kind's next one.
fn resume(kind: KindName, back: u8, buffer_size: usize) -> Op {
    Op::Watch {
        kind,
        spec: WatchSpec {
            replay: false,
            types: EventMask::ALL,
            buffer_size,
            start_back: Some(back),
            prefix: None,
        },
        via: Via::Store,
    }
}

/// A watch on the keys under `prefix` only.
fn prefix_watch(kind: KindName, replay: bool, prefix: Point, buffer_size: usize) -> Op {
    Op::Watch {
        kind,
        spec: WatchSpec {
            replay,
            types: EventMask::ALL,
            buffer_size,
            start_back: None,
            prefix: Some(prefix),
        },
        via: Via::Store,
    }
}

/// `mirror_with`: `buffer_size` revisions of lag before it resyncs.
fn mirror(kind: KindName, types: EventMask, buffer_size: usize, prefix: Option<Point>) -> Op {
    Op::Mirror {
        kind,
        spec: MirrorSpec {
            options: Some(WatchSpec {
                replay: false,
                types,
                buffer_size,
                start_back: None,
                prefix,
            }),
        },
        via: Via::Store,
    }
}

fn mirror_recv(slot: u8, mode: MirrorRecv, count: u8) -> Op {
    Op::MirrorRecv { slot, mode, count }
}

fn recv(slot: u8, count: u8) -> Op {
    Op::Recv {
        slot,
        mode: RecvMode::TryRecv,
        count,
    }
}

fn scan(kind: KindName, scan: ScanRead) -> Op {
    Op::Scan {
        kind,
        scan,
        via: Via::Store,
    }
}

#[test]
fn a_lagging_watch_overflows_on_a_ring_of_one() {
    use KeyName::*;
    use KindName::*;
    let tally = ops::run(&ops::Input {
        ring_capacity: 1,
        compare: CompareMode::Exact,
        history: None,
        ops: vec![
            watch(A, false, EventMask::ALL, 1), // slot 0: kept up to date
            watch(A, false, EventMask::ALL, 1), // slot 1: left behind
            set(A, K, 1),
            // Slot 0 gets the create, then nothing.
            recv(0, 2),
            // Slot 1 is now two revisions behind a buffer of one, and the
            // ring of one slot has lapped it.
            set(A, K1, 2),
            recv(0, 2),
            // Slot 1 gets the overflow, then Closed.
            recv(1, 2),
            // A buffer larger than the ring is rejected.
            watch(A, false, EventMask::ALL, 2),
        ],
    });
    assert_eq!(
        tally,
        Tally {
            events: 2,
            overflows: 1,
            closes: 1, // slot 0, when the run ends by closing the store
            panics: 0,
            resyncs: 0,
        }
    );
}

#[test]
fn replay_after_deletes_delivers_only_live_entries() {
    use KeyName::*;
    use KindName::*;
    let delete_only = EventMask(4);
    let tally = ops::run(&ops::Input {
        ring_capacity: 16,
        compare: CompareMode::Exact,
        history: None,
        ops: vec![
            Op::SetMany {
                kind: A,
                items: vec![(X, 4), (K2, 3), (K, 1), (K1, 2)],
                via: Via::Handle,
            },
            delete(A, K1),
            delete(A, X),
            // Already gone: `None`, and no revision.
            delete(A, X),
            // Replays k and k2.
            watch(A, true, EventMask::ALL, 16),
            // Filters the replay out.
            watch(A, true, delete_only, 16),
            delete(A, K),
            // A deleted key, created again.
            set(A, K1, 5),
            Op::DrainAll {
                mode: RecvMode::Stream,
            },
            scan(A, ScanRead::List),
            scan(A, ScanRead::Revision),
        ],
    });
    // Two replayed creates, a delete and a create; the filtered watch only
    // gets the delete.
    assert_eq!(tally.events, 5);
    assert_eq!(tally.overflows, 0);
}

#[test]
fn close_ends_open_watches_and_every_later_call() {
    use KeyName::*;
    use KindName::*;
    let tally = ops::run(&ops::Input {
        ring_capacity: 4,
        compare: CompareMode::Coarse,
        history: None,
        ops: vec![
            watch(B, true, EventMask::ALL, 4),
            set_via(B, K, 1, Via::KeptHandle),
            // The same block of 8 under the coarse compare: unchanged.
            set(B, K, 2),
            Op::Update {
                kind: B,
                key: K,
                change: Change::Add(8),
                via: Via::Store,
            },
            // Kind "b" rejects values from 28.
            set(B, X, 30),
            // A replay still to deliver.
            watch(B, true, EventMask::ALL, 4),
            Op::Close,
            // Neither the pending live events nor the replay are delivered.
            recv(0, 2),
            recv(1, 2),
            // Through a handle kept from before the close.
            set_via(B, K, 3, Via::KeptHandle),
            scan(B, ScanRead::Count),
            Op::Kinds,
            Op::Dump,
            watch(B, false, EventMask::ALL, 1),
        ],
    });
    assert_eq!(
        tally,
        Tally {
            events: 0,
            overflows: 0,
            closes: 2,
            panics: 0,
            resyncs: 0,
        }
    );
}

#[test]
fn an_update_that_loses_to_its_own_closure_runs_again_without_a_hole() {
    use KeyName::*;
    use KindName::*;
    let update = |change| Op::Update {
        kind: A,
        key: K,
        change,
        via: Via::Handle,
    };
    let tally = ops::run(&ops::Input {
        ring_capacity: 4,
        compare: CompareMode::Exact,
        history: None,
        ops: vec![
            set(A, K, 1),
            watch(A, false, EventMask::ALL, 4), // slot 0
            watch(A, false, EventMask::ALL, 1), // slot 1
            // The closure sets k to 5 (revision 2); the update then loses its
            // install — having taken no revision, since revisions are taken
            // only after an install — runs the closure again on 5 and stores
            // 6 (revision 3).
            update(Change::ReenterSet(5)),
            // Slot 0 gets revisions 2 and 3, no gap; slot 1 is two revisions
            // behind a buffer of one (exactly two: no hole was taken):
            // overflow.
            recv(0, 3),
            recv(1, 1),
            // The closure deletes k (revision 4); the update loses again and
            // then finds the key gone.
            update(Change::ReenterDelete),
            recv(0, 2),
            scan(A, ScanRead::Revision),
        ],
    });
    assert_eq!(
        tally,
        Tally {
            events: 3,
            overflows: 1,
            closes: 1,
            panics: 0,
            resyncs: 0,
        }
    );
}

#[test]
fn bad_arguments_and_empty_ranges() {
    use KeyName::*;
    use KindName::*;
    ops::run(&ops::Input {
        ring_capacity: 0, // clamped to 1
        compare: CompareMode::Exact,
        history: None,
        ops: vec![
            set(EmptyKind, K, 1),
            set(A, EmptyKey, 1),
            Op::SetMany {
                kind: A,
                items: vec![(K, 1), (EmptyKey, 2)], // nothing is written
                via: Via::Store,
            },
            Op::Update {
                kind: A,
                key: K,
                change: Change::To(1),
                via: Via::Handle,
            },
            set(A, K1, 1),
            set(A, K2, 2),
            set(A, Kk, 3),
            scan(
                A,
                ScanRead::Range(Bound::Included(Point::K2), Bound::Excluded(Point::K1)),
            ),
            scan(
                A,
                ScanRead::Range(Bound::Excluded(Point::K1), Bound::Excluded(Point::K1)),
            ),
            scan(
                A,
                ScanRead::Range(Bound::Excluded(Point::K1), Bound::Included(Point::Kk)),
            ),
            scan(A, ScanRead::Prefix(Point::K)),
            scan(A, ScanRead::Prefix(Point::Empty)),
            Op::Read {
                kind: EmptyKind,
                key: EmptyKey,
                read: PointRead::Get,
                via: Via::KeptHandle,
            },
            watch(A, false, EventMask::ALL, 0),
            watch(A, false, EventMask::ALL, 2),
            Op::GetAll,
            Op::Dump,
        ],
    });
}

#[test]
fn panicking_callbacks_leave_nothing_half_written() {
    use callbacks::Op::*;
    use KeyName::*;
    use KindName::*;
    let tally = callbacks::run(&callbacks::Input {
        validator_panics_on: 5,
        compare_panics_on: 7,
        ops: vec![
            Watch {
                kind: A,
                replay: false,
            },
            Watch {
                kind: A,
                replay: true,
            },
            Set {
                kind: A,
                key: K,
                value: 1,
            },
            Set {
                kind: A,
                key: K1,
                value: 2,
            },
            Arm {
                validator: true,
                compare: true,
            },
            // The validator panics on the second item: nothing is written.
            SetMany {
                kind: A,
                items: vec![(K2, 3), (X, 5)],
            },
            // Applied in key order: k is written, then the compare function
            // panics on k1, and x is never reached.
            SetMany {
                kind: A,
                items: vec![(X, 4), (K1, 7), (K, 3)],
            },
            Update {
                kind: A,
                key: K,
                change: Change::Panic,
            },
            Update {
                kind: A,
                key: K,
                change: Change::To(7), // the compare function panics
            },
            Update {
                kind: A,
                key: K,
                change: Change::Fail,
            },
            Set {
                kind: A,
                key: K2,
                value: 12, // rejected
            },
            ReadPanics { kind: A, key: K },
            FilterPanics { kind: A, after: 1 },
            Arm {
                validator: false,
                compare: false,
            },
            Set {
                kind: A,
                key: K1,
                value: 7,
            },
        ],
    });
    assert_eq!(tally.panics, 6);
    assert_eq!(tally.overflows, 0);
}

#[test]
fn snapshots_transactions_and_resumed_watches_follow_the_model() {
    use KeyName::*;
    use KindName::*;
    let tally = ops::run(&ops::Input {
        ring_capacity: 4,
        compare: CompareMode::Exact,
        history: None,
        ops: vec![
            set(A, K, 1),
            Op::Snapshot {
                kind: A,
                via: Via::Store,
            },
            // A transaction: reads k and x, writes k2 and deletes k.
            Op::Transaction {
                kind: A,
                reads: vec![K, X],
                writes: vec![(K2, Some(5)), (K, None), (K2, Some(6))],
                fail: false,
                via: Via::Handle,
            },
            // One that fails, and one the validator of kind b rejects.
            Op::Transaction {
                kind: A,
                reads: vec![K2],
                writes: vec![(K, Some(9))],
                fail: true,
                via: Via::Store,
            },
            Op::Transaction {
                kind: B,
                reads: vec![],
                writes: vec![(K, Some(1)), (K1, Some(30))],
                fail: false,
                via: Via::Store,
            },
            // Nothing changes: no revision.
            Op::Transaction {
                kind: A,
                reads: vec![K2],
                writes: vec![(K2, Some(6)), (X, None)],
                fail: false,
                via: Via::KeptHandle,
            },
            Op::CheckSnapshots,
            // Resume two revisions back: the transaction's two events, as one
            // revision.
            resume(A, 2, 4),
            recv(0, 3),
            // Four more writes lap the ring of four: revision 2 is compacted.
            set(A, K, 2),
            set(A, K, 3),
            set(A, K, 4),
            set(A, K, 5),
            resume(A, 7, 4),
            // Resuming at the next revision waits for it.
            resume(A, 0, 4),
            set(A, X, 7),
            Op::Snapshot {
                kind: A,
                via: Via::Handle,
            },
            Op::DrainAll {
                mode: RecvMode::TryRecv,
            },
            Op::CheckSnapshots,
        ],
    });
    assert_eq!(tally.overflows, 1, "the first resumed watch fell behind");
    assert!(tally.events >= 3);
}

#[test]
fn a_watcher_caught_up_on_a_revision_is_not_behind_for_it() {
    // The model once counted a revision whose one event was delivered as
    // still pending, and expected an overflow the store rightly did not give.
    use KeyName::*;
    use KindName::*;
    let tally = ops::run(&ops::Input {
        ring_capacity: 1,
        compare: CompareMode::Exact,
        history: None,
        ops: vec![
            watch(A, false, EventMask::ALL, 1),
            set(A, K, 1),
            set(A, K, 1), // unchanged: no revision
            recv(0, 1),
            set(A, K1, 2), // one revision behind a buffer of one: fine
            recv(0, 2),
        ],
    });
    assert_eq!(tally.events, 2);
    assert_eq!(tally.overflows, 0);
}

#[test]
fn a_snapshot_of_a_kind_never_written_is_named_for_it() {
    // Found by the fuzzer: it was named after the nameless stand-in that
    // reads a kind never written.
    ops::run(&ops::Input {
        ring_capacity: 8,
        compare: CompareMode::Exact,
        history: None,
        ops: vec![Op::Snapshot {
            kind: KindName::B,
            via: Via::Store,
        }],
    });
}

#[test]
fn prefix_watches_replay_and_follow_only_their_keys() {
    use KeyName::*;
    use KindName::*;
    let tally = ops::run(&ops::Input {
        ring_capacity: 8,
        compare: CompareMode::Exact,
        history: None,
        ops: vec![
            set(A, K, 1),
            set(A, X, 2),
            set(A, K1, 3),
            prefix_watch(A, true, Point::K, 8), // slot 0: replays k and k1
            prefix_watch(A, false, Point::K1, 8), // slot 1
            watch(A, false, EventMask::ALL, 8), // slot 2: every key
            // A prefix no key has: its watch still counts every revision.
            prefix_watch(A, false, Point::Z, 1), // slot 3
            set(A, K, 4),                        // an update: previous 1
            set(A, X, 5),                        // outside "k"
            delete(A, K1),                       // previous: the removed 3
            Op::SetMany {
                kind: A,
                items: vec![(K2, 6), (X, 7)],
                via: Via::Store,
            },
            // The empty prefix is every key.
            prefix_watch(A, true, Point::Empty, 8), // slot 4 (3 once slot 3 ends)
            Op::DrainAll {
                mode: RecvMode::TryRecv,
            },
        ],
    });
    // Slot 0: 2 replayed + 3 live; slot 1: 1; slot 2: 5; slot 4: 3
    // replayed. Slot 3 overflows, four revisions behind a buffer of one.
    assert_eq!(tally.events, 14);
    assert_eq!(tally.overflows, 1);
}

#[test]
fn mirrors_resync_when_they_fall_behind_and_converge() {
    use KeyName::*;
    use KindName::*;
    let update_only = EventMask(2);
    let tally = ops::run(&ops::Input {
        ring_capacity: 4,
        compare: CompareMode::Exact,
        history: None,
        ops: vec![
            set(A, K, 1),
            set(A, K1, 2),
            set(A, X, 3),
            mirror(A, EventMask::ALL, 1, None),           // slot 0
            mirror(A, EventMask::ALL, 2, Some(Point::K)), // slot 1
            mirror(A, update_only, 1, None),              // slot 2
            // Slot 0 shows k; k1 and x stay in its backlog.
            mirror_recv(0, MirrorRecv::TryRecv, 1),
            // Four revisions: more than any of the buffers.
            set(A, K, 4),
            set(A, K2, 5),
            delete(A, X),
            set(A, K1, 6),
            mirror_recv(0, MirrorRecv::Stream, 8),
            mirror_recv(1, MirrorRecv::Recv, 8),
            mirror_recv(2, MirrorRecv::RecvTimeout, 8),
            Op::SetMany {
                kind: A,
                items: vec![(K, 7), (Kk, 8)],
                via: Via::Handle,
            },
            delete(A, K2),
            Op::DrainAll {
                mode: RecvMode::TryRecv,
            },
            // `mirror()` takes the whole ring as its buffer, so it fits any
            // ring; a replay, a start revision and a buffer past the ring
            // are rejected.
            Op::Mirror {
                kind: A,
                spec: MirrorSpec { options: None },
                via: Via::KeptHandle,
            },
            Op::Mirror {
                kind: A,
                spec: MirrorSpec {
                    options: Some(WatchSpec {
                        replay: true,
                        types: EventMask::ALL,
                        buffer_size: 1,
                        start_back: None,
                        prefix: None,
                    }),
                },
                via: Via::Store,
            },
            Op::Mirror {
                kind: A,
                spec: MirrorSpec {
                    options: Some(WatchSpec {
                        replay: false,
                        types: EventMask::ALL,
                        buffer_size: 1,
                        start_back: Some(0),
                        prefix: None,
                    }),
                },
                via: Via::Handle,
            },
            mirror(A, EventMask::ALL, 5, None),
            mirror(EmptyKind, EventMask::ALL, 1, None),
        ],
    });
    assert!(tally.resyncs >= 2, "{tally:?}");
    assert_eq!(tally.closes, 4, "every mirror ends with the store");
}

#[test]
fn a_mirror_says_closed_after_close_even_with_a_backlog() {
    // Found by the fuzzer. `Mirror::is_closed`: "every receive returns
    // Closed" once the store is closed; this one yields the create of x.
    use KeyName::*;
    use KindName::*;
    ops::run(&ops::Input {
        ring_capacity: 1,
        compare: CompareMode::Exact,
        history: None,
        ops: vec![
            set(B, X, 4),
            mirror(B, EventMask::ALL, 1, None),
            Op::Close,
            mirror_recv(0, MirrorRecv::TryRecv, 1),
        ],
    });
}

/// `history(0)`: an unwatched kind releases each revision as it publishes
/// it, so resuming from it is `Compacted` (which the model accepts only
/// where history could have been released); once watched, the kind keeps
/// its ring, and a watch resumed then gets every event.
#[test]
fn released_history_is_compacted_and_a_watched_kind_keeps_its_ring() {
    use KeyName::*;
    use KindName::*;
    let tally = ops::run(&ops::Input {
        ring_capacity: 8,
        compare: CompareMode::Exact,
        history: Some(0),
        ops: vec![
            set(A, K, 1),
            set(A, K, 2),
            set(A, K, 3),
            resume(A, 2, 8), // revision 2: released
            watch(A, false, EventMask::ALL, 8),
            set(A, K, 4),
            set(A, K, 5),
            resume(A, 2, 8), // revision 4: kept for the watch
        ],
    });
    // The live watch and the resumed one each deliver revisions 4 and 5.
    assert_eq!(tally.events, 4, "{tally:?}");
    assert_eq!(tally.closes, 2, "{tally:?}");
}
