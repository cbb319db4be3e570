//! Seeing the coroutines: a trace of every suspend and resume, and a dump
//! of what each task waits on.
//!
//! # A trace
//!
//! Build a runtime with [`Builder::trace`](crate::Builder::trace), or set
//! `CORIO_TRACE=out.json` in the environment (every runtime built without
//! its own trace path then traces to that file), and the runtime records
//! every spawn, poll, wake, park, readiness event and fired timer. When it
//! is dropped (or on [`Runtime::write_trace`](crate::Runtime::write_trace))
//! it writes them in the Chrome trace-event format: open the file in
//! <https://ui.perfetto.dev> or `chrome://tracing`. Each task is a row
//! named by [`spawn_named`](crate::spawn_named)'s name or by the line that
//! spawned it; each poll is a bar on its row; the runtime's parks, its
//! `epoll_wait`s, readiness events and timer firings have a row of their
//! own; and an arrow goes from whatever woke a task (another task's poll, a
//! socket, a timer, another thread) to the poll that wake led to. Several
//! runtimes tracing to one file share its time axis, one process each; no
//! arrow crosses between them (a runtime knows nothing of its peers), but
//! a socket is named by both its addresses, so a connection's two ends can
//! be found by searching for one port.
//!
//! The trace lives in a ring of the last
//! [`trace_capacity`](crate::Builder::trace_capacity) events (about a
//! million by default, 48 bytes each), so a long run keeps its end.
//!
//! ```
//! let dir = std::env::temp_dir().join(format!("corio-trace-doc-{}", std::process::id()));
//! std::fs::create_dir_all(&dir).unwrap();
//! let path = dir.join("trace.json");
//! let rt = corio_runtime::Runtime::builder().trace(&path).build().unwrap();
//! rt.block_on(async {
//!     corio_runtime::spawn_named("child", async { 1 }).await.unwrap();
//! });
//! drop(rt); // writes the file
//! let json = std::fs::read_to_string(&path).unwrap();
//! assert!(json.contains("\"task 1: child\""));
//! # std::fs::remove_dir_all(&dir).unwrap();
//! ```
//!
//! # A dump
//!
//! [`Runtime::dump`](crate::Runtime::dump) (or [`dump`](crate::dump) from
//! inside the runtime) lists every live task: its id, state (scheduled,
//! running, idle), and what it waits on when the runtime can tell: a
//! socket's readiness in one direction, a timer's deadline, another task's
//! `JoinHandle`. It finds those by looking at the wakers the reactor, the
//! timers and the tasks hold, so it costs nothing until called. With
//! [`track_tasks`](crate::Builder::track_tasks) the runtime also keeps
//! each task's name or spawn site, its number of polls, the time of its
//! last poll, and which `corio::sync` primitive it waits on, and sockets
//! carry their addresses. A trace does not imply it (it would double a
//! trace's cost): combine the two options for both.
//!
//! # Cost
//!
//! Without either option each event site in the executor is one branch on
//! an `Option` that is `None` (`benches/callgrind.sh` counts the
//! instructions; `docs/BENCHMARKS.md` has the figures). With tracing on,
//! each poll reads the clock once and pushes two events into the ring;
//! what a poll spawned and woke is recorded when it returns, in order,
//! without a clock read of its own.
//!
//! # Where the events come from
//!
//! `docs/ARCHITECTURE.md` ("Tracing and task dumps") lists each hook: a
//! task's record in `executor::spawn_on`, poll start and end around
//! `Task::run` in the tick, park and reactor turns around `Reactor::poll`,
//! spawns and wakes read from the run queue's new entries after each poll
//! and each wake a park makes (their cause is what the runtime was doing:
//! polling a task, waking what a socket or a timer named, draining other
//! threads' wakes), ignored wakes through the scheduler's `WAKE_IGNORED`
//! hook (feature `trace-ignored-wakes`).
//!
//! # Layout
//!
//! - `tracer.rs`: `Tracer`, the records and the hooks the executor calls;
//!   `records.rs`, the table of records by task id;
//! - `event.rs`: the events and the bounded ring they are kept in;
//! - `json.rs`: the Chrome trace-event document; `file.rs`: trace files
//!   several runtimes share;
//! - `dump.rs`: [`Dump`] and what it holds (`crate::dump` fills it in).
//!
//! This layer uses only `task/` and `driver/`: a runtime's `Core`
//! (`context.rs`, next stop) holds a `Tracer`, and the executor, above,
//! calls it.

mod dump;
pub(crate) mod event;
pub(crate) mod file;
pub(crate) mod json;
mod records;
pub(crate) mod tracer;

pub use dump::{Direction, Dump, TaskDump, TaskState, WaitsOn};
