//! What an idle task costs: memory per parked task, and the time to spawn a
//! million of them and to wake them all once. corio beside tokio's
//! current-thread runtime, doing the same work.
//!
//! Every task captures one `u64` (its index) and awaits a flag future: the
//! first poll stores the task's waker in slot `index` of a table and returns
//! `Pending`, so the task sits parked in no queue. Then:
//!
//! 1. *spawn*: spawn N tasks (in chunks of 1,024, waiting after each chunk
//!    until all have parked, so no run queue grows to N entries) and measure
//!    the resident set size (RSS, from `/proc/self/statm`) before and after:
//!    the difference over N is the memory one idle task costs;
//! 2. *wake all*: set the flag, take every stored waker and wake it, and
//!    wait until every task has run to completion.
//!
//! Each runtime runs in a fresh child process (this program re-executed with
//! `--child`), so one runtime's freed memory cannot hide the other's cost.
//! The waker table is allocated and touched before the first RSS reading, so
//! it is not counted. The numbers are from the allocator's view of the
//! process (glibc malloc here), so they include its per-allocation overhead,
//! which is part of the real cost.
//!
//! Run it (N defaults to 1,000,000):
//!
//! ```text
//! taskset -c 1 cargo run --release --example idle_tasks
//! taskset -c 1 cargo run --release --example idle_tasks -- 100000
//! ```

use std::cell::{Cell, RefCell};
use std::future::{poll_fn, Future};
use std::process::Command;
use std::task::{Poll, Waker};
use std::time::{Duration, Instant};

const CHUNK: usize = 1024;

thread_local! {
    /// Set when the tasks may finish.
    static RELEASED: Cell<bool> = const { Cell::new(false) };
    /// Slot `i` holds the waker of task `i` while it is parked.
    static WAKERS: RefCell<Vec<Option<Waker>>> = const { RefCell::new(Vec::new()) };
    /// Tasks that have parked at least once.
    static PARKED: Counter = const { Counter::new() };
    /// Tasks that have finished.
    static DONE: Counter = const { Counter::new() };
}

/// A count and one waiter to wake when it reaches a target.
struct Counter {
    count: Cell<usize>,
    target: Cell<usize>,
    waiter: Cell<Option<Waker>>,
}

impl Counter {
    const fn new() -> Counter {
        Counter { count: Cell::new(0), target: Cell::new(usize::MAX), waiter: Cell::new(None) }
    }

    fn arrive(&self) {
        self.count.set(self.count.get() + 1);
        if self.count.get() == self.target.get() {
            if let Some(waker) = self.waiter.take() {
                waker.wake();
            }
        }
    }
}

/// Waits until `counter` reaches `target`.
async fn reach(counter: &'static std::thread::LocalKey<Counter>, target: usize) {
    poll_fn(|cx| {
        counter.with(|c| {
            if c.count.get() >= target {
                return Poll::Ready(());
            }
            c.target.set(target);
            c.waiter.set(Some(cx.waker().clone()));
            Poll::Pending
        })
    })
    .await
}

/// The body of every task: park until released, then finish. The future
/// holds just the index (and its own state).
// Written as an `async move` block rather than an `async fn`: the block's
// state machine is 24 bytes, the `async fn`'s 32 (it keeps the argument apart
// from the body's copy), and the point here is a *small* idle task.
#[allow(clippy::manual_async_fn)]
fn idle_task(index: u64) -> impl Future<Output = ()> + Send + 'static {
    async move {
        poll_fn(|cx| {
            if RELEASED.get() {
                return Poll::Ready(());
            }
            let first = WAKERS.with_borrow_mut(|w| w[index as usize].replace(cx.waker().clone()).is_none());
            if first {
                PARKED.with(Counter::arrive);
            }
            Poll::Pending
        })
        .await;
        DONE.with(Counter::arrive);
    }
}

/// Spawns `n` idle tasks with `spawn` and waits until all have parked.
async fn spawn_all(n: usize, spawn: impl Fn(u64)) {
    let mut spawned = 0;
    while spawned < n {
        let end = (spawned + CHUNK).min(n);
        for index in spawned..end {
            spawn(index as u64);
        }
        spawned = end;
        reach(&PARKED, spawned).await;
    }
}

/// Releases every task, wakes each stored waker once, and waits for all to finish.
async fn wake_all(n: usize) {
    RELEASED.set(true);
    let wakers: Vec<Waker> = WAKERS.with_borrow_mut(|w| w.iter_mut().filter_map(Option::take).collect());
    for waker in wakers {
        waker.wake();
    }
    reach(&DONE, n).await;
}

/// Resident set size in bytes, from `/proc/self/statm` (second field, pages).
fn rss_bytes() -> usize {
    let statm = std::fs::read_to_string("/proc/self/statm").expect("this example needs Linux /proc");
    let pages: usize = statm.split_whitespace().nth(1).and_then(|f| f.parse().ok()).expect("statm format");
    pages * page_size()
}

fn page_size() -> usize {
    Command::new("getconf")
        .arg("PAGESIZE")
        .output()
        .ok()
        .and_then(|out| String::from_utf8(out.stdout).ok())
        .and_then(|s| s.trim().parse().ok())
        .unwrap_or(4096)
}

/// What one child measured.
struct Report {
    rss_delta: usize,
    spawn: Duration,
    wake: Duration,
}

fn child(runtime: &str, n: usize) -> Report {
    WAKERS.with_borrow_mut(|w| {
        w.reserve_exact(n);
        w.resize_with(n, || None); // touches every page now, before the first reading
    });
    match runtime {
        "corio" => {
            let rt = corio::Runtime::new().unwrap();
            rt.block_on(async {}); // let the runtime settle its own allocations
            let before = rss_bytes();
            let start = Instant::now();
            rt.block_on(spawn_all(n, |i| drop(corio::spawn(idle_task(i)))));
            let spawn = start.elapsed();
            let rss_delta = rss_bytes().saturating_sub(before);
            let start = Instant::now();
            rt.block_on(wake_all(n));
            Report { rss_delta, spawn, wake: start.elapsed() }
        }
        "tokio" => {
            let rt = tokio::runtime::Builder::new_current_thread().build().unwrap();
            rt.block_on(async {});
            let before = rss_bytes();
            let start = Instant::now();
            rt.block_on(spawn_all(n, |i| drop(tokio::spawn(idle_task(i)))));
            let spawn = start.elapsed();
            let rss_delta = rss_bytes().saturating_sub(before);
            let start = Instant::now();
            rt.block_on(wake_all(n));
            Report { rss_delta, spawn, wake: start.elapsed() }
        }
        other => panic!("unknown runtime {other:?}"),
    }
}

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    if args.first().map(String::as_str) == Some("--child") {
        let n = args[2].parse().expect("task count");
        let report = child(&args[1], n);
        // One line for the parent: rss_delta_bytes spawn_ns wake_ns
        println!("{} {} {}", report.rss_delta, report.spawn.as_nanos(), report.wake.as_nanos());
        return;
    }
    let n: usize = args.first().map(|a| a.parse().expect("usage: idle_tasks [N]")).unwrap_or(1_000_000);
    let exe = std::env::current_exe().expect("own path");
    println!("{n} idle tasks per runtime, each runtime in a fresh process\n");
    println!(
        "{:<22} {:>14} {:>12} {:>12} {:>14} {:>12} {:>12}",
        "runtime", "RSS delta MiB", "bytes/task", "spawn ms", "spawn ns/task", "wake ms", "wake ns/task"
    );
    for runtime in ["corio", "tokio"] {
        let out = Command::new(&exe).args(["--child", runtime, &n.to_string()]).output().expect("re-exec");
        assert!(out.status.success(), "{runtime} child failed: {}", String::from_utf8_lossy(&out.stderr));
        let line = String::from_utf8(out.stdout).expect("utf-8");
        let fields: Vec<u128> = line.split_whitespace().map(|f| f.parse().expect("number")).collect();
        let (rss, spawn, wake) = (fields[0], fields[1], fields[2]);
        let label = if runtime == "tokio" { "tokio current_thread" } else { runtime };
        println!(
            "{:<22} {:>14.1} {:>12.1} {:>12.1} {:>14.1} {:>12.1} {:>12.1}",
            label,
            rss as f64 / (1024.0 * 1024.0),
            rss as f64 / n as f64,
            spawn as f64 / 1e6,
            spawn as f64 / n as f64,
            wake as f64 / 1e6,
            wake as f64 / n as f64,
        );
    }
}
