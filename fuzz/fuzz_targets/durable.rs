//! A `zestor-durable` store closed, dropped or crashed and reopened from its
//! file mid-run, each call and every reopen checked against a `BTreeMap`
//! model (see `src/durable.rs`).
#![no_main]

use libfuzzer_sys::fuzz_target;
use zestor_fuzz::durable;

fuzz_target!(|input: durable::Input| {
    durable::run(&input);
});
