//! Runtimes driven from outside, as a simulator drives its nodes: a shared
//! `VirtualClock`, `Builder::seeded_order`, `Runtime::enter`,
//! `Runtime::run_until_stalled` and `Runtime::is_stalled`.

use std::cell::RefCell;
use std::collections::BTreeSet;
use std::future::poll_fn;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::rc::Rc;
use std::task::{Poll, Waker};
use std::time::Duration;

use corio::task::yield_now;
use corio::time::{sleep, Instant, VirtualClock};
use corio::{spawn, Runtime};

/// The order in which `tasks` tasks first run, on a runtime built by `build`.
fn first_poll_order(build: corio::Builder, tasks: usize) -> Vec<usize> {
    let rt = build.build().unwrap();
    let seen = Rc::new(RefCell::new(Vec::new()));
    for i in 0..tasks {
        let seen = seen.clone();
        rt.spawn(async move { seen.borrow_mut().push(i) });
    }
    rt.run_until_stalled();
    seen.take()
}

#[test]
fn without_a_seed_ready_tasks_run_first_in_first_out() {
    assert_eq!(first_poll_order(Runtime::builder(), 50), (0..50).collect::<Vec<_>>());
}

#[test]
fn a_seed_replays_its_order_and_seeds_differ() {
    let mut orders = BTreeSet::new();
    for seed in 0..20 {
        let order = first_poll_order(Runtime::builder().seeded_order(seed), 50);
        assert_eq!(order, first_poll_order(Runtime::builder().seeded_order(seed), 50), "seed {seed}");
        let mut sorted = order.clone();
        sorted.sort_unstable();
        assert_eq!(sorted, (0..50).collect::<Vec<_>>(), "every task runs exactly once");
        orders.insert(order);
    }
    // 50! orders: twenty seeds giving fewer than twenty would mean the seed is ignored.
    assert_eq!(orders.len(), 20);
}

#[test]
fn a_seeded_order_also_picks_among_woken_tasks() {
    // Tasks that yield go back on the queue; with a seed, the interleaving
    // of their second polls differs from round robin for some seed.
    let trace = |seed: u64| {
        let rt = Runtime::builder().seeded_order(seed).build().unwrap();
        let seen = Rc::new(RefCell::new(Vec::new()));
        for i in 0..4 {
            let seen = seen.clone();
            rt.spawn(async move {
                for round in 0..3 {
                    seen.borrow_mut().push((i, round));
                    yield_now().await;
                }
            });
        }
        rt.run_until_stalled();
        seen.take()
    };
    let round_robin: Vec<_> = (0..3).flat_map(|round| (0..4).map(move |i| (i, round))).collect();
    assert_eq!(trace(u64::MAX).len(), 12);
    assert!((0..10).any(|seed| trace(seed) != round_robin));
    // Each task still runs its rounds in order.
    for seed in 0..10 {
        for i in 0..4 {
            let rounds: Vec<_> = trace(seed).into_iter().filter(|&(t, _)| t == i).map(|(_, r)| r).collect();
            assert_eq!(rounds, vec![0, 1, 2]);
        }
    }
}

#[test]
fn runtimes_sharing_a_clock_read_one_time() {
    let clock = VirtualClock::new();
    let a = Runtime::builder().virtual_clock(&clock).build().unwrap();
    let b = Runtime::builder().virtual_clock(&clock).build().unwrap();
    let start = clock.now();
    assert_eq!(a.block_on(async { Instant::now() }), start);
    clock.advance(Duration::from_millis(250));
    assert_eq!(b.block_on(async { Instant::now() }), start + Duration::from_millis(250));
    // A runtime that parks with nothing ready still jumps the shared clock
    // to its next timer (block_on keeps virtual_time's meaning) ...
    a.block_on(async { sleep(Duration::from_secs(1)).await });
    assert_eq!(clock.elapsed(), Duration::from_millis(1250));
    // ... and the other runtime sees the jump.
    assert_eq!(b.block_on(async { Instant::now() }), start + Duration::from_millis(1250));
    // Backwards does nothing.
    clock.advance_to(start);
    assert_eq!(clock.elapsed(), Duration::from_millis(1250));
}

#[test]
fn run_until_stalled_never_moves_the_clock_and_names_the_next_deadline() {
    let clock = VirtualClock::new();
    let a = Runtime::builder().virtual_clock(&clock).build().unwrap();
    let b = Runtime::builder().virtual_clock(&clock).build().unwrap();
    let log = Rc::new(RefCell::new(Vec::new()));
    for (rt, name, secs) in [(&a, "a", 3u64), (&b, "b", 2)] {
        let log = log.clone();
        rt.spawn(async move {
            sleep(Duration::from_secs(secs)).await;
            log.borrow_mut().push((name, Instant::now()));
        });
    }
    let start = clock.now();
    let next_a = a.run_until_stalled();
    let next_b = b.run_until_stalled();
    assert_eq!(clock.now(), start, "no runtime moved the clock");
    assert_eq!(next_a, Some(start + Duration::from_secs(3)));
    assert_eq!(next_b, Some(start + Duration::from_secs(2)));
    assert!(a.is_stalled() && b.is_stalled());

    // The driver moves time to the earliest deadline and turns both.
    clock.advance_to(next_b.unwrap());
    assert_eq!(a.run_until_stalled(), next_a, "a's timer is not due yet");
    assert_eq!(b.run_until_stalled(), None);
    clock.advance_to(next_a.unwrap());
    assert_eq!(a.run_until_stalled(), None);
    assert_eq!(*log.borrow(), vec![("b", next_b.unwrap()), ("a", next_a.unwrap())]);
}

#[test]
fn entered_runtime_takes_spawns_and_local_wakes() {
    let rt = Runtime::builder().virtual_time(true).build().unwrap();
    let waker: Rc<RefCell<Option<Waker>>> = Rc::default();
    let task = {
        let _current = rt.enter();
        let waker = waker.clone();
        spawn(poll_fn(move |cx| {
            if waker.borrow().is_some() {
                return Poll::Ready("woken");
            }
            *waker.borrow_mut() = Some(cx.waker().clone());
            Poll::Pending
        }))
    };
    rt.run_until_stalled();
    assert!(!task.is_finished());
    let remote_before = rt.stats().wakes_remote;
    {
        let _current = rt.enter();
        waker.borrow().as_ref().unwrap().wake_by_ref();
        assert!(!rt.is_stalled(), "the wake queued the task");
        rt.run_until_stalled(); // may be called while entered
    }
    assert!(task.is_finished());
    assert_eq!(rt.stats().wakes_remote, remote_before, "the wake went to the local queue");
}

#[test]
fn a_wake_from_another_runtimes_task_is_seen_by_is_stalled() {
    let clock = VirtualClock::new();
    let a = Runtime::builder().virtual_clock(&clock).build().unwrap();
    let b = Runtime::builder().virtual_clock(&clock).build().unwrap();
    let notify = Rc::new(corio::sync::Notify::new());
    let waiter = {
        let notify = notify.clone();
        a.spawn(async move { notify.notified().await })
    };
    a.run_until_stalled();
    let notify_b = notify.clone();
    b.spawn(async move { notify_b.notify_one() });
    b.run_until_stalled();
    assert!(!a.is_stalled(), "a's task was woken from b's thread context, through a's injector");
    a.run_until_stalled();
    assert!(waiter.is_finished());
}

#[test]
fn run_until_stalled_inside_another_runtime_panics() {
    let outer = Runtime::new().unwrap();
    let inner = Runtime::new().unwrap();
    let result = catch_unwind(AssertUnwindSafe(|| outer.block_on(async { inner.run_until_stalled() })));
    let message = result.unwrap_err();
    let message = message
        .downcast_ref::<String>()
        .cloned()
        .or_else(|| message.downcast_ref::<&str>().map(|s| s.to_string()));
    assert!(message.unwrap().contains("another corio runtime is current"));
}

#[test]
fn run_until_stalled_reports_a_panic_with_abort_on_panic() {
    let rt = Runtime::builder().abort_on_panic(true).build().unwrap();
    rt.spawn(async { panic!("boom in a task") });
    let result = catch_unwind(AssertUnwindSafe(|| rt.run_until_stalled()));
    let message = result.unwrap_err();
    let message = message.downcast_ref::<String>().cloned().unwrap();
    assert!(message.contains("boom in a task"), "{message}");
}
