//! The drivers: what the executor turns when it parks.
//!
//! - `reactor.rs`: the [`Reactor`](reactor::Reactor), `mio::Poll` plus a slab
//!   of per-source readiness and waiting wakers; `Reactor::poll` waits for
//!   events and hands back the wakers to wake.
//! - `timers.rs`: the timer heap; `Timers::next_deadline` says how long the
//!   park may sleep, `Timers::fire_expired` hands back the wakers of due timers.
//! - `clock.rs`: real or virtual time.
//!
//! None of them knows tasks, the executor or the current runtime: they
//! store wakers and give them back. A runtime's `Core` (`context.rs`) owns
//! one of each; the futures that use them (`IoSource`, `Sleep`) reach them
//! through the context.
//!
//! For a tracer, `Reactor::poll` and `Timers::fire_expired` can also say
//! why they handed back each waker (an [`Origin`]); given no list to fill,
//! they pay one branch per event.
//!
//! Next stop: `injector.rs`, the way in for other threads.

pub(crate) mod clock;
pub(crate) mod reactor;
pub(crate) mod timers;

use std::time::Instant;

/// Why a driver handed back wakers: one entry per readiness event or fired
/// timer, saying how many of the wakers it pushed came from it (in order).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Origin {
    /// A readiness event for the source with this token: its bits
    /// (`reactor::READABLE`, ...).
    Io { token: u64, ready: u8, wakers: u8 },
    /// A timer due at `deadline` fired.
    Timer { deadline: Instant, wakers: u8 },
}

impl Origin {
    /// How many of the wakers handed back came from this origin.
    pub(crate) fn wakers(&self) -> usize {
        match *self {
            Origin::Io { wakers, .. } | Origin::Timer { wakers, .. } => usize::from(wakers),
        }
    }
}
