//! The accept step shared by `TcpListener` and `UnixListener`, and how it
//! survives running out of file descriptors.
//!
//! When the process (`EMFILE`) or the system (`ENFILE`) has no descriptor
//! left, or the kernel has no memory for the socket (`ENOBUFS`, `ENOMEM`),
//! `accept(2)` fails while the connection stays queued in the backlog. The
//! listener stays readable, so a loop that retries at once spins at 100%
//! CPU, and a loop that gives up on the error takes the server down.
//!
//! [`Acceptor::poll_accept`] does neither: it keeps the readiness mark (the
//! connection is still there), sleeps on a runtime timer for a delay that
//! doubles from 5 ms up to 100 ms, and tries again. Other tasks go on
//! meanwhile, and once a descriptor frees up (a connection closes) the
//! queued connections are accepted within at most 100 ms. A successful
//! accept resets the delay.
//!
//! On a runtime with virtual time the back-off timer fires as soon as the
//! runtime is idle, so there the retries are not spaced out in real time.
//!
//! (Another classic trick keeps a spare descriptor open, closes it on
//! `EMFILE` to accept and immediately close the connection, then reopens
//! it. That sheds load instead of waiting for it to pass; we prefer to keep
//! the connections queued and serve them late rather than never.)

use std::cell::RefCell;
use std::future::Future;
use std::io;
use std::pin::Pin;
use std::task::{ready, Context, Poll};
use std::time::Duration;

use corio_runtime::reactor::IoSource;
use corio_runtime::time::{sleep, Sleep};
use mio::event::Source;

/// First back-off delay after an exhaustion error.
const BACKOFF_START: Duration = Duration::from_millis(5);
/// Longest back-off delay: how late, at worst, accepting resumes after a
/// descriptor frees up.
const BACKOFF_MAX: Duration = Duration::from_millis(100);

/// The accept back-off state of one listener.
#[derive(Debug, Default)]
pub(crate) struct Acceptor {
    state: RefCell<Backoff>,
}

#[derive(Debug, Default)]
struct Backoff {
    /// The delay used last time; zero after a successful accept.
    delay: Duration,
    /// The timer to wait for before retrying, while backing off.
    sleep: Option<Sleep>,
}

impl Acceptor {
    /// Accepts one connection with `accept`, under the edge-triggered rule,
    /// skipping per-connection failures and backing off on exhaustion.
    pub(crate) fn poll_accept<S: Source, T>(
        &self,
        io: &IoSource<S>,
        cx: &mut Context<'_>,
        accept: impl Fn(&S) -> io::Result<T>,
    ) -> Poll<io::Result<T>> {
        let mut state = self.state.borrow_mut();
        loop {
            // 1. If we are backing off, wait for the timer first.
            if let Some(timer) = state.sleep.as_mut() {
                ready!(Pin::new(timer).poll(cx));
                state.sleep = None;
            }
            // 2. Wait until the listener is readable: a connection is queued.
            ready!(io.poll_read_ready(cx))?;
            // 3. Take it; sort out the failures.
            match accept(io.get_ref()) {
                Ok(accepted) => {
                    state.delay = Duration::ZERO;
                    return Poll::Ready(Ok(accepted));
                }
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => io.clear_read_ready(),
                Err(e) if is_skippable(&e) => {}
                Err(e) if is_exhaustion(&e) => {
                    // Keep the readiness mark: the connection is still queued.
                    state.delay = (state.delay * 2).clamp(BACKOFF_START, BACKOFF_MAX);
                    state.sleep = Some(sleep(state.delay));
                }
                Err(e) => return Poll::Ready(Err(e)),
            }
        }
    }
}

/// Errors `accept(2)` reports about one connection (the peer gave up before
/// we took it), not about the listener: try the next one at once.
fn is_skippable(error: &io::Error) -> bool {
    matches!(
        error.kind(),
        io::ErrorKind::Interrupted | io::ErrorKind::ConnectionAborted | io::ErrorKind::ConnectionReset
    )
}

/// Out of descriptors or kernel memory: try again later.
fn is_exhaustion(error: &io::Error) -> bool {
    use rustix::io::Errno;
    let Some(errno) = error.raw_os_error() else { return false };
    [Errno::MFILE, Errno::NFILE, Errno::NOBUFS, Errno::NOMEM].iter().any(|e| e.raw_os_error() == errno)
}
