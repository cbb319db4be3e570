//! `join!`, `join_all`, `race`, `select` and `JoinSet` through the public API.

use std::cell::{Cell, RefCell};
use std::pin::pin;
use std::rc::Rc;
use std::time::Duration;

use corio::task::yield_now;
use corio::time::{sleep, Instant};
use corio::{join_all, race, select, spawn, Either, JoinSet, Runtime};

fn virtual_rt() -> Runtime {
    Runtime::builder().virtual_time(true).build().unwrap()
}

/// Counts destructor runs.
struct Tracked(Rc<Cell<usize>>);

impl Drop for Tracked {
    fn drop(&mut self) {
        self.0.set(self.0.get() + 1);
    }
}

async fn after(secs: u64, value: u64) -> u64 {
    sleep(Duration::from_secs(secs)).await;
    value
}

#[test]
fn join_macro_runs_concurrently_and_keeps_order() {
    let rt = virtual_rt();
    rt.block_on(async {
        let start = Instant::now();
        let (a, b, c) = corio::join!(after(3, 1), after(1, 2), async { "three" });
        assert_eq!((a, b, c), (1, 2, "three"));
        assert_eq!(start.elapsed(), Duration::from_secs(3));
        let (single,) = corio::join!(after(1, 9));
        assert_eq!(single, 9);
        // Trailing comma and many arguments.
        let t = corio::join!(
            async { 1 },
            async { 2 },
            async { 3 },
            async { 4 },
            async { 5 },
            async { 6 },
            async { 7 },
            async { 8 },
            async { 9 },
            async { 10 },
            async { 11 },
            async { 12 },
            async { 13 },
        );
        assert_eq!(t.12, 13);
        // The macro's own bindings do not capture the caller's names.
        let future = async { 1 };
        let cx = 2;
        let done = async { 3 };
        assert_eq!(corio::join!(future, async { cx }, done), (1, 2, 3));
    });
}

#[test]
fn join_macro_shares_state_without_spawning() {
    let rt = virtual_rt();
    rt.block_on(async {
        let log = RefCell::new(Vec::new());
        let ping = async {
            for i in 0..3 {
                log.borrow_mut().push(("ping", i));
                yield_now().await;
            }
        };
        let pong = async {
            for i in 0..3 {
                log.borrow_mut().push(("pong", i));
                yield_now().await;
            }
        };
        corio::join!(ping, pong);
        let log = log.borrow();
        assert_eq!(log[..4], [("ping", 0), ("pong", 0), ("ping", 1), ("pong", 1)]);
    });
    assert_eq!(rt.stats().tasks_spawned, 0);
}

#[test]
fn join_all_gives_outputs_in_input_order() {
    let rt = virtual_rt();
    rt.block_on(async {
        let start = Instant::now();
        let out = join_all([5, 1, 3].map(|s| after(s, s * 10))).await;
        assert_eq!(out, [50, 10, 30]);
        assert_eq!(start.elapsed(), Duration::from_secs(5));
        let empty: Vec<u64> = join_all(Vec::<std::future::Ready<u64>>::new()).await;
        assert!(empty.is_empty());
    });
}

#[test]
fn race_returns_the_winner_and_drops_the_loser() {
    let rt = virtual_rt();
    rt.block_on(async {
        let drops = Rc::new(Cell::new(0));
        let guard = Tracked(drops.clone());
        let slow = async move {
            let _guard = guard;
            after(10, 0).await
        };
        let start = Instant::now();
        let winner = race(after(2, 7), slow).await;
        assert_eq!(winner, Either::Left(7));
        assert_eq!(drops.get(), 1, "the loser was dropped");
        assert_eq!(start.elapsed(), Duration::from_secs(2));
        // Both ready at once: the first argument wins.
        assert!(race(async { 1 }, async { 2 }).await.is_left());
    });
}

#[test]
fn select_hands_back_the_unfinished_future() {
    let rt = virtual_rt();
    rt.block_on(async {
        let a = pin!(after(4, 4));
        let b = pin!(after(1, 1));
        match select(a, b).await {
            Either::Right((first, rest)) => {
                assert_eq!(first, 1);
                assert_eq!(rest.await, 4);
            }
            Either::Left(_) => panic!("b finishes first"),
        }
        assert_eq!(Instant::now().elapsed(), Duration::ZERO);
    });
}

#[test]
fn join_set_yields_in_completion_order() {
    let rt = virtual_rt();
    rt.block_on(async {
        let mut set = JoinSet::new();
        for secs in [4, 2, 3, 1] {
            set.spawn(after(secs, secs));
        }
        assert_eq!(set.len(), 4);
        let mut order = Vec::new();
        while let Some(result) = set.join_next().await {
            order.push(result.unwrap());
        }
        assert_eq!(order, [1, 2, 3, 4]);
        assert!(set.is_empty());
        assert!(set.join_next().await.is_none());
    });
}

#[test]
fn join_set_reports_panics_and_aborts() {
    let rt = virtual_rt();
    rt.block_on(async {
        let mut set = JoinSet::new();
        set.spawn(async { panic!("boom") });
        let abort = set.spawn(after(100, 0));
        set.spawn(after(1, 1));
        abort.abort();
        let mut panics = 0;
        let mut cancels = 0;
        let mut values = Vec::new();
        while let Some(result) = set.join_next().await {
            match result {
                Ok(v) => values.push(v),
                Err(e) if e.is_panic() => {
                    assert_eq!(e.panic_message(), Some("boom"));
                    panics += 1;
                }
                Err(e) => {
                    assert!(e.is_cancelled());
                    cancels += 1;
                }
            }
        }
        assert_eq!((panics, cancels, values), (1, 1, vec![1]));
        assert!(abort.is_finished());
        assert!(Instant::now().elapsed() < Duration::from_secs(100));
    });
}

#[test]
fn dropping_a_join_set_aborts_its_tasks() {
    let rt = virtual_rt();
    let drops = Rc::new(Cell::new(0));
    let finished = Rc::new(Cell::new(0));
    rt.block_on(async {
        let mut set = JoinSet::new();
        for _ in 0..10 {
            let (guard, finished) = (Tracked(drops.clone()), finished.clone());
            set.spawn(async move {
                let _guard = guard;
                sleep(Duration::from_secs(10)).await;
                finished.set(finished.get() + 1);
            });
        }
        yield_now().await;
        drop(set);
        assert_eq!(drops.get(), 10, "every task's future dropped once");
        sleep(Duration::from_secs(20)).await;
    });
    assert_eq!(finished.get(), 0);
    assert_eq!(drops.get(), 10);
}

#[test]
fn abort_all_then_join_reports_cancellations() {
    let rt = virtual_rt();
    rt.block_on(async {
        let mut set = JoinSet::new();
        for i in 0..5 {
            set.spawn(after(10, i));
        }
        set.spawn(async { 99 });
        yield_now().await; // the quick one finishes
        set.abort_all();
        let mut ok = Vec::new();
        let mut cancelled = 0;
        while let Some(r) = set.join_next().await {
            match r {
                Ok(v) => ok.push(v),
                Err(e) => {
                    assert!(e.is_cancelled());
                    cancelled += 1;
                }
            }
        }
        assert_eq!(ok, [99]);
        assert_eq!(cancelled, 5);
    });
}

#[test]
fn detach_all_lets_tasks_run_on() {
    let rt = virtual_rt();
    let finished = Rc::new(Cell::new(0));
    rt.block_on(async {
        let mut set = JoinSet::new();
        for _ in 0..3 {
            let finished = finished.clone();
            set.spawn(async move {
                sleep(Duration::from_secs(1)).await;
                finished.set(finished.get() + 1);
            });
        }
        set.detach_all();
        assert!(set.is_empty());
        // Reusable afterwards, and detached tasks do not show up.
        set.spawn(async { sleep(Duration::from_secs(2)).await });
        assert!(set.join_next().await.unwrap().is_ok());
        sleep(Duration::from_secs(5)).await;
        let mut set2: JoinSet<u64> = JoinSet::new();
        assert!(set2.join_next().await.is_none());
    });
    assert_eq!(finished.get(), 3);
}

#[test]
fn abort_handle_of_a_joined_task_does_nothing() {
    let rt = virtual_rt();
    rt.block_on(async {
        let mut set = JoinSet::new();
        let first = set.spawn(async { 1 });
        assert_eq!(set.join_next().await.unwrap().unwrap(), 1);
        // The slot is reused by a new task; the old handle must not touch it.
        let second = set.spawn(after(1, 2));
        first.abort();
        assert!(first.is_finished());
        assert!(!second.is_finished());
        assert_eq!(set.join_next().await.unwrap().unwrap(), 2);
        assert!(set.try_join_next().is_none());
    });
}

#[test]
fn join_set_handles_many_tasks() {
    let rt = virtual_rt();
    rt.block_on(async {
        // Miri-sized under Miri: still many timer slots.
        const TASKS: u64 = if cfg!(miri) { 100 } else { 10_000 };
        let mut set = JoinSet::new();
        for i in 0..TASKS {
            set.spawn(async move {
                sleep(Duration::from_millis(i % 97)).await;
                i
            });
        }
        let mut sum = 0;
        let mut n = 0;
        while let Some(r) = set.join_next().await {
            sum += r.unwrap();
            n += 1;
        }
        assert_eq!(n, TASKS);
        assert_eq!(sum, (0..TASKS).sum::<u64>());
        spawn(async {}).await.unwrap();
    });
}

#[test]
fn shutdown_aborts_and_waits() {
    let rt = virtual_rt();
    rt.block_on(async {
        let mut set = JoinSet::new();
        for i in 0..4 {
            set.spawn(after(50, i));
        }
        set.shutdown().await;
        assert!(set.is_empty());
        assert!(Instant::now().elapsed() < Duration::from_secs(50));
    });
}
