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
//! Next stop: `injector.rs`, the way in for other threads.

pub(crate) mod clock;
pub(crate) mod reactor;
pub(crate) mod timers;
