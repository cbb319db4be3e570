//! Unix signals as something a task can `.await`: [`ctrl_c`], [`signal`],
//! [`Signals`].
//!
//! A signal handler may do almost nothing (only async-signal-safe calls), so
//! the classic trick is a *self-pipe*: the handler writes one byte into a
//! pipe, and the program watches the pipe's read end like any socket. The
//! `signal-hook` crate installs such a handler (and chains to any handler
//! that was there before); `signal-hook-mio` hands us the pipe's read end as
//! a `mio` event source. [`Signals`] registers that source with the current
//! runtime's reactor through [`IoSource`], so waiting for a signal is a read
//! that parks on the reactor: no thread per signal, no polling. When the
//! byte arrives the reactor wakes the task, which drains the pipe and reads
//! which signals fired from flags the handler set.
//!
//! # Examples
//!
//! ```no_run
//! use corio_runtime::signal::{Signals, SignalKind};
//!
//! corio_runtime::block_on(async {
//!     // Register first: from here on, SIGHUP and SIGTERM are delivered
//!     // to this stream instead of their default action.
//!     let mut signals = Signals::new([SignalKind::hangup(), SignalKind::terminate()]).unwrap();
//!     loop {
//!         match signals.recv().await.unwrap() {
//!             kind if kind == SignalKind::hangup() => println!("reloading"),
//!             _ => break, // SIGTERM: stop
//!         }
//!     }
//! });
//! ```
//!
//! # Caveats
//!
//! - Signals are per process, streams are per runtime: every live
//!   [`Signals`] that listens for a signal receives it, on whichever runtime
//!   created it.
//! - Deliveries coalesce: a signal that arrives again before the stream
//!   reads it is reported once (as with every self-pipe design, and tokio).
//! - A signal that arrives while no stream listens for it is not queued for
//!   a later one. And once a stream has listened for a signal, its default
//!   action (terminating the process, for SIGINT and SIGTERM) stays replaced
//!   for the rest of the process, as in tokio: a handler stays installed;
//!   with no stream left it does nothing.
//! - Only on Unix.

use std::collections::VecDeque;
use std::ffi::c_int;
use std::fmt;
use std::future::poll_fn;
use std::io;
use std::task::{Context, Poll};

use signal_hook_mio::v1_0::Signals as PipeSignals;

use crate::reactor::IoSource;

/// signal-hook's table holds signals below 128 (above any the OS defines;
/// Linux stops at 64) and panics past it.
const MAX_SIGNAL: c_int = 128;

/// Which signal: a thin wrapper around the signal number.
///
/// # Examples
///
/// ```
/// use corio_runtime::signal::SignalKind;
///
/// assert_eq!(SignalKind::terminate().as_raw(), 15);
/// assert_eq!(SignalKind::from_raw(1), SignalKind::hangup());
/// ```
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct SignalKind(c_int);

impl SignalKind {
    /// Any signal, by number.
    pub const fn from_raw(signal: c_int) -> SignalKind {
        SignalKind(signal)
    }

    /// The signal number.
    pub const fn as_raw(self) -> c_int {
        self.0
    }

    /// `SIGINT`: the terminal's interrupt key (Ctrl-C).
    pub const fn interrupt() -> SignalKind {
        SignalKind(signal_hook::consts::SIGINT)
    }

    /// `SIGTERM`: a polite request to stop (`kill`, service managers).
    pub const fn terminate() -> SignalKind {
        SignalKind(signal_hook::consts::SIGTERM)
    }

    /// `SIGHUP`: the terminal hung up; daemons take it as "reload your configuration".
    pub const fn hangup() -> SignalKind {
        SignalKind(signal_hook::consts::SIGHUP)
    }

    /// `SIGQUIT`: the terminal's quit key (Ctrl-\).
    pub const fn quit() -> SignalKind {
        SignalKind(signal_hook::consts::SIGQUIT)
    }

    /// `SIGUSR1`, free for the application.
    pub const fn user_defined1() -> SignalKind {
        SignalKind(signal_hook::consts::SIGUSR1)
    }

    /// `SIGUSR2`, free for the application.
    pub const fn user_defined2() -> SignalKind {
        SignalKind(signal_hook::consts::SIGUSR2)
    }

    /// `SIGWINCH`: the terminal window changed size.
    pub const fn window_change() -> SignalKind {
        SignalKind(signal_hook::consts::SIGWINCH)
    }
}

impl fmt::Debug for SignalKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        use signal_hook::consts::*;
        let name = match self.0 {
            SIGINT => "SIGINT",
            SIGTERM => "SIGTERM",
            SIGHUP => "SIGHUP",
            SIGQUIT => "SIGQUIT",
            SIGUSR1 => "SIGUSR1",
            SIGUSR2 => "SIGUSR2",
            SIGWINCH => "SIGWINCH",
            other => return write!(f, "SignalKind({other})"),
        };
        f.write_str(name)
    }
}

/// A stream of signal deliveries, registered with the current runtime.
///
/// Created for one or more [`SignalKind`]s; [`recv`](Signals::recv) waits
/// for the next delivery of any of them and says which. The handlers are
/// installed by [`new`](Signals::new), so a signal sent after it returns is
/// never missed, even if nobody is awaiting `recv` at that moment.
///
/// `Signals` is `!Send`: like a socket, it belongs to its runtime's thread.
pub struct Signals {
    source: IoSource<PipeSignals>,
    /// Deliveries read from the pipe but not returned yet (one drain can
    /// report several different signals).
    ready: VecDeque<SignalKind>,
}

impl Signals {
    /// Starts listening for `kinds` on the current runtime.
    ///
    /// # Errors
    ///
    /// `InvalidInput` for a number outside `1..128`, or a signal that cannot be handled (`SIGKILL`,
    /// `SIGSTOP`) or that must keep its default action for the program to
    /// stay sound (`SIGSEGV`, `SIGILL`, `SIGFPE`: signal-hook's `FORBIDDEN`
    /// list); otherwise what installing the handler (`EINVAL` for a number
    /// the OS does not define), creating the pipe or registering it reports.
    ///
    /// # Panics
    ///
    /// Panics when called outside a runtime.
    pub fn new(kinds: impl IntoIterator<Item = SignalKind>) -> io::Result<Signals> {
        let kinds: Vec<c_int> = kinds.into_iter().map(SignalKind::as_raw).collect();
        // signal-hook panics on these; report them as the caller's error instead.
        for &kind in &kinds {
            if !(1..MAX_SIGNAL).contains(&kind) {
                let message = format!("{kind} is not a signal number");
                return Err(io::Error::new(io::ErrorKind::InvalidInput, message));
            }
            if signal_hook::consts::FORBIDDEN.contains(&kind) {
                let message = format!("{:?} cannot be handled by a program", SignalKind(kind));
                return Err(io::Error::new(io::ErrorKind::InvalidInput, message));
            }
        }
        let pipe = PipeSignals::new(&kinds)?;
        Ok(Signals { source: IoSource::new(pipe)?, ready: VecDeque::new() })
    }

    /// Waits for the next delivery of one of the signals and returns it.
    ///
    /// Cancel-safe: a delivery is consumed only by the call that returns it.
    ///
    /// # Errors
    ///
    /// Whatever the reactor reports for the pipe (in practice, none).
    pub async fn recv(&mut self) -> io::Result<SignalKind> {
        poll_fn(|cx| self.poll_recv(cx)).await
    }

    /// Polls for the next delivery; on `Pending`, the task is woken when a
    /// signal arrives.
    pub fn poll_recv(&mut self, cx: &mut Context<'_>) -> Poll<io::Result<SignalKind>> {
        loop {
            if let Some(kind) = self.ready.pop_front() {
                return Poll::Ready(Ok(kind));
            }
            std::task::ready!(self.source.poll_read_ready(cx))?;
            // Forget readiness *before* draining: a byte written after the
            // drain is a new edge that sets it again on the next reactor
            // turn, so no delivery can slip between drain and park.
            self.source.clear_read_ready();
            let delivered = self.source.get_mut().pending();
            self.ready.extend(delivered.map(SignalKind));
        }
    }
}

impl fmt::Debug for Signals {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Signals").field("ready", &self.ready).finish_non_exhaustive()
    }
}

/// A stream of one signal, like `tokio::signal::unix::signal`.
///
/// # Examples
///
/// ```no_run
/// use corio_runtime::signal::{signal, SignalKind};
///
/// corio_runtime::block_on(async {
///     let mut terminate = signal(SignalKind::terminate()).unwrap();
///     terminate.recv().await.unwrap();
///     println!("SIGTERM: shutting down");
/// });
/// ```
///
/// # Errors
///
/// As [`Signals::new`].
pub fn signal(kind: SignalKind) -> io::Result<Signals> {
    Signals::new([kind])
}

/// Completes at the next Ctrl-C (`SIGINT`), like `tokio::signal::ctrl_c`.
///
/// The handler is installed when the future is first polled; a Ctrl-C
/// before that is not seen (and, before any handler exists, ends the
/// process as usual). To listen from an exact point on, create
/// `signal(SignalKind::interrupt())` there instead.
///
/// # Examples
///
/// ```no_run
/// corio_runtime::block_on(async {
///     corio_runtime::signal::ctrl_c().await.unwrap();
///     println!("interrupted: cleaning up");
/// });
/// ```
///
/// # Errors
///
/// As [`Signals::new`].
pub async fn ctrl_c() -> io::Result<()> {
    signal(SignalKind::interrupt())?.recv().await.map(drop)
}
