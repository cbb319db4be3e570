//! The reactor: mio readiness events turned into task wake-ups.
//!
//! Each I/O object (a socket, say) is registered with `mio::Poll` under a
//! token. The token is the key of the object's `IoState` in a slab:
//! readiness bits plus the waker of the task waiting to read and the one
//! waiting to write. Two files:
//!
//! - `driver.rs` (a stop before `context.rs`): the `Reactor` itself,
//!   `mio::Poll` and that slab, and `Reactor::poll`, which the executor
//!   calls when it parks: it waits in `epoll_wait`, sets bits from the
//!   events and collects the wakers to wake; the executor wakes them after
//!   every borrow is released. The reactor never polls a future.
//! - `source.rs` (a stop after `context.rs`): [`IoSource`], the
//!   registration API the net crate builds on. It finds the current
//!   runtime's reactor through the context when it is created, and keeps it.
//!
//! The net crate wraps each socket in an [`IoSource`] and follows one rule
//! for every operation:
//!
//! 1. `poll_read_ready`: if the readable bit is set, go ahead; otherwise
//!    store the waker and return `Pending` (the task goes idle);
//! 2. try the syscall; if it says `WouldBlock`, `clear_read_ready` and go to 1.
//!
//! Registrations are edge-triggered: the kernel reports a transition to
//! ready once, so a bit is cleared only when the OS itself says `WouldBlock`.
//! Clearing it earlier loses the edge and hangs the task; never clearing it
//! spins. [`IoSource::poll_read_with`] packages the rule. One deliberate
//! exception: after a *short* read, a stream socket may clear only the
//! readable bit ([`IoSource::clear_readable`]), since the kernel's buffer
//! was just drained; its docs say why that is safe.

pub(crate) mod driver;
mod source;

pub use source::IoSource;
