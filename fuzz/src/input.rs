//! Decoding fuzz input into the harness's inputs.
//!
//! Written by hand rather than derived: the harness's types are shared with
//! `tests/fuzz_regressions.rs` in the main crate, which cannot depend on
//! `arbitrary`, so they carry no derive and the impls live here. Every
//! choice takes one byte (`byte % n` picks one of n), so a seed can be
//! written byte by byte from the layouts below; a missing byte reads as 0.

use std::ops::Bound;

use arbitrary::{Arbitrary, Result, Unstructured};

use crate::durable;
use crate::harness::mirror::{MirrorRecv, MirrorSpec};
use crate::harness::model::{Change, CompareMode, KeyName, KindName, Point};
use crate::harness::ops::{PointRead, ScanRead, Via};
use crate::harness::watch::{EventMask, RecvMode, WatchSpec};
use crate::harness::{callbacks, ops};

/// Longest `ops` run: enough for overflows and laps, short enough for speed.
const MAX_OPS: usize = 256;
/// Longest `callbacks` run (every step there checks the whole store).
const MAX_CALLBACK_OPS: usize = 64;

fn byte(u: &mut Unstructured<'_>) -> Result<u8> {
    u8::arbitrary(u)
}

fn pick<T: Copy>(u: &mut Unstructured<'_>, options: &[T]) -> Result<T> {
    Ok(options[usize::from(byte(u)?) % options.len()])
}

/// `byte % 8`: 0, 3, 6 "a"; 1, 4 "b"; 2, 5 "c"; 7 the empty kind.
fn kind(u: &mut Unstructured<'_>) -> Result<KindName> {
    use KindName::*;
    pick(u, &[A, B, C, A, B, C, A, EmptyKind])
}

/// `byte % 16`: 15 the empty key, else `[k, k1, k2, kk, x][byte % 16 % 5]`.
fn key(u: &mut Unstructured<'_>) -> Result<KeyName> {
    use KeyName::*;
    pick(
        u,
        &[
            K, K1, K2, Kk, X, K, K1, K2, Kk, X, K, K1, K2, Kk, X, EmptyKey,
        ],
    )
}

/// `byte % 32`: small values, so equal values (`Unchanged`) and rejected
/// ones (from 28 in `ops`, from 12 in `callbacks`) are common.
fn value(u: &mut Unstructured<'_>) -> Result<u8> {
    Ok(byte(u)? % 32)
}

/// A length byte (`% 5`), then a key and a value per item.
fn items(u: &mut Unstructured<'_>) -> Result<Vec<(KeyName, u8)>> {
    let len = byte(u)? % 5;
    (0..len).map(|_| Ok((key(u)?, value(u)?))).collect()
}

/// `byte % 6`: 0 `To(value)`, 1 `Add(value)`, 2 `Fail`, 3 `Panic` (or
/// `To(value)` where panics are not wanted), 4 `ReenterSet(value)`,
/// 5 `ReenterDelete`.
fn change(u: &mut Unstructured<'_>, panics: bool) -> Result<Change> {
    Ok(match byte(u)? % 6 {
        0 => Change::To(value(u)?),
        1 => Change::Add(value(u)?),
        2 => Change::Fail,
        3 if panics => Change::Panic,
        3 => Change::To(value(u)?),
        4 => Change::ReenterSet(value(u)?),
        _ => Change::ReenterDelete,
    })
}

/// `byte % 4`: 0, 1 the store; 2 a fresh handle; 3 a kept handle.
fn via(u: &mut Unstructured<'_>) -> Result<Via> {
    pick(u, &[Via::Store, Via::Store, Via::Handle, Via::KeptHandle])
}

/// `byte % 3`: `try_recv`, `recv_timeout`, `WatchStream::poll_next` (through
/// `into_stream`).
fn mode(u: &mut Unstructured<'_>) -> Result<RecvMode> {
    pick(
        u,
        &[RecvMode::TryRecv, RecvMode::RecvTimeout, RecvMode::Stream],
    )
}

/// `byte % 8` indexes `Point::ALL`: "", k, k1, k15, k2, kk, x, z.
fn point(u: &mut Unstructured<'_>) -> Result<Point> {
    pick(u, &Point::ALL)
}

/// One byte: `% 4` 0 included, 1 excluded, 2 and 3 unbounded; `/ 4 % 8`
/// indexes `Point::ALL`.
fn bound(u: &mut Unstructured<'_>) -> Result<Bound<Point>> {
    let b = byte(u)?;
    let point = Point::ALL[usize::from(b / 4) % Point::ALL.len()];
    Ok(match b % 4 {
        0 => Bound::Included(point),
        1 => Bound::Excluded(point),
        _ => Bound::Unbounded,
    })
}

/// `byte >> 4` (of a byte whose low bits mean something else): below 8 no
/// prefix, else `Point::ALL[.. - 8]` (the empty prefix included, which
/// must act as none).
fn prefix(b: u8) -> Option<Point> {
    let index = usize::from(b >> 4);
    index.checked_sub(8).map(|index| Point::ALL[index])
}

/// Four bytes: replay (`& 1`) and a prefix (`>> 4`, see [`prefix`]),
/// event-type mask (`& 7`: create 1, update 2, delete 4; 0 every type),
/// buffer size (`% 18`, so 0 and sizes above the ring are tried too), and
/// a start revision: none for `byte < 128`, else `byte % 24` revisions back
/// from the kind's next one (so both ones the ring still holds and
/// compacted ones are asked for, and with replay too).
fn spec(u: &mut Unstructured<'_>) -> Result<WatchSpec> {
    let first = byte(u)?;
    Ok(WatchSpec {
        replay: first & 1 == 1,
        types: EventMask(byte(u)? & 7),
        buffer_size: usize::from(byte(u)? % 18),
        start_back: {
            let b = byte(u)?;
            (b >= 128).then_some(b % 24)
        },
        prefix: prefix(first),
    })
}

/// Three bytes. The first: `% 16` 15 is `mirror()` (the default buffer,
/// larger than any ring here: rejected), 14 asks for a replay and 13 for a
/// start revision (both rejected), anything else neither; `>> 4` a prefix
/// (see [`prefix`]). The second: `& 8` clear means every event type, set
/// means the mask `& 7`. The third: the buffer size, `1 + byte % 4` below
/// 192 (a mirror that falls that far behind resyncs), else `byte % 18`.
fn mirror_spec(u: &mut Unstructured<'_>) -> Result<MirrorSpec> {
    let first = byte(u)?;
    let types = byte(u)?;
    let buffer = byte(u)?;
    if first % 16 == 15 {
        return Ok(MirrorSpec { options: None });
    }
    Ok(MirrorSpec {
        options: Some(WatchSpec {
            replay: first % 16 == 14,
            types: EventMask(if types & 8 == 0 { 0 } else { types & 7 }),
            buffer_size: usize::from(if buffer < 192 {
                1 + buffer % 4
            } else {
                buffer % 18
            }),
            start_back: (first % 16 == 13).then_some(0),
            prefix: prefix(first),
        }),
    })
}

/// `byte % 4`: `try_recv`, `recv_timeout`, `Stream::poll_next`, `recv`.
fn mirror_recv(u: &mut Unstructured<'_>) -> Result<MirrorRecv> {
    pick(
        u,
        &[
            MirrorRecv::TryRecv,
            MirrorRecv::RecvTimeout,
            MirrorRecv::Stream,
            MirrorRecv::Recv,
        ],
    )
}

/// A count (`byte % 4`), then that many keys.
fn keys(u: &mut Unstructured<'_>) -> Result<Vec<KeyName>> {
    (0..byte(u)? % 4).map(|_| key(u)).collect()
}

/// A count (`byte % 4`), then that many writes: a key, then `byte`: a
/// delete for `< 64`, else a value (`% 32`).
fn writes(u: &mut Unstructured<'_>) -> Result<Vec<(KeyName, Option<u8>)>> {
    (0..byte(u)? % 4)
        .map(|_| {
            let key = key(u)?;
            let b = byte(u)?;
            Ok((key, (b >= 64).then_some(b % 32)))
        })
        .collect()
}

/// `byte % 8`: 0 list, 1 list_filtered (then odd: `byte & 1`), 2 range
/// (then two bounds), 3 prefix (then a point), 4 keys, 5 values, 6 count,
/// 7 revision.
fn scan(u: &mut Unstructured<'_>) -> Result<ScanRead> {
    Ok(match byte(u)? % 8 {
        0 => ScanRead::List,
        1 => ScanRead::ListFiltered {
            odd: byte(u)? & 1 == 1,
        },
        2 => ScanRead::Range(bound(u)?, bound(u)?),
        3 => ScanRead::Prefix(point(u)?),
        4 => ScanRead::Keys,
        5 => ScanRead::Values,
        6 => ScanRead::Count,
        _ => ScanRead::Revision,
    })
}

/// A selector byte, then the fields in the order written. 255 closes the
/// store (rarely, or most runs would end early); otherwise `byte % 40`:
/// 0-5 set, 6-7 set_many, 8-9 update, 10-12 delete, 13-14 a point read
/// (`% 3`: get, read, contains), 15-17 a scan, 18 kinds, 19 get_all,
/// 20 dump, 21-23 watch, 24 drop a watch, 25-28 receive (slot, mode, count),
/// 29-30 drain every watch and mirror (mode), 31-32 snapshot, 33 check the
/// kept snapshots, 34-35 transaction (reads, writes, fail: `byte % 8 ==
/// 0`), 36 mirror (kind, spec, via), 37-38 receive from a mirror (slot,
/// mode, count), 39 drop a mirror (slot). Selectors below 36 decode as they
/// did before mirrors, so older seeds keep their meaning.
impl<'a> Arbitrary<'a> for ops::Op {
    fn arbitrary(u: &mut Unstructured<'a>) -> Result<Self> {
        use ops::Op;
        let selector = byte(u)?;
        if selector == u8::MAX {
            return Ok(Op::Close);
        }
        Ok(match selector % 40 {
            0..=5 => Op::Set {
                kind: kind(u)?,
                key: key(u)?,
                value: value(u)?,
                via: via(u)?,
            },
            6..=7 => Op::SetMany {
                kind: kind(u)?,
                items: items(u)?,
                via: via(u)?,
            },
            8..=9 => Op::Update {
                kind: kind(u)?,
                key: key(u)?,
                change: change(u, false)?,
                via: via(u)?,
            },
            10..=12 => Op::Delete {
                kind: kind(u)?,
                key: key(u)?,
                via: via(u)?,
            },
            13..=14 => Op::Read {
                kind: kind(u)?,
                key: key(u)?,
                read: pick(u, &[PointRead::Get, PointRead::Read, PointRead::Contains])?,
                via: via(u)?,
            },
            15..=17 => Op::Scan {
                kind: kind(u)?,
                scan: scan(u)?,
                via: via(u)?,
            },
            18 => Op::Kinds,
            19 => Op::GetAll,
            20 => Op::Dump,
            21..=23 => Op::Watch {
                kind: kind(u)?,
                spec: spec(u)?,
                via: via(u)?,
            },
            24 => Op::DropWatch { slot: byte(u)? },
            25..=28 => Op::Recv {
                slot: byte(u)?,
                mode: mode(u)?,
                count: byte(u)?,
            },
            29..=30 => Op::DrainAll { mode: mode(u)? },
            31..=32 => Op::Snapshot {
                kind: kind(u)?,
                via: via(u)?,
            },
            33 => Op::CheckSnapshots,
            34..=35 => Op::Transaction {
                kind: kind(u)?,
                reads: keys(u)?,
                writes: writes(u)?,
                fail: byte(u)? % 8 == 0,
                via: via(u)?,
            },
            36 => Op::Mirror {
                kind: kind(u)?,
                spec: mirror_spec(u)?,
                via: via(u)?,
            },
            37..=38 => Op::MirrorRecv {
                slot: byte(u)?,
                mode: mirror_recv(u)?,
                count: byte(u)?,
            },
            _ => Op::DropMirror { slot: byte(u)? },
        })
    }
}

/// Ring capacity (`byte % 17`: 0 to 16, where 0 must act as 1); compare
/// (`byte & 1`: 0 exact, 1 coarse) and, from the same byte, history
/// (`(byte >> 1) % 18`: 0 to 16 revisions, 17 the default); then ops until
/// the data ends.
impl<'a> Arbitrary<'a> for ops::Input {
    fn arbitrary(u: &mut Unstructured<'a>) -> Result<Self> {
        let ring_capacity = byte(u)? % 17;
        let config = byte(u)?;
        let compare = if config & 1 == 0 {
            CompareMode::Exact
        } else {
            CompareMode::Coarse
        };
        // 0 to 16 revisions, or (17) the builder's default.
        let history = match (config >> 1) % 18 {
            17 => None,
            history => Some(history),
        };
        let mut ops = Vec::new();
        while !u.is_empty() && ops.len() < MAX_OPS {
            ops.push(ops::Op::arbitrary(u)?);
        }
        Ok(ops::Input {
            ring_capacity,
            compare,
            history,
            ops,
        })
    }
}

/// A selector byte (`% 16`), then the fields in the order written:
/// 0-3 set, 4-5 set_many, 6-7 update, 8-9 delete, 10 read with a panicking
/// closure, 11 list_filtered with a panicking filter (after: `byte % 4`),
/// 12-13 watch (replay: `byte & 1`; with `byte & 2`, a mirror instead),
/// 14 drop a watch or mirror, 15 arm (validator: `byte & 1`, compare:
/// `byte & 2`).
impl<'a> Arbitrary<'a> for callbacks::Op {
    fn arbitrary(u: &mut Unstructured<'a>) -> Result<Self> {
        use callbacks::Op;
        Ok(match byte(u)? % 16 {
            0..=3 => Op::Set {
                kind: kind(u)?,
                key: key(u)?,
                value: value(u)?,
            },
            4..=5 => Op::SetMany {
                kind: kind(u)?,
                items: items(u)?,
            },
            6..=7 => Op::Update {
                kind: kind(u)?,
                key: key(u)?,
                change: change(u, true)?,
            },
            8..=9 => Op::Delete {
                kind: kind(u)?,
                key: key(u)?,
            },
            10 => Op::ReadPanics {
                kind: kind(u)?,
                key: key(u)?,
            },
            11 => Op::FilterPanics {
                kind: kind(u)?,
                after: byte(u)? % 4,
            },
            12..=13 => {
                let kind = kind(u)?;
                let b = byte(u)?;
                if b & 2 == 0 {
                    Op::Watch {
                        kind,
                        replay: b & 1 == 1,
                    }
                } else {
                    Op::Mirror { kind }
                }
            }
            14 => Op::DropWatch { slot: byte(u)? },
            _ => {
                let arm = byte(u)?;
                Op::Arm {
                    validator: arm & 1 != 0,
                    compare: arm & 2 != 0,
                }
            }
        })
    }
}

/// The validator's panic value, the compare function's panic value (each
/// `byte % 32`), then ops until the data ends.
impl<'a> Arbitrary<'a> for callbacks::Input {
    fn arbitrary(u: &mut Unstructured<'a>) -> Result<Self> {
        let validator_panics_on = value(u)?;
        let compare_panics_on = value(u)?;
        let mut ops = Vec::new();
        while !u.is_empty() && ops.len() < MAX_CALLBACK_OPS {
            ops.push(callbacks::Op::arbitrary(u)?);
        }
        Ok(callbacks::Input {
            validator_panics_on,
            compare_panics_on,
            ops,
        })
    }
}

/// A selector byte (`% 16`), then the fields in the order written:
/// 0-3 set, 4-5 set_many, 6-7 update (changes as in `callbacks`, panics
/// included), 8-10 delete, 11-12 transaction (reads, writes, fail: `byte %
/// 8 == 0`), 13 reopen after `close`, 14 reopen after dropping the store,
/// 15 crash (open a copy of the file taken while the store is open).
impl<'a> Arbitrary<'a> for durable::Op {
    fn arbitrary(u: &mut Unstructured<'a>) -> Result<Self> {
        use durable::{Op, Reopen};
        Ok(match byte(u)? % 16 {
            0..=3 => Op::Set {
                kind: kind(u)?,
                key: key(u)?,
                value: value(u)?,
                via: via(u)?,
            },
            4..=5 => Op::SetMany {
                kind: kind(u)?,
                items: items(u)?,
                via: via(u)?,
            },
            6..=7 => Op::Update {
                kind: kind(u)?,
                key: key(u)?,
                change: change(u, true)?,
                via: via(u)?,
            },
            8..=10 => Op::Delete {
                kind: kind(u)?,
                key: key(u)?,
                via: via(u)?,
            },
            11..=12 => Op::Transaction {
                kind: kind(u)?,
                reads: keys(u)?,
                writes: writes(u)?,
                fail: byte(u)? % 8 == 0,
                via: via(u)?,
            },
            13 => Op::Reopen(Reopen::Close),
            14 => Op::Reopen(Reopen::Drop),
            _ => Op::Crash,
        })
    }
}

/// Compare (`byte & 1`: 0 exact, 1 coarse), durability (`byte % 4`: 3
/// `Immediate`, else `Interval` of an hour), then ops until the data ends
/// or there are `durable::MAX_OPS`; reopens and crashes past
/// `durable::MAX_REOPENS` are skipped.
impl<'a> Arbitrary<'a> for durable::Input {
    fn arbitrary(u: &mut Unstructured<'a>) -> Result<Self> {
        let compare = if byte(u)? & 1 == 0 {
            CompareMode::Exact
        } else {
            CompareMode::Coarse
        };
        let mode = if byte(u)? % 4 == 3 {
            durable::Mode::Immediate
        } else {
            durable::Mode::Interval
        };
        let mut ops = Vec::new();
        let mut reopens = 0;
        while !u.is_empty() && ops.len() < durable::MAX_OPS {
            let op = durable::Op::arbitrary(u)?;
            if op.reopens() {
                if reopens == durable::MAX_REOPENS {
                    continue;
                }
                reopens += 1;
            }
            ops.push(op);
        }
        Ok(durable::Input { compare, mode, ops })
    }
}
