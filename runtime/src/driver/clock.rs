//! Real or virtual time, as seen by one runtime.

use std::cell::Cell;
use std::time::{Duration, Instant};

/// Where a runtime reads the time.
#[derive(Debug)]
pub(crate) enum Clock {
    /// `std::time::Instant::now()`, remembering the last reading.
    Real {
        /// The last `now()`: never ahead of the real time.
        last: Cell<Instant>,
    },
    /// A clock that moves only when the executor advances it: when every
    /// task is idle and no I/O is ready, straight to the next deadline.
    Virtual { now: Cell<Instant> },
}

impl Clock {
    pub(crate) fn new_real() -> Clock {
        Clock::Real { last: Cell::new(Instant::now()) }
    }

    pub(crate) fn new_virtual() -> Clock {
        Clock::Virtual { now: Cell::new(Instant::now()) }
    }

    /// The time now.
    pub(crate) fn now(&self) -> Instant {
        match self {
            Clock::Real { last } => {
                let now = Instant::now();
                last.set(now);
                now
            }
            Clock::Virtual { now } => now.get(),
        }
    }

    /// The time of the last reading: the runtime reads its clock at every
    /// park and whenever a task asks for `Instant::now` (which `sleep` does).
    /// Never ahead of [`now`](Clock::now), so a deadline at or before it has
    /// certainly passed; one after it may have passed since.
    pub(crate) fn last_reading(&self) -> Instant {
        match self {
            Clock::Real { last } => last.get(),
            Clock::Virtual { now } => now.get(),
        }
    }

    pub(crate) fn is_virtual(&self) -> bool {
        matches!(self, Clock::Virtual { .. })
    }

    /// Moves a virtual clock forward to `to` (never backwards).
    pub(crate) fn advance_to(&self, to: Instant) {
        if let Clock::Virtual { now } = self {
            if to > now.get() {
                now.set(to);
            }
        }
    }

    /// Moves a virtual clock forward by `by`.
    pub(crate) fn advance(&self, by: Duration) {
        if let Clock::Virtual { now } = self {
            now.set(now.get() + by);
        }
    }
}
