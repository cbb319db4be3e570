//! `Semaphore`: a counted set of permits, handed out first come, first served.
//!
//! # How it waits and wakes
//!
//! The permit count and a `WaitList` (`waiters.rs`) of blocked acquirers live in one
//! `RefCell`. An [`Acquire`] that cannot be served at once (too few permits,
//! or someone is already queued: no barging) takes a record holding the number
//! of permits it wants and its task's waker. Whenever permits come back (a
//! permit guard dropped, [`Semaphore::add_permits`], a queued acquire
//! dropped) the semaphore serves the queue *from the front only*: while the
//! first waiter's request fits, it subtracts the permits, marks the record
//! granted, unlinks it and collects its waker; then it releases the borrow
//! and wakes. A large request at the front therefore blocks smaller ones
//! behind it until it is served: it cannot be starved. A granted acquire
//! that is dropped before it is polled gives its permits back, which serves
//! the next waiter.

use std::cell::RefCell;
use std::error::Error;
use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::rc::Rc;
use std::task::{Context, Poll, Waker};

use super::waiters::{Key, WaitList};

/// What an acquirer's record says.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Claim {
    /// Queued, wanting this many permits.
    Waiting(usize),
    /// Unlinked and given its permits (already subtracted from the count).
    Granted(usize),
    /// Unlinked because the semaphore was closed.
    Closed,
}

#[derive(Debug)]
struct Permits {
    permits: usize,
    closed: bool,
    waiters: WaitList<Claim>,
}

/// Limits how many tasks do something at once.
///
/// `acquire().await` waits for a permit and returns a guard; dropping the
/// guard returns the permit. Waiters are served in FIFO order.
///
/// `Semaphore` is `!Sync` (a `RefCell` inside), which keeps it free of
/// atomics: it serves the tasks of one runtime thread. Share it between
/// tasks with `Rc<Semaphore>` (and use [`acquire_owned`](Self::acquire_owned)
/// for guards that outlive a borrow). Other threads cannot acquire it; they
/// can reach the runtime through a [`Handle`](crate::Handle).
///
/// ```compile_fail
/// fn assert_sync<T: Sync>(_: &T) {}
/// assert_sync(&corio_runtime::sync::Semaphore::new(1)); // error: `RefCell` is not `Sync`
/// ```
///
/// # Examples
///
/// ```
/// use std::rc::Rc;
/// use corio_runtime::sync::Semaphore;
///
/// corio_runtime::block_on(async {
///     let limit = Rc::new(Semaphore::new(2)); // at most two downloads at once
///     let mut tasks = Vec::new();
///     for _ in 0..5 {
///         let limit = limit.clone();
///         tasks.push(corio_runtime::spawn(async move {
///             let _permit = limit.acquire().await.unwrap();
///             corio_runtime::task::yield_now().await; // the download
///         }));
///     }
///     for task in tasks {
///         task.await.unwrap();
///     }
///     assert_eq!(limit.available_permits(), 2);
/// });
/// ```
pub struct Semaphore {
    state: RefCell<Permits>,
}

impl Semaphore {
    /// A semaphore with `permits` permits.
    pub const fn new(permits: usize) -> Semaphore {
        Semaphore { state: RefCell::new(Permits { permits, closed: false, waiters: WaitList::new() }) }
    }

    /// Permits available right now.
    pub fn available_permits(&self) -> usize {
        self.state.borrow().permits
    }

    /// Adds `n` permits, serving queued acquirers that now fit.
    ///
    /// # Panics
    ///
    /// Panics if the count would overflow `usize`.
    pub fn add_permits(&self, n: usize) {
        self.release(n);
    }

    /// Closes the semaphore: queued and future acquires fail with
    /// [`AcquireError`]. Permits already held stay valid.
    pub fn close(&self) {
        let mut wakers = Vec::new();
        {
            let mut state = self.state.borrow_mut();
            state.closed = true;
            while let Some(key) = state.waiters.front() {
                *state.waiters.state_mut(key) = Claim::Closed;
                wakers.extend(state.waiters.unlink(key));
            }
        }
        for waker in wakers {
            waker.wake();
        }
    }

    /// Whether [`close`](Self::close) was called.
    pub fn is_closed(&self) -> bool {
        self.state.borrow().closed
    }

    /// Waits for one permit.
    ///
    /// # Errors
    ///
    /// [`AcquireError`] if the semaphore is (or gets) closed.
    ///
    /// # Caveats
    ///
    /// Dropping the future gives up its place in the queue; permits granted
    /// to it but not yet claimed go back to the semaphore, serving the next
    /// waiter. Nothing is lost.
    pub fn acquire(&self) -> Acquire<'_> {
        self.acquire_many(1)
    }

    /// Waits for `n` permits, taken all at once.
    ///
    /// # Errors
    ///
    /// [`AcquireError`] if the semaphore is (or gets) closed.
    pub fn acquire_many(&self, n: usize) -> Acquire<'_> {
        Acquire { semaphore: self, wanted: n, key: None }
    }

    /// Takes one permit if available right now and nobody is queued.
    ///
    /// # Errors
    ///
    /// [`TryAcquireError::NoPermits`] or [`TryAcquireError::Closed`].
    pub fn try_acquire(&self) -> Result<SemaphorePermit<'_>, TryAcquireError> {
        self.try_acquire_many(1)
    }

    /// Takes `n` permits if available right now and nobody is queued.
    ///
    /// # Errors
    ///
    /// [`TryAcquireError::NoPermits`] or [`TryAcquireError::Closed`].
    pub fn try_acquire_many(&self, n: usize) -> Result<SemaphorePermit<'_>, TryAcquireError> {
        self.try_take(n)?;
        Ok(SemaphorePermit { semaphore: self, permits: n })
    }

    /// Like [`acquire`](Self::acquire), with a guard that owns an `Rc` of the
    /// semaphore, so it can move into a spawned task.
    ///
    /// # Errors
    ///
    /// [`AcquireError`] if the semaphore is (or gets) closed.
    pub async fn acquire_owned(self: Rc<Self>) -> Result<OwnedSemaphorePermit, AcquireError> {
        self.acquire_many_owned(1).await
    }

    /// Like [`acquire_many`](Self::acquire_many), with an owning guard.
    ///
    /// # Errors
    ///
    /// [`AcquireError`] if the semaphore is (or gets) closed.
    pub async fn acquire_many_owned(self: Rc<Self>, n: usize) -> Result<OwnedSemaphorePermit, AcquireError> {
        self.acquire_many(n).await?.forget();
        Ok(OwnedSemaphorePermit { semaphore: self, permits: n })
    }

    /// Like [`try_acquire`](Self::try_acquire), with an owning guard.
    ///
    /// # Errors
    ///
    /// [`TryAcquireError::NoPermits`] or [`TryAcquireError::Closed`].
    pub fn try_acquire_owned(self: Rc<Self>) -> Result<OwnedSemaphorePermit, TryAcquireError> {
        self.try_take(1)?;
        Ok(OwnedSemaphorePermit { semaphore: self, permits: 1 })
    }

    fn try_take(&self, n: usize) -> Result<(), TryAcquireError> {
        let mut state = self.state.borrow_mut();
        if state.closed {
            return Err(TryAcquireError::Closed);
        }
        if state.permits < n || !state.waiters.is_empty() {
            return Err(TryAcquireError::NoPermits);
        }
        state.permits -= n;
        Ok(())
    }

    /// Returns `n` permits and serves the queue from the front.
    fn release(&self, n: usize) {
        let wakers = {
            let mut state = self.state.borrow_mut();
            state.permits = state.permits.checked_add(n).expect("semaphore permit count overflowed");
            Self::serve(&mut state)
        };
        for waker in wakers {
            waker.wake();
        }
    }

    /// Grants permits to the front waiters while their requests fit.
    fn serve(state: &mut Permits) -> Vec<Waker> {
        let mut wakers = Vec::new();
        while let Some(key) = state.waiters.front() {
            let Claim::Waiting(wanted) = *state.waiters.state(key) else {
                unreachable!("only waiting requests are queued")
            };
            if wanted > state.permits {
                break; // FIFO: nobody overtakes the front waiter
            }
            state.permits -= wanted;
            *state.waiters.state_mut(key) = Claim::Granted(wanted);
            wakers.extend(state.waiters.unlink(key));
        }
        wakers
    }
}

impl fmt::Debug for Semaphore {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let state = self.state.borrow();
        f.debug_struct("Semaphore")
            .field("permits", &state.permits)
            .field("waiters", &state.waiters.len())
            .field("closed", &state.closed)
            .finish()
    }
}

/// Future returned by [`Semaphore::acquire`] and [`Semaphore::acquire_many`].
#[must_use = "futures do nothing unless you `.await` or poll them"]
pub struct Acquire<'a> {
    semaphore: &'a Semaphore,
    wanted: usize,
    /// Our wait-list record, while queued or granted.
    key: Option<Key>,
}

impl<'a> Future for Acquire<'a> {
    type Output = Result<SemaphorePermit<'a>, AcquireError>;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = &mut *self;
        let semaphore = this.semaphore;
        let mut state = semaphore.state.borrow_mut();
        if let Some(key) = this.key {
            let request = *state.waiters.state(key);
            if let Claim::Waiting(_) = request {
                state.waiters.register(key, cx.waker());
                crate::context::note_wait("Semaphore::acquire");
                return Poll::Pending;
            }
            state.waiters.remove(key);
            this.key = None;
            return match request {
                Claim::Granted(permits) => Poll::Ready(Ok(SemaphorePermit { semaphore, permits })),
                _ => Poll::Ready(Err(AcquireError)),
            };
        }
        if state.closed {
            return Poll::Ready(Err(AcquireError));
        }
        if state.permits >= this.wanted && state.waiters.is_empty() {
            state.permits -= this.wanted;
            return Poll::Ready(Ok(SemaphorePermit { semaphore, permits: this.wanted }));
        }
        this.key = Some(state.waiters.push_back(Claim::Waiting(this.wanted), cx.waker().clone()));
        crate::context::note_wait("Semaphore::acquire");
        Poll::Pending
    }
}

impl Drop for Acquire<'_> {
    fn drop(&mut self) {
        let Some(key) = self.key.take() else { return };
        let wakers = {
            let mut state = self.semaphore.state.borrow_mut();
            let was_front = state.waiters.front() == Some(key);
            match state.waiters.remove(key) {
                // Granted but never claimed: the permits go back.
                Claim::Granted(permits) => state.permits += permits,
                // A waiting front may have blocked smaller requests behind it.
                Claim::Waiting(_) if was_front => {}
                _ => return,
            }
            Semaphore::serve(&mut state)
        };
        for waker in wakers {
            waker.wake();
        }
    }
}

impl fmt::Debug for Acquire<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Acquire").field("wanted", &self.wanted).field("queued", &self.key.is_some()).finish()
    }
}

/// Permits borrowed from a [`Semaphore`]; dropping it gives them back.
#[must_use = "dropping the permit releases it at once"]
pub struct SemaphorePermit<'a> {
    semaphore: &'a Semaphore,
    permits: usize,
}

impl SemaphorePermit<'_> {
    /// Keeps the permits out of the semaphore for good (they are not returned).
    pub fn forget(mut self) {
        self.permits = 0;
    }

    /// How many permits this guard holds.
    pub fn num_permits(&self) -> usize {
        self.permits
    }
}

impl Drop for SemaphorePermit<'_> {
    fn drop(&mut self) {
        if self.permits > 0 {
            self.semaphore.release(self.permits);
        }
    }
}

impl fmt::Debug for SemaphorePermit<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SemaphorePermit").field("permits", &self.permits).finish()
    }
}

/// Permits held through an `Rc<Semaphore>`; dropping it gives them back.
#[must_use = "dropping the permit releases it at once"]
pub struct OwnedSemaphorePermit {
    semaphore: Rc<Semaphore>,
    permits: usize,
}

impl OwnedSemaphorePermit {
    /// Keeps the permits out of the semaphore for good.
    pub fn forget(mut self) {
        self.permits = 0;
    }

    /// How many permits this guard holds.
    pub fn num_permits(&self) -> usize {
        self.permits
    }

    /// The semaphore these permits belong to.
    pub fn semaphore(&self) -> &Rc<Semaphore> {
        &self.semaphore
    }
}

impl Drop for OwnedSemaphorePermit {
    fn drop(&mut self) {
        if self.permits > 0 {
            self.semaphore.release(self.permits);
        }
    }
}

impl fmt::Debug for OwnedSemaphorePermit {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("OwnedSemaphorePermit").field("permits", &self.permits).finish()
    }
}

/// The error of acquiring from a closed [`Semaphore`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AcquireError;

impl fmt::Display for AcquireError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("semaphore closed")
    }
}

impl Error for AcquireError {}

/// The error of `try_acquire`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TryAcquireError {
    /// Not enough permits right now (or others are queued first).
    NoPermits,
    /// The semaphore is closed.
    Closed,
}

impl fmt::Display for TryAcquireError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            TryAcquireError::NoPermits => f.write_str("no permits available"),
            TryAcquireError::Closed => f.write_str("semaphore closed"),
        }
    }
}

impl Error for TryAcquireError {}

#[cfg(test)]
mod tests {
    use super::*;

    fn poll<F: Future + Unpin>(future: &mut F) -> Poll<F::Output> {
        Pin::new(future).poll(&mut Context::from_waker(Waker::noop()))
    }

    #[test]
    fn serve_stops_at_a_front_request_that_does_not_fit() {
        let sem = Semaphore::new(0);
        let mut big = sem.acquire_many(3);
        let mut small = sem.acquire();
        assert!(poll(&mut big).is_pending());
        assert!(poll(&mut small).is_pending());
        sem.add_permits(2);
        assert_eq!(sem.available_permits(), 2, "nothing granted: `big` is first");
        sem.add_permits(2);
        // 4 permits: `big` takes 3, then `small` takes 1.
        assert_eq!(sem.available_permits(), 0);
        let big = match poll(&mut big) {
            Poll::Ready(Ok(permit)) => permit,
            _ => panic!("big was granted"),
        };
        assert_eq!(big.num_permits(), 3);
        drop(small); // granted but unclaimed: its permit comes back
        assert_eq!(sem.available_permits(), 1);
        drop(big);
        assert_eq!(sem.available_permits(), 4);
        assert!(sem.state.borrow().waiters.is_empty());
    }
}
