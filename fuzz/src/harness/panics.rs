//! Panics injected on purpose into user callbacks, told apart from real ones.
//!
//! Every injected panic carries an [`InjectedPanic`] payload. The panic hook
//! stays silent for those and only for those, so a real panic (a failed check
//! of the harness, or a panic inside the store) still reaches the previous
//! hook — libFuzzer's, which aborts and records a crash.

use std::panic::{self, AssertUnwindSafe};
use std::sync::Once;

/// The payload of a panic the harness injected into a callback.
#[derive(Debug)]
pub struct InjectedPanic;

/// A store call unwound with an [`InjectedPanic`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Panicked;

/// Panics with the [`InjectedPanic`] payload.
pub fn inject() -> ! {
    panic::panic_any(InjectedPanic)
}

/// Installs (once per process) a panic hook that silences injected panics
/// and hands every other panic to the hook that was there before.
pub fn silence_injected_panics() {
    static INSTALL: Once = Once::new();
    INSTALL.call_once(|| {
        let previous = panic::take_hook();
        panic::set_hook(Box::new(move |info| {
            if !info.payload().is::<InjectedPanic>() {
                previous(info);
            }
        }));
    });
}

/// Runs `call`, turning an injected panic into `Err(Panicked)`; any other
/// panic keeps unwinding.
///
/// `AssertUnwindSafe` is what the store promises (its handles are
/// `UnwindSafe`): a caught panic from user code leaves it consistent, and the
/// harness checks exactly that afterwards.
pub fn catch<R>(call: impl FnOnce() -> R) -> Result<R, Panicked> {
    match panic::catch_unwind(AssertUnwindSafe(call)) {
        Ok(result) => Ok(result),
        Err(payload) if payload.is::<InjectedPanic>() => Err(Panicked),
        Err(payload) => panic::resume_unwind(payload),
    }
}
