//! The reactor: mio readiness events turned into task wake-ups.
//!
//! Fourth stop of the tour. Each I/O object (a socket, say) is registered
//! with `mio::Poll` under a token. The token indexes a slab of `IoState`:
//! readiness bits plus the waker of the task waiting to read and the one
//! waiting to write. The net crate wraps each socket in an [`IoSource`] and
//! follows one rule for every operation:
//!
//! 1. `poll_read_ready`: if the readable bit is set, go ahead; otherwise
//!    store the waker and return `Pending` (the task parks);
//! 2. try the syscall; if it says `WouldBlock`, `clear_read_ready` and go to 1.
//!
//! Registrations are edge-triggered: the kernel reports a transition to
//! ready once, so a bit is cleared only when the OS itself says `WouldBlock`.
//! Clearing it earlier loses the edge and hangs the task; never clearing it
//! spins. [`IoSource::poll_read_with`] packages the rule.
//!
//! When the executor parks, `Reactor::poll` waits in `epoll_wait`, sets
//! bits from the events and collects the wakers to wake; the executor wakes
//! them after every borrow is released. The reactor never polls a future.
//!
//! Two tokens are reserved: one for the `mio::Waker` that other threads use
//! to interrupt the wait, and (on Linux) one for a `timerfd` that gives timers
//! microsecond precision, since `epoll_wait`'s own timeout counts milliseconds.
//!
//! Next stop: `time/`, which decides how long the reactor may sleep.

use std::cell::{Cell, RefCell};
use std::fmt;
use std::io;
use std::rc::Rc;
use std::task::{Context, Poll, Waker};
use std::time::{Duration, Instant};

use mio::event::Source;
use mio::{Events, Interest, Token};

/// Token of the cross-thread `mio::Waker`.
const WAKER_TOKEN: Token = Token(usize::MAX);
/// Token of the precision timer.
#[cfg(target_os = "linux")]
const TIMER_TOKEN: Token = Token(usize::MAX - 1);

// Readiness bits of an `IoState`.
const READABLE: u8 = 1 << 0;
const WRITABLE: u8 = 1 << 1;
const READ_CLOSED: u8 = 1 << 2;
const WRITE_CLOSED: u8 = 1 << 3;
const ERROR: u8 = 1 << 4;
/// Any of these lets a reader retry its syscall (which then reports the
/// data, the end of stream, or the error).
const READ_READY: u8 = READABLE | READ_CLOSED | ERROR;
const WRITE_READY: u8 = WRITABLE | WRITE_CLOSED | ERROR;

/// How long [`Reactor::poll`] may block.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Wait {
    /// Just collect what is ready.
    Zero,
    /// Until this instant at the latest.
    Until(Instant),
    /// Until an event arrives.
    Forever,
}

/// What one reactor turn saw.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Turn {
    /// Readiness events for registered I/O sources.
    pub(crate) io_events: usize,
    /// All events, including remote wake-ups and the timer.
    pub(crate) all_events: usize,
}

/// Readiness and waiting tasks of one registered source.
#[derive(Default)]
struct IoState {
    readiness: Cell<u8>,
    reader: Cell<Option<Waker>>,
    writer: Cell<Option<Waker>>,
}

/// One slab slot; the generation makes tokens of freed slots stale.
struct Slot {
    generation: u32,
    io: Option<Rc<IoState>>,
}

/// mio's `Poll` plus the token -> state table.
pub(crate) struct Reactor {
    poll: RefCell<mio::Poll>,
    events: RefCell<Events>,
    slots: RefCell<Vec<Slot>>,
    free: RefCell<Vec<usize>>,
    #[cfg(target_os = "linux")]
    timer: Option<precise::TimerFd>,
}

impl Reactor {
    /// `precise`: use a timerfd (Linux) for sub-millisecond timer wake-ups.
    pub(crate) fn new(capacity: usize, precise: bool) -> io::Result<Reactor> {
        let poll = mio::Poll::new()?;
        #[cfg(target_os = "linux")]
        let timer = if precise { Some(precise::TimerFd::new(poll.registry(), TIMER_TOKEN)?) } else { None };
        #[cfg(not(target_os = "linux"))]
        let _ = precise;
        Ok(Reactor {
            poll: RefCell::new(poll),
            events: RefCell::new(Events::with_capacity(capacity)),
            slots: RefCell::new(Vec::new()),
            free: RefCell::new(Vec::new()),
            #[cfg(target_os = "linux")]
            timer,
        })
    }

    pub(crate) fn new_waker(&self) -> io::Result<mio::Waker> {
        mio::Waker::new(self.poll.borrow().registry(), WAKER_TOKEN)
    }

    fn register<S: Source + ?Sized>(&self, source: &mut S) -> io::Result<(Token, Rc<IoState>)> {
        let io = Rc::new(IoState::default());
        let mut slots = self.slots.borrow_mut();
        let index = self.free.borrow_mut().pop().unwrap_or_else(|| {
            slots.push(Slot { generation: 0, io: None });
            slots.len() - 1
        });
        let slot = &mut slots[index];
        let token = make_token(index, slot.generation);
        if let Err(error) =
            self.poll.borrow().registry().register(source, token, Interest::READABLE | Interest::WRITABLE)
        {
            self.free.borrow_mut().push(index);
            return Err(error);
        }
        slot.io = Some(io.clone());
        Ok((token, io))
    }

    fn deregister<S: Source + ?Sized>(&self, source: &mut S, token: Token) -> io::Result<()> {
        let index = token.0 & 0xffff_ffff;
        {
            let mut slots = self.slots.borrow_mut();
            let slot = &mut slots[index];
            slot.io = None;
            slot.generation = slot.generation.wrapping_add(1);
        }
        self.free.borrow_mut().push(index);
        self.poll.borrow().registry().deregister(source)
    }

    /// Waits for events as `wait` allows, records readiness, and pushes the
    /// wakers of tasks that can now make progress into `wakers`.
    pub(crate) fn poll(&self, wait: Wait, wakers: &mut Vec<Waker>) -> io::Result<Turn> {
        let timeout = match wait {
            Wait::Zero => Some(Duration::ZERO),
            Wait::Forever => None,
            Wait::Until(deadline) => self.timeout_until(deadline)?,
        };
        let mut events = self.events.borrow_mut();
        match self.poll.borrow_mut().poll(&mut events, timeout) {
            Ok(()) => {}
            Err(error) if error.kind() == io::ErrorKind::Interrupted => {
                return Ok(Turn { io_events: 0, all_events: 0 });
            }
            Err(error) => return Err(error),
        }
        let mut turn = Turn { io_events: 0, all_events: 0 };
        let slots = self.slots.borrow();
        for event in events.iter() {
            turn.all_events += 1;
            let token = event.token();
            if token == WAKER_TOKEN {
                continue; // the executor drains the remote queues every turn
            }
            #[cfg(target_os = "linux")]
            if token == TIMER_TOKEN {
                if let Some(timer) = &self.timer {
                    timer.fired();
                }
                continue;
            }
            let (index, generation) = split_token(token);
            let Some(Slot { generation: current, io: Some(io) }) = slots.get(index) else {
                continue;
            };
            if *current != generation {
                continue; // an event for a source that was deregistered since
            }
            turn.io_events += 1;
            let mut bits = 0;
            if event.is_readable() {
                bits |= READABLE;
            }
            if event.is_writable() {
                bits |= WRITABLE;
            }
            if event.is_read_closed() {
                bits |= READ_CLOSED;
            }
            if event.is_write_closed() {
                bits |= WRITE_CLOSED;
            }
            if event.is_error() {
                bits |= ERROR;
            }
            io.readiness.set(io.readiness.get() | bits);
            if bits & READ_READY != 0 {
                wakers.extend(io.reader.take());
            }
            if bits & WRITE_READY != 0 {
                wakers.extend(io.writer.take());
            }
        }
        Ok(turn)
    }

    /// The `epoll_wait` timeout for a deadline. With a timerfd, the timerfd
    /// fires at the exact deadline and epoll waits without a timeout;
    /// otherwise mio rounds the timeout up to whole milliseconds.
    fn timeout_until(&self, deadline: Instant) -> io::Result<Option<Duration>> {
        let remaining = deadline.saturating_duration_since(Instant::now());
        if remaining.is_zero() {
            return Ok(Some(Duration::ZERO));
        }
        #[cfg(target_os = "linux")]
        if let Some(timer) = &self.timer {
            timer.arm(deadline, remaining)?;
            return Ok(None);
        }
        Ok(Some(remaining))
    }
}

fn make_token(index: usize, generation: u32) -> Token {
    Token((((generation as u64) << 32) | index as u64) as usize)
}

fn split_token(token: Token) -> (usize, u32) {
    (token.0 & 0xffff_ffff, ((token.0 as u64) >> 32) as u32)
}

impl fmt::Debug for Reactor {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Reactor")
            .field("sources", &(self.slots.borrow().len() - self.free.borrow().len()))
            .finish()
    }
}

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
        let reactor = crate::executor::with_current(|local| local.reactor.clone())
            .expect("corio: I/O objects must be created inside a corio runtime (within `block_on`)");
        let (token, io) = reactor.register(&mut source)?;
        Ok(IoSource { source, token, io, reactor })
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
        poll_ready(&self.io, READ_READY, &self.io.reader, cx)
    }

    /// `Ready` once the source may be writable (or has hung up or failed);
    /// otherwise stores the waker and returns `Pending`.
    pub fn poll_write_ready(&self, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        poll_ready(&self.io, WRITE_READY, &self.io.writer, cx)
    }

    /// Forgets read readiness. Call it only after the OS said `WouldBlock`.
    pub fn clear_read_ready(&self) {
        self.io.readiness.set(self.io.readiness.get() & !READ_READY);
    }

    /// Forgets write readiness. Call it only after the OS said `WouldBlock`.
    pub fn clear_write_ready(&self) {
        self.io.readiness.set(self.io.readiness.get() & !WRITE_READY);
    }

    /// Runs a read-side operation under the edge-triggered rule: retry while
    /// ready, clear readiness and park on `WouldBlock`, retry on `Interrupted`.
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

/// The shared half of `poll_read_ready` / `poll_write_ready`.
fn poll_ready(
    io: &IoState,
    mask: u8,
    slot: &Cell<Option<Waker>>,
    cx: &mut Context<'_>,
) -> Poll<io::Result<()>> {
    if io.readiness.get() & mask != 0 {
        return Poll::Ready(Ok(()));
    }
    // Replace the stored waker only if it would wake someone else.
    let stored = slot.take();
    match stored {
        Some(waker) if waker.will_wake(cx.waker()) => slot.set(Some(waker)),
        _ => slot.set(Some(cx.waker().clone())),
    }
    Poll::Pending
}

#[cfg(target_os = "linux")]
mod precise {
    //! A timerfd registered with mio: wakes `epoll_wait` at a deadline with
    //! nanosecond resolution (subject to the kernel's timer slack, 50 µs by
    //! default), where the `epoll_wait` timeout itself counts milliseconds.

    use std::cell::Cell;
    use std::io;
    use std::os::fd::{AsRawFd, OwnedFd};
    use std::time::{Duration, Instant};

    use mio::unix::SourceFd;
    use mio::{Interest, Registry, Token};
    use rustix::time::{
        timerfd_create, timerfd_settime, Itimerspec, TimerfdClockId, TimerfdFlags, TimerfdTimerFlags,
        Timespec,
    };

    pub(super) struct TimerFd {
        fd: OwnedFd,
        /// The deadline currently armed, so re-parking with the same next
        /// deadline costs no syscall.
        armed: Cell<Option<Instant>>,
    }

    impl TimerFd {
        pub(super) fn new(registry: &Registry, token: Token) -> io::Result<TimerFd> {
            let fd =
                timerfd_create(TimerfdClockId::Monotonic, TimerfdFlags::NONBLOCK | TimerfdFlags::CLOEXEC)?;
            registry.register(&mut SourceFd(&fd.as_raw_fd()), token, Interest::READABLE)?;
            Ok(TimerFd { fd, armed: Cell::new(None) })
        }

        /// Arms the timer to fire `remaining` from now (that is, at `deadline`).
        pub(super) fn arm(&self, deadline: Instant, remaining: Duration) -> io::Result<()> {
            if self.armed.get() == Some(deadline) {
                return Ok(());
            }
            let value = Timespec {
                tv_sec: remaining.as_secs().min(i64::MAX as u64) as i64,
                // A zero it_value would disarm, so never ask for 0 ns.
                tv_nsec: i64::from(remaining.subsec_nanos().max(u32::from(remaining.as_secs() == 0))),
            };
            let spec = Itimerspec { it_interval: Timespec { tv_sec: 0, tv_nsec: 0 }, it_value: value };
            timerfd_settime(&self.fd, TimerfdTimerFlags::empty(), &spec)?;
            self.armed.set(Some(deadline));
            Ok(())
        }

        /// Consumes the expiration so the next one is a fresh edge.
        pub(super) fn fired(&self) {
            self.armed.set(None);
            let mut buf = [0u8; 8];
            let _ = rustix::io::read(&self.fd, &mut buf);
        }
    }
}
