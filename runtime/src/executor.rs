//! The executor: the run queue, the tick loop, `block_on` and `spawn`.
//!
//! A [`Runtime`] owns a `Core` (its thread-bound state, `context.rs`) and
//! runs the loop in [`Runtime::block_on`]. One turn:
//!
//! 1. poll the `block_on` future, if its waker was woken;
//! 2. *tick*: pop up to `budget` tasks from the FIFO run queue and poll each
//!    once (`Task::run`); a task woken during its own poll goes to the back;
//! 3. *park*: move remote wakes and spawns from the injector into the local
//!    queue, then ask the reactor for I/O events, waiting in the kernel only
//!    if nothing is ready (until the next timer deadline, or forever), and
//!    fire expired timers. When the only thing ready is the `block_on`
//!    future, this step is skipped once, so a caller awaiting one task at a
//!    time does not pay an `epoll_wait` that finds nothing between each.
//!    With [`Builder::spin_before_park`], the runtime first keeps asking for
//!    events without sleeping for a while, so a reply that comes soon does
//!    not pay for putting the thread to sleep and waking it.
//!
//! "Park" always means this step: the runtime's *thread* waiting for
//! events. A task that returns `Pending` is not parked; it is *idle*, in no
//! queue, until one of its wakers fires.
//!
//! Because step 3 runs after every `budget` polls, a task that is always
//! ready (even one that wakes itself on every poll) cannot starve I/O,
//! timers or the tasks queued behind it.
//!
//! # The `block_on` future is not a task
//!
//! The future passed to `block_on` lives on `block_on`'s stack, in no run
//! queue and no task list, and is polled directly by the loop (step 1). Its
//! waker is a [`MainWaker`]: an `Arc` holding a `woken` flag, built into a
//! `Waker` by std's `Wake` trait. Waking it sets the flag; from another
//! thread it also interrupts a park through the injector. The loop polls
//! the future only when the flag is set, and the skipped-park rule above
//! reads it too.
//!
//! # The scheduling seam
//!
//! Tasks are spawned with a [`Scheduler`], this file's implementation of
//! `task::Schedule`: a wake on the runtime's own thread, while it is
//! current, pushes on the local run queue; any other wake goes through the
//! injector (a lock-free queue plus a `mio::Waker` that interrupts the
//! park). The run queue, the tick and the park are where a deterministic
//! simulator and a tracer hook in; see `docs/ARCHITECTURE.md`.
//!
//! # Driven from outside
//!
//! A simulator runs several runtimes (its nodes) on one thread and decides
//! the time itself, so it cannot hand the thread to one `block_on`. Three
//! things let it drive runtimes in turn: [`Builder::virtual_clock`] (one
//! clock for all of them), [`Builder::seeded_order`] (the order of ready
//! tasks drawn from a seed, `run_queue.rs`), and
//! [`Runtime::run_until_stalled`]: tick and turn without ever waiting or
//! moving the clock, until no task is ready, then say when the next timer
//! is due. [`Runtime::enter`] makes a runtime current meanwhile, so wakes
//! the simulator delivers go to its local queue.
//!
//! # Tracing
//!
//! A runtime built with task details or a trace (`Builder::track_tasks`,
//! `Builder::trace`) has a `Tracer` in its `Core`; each event site below
//! (spawn, poll start and end, wake, park, reactor turn, the drivers'
//! wakes) is one `if let Some(tracer)`, see the `trace` module.
//!
//! Next stop: `handoff.rs` and `handle.rs`, the way in for other threads.

use std::cell::{Cell, RefCell};
use std::fmt;
use std::future::Future;
use std::io;
use std::panic::Location;
use std::path::PathBuf;
use std::pin::pin;
use std::rc::Rc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::task::{Context, Poll, Wake, Waker};
use std::time::{Duration, Instant};

use crate::context::{self, Core, Enter};
use crate::driver::clock::Clock;
use crate::driver::reactor::{Reactor, Turn, Wait};
use crate::driver::timers::Timers;
use crate::driver::Origin;
use crate::injector::Injector;
use crate::run_queue::RunQueue;
use crate::stats::{bump, Counters, Stats};
use crate::task::{self, JoinHandle, RunOutcome, Schedule, TaskList, Woken};
use crate::time::VirtualClock;
use crate::trace::event::Cause;
use crate::trace::tracer::Tracer;
use crate::trace::{file, json, Dump};

mod traced;

/// Default number of task polls between two reactor turns.
const DEFAULT_BUDGET: u32 = 128;

/// Default capacity of the reactor's event buffer.
const DEFAULT_EVENTS: usize = 1024;

/// Default number of trace events kept (the last ones).
const DEFAULT_TRACE_CAPACITY: usize = 1 << 20;

/// The environment variable that turns tracing on for runtimes built
/// without a trace path of their own.
const TRACE_VARIABLE: &str = "CORIO_TRACE";

/// The executor's side of the scheduling seam: what every task of a
/// runtime carries to find its way back (the runtime's injector, which
/// also identifies the runtime).
pub(crate) struct Scheduler {
    injector: Arc<Injector>,
}

impl Schedule for Scheduler {
    /// On the runtime's own thread, while it is current: the local run
    /// queue. Anywhere else (another thread, or after `block_on` returned):
    /// the injector, which wakes the runtime if it is parked.
    ///
    /// Tracing adds nothing here: a traced runtime sees which tasks a poll
    /// or a park queued by looking at the run queue's new entries
    /// (`Runtime::record_wakes`).
    #[inline]
    fn schedule(task: Woken<Self>) {
        let runtime = Arc::as_ptr(&task.scheduler().injector);
        let mut task = Some(task);
        context::with_current(|core| {
            if std::ptr::eq(Arc::as_ptr(&core.injector), runtime) {
                if let Some(task) = task.take() {
                    bump(&core.counters.wakes_local, 1);
                    core.run_queue.push(task.into_task());
                }
            }
        });
        if let Some(task) = task {
            schedule_remote(task);
        }
    }

    /// With the `trace-ignored-wakes` feature, a wake that queued nothing
    /// (the task was already scheduled, running or finished) is recorded
    /// too. Without it the hook is unset: set, it costs every ignored wake
    /// an indirect call even with tracing off (5 instructions per
    /// `yield_now`, callgrind), where unset it costs one branch. A wake
    /// during the task's own poll shows anyway, as the poll's outcome
    /// `rescheduled`.
    #[cfg(feature = "trace-ignored-wakes")]
    const WAKE_IGNORED: Option<fn(&Self, u64)> = Some(Scheduler::wake_ignored);
}

#[cfg(feature = "trace-ignored-wakes")]
impl Scheduler {
    /// A wake that queued nothing: recorded when the wake happened on the
    /// task's runtime's thread and that runtime traces.
    fn wake_ignored(&self, task: u64) {
        context::with_current(|core| {
            if let (true, Some(tracer)) = (core.owns(&self.injector), &core.tracer) {
                tracer.wake_ignored(&core.clock, task);
            }
        });
    }
}

/// The slow half of `Scheduler::schedule`: through the injector.
#[cold]
#[inline(never)]
fn schedule_remote(task: Woken<Scheduler>) {
    // Keep the injector alive by a reference of our own: if the runtime is
    // gone, the push drops the task, and with it maybe the last other
    // reference to the injector.
    let injector = task.scheduler().injector.clone();
    injector.push_task(task.into_task());
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
#[track_caller]
pub fn spawn<F>(future: F) -> JoinHandle<F::Output>
where
    F: Future + 'static,
    F::Output: 'static,
{
    spawn_at(future, None, Location::caller())
}

/// Like [`spawn`], with a name for traces and dumps (where tasks are
/// otherwise named by the line that spawned them).
///
/// # Examples
///
/// ```
/// corio_runtime::block_on(async {
///     let handle = corio_runtime::spawn_named("answer", async { 42 });
///     assert_eq!(handle.await.unwrap(), 42);
/// });
/// ```
///
/// # Panics
///
/// Panics when called outside a runtime (use [`Runtime::spawn_named`] there).
#[track_caller]
pub fn spawn_named<F>(name: &str, future: F) -> JoinHandle<F::Output>
where
    F: Future + 'static,
    F::Output: 'static,
{
    spawn_at(future, Some(name), Location::caller())
}

/// [`spawn`] for a call site given explicitly (`Handle::spawn` passes its
/// caller's, from another thread).
pub(crate) fn spawn_at<F>(
    future: F,
    name: Option<&str>,
    site: &'static Location<'static>,
) -> JoinHandle<F::Output>
where
    F: Future + 'static,
    F::Output: 'static,
{
    // Take the runtime out of the thread-local first and move the future
    // only once, into its task: passing it through `with_current`'s
    // closures cost four copies of every future (callgrind, the RPC server).
    let core = context::with_current(Rc::clone).expect(
        "corio::spawn called outside a corio runtime: call it inside `block_on`, or use `Runtime::spawn`",
    );
    spawn_on(&core, future, name, site)
}

/// Allocates the task, queues it, returns its handle.
#[inline(always)]
fn spawn_on<F>(
    core: &Core,
    future: F,
    name: Option<&str>,
    site: &'static Location<'static>,
) -> JoinHandle<F::Output>
where
    F: Future + 'static,
    F::Output: 'static,
{
    let id = core.next_task_id.get();
    core.next_task_id.set(id + 1);
    let scheduler = Scheduler { injector: core.injector.clone() };
    let (task, handle) = task::spawn(future, scheduler, id, core.tasks.as_ref());
    bump(&core.counters.tasks_spawned, 1);
    if let Some(tracer) = &core.tracer {
        tracer.spawned(id, name, site, &core.tasks);
    }
    core.run_queue.push(task);
    handle
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
    context::with_current(|core| core.stats()).expect("corio::stats called outside a corio runtime")
}

/// What every live task of the current runtime is doing and waits on; see
/// [`Dump`] and [`Runtime::dump`].
///
/// # Panics
///
/// Panics when called outside a runtime (use [`Runtime::dump`] there).
pub fn dump() -> Dump {
    context::with_current(|core| crate::dump::collect(core, true))
        .expect("corio::dump called outside a corio runtime: use Runtime::dump")
}

/// The waker of the future passed to `block_on`, which is not a task (see
/// the module docs): a flag the loop reads, and the injector to interrupt a
/// park from another thread. One per runtime, reused by every `block_on`.
struct MainWaker {
    /// The `block_on` future was woken and must be polled.
    woken: AtomicBool,
    /// It was woken from another thread (read by a traced runtime only,
    /// which records such wakes when it polls the future).
    woken_remotely: AtomicBool,
    injector: Arc<Injector>,
}

impl MainWaker {
    /// Clears the flag; whether it was set.
    fn take_woken(&self) -> bool {
        // Look before writing: most turns find it clear.
        self.woken.load(Ordering::Acquire) && self.woken.swap(false, Ordering::AcqRel)
    }

    fn is_woken(&self) -> bool {
        self.woken.load(Ordering::Acquire)
    }
}

impl Wake for MainWaker {
    fn wake(self: Arc<Self>) {
        self.wake_by_ref();
    }

    fn wake_by_ref(self: &Arc<Self>) {
        self.woken.store(true, Ordering::Release);
        // On the runtime's own thread the loop sees the flag before it
        // parks; from anywhere else, interrupt a park.
        let on_runtime_thread = context::with_current(|core| core.owns(&self.injector)).unwrap_or(false);
        if !on_runtime_thread {
            self.woken_remotely.store(true, Ordering::Release);
            self.injector.notify();
        }
    }
}

/// A single-threaded runtime: executor, reactor and timers.
///
/// Build one with [`Runtime::new`] or [`Runtime::builder`], then drive it
/// with [`block_on`](Runtime::block_on). A `Runtime` is `!Send`: it and its
/// tasks live on the thread that made it. Other threads reach it through a
/// [`Handle`](crate::Handle).
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
    /// The thread-bound state, made current by `block_on` (an `Rc`, which
    /// also makes `Runtime` `!Send`).
    core: Rc<Core>,
    /// The `block_on` future's waker.
    main: Arc<MainWaker>,
    config: Builder,
    /// A panic message to re-raise from `block_on` (abort-on-panic mode).
    panicked: RefCell<Option<String>>,
    /// Reused buffer for wakers collected from the reactor and timers, so
    /// they are woken after every borrow is released, without allocating.
    wake_buffer: RefCell<Vec<Waker>>,
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
        let _enter = Enter::new(&self.core);
        let mut future = pin!(future);
        let waker = Waker::from(self.main.clone());
        let mut cx = Context::from_waker(&waker);
        self.main.woken.store(true, Ordering::Release);
        let mut skipped_park = false;
        let tracer = self.core.tracer.as_deref();
        loop {
            if self.main.take_woken() {
                let poll = match tracer {
                    None => future.as_mut().poll(&mut cx),
                    Some(tracer) => self.poll_main_traced(tracer, future.as_mut(), &mut cx),
                };
                if let Poll::Ready(output) = poll {
                    return output;
                }
            }
            self.tick();
            if let Some(message) = self.panicked.borrow_mut().take() {
                panic!("a corio task panicked and the runtime aborts on panic: {message}");
            }
            // When the only thing ready is this future (a task it awaits has
            // just finished), poll it again at once: parking first would ask
            // the kernel for events with a zero timeout, which mostly finds
            // none (one wasted `epoll_wait` per call of a client awaiting one
            // RPC at a time). Never twice in a row, so a future that keeps
            // waking itself cannot keep I/O and timers waiting.
            let only_main_ready = self.core.run_queue.is_empty() && self.main.is_woken();
            if only_main_ready && !skipped_park {
                skipped_park = true;
                continue;
            }
            skipped_park = false;
            if let Err(error) = self.park(true) {
                panic!("corio reactor failed: {error}");
            }
        }
    }

    /// Makes this runtime current on this thread until the guard drops,
    /// without running anything: [`spawn`] then spawns onto it, and a wake
    /// of one of its tasks goes straight to its run queue. For code that
    /// drives runtimes from outside (a simulator, with
    /// [`run_until_stalled`](Runtime::run_until_stalled)).
    ///
    /// # Examples
    ///
    /// ```
    /// let rt = corio_runtime::Runtime::new().unwrap();
    /// let handle = {
    ///     let _current = rt.enter();
    ///     corio_runtime::spawn(async { 7 })
    /// };
    /// assert_eq!(rt.block_on(handle).unwrap(), 7);
    /// ```
    ///
    /// # Panics
    ///
    /// If a runtime is already current on this thread.
    pub fn enter(&self) -> EnterGuard<'_> {
        EnterGuard { _enter: Enter::new(&self.core), _runtime: std::marker::PhantomData }
    }

    /// Runs every task that is ready, and every task that becomes ready
    /// meanwhile, until none is; never blocks and never moves the clock.
    /// Returns when the next timer is due, if any timer is armed.
    ///
    /// Each turn drains what other threads queued, fires the timers due at
    /// the clock's current time, asks the reactor for I/O with a zero
    /// timeout (a call skipped when no socket is registered), then ticks.
    /// A simulator calls this on each of its nodes' runtimes in turn, moving
    /// their shared [`VirtualClock`] between calls. A task that is always
    /// ready (one that keeps waking itself) keeps this from returning.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::time::Duration;
    /// use corio_runtime::time::{sleep, VirtualClock};
    ///
    /// let clock = VirtualClock::new();
    /// let rt = corio_runtime::Runtime::builder().virtual_clock(&clock).build().unwrap();
    /// let task = rt.spawn(async { sleep(Duration::from_secs(3)).await; "woke" });
    /// let next = rt.run_until_stalled().expect("the sleep's timer");
    /// assert_eq!(next, clock.now() + Duration::from_secs(3));
    /// assert!(!task.is_finished());
    /// clock.advance_to(next); // the caller decides when time moves
    /// assert_eq!(rt.run_until_stalled(), None);
    /// assert!(task.is_finished());
    /// ```
    ///
    /// # Panics
    ///
    /// - When another runtime is current on this thread (this one, entered
    ///   with [`enter`](Runtime::enter), is fine).
    /// - With [`Builder::abort_on_panic`], when a task panics.
    /// - If the OS fails a reactor call.
    pub fn run_until_stalled(&self) -> Option<crate::time::Instant> {
        let _enter = Enter::try_new(&self.core);
        let current = context::with_current(|core| Rc::ptr_eq(core, &self.core)).unwrap_or(false);
        assert!(current, "corio: `run_until_stalled` called while another corio runtime is current");
        loop {
            if let Err(error) = self.park(false) {
                panic!("corio reactor failed: {error}");
            }
            if self.core.run_queue.is_empty() {
                break;
            }
            self.tick();
            if let Some(message) = self.panicked.borrow_mut().take() {
                panic!("a corio task panicked and the runtime aborts on panic: {message}");
            }
        }
        self.core.timers.borrow_mut().next_deadline().map(crate::time::Instant::from_std)
    }

    /// Whether no task is ready to run, here or queued from elsewhere (a
    /// wake from another thread, or from a task of another runtime on this
    /// one): after [`run_until_stalled`](Runtime::run_until_stalled), only
    /// a timer, I/O, or a wake from outside makes it false again.
    pub fn is_stalled(&self) -> bool {
        self.core.run_queue.is_empty() && !self.core.injector.has_work()
    }

    /// Spawns a task onto this runtime; it runs during `block_on`.
    #[track_caller]
    pub fn spawn<F>(&self, future: F) -> JoinHandle<F::Output>
    where
        F: Future + 'static,
        F::Output: 'static,
    {
        spawn_on(&self.core, future, None, Location::caller())
    }

    /// [`spawn`](Runtime::spawn) with a name for traces and dumps.
    #[track_caller]
    pub fn spawn_named<F>(&self, name: &str, future: F) -> JoinHandle<F::Output>
    where
        F: Future + 'static,
        F::Output: 'static,
    {
        spawn_on(&self.core, future, Some(name), Location::caller())
    }

    /// A snapshot of this runtime's counters.
    pub fn stats(&self) -> Stats {
        self.core.stats()
    }

    /// What every live task is doing, and what it waits on: see [`Dump`].
    ///
    /// Without [`Builder::track_tasks`] it lists ids, states,
    /// and the sockets, timers and `JoinHandle`s tasks wait on; with it,
    /// also names, polls, the time since each task's last poll, and waits
    /// on `corio::sync` primitives.
    pub fn dump(&self) -> Dump {
        let inside = context::with_current(|core| Rc::ptr_eq(core, &self.core)).unwrap_or(false);
        crate::dump::collect(&self.core, inside)
    }

    /// The trace recorded so far, as a Chrome trace-event JSON document of
    /// this runtime alone (`None` if it records no trace: see
    /// [`Builder::trace`]).
    pub fn trace_json(&self) -> Option<String> {
        let tracer = self.core.tracer.as_deref()?;
        tracer.ring()?;
        Some(json::document([&json::chunk(tracer)]))
    }

    /// Writes the trace recorded so far to the runtime's trace file now
    /// (dropping the runtime does it too), together with what other
    /// runtimes of this process wrote to the same file.
    ///
    /// # Errors
    ///
    /// The file cannot be written (the error names it), or the runtime
    /// records no trace to a file.
    pub fn write_trace(&self) -> io::Result<()> {
        let tracer = self.core.tracer.as_deref();
        match tracer.and_then(|tracer| Some((tracer, tracer.path()?))) {
            Some((tracer, path)) => file::write(path, json::chunk(tracer)),
            None => Err(io::Error::other(
                "corio: this runtime records no trace to a file (see Builder::trace and CORIO_TRACE)",
            )),
        }
    }

    /// The injector, for `Handle`.
    pub(crate) fn injector(&self) -> &Arc<Injector> {
        &self.core.injector
    }

    /// Polls up to `budget` queued tasks, once each: first in, first out,
    /// or drawn from the seed (`Builder::seeded_order`). Chosen here, once
    /// per tick, so the FIFO path pays nothing per task for the other.
    fn tick(&self) {
        // One branch per tick, not per poll: a traced runtime ticks in a
        // loop of its own.
        if let Some(tracer) = self.core.tracer.as_deref() {
            return self.tick_traced(tracer);
        }
        if self.core.run_queue.is_seeded() {
            self.tick_with(RunQueue::pop_drawn);
        } else {
            self.tick_with(RunQueue::pop);
        }
    }

    #[inline(always)]
    fn tick_with(&self, pop: impl Fn(&RunQueue) -> Option<task::Task>) {
        let core = &*self.core;
        for _ in 0..self.config.budget {
            let Some(task) = pop(&core.run_queue) else {
                return;
            };
            bump(&core.counters.polls, 1);
            if !self.finish_poll(task.run()) {
                return;
            }
        }
    }

    /// The tick's bookkeeping after a poll; `false` ends the tick (a task
    /// panicked and the runtime aborts on panic).
    #[inline(always)]
    fn finish_poll(&self, outcome: RunOutcome) -> bool {
        let core = &*self.core;
        match outcome {
            RunOutcome::Pending | RunOutcome::Skipped => {}
            RunOutcome::Reschedule(task) => {
                bump(&core.counters.wakes_local, 1);
                core.run_queue.push(task);
            }
            RunOutcome::Completed => bump(&core.counters.tasks_completed, 1),
            RunOutcome::Panicked(message) => {
                bump(&core.counters.tasks_completed, 1);
                bump(&core.counters.tasks_panicked, 1);
                if self.config.abort_on_panic {
                    *self.panicked.borrow_mut() = Some(*message);
                    return false;
                }
            }
        }
        true
    }

    /// Moves work queued by other threads onto this thread, and frees the
    /// timers of `Sleep`s dropped elsewhere.
    fn drain_injector(&self) {
        let core = &*self.core;
        let tracer = core.tracer.as_deref();
        let before = tracer.map(|tracer| {
            tracer.set_cause(Cause::Remote);
            self.queued()
        });
        // Reset first: a push after this point will notify again.
        core.injector.clear_notified();
        let mut remote = 0;
        while let Some(task) = core.injector.pop_task() {
            remote += 1;
            core.run_queue.push(task);
        }
        bump(&core.counters.wakes_remote, remote);
        while let Some(request) = core.injector.pop_spawn() {
            request();
        }
        core.free_cancelled_timers();
        if let (Some(tracer), Some(before)) = (tracer, before) {
            self.record_wakes(tracer, before);
            tracer.set_cause(Cause::Unknown);
        }
    }

    fn has_ready_work(&self) -> bool {
        !self.core.run_queue.is_empty() || self.main.is_woken()
    }

    /// Parks the thread: waits for I/O and timers if nothing is ready (and
    /// `may_wait`), then wakes what they name. Without `may_wait` it turns
    /// as if work were ready: zero timeout, and a virtual clock stays put.
    fn park(&self, may_wait: bool) -> io::Result<()> {
        let core = &*self.core;
        let tracer = core.tracer.as_deref();
        if let Some(tracer) = tracer {
            tracer.park_start(&core.clock);
        }
        self.drain_injector();
        let ready = !may_wait || self.has_ready_work();
        let deadline = core.timers.borrow_mut().next_deadline();
        let mut wakers = std::mem::take(&mut *self.wake_buffer.borrow_mut());
        let mut origins = tracer.map(Tracer::take_origins);

        let wait = match (ready, deadline) {
            (true, _) => Wait::Zero,
            // Virtual time: look for ready I/O first; only an idle runtime
            // may jump the clock.
            (false, Some(_)) if core.clock.is_virtual() => Wait::Zero,
            (false, Some(deadline)) => Wait::Until(deadline),
            (false, None) => Wait::Forever,
        };
        if let Some(tracer) = tracer {
            tracer.reactor_start(&core.clock, wait.until());
        }
        let turn = match self.spin(wait, deadline, &mut wakers, origins.as_mut())? {
            Some(turn) => turn,
            None => {
                bump(&core.counters.reactor_turns, 1);
                core.reactor.poll(wait, &mut wakers, origins.as_mut())?
            }
        };
        if let Some(tracer) = tracer {
            tracer.reactor_end(&core.clock, turn.all_events);
        }
        bump(&core.counters.io_events, turn.io_events as u64);
        let events = turn.all_events;

        if let (false, Some(deadline), 0) = (ready, deadline, events) {
            if core.clock.is_virtual() {
                core.clock.advance_to(deadline);
            }
        }
        let fired = core.timers.borrow_mut().fire_expired(core.clock.now(), &mut wakers, origins.as_mut());
        bump(&core.counters.timers_fired, fired as u64);

        match (tracer, origins) {
            (Some(tracer), Some(origins)) => self.wake_traced(tracer, &mut wakers, origins),
            _ => {
                for waker in wakers.drain(..) {
                    waker.wake();
                }
            }
        }
        *self.wake_buffer.borrow_mut() = wakers;
        if let Some(tracer) = tracer {
            tracer.park_end(&core.clock);
        }
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
        mut origins: Option<&mut Vec<Origin>>,
    ) -> io::Result<Option<Turn>> {
        let core = &*self.core;
        let spin = self.config.spin_before_park;
        if spin.is_zero() || matches!(wait, Wait::Zero) {
            return Ok(None);
        }
        let started = Instant::now();
        loop {
            let turn = core.reactor.poll(Wait::Zero, wakers, origins.as_deref_mut())?;
            bump(&core.counters.reactor_turns, 1);
            if turn.all_events > 0 || !wakers.is_empty() {
                return Ok(Some(turn));
            }
            // Wakes and spawns from other threads also arrive through the
            // injector, which the reactor does not see without sources.
            self.drain_injector();
            if self.has_ready_work() {
                return Ok(Some(turn));
            }
            let timer_due = deadline.is_some_and(|deadline| core.clock.now() >= deadline);
            if timer_due || started.elapsed() >= spin {
                return Ok(None);
            }
            std::hint::spin_loop();
        }
    }
}

impl Drop for Runtime {
    fn drop(&mut self) {
        // Make this runtime current so destructors that spawn or touch timers
        // find it (and their spawns get cancelled below too).
        let _enter = Enter::try_new(&self.core);
        let core = &*self.core;
        // Close the injector first: from now on nothing from another thread
        // (a wake, a spawn) gets in. Once is enough; see `Injector::close`.
        core.injector.close();
        task::cancel_all(&core.tasks);
        // Queue entries of cancelled tasks: dropping them only releases references.
        drop(core.run_queue.take_all());
        core.timers.borrow_mut().clear();
        if let Some(path) = core.tracer.as_deref().and_then(Tracer::path) {
            if let Err(error) = self.write_trace() {
                eprintln!("{error}");
            } else if std::env::var_os("CORIO_TRACE_QUIET").is_none() {
                eprintln!("corio: trace written to {} (open it in https://ui.perfetto.dev)", path.display());
            }
        }
    }
}

impl fmt::Debug for Runtime {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Runtime").field("stats", &self.stats()).finish_non_exhaustive()
    }
}

/// Keeps a runtime current until dropped: see [`Runtime::enter`].
#[derive(Debug)]
pub struct EnterGuard<'a> {
    _enter: Enter,
    /// Borrows the runtime (which also makes the guard `!Send`).
    _runtime: std::marker::PhantomData<&'a Runtime>,
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
    clock: Option<VirtualClock>,
    seeded_order: Option<u64>,
    track_tasks: bool,
    trace_path: Option<PathBuf>,
    /// Set: record a trace of at most this many events.
    trace_capacity: Option<usize>,
}

impl Default for Builder {
    fn default() -> Builder {
        Builder {
            budget: DEFAULT_BUDGET,
            abort_on_panic: false,
            virtual_time: false,
            events: DEFAULT_EVENTS,
            spin_before_park: Duration::ZERO,
            clock: None,
            seeded_order: None,
            track_tasks: false,
            trace_path: None,
            trace_capacity: None,
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

    /// Read time from `clock`, a virtual clock other runtimes may share
    /// (implies [`virtual_time`](Builder::virtual_time)). See
    /// [`VirtualClock`].
    pub fn virtual_clock(mut self, clock: &VirtualClock) -> Builder {
        self.clock = Some(clock.clone());
        self.virtual_time = true;
        self
    }

    /// Run ready tasks in an order drawn from `seed` instead of first in,
    /// first out: each time the executor takes the next task, it takes one
    /// chosen among all ready tasks by a generator started from `seed`.
    /// The same seed (and the same program, wakes and time) gives the same
    /// order, so a deterministic simulation explores a different
    /// interleaving per seed and replays any of them.
    ///
    /// The fairness of the FIFO becomes a probability: an always-ready task
    /// is still picked, just not in turn. A runtime built without it pays
    /// one predictable branch per task taken (`run_queue.rs`).
    ///
    /// # Examples
    ///
    /// ```
    /// use std::cell::RefCell;
    /// use std::rc::Rc;
    ///
    /// let order = |seed| {
    ///     let rt = corio_runtime::Runtime::builder().seeded_order(seed).build().unwrap();
    ///     let seen = Rc::new(RefCell::new(Vec::new()));
    ///     for i in 0..8 {
    ///         let seen = seen.clone();
    ///         rt.spawn(async move { seen.borrow_mut().push(i) });
    ///     }
    ///     rt.run_until_stalled();
    ///     seen.take()
    /// };
    /// assert_eq!(order(7), order(7)); // replayable
    /// assert_ne!(order(7), (0..8).collect::<Vec<_>>()); // not FIFO (for this seed)
    /// ```
    pub fn seeded_order(mut self, seed: u64) -> Builder {
        self.seeded_order = Some(seed);
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

    /// Keep, for every task, its name or spawn site, its number of polls,
    /// the time of its last poll and which `corio::sync` primitive it waits
    /// on, and label sockets with their addresses: what
    /// [`Runtime::dump`] shows beyond ids, states and waits on sockets,
    /// timers and `JoinHandle`s (default: off; a trace does not turn it
    /// on: combine the two for both).
    ///
    /// The cost is a hash-table update per spawn and per poll.
    pub fn track_tasks(mut self, enabled: bool) -> Builder {
        self.track_tasks = enabled;
        self
    }

    /// Record a trace (see the [`trace`](crate::trace) module) and write it
    /// to `path` when the runtime is dropped, or on [`Runtime::write_trace`].
    /// Runtimes of one process tracing to the same path share the file.
    ///
    /// Without this, the environment variable `CORIO_TRACE`, if set to a
    /// path, does the same.
    ///
    /// # Errors
    ///
    /// [`build`](Builder::build) fails if the file cannot be created or
    /// opened for writing (the error names the file).
    pub fn trace(mut self, path: impl Into<PathBuf>) -> Builder {
        self.trace_path = Some(path.into());
        self.trace_capacity.get_or_insert(DEFAULT_TRACE_CAPACITY);
        self
    }

    /// Record a trace of at most `events` events: the oldest are forgotten
    /// first (default with a trace: 1,048,576). Without a
    /// [`trace`](Builder::trace) path the trace stays in memory, for
    /// [`Runtime::trace_json`].
    pub fn trace_capacity(mut self, events: usize) -> Builder {
        self.trace_capacity = Some(events.max(1));
        self
    }

    /// Builds the runtime.
    ///
    /// # Errors
    ///
    /// Fails if the OS refuses an epoll instance, eventfd or timerfd.
    pub fn build(mut self) -> io::Result<Runtime> {
        if self.virtual_time {
            // Spinning waits for real time to pass; a virtual clock jumps.
            self.spin_before_park = Duration::ZERO;
        }
        if self.trace_path.is_none() {
            if let Some(path) = std::env::var_os(TRACE_VARIABLE).filter(|path| !path.is_empty()) {
                self = self.trace(PathBuf::from(path));
            }
        }
        if let Some(path) = &self.trace_path {
            file::check_writable(path)?;
        }
        let tracer = (self.track_tasks || self.trace_capacity.is_some()).then(|| {
            Box::new(Tracer::new(
                self.virtual_time,
                self.track_tasks,
                self.trace_capacity,
                self.trace_path.clone(),
            ))
        });
        let reactor = Reactor::new(self.events, !self.virtual_time)?;
        if tracer.is_some() {
            reactor.keep_labels();
        }
        let injector = Arc::new(Injector::new(reactor.new_waker()?));
        let clock = match (&self.clock, self.virtual_time) {
            (Some(shared), _) => Clock::new_virtual(shared.0.clone()),
            (None, true) => Clock::new_virtual(VirtualClock::new().0),
            (None, false) => Clock::new_real(),
        };
        let main = Arc::new(MainWaker {
            woken: AtomicBool::new(false),
            woken_remotely: AtomicBool::new(false),
            injector: injector.clone(),
        });
        let core = Core {
            injector: injector.clone(),
            run_queue: RunQueue::with_capacity(256, self.seeded_order),
            tasks: Box::pin(TaskList::new()),
            next_task_id: Cell::new(1),
            reactor: Rc::new(reactor),
            timers: RefCell::new(Timers::new()),
            clock,
            counters: Counters::default(),
            tracer,
            main_waker: Arc::as_ptr(&main).cast(),
        };
        Ok(Runtime {
            core: Rc::new(core),
            main,
            config: self,
            panicked: RefCell::new(None),
            wake_buffer: RefCell::new(Vec::new()),
        })
    }
}
