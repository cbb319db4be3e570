//! Running several futures at once: `join!`, `join_all`, `select`, `race`,
//! and `JoinSet`, a group of spawned tasks.
//!
//! The first four run their futures *inside the current task*: they poll
//! each child with the task's own `Context`, so whichever child stored the
//! waker, the one task wakes and re-polls the unfinished children. No task
//! is spawned, nothing is allocated (except one box per `join_all` child).
//! The children are not run in parallel; they take turns at their
//! `.await`s, exactly like tasks do.
//!
//! [`JoinSet`] spawns real tasks and collects their results in the order
//! they finish. Each task is wrapped so that when its future goes away
//! (finished, panicked or aborted) a small guard pushes the task's key in
//! the set (a `Slab` key) on a shared *ready list* and wakes the waker
//! stored by [`JoinSet::join_next`]. `join_next` only looks at ready keys:
//! O(1) per completion, however many tasks are still running.
//!
//! # Cancellation
//!
//! Dropping any of these futures drops every child it still holds (each
//! child's destructor runs, stopping it at its current `.await`). `race`
//! and `select` finish when one child does: `race` drops the loser when
//! the race future itself is dropped (right after the `.await`), `select`
//! hands the loser back so it can be resumed later. Dropping a `JoinSet`
//! aborts every task in it (structured concurrency); use
//! [`JoinSet::detach_all`] to let them run on.

use std::cell::{Cell, RefCell};
use std::collections::VecDeque;
use std::fmt;
use std::future::Future;
use std::pin::{pin, Pin};
use std::rc::{Rc, Weak};
use std::task::{Context, Poll, Waker};

use crate::slab::{Key, Slab};
use crate::task::{JoinError, JoinHandle};

/// Waits for every future, running them concurrently in the current task,
/// and gives their outputs as a tuple, in argument order.
///
/// Use it inside an `async` block or function: it expands to an `.await`.
/// Each argument is evaluated (not polled) in order, then all are polled in
/// turn until every one has finished.
///
/// # Examples
///
/// ```
/// use std::time::Duration;
/// use corio_runtime::time::sleep;
///
/// let rt = corio_runtime::Runtime::builder().virtual_time(true).build().unwrap();
/// rt.block_on(async {
///     let start = corio_runtime::time::Instant::now();
///     let (a, b) = corio_runtime::join!(
///         async { sleep(Duration::from_secs(2)).await; "a" },
///         async { sleep(Duration::from_secs(3)).await; 3 },
///     );
///     assert_eq!((a, b), ("a", 3));
///     // Concurrent: 3 s in total, not 5.
///     assert_eq!(start.elapsed(), Duration::from_secs(3));
/// });
/// ```
#[macro_export]
macro_rules! join {
    ($($future:expr),+ $(,)?) => {
        $crate::join!(@pin [] $($future,)+)
    };
    // Pin one future on the stack per step. Each step's `future` binding is
    // a distinct identifier (macro hygiene), passed on in the list.
    (@pin [$($pinned:ident)*] $future:expr, $($rest:expr,)*) => {{
        let mut future = ::core::pin::pin!($crate::__private::MaybeDone::new($future));
        $crate::join!(@pin [$($pinned)* future] $($rest,)*)
    }};
    (@pin [$($pinned:ident)*]) => {
        ::core::future::poll_fn(|cx| {
            let mut done = true;
            $( done &= $pinned.as_mut().poll_step(cx); )*
            if !done {
                return ::core::task::Poll::Pending;
            }
            ::core::task::Poll::Ready(($( $pinned.as_mut().take_output(), )*))
        })
        .await
    };
}

/// Support for the [`join!`](crate::join!) macro; not a public API.
#[doc(hidden)]
pub mod private {
    use super::*;

    pin_project_lite::pin_project! {
        /// A future, then its output, then nothing.
        #[project = MaybeDoneProj]
        #[project_replace = MaybeDoneReplace]
        #[derive(Debug)]
        pub enum MaybeDone<F: Future> {
            /// Still running.
            Pending { #[pin] future: F },
            /// Finished; the output waits to be taken.
            Done { output: F::Output },
            /// The output was taken.
            Taken,
        }
    }

    impl<F: Future> MaybeDone<F> {
        /// Wraps a future that has not run yet.
        pub fn new(future: F) -> MaybeDone<F> {
            MaybeDone::Pending { future }
        }

        /// Polls the future if it is still running; true once it finished.
        /// The finished future is dropped at once, keeping only its output.
        pub fn poll_step(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> bool {
            let output = match self.as_mut().project() {
                MaybeDoneProj::Pending { future } => match future.poll(cx) {
                    Poll::Ready(output) => output,
                    Poll::Pending => return false,
                },
                _ => return true,
            };
            self.set(MaybeDone::Done { output });
            true
        }

        /// Takes the output of a finished future.
        ///
        /// # Panics
        ///
        /// If the future has not finished, or its output was taken.
        pub fn take_output(self: Pin<&mut Self>) -> F::Output {
            match self.project_replace(MaybeDone::Taken) {
                MaybeDoneReplace::Done { output } => output,
                _ => panic!("MaybeDone::take_output called before the future finished, or twice"),
            }
        }
    }
}

use private::MaybeDone;

/// Waits for every future of a collection, running them concurrently in the
/// current task; the outputs come back in the collection's order.
///
/// Each future is boxed once (so this works for any future without
/// `unsafe`), and every wake polls all unfinished ones: fine for tens of
/// futures. For thousands, spawn them into a [`JoinSet`].
///
/// # Examples
///
/// ```
/// corio_runtime::block_on(async {
///     let squares = corio_runtime::join_all((1..=4).map(|n| async move { n * n })).await;
///     assert_eq!(squares, [1, 4, 9, 16]);
/// });
/// ```
pub fn join_all<I>(futures: I) -> JoinAll<I::Item>
where
    I: IntoIterator,
    I::Item: Future,
{
    JoinAll { children: futures.into_iter().map(|future| MaybeDone::new(Box::pin(future))).collect() }
}

/// Future returned by [`join_all`].
#[must_use = "futures do nothing unless you `.await` or poll them"]
pub struct JoinAll<F: Future> {
    children: Vec<MaybeDone<Pin<Box<F>>>>,
}

impl<F: Future> Future for JoinAll<F> {
    type Output = Vec<F::Output>;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Vec<F::Output>> {
        let mut done = true;
        for child in &mut self.children {
            done &= Pin::new(child).poll_step(cx);
        }
        if !done {
            return Poll::Pending;
        }
        Poll::Ready(self.children.iter_mut().map(|child| Pin::new(child).take_output()).collect())
    }
}

impl<F: Future> fmt::Debug for JoinAll<F> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("JoinAll").field("len", &self.children.len()).finish()
    }
}

/// One of two values: which of two futures finished first.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Either<L, R> {
    /// The first (left) one.
    Left(L),
    /// The second (right) one.
    Right(R),
}

impl<L, R> Either<L, R> {
    /// Whether this is `Left`.
    pub fn is_left(&self) -> bool {
        matches!(self, Either::Left(_))
    }

    /// Whether this is `Right`.
    pub fn is_right(&self) -> bool {
        matches!(self, Either::Right(_))
    }

    /// The left value, if this is `Left`.
    pub fn left(self) -> Option<L> {
        match self {
            Either::Left(left) => Some(left),
            Either::Right(_) => None,
        }
    }

    /// The right value, if this is `Right`.
    pub fn right(self) -> Option<R> {
        match self {
            Either::Left(_) => None,
            Either::Right(right) => Some(right),
        }
    }
}

/// Waits for the first of two futures, dropping the other.
///
/// Both run concurrently in the current task. `a` is polled first on every
/// wake, so when both are ready at once `a` wins (the choice is
/// deterministic, which keeps tests reproducible).
///
/// # Examples
///
/// ```
/// use std::time::Duration;
/// use corio_runtime::{race, Either, time::sleep};
///
/// let rt = corio_runtime::Runtime::builder().virtual_time(true).build().unwrap();
/// rt.block_on(async {
///     let fast = async { sleep(Duration::from_secs(1)).await; "fast" };
///     let slow = async { sleep(Duration::from_secs(9)).await; 9 };
///     assert_eq!(race(fast, slow).await, Either::Left("fast"));
/// });
/// ```
///
/// # Caveats
///
/// The loser is cancelled: it is dropped, stopped at its current `.await`,
/// when the race future is dropped. Whatever it was doing is lost, so race
/// only futures that are cancel-safe or whose loss you accept (see the
/// table in [`sync`](crate::sync)). To keep the loser, use [`select`].
pub fn race<A: Future, B: Future>(a: A, b: B) -> Race<A, B> {
    Race { a, b }
}

pin_project_lite::pin_project! {
    /// Future returned by [`race`].
    #[derive(Debug)]
    #[must_use = "futures do nothing unless you `.await` or poll them"]
    pub struct Race<A, B> {
        #[pin]
        a: A,
        #[pin]
        b: B,
    }
}

impl<A: Future, B: Future> Future for Race<A, B> {
    type Output = Either<A::Output, B::Output>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = self.project();
        if let Poll::Ready(a) = this.a.poll(cx) {
            return Poll::Ready(Either::Left(a));
        }
        this.b.poll(cx).map(Either::Right)
    }
}

/// Waits for the first of two futures and hands back the other, unfinished.
///
/// Like [`race`], but the loser is returned so it can be awaited later (it
/// is not cancelled). The futures must be `Unpin`; pin others first with
/// `std::pin::pin!` or `Box::pin`. `a` is polled first.
///
/// # Examples
///
/// ```
/// use std::pin::pin;
/// use std::time::Duration;
/// use corio_runtime::{select, Either, time::sleep};
///
/// let rt = corio_runtime::Runtime::builder().virtual_time(true).build().unwrap();
/// rt.block_on(async {
///     let fast = pin!(async { sleep(Duration::from_secs(1)).await; 1 });
///     let slow = pin!(async { sleep(Duration::from_secs(5)).await; 5 });
///     match select(fast, slow).await {
///         Either::Left((first, slow)) => assert_eq!(first + slow.await, 6),
///         Either::Right(_) => unreachable!(),
///     }
/// });
/// ```
pub fn select<A, B>(a: A, b: B) -> Select<A, B>
where
    A: Future + Unpin,
    B: Future + Unpin,
{
    Select { inner: Some((a, b)) }
}

/// Future returned by [`select`].
#[derive(Debug)]
#[must_use = "futures do nothing unless you `.await` or poll them"]
pub struct Select<A, B> {
    inner: Option<(A, B)>,
}

impl<A, B> Future for Select<A, B>
where
    A: Future + Unpin,
    B: Future + Unpin,
{
    type Output = Either<(A::Output, B), (B::Output, A)>;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let (a, b) = self.inner.as_mut().expect("Select polled after it completed");
        if let Poll::Ready(output) = Pin::new(a).poll(cx) {
            let (_, b) = self.inner.take().expect("checked above");
            return Poll::Ready(Either::Left((output, b)));
        }
        if let Poll::Ready(output) = Pin::new(b).poll(cx) {
            let (a, _) = self.inner.take().expect("checked above");
            return Poll::Ready(Either::Right((output, a)));
        }
        Poll::Pending
    }
}

/// Keys of finished members, pushed by their tasks, popped by `join_next`.
#[derive(Default)]
struct ReadyList {
    keys: RefCell<VecDeque<Key>>,
    /// The task awaiting `join_next`.
    waker: Cell<Option<Waker>>,
}

/// Lives inside each spawned task's future; when the future goes away
/// (finished, panicked or aborted) it reports its member as ready.
struct Completion {
    ready: Rc<ReadyList>,
    key: Key,
}

impl Drop for Completion {
    fn drop(&mut self) {
        self.ready.keys.borrow_mut().push_back(self.key);
        if let Some(waker) = self.ready.waker.take() {
            waker.wake();
        }
    }
}

pin_project_lite::pin_project! {
    /// A `JoinSet` task's future: the user's future, then the guard
    /// (fields drop in order, so the guard fires after the future is gone).
    struct Tracked<F> {
        #[pin]
        future: F,
        completion: Completion,
    }
}

impl<F: Future> Future for Tracked<F> {
    type Output = F::Output;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<F::Output> {
        self.project().future.poll(cx)
    }
}

/// The members of a `JoinSet`: the handle of each task not yet joined, in
/// the runtime's `Slab` (a key is reserved before the task is spawned, so
/// the entry is `None` for that moment). Shared (weakly) with the abort
/// handles.
type Members<T> = RefCell<Slab<Option<JoinHandle<T>>>>;

/// Type-erased access to a set's members, so `AbortHandle` is not generic.
trait AbortMember {
    /// Aborts the task under `key`, if still in the set; whether it was found.
    fn abort(&self, key: Key) -> bool;
    fn is_finished(&self, key: Key) -> bool;
}

impl<T> AbortMember for Members<T> {
    fn abort(&self, key: Key) -> bool {
        // A shared borrow only: an aborted future's destructor may abort a
        // sibling through its own handle.
        let members = self.borrow();
        match members.get(key) {
            Some(Some(handle)) => {
                handle.abort();
                true
            }
            _ => false,
        }
    }

    fn is_finished(&self, key: Key) -> bool {
        match self.borrow().get(key) {
            Some(Some(handle)) => handle.is_finished(),
            _ => true,
        }
    }
}

/// A group of spawned tasks, joined in the order they finish.
///
/// [`spawn`](Self::spawn) starts a task on the current runtime and keeps its
/// `JoinHandle`; [`join_next`](Self::join_next) gives the next result to
/// finish, `None` once the set is empty. Dropping the set aborts every task
/// still in it, so no task outlives the scope that owns the set: structured
/// concurrency. A panic in one task is reported as its `JoinError`, not
/// propagated.
///
/// `JoinSet` is `!Send`, like [`JoinHandle`]: it belongs to the runtime's
/// thread (its bookkeeping is `Rc` and `RefCell`, shared with the tasks'
/// completion guards).
///
/// ```compile_fail
/// fn assert_send<T: Send>(_: T) {}
/// assert_send(corio_runtime::JoinSet::<()>::new()); // error: `Rc<..>` is not `Send`
/// ```
///
/// # Examples
///
/// ```
/// use std::time::Duration;
/// use corio_runtime::{time::sleep, JoinSet};
///
/// let rt = corio_runtime::Runtime::builder().virtual_time(true).build().unwrap();
/// rt.block_on(async {
///     let mut set = JoinSet::new();
///     for secs in [3, 1, 2] {
///         set.spawn(async move {
///             sleep(Duration::from_secs(secs)).await;
///             secs
///         });
///     }
///     let mut order = Vec::new();
///     while let Some(result) = set.join_next().await {
///         order.push(result.unwrap());
///     }
///     assert_eq!(order, [1, 2, 3]); // completion order
/// });
/// ```
pub struct JoinSet<T> {
    /// The handle of each task spawned into the set, until joined.
    members: Rc<Members<T>>,
    /// Tasks spawned and not yet joined (finished or not).
    len: usize,
    ready: Rc<ReadyList>,
}

impl<T: 'static> JoinSet<T> {
    /// An empty set.
    pub fn new() -> JoinSet<T> {
        JoinSet { members: Rc::new(RefCell::new(Slab::new())), len: 0, ready: Rc::default() }
    }

    /// Spawns `future` on the current runtime as a member of this set.
    ///
    /// # Panics
    ///
    /// Panics outside a runtime, like [`spawn`](crate::spawn).
    #[track_caller]
    pub fn spawn<F>(&mut self, future: F) -> AbortHandle
    where
        F: Future<Output = T> + 'static,
    {
        let key = self.members.borrow_mut().insert(None);
        let completion = Completion { ready: self.ready.clone(), key };
        let handle =
            crate::executor::spawn_at(Tracked { future, completion }, None, std::panic::Location::caller());
        let id = handle.id();
        if let Some(member) = self.members.borrow_mut().get_mut(key) {
            *member = Some(handle);
        }
        self.len += 1;
        let members: Rc<dyn AbortMember> = self.members.clone();
        AbortHandle { members: Rc::downgrade(&members), key, id }
    }

    /// Waits for the next task to finish and gives its result; `None` when
    /// the set is empty.
    ///
    /// # Caveats
    ///
    /// Cancel-safe: if the future is dropped, a finished task's result
    /// stays in the set for the next call.
    pub fn join_next(&mut self) -> JoinNext<'_, T> {
        JoinNext { set: self }
    }

    /// Polls for the next finished task (the building block of
    /// [`join_next`](Self::join_next)).
    pub fn poll_join_next(&mut self, cx: &mut Context<'_>) -> Poll<Option<Result<T, JoinError>>> {
        if let Some(result) = self.take_ready(cx) {
            return Poll::Ready(Some(result));
        }
        if self.len == 0 {
            return Poll::Ready(None);
        }
        crate::waker::store_in_cell(&self.ready.waker, cx.waker());
        crate::context::note_wait("JoinSet::join_next");
        // No task can finish between `take_ready` and storing the waker:
        // nothing else runs on this thread in between.
        Poll::Pending
    }

    /// The result of a finished task, if any, without waiting.
    pub fn try_join_next(&mut self) -> Option<Result<T, JoinError>> {
        // A ready key's task is finished, so the poll never stores the
        // waker: the no-op one (no allocation) is enough.
        self.take_ready(&mut Context::from_waker(Waker::noop()))
    }

    /// Pops ready keys until one names a finished task; takes its output.
    fn take_ready(&mut self, cx: &mut Context<'_>) -> Option<Result<T, JoinError>> {
        loop {
            let key = self.ready.keys.borrow_mut().pop_front()?;
            let handle = self.members.borrow_mut().remove(key).flatten();
            let Some(handle) = handle else { continue };
            // The guard fires while the task completes, in the same call
            // (poll, abort or shutdown) that marks it finished, so a ready
            // key always names a finished task and this poll is `Ready`.
            debug_assert!(handle.is_finished(), "JoinSet: a ready task is finished");
            let result = match pin!(handle).poll(cx) {
                Poll::Ready(result) => result,
                Poll::Pending => unreachable!("JoinSet: a ready task is finished"),
            };
            self.len -= 1;
            return Some(result);
        }
    }

    /// Number of tasks spawned and not yet joined (finished or not).
    pub fn len(&self) -> usize {
        self.len
    }

    /// Whether the set holds no tasks.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Aborts every task in the set. They stay in the set: `join_next`
    /// then reports each as cancelled (or its output, if it had finished).
    pub fn abort_all(&mut self) {
        // A shared borrow: abort handles used by the dropped futures'
        // destructors only borrow too.
        let members = self.members.borrow();
        for handle in members.values().flatten() {
            handle.abort();
        }
    }

    /// Removes every task from the set without aborting it: they run on,
    /// detached, and their outputs are dropped when they finish.
    pub fn detach_all(&mut self) {
        let handles = std::mem::replace(&mut *self.members.borrow_mut(), Slab::new());
        // Detached tasks report to a list nobody reads any more.
        self.ready = Rc::default();
        self.len = 0;
        // Dropped after the borrow ends: dropping a finished task's handle
        // drops its output, which may run any code.
        drop(handles);
    }

    /// Aborts every task and waits until all of them have finished.
    pub async fn shutdown(&mut self) {
        self.abort_all();
        while self.join_next().await.is_some() {}
    }
}

impl<T: 'static> Default for JoinSet<T> {
    fn default() -> JoinSet<T> {
        JoinSet::new()
    }
}

impl<T> Drop for JoinSet<T> {
    fn drop(&mut self) {
        {
            let members = self.members.borrow();
            for handle in members.values().flatten() {
                handle.abort();
            }
        }
        let handles = std::mem::replace(&mut *self.members.borrow_mut(), Slab::new());
        drop(handles);
    }
}

impl<T> fmt::Debug for JoinSet<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("JoinSet").field("len", &self.len).finish()
    }
}

/// Future returned by [`JoinSet::join_next`].
#[must_use = "futures do nothing unless you `.await` or poll them"]
pub struct JoinNext<'a, T> {
    set: &'a mut JoinSet<T>,
}

impl<T: 'static> Future for JoinNext<'_, T> {
    type Output = Option<Result<T, JoinError>>;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        self.set.poll_join_next(cx)
    }
}

impl<T> fmt::Debug for JoinNext<'_, T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("JoinNext").field("set", &self.set).finish()
    }
}

/// Aborts one task of a [`JoinSet`] without owning it.
///
/// Holds a weak reference to the set: once the set is gone, or the task
/// was joined or detached, aborting does nothing.
#[derive(Clone)]
pub struct AbortHandle {
    members: Weak<dyn AbortMember>,
    key: Key,
    id: u64,
}

impl AbortHandle {
    /// Cancels the task, like [`JoinHandle::abort`]; `join_next` then
    /// reports it as cancelled. Does nothing if it already finished.
    pub fn abort(&self) {
        if let Some(members) = self.members.upgrade() {
            members.abort(self.key);
        }
    }

    /// Whether the task finished (or left its set).
    pub fn is_finished(&self) -> bool {
        match self.members.upgrade() {
            Some(members) => members.is_finished(self.key),
            None => true,
        }
    }

    /// The task's id, as [`JoinHandle::id`].
    pub fn id(&self) -> u64 {
        self.id
    }
}

impl fmt::Debug for AbortHandle {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AbortHandle").field("id", &self.id).finish()
    }
}
