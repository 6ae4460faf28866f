//! Helpers shared by several test files (`mod support;` in each).
// Each test file uses a part of it.
#![allow(dead_code)]

pub mod per_thread_heap;

/// xorshift64*: a tiny deterministic PRNG, so a failing run can be replayed
/// from its seed.
pub struct Rng(pub u64);

impl Rng {
    pub fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }
}
