//! The corio side of `benches/runtime.rs`, one body per `measured_*`
//! function, for instruction counts under callgrind (repeatable on a busy
//! machine, unlike wall-clock time). `benches/callgrind.sh` builds this
//! against any commits of the runtime and prints instructions per operation.
//!
//! Usage: bodies spawn|pingpong|timers|yield REPS
//!
//! Built with the `traced` feature (`TRACED=1 benches/callgrind.sh`), the
//! bodies run on a runtime that records a trace in memory.
//!
//! Keep the bodies the same as in `benches/runtime.rs`. Each runs once
//! unmeasured first (free lists and queues reach their working size), with
//! different constants so the compiler cannot fold it into the measured one.

use std::cell::Cell;
use std::future::{poll_fn, Future};
use std::hint::black_box;
use std::pin::Pin;
use std::rc::Rc;
use std::task::{Poll, Waker};
use std::time::Duration;

use corio_runtime as corio;

const SPAWN_TASKS: usize = 10_000;
const PINGPONG_HOPS: u64 = 100_000;
const YIELDS: u64 = 100_000;
const TIMERS: usize = 100_000;

#[derive(Default)]
struct Signal {
    set: Cell<bool>,
    waiter: Cell<Option<Waker>>,
}

impl Signal {
    fn notify(&self) {
        self.set.set(true);
        if let Some(waker) = self.waiter.take() {
            waker.wake();
        }
    }

    async fn wait(&self) {
        poll_fn(|cx| {
            if self.set.replace(false) {
                return Poll::Ready(());
            }
            self.waiter.set(Some(cx.waker().clone()));
            Poll::Pending
        })
        .await
    }
}

fn pingpong_pair(hops: u64) -> (impl Future<Output = ()>, impl Future<Output = ()>) {
    let (to_pong, to_ping) = (Rc::new(Signal::default()), Rc::new(Signal::default()));
    let (a, b) = (to_pong.clone(), to_ping.clone());
    let ping = async move {
        for _ in 0..hops / 2 {
            a.notify();
            b.wait().await;
        }
    };
    let pong = async move {
        for _ in 0..hops / 2 {
            to_pong.wait().await;
            to_ping.notify();
        }
    };
    (ping, pong)
}

async fn arm_and_cancel<S: Future>(timers: usize, make: impl Fn() -> S) {
    let mut sleeps: Vec<S> = (0..timers).map(|_| make()).collect();
    poll_fn(|cx| {
        for sleep in sleeps.iter_mut() {
            // SAFETY: `sleeps` is neither pushed to nor moved from here on,
            // and dropping the `Vec` drops each element in place.
            let sleep = unsafe { Pin::new_unchecked(sleep) };
            assert!(sleep.poll(cx).is_pending(), "a one-minute timer fired");
        }
        Poll::Ready(())
    })
    .await;
    drop(sleeps);
}

fn spawn(rt: &corio::Runtime, tasks: usize) {
    rt.block_on(async {
        let mut handles = Vec::with_capacity(tasks);
        for i in 0..tasks {
            handles.push(corio::spawn(async move { black_box(i) }));
        }
        for handle in handles {
            black_box(handle.await.unwrap());
        }
    })
}

fn pingpong(rt: &corio::Runtime, hops: u64) {
    rt.block_on(async {
        let (ping, pong) = pingpong_pair(hops);
        let (ping, pong) = (corio::spawn(ping), corio::spawn(pong));
        ping.await.unwrap();
        pong.await.unwrap();
    })
}

fn timers(rt: &corio::Runtime, timers: usize, delay: Duration) {
    rt.block_on(arm_and_cancel(timers, || corio::time::sleep(delay)))
}

fn yields(rt: &corio::Runtime, yields: u64) {
    rt.block_on(async {
        corio::spawn(async move {
            for _ in 0..yields {
                corio::task::yield_now().await;
            }
        })
        .await
        .unwrap()
    })
}

#[inline(never)]
fn measured_spawn(rt: &corio::Runtime) {
    spawn(rt, black_box(SPAWN_TASKS))
}

#[inline(never)]
fn measured_pingpong(rt: &corio::Runtime) {
    pingpong(rt, black_box(PINGPONG_HOPS))
}

#[inline(never)]
fn measured_timers(rt: &corio::Runtime) {
    timers(rt, black_box(TIMERS), Duration::from_secs(60))
}

#[inline(never)]
fn measured_yield(rt: &corio::Runtime) {
    yields(rt, black_box(YIELDS))
}

/// The runtime the bodies run on: traced with the `traced` feature.
fn runtime() -> corio::Runtime {
    #[cfg(feature = "traced")]
    let builder = corio::Runtime::builder().trace_capacity(1 << 20);
    #[cfg(not(feature = "traced"))]
    let builder = corio::Runtime::builder();
    builder.build().unwrap()
}

fn main() {
    let mut args = std::env::args().skip(1);
    let which = args.next().unwrap_or_default();
    let reps: usize = args.next().map(|s| s.parse().expect("REPS is a number")).unwrap_or(3);
    let rt = runtime();
    let measured: fn(&corio::Runtime) = match which.as_str() {
        "spawn" => {
            spawn(&rt, SPAWN_TASKS + 1);
            measured_spawn
        }
        "pingpong" => {
            pingpong(&rt, 1000);
            measured_pingpong
        }
        "timers" => {
            timers(&rt, TIMERS + 1, Duration::from_secs(61));
            measured_timers
        }
        "yield" => {
            yields(&rt, 1000);
            measured_yield
        }
        _ => panic!("usage: bodies spawn|pingpong|timers|yield REPS"),
    };
    for _ in 0..reps {
        measured(&rt);
    }
}
