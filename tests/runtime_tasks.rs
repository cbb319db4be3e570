//! Tasks, JoinHandles, panics, abort and shutdown, through the public API.

use std::cell::{Cell, RefCell};
use std::future::{poll_fn, Future};
use std::pin::Pin;
use std::rc::Rc;
use std::task::{Context, Poll, Waker};

use corio::task::yield_now;
use corio::{spawn, Runtime};

/// A future that stays pending until `open` is set, storing its waker.
#[derive(Clone, Default)]
struct Gate(Rc<(Cell<bool>, RefCell<Option<Waker>>)>);

impl Gate {
    fn open(&self) {
        self.0 .0.set(true);
        if let Some(waker) = self.0 .1.borrow_mut().take() {
            waker.wake();
        }
    }

    async fn wait(&self) {
        poll_fn(|cx| {
            if self.0 .0.get() {
                Poll::Ready(())
            } else {
                *self.0 .1.borrow_mut() = Some(cx.waker().clone());
                Poll::Pending
            }
        })
        .await
    }
}

/// Counts how often it is dropped.
struct DropCounter(Rc<Cell<u32>>);

impl Drop for DropCounter {
    fn drop(&mut self) {
        self.0.set(self.0.get() + 1);
    }
}

#[test]
fn a_million_tasks_all_complete() {
    // `CORIO_TEST_TASKS` scales this down for valgrind runs (see .ci/valgrind);
    // under Miri (see .ci/miri) the default is sized for an interpreter. More
    // than the per-tick budget (128) and the run queue's initial capacity
    // (256) either way, so several ticks and a queue growth are exercised.
    let default = if cfg!(miri) { 300 } else { 1_000_000 };
    let n: u32 = std::env::var("CORIO_TEST_TASKS").ok().and_then(|v| v.parse().ok()).unwrap_or(default);
    let rt = Runtime::new().unwrap();
    let done = Rc::new(Cell::new(0u32));
    rt.block_on(async {
        for _ in 0..n {
            let done = done.clone();
            // Detached: dropping the JoinHandle must not stop the task.
            drop(spawn(async move { done.set(done.get() + 1) }));
        }
        while done.get() < n {
            yield_now().await;
        }
    });
    assert_eq!(done.get(), n);
    let stats = rt.stats();
    assert_eq!(stats.tasks_spawned, u64::from(n));
    assert_eq!(stats.tasks_completed, u64::from(n));
    assert_eq!(stats.tasks_alive, 0);
}

#[test]
fn join_handles_return_outputs_in_any_order() {
    corio::block_on(async {
        let gates: Vec<Gate> = (0..10).map(|_| Gate::default()).collect();
        let handles: Vec<_> = (0..10u32)
            .map(|i| {
                let gate = gates[i as usize].clone();
                spawn(async move {
                    gate.wait().await;
                    i * 10
                })
            })
            .collect();
        for gate in gates.iter().rev() {
            gate.open();
        }
        for (i, handle) in handles.into_iter().enumerate() {
            assert_eq!(handle.await.unwrap(), i as u32 * 10);
        }
    });
}

#[test]
fn a_panicking_task_is_isolated_and_reported() {
    let rt = Runtime::new().unwrap();
    rt.block_on(async {
        let bystander = spawn(async {
            for _ in 0..10 {
                yield_now().await;
            }
            "still here"
        });
        let bad = spawn(async {
            yield_now().await;
            panic!("task exploded: {}", 42);
        });
        let error = bad.await.unwrap_err();
        assert!(error.is_panic());
        assert_eq!(error.panic_message(), Some("task exploded: 42"));
        assert_eq!(error.to_string(), "task panicked: task exploded: 42");
        assert_eq!(bystander.await.unwrap(), "still here");
    });
    assert_eq!(rt.stats().tasks_panicked, 1);
}

#[test]
fn abort_on_panic_makes_block_on_panic() {
    let rt = Runtime::builder().abort_on_panic(true).build().unwrap();
    let result = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        rt.block_on(async {
            spawn(async { panic!("first panic") });
            std::future::pending::<()>().await
        })
    }));
    let payload = result.unwrap_err();
    let message = payload.downcast_ref::<String>().unwrap();
    assert!(message.contains("first panic"), "{message}");
}

#[test]
fn abort_a_pending_task_drops_its_future_at_once() {
    corio::block_on(async {
        let drops = Rc::new(Cell::new(0));
        let guard = DropCounter(drops.clone());
        let handle = spawn(async move {
            let _guard = guard;
            std::future::pending::<()>().await;
        });
        yield_now().await; // let it start and park
        assert_eq!(drops.get(), 0);
        handle.abort();
        assert_eq!(drops.get(), 1, "abort drops the future inside the call");
        assert!(handle.is_finished());
        assert!(handle.await.unwrap_err().is_cancelled());
        assert_eq!(drops.get(), 1);
    });
}

#[test]
fn abort_a_scheduled_task_before_it_ever_runs() {
    corio::block_on(async {
        let polled = Rc::new(Cell::new(false));
        let p = polled.clone();
        let handle = spawn(async move { p.set(true) });
        handle.abort();
        assert!(handle.await.unwrap_err().is_cancelled());
        yield_now().await;
        assert!(!polled.get());
    });
}

#[test]
fn a_task_can_abort_itself_while_running() {
    corio::block_on(async {
        let drops = Rc::new(Cell::new(0));
        let slot: Rc<RefCell<Option<corio::JoinHandle<()>>>> = Rc::default();
        let guard = DropCounter(drops.clone());
        let s = slot.clone();
        let handle = spawn(async move {
            let _guard = guard;
            yield_now().await;
            // Running now: abort ourselves through our own handle.
            s.borrow().as_ref().unwrap().abort();
            yield_now().await;
            unreachable!("an aborted task is not polled again");
        });
        *slot.borrow_mut() = Some(handle);
        while drops.get() == 0 {
            yield_now().await;
        }
        let handle = slot.borrow_mut().take().unwrap();
        assert!(handle.await.unwrap_err().is_cancelled());
    });
}

#[test]
fn abort_after_completion_keeps_the_output() {
    corio::block_on(async {
        let handle = spawn(async { 5 });
        while !handle.is_finished() {
            yield_now().await;
        }
        handle.abort();
        assert_eq!(handle.await.unwrap(), 5);
    });
}

#[test]
fn dropping_the_runtime_drops_every_future_once_in_spawn_order() {
    let order = Rc::new(RefCell::new(Vec::new()));
    struct Named(u32, Rc<RefCell<Vec<u32>>>);
    impl Drop for Named {
        fn drop(&mut self) {
            self.1.borrow_mut().push(self.0);
        }
    }
    let rt = Runtime::new().unwrap();
    let handles: Vec<_> = (0..5)
        .map(|i| {
            let named = Named(i, order.clone());
            rt.spawn(async move {
                let _named = named;
                std::future::pending::<()>().await
            })
        })
        .collect();
    // Poll them once so they are parked (in no queue) at shutdown.
    rt.block_on(yield_now());
    // One task that never got polled, and a detached one.
    let never = Named(5, order.clone());
    drop(rt.spawn(async move {
        let _never = never;
    }));
    drop(rt);
    assert_eq!(*order.borrow(), vec![0, 1, 2, 3, 4, 5]);
    for handle in handles {
        assert!(handle.is_finished());
    }
}

#[test]
fn futures_dropped_at_shutdown_may_spawn_and_wake() {
    struct SpawnOnDrop(Rc<Cell<u32>>);
    impl Drop for SpawnOnDrop {
        fn drop(&mut self) {
            let counter = DropCounter(self.0.clone());
            // Spawned during shutdown: dropped unpolled, not leaked.
            drop(corio::spawn(async move {
                let _counter = counter;
                unreachable!();
            }));
        }
    }
    let drops = Rc::new(Cell::new(0));
    let rt = Runtime::new().unwrap();
    let guard = SpawnOnDrop(drops.clone());
    rt.block_on(async move {
        spawn(async move {
            let _guard = guard;
            std::future::pending::<()>().await
        });
        yield_now().await;
    });
    drop(rt);
    assert_eq!(drops.get(), 1);
}

#[test]
fn wakers_outliving_the_runtime_are_harmless() {
    let stash: Rc<RefCell<Vec<Waker>>> = Rc::default();
    let rt = Runtime::new().unwrap();
    let s = stash.clone();
    rt.block_on(async move {
        spawn(poll_fn(move |cx: &mut Context<'_>| {
            s.borrow_mut().push(cx.waker().clone());
            Poll::<()>::Pending
        }));
        yield_now().await;
    });
    let waker = stash.borrow()[0].clone();
    drop(rt);
    // On this thread and on another, by ref and by value.
    waker.wake_by_ref();
    let w = waker.clone();
    std::thread::spawn(move || {
        w.wake_by_ref();
        w.wake();
    })
    .join()
    .unwrap();
    waker.wake();
    stash.borrow_mut().clear();
}

#[test]
fn block_on_inside_a_task_panics_with_advice() {
    let result = std::panic::catch_unwind(|| {
        corio::block_on(async {
            corio::block_on(async {});
        })
    });
    let message = panic_message(result.unwrap_err());
    assert!(message.contains("`.await` the future instead"), "{message}");
}

#[test]
fn spawn_outside_a_runtime_panics_clearly() {
    let result = std::panic::catch_unwind(|| drop(corio::spawn(async {})));
    let message = panic_message(result.unwrap_err());
    assert!(message.contains("outside a corio runtime"), "{message}");
}

fn panic_message(payload: Box<dyn std::any::Any + Send>) -> String {
    match payload.downcast::<String>() {
        Ok(s) => *s,
        Err(payload) => payload.downcast_ref::<&str>().map(|s| s.to_string()).unwrap_or_default(),
    }
}

/// A future that counts its polls and wakes itself `n` times by reference
/// before every `Pending`: many wakes must still mean one queue entry.
struct MultiWake {
    polls: Rc<Cell<u32>>,
}

impl Future for MultiWake {
    type Output = ();
    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        self.polls.set(self.polls.get() + 1);
        if self.polls.get() == 3 {
            return Poll::Ready(());
        }
        for _ in 0..10 {
            cx.waker().wake_by_ref();
            // Deliberately exercise the by-value `wake` slot too.
            #[allow(clippy::waker_clone_wake)]
            cx.waker().clone().wake();
        }
        Poll::Pending
    }
}

#[test]
fn many_wakes_during_a_poll_schedule_the_task_once() {
    let rt = Runtime::new().unwrap();
    let polls = Rc::new(Cell::new(0));
    rt.block_on(rt.spawn(MultiWake { polls: polls.clone() })).unwrap();
    assert_eq!(polls.get(), 3);
    // The task was polled exactly 3 times: one initial poll, plus one per round of wakes.
    assert_eq!(rt.stats().polls, 3);
}

#[test]
fn wakes_of_a_parked_task_queue_it_once() {
    let rt = Runtime::new().unwrap();
    let stash: Rc<RefCell<Option<Waker>>> = Rc::default();
    let polls = Rc::new(Cell::new(0));
    let (s, p) = (stash.clone(), polls.clone());
    rt.block_on(async move {
        let handle = spawn(poll_fn(move |cx: &mut Context<'_>| {
            p.set(p.get() + 1);
            if p.get() == 2 {
                return Poll::Ready(());
            }
            *s.borrow_mut() = Some(cx.waker().clone());
            Poll::Pending
        }));
        yield_now().await; // the task parks
        let waker = stash.borrow_mut().take().unwrap();
        for _ in 0..100 {
            waker.wake_by_ref();
        }
        handle.await.unwrap();
    });
    assert_eq!(polls.get(), 2);
}

#[test]
fn stats_count_what_happened() {
    let rt = Runtime::new().unwrap();
    let handle = rt.handle();
    rt.block_on(async {
        let h = spawn(async {
            yield_now().await;
        });
        h.await.unwrap();
        let s = corio::stats();
        assert_eq!((s.tasks_spawned, s.tasks_completed, s.polls, s.tasks_alive), (1, 1, 2, 0));
        assert!(s.wakes_local >= 1);
        // Nothing so far needed the reactor. Work handed in through a
        // `Handle` does: the runtime picks it up when it parks. (No timer:
        // under valgrind a short one can expire before its first poll.)
        assert_eq!(s.reactor_turns, 0);
        assert_eq!(handle.spawn(async { 7 }).await.unwrap(), 7);
    });
    assert!(rt.stats().reactor_turns >= 1);
}

#[test]
fn a_block_on_future_that_keeps_yielding_still_lets_the_runtime_park() {
    // The loop polls a woken `block_on` future again without parking only
    // once in a row. Work spawned from another thread is picked up only
    // when the runtime parks, so this loop ends only if parking still
    // happens while the future yields forever. (No timing involved.)
    let rt = Runtime::new().unwrap();
    let done = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let handle = rt.handle();
    let flag = done.clone();
    let other = std::thread::spawn(move || {
        handle.spawn(async move { flag.store(true, std::sync::atomic::Ordering::SeqCst) });
    });
    rt.block_on(async {
        while !done.load(std::sync::atomic::Ordering::SeqCst) {
            yield_now().await;
        }
    });
    other.join().unwrap();
    assert!(rt.stats().reactor_turns >= 1);
}

/// A future holding `N` copies of its seed byte: it parks once, then says
/// whether they are all still intact. Memory reused while the task still
/// lived would change them. (Whole-array fills and compares: byte loops
/// are slow under Miri.)
struct Payload<const N: usize> {
    bytes: [u8; N],
    yielded: bool,
}

impl<const N: usize> Payload<N> {
    fn new(seed: u8) -> Self {
        Payload { bytes: [seed; N], yielded: false }
    }
}

impl<const N: usize> Future for Payload<N> {
    type Output = (u8, bool);
    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<(u8, bool)> {
        if !self.yielded {
            self.yielded = true;
            cx.waker().wake_by_ref();
            return Poll::Pending;
        }
        let seed = self.bytes[0];
        Poll::Ready((seed, self.bytes == [seed; N]))
    }
}

/// A future aligned beyond what the task free lists hand out.
#[repr(align(128))]
struct OverAligned;

impl Future for OverAligned {
    type Output = usize;
    fn poll(self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<usize> {
        Poll::Ready(std::ptr::from_ref(&*self).addr() % 128)
    }
}

#[test]
fn task_memory_is_recycled_across_sizes_and_alignments() {
    // Small tasks come from per-thread free lists by size class; tasks over
    // the largest class or over-aligned bypass them (task/blocks.rs). Two
    // rounds, so the second reuses what the first freed, with many tasks
    // of one class alive at once.
    async fn all_intact(handles: Vec<corio::JoinHandle<(u8, bool)>>) {
        for (seed, handle) in handles.into_iter().enumerate() {
            assert_eq!(handle.await.unwrap(), (seed as u8, true));
        }
    }
    const PER_SIZE: u8 = 12;
    let rt = Runtime::new().unwrap();
    rt.block_on(async {
        for _ in 0..2 {
            let small: Vec<_> = (0..PER_SIZE).map(|s| spawn(Payload::<24>::new(s))).collect();
            let medium: Vec<_> = (0..PER_SIZE).map(|s| spawn(Payload::<900>::new(s))).collect();
            let large: Vec<_> = (0..3).map(|s| spawn(Payload::<4000>::new(s))).collect();
            let aligned = spawn(OverAligned);
            all_intact(small).await;
            all_intact(medium).await;
            all_intact(large).await;
            assert_eq!(aligned.await.unwrap(), 0, "the future lies at its alignment");
        }
    });
    assert_eq!(rt.stats().tasks_alive, 0);
}

/// Panics when dropped, if armed.
struct PanicOnDrop(&'static str);

impl Drop for PanicOnDrop {
    fn drop(&mut self) {
        if !std::thread::panicking() {
            panic!("{}", self.0);
        }
    }
}

#[test]
fn a_future_whose_destructor_panics_is_reported_and_isolated() {
    let rt = Runtime::new().unwrap();
    let drops = Rc::new(Cell::new(0));
    rt.block_on(async {
        // Aborted while parked: the panic from its destructor is the result.
        let bomb = PanicOnDrop("destructor exploded on abort");
        let handle = spawn(async move {
            let _bomb = bomb;
            std::future::pending::<()>().await
        });
        yield_now().await;
        handle.abort();
        let error = handle.await.unwrap_err();
        assert!(error.is_panic(), "{error}");
        assert_eq!(error.panic_message(), Some("destructor exploded on abort"));

        // Finished first: its output stands, the later panic is dropped.
        struct ReadyThenBoom {
            _bomb: PanicOnDrop,
        }
        impl Future for ReadyThenBoom {
            type Output = u32;
            fn poll(self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<u32> {
                Poll::Ready(7)
            }
        }
        let handle = spawn(ReadyThenBoom { _bomb: PanicOnDrop("destructor exploded after Ready") });
        assert_eq!(handle.await.unwrap(), 7);
    });
    // At shutdown: every other future is still dropped, once.
    let bomb = PanicOnDrop("destructor exploded at shutdown");
    drop(rt.spawn(async move {
        let _bomb = bomb;
        std::future::pending::<()>().await
    }));
    let counter = DropCounter(drops.clone());
    let after = rt.spawn(async move {
        let _counter = counter;
        std::future::pending::<()>().await
    });
    rt.block_on(yield_now());
    drop(rt);
    assert_eq!(drops.get(), 1);
    assert!(after.is_finished());
}
