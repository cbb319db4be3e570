//! corio-runtime: a single-threaded runtime for `async fn`, small enough to read.
//!
//! An `async fn` compiles to a state machine (a stackless coroutine) that
//! does nothing until something polls it. This crate is that something: an
//! executor that polls tasks, a `Waker` that puts a task back in line, a
//! reactor that turns socket readiness into wakes, and timers.
//!
//! # A first program
//!
//! ```
//! use std::time::Duration;
//!
//! let total = corio_runtime::block_on(async {
//!     // Tasks run concurrently on this one thread; no `Send` needed.
//!     let a = corio_runtime::spawn(async {
//!         corio_runtime::time::sleep(Duration::from_millis(2)).await;
//!         1
//!     });
//!     let b = corio_runtime::spawn(async { 2 });
//!     a.await.unwrap() + b.await.unwrap()
//! });
//! assert_eq!(total, 3);
//! ```
//!
//! # Layout: the tour, in reading order
//!
//! 1. [`task`] (`task/`): one heap allocation per task (header, future,
//!    output), its state word, and [`JoinHandle`].
//! 2. `waker.rs`: our `RawWakerVTable` over the task header.
//! 3. `executor.rs`: [`Runtime`], the run queue, the tick loop,
//!    [`block_on`], [`spawn`].
//! 4. [`reactor`]: `mio::Poll`, readiness bits, [`reactor::IoSource`].
//! 5. [`time`]: the timer heap, [`time::sleep`], [`time::timeout`],
//!    [`time::interval`], the virtual clock.
//! 6. `handle.rs`: the thread-safe half, [`Handle`] for other threads.
//! 7. `stats.rs`: [`Stats`].
//! 8. [`sync`]: [`sync::oneshot`], [`sync::mpsc`], [`sync::Notify`],
//!    [`sync::Semaphore`], [`sync::watch`], [`sync::broadcast`], built only
//!    on wakers; the cancel-safety table.
//! 9. `join.rs`: [`join!`], [`join_all`], [`race`], [`select`], and
//!    [`JoinSet`], a task group that aborts its tasks when dropped.
//!
//! Then what a real program needs besides sockets, each built only on the
//! public pieces above:
//!
//! 10. `blocking.rs`: [`spawn_blocking`] and the per-process pool of threads
//!     it runs closures on; a finished job wakes its task through the
//!     task's `Waker`. [`fs`] reads and writes whole files on it.
//! 11. [`signal`] (Unix): [`signal::Signals`], [`signal::ctrl_c`]: a
//!     signal handler's self-pipe registered with the reactor as an
//!     [`reactor::IoSource`].
//!
//! # Implementation in one paragraph
//!
//! `spawn` allocates a task and pushes it on a FIFO run queue. `block_on`
//! loops: poll up to a budget of queued tasks, then turn the reactor, which
//! blocks in `epoll_wait` only when no task is ready, for at most the time
//! until the next timer. A task that returns `Pending` sits in no queue; the
//! wakers it handed to a socket or a timer are the only way back. Waking
//! flips the task's state from idle to scheduled (exactly once, by
//! compare-and-swap) and pushes it again: on the local queue when woken on
//! the runtime's thread, through a lock-free queue plus an eventfd otherwise.
//! See `docs/ARCHITECTURE.md` for one task followed through all of it.
//!
//! # Caveats
//!
//! Everything runs on one thread: a task that blocks (a long computation, a
//! blocking syscall) stalls every other task; hand such work to
//! [`spawn_blocking`]. `unsafe` is confined to `task/` and `waker.rs`.

#![deny(unsafe_op_in_unsafe_fn)]
#![warn(missing_docs, missing_debug_implementations)]
#![warn(clippy::undocumented_unsafe_blocks)]

pub mod task;
mod waker;

mod run_queue;
mod slab;
mod stats;

mod driver;
mod injector;

mod context;

pub mod reactor;
pub mod time;

mod executor;
mod handle;

mod blocking;
pub mod fs;
#[cfg(unix)]
pub mod signal;

pub mod sync;

mod join;

pub use blocking::{spawn_blocking, BlockingJoinHandle, MAX_BLOCKING_THREADS, THREAD_KEEP_ALIVE};
pub use executor::{block_on, spawn, stats, Builder, Runtime};
pub use handle::{Handle, RemoteJoinHandle};
#[doc(hidden)]
pub use join::private as __private;
pub use join::{join_all, race, select, AbortHandle, Either, JoinAll, JoinNext, JoinSet, Race, Select};
pub use stats::Stats;
pub use task::{JoinError, JoinHandle};
