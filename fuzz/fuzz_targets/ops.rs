//! Any sequence of store calls, watches and receives, each checked against a
//! `BTreeMap` model (see `src/harness/ops.rs`).
#![no_main]

use libfuzzer_sys::fuzz_target;
use zestor_fuzz::harness::ops;

fuzz_target!(|input: ops::Input| {
    ops::run(&input);
});
