//! Blocking work off the runtime thread: [`spawn_blocking`] and its pool.
//!
//! A corio runtime is one thread, so a task that blocks (reads a file, hashes
//! a password, calls `getaddrinfo`) stalls every other task until it returns.
//! [`spawn_blocking`] moves such a closure to a pool of plain OS threads and
//! gives back a [`BlockingJoinHandle`], a future the task awaits like any
//! other: the task waits (idle), the pool thread runs the closure, hands
//! the result over (`handoff.rs`, shared with `Handle::spawn`) and wakes the
//! task through its `Waker` (wakers are `Send`, so this needs nothing from
//! the runtime's internals, and works from any executor).
//!
//! # The pool
//!
//! One pool per process, started lazily on the first call. Threads are
//! created on demand: a job queued when every thread is busy starts a new
//! one, up to [`MAX_BLOCKING_THREADS`]; past that, jobs wait in a FIFO
//! queue. A thread that finds no work for [`THREAD_KEEP_ALIVE`] exits, so an
//! idle program holds no pool threads. The whole pool is a `Mutex` around
//! the queue and two counters, plus a `Condvar` idle threads wait on.
//!
//! Why per process and not per runtime: threads are a process resource (the
//! `RLIMIT_NPROC` limit, memory for stacks), and a program running one
//! runtime per core would otherwise hold N pools with N caps. The pool
//! touches no runtime state (only closures and `Send` wakers), so sharing it
//! couples runtimes in nothing, and dropping a runtime needs no coordination
//! with it: jobs already running finish on their thread and their results
//! are dropped there (nobody is left to await them); jobs still queued run
//! too, as with tokio (a closure cannot be interrupted halfway, so corio
//! does not pretend to cancel it). Dropping a runtime never waits for them.
//!
//! Why our own pool and not the `blocking` crate (smol's, well kept): it
//! brings six crates (async-task among them, a second copy of what `task/`
//! teaches), and we would still wrap its task to turn a panic into a
//! [`JoinError`]. The pool below is one mutex, one condition variable and
//! two counters, readable in a few minutes.

use std::collections::VecDeque;
use std::fmt;
use std::future::Future;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::pin::Pin;
use std::sync::{Arc, Condvar, Mutex, MutexGuard, OnceLock};
use std::task::{Context, Poll};
use std::time::Duration;

use crate::handoff::Handoff;
use crate::task::JoinError;

/// Most threads the blocking pool runs at once (tokio's default too).
/// Jobs submitted while all of them are busy wait in a FIFO queue.
pub const MAX_BLOCKING_THREADS: usize = 512;

/// How long a pool thread waits for work before it exits (tokio's default).
pub const THREAD_KEEP_ALIVE: Duration = Duration::from_secs(10);

/// Runs `f` on the blocking pool and returns a handle to await its result.
///
/// Use it for work that would stall the runtime's one thread: blocking
/// system calls (files, `getaddrinfo`), or computation long enough to delay
/// other tasks noticeably. `f` starts at once if a pool thread is free or
/// can be started, otherwise when one frees up.
///
/// It needs no runtime: the handle wakes whatever task awaits it through
/// that task's `Waker`, so it can be called and awaited anywhere.
///
/// # Examples
///
/// ```
/// corio_runtime::block_on(async {
///     let digest = corio_runtime::spawn_blocking(|| {
///         // Stands for real work: a blocking syscall or a long computation.
///         (1..=20u64).product::<u64>()
///     });
///     assert_eq!(digest.await.unwrap(), 2_432_902_008_176_640_000);
/// });
/// ```
///
/// # Caveats
///
/// The closure cannot be cancelled: dropping the handle (or the runtime)
/// detaches it, and it runs to the end on its pool thread, which then drops
/// its result. A panic in `f` is caught and reported as a [`JoinError`].
pub fn spawn_blocking<F, T>(f: F) -> BlockingJoinHandle<T>
where
    F: FnOnce() -> T + Send + 'static,
    T: Send + 'static,
{
    pool().spawn(f)
}

/// The process's pool, started on first use.
fn pool() -> &'static Arc<Pool> {
    static POOL: OnceLock<Arc<Pool>> = OnceLock::new();
    POOL.get_or_init(|| Pool::new(MAX_BLOCKING_THREADS, THREAD_KEEP_ALIVE))
}

/// A unit of work for a pool thread.
type Job = Box<dyn FnOnce() + Send>;

/// Threads started on demand, up to a cap, that exit after idling.
struct Pool {
    state: Mutex<PoolState>,
    /// Signalled once per queued job, to wake an idle thread.
    work: Condvar,
    max_threads: usize,
    keep_alive: Duration,
}

struct PoolState {
    /// Jobs not yet taken by a thread, oldest first.
    queue: VecDeque<Job>,
    /// Threads alive (busy or idle).
    threads: usize,
    /// Threads waiting on `work`. A job queued while
    /// `queue.len() <= idle` has an idle thread to take it; otherwise a new
    /// thread is started if the cap allows.
    idle: usize,
}

impl Pool {
    fn new(max_threads: usize, keep_alive: Duration) -> Arc<Pool> {
        Arc::new(Pool {
            state: Mutex::new(PoolState { queue: VecDeque::new(), threads: 0, idle: 0 }),
            work: Condvar::new(),
            max_threads: max_threads.max(1),
            keep_alive,
        })
    }

    fn lock(&self) -> MutexGuard<'_, PoolState> {
        // Jobs run outside the lock and catch their panics, so a poisoned
        // lock can only come from a bug here; the state is still consistent.
        self.state.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    fn spawn<F, T>(self: &Arc<Self>, f: F) -> BlockingJoinHandle<T>
    where
        F: FnOnce() -> T + Send + 'static,
        T: Send + 'static,
    {
        let (handoff, completer) = Handoff::new();
        self.submit(Box::new(move || {
            let result = catch_unwind(AssertUnwindSafe(f)).map_err(JoinError::panic);
            completer.complete(result);
        }));
        BlockingJoinHandle { handoff }
    }

    fn submit(self: &Arc<Self>, job: Job) {
        let mut state = self.lock();
        state.queue.push_back(job);
        if state.queue.len() <= state.idle {
            drop(state);
            self.work.notify_one();
            return;
        }
        if state.threads == self.max_threads {
            return; // a busy thread takes it when it finishes its job
        }
        state.threads += 1;
        drop(state);
        let pool = self.clone();
        let started =
            std::thread::Builder::new().name("corio-blocking".into()).spawn(move || pool.work_loop());
        if let Err(error) = started {
            let mut state = self.lock();
            state.threads -= 1;
            if state.threads == 0 {
                // Nobody will ever run the queue. Dropping a job unrun drops
                // its `Completer`, which reports cancellation to the handle.
                let stranded = std::mem::take(&mut state.queue);
                drop(state);
                eprintln!("corio: cannot start a blocking-pool thread: {error}");
                drop(stranded);
            }
        }
    }

    /// A pool thread: run queued jobs; exit after `keep_alive` without one.
    fn work_loop(&self) {
        let mut state = self.lock();
        loop {
            if let Some(job) = state.queue.pop_front() {
                drop(state);
                job();
                state = self.lock();
                continue;
            }
            state.idle += 1;
            let (guard, waited) = self
                .work
                .wait_timeout(state, self.keep_alive)
                .unwrap_or_else(|poisoned| poisoned.into_inner());
            state = guard;
            state.idle -= 1;
            if waited.timed_out() && state.queue.is_empty() {
                state.threads -= 1;
                return;
            }
        }
    }

    #[cfg(test)]
    fn threads(&self) -> (usize, usize) {
        let state = self.lock();
        (state.threads, state.idle)
    }
}

/// The result of a closure run by [`spawn_blocking`]: await it for
/// `Ok(value)`, or a [`JoinError`] if the closure panicked.
///
/// Unlike [`JoinHandle`](crate::JoinHandle) it is `Send`: the result comes
/// from another thread anyway. Dropping it detaches the closure (it still
/// runs; its result is dropped on the pool thread).
#[must_use = "dropping the handle detaches the job; await it to get the result"]
pub struct BlockingJoinHandle<T> {
    handoff: Arc<Handoff<T>>,
}

impl<T> BlockingJoinHandle<T> {
    /// Whether the closure has finished (its result is waiting).
    pub fn is_finished(&self) -> bool {
        self.handoff.is_finished()
    }
}

impl<T> Future for BlockingJoinHandle<T> {
    type Output = Result<T, JoinError>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        self.handoff.poll_result(cx, "BlockingJoinHandle")
    }
}

impl<T> Drop for BlockingJoinHandle<T> {
    fn drop(&mut self) {
        // The job drops its result at once when it finishes; a result
        // already here is dropped now, outside the lock.
        self.handoff.abandon();
    }
}

impl<T> fmt::Debug for BlockingJoinHandle<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("BlockingJoinHandle").field("finished", &self.is_finished()).finish()
    }
}

/// A failed file job (`fs.rs`) as the `io::Error` its caller expects.
pub(crate) fn join_error_to_io(error: JoinError) -> std::io::Error {
    std::io::Error::other(format!("blocking job failed: {error}"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::mpsc;

    /// Checks `condition` until it holds (a state the pool must reach; how
    /// soon depends on the scheduler, so no deadline).
    fn wait_until(condition: impl Fn() -> bool) {
        while !condition() {
            std::thread::sleep(Duration::from_millis(1));
        }
    }

    /// Blocks on the calling thread until the handle's result is in.
    fn wait<T>(handle: BlockingJoinHandle<T>) -> Result<T, JoinError> {
        crate::block_on(handle)
    }

    #[test]
    #[cfg_attr(miri, ignore = "its idle pool threads outlive the test binary: an error under Miri")]
    fn threads_grow_to_the_cap_then_jobs_queue() {
        let pool = Pool::new(2, Duration::from_secs(60));
        let (started_tx, started) = mpsc::channel();
        let (release_tx, release) = mpsc::channel::<()>();
        let release = Arc::new(Mutex::new(release));
        let handles: Vec<_> = (0..3)
            .map(|i| {
                let (started_tx, release) = (started_tx.clone(), release.clone());
                pool.spawn(move || {
                    started_tx.send(i).unwrap();
                    release.lock().unwrap().recv().unwrap();
                    i
                })
            })
            .collect();
        // Two start; the third waits for a thread (the cap is 2).
        let mut first = [started.recv().unwrap(), started.recv().unwrap()];
        first.sort();
        assert_eq!(first, [0, 1]);
        assert_eq!(pool.threads().0, 2, "never more threads than the cap");
        for _ in 0..3 {
            release_tx.send(()).unwrap();
        }
        assert_eq!(started.recv().unwrap(), 2, "the queued job runs once a thread is free");
        let results: Vec<usize> = handles.into_iter().map(|h| wait(h).unwrap()).collect();
        assert_eq!(results, [0, 1, 2]);
    }

    #[test]
    fn idle_threads_exit_after_keep_alive() {
        let pool = Pool::new(4, Duration::from_millis(1));
        assert_eq!(wait(pool.spawn(|| 7)).unwrap(), 7);
        // No deadline: the thread must go (nothing else is queued), however
        // long a loaded machine takes to get there.
        wait_until(|| pool.threads() == (0, 0));
        // The pool starts a new thread for the next job.
        assert_eq!(wait(pool.spawn(|| 8)).unwrap(), 8);
    }

    #[test]
    #[cfg_attr(miri, ignore = "its idle pool threads outlive the test binary: an error under Miri")]
    fn an_idle_thread_is_reused() {
        let pool = Pool::new(4, Duration::from_secs(60));
        let first = wait(pool.spawn(|| std::thread::current().id())).unwrap();
        for _ in 0..10 {
            // Once the thread that ran it waits for work, a new job goes to
            // it instead of starting a second thread.
            wait_until(|| pool.threads() == (1, 1));
            assert_eq!(wait(pool.spawn(|| std::thread::current().id())).unwrap(), first);
        }
        assert_eq!(pool.threads().0, 1);
    }

    #[test]
    fn a_job_dropped_unrun_cancels_its_handle() {
        let (handoff, completer) = Handoff::<u8>::new();
        drop(completer);
        let handle = BlockingJoinHandle { handoff };
        assert!(wait(handle).unwrap_err().is_cancelled());
    }
}
