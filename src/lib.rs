//! corio: a single-threaded stackless coroutine runtime you can read.
//!
//! This facade re-exports the two crates that make up corio:
//! [`corio_runtime`] (tasks, wakers, executor, reactor, timers, channels,
//! the blocking pool with [`fs`], [`signal`]s) and [`corio_net`] (sockets
//! and async byte streams, as [`net`] and [`io`]).
//! Start with the runtime's crate docs for the tour.
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

/// Async byte streams: `AsyncRead`, `AsyncWrite`, their extension traits,
/// `BufReader`, `copy` (from [`corio_net::io`]).
pub mod io {
    pub use corio_net::io::*;
}

/// Sockets: TCP, UDP, Unix domain, and in [`net::tcp`] and [`net::unix`]
/// the halves of a split stream, as in tokio (from [`corio_net::net`]).
pub mod net {
    pub use corio_net::net::*;
}

/// Length-prefixed frames (the RPC wire format); see `docs/PROTOCOL.md`.
pub use corio_net::frame;

/// hyper 1.x on corio: [`HyperIo`](hyper::HyperIo),
/// [`HyperExecutor`](hyper::HyperExecutor), [`HyperTimer`](hyper::HyperTimer)
/// (feature `hyper`; from [`corio_net::hyper`]).
#[cfg(feature = "hyper")]
pub use corio_net::hyper;

/// Remote procedure calls: `Client`, `Server`, `Request`, `RpcError` (from [`corio_net::rpc`]).
pub use corio_net::rpc;

/// Deterministic simulation testing: a [`World`](sim::World) of nodes on
/// one thread, a simulated network, faults, one seed (feature `sim`; the
/// [`corio_sim`] crate, see `docs/SIMULATION.md`).
#[cfg(feature = "sim")]
pub use corio_sim as sim;

/// Keeps the README's example compiling and passing: rustdoc runs it as a test.
#[cfg(doctest)]
#[doc = include_str!("../README.md")]
struct ReadmeDoctests;
