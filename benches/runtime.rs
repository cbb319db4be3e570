//! Executor micro-benchmarks: corio side by side with tokio's current-thread
//! runtime and async-executor's `LocalExecutor`, doing the same work.
//!
//! Every group has one function per runtime, named `corio`, `tokio` and
//! `async-executor`, so `group/corio` over `group/tokio` is the ratio to
//! read. Throughput is set to the number of operations, so criterion also
//! prints the time per task, per hop, per yield or per timer.
//!
//! - `spawn_complete`: spawn 10,000 trivial tasks, then await every handle.
//! - `wake_pingpong`: two tasks hand a wake back and forth, 100,000 hops,
//!   through a tiny flag-plus-waker cell (the same code on every runtime).
//! - `yield_1m`: one task calls its runtime's `yield_now` 1,000,000 times.
//! - `timers_100k`: arm 100,000 one-minute sleeps (each polled once, so it
//!   registers) and cancel them by dropping. async-executor has no timers of
//!   its own, so that column uses `async_io::Timer`, smol's timer.
//! - `spawn_blocking_1k`: one task runs 1,000 trivial closures on the
//!   blocking pool, one after another, awaiting each: the round trip to a
//!   pool thread and back (queue, condvar wake, remote wake of the task).
//!   Both pools are warm after the first iteration (idle threads wait 10 s
//!   before exiting). corio and tokio only.
//!
//! `spawn_complete`, `wake_pingpong` and `yield_1m` also run corio with
//! tracing on (`corio-traced`: `Builder::trace_capacity`, the trace kept
//! in memory), the cost of `corio::trace` (`docs/BENCHMARKS.md`, "Tracing").
//!
//! Run it pinned to one core, on an otherwise quiet machine:
//!
//! ```text
//! taskset -c 1 cargo bench --bench runtime -- --noplot
//! ```
//!
//! `docs/BENCHMARKS.md` records the numbers and the machine.

use std::cell::Cell;
use std::future::{poll_fn, Future};
use std::hint::black_box;
use std::pin::Pin;
use std::rc::Rc;
use std::task::{Poll, Waker};
use std::time::Duration;

use async_executor::LocalExecutor;
use criterion::{criterion_group, criterion_main, BenchmarkGroup, Criterion, Throughput};

const SPAWN_TASKS: usize = 10_000;
const PINGPONG_HOPS: u64 = 100_000;
const YIELDS: u64 = 1_000_000;
const TIMERS: usize = 100_000;
/// Far enough out that no timer fires during a run.
const TIMER_DELAY: Duration = Duration::from_secs(60);
const BLOCKING_JOBS: u64 = 1_000;

/// corio's runtimes: plain, and recording a trace (the last 2^20 events,
/// in memory), under the function names `corio` and `corio-traced`.
fn corio_runtimes() -> [(&'static str, corio::Runtime); 2] {
    [
        ("corio", corio::Runtime::new().unwrap()),
        ("corio-traced", corio::Runtime::builder().trace_capacity(1 << 20).build().unwrap()),
    ]
}

fn tokio_rt() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread().enable_time().build().unwrap()
}

/// Small samples: each sample is already thousands of operations, and the
/// machine is shared.
fn configure<'a>(
    c: &'a mut Criterion,
    name: &str,
    elements: u64,
) -> BenchmarkGroup<'a, criterion::measurement::WallTime> {
    let mut group = c.benchmark_group(name);
    group.sample_size(10);
    group.warm_up_time(Duration::from_secs(1));
    group.measurement_time(Duration::from_secs(3));
    group.throughput(Throughput::Elements(elements));
    group
}

// ---------------------------------------------------------------- spawn_complete

fn spawn_complete(c: &mut Criterion) {
    let mut group = configure(c, "spawn_complete", SPAWN_TASKS as u64);

    for (name, rt) in corio_runtimes() {
        group.bench_function(name, |b| {
            b.iter(|| {
                rt.block_on(async {
                    let mut handles = Vec::with_capacity(SPAWN_TASKS);
                    for i in 0..SPAWN_TASKS {
                        handles.push(corio::spawn(async move { black_box(i) }));
                    }
                    for handle in handles {
                        black_box(handle.await.unwrap());
                    }
                })
            })
        });
    }

    let rt = tokio_rt();
    group.bench_function("tokio", |b| {
        b.iter(|| {
            rt.block_on(async {
                let mut handles = Vec::with_capacity(SPAWN_TASKS);
                for i in 0..SPAWN_TASKS {
                    handles.push(tokio::spawn(async move { black_box(i) }));
                }
                for handle in handles {
                    black_box(handle.await.unwrap());
                }
            })
        })
    });

    let ex = LocalExecutor::new();
    group.bench_function("async-executor", |b| {
        b.iter(|| {
            futures_lite::future::block_on(ex.run(async {
                let mut handles = Vec::with_capacity(SPAWN_TASKS);
                for i in 0..SPAWN_TASKS {
                    handles.push(ex.spawn(async move { black_box(i) }));
                }
                for handle in handles {
                    black_box(handle.await);
                }
            }))
        })
    });
    group.finish();
}

// ---------------------------------------------------------------- wake_pingpong

/// A one-slot, single-thread signal: a flag and the waker of whoever waits.
/// The same code runs on every runtime, so only the runtime's wake and
/// reschedule path differs.
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

/// Task `ping`: signal the other side, wait for the answer; `pong` mirrors it.
/// One hop is one notify, one wake and one poll of the woken task.
fn pingpong_pair() -> (impl Future<Output = ()>, impl Future<Output = ()>) {
    let (to_pong, to_ping) = (Rc::new(Signal::default()), Rc::new(Signal::default()));
    let (a, b) = (to_pong.clone(), to_ping.clone());
    let ping = async move {
        for _ in 0..PINGPONG_HOPS / 2 {
            a.notify();
            b.wait().await;
        }
    };
    let pong = async move {
        for _ in 0..PINGPONG_HOPS / 2 {
            to_pong.wait().await;
            to_ping.notify();
        }
    };
    (ping, pong)
}

fn wake_pingpong(c: &mut Criterion) {
    let mut group = configure(c, "wake_pingpong", PINGPONG_HOPS);

    for (name, rt) in corio_runtimes() {
        group.bench_function(name, |b| {
            b.iter(|| {
                rt.block_on(async {
                    let (ping, pong) = pingpong_pair();
                    let (ping, pong) = (corio::spawn(ping), corio::spawn(pong));
                    ping.await.unwrap();
                    pong.await.unwrap();
                })
            })
        });
    }

    let rt = tokio_rt();
    let local = tokio::task::LocalSet::new();
    group.bench_function("tokio", |b| {
        b.iter(|| {
            local.block_on(&rt, async {
                let (ping, pong) = pingpong_pair();
                let (ping, pong) = (tokio::task::spawn_local(ping), tokio::task::spawn_local(pong));
                ping.await.unwrap();
                pong.await.unwrap();
            })
        })
    });

    let ex = LocalExecutor::new();
    group.bench_function("async-executor", |b| {
        b.iter(|| {
            futures_lite::future::block_on(ex.run(async {
                let (ping, pong) = pingpong_pair();
                let (ping, pong) = (ex.spawn(ping), ex.spawn(pong));
                ping.await;
                pong.await;
            }))
        })
    });
    group.finish();
}

// ---------------------------------------------------------------- yield_1m

fn yield_1m(c: &mut Criterion) {
    let mut group = configure(c, "yield_1m", YIELDS);

    for (name, rt) in corio_runtimes() {
        group.bench_function(name, |b| {
            b.iter(|| {
                rt.block_on(async {
                    corio::spawn(async {
                        for _ in 0..YIELDS {
                            corio::task::yield_now().await;
                        }
                    })
                    .await
                    .unwrap()
                })
            })
        });
    }

    let rt = tokio_rt();
    group.bench_function("tokio", |b| {
        b.iter(|| {
            rt.block_on(async {
                tokio::spawn(async {
                    for _ in 0..YIELDS {
                        tokio::task::yield_now().await;
                    }
                })
                .await
                .unwrap()
            })
        })
    });

    let ex = LocalExecutor::new();
    group.bench_function("async-executor", |b| {
        b.iter(|| {
            futures_lite::future::block_on(ex.run(async {
                ex.spawn(async {
                    for _ in 0..YIELDS {
                        futures_lite::future::yield_now().await;
                    }
                })
                .await
            }))
        })
    });
    group.finish();
}

// ---------------------------------------------------------------- timers_100k

/// Builds `TIMERS` sleeps, polls each once from the calling task (so each
/// registers with its runtime's timer structure), then drops them all
/// (cancelling each). The sleeps live in a `Vec` that never reallocates
/// after they are pinned, so no runtime pays for a `Box` per timer.
async fn arm_and_cancel<S: Future>(make: impl Fn() -> S) {
    let mut sleeps: Vec<S> = (0..TIMERS).map(|_| make()).collect();
    poll_fn(|cx| {
        for sleep in sleeps.iter_mut() {
            // SAFETY: `sleeps` is neither pushed to nor moved from here on,
            // and dropping the `Vec` drops each element in place, so every
            // element stays at this address until its destructor runs.
            let sleep = unsafe { Pin::new_unchecked(sleep) };
            assert!(sleep.poll(cx).is_pending(), "a one-minute timer fired");
        }
        Poll::Ready(())
    })
    .await;
    drop(sleeps);
}

fn timers_100k(c: &mut Criterion) {
    let mut group = configure(c, "timers_100k", TIMERS as u64);

    let rt = corio::Runtime::new().unwrap();
    group.bench_function("corio", |b| {
        b.iter(|| rt.block_on(arm_and_cancel(|| corio::time::sleep(TIMER_DELAY))))
    });

    let rt = tokio_rt();
    group.bench_function("tokio", |b| {
        b.iter(|| rt.block_on(arm_and_cancel(|| tokio::time::sleep(TIMER_DELAY))))
    });

    // async-io drives its timers from its reactor; `async_io::block_on` is
    // how smol runs an executor with it.
    let ex = LocalExecutor::new();
    group.bench_function("async-executor", |b| {
        b.iter(|| async_io::block_on(ex.run(arm_and_cancel(|| async_io::Timer::after(TIMER_DELAY)))))
    });
    group.finish();
}

// ---------------------------------------------------------------- spawn_blocking_1k

fn spawn_blocking_1k(c: &mut Criterion) {
    let mut group = configure(c, "spawn_blocking_1k", BLOCKING_JOBS);

    let rt = corio::Runtime::new().unwrap();
    group.bench_function("corio", |b| {
        b.iter(|| {
            rt.block_on(rt.spawn(async {
                let mut sum = 0;
                for i in 0..BLOCKING_JOBS {
                    sum += corio::spawn_blocking(move || black_box(i)).await.unwrap();
                }
                black_box(sum)
            }))
            .unwrap()
        })
    });

    let rt = tokio_rt();
    group.bench_function("tokio", |b| {
        b.iter(|| {
            rt.block_on(rt.spawn(async {
                let mut sum = 0;
                for i in 0..BLOCKING_JOBS {
                    sum += tokio::task::spawn_blocking(move || black_box(i)).await.unwrap();
                }
                black_box(sum)
            }))
            .unwrap()
        })
    });
    group.finish();
}

criterion_group!(benches, spawn_complete, wake_pingpong, yield_1m, timers_100k, spawn_blocking_1k);
criterion_main!(benches);
