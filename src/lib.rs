#![doc = include_str!("../README.md")]
#![forbid(unsafe_code)]
#![deny(missing_docs)]
#![warn(rust_2018_idioms, missing_debug_implementations)]

mod error;
mod kind;
mod raw;
mod store;
mod sync;
mod watch;

pub use error::{BoxError, Error, Result, WatchError};
pub use kind::Kind;
pub use store::{KeyHashing, SetResult, Store, StoreBuilder, UsePartialEq, Value};
pub use watch::{Event, EventType, Watch, WatchOptions};
