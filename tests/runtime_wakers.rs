//! Every slot of a task waker's vtable (clone, wake, wake_by_ref, drop),
//! from the runtime's thread and from others, while the task is parked,
//! queued, running or finished, and after its runtime is gone.
//!
//! The waker is the part of the unsafe core that users hold: `waker.rs`
//! turns each slot into a reference-count change on the task header, and
//! `std` lets any thread call any slot at any time. Natively these tests
//! check what a user sees (poll counts, which queue a wake took, that a
//! late wake is harmless). Under Miri (`.ci/miri`) the same runs are also
//! checked for use-after-free, double free, leaks (a reference never
//! released), data races and aliasing violations; the cross-thread ones are
//! run over many seeds so that different interleavings are explored.

// The tests call `waker.clone().wake()` on purpose: it drives the clone
// slot and then the by-value wake slot.
#![allow(clippy::waker_clone_wake)]

use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{mpsc, Arc, Barrier, Mutex};
use std::task::{Context, Poll, Waker};

use corio::task::yield_now;
use corio::{spawn, Runtime};

/// What a [`Probe`] task shares with the test.
#[derive(Default)]
struct Shared {
    /// Times the task was polled.
    polls: AtomicUsize,
    /// The waker handed to the most recent poll (a clone: one reference).
    waker: Mutex<Option<Waker>>,
}

impl Shared {
    fn polls(&self) -> usize {
        self.polls.load(Ordering::SeqCst)
    }

    /// Takes the stored waker (the task must have parked once).
    fn take_waker(&self) -> Waker {
        self.waker.lock().unwrap().take().expect("the task has parked and stored its waker")
    }
}

/// A task body that stays pending until its `target`-th poll, storing a
/// clone of its waker at every pending poll. Its output is its poll count.
struct Probe {
    shared: Arc<Shared>,
    target: usize,
}

impl Future for Probe {
    type Output = usize;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<usize> {
        let polls = self.shared.polls.fetch_add(1, Ordering::SeqCst) + 1;
        if polls >= self.target {
            return Poll::Ready(polls);
        }
        *self.shared.waker.lock().unwrap() = Some(cx.waker().clone());
        Poll::Pending
    }
}

fn probe(target: usize) -> (Probe, Arc<Shared>) {
    let shared = Arc::new(Shared::default());
    (Probe { shared: shared.clone(), target }, shared)
}

#[test]
fn every_slot_on_the_runtime_thread() {
    let rt = Runtime::new().unwrap();
    let (body, shared) = probe(3);
    let polls = rt.block_on(async {
        let handle = spawn(body);
        yield_now().await; // first poll: the task parks
        assert_eq!(shared.polls(), 1);
        let waker = shared.take_waker();

        // clone (+1) and drop (-1): nothing else happens.
        drop(waker.clone());
        yield_now().await;
        assert_eq!(shared.polls(), 1, "clone and drop do not schedule");

        // wake_by_ref of a parked task queues it (with a new reference) ...
        waker.wake_by_ref();
        // ... and further wakes of the queued task, by reference or by
        // value, neither queue it again nor lose the references they hold.
        waker.wake_by_ref();
        waker.clone().wake();
        yield_now().await;
        assert_eq!(shared.polls(), 2, "three wakes, one poll");

        // wake by value of a parked task hands its own reference to the queue.
        waker.wake();
        handle.await.unwrap()
    });
    assert_eq!(polls, 3);
    // The waker stored at the second poll is now the task's last reference:
    // dropping it frees the task.
    drop(shared.take_waker());
    assert_eq!(rt.stats().wakes_remote, 0, "every wake came from the runtime's thread");
}

#[test]
fn a_wake_outside_block_on_goes_through_the_cross_thread_queue() {
    // The runtime's own thread, but no `block_on` running: the waker
    // cannot reach the local run queue, so it takes the injector.
    let rt = Runtime::new().unwrap();
    let (body, shared) = probe(3);
    let handle = rt.spawn(body);
    rt.block_on(yield_now());
    assert_eq!(shared.polls(), 1);
    // By reference; the taken waker is dropped at the end of the statement.
    // The runtime picks the wake up when it next parks.
    shared.take_waker().wake_by_ref();
    rt.block_on(async {
        while shared.polls() < 2 {
            yield_now().await;
        }
    });
    shared.take_waker().wake();
    assert_eq!(rt.block_on(handle).unwrap(), 3);
    assert_eq!(rt.stats().wakes_remote, 2);
}

#[test]
fn wakes_from_another_thread_while_the_task_is_running() {
    // The task hands a waker to another thread during its first poll and
    // blocks (this once, on purpose) until that thread has woken it, by
    // reference and by value: both wakes land while the task is running,
    // so they only mark it, and the executor queues it again after the poll.
    let rt = Runtime::new().unwrap();
    let (to_thread, from_task) = mpsc::channel::<Waker>();
    let (done, woken) = mpsc::channel::<()>();
    let thread = std::thread::spawn(move || {
        let waker = from_task.recv().unwrap();
        waker.wake_by_ref();
        waker.clone().wake();
        waker.wake();
        done.send(()).unwrap();
    });
    let mut polls = 0;
    let task = rt.spawn(std::future::poll_fn(move |cx| {
        polls += 1;
        if polls == 1 {
            to_thread.send(cx.waker().clone()).unwrap();
            woken.recv().unwrap();
            return Poll::Pending;
        }
        Poll::Ready(polls)
    }));
    assert_eq!(rt.block_on(task).unwrap(), 2, "woken while running: polled once more");
    thread.join().unwrap();
    let stats = rt.stats();
    assert_eq!(stats.wakes_remote, 0, "a wake during the poll is a local re-queue");
    assert_eq!(stats.polls, 2);
}

#[test]
fn wakes_clones_and_drops_from_another_thread_reach_a_parked_task() {
    let rt = Runtime::new().unwrap();
    let (body, shared) = probe(2);
    let polls = rt.block_on(async {
        let handle = spawn(body);
        yield_now().await;
        let waker = shared.take_waker();
        let thread = std::thread::spawn(move || {
            let clone = waker.clone();
            drop(waker);
            clone.wake_by_ref();
            clone.wake();
        });
        let polls = handle.await.unwrap();
        thread.join().unwrap();
        polls
    });
    assert_eq!(polls, 2);
    assert!(rt.stats().wakes_remote >= 1);
}

#[test]
fn the_last_reference_dropped_on_another_thread_frees_the_task_there() {
    // Task memory is recycled per thread (task/blocks.rs): the thread that
    // drops the last reference keeps the block. Here that thread then
    // reuses it for a task of its own runtime, and frees it when it exits.
    let rt = Runtime::new().unwrap();
    let (body, shared) = probe(2);
    let handle = rt.spawn(body);
    rt.block_on(yield_now());
    let waker = shared.take_waker();
    waker.wake_by_ref();
    assert_eq!(rt.block_on(handle).unwrap(), 2);
    // Finished and its `JoinHandle` gone: the waker taken at the first poll
    // holds the only reference left (the second poll completed, storing none).
    assert!(shared.waker.lock().unwrap().is_none());
    let thread = std::thread::spawn(move || {
        drop(waker); // the last reference: the task is freed on this thread
        let rt = Runtime::new().unwrap();
        let (body, shared) = probe(1);
        // Same future type, same size class: the block just freed.
        assert_eq!(rt.block_on(rt.spawn(body)).unwrap(), 1);
        assert_eq!(shared.polls(), 1);
    });
    thread.join().unwrap();
}

#[test]
fn wakes_after_the_task_finished_do_nothing() {
    let rt = Runtime::new().unwrap();
    let (body, shared) = probe(2);
    rt.block_on(async {
        let handle = spawn(body);
        yield_now().await;
        let waker = shared.take_waker();
        waker.wake_by_ref();
        assert_eq!(handle.await.unwrap(), 2);
        // Every slot on a finished task, here and on another thread.
        waker.wake_by_ref();
        waker.clone().wake_by_ref();
        let clone = waker.clone();
        std::thread::spawn(move || {
            clone.wake_by_ref();
            clone.clone().wake();
            clone.wake();
        })
        .join()
        .unwrap();
        waker.wake();
        yield_now().await;
    });
    assert_eq!(shared.polls(), 2);
}

#[test]
fn every_slot_after_the_runtime_dropped() {
    let rt = Runtime::new().unwrap();
    let (body, shared) = probe(usize::MAX);
    drop(rt.spawn(body));
    rt.block_on(yield_now());
    let waker = shared.take_waker();
    drop(rt); // cancels the parked task: its future is dropped, its header stays
    assert_eq!(shared.polls(), 1);
    let clone = waker.clone();
    waker.wake_by_ref();
    waker.clone().wake();
    let thread = std::thread::spawn(move || {
        clone.wake_by_ref();
        let again = clone.clone();
        drop(clone);
        again.wake(); // the other thread's last waker
    });
    thread.join().unwrap();
    waker.wake(); // the last reference of all
    assert_eq!(shared.polls(), 1, "a cancelled task is never polled again");
}

#[test]
fn wakes_from_other_threads_race_the_runtime_dropping() {
    // Threads wake a parked task while the runtime shuts down: a wake
    // either lands before the runtime closes its cross-thread queue (and is
    // dropped by the shutdown) or after (and is dropped by the waker
    // itself). Either way nothing is stranded in the queue: a stranded entry
    // would keep the task, and through it the runtime's shared half, alive
    // (a leak, which Miri reports).
    const THREADS: usize = 3;
    let rt = Runtime::new().unwrap();
    let (body, shared) = probe(usize::MAX);
    drop(rt.spawn(body));
    rt.block_on(yield_now());
    let waker = shared.take_waker();
    let barrier = Arc::new(Barrier::new(THREADS + 1));
    let threads: Vec<_> = (0..THREADS)
        .map(|i| {
            let (waker, barrier) = (waker.clone(), barrier.clone());
            std::thread::spawn(move || {
                barrier.wait();
                waker.wake_by_ref();
                if i % 2 == 0 {
                    waker.wake();
                }
            })
        })
        .collect();
    barrier.wait();
    drop(rt);
    for thread in threads {
        thread.join().unwrap();
    }
    drop(waker);
    assert_eq!(shared.polls(), 1);
}

#[test]
fn wakes_from_other_threads_race_the_task_finishing() {
    // Each thread counts itself in, then wakes the task and drops its
    // waker. The task finishes once every thread has counted in, so the
    // later wakes find it queued, running or finished, and the last
    // reference is dropped on whichever thread comes last.
    const THREADS: usize = 3;
    let rt = Runtime::new().unwrap();
    let arrived = Arc::new(AtomicUsize::new(0));
    let a = arrived.clone();
    let mut polls = 0;
    let (waker_tx, waker_rx) = mpsc::channel::<Waker>();
    let waker_rx = Arc::new(Mutex::new(waker_rx));
    let task = rt.spawn(std::future::poll_fn(move |cx| {
        polls += 1;
        if polls == 1 {
            for _ in 0..THREADS {
                waker_tx.send(cx.waker().clone()).unwrap();
            }
        }
        if a.load(Ordering::SeqCst) == THREADS {
            Poll::Ready(polls)
        } else {
            Poll::Pending
        }
    }));
    let threads: Vec<_> = (0..THREADS)
        .map(|i| {
            let (arrived, waker_rx) = (arrived.clone(), waker_rx.clone());
            std::thread::spawn(move || {
                let waker = waker_rx.lock().unwrap().recv().unwrap();
                arrived.fetch_add(1, Ordering::SeqCst);
                if i % 2 == 0 {
                    waker.wake_by_ref();
                } else {
                    waker.wake();
                }
            })
        })
        .collect::<Vec<_>>();
    let polls = rt.block_on(task).unwrap();
    // At most one poll per wake, plus the first (which may already see
    // every thread counted in).
    assert!((1..=THREADS + 1).contains(&polls), "{polls} polls");
    for thread in threads {
        thread.join().unwrap();
    }
}

#[test]
fn wakes_of_different_tasks_from_other_threads_at_once_are_all_seen() {
    // One parked task per thread, each woken once from its own thread. The
    // pushes onto the cross-thread queue race each other and the runtime's
    // drain; only the first interrupts the runtime's wait, and the drain
    // that follows must see every later push too.
    const THREADS: usize = 3;
    let rt = Runtime::new().unwrap();
    let probes: Vec<_> = (0..THREADS).map(|_| probe(2)).collect();
    let mut handles = Vec::new();
    let mut shareds = Vec::new();
    for (body, shared) in probes {
        handles.push(rt.spawn(body));
        shareds.push(shared);
    }
    rt.block_on(yield_now());
    let barrier = Arc::new(Barrier::new(THREADS));
    let threads: Vec<_> = shareds
        .iter()
        .map(|shared| {
            let (waker, barrier) = (shared.take_waker(), barrier.clone());
            std::thread::spawn(move || {
                barrier.wait();
                waker.wake();
            })
        })
        .collect();
    rt.block_on(async {
        for handle in handles {
            assert_eq!(handle.await.unwrap(), 2);
        }
    });
    for thread in threads {
        thread.join().unwrap();
    }
}
