//! Real or virtual time, as seen by one runtime.
//!
//! A virtual clock is a [`VirtualTime`]: a start instant and the time
//! elapsed since, behind an `Arc`, so several runtimes can read one clock
//! (a simulated world of nodes, each a runtime: `Builder::virtual_clock`).
//! A runtime built with `virtual_time(true)` gets one of its own.

use std::cell::Cell;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// Where a runtime reads the time.
#[derive(Debug)]
pub(crate) enum Clock {
    /// `std::time::Instant::now()`, remembering the last reading.
    Real {
        /// The last `now()`: never ahead of the real time.
        last: Cell<Instant>,
    },
    /// A clock that moves only when told to: by the executor when every
    /// task is idle and no I/O is ready (straight to the next deadline), by
    /// `time::advance`, or by whoever else holds it.
    Virtual(Arc<VirtualTime>),
}

/// The state of a virtual clock, shareable between runtimes.
///
/// Nanoseconds since `start` in an atomic rather than an `Instant` in a
/// `Cell`, so a `Builder` holding one stays `Send`; every access is
/// `Relaxed`, since a virtual clock orders nothing but itself.
#[derive(Debug)]
pub(crate) struct VirtualTime {
    start: Instant,
    elapsed: AtomicU64,
}

impl VirtualTime {
    /// A clock that reads `std::time::Instant::now()` until it is advanced.
    pub(crate) fn new() -> VirtualTime {
        VirtualTime { start: Instant::now(), elapsed: AtomicU64::new(0) }
    }

    /// Out of line, so a real clock's `Clock::now` stays as small (and as
    /// inlined) as before virtual clocks could be shared.
    #[cold]
    #[inline(never)]
    pub(crate) fn now(&self) -> Instant {
        self.start + self.elapsed()
    }

    /// Time since the clock was made.
    pub(crate) fn elapsed(&self) -> Duration {
        Duration::from_nanos(self.elapsed.load(Ordering::Relaxed))
    }

    /// Forward to `to`; never backwards.
    pub(crate) fn advance_to(&self, to: Instant) {
        let nanos = u64::try_from(to.saturating_duration_since(self.start).as_nanos()).unwrap_or(u64::MAX);
        self.elapsed.fetch_max(nanos, Ordering::Relaxed);
    }

    pub(crate) fn advance(&self, by: Duration) {
        let nanos = u64::try_from(by.as_nanos()).unwrap_or(u64::MAX);
        let _ = self
            .elapsed
            .fetch_update(Ordering::Relaxed, Ordering::Relaxed, |now| Some(now.saturating_add(nanos)));
    }
}

impl Clock {
    pub(crate) fn new_real() -> Clock {
        Clock::Real { last: Cell::new(Instant::now()) }
    }

    /// A virtual clock reading `time` (shared, or the runtime's own).
    pub(crate) fn new_virtual(time: Arc<VirtualTime>) -> Clock {
        Clock::Virtual(time)
    }

    /// The time now.
    #[inline]
    pub(crate) fn now(&self) -> Instant {
        match self {
            Clock::Real { last } => {
                let now = Instant::now();
                last.set(now);
                now
            }
            Clock::Virtual(time) => time.now(),
        }
    }

    /// The time of the last reading: the runtime reads its clock at every
    /// park and whenever a task asks for `Instant::now` (which `sleep` does).
    /// Never ahead of [`now`](Clock::now), so a deadline at or before it has
    /// certainly passed; one after it may have passed since.
    #[inline]
    pub(crate) fn last_reading(&self) -> Instant {
        match self {
            Clock::Real { last } => last.get(),
            Clock::Virtual(time) => time.now(),
        }
    }

    pub(crate) fn is_virtual(&self) -> bool {
        matches!(self, Clock::Virtual(_))
    }

    /// Moves a virtual clock forward to `to` (never backwards).
    pub(crate) fn advance_to(&self, to: Instant) {
        if let Clock::Virtual(time) = self {
            time.advance_to(to);
        }
    }

    /// Moves a virtual clock forward by `by`.
    pub(crate) fn advance(&self, by: Duration) {
        if let Clock::Virtual(time) = self {
            time.advance(by);
        }
    }
}
