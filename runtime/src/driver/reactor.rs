//! The reactor driver: `mio::Poll`, and a slab of per-source readiness.
//!
//! Each registered I/O source has an [`IoState`] in a [`Slab`], and the
//! slab key is its mio token. When the executor parks, [`Reactor::poll`]
//! waits in `epoll_wait`, sets readiness bits from the events and collects
//! the wakers of the tasks waiting on them; the executor wakes them after
//! every borrow is released. The reactor never polls a future.
//!
//! Two tokens are reserved: one for the `mio::Waker` that other threads use
//! to interrupt the wait (the injector's), and (on Linux) one for a `timerfd`
//! that gives timers microsecond precision, since `epoll_wait`'s own timeout
//! counts milliseconds.

use std::cell::{Cell, RefCell};
use std::fmt;
use std::io;
use std::rc::Rc;
use std::task::{Context, Poll, Waker};
use std::time::{Duration, Instant};

use mio::event::Source;
use mio::{Events, Interest, Token};

use super::Origin;
use crate::slab::{Key, Slab};
use crate::waker::{self, Wakes};

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
pub(crate) const READ_READY: u8 = READABLE | READ_CLOSED | ERROR;
pub(crate) const WRITE_READY: u8 = WRITABLE | WRITE_CLOSED | ERROR;
/// Only the "data available" bit, without hang-up and error.
pub(crate) const READABLE_ONLY: u8 = READABLE;

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

impl Wait {
    /// `None` for no wait, else the deadline if there is one (for traces).
    pub(crate) fn until(self) -> Option<Option<Instant>> {
        match self {
            Wait::Zero => None,
            Wait::Until(deadline) => Some(Some(deadline)),
            Wait::Forever => Some(None),
        }
    }
}

/// What one reactor turn saw.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Turn {
    /// Readiness events for registered I/O sources.
    pub(crate) io_events: usize,
    /// All events, including remote wake-ups and the timer.
    pub(crate) all_events: usize,
}

/// Which side of a source a task waits on.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Direction {
    Read,
    Write,
}

/// Readiness and waiting tasks of one registered source.
pub(crate) struct IoState {
    readiness: Cell<u8>,
    reader: Cell<Option<Waker>>,
    writer: Cell<Option<Waker>>,
    /// The source's type, for task dumps (`mio::net::TcpStream`).
    kind: &'static str,
    /// What the source is ("tcp 127.0.0.1:5000 -> 127.0.0.1:41234"), for
    /// dumps and traces; set only when the runtime keeps such details.
    label: RefCell<Option<Rc<str>>>,
}

impl IoState {
    /// `Ready` if any bit of `direction`'s mask is set; otherwise stores
    /// the waker for that direction and returns `Pending`.
    pub(crate) fn poll_ready(&self, direction: Direction, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let (mask, waiter) = match direction {
            Direction::Read => (READ_READY, &self.reader),
            Direction::Write => (WRITE_READY, &self.writer),
        };
        if self.readiness.get() & mask != 0 {
            return Poll::Ready(Ok(()));
        }
        crate::waker::store_in_cell(waiter, cx.waker());
        Poll::Pending
    }

    /// Forgets the readiness bits in `mask`.
    pub(crate) fn clear(&self, mask: u8) {
        self.readiness.set(self.readiness.get() & !mask);
    }

    /// Names the source for dumps and traces.
    pub(crate) fn set_label(&self, label: String) {
        *self.label.borrow_mut() = Some(Rc::from(label));
    }

    /// Whom the waker stored for `direction` wakes, if one is stored.
    fn waiter(&self, direction: Direction) -> Option<Wakes> {
        let cell = match direction {
            Direction::Read => &self.reader,
            Direction::Write => &self.writer,
        };
        let stored = cell.take();
        let wakes = stored.as_ref().map(waker::wakes);
        cell.set(stored);
        wakes
    }
}

/// One registered source as [`Reactor::sources`] saw it, for task dumps.
#[derive(Debug, Clone)]
pub(crate) struct SourceInfo {
    /// The mio token (a slab key: index in the low 32 bits).
    pub(crate) token: u64,
    /// `label`, else the source's type name.
    pub(crate) name: String,
    /// Who waits to read, and who waits to write.
    pub(crate) reader: Option<Wakes>,
    pub(crate) writer: Option<Wakes>,
}

/// The readiness bits as words: "readable|write closed".
pub(crate) fn readiness_names(bits: u8) -> String {
    let names = [
        (READABLE, "readable"),
        (WRITABLE, "writable"),
        (READ_CLOSED, "read closed"),
        (WRITE_CLOSED, "write closed"),
        (ERROR, "error"),
    ];
    let words: Vec<&str> = names.iter().filter(|(bit, _)| bits & bit != 0).map(|(_, name)| *name).collect();
    if words.is_empty() {
        "none".to_owned()
    } else {
        words.join("|")
    }
}

/// mio's `Poll` plus the token -> state table.
pub(crate) struct Reactor {
    poll: RefCell<mio::Poll>,
    events: RefCell<Events>,
    /// One entry per registered source; the key is its mio token.
    sources: RefCell<Slab<Rc<IoState>>>,
    #[cfg(target_os = "linux")]
    timer: Option<precise::TimerFd>,
    /// Sources may be given labels (`IoSource::describe`): set when the
    /// runtime keeps task details for dumps and traces.
    labels: Cell<bool>,
}

impl Reactor {
    /// `precise`: use a timerfd (Linux) for sub-millisecond timer wake-ups.
    pub(crate) fn new(capacity: usize, precise: bool) -> io::Result<Reactor> {
        // Miri cannot create a timerfd (an unsupported foreign call): timers
        // there wait in `epoll_wait`'s own timeout, whole milliseconds.
        let precise = precise && !cfg!(miri);
        let poll = mio::Poll::new()?;
        #[cfg(target_os = "linux")]
        let timer = if precise { Some(precise::TimerFd::new(poll.registry(), TIMER_TOKEN)?) } else { None };
        #[cfg(not(target_os = "linux"))]
        let _ = precise;
        Ok(Reactor {
            poll: RefCell::new(poll),
            events: RefCell::new(Events::with_capacity(capacity)),
            sources: RefCell::new(Slab::new()),
            #[cfg(target_os = "linux")]
            timer,
            labels: Cell::new(false),
        })
    }

    /// Lets sources be labelled (see [`Reactor::wants_labels`]).
    pub(crate) fn keep_labels(&self) {
        self.labels.set(true);
    }

    /// Whether sources should be labelled: the runtime keeps task details.
    pub(crate) fn wants_labels(&self) -> bool {
        self.labels.get()
    }

    /// Every registered source with the tasks waiting on it, for dumps.
    pub(crate) fn sources(&self) -> Vec<SourceInfo> {
        let sources = self.sources.borrow();
        sources
            .iter()
            .map(|(key, io)| SourceInfo {
                token: key.to_u64(),
                name: io.label.borrow().as_deref().unwrap_or(io.kind).to_owned(),
                reader: io.waiter(Direction::Read),
                writer: io.waiter(Direction::Write),
            })
            .collect()
    }

    /// The label of the source with `token`, if it is registered and has one.
    pub(crate) fn source_label(&self, token: u64) -> Option<Rc<str>> {
        let sources = self.sources.borrow();
        let label = sources.get(Key::from_u64(token))?.label.borrow().clone();
        label
    }

    pub(crate) fn new_waker(&self) -> io::Result<mio::Waker> {
        mio::Waker::new(self.poll.borrow().registry(), WAKER_TOKEN)
    }

    /// Whether any I/O source is registered.
    fn has_sources(&self) -> bool {
        self.sources.borrow().len() > 0
    }

    /// Registers `source` for both directions; returns its token and state.
    pub(crate) fn register<S: Source + ?Sized>(&self, source: &mut S) -> io::Result<(Token, Rc<IoState>)> {
        let io = Rc::new(IoState {
            readiness: Cell::new(0),
            reader: Cell::new(None),
            writer: Cell::new(None),
            kind: std::any::type_name::<S>(),
            label: RefCell::new(None),
        });
        let key = self.sources.borrow_mut().insert(io.clone());
        let token = Token(key.to_u64() as usize);
        if let Err(error) =
            self.poll.borrow().registry().register(source, token, Interest::READABLE | Interest::WRITABLE)
        {
            self.sources.borrow_mut().remove(key);
            return Err(error);
        }
        Ok((token, io))
    }

    /// Deregisters `source`; its token goes stale, so a late event for it
    /// finds nothing.
    pub(crate) fn deregister<S: Source + ?Sized>(&self, source: &mut S, token: Token) -> io::Result<()> {
        self.sources.borrow_mut().remove(Key::from_u64(token.0 as u64));
        self.poll.borrow().registry().deregister(source)
    }

    /// Waits for events as `wait` allows, records readiness, and pushes the
    /// wakers of tasks that can now make progress into `wakers`; with
    /// `origins`, also one [`Origin::Io`] per readiness event (a tracer's).
    ///
    /// A turn that must not wait, with no I/O source registered, skips the
    /// `epoll_wait` call: nothing registered can have become ready, and the
    /// executor finds remote wake-ups (its queues) and due timers (the
    /// clock) without the kernel's help. Compute-only programs then run
    /// their tick loop with no syscall at all; any registered socket puts the
    /// syscall back on every turn.
    pub(crate) fn poll(
        &self,
        wait: Wait,
        wakers: &mut Vec<Waker>,
        mut origins: Option<&mut Vec<Origin>>,
    ) -> io::Result<Turn> {
        if matches!(wait, Wait::Zero) && !self.has_sources() {
            return Ok(Turn { io_events: 0, all_events: 0 });
        }
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
        let sources = self.sources.borrow();
        for event in events.iter() {
            turn.all_events += 1;
            let token = event.token();
            if token == WAKER_TOKEN {
                continue; // the executor drains the injector at the start of every park
            }
            #[cfg(target_os = "linux")]
            if token == TIMER_TOKEN {
                if let Some(timer) = &self.timer {
                    timer.fired();
                }
                continue;
            }
            let Some(io) = sources.get(Key::from_u64(token.0 as u64)) else {
                continue; // an event for a source that was deregistered since
            };
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
            let before = wakers.len();
            if bits & READ_READY != 0 {
                wakers.extend(io.reader.take());
            }
            if bits & WRITE_READY != 0 {
                wakers.extend(io.writer.take());
            }
            if let Some(origins) = origins.as_deref_mut() {
                let woken = (wakers.len() - before) as u8;
                origins.push(Origin::Io { token: token.0 as u64, ready: bits, wakers: woken });
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

impl fmt::Debug for Reactor {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Reactor").field("sources", &self.sources.borrow().len()).finish()
    }
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
