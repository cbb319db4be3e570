//! The recorded events as Chrome trace-event JSON, which Perfetto
//! (<https://ui.perfetto.dev>) and `chrome://tracing` open.
//!
//! The format is a JSON object whose `traceEvents` array holds events with a
//! phase `ph`, a timestamp `ts` in microseconds, a process `pid` and a
//! thread `tid`. corio maps its runtime onto it like this:
//!
//! | corio | trace |
//! |---|---|
//! | a runtime | a process (`pid`: the runtime's number in the process) |
//! | a task | a thread (`tid`: the task id), named by its name or spawn site |
//! | the `block_on` future | thread 0 |
//! | parks, the reactor, timers | thread [`RUNTIME_TID`] |
//! | a poll | a complete slice (`ph: X`) on the task's thread |
//! | a park, a reactor turn (`epoll_wait`) | slices on the runtime thread |
//! | a readiness event, a fired timer | instant events (`ph: i`) on the runtime thread |
//! | who woke (or spawned) whom | a flow (`ph: s` then `ph: f`, one `id`) from the slice that woke it to the poll it led to |
//!
//! A wake caused by a socket, a timer or another thread starts from a short
//! slice on the runtime thread named after its cause ("socket 3 readable"),
//! since a flow must start inside a slice. Flows whose target poll never
//! happened (the runtime stopped first) or whose source fell out of the
//! ring are left out, so every flow start has its end.

use std::collections::{HashMap, HashSet};
use std::fmt::Write as _;

use super::event::{Cause, Lane, Name, Timeout, What, MAIN};
use super::tracer::{nanos, Tracer};
use crate::driver::reactor::readiness_names;

/// The `tid` of the runtime's own thread in the trace (parks, reactor, timers).
pub(crate) const RUNTIME_TID: u64 = 2_000_000_000;

/// One runtime's part of a trace file: its events, comma-separated, and a
/// summary for `otherData`.
#[derive(Debug, Clone)]
pub(crate) struct Chunk {
    pub(crate) runtime: u32,
    pub(crate) events: String,
    pub(crate) summary: String,
}

/// A whole trace file from the runtimes' chunks.
pub(crate) fn document<'a>(chunks: impl IntoIterator<Item = &'a Chunk>) -> String {
    let chunks: Vec<&Chunk> = chunks.into_iter().collect();
    let mut out = String::from("{\"traceEvents\":[\n");
    let mut first = true;
    for chunk in &chunks {
        if chunk.events.is_empty() {
            continue;
        }
        if !first {
            out.push_str(",\n");
        }
        first = false;
        out.push_str(&chunk.events);
    }
    out.push_str("\n],\"displayTimeUnit\":\"ns\",\"otherData\":{\"producer\":\"corio\",\"runtimes\":[");
    for (i, chunk) in chunks.iter().enumerate() {
        if i > 0 {
            out.push(',');
        }
        out.push_str(&chunk.summary);
    }
    out.push_str("]}}\n");
    out
}

/// Microseconds with nanosecond decimals, as the format wants.
fn micros(ns: u64) -> String {
    format!("{}.{:03}", ns / 1000, ns % 1000)
}

/// `s` as a JSON string literal.
pub(crate) fn quote(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            c if (c as u32) < 0x20 => {
                let _ = write!(out, "\\u{:04x}", c as u32);
            }
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

/// A flow waiting for the next poll of its target.
struct PendingFlow {
    category: &'static str,
    tid: u64,
    ts: u64,
}

/// Writes one runtime's events.
struct Writer {
    pid: u32,
    out: String,
    next_flow: u64,
}

impl Writer {
    fn event(&mut self, body: std::fmt::Arguments<'_>) {
        if !self.out.is_empty() {
            self.out.push_str(",\n");
        }
        let _ = write!(self.out, "{{\"pid\":{},{}}}", self.pid, body);
    }

    fn slice(&mut self, tid: u64, name: &str, category: &str, ts: u64, dur: u64, args: &str) {
        self.event(format_args!(
            "\"tid\":{tid},\"ph\":\"X\",\"name\":{},\"cat\":\"{category}\",\"ts\":{},\"dur\":{},\"args\":{{{args}}}",
            quote(name),
            micros(ts),
            micros(dur.max(1)),
        ));
    }

    fn instant(&mut self, tid: u64, name: &str, category: &str, ts: u64, args: &str) {
        self.event(format_args!(
            "\"tid\":{tid},\"ph\":\"i\",\"s\":\"t\",\"name\":{},\"cat\":\"{category}\",\"ts\":{},\"args\":{{{args}}}",
            quote(name),
            micros(ts),
        ));
    }

    /// A flow from (`from.tid`, `from.ts`) to the slice of `tid` that
    /// encloses `ts`.
    fn flow(&mut self, from: &PendingFlow, tid: u64, ts: u64) {
        let id = (u64::from(self.pid) << 40) | self.next_flow;
        self.next_flow += 1;
        let category = from.category;
        self.event(format_args!(
            "\"tid\":{},\"ph\":\"s\",\"name\":\"{category}\",\"cat\":\"{category}\",\"id\":{id},\"ts\":{}",
            from.tid,
            micros(from.ts),
        ));
        self.event(format_args!(
            "\"tid\":{tid},\"ph\":\"f\",\"bp\":\"e\",\"name\":\"{category}\",\"cat\":\"{category}\",\"id\":{id},\"ts\":{}",
            micros(ts),
        ));
    }

    fn metadata(&mut self, tid: Option<u64>, name: &str, args: &str) {
        match tid {
            Some(tid) => {
                self.event(format_args!("\"tid\":{tid},\"ph\":\"M\",\"name\":\"{name}\",\"args\":{{{args}}}"))
            }
            None => {
                self.event(format_args!("\"tid\":0,\"ph\":\"M\",\"name\":\"{name}\",\"args\":{{{args}}}"))
            }
        }
    }
}

/// The name of a lane's row.
fn lane_name(lane: Lane, names: &HashMap<u64, Name>) -> String {
    if lane == MAIN {
        return "block_on future".to_owned();
    }
    match names.get(&lane) {
        Some(name) => format!("task {lane}: {name}"),
        None => format!("task {lane}"),
    }
}

/// This runtime's events and summary.
pub(crate) fn chunk(tracer: &Tracer) -> Chunk {
    let pid = tracer.runtime();
    let Some(ring) = tracer.ring() else {
        return Chunk { runtime: pid, events: String::new(), summary: format!("{{\"pid\":{pid}}}") };
    };
    let ring = ring.borrow();
    let names: HashMap<u64, Name> = tracer.names().iter().map(|(id, name)| (*id, name.clone())).collect();

    let mut w = Writer { pid, out: String::new(), next_flow: 1 };
    let mut lanes: HashSet<Lane> = HashSet::new();
    let mut open: HashMap<Lane, (u64, u64)> = HashMap::new(); // lane -> (start, poll number)
    let mut polls: HashMap<Lane, u64> = HashMap::new();
    let mut pending: HashMap<Lane, Vec<PendingFlow>> = HashMap::new();
    let mut labels: HashMap<u64, String> = HashMap::new();
    let mut park: Option<u64> = None;
    let mut reactor: Option<(u64, Timeout)> = None;

    // Timestamps: nanoseconds since the epoch, strictly increasing (a
    // virtual clock stands still while tasks run, and events recorded
    // without a clock reading follow the previous one by a nanosecond).
    let events = ring.events();
    let mut stamps = Vec::with_capacity(events.len());
    let mut last = 0;
    for event in events {
        last = event.at.map_or(0, nanos).max(last + 1);
        stamps.push(last);
    }
    for (i, event) in events.iter().enumerate() {
        let ts = stamps[i];
        let next_ts = stamps.get(i + 1).map_or(ts + 1000, |next| *next);
        match &event.what {
            What::PollStart { lane } => {
                lanes.insert(*lane);
                let number = polls.entry(*lane).or_insert(0);
                *number += 1;
                open.insert(*lane, (ts, *number));
                for flow in pending.remove(lane).unwrap_or_default() {
                    w.flow(&flow, *lane, ts);
                }
            }
            What::PollEnd { lane, outcome } => {
                if let Some((start, number)) = open.remove(lane) {
                    let name = if *lane == MAIN { "poll block_on" } else { "poll" };
                    let args =
                        format!("\"task\":{lane},\"poll\":{number},\"outcome\":\"{}\"", outcome.name());
                    w.slice(*lane, name, "poll", start, ts - start, &args);
                }
            }
            What::Spawn { task, by } | What::Wake { lane: task, by } => {
                let category = if matches!(event.what, What::Spawn { .. }) { "spawn" } else { "wake" };
                let source = match *by {
                    Cause::Poll(lane) if open.contains_key(&lane) => Some(lane),
                    Cause::Poll(_) | Cause::Unknown => None,
                    Cause::Io(token) => {
                        let what = labels.get(&token).cloned().unwrap_or_else(|| socket(token));
                        let name = format!("{category} task {task}: {what}");
                        w.slice(RUNTIME_TID, &name, category, ts, (next_ts - ts).min(1000), "");
                        Some(RUNTIME_TID)
                    }
                    Cause::Timer(_) | Cause::Remote => {
                        let what = if *by == Cause::Remote { "another thread" } else { "timer" };
                        let name = format!("{category} task {task}: {what}");
                        w.slice(RUNTIME_TID, &name, category, ts, (next_ts - ts).min(1000), "");
                        Some(RUNTIME_TID)
                    }
                };
                if let Some(tid) = source {
                    pending.entry(*task).or_default().push(PendingFlow { category, tid, ts });
                }
                if category == "spawn" {
                    lanes.insert(*task);
                }
            }
            What::WakeIgnored { lane, by } => {
                let by = match by {
                    Cause::Poll(source) if *source == *lane => "itself".to_owned(),
                    Cause::Poll(MAIN) => "block_on future".to_owned(),
                    Cause::Poll(source) => format!("task {source}"),
                    Cause::Io(token) => labels.get(token).cloned().unwrap_or_else(|| socket(*token)),
                    Cause::Timer(_) => "timer".to_owned(),
                    Cause::Remote => "another thread".to_owned(),
                    Cause::Unknown => "unknown".to_owned(),
                };
                lanes.insert(*lane);
                w.instant(
                    *lane,
                    "wake (already scheduled, running or done)",
                    "wake",
                    ts,
                    &format!("\"by\":{}", quote(&by)),
                );
            }
            What::ParkStart => park = Some(ts),
            What::ParkEnd => {
                if let Some(start) = park.take() {
                    w.slice(RUNTIME_TID, "park", "park", start, ts - start, "");
                }
            }
            What::ReactorStart { timeout } => reactor = Some((ts, *timeout)),
            What::ReactorEnd { events } => {
                if let Some((start, timeout)) = reactor.take() {
                    let timeout = match timeout {
                        Timeout::Zero => "\"zero\"".to_owned(),
                        Timeout::Forever => "\"none\"".to_owned(),
                        Timeout::Until(until) => micros(until.saturating_sub(start)),
                    };
                    let args = format!("\"timeout_us\":{timeout},\"events\":{events}");
                    w.slice(RUNTIME_TID, "epoll_wait", "reactor", start, ts - start, &args);
                }
            }
            What::IoReady { token, ready } => {
                let what = tracer.label(*token).as_deref().map_or_else(|| socket(*token), str::to_owned);
                labels.insert(*token, what.clone());
                let readiness = readiness_names(*ready);
                let args = format!(
                    "\"socket\":{},\"source\":{},\"readiness\":{}",
                    *token as u32,
                    quote(&what),
                    quote(&readiness)
                );
                w.instant(RUNTIME_TID, &format!("{what} {readiness}"), "io", ts, &args);
            }
            What::TimerFired { deadline } => {
                let args = format!(
                    "\"deadline_us\":{},\"late_us\":{}",
                    micros(*deadline),
                    micros(ts.saturating_sub(*deadline))
                );
                w.instant(RUNTIME_TID, "timer fired", "timer", ts, &args);
            }
        }
    }

    // Row names and order: the runtime's row, the block_on future, tasks by id.
    let mut meta = Writer { pid, out: String::new(), next_flow: 0 };
    let process = format!("corio runtime {pid} (thread {})", tracer.thread());
    meta.metadata(None, "process_name", &format!("\"name\":{}", quote(&process)));
    meta.metadata(None, "process_sort_index", &format!("\"sort_index\":{pid}"));
    meta.metadata(Some(RUNTIME_TID), "thread_name", "\"name\":\"runtime: park, reactor, timers\"");
    meta.metadata(Some(RUNTIME_TID), "thread_sort_index", "\"sort_index\":-2");
    let mut lanes: Vec<Lane> = lanes.into_iter().collect();
    lanes.sort_unstable();
    for lane in &lanes {
        meta.metadata(Some(*lane), "thread_name", &format!("\"name\":{}", quote(&lane_name(*lane, &names))));
        let index = if *lane == MAIN { -1 } else { *lane as i64 };
        meta.metadata(Some(*lane), "thread_sort_index", &format!("\"sort_index\":{index}"));
    }
    if !w.out.is_empty() {
        meta.out.push_str(",\n");
        meta.out.push_str(&w.out);
    }
    let summary = format!(
        "{{\"pid\":{pid},\"thread\":{},\"events\":{},\"dropped\":{},\"capacity\":{}}}",
        quote(tracer.thread()),
        events.len(),
        ring.dropped(),
        ring.capacity()
    );
    Chunk { runtime: pid, events: meta.out, summary }
}

fn socket(token: u64) -> String {
    format!("socket {}", token as u32)
}
