//! [`Runtime::dump`](crate::Runtime::dump) and [`dump`](crate::dump): what
//! every live task is doing, and what it waits on.
//!
//! Nothing is recorded for this in advance. The task list says which tasks
//! are alive and their state; what each waits on is read from the wakers
//! the runtime holds: a waker stored in the reactor for a source's read or
//! write side, in the timer heap, or in another task's header (whoever
//! awaits its `JoinHandle`) names its task (`waker::wakes` compares the
//! waker's vtable with ours and reads the task id behind it). With task
//! details (`Builder::track_tasks`), the tracer's records add
//! names, polls, the last poll's time, and waits on `corio::sync`
//! primitives, which keep their wakers where only they can see them.

use std::collections::HashMap;

use crate::context::Core;
use crate::driver::reactor::SourceInfo;
use crate::trace::tracer::Tracer;
use crate::trace::{Direction, Dump, TaskDump, TaskState, WaitsOn};
use crate::waker::{self, Wakes};

/// The dump of `core`'s tasks; `inside`: taken from inside its `block_on`
/// (so the `block_on` future exists and gets a line).
pub(crate) fn collect(core: &Core, inside: bool) -> Dump {
    let tasks = core.tasks.inspect(waker::wakes);
    let now = core.clock.now();

    // What each task (0: the block_on future) waits on, from the wakers held.
    let mut waits: HashMap<u64, Vec<WaitsOn>> = HashMap::new();
    let mut add = |wakes: Wakes, what: WaitsOn| {
        let lane = match wakes {
            Wakes::Task(id) => id,
            Wakes::Other(data) if data == core.main_waker => 0,
            Wakes::Other(_) => return,
        };
        waits.entry(lane).or_default().push(what);
    };
    for SourceInfo { token, name, reader, writer, .. } in core.reactor.sources() {
        if let Some(wakes) = reader {
            add(wakes, WaitsOn::Io { token, name: name.clone(), direction: Direction::Read });
        }
        if let Some(wakes) = writer {
            add(wakes, WaitsOn::Io { token, name, direction: Direction::Write });
        }
    }
    for (deadline, wakes) in core.timers.borrow().waiters() {
        let remaining = deadline.saturating_duration_since(now);
        add(wakes, WaitsOn::Timer { deadline, remaining });
    }
    for task in &tasks {
        if let Some(wakes) = task.join_waiter {
            add(wakes, WaitsOn::Task { id: task.id });
        }
    }

    let tracer = core.tracer.as_deref();
    let records = tracer.and_then(Tracer::records);
    // A trace without task details still knows every live task's name.
    let logged: HashMap<u64, String> = match (&records, tracer) {
        (None, Some(tracer)) => tracer.names().iter().map(|(id, name)| (*id, name.to_string())).collect(),
        _ => HashMap::new(),
    };
    let mut line = |id: u64, state: TaskState| {
        let record = records.as_ref().and_then(|records| records.get(id));
        let mut waits_on = waits.remove(&id).unwrap_or_default();
        if let Some(what) = record.and_then(|record| record.waits) {
            if state == TaskState::Idle {
                waits_on.push(WaitsOn::Sync { what });
            }
        }
        TaskDump {
            id,
            name: record.map(|record| record.name.to_string()).or_else(|| logged.get(&id).cloned()),
            state,
            polls: record.map(|record| record.polls),
            since_last_poll: record
                .and_then(|record| record.last_poll)
                .map(|at| now.saturating_duration_since(at)),
            waits_on,
        }
    };
    let mut running = false;
    let mut dumped: Vec<TaskDump> = Vec::with_capacity(tasks.len());
    for task in &tasks {
        let state = if task.state.is_running() {
            running = true;
            TaskState::Running
        } else if task.state.is_scheduled() {
            TaskState::Scheduled
        } else {
            TaskState::Idle
        };
        dumped.push(line(task.id, state));
    }
    // Inside `block_on` and no task is being polled: the dump was asked
    // for by the block_on future itself.
    let block_on = inside.then(|| line(0, if running { TaskState::Idle } else { TaskState::Running }));
    let details = records.is_some();
    drop(records);
    Dump { block_on, tasks: dumped, details }
}
