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
//! # Layout: the tour, in dependency order
//!
//! Each stop uses only the stops before it, so the tour can be read bottom
//! up, and no file reaches into a layer above its own (`docs/ARCHITECTURE.md`
//! has the picture).
//!
//! 1. [`task`] (`task/`) and `waker.rs`, one layer that uses only `std`. A
//!    task is one heap allocation: a header, its scheduler, its future and
//!    then its output. `task/state.rs` names every state transition and
//!    says who owns which reference across each; `task/schedule.rs` has
//!    `Schedule`, the only way a woken task reaches the layer above;
//!    [`JoinHandle`] awaits the output. `waker.rs` is our `RawWakerVTable`
//!    over the task header. (`task/blocks.rs`, the allocation free lists, is
//!    an optimisation to skip on a first reading.)
//! 2. `slab.rs`, `run_queue.rs`, `stats.rs`: the table of records the
//!    reactor, the timers, the wait lists and `JoinSet` keep (keys that go
//!    stale), the FIFO of ready tasks, and the counters behind [`Stats`].
//! 3. `driver/`: what the executor turns when it parks: the reactor
//!    (`mio::Poll`, readiness bits, waiting wakers), the timer heap, the
//!    real or virtual clock. They store wakers and give them back.
//! 4. `injector.rs`: the part of a runtime other threads may touch: queues
//!    for remote wakes, spawns and dropped timers, and the `mio::Waker`
//!    that interrupts a park.
//! 5. [`trace`] (`trace/`): what a runtime records when asked: a record
//!    per task (name or spawn site, polls, last poll) for dumps, and a
//!    bounded ring of events (spawn, poll, wake, park, readiness, timer)
//!    written as a Chrome trace-event file for Perfetto. A runtime's `Core`
//!    holds an optional `Tracer`; the executor calls it at its seams.
//! 6. `context.rs`: the one thread-local, holding the current runtime's
//!    `Core` while `block_on` runs.
//! 7. [`reactor`] and [`time`]: [`reactor::IoSource`], [`time::sleep`],
//!    [`time::timeout`], [`time::interval`], [`time::Instant`]: futures
//!    that reach their driver through the context.
//! 8. `executor.rs`: [`Runtime`], the tick loop, [`block_on`], [`spawn`],
//!    and `Scheduler`, the executor's side of the `Schedule` seam; the
//!    tracer's hooks (`executor/traced.rs`); how a simulator drives runtimes from outside
//!    ([`Runtime::run_until_stalled`], [`Builder::seeded_order`],
//!    [`time::VirtualClock`]: the `corio-sim` crate, `docs/SIMULATION.md`).
//!    `dump.rs`: [`dump`] and [`Runtime::dump`], what every
//!    task waits on, read from the wakers the drivers hold.
//! 9. `handoff.rs` and `handle.rs`: a result handed over from another
//!    thread, and [`Handle`], how other threads start work on a runtime.
//! 10. [`sync`]: [`sync::oneshot`], [`sync::mpsc`], [`sync::Notify`],
//!     [`sync::Semaphore`], [`sync::watch`], [`sync::broadcast`], built only
//!     on wakers; the cancel-safety table.
//! 11. `join.rs`: [`join!`], [`join_all`], [`race`], [`select`], and
//!     [`JoinSet`], a task group that aborts its tasks when dropped.
//!
//! Then what a real program needs besides sockets, each built only on the
//! public pieces above:
//!
//! 12. `blocking.rs`: [`spawn_blocking`] and the per-process pool of threads
//!     it runs closures on; a finished job wakes its task through the
//!     task's `Waker`. [`fs`] reads and writes whole files on it.
//! 13. [`signal`] (Unix): [`signal::Signals`], [`signal::ctrl_c`]: a
//!     signal handler's self-pipe registered with the reactor as an
//!     [`reactor::IoSource`].
//!
//! # Implementation in one paragraph
//!
//! `spawn` allocates a task and pushes it on a FIFO run queue. `block_on`
//! loops: poll its own future if it was woken, poll up to a budget of
//! queued tasks, then *park*: turn the reactor, which blocks in
//! `epoll_wait` only when nothing is ready, for at most the time until the
//! next timer. The future given to `block_on` is not a task: it lives on
//! `block_on`'s stack and has a waker of its own, a flag the loop checks
//! (from another thread it also interrupts the park). A task that returns
//! `Pending` is *idle*: it sits in no queue, and the wakers it handed to a
//! socket or a timer are the only way back. Waking flips the task's state
//! from idle to scheduled (exactly once, by compare-and-swap) and hands it
//! to the scheduler it was spawned with, which pushes it again: on the
//! local queue when woken on the runtime's thread, through the injector (a
//! lock-free queue plus an eventfd) otherwise. See `docs/ARCHITECTURE.md`
//! for one task followed through all of it.
//!
//! # Features
//!
//! * `trace-ignored-wakes` (off by default): traces (see [`trace`]) also
//!   record wakes that queue nothing, because the task was already
//!   scheduled, running or finished. It sets the scheduler's
//!   `WAKE_IGNORED` hook, which costs every such wake an indirect call
//!   even when nothing is traced (a `yield_now` makes one).
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

pub mod trace;

mod context;

pub mod reactor;
pub mod time;

mod dump;
mod executor;
mod handle;
mod handoff;

mod blocking;
pub mod fs;
#[cfg(unix)]
pub mod signal;

pub mod sync;

mod join;

pub use blocking::{spawn_blocking, BlockingJoinHandle, MAX_BLOCKING_THREADS, THREAD_KEEP_ALIVE};
pub use executor::{block_on, dump, spawn, spawn_named, stats, Builder, EnterGuard, Runtime};
pub use handle::{Handle, RemoteJoinHandle};
#[doc(hidden)]
pub use join::private as __private;
pub use join::{join_all, race, select, AbortHandle, Either, JoinAll, JoinNext, JoinSet, Race, Select};
pub use stats::Stats;
pub use task::{JoinError, JoinHandle};
