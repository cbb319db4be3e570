//! `VirtualClock`: one virtual clock that several runtimes read.

use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use super::Instant;
use crate::driver::clock::VirtualTime;

/// A virtual clock that several runtimes can share.
///
/// A runtime built with [`Builder::virtual_time`](crate::Builder::virtual_time)
/// has a virtual clock of its own. Give runtimes one `VirtualClock` with
/// [`Builder::virtual_clock`](crate::Builder::virtual_clock) and they all
/// read the same time: this is how a simulated world of several nodes, one
/// runtime each, keeps one time for all of them. Whoever holds the clock
/// moves it ([`advance_to`](VirtualClock::advance_to)); a runtime that
/// parks with nothing ready still jumps it to its next timer, as with
/// `virtual_time`, so a world that decides the time itself drives its
/// runtimes with [`Runtime::run_until_stalled`](crate::Runtime::run_until_stalled),
/// which never moves the clock.
///
/// Cloning gives another handle to the same clock.
///
/// # Examples
///
/// ```
/// use std::time::Duration;
/// use corio_runtime::time::{Instant, VirtualClock};
/// use corio_runtime::Runtime;
///
/// let clock = VirtualClock::new();
/// let a = Runtime::builder().virtual_clock(&clock).build().unwrap();
/// let b = Runtime::builder().virtual_clock(&clock).build().unwrap();
/// clock.advance(Duration::from_secs(5));
/// let in_a = a.block_on(async { Instant::now() });
/// let in_b = b.block_on(async { Instant::now() });
/// assert_eq!(in_a, in_b);
/// assert_eq!(clock.elapsed(), Duration::from_secs(5));
/// ```
#[derive(Clone)]
pub struct VirtualClock(pub(crate) Arc<VirtualTime>);

impl VirtualClock {
    /// A clock that reads the real time now, and moves only when advanced.
    #[allow(clippy::new_without_default)]
    pub fn new() -> VirtualClock {
        VirtualClock(Arc::new(VirtualTime::new()))
    }

    /// The clock's time.
    pub fn now(&self) -> Instant {
        Instant::from_std(self.0.now())
    }

    /// How far the clock has moved since it was made.
    pub fn elapsed(&self) -> Duration {
        self.0.elapsed()
    }

    /// Moves the clock forward to `to`; an earlier `to` does nothing.
    /// Runtimes fire the timers that came due at their next turn.
    pub fn advance_to(&self, to: Instant) {
        self.0.advance_to(to.into_std());
    }

    /// Moves the clock forward by `by`.
    pub fn advance(&self, by: Duration) {
        self.0.advance(by);
    }
}

impl fmt::Debug for VirtualClock {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("VirtualClock").field("elapsed", &self.elapsed()).finish()
    }
}
