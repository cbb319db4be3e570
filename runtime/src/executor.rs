//! The executor: the run queue, the tick loop, `block_on` and `spawn`.
//!
//! Third stop of the tour. A [`Runtime`] owns a `Local` (its thread-bound
//! state, behind an `Rc`) and, through it, the thread-safe `Shared`. One
//! turn of the loop in [`Runtime::block_on`]:
//!
//! 1. poll the `block_on` future, if it was woken;
//! 2. *tick*: pop up to `budget` tasks from the FIFO run queue and poll each
//!    once (`Task::run`); a task woken during its own poll goes to the back;
//! 3. *park*: move remote wakes and spawns into the local queue, then ask the
//!    reactor for I/O events, waiting in the kernel only if nothing is ready
//!    (until the next timer deadline, or forever), and fire expired timers.
//!    When the only thing ready is the `block_on` future, this step is
//!    skipped once, so a caller awaiting one task at a time does not pay an
//!    `epoll_wait` that finds nothing between each. With
//!    [`Builder::spin_before_park`], the runtime first keeps asking for
//!    events without sleeping for a while, so a reply that comes soon does
//!    not pay for putting the thread to sleep and waking it.
//!
//! Because step 3 runs after every `budget` polls, a task that is always
//! ready (even one that wakes itself on every poll) cannot starve I/O,
//! timers or the tasks queued behind it.
//!
//! The "current runtime" is a thread-local set only while `block_on` runs
//! (and during shutdown); [`spawn`], timers and I/O registration find the
//! runtime through it. There is no global runtime.
//!
//! Next stop: `reactor.rs`, where parked I/O waits for events.

use std::cell::{Cell, RefCell};
use std::collections::VecDeque;
use std::fmt;
use std::future::Future;
use std::io;
use std::marker::PhantomData;
use std::pin::{pin, Pin};
use std::rc::Rc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::task::{Context, Poll, Waker};
use std::time::{Duration, Instant};

use crate::handle::{Handle, Shared};
use crate::reactor::{Reactor, Turn, Wait};
use crate::stats::{bump, Counters, Stats};
use crate::task::{self, JoinHandle, RunOutcome, Task, TaskList};
use crate::time::clock::Clock;
use crate::time::timers::Timers;

/// Default number of task polls between two reactor turns.
const DEFAULT_BUDGET: u32 = 128;

/// Default capacity of the reactor's event buffer.
const DEFAULT_EVENTS: usize = 1024;

/// Source of runtime ids (used by timers to tell runtimes apart); an id
/// generator, not a runtime singleton.
static NEXT_RUNTIME_ID: AtomicU64 = AtomicU64::new(1);

thread_local! {
    /// The runtime whose `block_on` is running on this thread, if any.
    static CONTEXT: RefCell<Option<Rc<Local>>> = const { RefCell::new(None) };
}

/// Runs `f` with the current runtime, or returns `None` outside one.
pub(crate) fn with_current<R>(f: impl FnOnce(&Rc<Local>) -> R) -> Option<R> {
    CONTEXT.try_with(|context| context.borrow().as_ref().map(f)).ok().flatten()
}

/// Whether `shared` belongs to the runtime running on this thread.
pub(crate) fn is_current(shared: &Shared) -> bool {
    with_current(|local| std::ptr::eq(Arc::as_ptr(&local.shared), shared)).unwrap_or(false)
}

/// Queues a woken task: on the local run queue when we are on its runtime's
/// thread inside `block_on`, otherwise through the cross-thread injector
/// (which also interrupts the runtime if it is blocked in the kernel).
pub(crate) fn schedule(task: Task) {
    let mut task = Some(task);
    let _ = CONTEXT.try_with(|context| {
        if let Some(local) = context.borrow().as_ref() {
            if let Some(t) = task.take_if(|t| Arc::ptr_eq(t.shared(), &local.shared)) {
                bump(&local.counters.wakes_local, 1);
                local.run_queue.borrow_mut().push_back(t);
            }
        }
    });
    if let Some(task) = task {
        let shared = task.shared().clone();
        shared.push_remote(task);
    }
}

/// Spawns a task onto the current runtime.
///
/// The future starts on a later tick, never inside this call. It needs no
/// `Send` bound: it will only ever run on this thread. Awaiting the returned
/// [`JoinHandle`] gives its output; dropping the handle lets it run detached.
///
/// # Examples
///
/// ```
/// corio_runtime::block_on(async {
///     let a = corio_runtime::spawn(async { 1 });
///     let b = corio_runtime::spawn(async { 2 });
///     assert_eq!(a.await.unwrap() + b.await.unwrap(), 3);
/// });
/// ```
///
/// # Panics
///
/// Panics when called outside a runtime (use [`Runtime::spawn`] there).
pub fn spawn<F>(future: F) -> JoinHandle<F::Output>
where
    F: Future + 'static,
    F::Output: 'static,
{
    // Take the runtime out of the thread-local first and move the future
    // only once, into its task: passing it through `with_current`'s
    // closures cost four copies of every future (callgrind, the RPC server).
    let local = with_current(Rc::clone).expect(
        "corio::spawn called outside a corio runtime: call it inside `block_on`, or use `Runtime::spawn`",
    );
    local.spawn(future)
}

/// Runs a future to completion on a new runtime on this thread, then drops
/// the runtime (and with it every task still running).
///
/// # Examples
///
/// ```
/// assert_eq!(corio_runtime::block_on(async { 1 + 1 }), 2);
/// ```
///
/// # Panics
///
/// Panics if the runtime cannot be built (the OS refused an epoll instance
/// or an eventfd), or when called inside a runtime; see [`Runtime::block_on`].
pub fn block_on<F: Future>(future: F) -> F::Output {
    Runtime::new().expect("failed to build a corio runtime").block_on(future)
}

/// Counters of the current runtime.
///
/// # Panics
///
/// Panics when called outside a runtime (use [`Runtime::stats`] there).
pub fn stats() -> Stats {
    with_current(|local| local.stats()).expect("corio::stats called outside a corio runtime")
}

/// Builder options, fixed at build time.
#[derive(Debug, Clone)]
struct Config {
    budget: u32,
    abort_on_panic: bool,
    spin_before_park: Duration,
}

/// The thread-bound state of a runtime.
pub(crate) struct Local {
    /// The half other threads can reach.
    pub(crate) shared: Arc<Shared>,
    /// Tasks ready to be polled, FIFO.
    run_queue: RefCell<VecDeque<Task>>,
    /// Every unfinished task, for shutdown.
    /// Pinned: linked tasks point back at it.
    tasks: Pin<Box<TaskList>>,
    /// I/O readiness (mio).
    pub(crate) reactor: Rc<Reactor>,
    /// Pending timers.
    pub(crate) timers: RefCell<Timers>,
    /// Real or virtual time.
    pub(crate) clock: Clock,
    /// Distinguishes runtimes for timer entries that outlive one.
    pub(crate) id: u64,
    pub(crate) counters: Counters,
    config: Config,
    next_task_id: Cell<u64>,
    /// A panic message to re-raise from `block_on` (abort-on-panic mode).
    panicked: RefCell<Option<String>>,
    /// Reused buffer for wakers collected from the reactor and timers, so
    /// they are woken after every borrow is released, without allocating.
    wake_buffer: RefCell<Vec<Waker>>,
}

impl Local {
    #[inline(always)]
    fn spawn<F>(&self, future: F) -> JoinHandle<F::Output>
    where
        F: Future + 'static,
        F::Output: 'static,
    {
        let id = self.next_task_id.get();
        self.next_task_id.set(id + 1);
        let (task, handle) = task::spawn(future, self.shared.clone(), id, self.tasks.as_ref());
        bump(&self.counters.tasks_spawned, 1);
        self.run_queue.borrow_mut().push_back(task);
        handle
    }

    pub(crate) fn stats(&self) -> Stats {
        self.counters.snapshot(self.tasks.len())
    }

    /// Polls up to `budget` queued tasks, once each.
    fn tick(&self) {
        for _ in 0..self.config.budget {
            let Some(task) = self.run_queue.borrow_mut().pop_front() else {
                return;
            };
            bump(&self.counters.polls, 1);
            match task.run() {
                RunOutcome::Pending | RunOutcome::Skipped => {}
                RunOutcome::Reschedule(task) => {
                    bump(&self.counters.wakes_local, 1);
                    self.run_queue.borrow_mut().push_back(task);
                }
                RunOutcome::Completed => bump(&self.counters.tasks_completed, 1),
                RunOutcome::Panicked(message) => {
                    bump(&self.counters.tasks_completed, 1);
                    bump(&self.counters.tasks_panicked, 1);
                    if self.config.abort_on_panic {
                        *self.panicked.borrow_mut() = Some(*message);
                        return;
                    }
                }
            }
        }
    }

    /// Moves work queued by other threads onto this thread.
    fn drain_remote(&self) {
        // Reset first: a push after this point will notify again.
        self.shared.clear_notified();
        let mut remote = 0;
        while let Some(task) = self.shared.pop_remote() {
            remote += 1;
            self.run_queue.borrow_mut().push_back(task);
        }
        bump(&self.counters.wakes_remote, remote);
        while let Some(request) = self.shared.pop_spawn() {
            request();
        }
    }

    fn has_ready_work(&self) -> bool {
        !self.run_queue.borrow().is_empty() || self.shared.main_woken.load(Ordering::Acquire)
    }

    /// Waits for I/O and timers if nothing is ready, then wakes what they name.
    fn park(&self) -> io::Result<()> {
        self.drain_remote();
        let ready = self.has_ready_work();
        let deadline = self.timers.borrow_mut().next_deadline();
        let mut wakers = std::mem::take(&mut *self.wake_buffer.borrow_mut());

        let wait = match (ready, deadline) {
            (true, _) => Wait::Zero,
            // Virtual time: look for ready I/O first; only an idle runtime
            // may jump the clock.
            (false, Some(_)) if self.clock.is_virtual() => Wait::Zero,
            (false, Some(deadline)) => Wait::Until(deadline),
            (false, None) => Wait::Forever,
        };
        let turn = match self.spin(wait, deadline, &mut wakers)? {
            Some(turn) => turn,
            None => {
                bump(&self.counters.reactor_turns, 1);
                self.reactor.poll(wait, &mut wakers)?
            }
        };
        bump(&self.counters.io_events, turn.io_events as u64);
        let events = turn.all_events;

        if let (false, Some(deadline), 0) = (ready, deadline, events) {
            if self.clock.is_virtual() {
                self.clock.advance_to(deadline);
            }
        }
        let fired = self.timers.borrow_mut().fire_expired(self.clock.now(), &mut wakers);
        bump(&self.counters.timers_fired, fired as u64);

        for waker in wakers.drain(..) {
            waker.wake();
        }
        *self.wake_buffer.borrow_mut() = wakers;
        Ok(())
    }

    /// `Builder::spin_before_park`: polls the reactor without sleeping
    /// until something happens or the spin time (or the next timer) runs
    /// out. `Some(turn)` if it saw events or remote work, `None` to go on
    /// and sleep.
    fn spin(
        &self,
        wait: Wait,
        deadline: Option<Instant>,
        wakers: &mut Vec<Waker>,
    ) -> io::Result<Option<Turn>> {
        let spin = self.config.spin_before_park;
        if spin.is_zero() || matches!(wait, Wait::Zero) {
            return Ok(None);
        }
        let started = Instant::now();
        loop {
            let turn = self.reactor.poll(Wait::Zero, wakers)?;
            bump(&self.counters.reactor_turns, 1);
            if turn.all_events > 0 || !wakers.is_empty() {
                return Ok(Some(turn));
            }
            // Wakes and spawns from other threads also arrive through the
            // injector, which the reactor does not see without sources.
            self.drain_remote();
            if self.has_ready_work() {
                return Ok(Some(turn));
            }
            let timer_due = deadline.is_some_and(|deadline| self.clock.now() >= deadline);
            if timer_due || started.elapsed() >= spin {
                return Ok(None);
            }
            std::hint::spin_loop();
        }
    }

    fn take_panic(&self) -> Option<String> {
        self.panicked.borrow_mut().take()
    }
}

/// Sets the thread's current runtime for a scope.
struct Enter;

impl Enter {
    fn new(local: &Rc<Local>) -> Enter {
        CONTEXT.with(|context| {
            let mut context = context.borrow_mut();
            if context.is_some() {
                panic!(
                    "corio: `block_on` called from inside a corio runtime. A task must not block the thread \
                     that runs every other task: `.await` the future instead, or `corio::spawn` it and \
                     `.await` its JoinHandle."
                );
            }
            *context = Some(local.clone());
        });
        Enter
    }

    /// Like `new`, but does nothing (returns `None`) if a runtime is current.
    fn try_new(local: &Rc<Local>) -> Option<Enter> {
        let entered = CONTEXT.try_with(|context| {
            let mut context = context.try_borrow_mut().ok()?;
            if context.is_some() {
                return None;
            }
            *context = Some(local.clone());
            Some(Enter)
        });
        entered.ok().flatten()
    }
}

impl Drop for Enter {
    fn drop(&mut self) {
        let _ = CONTEXT.try_with(|context| context.borrow_mut().take());
    }
}

/// A single-threaded runtime: executor, reactor and timers.
///
/// Build one with [`Runtime::new`] or [`Runtime::builder`], then drive it
/// with [`block_on`](Runtime::block_on). A `Runtime` is `!Send`: it and its
/// tasks live on the thread that made it. Other threads reach it through a
/// [`Handle`].
///
/// # Examples
///
/// ```
/// use corio_runtime::Runtime;
///
/// let rt = Runtime::new().unwrap();
/// let handle = rt.spawn(async { "spawned before block_on" });
/// let out = rt.block_on(async move { handle.await.unwrap() });
/// assert_eq!(out, "spawned before block_on");
/// ```
///
/// # Shutdown
///
/// Dropping the runtime cancels every unfinished task: each future is
/// dropped exactly once, **in spawn order** (oldest first), on this thread.
/// Tasks spawned by those destructors are dropped after them, unpolled.
/// Wakers that outlive the runtime stay valid; waking them does nothing.
pub struct Runtime {
    local: Rc<Local>,
    _not_send: PhantomData<Rc<()>>,
}

impl Runtime {
    /// A runtime with default settings.
    ///
    /// # Errors
    ///
    /// Fails if the OS refuses an epoll instance, eventfd or timerfd.
    pub fn new() -> io::Result<Runtime> {
        Runtime::builder().build()
    }

    /// Starts configuring a runtime.
    pub fn builder() -> Builder {
        Builder::default()
    }

    /// Runs `future` to completion on this thread, driving every spawned
    /// task, I/O event and timer meanwhile. Tasks still unfinished when it
    /// returns stay in the runtime (they run again at the next `block_on`)
    /// until the runtime is dropped.
    ///
    /// # Panics
    ///
    /// - When called from inside a runtime (a task must `.await`, not block).
    /// - If `future` panics.
    /// - With [`Builder::abort_on_panic`], when any task panics.
    /// - If the OS fails a reactor call (`epoll_wait`), which means a broken
    ///   process state rather than a recoverable error.
    pub fn block_on<F: Future>(&self, future: F) -> F::Output {
        let _enter = Enter::new(&self.local);
        let local = &*self.local;
        let mut future = pin!(future);
        let waker = Waker::from(local.shared.clone());
        let mut cx = Context::from_waker(&waker);
        local.shared.main_woken.store(true, Ordering::Release);
        let mut skipped_park = false;
        loop {
            if local.shared.main_woken.swap(false, Ordering::AcqRel) {
                if let Poll::Ready(output) = future.as_mut().poll(&mut cx) {
                    return output;
                }
            }
            local.tick();
            if let Some(message) = local.take_panic() {
                panic!("a corio task panicked and the runtime aborts on panic: {message}");
            }
            // When the only thing ready is this future (a task it awaits has
            // just finished), poll it again at once: parking first would ask
            // the kernel for events with a zero timeout, which mostly finds
            // none (one wasted `epoll_wait` per call of a client awaiting one
            // RPC at a time). Never twice in a row, so a future that keeps
            // waking itself cannot keep I/O and timers waiting.
            let only_main_ready =
                local.run_queue.borrow().is_empty() && local.shared.main_woken.load(Ordering::Acquire);
            if only_main_ready && !skipped_park {
                skipped_park = true;
                continue;
            }
            skipped_park = false;
            if let Err(error) = local.park() {
                panic!("corio reactor failed: {error}");
            }
        }
    }

    /// Spawns a task onto this runtime; it runs during `block_on`.
    pub fn spawn<F>(&self, future: F) -> JoinHandle<F::Output>
    where
        F: Future + 'static,
        F::Output: 'static,
    {
        self.local.spawn(future)
    }

    /// A `Send + Sync` handle for other threads.
    pub fn handle(&self) -> Handle {
        Handle::new(self.local.shared.clone())
    }

    /// A snapshot of this runtime's counters.
    pub fn stats(&self) -> Stats {
        self.local.stats()
    }
}

impl Drop for Runtime {
    fn drop(&mut self) {
        // Make this runtime current so destructors that spawn or touch timers
        // find it (and their spawns get cancelled below too).
        let _enter = Enter::try_new(&self.local);
        let local = &*self.local;
        local.shared.close();
        task::cancel_all(&local.tasks);
        // Queue entries of cancelled tasks: dropping them only releases references.
        let queued = std::mem::take(&mut *local.run_queue.borrow_mut());
        drop(queued);
        local.shared.close();
        local.timers.borrow_mut().clear();
    }
}

impl fmt::Debug for Runtime {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Runtime").field("stats", &self.stats()).finish_non_exhaustive()
    }
}

/// Configures a [`Runtime`].
///
/// # Examples
///
/// ```
/// let rt = corio_runtime::Runtime::builder()
///     .virtual_time(true)
///     .budget(64)
///     .build()
///     .unwrap();
/// # drop(rt);
/// ```
#[derive(Debug, Clone)]
pub struct Builder {
    budget: u32,
    abort_on_panic: bool,
    virtual_time: bool,
    events: usize,
    spin_before_park: Duration,
}

impl Default for Builder {
    fn default() -> Builder {
        Builder {
            budget: DEFAULT_BUDGET,
            abort_on_panic: false,
            virtual_time: false,
            events: DEFAULT_EVENTS,
            spin_before_park: Duration::ZERO,
        }
    }
}

impl Builder {
    /// How many task polls run between two looks at I/O and timers (default
    /// 128). Lower is fairer to I/O, higher has less overhead. Minimum 1.
    pub fn budget(mut self, polls: u32) -> Builder {
        self.budget = polls.max(1);
        self
    }

    /// When a task panics, make `block_on` panic too (default: the panic is
    /// caught and reported through the task's `JoinHandle`, and everything
    /// else carries on).
    pub fn abort_on_panic(mut self, abort: bool) -> Builder {
        self.abort_on_panic = abort;
        self
    }

    /// Use a virtual clock (default: real time). It stands still while any
    /// task is ready or I/O is pending delivery, and when everything is idle
    /// it jumps straight to the next timer deadline. Tests of long timeouts
    /// then run instantly and deterministically.
    pub fn virtual_time(mut self, enabled: bool) -> Builder {
        self.virtual_time = enabled;
        self
    }

    /// Before sleeping in the kernel, keep asking it for events without
    /// sleeping for up to `spin` (default: zero, never spin).
    ///
    /// Going to sleep and being woken costs a thread far more than one
    /// `epoll_wait` that returns at once: on the 2-CPU VM our benchmarks
    /// ran on, 40–60 µs of CPU per sleep, and the same again in latency,
    /// for every runtime and for plain blocking threads alike. A runtime
    /// that spins for a little longer than the gap between a request and
    /// its answer never pays it. The price is a CPU at 100 % for up to
    /// `spin` after every burst of work: right for a server pinned to a
    /// core of its own (thread-per-core), wrong for a laptop or a shared
    /// machine. Spinning stops early at the next timer deadline, and is
    /// off under virtual time.
    pub fn spin_before_park(mut self, spin: Duration) -> Builder {
        self.spin_before_park = spin;
        self
    }

    /// Capacity of the reactor's event buffer per turn (default 1024).
    pub fn event_capacity(mut self, events: usize) -> Builder {
        self.events = events.max(1);
        self
    }

    /// Builds the runtime.
    ///
    /// # Errors
    ///
    /// Fails if the OS refuses an epoll instance, eventfd or timerfd.
    pub fn build(self) -> io::Result<Runtime> {
        let reactor = Reactor::new(self.events, !self.virtual_time)?;
        let shared = Arc::new(Shared::new(reactor.new_waker()?));
        let clock = if self.virtual_time { Clock::new_virtual() } else { Clock::Real };
        let local = Local {
            shared,
            run_queue: RefCell::new(VecDeque::with_capacity(256)),
            tasks: Box::pin(TaskList::new()),
            reactor: Rc::new(reactor),
            timers: RefCell::new(Timers::new()),
            clock,
            id: NEXT_RUNTIME_ID.fetch_add(1, Ordering::Relaxed),
            counters: Counters::default(),
            config: Config {
                budget: self.budget,
                abort_on_panic: self.abort_on_panic,
                spin_before_park: if self.virtual_time { Duration::ZERO } else { self.spin_before_park },
            },
            next_task_id: Cell::new(1),
            panicked: RefCell::new(None),
            wake_buffer: RefCell::new(Vec::new()),
        };
        Ok(Runtime { local: Rc::new(local), _not_send: PhantomData })
    }
}
