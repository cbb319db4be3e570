//! Counters a learner and an operator both want, kept as plain `Cell`s.
//!
//! The executor, reactor and timers bump these on the runtime's thread, so
//! counting costs an add, not an atomic. [`Runtime::stats`](crate::Runtime::stats)
//! and [`crate::stats`] copy them out as a [`Stats`] snapshot.
//!
//! Next stop: `driver/`, the reactor, the timers and the clock.

use std::cell::Cell;

/// A snapshot of a runtime's counters since it was built.
///
/// # Examples
///
/// ```
/// let rt = corio_runtime::Runtime::new().unwrap();
/// rt.block_on(async {
///     corio_runtime::spawn(async {}).await.unwrap();
/// });
/// let stats = rt.stats();
/// assert_eq!(stats.tasks_spawned, 1);
/// assert_eq!(stats.tasks_completed, 1);
/// assert_eq!(stats.tasks_alive, 0);
/// ```
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct Stats {
    /// Tasks ever spawned.
    pub tasks_spawned: u64,
    /// Tasks spawned and not yet finished (idle, queued or running).
    pub tasks_alive: u64,
    /// Tasks that finished: returned, panicked or were cancelled.
    pub tasks_completed: u64,
    /// Of those, tasks that panicked.
    pub tasks_panicked: u64,
    /// Calls to a task's `Future::poll`.
    pub polls: u64,
    /// Wakes that queued a task from the runtime's own thread.
    pub wakes_local: u64,
    /// Wakes that arrived from other threads through the injector queue.
    pub wakes_remote: u64,
    /// Times the executor turned the reactor for I/O events (a turn that
    /// need not wait, with no I/O source registered, skips `mio::Poll::poll`).
    pub reactor_turns: u64,
    /// I/O readiness events delivered by the reactor.
    pub io_events: u64,
    /// Timers that fired.
    pub timers_fired: u64,
}

/// The live counters inside a runtime.
#[derive(Debug, Default)]
pub(crate) struct Counters {
    pub(crate) tasks_spawned: Cell<u64>,
    pub(crate) tasks_completed: Cell<u64>,
    pub(crate) tasks_panicked: Cell<u64>,
    pub(crate) polls: Cell<u64>,
    pub(crate) wakes_local: Cell<u64>,
    pub(crate) wakes_remote: Cell<u64>,
    pub(crate) reactor_turns: Cell<u64>,
    pub(crate) io_events: Cell<u64>,
    pub(crate) timers_fired: Cell<u64>,
}

/// Adds `n` to a counter.
pub(crate) fn bump(counter: &Cell<u64>, n: u64) {
    counter.set(counter.get().wrapping_add(n));
}

impl Counters {
    pub(crate) fn snapshot(&self, tasks_alive: usize) -> Stats {
        Stats {
            tasks_spawned: self.tasks_spawned.get(),
            tasks_alive: tasks_alive as u64,
            tasks_completed: self.tasks_completed.get(),
            tasks_panicked: self.tasks_panicked.get(),
            polls: self.polls.get(),
            wakes_local: self.wakes_local.get(),
            wakes_remote: self.wakes_remote.get(),
            reactor_turns: self.reactor_turns.get(),
            io_events: self.io_events.get(),
            timers_fired: self.timers_fired.get(),
        }
    }
}
