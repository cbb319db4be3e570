//! Time: sleeps, timeouts, intervals, and the clock they read.
//!
//! Timers live in one structure per runtime (`driver/timers.rs`, a min-heap
//! with lazy cancellation). Before the executor blocks in the reactor it asks
//! that structure for the earliest deadline and sleeps exactly that long
//! (on Linux a `timerfd` gives the wait microsecond precision); after the
//! reactor returns, every timer that is due is fired, which means waking the
//! task stored in it.
//!
//! The timer heap and the clock are drivers (`driver/timers.rs`,
//! `driver/clock.rs`) that know nothing of the current runtime; the API
//! here ([`sleep`], [`Instant::now`], [`timeout`], [`interval`],
//! [`advance`]) finds the current runtime's timers and clock through the
//! context.
//!
//! With [`virtual_time`](crate::Builder::virtual_time) the clock is a number
//! the executor advances: when every task is idle and no I/O is ready it
//! jumps to the next deadline at once, so an hour of timeouts runs in
//! microseconds, in a deterministic order. A [`VirtualClock`] is such a
//! clock that several runtimes share (a simulated world's nodes).
//!
//! Next stop: `executor.rs`, which runs the loop that turns all of this.

mod instant;
mod interval;
mod sleep;
mod timeout;
mod virtual_clock;

pub use instant::Instant;
pub use interval::{interval, interval_at, Interval, MissedTickBehavior};
pub use sleep::{sleep, sleep_until, Sleep};
pub use timeout::{timeout, timeout_at, Elapsed, Timeout};
pub use virtual_clock::VirtualClock;

/// Moves the current runtime's virtual clock forward by `duration`, firing
/// the timers that come due (on the next reactor turn).
///
/// Only runtimes built with [`virtual_time`](crate::Builder::virtual_time)
/// are affected; on a real clock this does nothing.
///
/// # Panics
///
/// Panics when called outside a runtime.
pub fn advance(duration: std::time::Duration) {
    crate::context::with_current(|core| core.clock.advance(duration))
        .expect("corio::time::advance called outside a corio runtime");
}
