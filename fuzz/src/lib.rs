//! Differential fuzzing of zestor: the fuzz targets in `fuzz_targets/` run
//! [`harness`] (and [`durable`], for `zestor-durable`) on inputs that
//! [`input`] decodes.

pub mod durable;
pub mod harness;
pub mod input;
