//! The task dump's types: [`Dump`], one [`TaskDump`] per live task, and
//! [`WaitsOn`], what a task waits on. `dump.rs` (beside `executor.rs`)
//! fills them in from the task list, the reactor, the timers and the
//! tracer's records; these types use only `std`, so this layer stays below
//! the context and the time API.

use std::fmt;
use std::time::{Duration, Instant};

/// What every live task of a runtime is doing, from
/// [`Runtime::dump`](crate::Runtime::dump) or [`dump`](crate::dump).
///
/// Printing it (`{}`) gives a table, one task per line, oldest first.
///
/// # Examples
///
/// ```
/// use std::time::Duration;
///
/// let rt = corio_runtime::Runtime::builder().virtual_time(true).track_tasks(true).build().unwrap();
/// rt.block_on(async {
///     let sleeper = corio_runtime::spawn_named("sleeper", corio_runtime::time::sleep(Duration::from_secs(5)));
///     corio_runtime::task::yield_now().await; // let it start and arm its timer
///     let dump = corio_runtime::dump();
///     println!("{dump}");
///     let task = &dump.tasks()[0];
///     assert_eq!(task.name.as_deref(), Some("sleeper"));
///     assert!(matches!(task.waits_on[0], corio_runtime::trace::WaitsOn::Timer { .. }));
///     sleeper.await.unwrap();
/// });
/// ```
#[derive(Debug, Clone)]
pub struct Dump {
    pub(crate) block_on: Option<TaskDump>,
    pub(crate) tasks: Vec<TaskDump>,
    /// Names, polls and sync waits were recorded (`Builder::track_tasks`).
    pub(crate) details: bool,
}

impl Dump {
    /// Every live task, oldest first.
    pub fn tasks(&self) -> &[TaskDump] {
        &self.tasks
    }

    /// The task with this id, if it is alive.
    pub fn task(&self, id: u64) -> Option<&TaskDump> {
        self.tasks.iter().find(|task| task.id == id)
    }

    /// The future passed to `block_on` (not a task, id 0), when the dump
    /// was taken while it runs.
    pub fn block_on(&self) -> Option<&TaskDump> {
        self.block_on.as_ref()
    }

    /// Whether the runtime kept names, polls and sync waits
    /// ([`track_tasks`](crate::Builder::track_tasks)).
    pub fn has_details(&self) -> bool {
        self.details
    }
}

/// One live task in a [`Dump`].
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct TaskDump {
    /// The task's id ([`JoinHandle::id`](crate::JoinHandle::id)); 0 for the
    /// `block_on` future.
    pub id: u64,
    /// The name given to [`spawn_named`](crate::spawn_named), else where it
    /// was spawned (`src/main.rs:12`). `None` without task details or a
    /// trace.
    pub name: Option<String>,
    /// Queued, being polled, or waiting for a wake.
    pub state: TaskState,
    /// Polls so far. `None` without task details.
    pub polls: Option<u64>,
    /// How long ago its last poll began (measured from the runtime's last
    /// clock reading). `None` without task details, or if never polled.
    pub since_last_poll: Option<Duration>,
    /// What it waits on, as far as the runtime knows: empty when it is
    /// scheduled or running, or when its waker went somewhere the runtime
    /// cannot see (a waker kept by another crate's future).
    pub waits_on: Vec<WaitsOn>,
}

/// A task's state in a [`Dump`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum TaskState {
    /// In the run queue (or woken during its poll): it will be polled.
    Scheduled,
    /// Being polled right now: the task that asked for the dump.
    Running,
    /// Returned `Pending` and sits in no queue until a waker it handed out
    /// is woken.
    Idle,
}

/// Which side of an I/O source a task waits on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Direction {
    /// Waiting until it can read (data, end of stream, an error).
    Read,
    /// Waiting until it can write.
    Write,
}

/// Something a task waits on.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum WaitsOn {
    /// Readiness of an I/O source (a socket, a signal pipe) in one direction.
    Io {
        /// The source's token in the reactor; its low 32 bits are shown.
        token: u64,
        /// What it is: with task details the socket's addresses
        /// (`tcp 127.0.0.1:41000 -> 127.0.0.1:8080`), else its type.
        name: String,
        /// Read or write.
        direction: Direction,
    },
    /// A timer (`sleep`, `timeout`, `interval`).
    Timer {
        /// When it fires (on a virtual clock, in virtual time; see
        /// [`time::Instant::from_std`](crate::time::Instant::from_std)).
        deadline: Instant,
        /// How long until then, from the runtime's last clock reading
        /// (zero if already due).
        remaining: Duration,
    },
    /// Another task's output: it awaits that task's `JoinHandle`.
    Task {
        /// The awaited task's id.
        id: u64,
    },
    /// A `corio::sync` primitive or a handoff from another thread, named
    /// by the operation (`mpsc::Receiver::recv`). Only with task details.
    Sync {
        /// The operation.
        what: &'static str,
    },
}

impl fmt::Display for WaitsOn {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            WaitsOn::Io { token, name, direction } => {
                let side = match direction {
                    Direction::Read => "readable",
                    Direction::Write => "writable",
                };
                write!(f, "socket {} ({name}) {side}", *token as u32)
            }
            WaitsOn::Timer { remaining, .. } if remaining.is_zero() => write!(f, "timer (due)"),
            WaitsOn::Timer { remaining, .. } => write!(f, "timer in {remaining:.1?}"),
            WaitsOn::Task { id } => write!(f, "task {id}'s JoinHandle"),
            WaitsOn::Sync { what } => f.write_str(what),
        }
    }
}

impl fmt::Display for TaskState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            TaskState::Scheduled => "scheduled",
            TaskState::Running => "running",
            TaskState::Idle => "idle",
        })
    }
}

impl fmt::Display for TaskDump {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let id = if self.id == 0 { "block_on".to_owned() } else { self.id.to_string() };
        let polls = self.polls.map_or_else(|| "-".to_owned(), |polls| polls.to_string());
        let last = self.since_last_poll.map_or_else(|| "-".to_owned(), |since| format!("{since:.1?} ago"));
        let name = self.name.as_deref().unwrap_or("-");
        write!(f, "{id:>8}  {:<9}  {polls:>6}  {last:>12}  {name}", self.state.to_string())?;
        if !self.waits_on.is_empty() {
            let waits: Vec<String> = self.waits_on.iter().map(ToString::to_string).collect();
            write!(f, "  waits on: {}", waits.join(", "))?;
        }
        Ok(())
    }
}

impl fmt::Display for Dump {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let count = |state| self.tasks.iter().filter(|task| task.state == state).count();
        writeln!(
            f,
            "{} live tasks: {} running, {} scheduled, {} idle",
            self.tasks.len(),
            count(TaskState::Running),
            count(TaskState::Scheduled),
            count(TaskState::Idle)
        )?;
        writeln!(
            f,
            "{:>8}  {:<9}  {:>6}  {:>12}  name or spawn site",
            "task", "state", "polls", "last poll"
        )?;
        for task in self.block_on.iter().chain(&self.tasks) {
            writeln!(f, "{task}")?;
        }
        if !self.details {
            writeln!(f, "(names, polls and channel waits are kept with Builder::track_tasks(true))")?;
        }
        Ok(())
    }
}
