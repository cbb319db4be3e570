//! Tasks against a fake scheduler: no executor, no reactor, no mio.
//!
//! The fake queues every task handed to `Schedule::schedule` in a
//! `Mutex<VecDeque>`, and the tests run them by hand, so each step of a
//! task's life (spawn, poll, wake, complete, cancel, free) can be checked on
//! its own. Small and quick on purpose: they also run under Miri.

use std::cell::Cell;
use std::collections::VecDeque;
use std::future::{poll_fn, Future};
use std::pin::Pin;
use std::rc::Rc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll, Waker};

use super::{cancel_all, spawn, JoinError, JoinHandle, RunOutcome, Schedule, Task, TaskList, Woken};

/// What the fake scheduler saw.
#[derive(Default)]
struct Log {
    queue: Mutex<VecDeque<Task>>,
    /// Wakes that queued nothing (`Schedule::WAKE_IGNORED`).
    ignored: AtomicUsize,
}

#[derive(Clone, Default)]
struct FakeScheduler(Arc<Log>);

impl Schedule for FakeScheduler {
    fn schedule(task: Woken<Self>) {
        // The scheduler lives inside the task: take what we need first.
        let log = task.scheduler().0.clone();
        log.queue.lock().unwrap().push_back(task.into_task());
    }

    const WAKE_IGNORED: Option<fn(&Self, u64)> = Some(|scheduler, _id| {
        scheduler.0.ignored.fetch_add(1, Ordering::Relaxed);
    });
}

/// A fake runtime: the task list, the scheduler, and a way to run the queue.
struct Harness {
    scheduler: FakeScheduler,
    tasks: Pin<Box<TaskList>>,
}

impl Harness {
    fn new() -> Harness {
        Harness { scheduler: FakeScheduler::default(), tasks: Box::pin(TaskList::new()) }
    }

    /// Spawns like the executor does: the first queue entry goes on the queue.
    fn spawn<F: Future + 'static>(&self, future: F) -> JoinHandle<F::Output> {
        let (task, handle) = spawn(future, self.scheduler.clone(), 1, self.tasks.as_ref());
        self.scheduler.0.queue.lock().unwrap().push_back(task);
        handle
    }

    fn queued(&self) -> usize {
        self.scheduler.0.queue.lock().unwrap().len()
    }

    fn ignored(&self) -> usize {
        self.scheduler.0.ignored.load(Ordering::Relaxed)
    }

    /// Runs the task at the front of the queue, as the executor's tick does
    /// (a task woken during its poll goes to the back).
    fn run_one(&self) -> &'static str {
        let task = self.scheduler.0.queue.lock().unwrap().pop_front().expect("a queued task");
        match task.run() {
            RunOutcome::Pending => "pending",
            RunOutcome::Reschedule(task) => {
                self.scheduler.0.queue.lock().unwrap().push_back(task);
                "rescheduled"
            }
            RunOutcome::Completed => "completed",
            RunOutcome::Panicked(_) => "panicked",
            RunOutcome::Skipped => "skipped",
        }
    }
}

impl Drop for Harness {
    fn drop(&mut self) {
        // Shutdown, as `Runtime::drop` does it.
        cancel_all(&self.tasks);
        let queued: Vec<Task> = self.scheduler.0.queue.lock().unwrap().drain(..).collect();
        drop(queued);
    }
}

/// Polls a `JoinHandle` once, with a waker that does nothing.
fn try_join<T>(handle: &mut JoinHandle<T>) -> Poll<Result<T, JoinError>> {
    Pin::new(handle).poll(&mut Context::from_waker(Waker::noop()))
}

/// Counts drops, to check that a future or an output is dropped exactly once.
struct DropCount(Rc<Cell<usize>>);

impl Drop for DropCount {
    fn drop(&mut self) {
        self.0.set(self.0.get() + 1);
    }
}

/// A future that is pending until told otherwise, and hands out its waker.
#[derive(Clone, Default)]
struct Gate {
    open: Rc<Cell<bool>>,
    waker: Rc<Cell<Option<Waker>>>,
}

impl Gate {
    fn wait(&self) -> impl Future<Output = ()> + 'static {
        let gate = self.clone();
        poll_fn(move |cx| {
            if gate.open.get() {
                return Poll::Ready(());
            }
            gate.waker.set(Some(cx.waker().clone()));
            Poll::Pending
        })
    }

    fn take_waker(&self) -> Waker {
        self.waker.take().expect("the task stored its waker")
    }
}

#[test]
fn spawn_poll_complete_and_free() {
    let rt = Harness::new();
    let drops = Rc::new(Cell::new(0));
    let output = DropCount(drops.clone());
    let mut handle = rt.spawn(async move { output });
    assert_eq!(rt.queued(), 1, "a spawned task starts queued");
    assert!(matches!(try_join(&mut handle), Poll::Pending));
    assert_eq!(rt.run_one(), "completed");
    assert!(handle.is_finished());
    assert_eq!(rt.tasks.len(), 0, "a finished task leaves the task list");
    let Poll::Ready(Ok(value)) = try_join(&mut handle) else { panic!("the output is ready") };
    assert_eq!(drops.get(), 0);
    drop(value);
    assert_eq!(drops.get(), 1, "the output is dropped once, by its owner");
    drop(handle); // the last reference: the task is freed (Miri and valgrind check it)
}

#[test]
fn a_wake_on_the_same_thread_queues_the_task_once() {
    let rt = Harness::new();
    let gate = Gate::default();
    let mut handle = rt.spawn(gate.wait());
    assert_eq!(rt.run_one(), "pending");
    assert_eq!(rt.queued(), 0, "an idle task sits in no queue");
    let waker = gate.take_waker();
    let clone = waker.clone();
    waker.wake();
    assert_eq!(rt.queued(), 1);
    clone.wake_by_ref();
    clone.wake();
    assert_eq!(rt.queued(), 1, "a scheduled task is not queued twice");
    assert_eq!(rt.ignored(), 2, "the scheduler saw both ignored wakes");
    gate.open.set(true);
    assert_eq!(rt.run_one(), "completed");
    assert!(matches!(try_join(&mut handle), Poll::Ready(Ok(()))));
}

#[test]
fn a_wake_from_another_thread_goes_through_the_scheduler() {
    let rt = Harness::new();
    let gate = Gate::default();
    let mut handle = rt.spawn(gate.wait());
    assert_eq!(rt.run_one(), "pending");
    let waker = gate.take_waker();
    let copies = [waker.clone(), waker.clone()];
    std::thread::scope(|scope| {
        for copy in copies {
            scope.spawn(move || copy.wake());
        }
    });
    assert_eq!(rt.queued(), 1, "of two racing wakes, one queues the task");
    assert_eq!(rt.ignored(), 1);
    gate.open.set(true);
    assert_eq!(rt.run_one(), "completed");
    assert!(matches!(try_join(&mut handle), Poll::Ready(Ok(()))));
    drop(waker);
}

#[test]
fn wake_by_ref_keeps_the_waker_and_wake_consumes_it() {
    let rt = Harness::new();
    let gate = Gate::default();
    let handle = rt.spawn(gate.wait());
    assert_eq!(rt.run_one(), "pending");
    let waker = gate.take_waker();
    waker.wake_by_ref();
    assert_eq!(rt.run_one(), "pending", "woken, polled, and the gate is still shut");
    gate.take_waker().wake(); // the clone the second poll stored
    assert_eq!(rt.run_one(), "pending");
    // `waker` still works after all that: it owns its own reference.
    waker.wake_by_ref();
    assert_eq!(rt.queued(), 1);
    drop(waker);
    drop(handle);
}

#[test]
fn clones_and_drops_keep_the_count_straight() {
    let rt = Harness::new();
    let drops = Rc::new(Cell::new(0));
    let guard = DropCount(drops.clone());
    let gate = Gate::default();
    let wait = gate.wait();
    let handle = rt.spawn(async move {
        let _guard = guard;
        wait.await;
    });
    assert_eq!(rt.run_one(), "pending");
    let waker = gate.take_waker();
    let clones: Vec<Waker> = (0..8).map(|_| waker.clone()).collect();
    assert!(clones.iter().all(|clone| clone.will_wake(&waker)));
    drop(clones);
    drop(handle);
    assert_eq!(drops.get(), 0, "wakers and a detached task keep the future alive");
    waker.wake();
    gate.open.set(true);
    assert_eq!(rt.run_one(), "completed");
    assert_eq!(drops.get(), 1, "the future is dropped when it completes");
}

#[test]
fn a_wake_after_completion_does_nothing() {
    let rt = Harness::new();
    let gate = Gate::default();
    let mut handle = rt.spawn(gate.wait());
    assert_eq!(rt.run_one(), "pending");
    let waker = gate.take_waker();
    gate.open.set(true);
    waker.wake_by_ref();
    assert_eq!(rt.run_one(), "completed");
    waker.wake_by_ref();
    assert_eq!(rt.queued(), 0, "a finished task is never queued again");
    assert!(matches!(try_join(&mut handle), Poll::Ready(Ok(()))));
    drop(handle);
    // The waker now holds the last reference; waking by value frees the task.
    waker.wake();
}

#[test]
fn abort_before_the_first_poll_drops_the_future_and_skips_the_entry() {
    let rt = Harness::new();
    let drops = Rc::new(Cell::new(0));
    let guard = DropCount(drops.clone());
    let mut handle = rt.spawn(async move {
        let _guard = guard;
        unreachable!("never polled");
    });
    handle.abort();
    assert_eq!(drops.get(), 1, "an idle or queued task's future is dropped inside `abort`");
    assert_eq!(rt.run_one(), "skipped", "its queue entry is still there, and skipped");
    let Poll::Ready(Err(error)) = try_join(&mut handle) else { panic!("finished") };
    assert!(error.is_cancelled());
    handle.abort(); // a second abort is a no-op
}

#[test]
fn abort_during_its_own_poll_takes_effect_after_the_poll() {
    let rt = Harness::new();
    let drops = Rc::new(Cell::new(0));
    let guard = DropCount(drops.clone());
    let slot: Rc<Cell<Option<JoinHandle<()>>>> = Rc::default();
    let own_handle = slot.clone();
    let seen = drops.clone();
    let handle = rt.spawn(async move {
        let _guard = guard;
        let handle = own_handle.take().expect("the handle was stored before the first poll");
        handle.abort();
        assert_eq!(seen.get(), 0, "not dropped while it runs");
        own_handle.set(Some(handle));
        std::future::pending::<()>().await;
    });
    slot.set(Some(handle));
    assert_eq!(rt.run_one(), "completed", "cancelled right after the poll");
    assert_eq!(drops.get(), 1);
    let mut handle = slot.take().unwrap();
    let Poll::Ready(Err(error)) = try_join(&mut handle) else { panic!("finished") };
    assert!(error.is_cancelled());
}

#[test]
fn a_dropped_join_handle_detaches_and_the_output_is_dropped_at_completion() {
    let rt = Harness::new();
    let drops = Rc::new(Cell::new(0));
    let output = DropCount(drops.clone());
    drop(rt.spawn(async move { output }));
    assert_eq!(rt.run_one(), "completed");
    assert_eq!(drops.get(), 1, "nobody can take the output: dropped at once, on this thread");
}

#[test]
fn a_task_woken_during_its_own_poll_is_rescheduled_once() {
    let rt = Harness::new();
    let mut polls = 0;
    let mut handle = rt.spawn(poll_fn(move |cx| {
        polls += 1;
        if polls == 1 {
            cx.waker().wake_by_ref();
            cx.waker().wake_by_ref();
            return Poll::Pending;
        }
        Poll::Ready(polls)
    }));
    assert_eq!(rt.run_one(), "rescheduled");
    assert_eq!(rt.queued(), 1, "one entry, however many wakes");
    assert_eq!(rt.ignored(), 2, "wakes during the poll queue nothing themselves");
    assert_eq!(rt.run_one(), "completed");
    assert!(matches!(try_join(&mut handle), Poll::Ready(Ok(2))));
}

#[test]
fn a_panic_is_caught_and_reported_through_the_join_handle() {
    let rt = Harness::new();
    let mut handle = rt.spawn(async {
        if true {
            panic!("boom");
        }
    });
    assert_eq!(rt.run_one(), "panicked");
    let Poll::Ready(Err(error)) = try_join(&mut handle) else { panic!("finished") };
    assert!(error.is_panic());
    assert_eq!(error.panic_message(), Some("boom"));
}

#[test]
fn shutdown_cancels_unfinished_tasks_oldest_first() {
    let drops = Rc::new(Cell::new(0));
    let order = Rc::new(Cell::new(Vec::new()));
    {
        let rt = Harness::new();
        for i in 0..3 {
            let order = order.clone();
            let guard = DropCount(drops.clone());
            struct Record(Rc<Cell<Vec<i32>>>, i32);
            impl Drop for Record {
                fn drop(&mut self) {
                    let mut seen = self.0.take();
                    seen.push(self.1);
                    self.0.set(seen);
                }
            }
            let record = Record(order, i);
            drop(rt.spawn(async move {
                let _guard = guard;
                let _record = record;
                std::future::pending::<()>().await;
            }));
        }
        assert_eq!(rt.run_one(), "pending");
    }
    assert_eq!(drops.get(), 3, "each future dropped exactly once");
    assert_eq!(order.take(), [0, 1, 2]);
}

/// A waker that counts its wakes.
struct CountWakes(AtomicUsize);

impl std::task::Wake for CountWakes {
    fn wake(self: Arc<Self>) {
        self.0.fetch_add(1, Ordering::Relaxed);
    }
}

#[test]
fn completion_wakes_whoever_awaits_the_join_handle() {
    let rt = Harness::new();
    let gate = Gate::default();
    let mut handle = rt.spawn(gate.wait());
    let wakes = Arc::new(CountWakes(AtomicUsize::new(0)));
    let awaiter = Waker::from(wakes.clone());
    assert!(Pin::new(&mut handle).poll(&mut Context::from_waker(&awaiter)).is_pending());
    assert!(Pin::new(&mut handle).poll(&mut Context::from_waker(&awaiter)).is_pending());
    assert_eq!(Arc::strong_count(&wakes), 3, "the same awaiter is stored once (`will_wake`)");
    assert_eq!(rt.run_one(), "pending");
    gate.open.set(true);
    gate.take_waker().wake();
    assert_eq!(wakes.0.load(Ordering::Relaxed), 0);
    assert_eq!(rt.run_one(), "completed");
    assert_eq!(wakes.0.load(Ordering::Relaxed), 1, "completing the task woke the awaiter");
    assert!(matches!(Pin::new(&mut handle).poll(&mut Context::from_waker(&awaiter)), Poll::Ready(Ok(()))));
}

#[test]
fn inspect_shows_each_task_state_and_who_awaits_it() {
    use crate::waker::{wakes as whom, Wakes};
    let rt = Harness::new();
    let gate = Gate::default();
    let mut first = rt.spawn(gate.wait());
    let second = rt.spawn(std::future::pending::<()>());
    let seen = rt.tasks.inspect(whom);
    assert_eq!(seen.len(), 2);
    assert!(seen.iter().all(|task| task.state.is_scheduled() && task.join_waiter.is_none()));

    assert_eq!(rt.run_one(), "pending");
    let seen = rt.tasks.inspect(whom);
    assert!(!seen[0].state.is_scheduled() && !seen[0].state.is_running(), "idle after its poll");
    assert!(seen[1].state.is_scheduled());

    // Someone else's waker awaits the first task: named by its data pointer.
    let wakes = Arc::new(CountWakes(AtomicUsize::new(0)));
    let awaiter = Waker::from(wakes.clone());
    assert!(Pin::new(&mut first).poll(&mut Context::from_waker(&awaiter)).is_pending());
    let seen = rt.tasks.inspect(whom);
    assert_eq!(seen[0].join_waiter, Some(Wakes::Other(Arc::as_ptr(&wakes).cast())));
    // One of ours (the second task's own waker) awaits it instead: named by
    // the task's id.
    let ours = poll_fn(|cx| Poll::Ready(cx.waker().clone()));
    let task_waker = {
        let handle = rt.spawn(ours);
        assert_eq!(rt.run_one(), "pending"); // the second task
        assert_eq!(rt.run_one(), "completed");
        let mut handle = handle;
        match Pin::new(&mut handle).poll(&mut Context::from_waker(Waker::noop())) {
            Poll::Ready(Ok(waker)) => waker,
            _ => unreachable!("completed"),
        }
    };
    assert!(Pin::new(&mut first).poll(&mut Context::from_waker(&task_waker)).is_pending());
    assert_eq!(rt.tasks.inspect(whom)[0].join_waiter, Some(Wakes::Task(1)));
    drop((task_waker, second));
    cancel_all(&rt.tasks);
}

#[test]
#[cfg(target_pointer_width = "64")]
fn the_header_stays_small_whatever_the_scheduler() {
    // The scheduler sits after the header (`Head<S>`), not in it; see
    // docs/ARCHITECTURE.md, "The scheduling seam".
    assert_eq!(std::mem::size_of::<super::header::Header>(), 64);
    assert_eq!(std::mem::size_of::<super::schedule::Head<FakeScheduler>>(), 72);
}
