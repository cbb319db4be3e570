//! Traces and task dumps (`corio::trace`), through the public API.
//!
//! The trace tests check the file against the Chrome trace-event format
//! (the "Trace Event Format" document Perfetto and `chrome://tracing`
//! implement): every event has a phase `ph`, a `pid` and a `tid`, every
//! event but metadata a timestamp `ts`; a complete slice (`X`) has a `dur`;
//! a flow is a start `s` and an end `f` with the same `id` and category,
//! each inside a slice of its thread (`bp: "e"` binds the end to the
//! enclosing slice). Timing never decides an outcome: the scripted program
//! runs on virtual time, and the rest checks structure and counts.

mod common;

use std::collections::{HashMap, HashSet};
use std::future::poll_fn;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::task::{Poll, Waker};
use std::time::Duration;

use corio::io::{AsyncReadExt, AsyncWriteExt};
use corio::net::{TcpListener, TcpStream};
use corio::trace::{Direction, TaskState, WaitsOn};
use corio::Runtime;
use serde_json::Value;

/// A fresh directory for this test's files.
fn scratch(test: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("corio-trace-{}-{test}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

fn parse(json: &str) -> Value {
    serde_json::from_str(json).unwrap_or_else(|e| panic!("the trace is not JSON: {e}\n{json}"))
}

fn events(trace: &Value) -> &Vec<Value> {
    trace["traceEvents"].as_array().expect("traceEvents is an array")
}

/// `ts` in nanoseconds (the file has microseconds with three decimals).
fn ts_ns(event: &Value) -> u64 {
    (event["ts"].as_f64().expect("ts is a number") * 1000.0).round() as u64
}

fn dur_ns(event: &Value) -> u64 {
    (event["dur"].as_f64().expect("dur is a number") * 1000.0).round() as u64
}

/// The trace-event format's rules, as far as corio uses it. Returns the
/// number of flows.
fn check_format(trace: &Value) -> usize {
    let events = events(trace);
    assert!(!events.is_empty());
    let mut slices: HashMap<(u64, u64), Vec<(u64, u64)>> = HashMap::new();
    let mut named: HashSet<(u64, u64)> = HashSet::new();
    let mut used: HashSet<(u64, u64)> = HashSet::new();
    for event in events {
        let ph = event["ph"].as_str().unwrap_or_else(|| panic!("no ph: {event}"));
        let pid = event["pid"].as_u64().unwrap_or_else(|| panic!("no integer pid: {event}"));
        let tid = event["tid"].as_u64().unwrap_or_else(|| panic!("no integer tid: {event}"));
        assert!(event["name"].is_string(), "no name: {event}");
        match ph {
            "M" => {
                if event["name"] == "thread_name" {
                    assert!(event["args"]["name"].is_string(), "{event}");
                    named.insert((pid, tid));
                }
            }
            "X" => {
                assert!(event["dur"].as_f64().is_some_and(|d| d >= 0.0), "X without dur: {event}");
                slices.entry((pid, tid)).or_default().push((ts_ns(event), dur_ns(event)));
                used.insert((pid, tid));
            }
            "i" => {
                assert_eq!(event["s"], "t", "instant events are thread-scoped: {event}");
                ts_ns(event);
                used.insert((pid, tid));
            }
            "s" | "f" => {
                assert!(event["id"].is_u64(), "flow without id: {event}");
                assert!(event["cat"].is_string(), "flow without cat: {event}");
                if ph == "f" {
                    assert_eq!(event["bp"], "e", "{event}");
                }
            }
            other => panic!("unexpected phase {other}: {event}"),
        }
    }
    for thread in &used {
        assert!(named.contains(thread), "thread {thread:?} has events but no thread_name");
    }
    let inside = |pid, tid, ts| {
        slices
            .get(&(pid, tid))
            .is_some_and(|slices| slices.iter().any(|&(start, dur)| start <= ts && ts <= start + dur))
    };
    // Every flow id: one start, one end, same category, each inside a slice.
    let mut flows: HashMap<u64, (Option<&Value>, Option<&Value>)> = HashMap::new();
    for event in events.iter().filter(|e| e["ph"] == "s" || e["ph"] == "f") {
        let entry = flows.entry(event["id"].as_u64().unwrap()).or_default();
        let side = if event["ph"] == "s" { &mut entry.0 } else { &mut entry.1 };
        assert!(side.is_none(), "flow id used twice: {event}");
        *side = Some(event);
    }
    for (id, (start, end)) in &flows {
        let (start, end) = (
            start.unwrap_or_else(|| panic!("flow {id} has no start")),
            end.unwrap_or_else(|| panic!("flow {id} has no end")),
        );
        assert_eq!(start["cat"], end["cat"]);
        assert!(ts_ns(start) <= ts_ns(end), "flow {id} goes back in time");
        for side in [start, end] {
            let (pid, tid) = (side["pid"].as_u64().unwrap(), side["tid"].as_u64().unwrap());
            assert!(inside(pid, tid, ts_ns(side)), "flow event outside any slice of its thread: {side}");
        }
    }
    flows.len()
}

/// The events other than metadata as short words, in time order (ties in
/// file order): `X 1 poll idle`, `s wake 2000000000`, `i timer fired`...
fn script(trace: &Value) -> Vec<String> {
    let mut timed: Vec<(u64, String)> = events(trace)
        .iter()
        .filter(|e| e["ph"] != "M")
        .map(|e| {
            let ph = e["ph"].as_str().unwrap();
            let tid = e["tid"].as_u64().unwrap();
            let tid = if tid == 2_000_000_000 { "R".to_owned() } else { tid.to_string() };
            let name = e["name"].as_str().unwrap();
            let word = match ph {
                "X" if e["args"]["outcome"].is_string() => {
                    format!("X {tid} {name} {}", e["args"]["outcome"].as_str().unwrap())
                }
                _ => format!("{ph} {tid} {name}"),
            };
            (ts_ns(e), word)
        })
        .collect();
    timed.sort_by_key(|(ts, _)| *ts);
    timed.into_iter().map(|(_, word)| word).collect()
}

#[test]
fn a_scripted_program_traces_exactly_its_events_in_order() {
    let rt = Runtime::builder().virtual_time(true).trace_capacity(1000).build().unwrap();
    let answer = rt.block_on(async {
        let sleeper = corio::spawn_named("sleeper", async {
            corio::time::sleep(Duration::from_secs(1)).await;
            7
        });
        sleeper.await.unwrap()
    });
    assert_eq!(answer, 7);
    let trace = parse(&rt.trace_json().expect("the runtime traces"));
    check_format(&trace);
    assert_eq!(
        script(&trace),
        [
            // block_on polls its future: it spawns the task and awaits it.
            "X 0 poll block_on idle",
            "s 0 spawn",
            // The tick runs the task: it arms its timer and goes idle.
            "f 1 spawn",
            "X 1 poll idle",
            // Nothing is ready: the runtime parks; the virtual clock jumps
            // to the deadline, the timer fires and wakes the task.
            "X R park",
            "X R epoll_wait",
            "i R timer fired",
            "X R wake task 1: timer",
            "s R wake",
            // The task resumes after its `.await`, completes, and its
            // completion wakes the block_on future, which returns.
            "f 1 wake",
            "X 1 poll completed",
            "s 1 wake",
            "f 0 wake",
            "X 0 poll block_on completed",
        ]
    );
    // The row names the task, and the timer fired exactly at its deadline,
    // one virtual second after the start.
    let names: Vec<&str> = events(&trace)
        .iter()
        .filter(|e| e["name"] == "thread_name")
        .map(|e| e["args"]["name"].as_str().unwrap())
        .collect();
    assert!(names.contains(&"task 1: sleeper"), "{names:?}");
    assert!(names.contains(&"block_on future"), "{names:?}");
    let fired = events(&trace).iter().find(|e| e["name"] == "timer fired").unwrap();
    assert_eq!(fired["args"]["late_us"].as_f64(), Some(0.0), "{fired}");
    let first = events(&trace).iter().filter(|e| e["ph"] == "X").map(ts_ns).min().unwrap();
    assert!(ts_ns(fired) - first >= 1_000_000_000, "the timer fired {} ns in", ts_ns(fired) - first);
}

#[test]
fn a_task_named_by_its_spawn_site() {
    let rt = Runtime::builder().trace_capacity(100).build().unwrap();
    let line = line!() + 1;
    rt.block_on(async { corio::spawn(async {}).await.unwrap() });
    let trace = parse(&rt.trace_json().unwrap());
    let expected = format!("task 1: tests/trace.rs:{line}");
    assert!(
        events(&trace).iter().any(|e| e["name"] == "thread_name" && e["args"]["name"] == expected.as_str()),
        "no row named {expected}"
    );
}

/// A program with every kind of wake: task to task through a channel,
/// socket readiness, a timer, another thread, and the block_on future.
async fn busy_program() {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let server = corio::spawn_named("echo server", async move {
        let (mut stream, _) = listener.accept().await.unwrap();
        let mut buf = [0u8; 5];
        stream.read_exact(&mut buf).await.unwrap();
        stream.write_all(&buf).await.unwrap();
    });
    let (tx, mut rx) = corio::sync::mpsc::channel::<u32>(1);
    let consumer = corio::spawn_named("consumer", async move {
        let mut sum = 0;
        while let Some(n) = rx.recv().await {
            sum += n;
        }
        sum
    });
    let producer = corio::spawn_named("producer", async move {
        for n in 0..5 {
            tx.send(n).await.unwrap();
            corio::time::sleep(Duration::from_millis(1)).await;
        }
    });
    let mut client = TcpStream::connect(addr).await.unwrap();
    client.write_all(b"hello").await.unwrap();
    let mut echo = [0u8; 5];
    client.read_exact(&mut echo).await.unwrap();
    assert_eq!(&echo, b"hello");
    remote_wakes().await;
    server.await.unwrap();
    producer.await.unwrap();
    assert_eq!(consumer.await.unwrap(), 10);
}

/// Another thread wakes an idle task, then the block_on future.
async fn remote_wakes() {
    let task_waker: Arc<Mutex<Option<Waker>>> = Arc::default();
    let task_done = Arc::new(AtomicBool::new(false));
    let (slot, done) = (task_waker.clone(), task_done.clone());
    let task = corio::spawn_named(
        "woken from afar",
        poll_fn(move |cx| {
            if done.load(Ordering::Acquire) {
                return Poll::Ready(());
            }
            *slot.lock().unwrap() = Some(cx.waker().clone());
            Poll::Pending
        }),
    );
    corio::task::yield_now().await; // the task runs and goes idle
    let main_done = Arc::new(AtomicBool::new(false));
    let mut thread = None;
    poll_fn(|cx| {
        if main_done.load(Ordering::Acquire) {
            return Poll::Ready(());
        }
        if thread.is_none() {
            let (task_waker, task_done) = (task_waker.clone(), task_done.clone());
            let (main_waker, main_done) = (cx.waker().clone(), main_done.clone());
            thread = Some(std::thread::spawn(move || {
                task_done.store(true, Ordering::Release);
                task_waker.lock().unwrap().take().expect("the task is idle").wake();
                main_done.store(true, Ordering::Release);
                main_waker.wake();
            }));
        }
        Poll::Pending
    })
    .await;
    task.await.unwrap();
    thread.unwrap().join().unwrap();
}

#[test]
fn the_trace_follows_the_trace_event_format_and_names_every_cause() {
    let dir = scratch("format");
    let path = dir.join("trace.json");
    let rt = Runtime::builder().trace(&path).build().unwrap();
    rt.block_on(busy_program());
    drop(rt);
    let trace = parse(&std::fs::read_to_string(&path).unwrap());
    let flows = check_format(&trace);
    assert!(flows >= 10, "only {flows} flows");

    // Each kind of cause starts at least one flow.
    let starts: Vec<&Value> = events(&trace).iter().filter(|e| e["ph"] == "s").collect();
    let at = |e: &Value| (e["pid"].as_u64(), e["tid"].as_u64(), ts_ns(e));
    let slice_names: HashMap<_, &str> = events(&trace)
        .iter()
        .filter(|e| e["ph"] == "X")
        .map(|e| (at(e), e["name"].as_str().unwrap()))
        .collect();
    let from: Vec<&str> = starts.iter().filter_map(|s| slice_names.get(&at(s)).copied()).collect();
    assert!(
        from.iter().any(|n| n.contains(": tcp 127.0.0.1:") && n.starts_with("wake task")),
        "no socket wake: {from:?}"
    );
    assert!(from.iter().any(|n| n.ends_with(": timer")), "no timer wake: {from:?}");
    assert!(
        from.iter().any(|n| n.ends_with(": another thread") && !n.starts_with("wake task 0")),
        "no remote wake: {from:?}"
    );
    assert!(from.iter().any(|n| n == &"wake task 0: another thread"), "no remote wake of block_on: {from:?}");
    let task_to_task = starts
        .iter()
        .any(|s| s["cat"] == "wake" && s["tid"].as_u64().is_some_and(|tid| tid > 0 && tid < 2_000_000_000));
    assert!(task_to_task, "no task woke another");
    // Readiness is reported as instants naming the socket.
    assert!(events(&trace).iter().any(|e| e["ph"] == "i"
        && e["cat"] == "io"
        && e["args"]["source"].as_str().is_some_and(|s| s.starts_with("tcp 127.0.0.1:"))));
    let summary = &trace["otherData"]["runtimes"][0];
    assert_eq!(summary["dropped"], 0);
    std::fs::remove_dir_all(dir).unwrap();
}

#[test]
fn the_ring_keeps_the_last_events() {
    let rt = Runtime::builder().trace_capacity(200).build().unwrap();
    rt.block_on(async {
        // A task alive the whole time: its spawn leaves the ring long before
        // its last poll, which stays; its name must too.
        let gate = std::rc::Rc::new(corio::sync::Notify::new());
        let waiter = gate.clone();
        let long_lived = corio::spawn_named("long-lived", async move { waiter.notified().await });
        corio::task::yield_now().await;
        for i in 0..1000 {
            corio::spawn_named(&format!("t{i}"), async {}).await.unwrap();
        }
        gate.notify_one();
        long_lived.await.unwrap();
    });
    let trace = parse(&rt.trace_json().unwrap());
    check_format(&trace);
    let summary = &trace["otherData"]["runtimes"][0];
    assert_eq!(summary["capacity"], 200);
    assert_eq!(summary["events"], 200, "{summary}");
    assert!(summary["dropped"].as_u64().unwrap() > 1000, "{summary}");
    let rows: HashSet<&str> = events(&trace)
        .iter()
        .filter(|e| e["name"] == "thread_name")
        .map(|e| e["args"]["name"].as_str().unwrap())
        .collect();
    // The end is kept, named; the beginning is gone.
    assert!(rows.contains("task 1001: t999"), "{rows:?}");
    assert!(!rows.contains("task 2: t0"), "{rows:?}");
    assert!(rows.contains("task 1: long-lived"), "{rows:?}");
    let polls = events(&trace).iter().filter(|e| e["ph"] == "X" && e["name"] == "poll").count();
    assert!(polls < 200, "{polls} polls from 200 events");
}

#[test]
fn tasks_alive_past_the_ring_keep_their_names_when_more_live_than_it_holds() {
    // More tasks alive than the ring has room for, among many that come
    // and go; the oldest of them run last, so the ring ends with tasks
    // whose spawns left it (and the last spawns' names) long before. Each
    // must still be named.
    let rt = Runtime::builder().trace_capacity(100).build().unwrap();
    let late: Vec<u64> = rt.block_on(async {
        let (early_gate, late_gate) =
            (std::rc::Rc::new(corio::sync::Notify::new()), std::rc::Rc::new(corio::sync::Notify::new()));
        let (mut early, mut late) = (Vec::new(), Vec::new());
        for i in 0..900 {
            if i % 3 == 0 {
                let gate = if i < 300 { late_gate.clone() } else { early_gate.clone() };
                let task = corio::spawn_named(&format!("keep{i}"), async move { gate.notified().await });
                if i < 300 {
                    late.push(task)
                } else {
                    early.push(task)
                }
            } else {
                corio::spawn_named(&format!("gone{i}"), async {}).await.unwrap();
            }
        }
        corio::task::yield_now().await;
        early_gate.notify_waiters();
        for task in early {
            task.await.unwrap();
        }
        let ids = late.iter().map(|task| task.id()).collect();
        late_gate.notify_waiters();
        for task in late {
            task.await.unwrap();
        }
        ids
    });
    assert_eq!(late.len(), 100);
    let trace = parse(&rt.trace_json().unwrap());
    check_format(&trace);
    let rows: Vec<&str> = events(&trace)
        .iter()
        .filter(|e| e["name"] == "thread_name")
        .map(|e| e["args"]["name"].as_str().unwrap())
        .filter(|row| row.starts_with("task "))
        .collect();
    assert!(rows.len() > 10, "{rows:?}");
    for row in rows {
        let (id, name) = row["task ".len()..].split_once(": ").unwrap_or_else(|| panic!("unnamed: {row}"));
        let id: u64 = id.parse().unwrap();
        assert!(late.contains(&id), "{row}: only the late tasks run at the end");
        assert!(name.starts_with("keep"), "{row}");
    }
}

#[test]
fn an_unwritable_trace_path_is_a_clear_error() {
    let dir = scratch("unwritable");
    for path in [dir.join("no/such/directory/trace.json"), dir.clone()] {
        let error = Runtime::builder().trace(&path).build().expect_err("the path cannot be written");
        let message = error.to_string();
        assert!(message.contains("cannot write the trace file"), "{message}");
        assert!(message.contains(&path.display().to_string()), "{message}");
    }
    // A runtime that records no trace to a file says so.
    let rt = Runtime::new().unwrap();
    let error = rt.write_trace().unwrap_err();
    assert!(error.to_string().contains("records no trace"), "{error}");
    assert!(rt.trace_json().is_none());
    std::fs::remove_dir_all(dir).unwrap();
}

#[test]
fn runtimes_tracing_to_one_file_share_it() {
    let dir = scratch("shared");
    let path = dir.join("trace.json");
    let worker_path = path.clone();
    let worker = std::thread::spawn(move || {
        let rt = Runtime::builder().trace(&worker_path).build().unwrap();
        rt.block_on(async { corio::spawn_named("worker task", async {}).await.unwrap() });
    });
    worker.join().unwrap();
    let rt = Runtime::builder().trace(&path).build().unwrap();
    rt.block_on(async { corio::spawn_named("main task", async {}).await.unwrap() });
    drop(rt);
    let trace = parse(&std::fs::read_to_string(&path).unwrap());
    check_format(&trace);
    let pids: HashSet<u64> = events(&trace).iter().map(|e| e["pid"].as_u64().unwrap()).collect();
    assert_eq!(pids.len(), 2, "{pids:?}");
    let rows: Vec<&str> = events(&trace)
        .iter()
        .filter(|e| e["name"] == "thread_name")
        .map(|e| e["args"]["name"].as_str().unwrap())
        .collect();
    assert!(rows.contains(&"task 1: worker task") && rows.contains(&"task 1: main task"), "{rows:?}");
    std::fs::remove_dir_all(dir).unwrap();
}

/// A connected pair of streams and the task that reads from one of them.
async fn blocked_reader() -> (TcpStream, corio::JoinHandle<()>, String) {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let client = TcpStream::connect(listener.local_addr().unwrap()).await.unwrap();
    let (mut accepted, _) = listener.accept().await.unwrap();
    let name = format!("tcp {} -> {}", accepted.local_addr().unwrap(), accepted.peer_addr().unwrap());
    let reader = corio::spawn_named("reader", async move {
        let mut byte = [0u8; 1];
        let _ = accepted.read(&mut byte).await;
    });
    corio::task::yield_now().await; // the reader runs, finds no data, waits
    (client, reader, name)
}

#[test]
fn the_dump_names_the_socket_a_blocked_task_waits_on() {
    let rt = Runtime::builder().track_tasks(true).build().unwrap();
    rt.block_on(async {
        let (client, reader, name) = blocked_reader().await;
        let dump = corio::dump();
        let task = dump.task(reader.id()).expect("the reader is alive");
        assert_eq!(task.state, TaskState::Idle);
        assert_eq!(task.name.as_deref(), Some("reader"));
        assert_eq!(task.polls, Some(1));
        assert!(task.since_last_poll.is_some());
        match &task.waits_on[..] {
            [WaitsOn::Io { name: waits, direction: Direction::Read, .. }] => assert_eq!(waits, &name),
            other => panic!("waits on {other:?}"),
        }
        let text = dump.to_string();
        assert!(text.contains(&format!("({name}) readable")), "{text}");
        drop(client); // end of stream: the reader finishes
        reader.await.unwrap();
    });
}

#[test]
fn without_task_details_the_dump_still_knows_sockets_timers_and_join_handles() {
    let rt = Runtime::builder().virtual_time(true).build().unwrap();
    rt.block_on(async {
        let (client, reader, _) = blocked_reader().await;
        let sleeper = corio::spawn(corio::time::sleep(Duration::from_secs(30)));
        let sleeper_id = sleeper.id();
        let joiner = corio::spawn(async move { sleeper.await.unwrap() });
        corio::task::yield_now().await;
        let dump = corio::dump();
        assert!(!dump.has_details());
        let reader = dump.task(reader.id()).unwrap();
        assert!(reader.name.is_none() && reader.polls.is_none());
        assert!(
            matches!(&reader.waits_on[..], [WaitsOn::Io { name, direction: Direction::Read, .. }] if name.contains("TcpStream")),
            "{:?}",
            reader.waits_on
        );
        match &dump.task(sleeper_id).unwrap().waits_on[..] {
            [WaitsOn::Timer { remaining, .. }] => assert_eq!(*remaining, Duration::from_secs(30)),
            other => panic!("{other:?}"),
        }
        assert_eq!(dump.task(joiner.id()).unwrap().waits_on, [WaitsOn::Task { id: sleeper_id }]);
        // The block_on future is the one running; it waits on nothing yet.
        assert_eq!(dump.block_on().unwrap().state, TaskState::Running);
        assert!(dump.to_string().contains("Builder::track_tasks"));
        drop(client);
        joiner.await.unwrap();
    });
}

#[test]
fn the_dump_shows_states_and_channel_waits() {
    let rt = Runtime::builder().virtual_time(true).track_tasks(true).build().unwrap();
    let (dump, ids) = rt.block_on(async {
        let (tx, mut rx) = corio::sync::mpsc::channel::<()>(1);
        let receiver = corio::spawn_named("receiver", async move { rx.recv().await });
        let notify = std::rc::Rc::new(corio::sync::Notify::new());
        let waiter = notify.clone();
        let notified = corio::spawn_named("notified", async move { waiter.notified().await });
        corio::task::yield_now().await;
        // Asked from inside a task: that task is the running one, and a
        // task it has just spawned is scheduled.
        let inner = corio::spawn_named("dumper", async {
            let queued = corio::spawn_named("queued", async {});
            (corio::dump(), queued.id())
        });
        let (dump, queued) = inner.await.unwrap();
        let ids = (receiver.id(), notified.id(), queued);
        drop(tx);
        notify.notify_one();
        receiver.await.unwrap();
        notified.await.unwrap();
        (dump, ids)
    });
    let (receiver, notified, queued) = ids;
    assert_eq!(dump.task(receiver).unwrap().waits_on, [WaitsOn::Sync { what: "mpsc::Receiver::recv" }]);
    assert_eq!(dump.task(notified).unwrap().waits_on, [WaitsOn::Sync { what: "Notify::notified" }]);
    assert_eq!(dump.task(queued).unwrap().state, TaskState::Scheduled);
    assert_eq!(dump.task(queued).unwrap().polls, Some(0));
    let dumper = dump.tasks().iter().find(|t| t.name.as_deref() == Some("dumper")).unwrap();
    assert_eq!(dumper.state, TaskState::Running);
    // The block_on future awaits the dumper's JoinHandle.
    let block_on = dump.block_on().unwrap();
    assert_eq!(block_on.state, TaskState::Idle);
    assert_eq!(block_on.waits_on, [WaitsOn::Task { id: dumper.id }]);
    // Outside block_on there is no block_on future.
    assert!(rt.dump().block_on().is_none());
    assert!(rt.dump().tasks().is_empty());
}

#[test]
fn a_task_aborted_while_idle_leaves_the_records() {
    let rt = Runtime::builder().track_tasks(true).build().unwrap();
    rt.block_on(async {
        // Many aborted tasks: their records are swept, not kept forever.
        for _ in 0..500 {
            let handle = corio::spawn(std::future::pending::<()>());
            corio::task::yield_now().await;
            handle.abort();
        }
        let dump = corio::dump();
        assert!(dump.tasks().is_empty(), "{dump}");
    });
}

#[test]
fn http_server_serves_the_dump_at_tasks() {
    let server = common::start("http_server", &["--track-tasks"]);
    // One idle keep-alive connection, then ask for the dump on another.
    // The server accepts connections in the order they were made, and polls
    // the first one's task (which finds nothing to read and waits) before
    // the second one's reads its request.
    let idle = std::net::TcpStream::connect(server.addr).unwrap();
    let response = common::raw(&server, b"GET /tasks HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n");
    let body = String::from_utf8(response).unwrap();
    assert!(body.starts_with("HTTP/1.1 200 OK\r\n"), "{body}");
    assert!(body.contains("text/plain"), "{body}");
    // The dump lists the accept loop waiting on the listener, and the idle
    // connection's task waiting to read its socket.
    assert!(body.contains("(tcp listener 127.0.0.1:"), "{body}");
    let idle_name = format!("{} -> {}", server.addr, idle.local_addr().unwrap());
    assert!(body.contains(&format!("({}) readable", format_args!("tcp {idle_name}"))), "{body}");
    assert!(body.contains("running"), "the task answering /tasks: {body}");
}

#[test]
fn an_rpc_server_answers_corio_tasks_with_its_dump() {
    use corio::rpc::{Client, Server, TASKS_METHOD};
    // The server runs on its own runtime and thread, with task details.
    let (addr_tx, addr_rx) = std::sync::mpsc::channel();
    let (stop_tx, stop_rx) = std::sync::mpsc::channel::<()>();
    let server = std::thread::spawn(move || {
        let rt = Runtime::builder().track_tasks(true).build().unwrap();
        rt.block_on(async move {
            let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
            addr_tx.send(listener.local_addr().unwrap()).unwrap();
            let gate = std::rc::Rc::new(corio::sync::Notify::new());
            let server = Server::new().shutdown_grace(Duration::ZERO).route("wait", move |_request| {
                let gate = gate.clone();
                async move {
                    gate.notified().await;
                    Ok(Vec::new())
                }
            });
            let stop = async move {
                let _ = corio::spawn_blocking(move || stop_rx.recv()).await;
            };
            server.serve_with_shutdown(listener, stop).await.unwrap();
        });
    });
    let addr = addr_rx.recv().unwrap();
    let text = corio::block_on(async move {
        let client = Client::connect(addr).await.unwrap();
        let waiting = corio::spawn({
            let client = client.clone();
            async move { client.call("wait", b"").await }
        });
        corio::task::yield_now().await; // the call is sent before the next one
                                        // The server reads frames in order: `wait` has started when the
                                        // first `corio.tasks` is answered, and its task has run (and waits
                                        // on its Notify) by the time the second one is read.
        let first = client.call(TASKS_METHOD, b"").await.unwrap();
        assert!(String::from_utf8(first).unwrap().contains(" wait"));
        let dump = client.call(TASKS_METHOD, b"").await.unwrap();
        waiting.abort(); // cancels the call: the server drops the handler
        String::from_utf8(dump).unwrap()
    });
    stop_tx.send(()).unwrap();
    server.join().unwrap();
    assert!(text.contains("live tasks"), "{text}");
    let wait = text
        .lines()
        .find(|line| line.contains(" wait ") || line.ends_with(" wait"))
        .unwrap_or_else(|| panic!("{text}"));
    assert!(wait.contains("idle") && wait.contains("Notify::notified"), "{wait}");
    assert!(text.lines().any(|l| l.contains("rpc server connection") && l.contains("running")), "{text}");
    assert!(text.lines().any(|l| l.contains("rpc server writer") && l.contains("idle")), "{text}");
}

#[cfg(feature = "trace-ignored-wakes")]
#[test]
fn with_the_feature_ignored_wakes_are_recorded() {
    let rt = Runtime::builder().trace_capacity(100).build().unwrap();
    rt.block_on(async {
        // A yield wakes the task during its own poll: a wake that queues
        // nothing (the task is running), recorded as an instant.
        corio::spawn_named("yielder", corio::task::yield_now()).await.unwrap();
    });
    let trace = parse(&rt.trace_json().unwrap());
    check_format(&trace);
    let ignored: Vec<&Value> =
        events(&trace).iter().filter(|e| e["ph"] == "i" && e["cat"] == "wake").collect();
    assert_eq!(ignored.len(), 1, "{ignored:?}");
    assert_eq!(ignored[0]["args"]["by"], "itself");
    assert_eq!(ignored[0]["tid"], 1);
}

#[test]
fn a_traced_runtime_names_tasks_in_its_dump_without_task_details() {
    let rt = Runtime::builder().virtual_time(true).trace_capacity(100).build().unwrap();
    rt.block_on(async {
        let sleeper = corio::spawn_named("sleeper", corio::time::sleep(Duration::from_secs(1)));
        corio::task::yield_now().await;
        let dump = corio::dump();
        assert!(!dump.has_details());
        let task = dump.task(sleeper.id()).unwrap();
        assert_eq!(task.name.as_deref(), Some("sleeper"));
        assert_eq!(task.polls, None);
        assert!(matches!(task.waits_on[..], [WaitsOn::Timer { .. }]));
        sleeper.await.unwrap();
    });
}

#[test]
fn trace_plot_draws_a_trace() {
    let dir = scratch("plot");
    let (trace, svg) = (dir.join("trace.json"), dir.join("trace.svg"));
    let rt = Runtime::builder().virtual_time(true).trace(&trace).build().unwrap();
    rt.block_on(async {
        let sleeper = corio::spawn_named("sleeper", corio::time::sleep(Duration::from_millis(5)));
        corio::spawn_named("quick", async {}).await.unwrap();
        sleeper.await.unwrap();
    });
    drop(rt);
    let out =
        std::process::Command::new(common::example("trace_plot")).arg(&trace).arg(&svg).output().unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let stdout = String::from_utf8_lossy(&out.stdout);
    // Polls: block_on 3, quick 1, sleeper 2; arrows: two spawns, quick and
    // sleeper waking block_on, the timer waking sleeper.
    assert!(stdout.contains("4 rows, 6 polls, 5 arrows"), "{stdout}");
    let picture = std::fs::read_to_string(&svg).unwrap();
    assert!(picture.starts_with("<svg"), "{}", &picture[..100.min(picture.len())]);
    for row in ["task 1: sleeper", "task 2: quick", "block_on future"] {
        assert!(picture.contains(row), "no row {row}");
    }
    // Not a trace: a clear error, no picture.
    std::fs::write(&trace, "{}").unwrap();
    let out =
        std::process::Command::new(common::example("trace_plot")).arg(&trace).arg(&svg).output().unwrap();
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("no traceEvents"));
    std::fs::remove_dir_all(dir).unwrap();
}
