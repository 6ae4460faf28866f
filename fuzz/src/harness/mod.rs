//! The differential harness: zestor against a model built on `BTreeMap`s.
//!
//! Shared by the fuzz targets (through this crate) and by the main crate's
//! `tests/fuzz_regressions.rs` (through `#[path]`), so it depends on nothing
//! but `zestor`, its dependency `futures-core`, and `std` — the decoding of
//! fuzz input, which needs `arbitrary`, lives in `../input.rs`.

pub mod callbacks;
pub mod check;
pub mod mirror;
pub mod model;
pub mod ops;
pub mod panics;
pub mod watch;
