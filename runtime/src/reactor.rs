//! The reactor as tasks see it: [`IoSource`], a mio source registered with
//! the current runtime's reactor.
//!
//! Each I/O object (a socket, say) is registered with `mio::Poll` under a
//! token; the reactor driver (`driver/reactor.rs`) keeps, for each token,
//! readiness bits plus the waker of the task waiting to read and the one
//! waiting to write. When the executor parks, the driver waits in
//! `epoll_wait`, sets bits from the events and hands back the wakers to
//! wake. An `IoSource` finds the current runtime's reactor through the
//! context when it is created, and keeps it.
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
//!
//! Next stop: [`time`](crate::time).

use std::fmt;
use std::io;
use std::rc::Rc;
use std::task::{Context, Poll};

use mio::event::Source;
use mio::Token;

use crate::context;
use crate::driver::reactor::{Direction, IoState, Reactor, READABLE_ONLY, READ_READY, WRITE_READY};

/// An I/O source registered with the current runtime's reactor.
///
/// This is the registration API the net crate builds on: it owns a
/// `mio::event::Source` (a `mio::net::TcpStream`, say), registers it for
/// both directions, tracks readiness, and deregisters on drop. A reader and
/// a writer can wait on one source at the same time, each with its own waker.
///
/// `IoSource` is `!Send`: it is tied to the reactor of the runtime that
/// created it.
///
/// # mio in the public API
///
/// The type parameter is bounded by `mio::event::Source`, and
/// [`get_ref`](IoSource::get_ref) hands out the mio object, so mio's major
/// version is part of `corio-runtime`'s semver surface: code that builds an
/// `IoSource` must use the same mio major version (1.x) as corio-runtime,
/// and a move to a new mio major version would be a breaking release of
/// corio-runtime. The rest of corio's public API does not mention mio.
///
/// # Examples
///
/// ```
/// use std::io::Write;
/// use corio_runtime::reactor::IoSource;
///
/// corio_runtime::block_on(async {
///     let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
///     let addr = listener.local_addr().unwrap();
///     let stream = mio::net::TcpStream::connect(addr).unwrap();
///     let stream = IoSource::new(stream).unwrap();
///     // Wait until the non-blocking connect has completed.
///     std::future::poll_fn(|cx| stream.poll_write_ready(cx)).await.unwrap();
///     let written = std::future::poll_fn(|cx| stream.poll_write_with(cx, |mut s| s.write(b"hi"))).await;
///     assert_eq!(written.unwrap(), 2);
/// });
/// ```
pub struct IoSource<S: Source> {
    source: S,
    token: Token,
    io: Rc<IoState>,
    reactor: Rc<Reactor>,
}

impl<S: Source> IoSource<S> {
    /// Registers `source` with the current runtime's reactor.
    ///
    /// # Errors
    ///
    /// Whatever `epoll_ctl` reports (for example, the source is already registered).
    ///
    /// # Panics
    ///
    /// Panics when called outside a runtime.
    pub fn new(mut source: S) -> io::Result<IoSource<S>> {
        let reactor = context::with_current(|core| core.reactor.clone())
            .expect("corio: I/O objects must be created inside a corio runtime (within `block_on`)");
        let (token, io) = reactor.register(&mut source)?;
        Ok(IoSource { source, token, io, reactor })
    }

    /// Names this source in task dumps and traces
    /// (`"tcp 127.0.0.1:41000 -> 127.0.0.1:8080"`) when its runtime keeps
    /// task details ([`Builder::track_tasks`](crate::Builder::track_tasks)
    /// or a trace). `describe` runs only then, so a runtime with neither
    /// pays one branch. Without a name a source shows its type.
    pub fn describe(&self, describe: impl FnOnce(&S) -> String) {
        if self.reactor.wants_labels() {
            self.io.set_label(describe(&self.source));
        }
    }

    /// The wrapped source.
    pub fn get_ref(&self) -> &S {
        &self.source
    }

    /// The wrapped source, mutably. Don't deregister it behind our back.
    pub fn get_mut(&mut self) -> &mut S {
        &mut self.source
    }

    /// `Ready` once the source may be readable (or has hung up or failed);
    /// otherwise stores the waker and returns `Pending`.
    pub fn poll_read_ready(&self, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        self.io.poll_ready(Direction::Read, cx)
    }

    /// `Ready` once the source may be writable (or has hung up or failed);
    /// otherwise stores the waker and returns `Pending`.
    pub fn poll_write_ready(&self, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        self.io.poll_ready(Direction::Write, cx)
    }

    /// Forgets read readiness. Call it only after the OS said `WouldBlock`.
    pub fn clear_read_ready(&self) {
        self.io.clear(READ_READY);
    }

    /// Forgets only the readable bit, keeping the hang-up and error bits.
    ///
    /// A stream socket calls this after a *short* read (fewer bytes than it
    /// asked for): the kernel's receive buffer was drained, so the next read
    /// would only say `WouldBlock`, and skipping that syscall is what lets a
    /// request/response server keep pace with tokio. Data arriving later is a
    /// new edge and sets the bit again on the next reactor turn. The hang-up
    /// bit must survive, or a FIN that arrived with the last bytes is lost
    /// and the next read waits forever.
    pub fn clear_readable(&self) {
        self.io.clear(READABLE_ONLY);
    }

    /// Forgets write readiness. Call it only after the OS said `WouldBlock`.
    pub fn clear_write_ready(&self) {
        self.io.clear(WRITE_READY);
    }

    /// Runs a read-side operation under the edge-triggered rule: retry while
    /// ready, clear readiness and wait on `WouldBlock`, retry on `Interrupted`.
    pub fn poll_read_with<R>(
        &self,
        cx: &mut Context<'_>,
        mut op: impl FnMut(&S) -> io::Result<R>,
    ) -> Poll<io::Result<R>> {
        loop {
            if let Err(error) = std::task::ready!(self.poll_read_ready(cx)) {
                return Poll::Ready(Err(error));
            }
            match op(&self.source) {
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => self.clear_read_ready(),
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                result => return Poll::Ready(result),
            }
        }
    }

    /// The write-side twin of [`poll_read_with`](IoSource::poll_read_with).
    pub fn poll_write_with<R>(
        &self,
        cx: &mut Context<'_>,
        mut op: impl FnMut(&S) -> io::Result<R>,
    ) -> Poll<io::Result<R>> {
        loop {
            if let Err(error) = std::task::ready!(self.poll_write_ready(cx)) {
                return Poll::Ready(Err(error));
            }
            match op(&self.source) {
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => self.clear_write_ready(),
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                result => return Poll::Ready(result),
            }
        }
    }
}

impl<S: Source> Drop for IoSource<S> {
    fn drop(&mut self) {
        // Fails only if the source was already deregistered or closed behind
        // our back; there is nothing useful to do about it in a destructor.
        let _ = self.reactor.deregister(&mut self.source, self.token);
    }
}

impl<S: Source + fmt::Debug> fmt::Debug for IoSource<S> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("IoSource").field("source", &self.source).field("token", &self.token).finish()
    }
}
