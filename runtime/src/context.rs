//! The current runtime: the one thread-local.
//!
//! A runtime's thread-bound state is a [`Core`]: its run queue, its list of
//! live tasks, its reactor, its timers and clock, its counters, and the
//! `Arc` of its [`Injector`] (the part other threads reach). `block_on`
//! makes its runtime's core *current* for as long as it runs (and so does
//! shutdown), by putting an `Rc<Core>` in this file's thread-local; it is
//! taken out again when `block_on` returns. There is no global runtime.
//!
//! Every layer above reads the runtime through here, and nothing else
//! holds a thread-local: [`spawn`](crate::spawn) pushes on the current run
//! queue, `IoSource::new` registers with the current reactor, `Sleep` arms a
//! timer in the current timer heap and `Instant::now` reads the current
//! clock, and the executor's scheduler asks whether a wake happens on the
//! thread of the runtime the woken task belongs to (then it goes on the
//! local run queue, else through the injector).
//!
//! Next stop: the I/O source (`reactor.rs`) and the time API (`time/`),
//! which reach their drivers through here; then `executor.rs`.

use std::cell::{Cell, RefCell};
use std::mem::ManuallyDrop;
use std::pin::Pin;
use std::rc::Rc;
use std::sync::Arc;

use crate::driver::clock::Clock;
use crate::driver::reactor::Reactor;
use crate::driver::timers::Timers;
use crate::injector::Injector;
use crate::run_queue::RunQueue;
use crate::stats::{Counters, Stats};
use crate::task::TaskList;
use crate::trace::tracer::Tracer;

/// The thread-bound state of one runtime, as every layer sees it.
pub(crate) struct Core {
    /// The half other threads can reach (remote wakes, spawns, timer drops).
    pub(crate) injector: Arc<Injector>,
    /// Tasks ready to be polled, FIFO.
    pub(crate) run_queue: RunQueue,
    /// Every unfinished task, for shutdown.
    /// Pinned: linked tasks point back at it.
    pub(crate) tasks: Pin<Box<TaskList>>,
    /// Id of the next spawned task.
    pub(crate) next_task_id: Cell<u64>,
    /// I/O readiness (mio). An `Rc` so each `IoSource` can deregister
    /// itself on drop, with or without a current runtime.
    pub(crate) reactor: Rc<Reactor>,
    /// Pending timers.
    pub(crate) timers: RefCell<Timers>,
    /// Real or virtual time.
    pub(crate) clock: Clock,
    /// What `Stats` reports.
    pub(crate) counters: Counters,
    /// Task details and the trace, when asked for (`Builder::track_tasks`,
    /// `Builder::trace`); `None` costs each event site one branch.
    pub(crate) tracer: Option<Box<Tracer>>,
    /// The data pointer of the `block_on` future's waker, which names it
    /// in a dump (see `waker::wakes`).
    pub(crate) main_waker: *const (),
}

impl Core {
    /// Whether `injector` is this runtime's: identifies a runtime.
    pub(crate) fn owns(&self, injector: &Injector) -> bool {
        std::ptr::eq(Arc::as_ptr(&self.injector), injector)
    }

    /// Frees the timers whose `Sleep` was dropped away from `block_on`.
    pub(crate) fn free_cancelled_timers(&self) {
        while let Some(key) = self.injector.pop_cancelled_timer() {
            self.timers.borrow_mut().cancel(key);
        }
    }

    /// A snapshot of the counters.
    pub(crate) fn stats(&self) -> Stats {
        self.counters.snapshot(self.tasks.len())
    }
}

/// Notes, for the task being polled, what it is about to wait on: a
/// `corio::sync` primitive names itself here before returning `Pending`, so
/// that a dump can say so (their wakers sit where only they can see them).
/// Without task details, one branch.
pub(crate) fn note_wait(what: &'static str) {
    with_current(|core| {
        if let Some(tracer) = &core.tracer {
            tracer.note_wait(what);
        }
    });
}

thread_local! {
    /// The runtime whose `block_on` is running on this thread, if any.
    ///
    /// `ManuallyDrop` because only `Enter` puts a runtime here, and its
    /// destructor takes it out again: nothing is left for a thread-exit
    /// destructor to drop. A type without drop glue also makes every access
    /// a plain load, with no "is this thread-local alive" check: this is
    /// read on every wake.
    static CURRENT: RefCell<ManuallyDrop<Option<Rc<Core>>>> = const { RefCell::new(ManuallyDrop::new(None)) };
}

/// Runs `f` with the current runtime, or returns `None` outside one.
#[inline(always)]
pub(crate) fn with_current<R>(f: impl FnOnce(&Rc<Core>) -> R) -> Option<R> {
    // `try_with` cannot fail here (no destructor), and unlike `with` it is
    // always inlined.
    CURRENT.try_with(|current| current.borrow().as_ref().map(f)).ok().flatten()
}

/// Makes a runtime current for as long as the guard lives.
#[derive(Debug)]
pub(crate) struct Enter(());

impl Enter {
    /// Makes `core` current.
    ///
    /// # Panics
    ///
    /// If a runtime is already current: a task called `block_on`.
    pub(crate) fn new(core: &Rc<Core>) -> Enter {
        CURRENT.with(|current| {
            let mut current = current.borrow_mut();
            if current.is_some() {
                panic!(
                    "corio: `block_on` called from inside a corio runtime. A task must not block the thread \
                     that runs every other task: `.await` the future instead, or `corio::spawn` it and \
                     `.await` its JoinHandle."
                );
            }
            **current = Some(core.clone());
        });
        core.free_cancelled_timers();
        Enter(())
    }

    /// Like `new`, but does nothing (returns `None`) if a runtime is
    /// already current.
    pub(crate) fn try_new(core: &Rc<Core>) -> Option<Enter> {
        CURRENT.with(|current| {
            let mut current = current.try_borrow_mut().ok()?;
            if current.is_some() {
                return None;
            }
            **current = Some(core.clone());
            Some(Enter(()))
        })
    }
}

impl Drop for Enter {
    fn drop(&mut self) {
        // Out of the thread-local first, then dropped: the runtime's drop may
        // run destructors that look for the current runtime.
        let core = CURRENT.with(|current| current.borrow_mut().take());
        drop(core);
    }
}
