//! corio: a single-threaded stackless coroutine runtime you can read.
//!
//! This facade re-exports the two crates that make up corio:
//! [`corio_runtime`] (tasks, wakers, executor, reactor, timers) and
//! [`corio_net`] (sockets). Start with the runtime's crate docs for the tour.
//!
//! ```
//! let answer = corio::block_on(async {
//!     let task = corio::spawn(async { 40 + 2 });
//!     task.await.unwrap()
//! });
//! assert_eq!(answer, 42);
//! ```

#![warn(missing_docs)]
#![forbid(unsafe_code)]

pub use corio_runtime::*;

/// Keeps the README's example compiling and passing: rustdoc runs it as a test.
#[cfg(doctest)]
#[doc = include_str!("../README.md")]
struct ReadmeDoctests;
