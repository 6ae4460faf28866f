//! Validators, compare functions, update closures, read closures and filters
//! that fail or panic at chosen points; after every step nothing may be lost
//! or hung (see `src/harness/callbacks.rs`).
#![no_main]

use libfuzzer_sys::fuzz_target;
use zestor_fuzz::harness::callbacks;

fuzz_target!(|input: callbacks::Input| {
    callbacks::run(&input);
});
