//! [`Tracer`]: what a runtime records about its tasks, when asked to.
//!
//! Two things, each chosen when the runtime is built (either or both):
//!
//! - **task details** (`Builder::track_tasks`): for every live task a
//!   [`Record`] with its name or spawn site, its polls, the time of its
//!   last poll and, when a `corio::sync` primitive said so, what it waits
//!   on. `Runtime::dump` reads them.
//! - **a trace** (`Builder::trace`, `CORIO_TRACE`): every spawn, poll,
//!   wake, park and reactor event in a bounded [`Ring`], and each task's
//!   name, written out in the Chrome trace-event format (`json.rs`). It
//!   keeps no record per task: a trace costs about half as much without
//!   (callgrind).
//!
//! The executor calls the hooks below at its seams (`executor.rs`, each
//! behind one `if let Some(tracer)`); the tracer keeps, in `cause`, what
//! the runtime is doing right now (polling a task, waking what a socket's
//! readiness named, draining other threads' wakes), which is how a wake
//! knows who caused it without the waker carrying anything.

use std::cell::{Cell, RefCell};
use std::collections::HashMap;
use std::panic::Location;
use std::path::PathBuf;
use std::rc::Rc;
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::OnceLock;
use std::time::Instant;

use super::event::{Cause, Event, Lane, Name, Outcome, Ring, Timeout, What, MAIN};
use super::records::{Record, Records};
use crate::driver::clock::Clock;
use crate::driver::Origin;
use crate::task::TaskList;

/// Records for tasks and traces; see the module docs.
#[derive(Debug)]
pub(crate) struct Tracer {
    /// This runtime's number in the process (from 1): the trace's `pid`.
    runtime: u32,
    /// The thread that built the runtime, for the trace's process name.
    thread: String,
    virtual_time: bool,
    /// The last clock reading: when a poll that starts right after the
    /// previous one began, for its record.
    last_read: Cell<Instant>,
    /// What the runtime is doing now: whoever wakes or spawns was caused by it.
    cause: Cell<Cause>,
    /// With task details: live tasks by id, and the `block_on` future
    /// under [`MAIN`].
    records: Option<RefCell<Records>>,
    /// Past this many records, look for tasks that ended unseen (aborted
    /// while idle) and forget them.
    sweep_at: Cell<usize>,
    /// The trace, when one is recorded.
    ring: Option<RefCell<Ring>>,
    /// With a trace: the name of every task spawned, oldest first; trimmed
    /// to the last `capacity` spawns and the tasks still alive, so every
    /// task with an event still in the ring is named (a task's spawn comes
    /// before all its other events).
    names: RefCell<Vec<(u64, Name)>>,
    /// Trim `names` when it holds this many: `capacity` spawns after the
    /// last trim (plus some slack), however many it kept for live tasks.
    trim_at: Cell<usize>,
    /// Labels of the sockets that had readiness events (a bounded cache:
    /// cleared when it grows past `LABELS`).
    labels: RefCell<HashMap<u64, Rc<str>>>,
    /// Reused buffer for the drivers' origins during a park.
    origins: RefCell<Vec<Origin>>,
    /// Where the trace goes when the runtime is dropped.
    path: Option<PathBuf>,
}

/// Where every runtime's timestamps count from: the first tracer's birth,
/// so several runtimes of one process share one time axis.
fn epoch() -> Instant {
    static EPOCH: OnceLock<Instant> = OnceLock::new();
    *EPOCH.get_or_init(Instant::now)
}

/// Nanoseconds from the trace epoch to `at`.
pub(crate) fn nanos(at: Instant) -> u64 {
    at.saturating_duration_since(epoch()).as_nanos() as u64
}

impl Tracer {
    /// A tracer keeping task details if `track`, and with `trace_capacity`
    /// a trace of that many events, written to `path` if given.
    pub(crate) fn new(
        virtual_time: bool,
        track: bool,
        trace_capacity: Option<usize>,
        path: Option<PathBuf>,
    ) -> Tracer {
        static RUNTIMES: AtomicU32 = AtomicU32::new(1);
        epoch();
        let records = track.then(|| {
            RefCell::new(Records::new(Record {
                name: Name::Given(Rc::from("block_on")),
                polls: 0,
                last_poll: None,
                waits: None,
            }))
        });
        Tracer {
            runtime: RUNTIMES.fetch_add(1, Ordering::Relaxed),
            thread: std::thread::current().name().unwrap_or("unnamed").to_owned(),
            virtual_time,
            last_read: Cell::new(Instant::now()),
            cause: Cell::new(Cause::Unknown),
            records,
            sweep_at: Cell::new(64),
            ring: trace_capacity.map(|capacity| RefCell::new(Ring::new(capacity))),
            names: RefCell::new(Vec::new()),
            trim_at: Cell::new(trace_capacity.map_or(0, |capacity| 2 * capacity.max(1) + 64)),
            labels: RefCell::new(HashMap::new()),
            origins: RefCell::new(Vec::new()),
            path,
        }
    }

    /// This runtime's number in the process: the trace's `pid`.
    pub(crate) fn runtime(&self) -> u32 {
        self.runtime
    }

    pub(crate) fn thread(&self) -> &str {
        &self.thread
    }

    pub(crate) fn path(&self) -> Option<&PathBuf> {
        self.path.as_ref()
    }

    pub(crate) fn ring(&self) -> Option<&RefCell<Ring>> {
        self.ring.as_ref()
    }

    /// The task records, with task details.
    pub(crate) fn records(&self) -> Option<std::cell::Ref<'_, Records>> {
        self.records.as_ref().map(RefCell::borrow)
    }

    /// The names of the tasks a trace may name.
    pub(crate) fn names(&self) -> std::cell::Ref<'_, Vec<(u64, Name)>> {
        self.names.borrow()
    }

    /// The label of a socket that had a readiness event, if known.
    pub(crate) fn label(&self, token: u64) -> Option<Rc<str>> {
        self.labels.borrow().get(&token).cloned()
    }

    /// The time now: with a trace on a real clock, a fresh reading; else
    /// the runtime clock's last reading (a virtual clock's time, or a real
    /// one read at every park: enough for "last polled 3 s ago" in a dump,
    /// and it costs task details no clock read per poll).
    pub(crate) fn now(&self, clock: &Clock) -> Instant {
        let now =
            if self.virtual_time || self.ring.is_none() { clock.last_reading() } else { Instant::now() };
        self.last_read.set(now);
        now
    }

    /// Records `what` at the time now, if a trace is kept.
    fn record(&self, clock: &Clock, what: What) {
        if let Some(ring) = &self.ring {
            let at = Some(self.now(clock));
            ring.borrow_mut().push(Event { at, what });
        }
    }

    /// Records `what` right after the previous event, without reading the
    /// clock: for what a poll or a park did, recorded in order when it
    /// returns (the spawns and wakes of a poll, the readiness events of a
    /// reactor turn).
    fn record_next(&self, what: What) {
        if let Some(ring) = &self.ring {
            ring.borrow_mut().push(Event { at: None, what });
        }
    }

    /// Sets what the runtime is doing (and so what caused the next wakes).
    pub(crate) fn set_cause(&self, cause: Cause) {
        self.cause.set(cause);
    }

    /// A task was spawned (and is already linked into `tasks`): its record,
    /// and its name for the trace. The trace's spawn event is recorded with
    /// the spawning poll's wakes ([`Tracer::spawn`]).
    pub(crate) fn spawned(
        &self,
        task: u64,
        name: Option<&str>,
        site: &'static Location<'static>,
        tasks: &TaskList,
    ) {
        let name = match name {
            Some(name) => Name::Given(Rc::from(name)),
            None => Name::Site(site),
        };
        if let Some(ring) = &self.ring {
            let mut names = self.names.borrow_mut();
            names.push((task, name.clone()));
            if names.len() >= self.trim_at.get() {
                let capacity = ring.borrow().capacity();
                Self::trim_names(&mut names, capacity, tasks);
                self.trim_at.set(names.len() + capacity + 64);
            }
        }
        if let Some(records) = &self.records {
            let mut records = records.borrow_mut();
            records.insert(task, Record { name, polls: 0, last_poll: None, waits: None });
            if records.len() > self.sweep_at.get() {
                self.sweep(&mut records, tasks);
            }
        }
    }

    /// Keeps the names of the last `capacity` spawns (each has at most its
    /// spawn event in the ring, and every event after it) and of the tasks
    /// still alive. Amortised: runs once per `capacity` spawns, even when
    /// more tasks than that are alive (a threshold fixed at twice the
    /// capacity made every spawn trim then).
    ///
    /// Task ids are handed out in spawn order and each name is logged as
    /// its task is spawned, so `names` is in ascending id order; so is the
    /// list of live tasks once sorted (it is already: tasks are linked in
    /// spawn order). One walk along both finds which old names to keep,
    /// without hashing each id: at the default capacity this runs over a
    /// million names.
    #[cold]
    fn trim_names(names: &mut Vec<(u64, Name)>, capacity: usize, tasks: &TaskList) {
        let mut live: Vec<u64> = tasks.inspect(|_| ()).iter().map(|task| task.id).collect();
        live.sort_unstable();
        let mut live = live.into_iter().peekable();
        let recent = names.len() - capacity;
        let mut index = 0;
        names.retain(|(id, _)| {
            index += 1;
            while live.next_if(|live| live < id).is_some() {}
            index > recent || live.peek() == Some(id)
        });
    }

    /// Forgets the records of tasks that ended without a final poll (aborted
    /// while idle, which the executor does not see). Amortised: runs when
    /// the records have doubled since the last sweep.
    #[cold]
    fn sweep(&self, records: &mut Records, tasks: &TaskList) {
        let live: std::collections::HashSet<u64> = tasks.inspect(|_| ()).iter().map(|task| task.id).collect();
        for id in records.ids() {
            if !live.contains(&id) {
                records.remove(id);
            }
        }
        self.sweep_at.set(2 * records.len() + 64);
    }

    /// Records that what the runtime is doing spawned `task`.
    pub(crate) fn spawn(&self, task: u64) {
        self.record_next(What::Spawn { task, by: self.cause.get() });
    }

    /// A poll of `lane` begins. `fresh`: read the clock; else it begins
    /// right after the previous event (the previous poll's end, in a tick:
    /// only a pop from the run queue lies between them).
    pub(crate) fn poll_start(&self, clock: &Clock, lane: Lane, fresh: bool) {
        self.cause.set(Cause::Poll(lane));
        let at = if fresh || self.ring.is_none() { Some(self.now(clock)) } else { None };
        if let Some(records) = &self.records {
            if let Some(record) = records.borrow_mut().get_mut(lane) {
                record.polls += 1;
                record.last_poll = Some(at.unwrap_or_else(|| self.last_read.get()));
                record.waits = None;
            }
        }
        if let Some(ring) = &self.ring {
            ring.borrow_mut().push(Event { at, what: What::PollStart { lane } });
        }
    }

    /// The poll of `lane` ended.
    pub(crate) fn poll_end(&self, clock: &Clock, lane: Lane, outcome: Outcome) {
        self.cause.set(Cause::Unknown);
        if let (true, Some(records)) = (outcome.is_final() && lane != MAIN, &self.records) {
            records.borrow_mut().remove(lane);
        }
        self.record(clock, What::PollEnd { lane, outcome });
    }

    /// A wake queued `lane` (or set the `block_on` future's flag): recorded
    /// in order, when the poll or park that caused it returns.
    pub(crate) fn woken(&self, lane: Lane) {
        self.record_next(What::Wake { lane, by: self.cause.get() });
    }

    /// Another thread woke the `block_on` future (its waker sets a flag,
    /// leaving no queue entry to find): recorded when the flag is read.
    pub(crate) fn woken_remotely(&self, clock: &Clock, lane: Lane) {
        self.record(clock, What::Wake { lane, by: Cause::Remote });
    }

    /// A wake found `lane` already scheduled, running or finished.
    #[cfg_attr(not(feature = "trace-ignored-wakes"), allow(dead_code))]
    pub(crate) fn wake_ignored(&self, clock: &Clock, lane: Lane) {
        self.record(clock, What::WakeIgnored { lane, by: self.cause.get() });
    }

    /// A `corio::sync` primitive is about to return `Pending` for the task
    /// being polled: remember what it waits on, for the dump.
    pub(crate) fn note_wait(&self, what: &'static str) {
        if let Cause::Poll(lane) = self.cause.get() {
            if let Some(records) = &self.records {
                if let Some(record) = records.borrow_mut().get_mut(lane) {
                    record.waits = Some(what);
                }
            }
        }
    }

    pub(crate) fn park_start(&self, clock: &Clock) {
        self.record(clock, What::ParkStart);
    }

    pub(crate) fn park_end(&self, clock: &Clock) {
        self.cause.set(Cause::Unknown);
        self.record(clock, What::ParkEnd);
    }

    pub(crate) fn reactor_start(&self, clock: &Clock, timeout: Option<Option<Instant>>) {
        let timeout = match timeout {
            Some(Some(until)) => Timeout::Until(nanos(until)),
            Some(None) => Timeout::Forever,
            None => Timeout::Zero,
        };
        self.record(clock, What::ReactorStart { timeout });
    }

    pub(crate) fn reactor_end(&self, clock: &Clock, events: usize) {
        self.record(clock, What::ReactorEnd { events: events.min(u32::MAX as usize) as u32 });
    }

    /// The drivers' origins buffer, to fill during a park.
    pub(crate) fn take_origins(&self) -> Vec<Origin> {
        std::mem::take(&mut *self.origins.borrow_mut())
    }

    /// Gives the buffer back, emptied.
    pub(crate) fn put_origins(&self, mut origins: Vec<Origin>) {
        origins.clear();
        *self.origins.borrow_mut() = origins;
    }

    /// Records a readiness event; later wakes are caused by it. `label`
    /// (the source's, if it has one) is looked up only for a token not seen
    /// before.
    pub(crate) fn io_ready(&self, token: u64, ready: u8, label: impl FnOnce() -> Option<Rc<str>>) {
        const LABELS: usize = 4096;
        self.cause.set(Cause::Io(token));
        if self.ring.is_some() {
            let mut labels = self.labels.borrow_mut();
            if !labels.contains_key(&token) {
                if labels.len() >= LABELS {
                    labels.clear();
                }
                if let Some(label) = label() {
                    labels.insert(token, label);
                }
            }
        }
        self.record_next(What::IoReady { token, ready });
    }

    /// Records a fired timer; later wakes are caused by it. Reads the
    /// clock: how late a timer fires is worth knowing (and a virtual clock
    /// has just jumped).
    pub(crate) fn timer_fired(&self, clock: &Clock, deadline: Instant) {
        let deadline = nanos(deadline);
        self.cause.set(Cause::Timer(deadline));
        self.record(clock, What::TimerFired { deadline });
    }
}
