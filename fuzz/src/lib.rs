//! Differential fuzzing of zestor: the fuzz targets in `fuzz_targets/` run
//! [`harness`] on inputs that [`input`] decodes.

pub mod harness;
pub mod input;
