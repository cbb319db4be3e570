//! Real or virtual time, as seen by one runtime.

use std::cell::Cell;
use std::time::{Duration, Instant};

/// Where a runtime reads the time.
#[derive(Debug)]
pub(crate) enum Clock {
    /// `std::time::Instant::now()`.
    Real,
    /// A clock that moves only when the executor advances it: when every
    /// task is idle and no I/O is ready, straight to the next deadline.
    Virtual { now: Cell<Instant> },
}

impl Clock {
    pub(crate) fn new_virtual() -> Clock {
        Clock::Virtual { now: Cell::new(Instant::now()) }
    }

    pub(crate) fn now(&self) -> Instant {
        match self {
            Clock::Real => Instant::now(),
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
