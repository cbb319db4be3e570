//! The one allocation behind every task: a header, the scheduler, then the
//! future's stage.
//!
//! `RawTask<F, S>` is `#[repr(C)]` with the [`Header`] (`header.rs`) first,
//! so a pointer to the whole allocation is also a pointer to its header.
//! The typed code here is what the header's [`Vtable`] points to: one
//! function per slot, compiled for this future and this scheduler. Then
//! two operations on any task: `complete` and `cancel_now`.
//!
//! The scheduler `S` (the [`Schedule`] seam) is stored right after the
//! header, not in it: the header keeps the same size for every scheduler,
//! and the `schedule` slot is compiled for this `S`, so the executor's
//! scheduling code is inlined into it (a wake costs one indirect call, not
//! two). Header and scheduler together are a [`Head`], the part of the
//! layout that does not depend on the future.
//!
//! The stage is an enum so the future and its output share storage: a task
//! costs `size_of::<Header>() + size_of::<S>() + max(size_of::<F>(), size_of::<Output>())`.

use std::alloc::Layout;
use std::any::Any;
use std::cell::{Cell, UnsafeCell};
use std::future::Future;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::pin::Pin;
use std::ptr::{self, NonNull};
use std::task::{Context, Poll};

use crate::waker;

use super::blocks;
use super::error::JoinError;
use super::header::{self, header, Header, Ran, Vtable};
use super::schedule::{Head, Schedule};
use super::state::State;
use super::state::TransitionToIdle;

/// The stage of a task: its future, then its output, then nothing.
enum Stage<F: Future> {
    Running(F),
    Finished(Result<F::Output, JoinError>),
    Consumed,
}

/// The full allocation for a future of type `F` scheduled by `S`: the
/// [`Head`] (the header, then the scheduler), then the stage.
#[repr(C)]
struct RawTask<F: Future, S> {
    head: Head<S>,
    stage: UnsafeCell<Stage<F>>,
}

/// Allocates a task for `future`, scheduled by `scheduler`, with a fresh
/// state word (see [`State::new`]).
///
/// The returned pointer owns `references` references.
#[inline(always)]
pub(crate) fn allocate<F, S>(future: F, scheduler: S, id: u64, references: usize) -> NonNull<Header>
where
    F: Future + 'static,
    S: Schedule,
{
    // A recycled block when this thread has one (see `blocks.rs`). Then the
    // task is built in place, field by field: building a `RawTask` value
    // and moving it in copied the whole future, most of the cost of
    // spawning a large one (callgrind).
    let slot = blocks::allocate(RawTask::<F, S>::LAYOUT).cast::<RawTask<F, S>>().as_ptr();
    // SAFETY: `slot` points to uninitialised, writable memory with the size
    // and alignment of a `RawTask<F, S>` (the block layout rounds them up);
    // `&raw mut` takes field addresses without creating references to
    // uninitialised memory, and each field is written once.
    unsafe {
        (&raw mut (*slot).head.header).write(Header {
            state: State::new(references),
            vtable: &RawTask::<F, S>::VTABLE,
            id,
            join_waker: UnsafeCell::new(None),
            prev: Cell::new(None),
            next: Cell::new(None),
            list: Cell::new(None),
        });
        (&raw mut (*slot).head.scheduler).write(scheduler);
        (&raw mut (*slot).stage).write(UnsafeCell::new(Stage::Running(future)));
    }
    // SAFETY: `slot` came from a successful allocation, so it is not null.
    unsafe { NonNull::new_unchecked(slot) }.cast()
}

impl<F: Future, S: Schedule> RawTask<F, S> {
    /// The memory block a task of this type lives in.
    const LAYOUT: Layout = blocks::block_layout(Layout::new::<Self>());

    const VTABLE: Vtable = Vtable {
        run: Self::run,
        cancel: Self::cancel,
        take_output: Self::take_output,
        drop_output: Self::drop_output,
        schedule: Head::<S>::schedule,
        wake_ignored: match S::WAKE_IGNORED {
            Some(_) => Some(Head::<S>::wake_ignored),
            None => None,
        },
        dealloc: Self::dealloc,
    };

    /// # Safety
    /// - `ptr` points to a live `RawTask<F, S>` (the caller holds a reference).
    /// - The caller is on the runtime's thread and nothing else borrows the stage.
    unsafe fn stage<'a>(ptr: NonNull<Header>) -> &'a mut Stage<F> {
        // SAFETY: the header is the first field of the `#[repr(C)]` RawTask<F, S>
        // this pointer was made from (live: the caller holds a reference), and
        // the stage is only touched on the owner thread with no other borrow
        // alive, as the caller promises.
        unsafe { &mut *ptr.cast::<Self>().as_ref().stage.get() }
    }

    /// Drops whatever the stage holds, in place, then leaves it `Consumed`.
    /// A panicking destructor cannot leave a half-dropped future behind: the
    /// slot is overwritten either way, and the panic is returned.
    fn drop_stage_in_place(stage: &mut Stage<F>) -> Option<Box<dyn Any + Send>> {
        let slot: *mut Stage<F> = stage;
        // SAFETY: `slot` is a valid, initialised stage that nobody else
        // borrows; the future in it is pinned, so it must be dropped where it
        // lies, which drop_in_place does.
        let result = catch_unwind(AssertUnwindSafe(|| unsafe { ptr::drop_in_place(slot) }));
        // SAFETY: the old value was dropped above (even if its destructor
        // panicked, drop glue finished dropping the remaining fields), so we
        // overwrite without dropping it again.
        unsafe { ptr::write(slot, Stage::Consumed) };
        result.err()
    }

    /// The `run` slot: one poll, with the state transitions around it.
    ///
    /// # Safety
    /// `ptr` is a live `RawTask<F, S>` on its owner thread, which is not
    /// already polling it, and the caller holds a reference (see [`Ran`]
    /// for what happens to it).
    unsafe fn run(ptr: NonNull<Header>) -> Ran {
        // SAFETY: the caller holds a reference.
        let header = unsafe { header(ptr) };
        if !header.state.transition_to_running() {
            return Ran::Skipped;
        }
        // The waker borrows the caller's reference: no refcount traffic
        // unless the future clones it.
        // SAFETY: the caller's reference outlives the borrowed waker.
        let waker = unsafe { waker::borrowed(ptr) };
        // SAFETY: owner thread, stage is `Running` (we just won the
        // transition from scheduled), the caller holds a reference.
        let ready = unsafe { Self::poll(ptr, &mut Context::from_waker(&waker)) };
        match ready {
            None => match header.state.transition_to_idle() {
                TransitionToIdle::Notified => Ran::Notified,
                TransitionToIdle::Idle { last } => {
                    if last {
                        // SAFETY: the transition released the last reference
                        // (never, while the task is on the runtime's list;
                        // checked anyway).
                        unsafe { header::dealloc(ptr) };
                    }
                    Ran::Idle
                }
                TransitionToIdle::Cancelled => {
                    // SAFETY: owner thread, no longer running, closed, and
                    // the caller's reference keeps it alive.
                    unsafe { cancel_now(ptr) };
                    Ran::Completed
                }
            },
            Some(ran) => {
                // SAFETY: owner thread, stage is `Finished`, the caller's
                // reference keeps it alive.
                unsafe { complete(ptr) };
                ran
            }
        }
    }

    /// Polls the future once. `None` while pending; on completion or panic,
    /// drops the future, stores the output and says which (`Completed` or
    /// `Panicked`).
    ///
    /// # Safety
    /// `ptr` is a live `RawTask<F, S>` on its owner thread, its stage is
    /// `Running`, and the caller holds a reference for the duration.
    #[inline(always)]
    unsafe fn poll(ptr: NonNull<Header>, cx: &mut Context<'_>) -> Option<Ran> {
        // SAFETY: forwarded from this function's contract.
        let stage = unsafe { Self::stage(ptr) };
        let Stage::Running(future) = stage else {
            unreachable!("corio bug: polled a task whose future is gone");
        };
        // SAFETY: the future lives inside a heap allocation that is never
        // moved and is dropped in place (drop_stage_in_place), so it is pinned.
        let future = unsafe { Pin::new_unchecked(future) };
        let output = match catch_unwind(AssertUnwindSafe(|| future.poll(cx))) {
            Ok(Poll::Pending) => return None,
            Ok(Poll::Ready(value)) => Ok(value),
            Err(payload) => Err(JoinError::panic(payload)),
        };
        let ran = match &output {
            Ok(_) => Ran::Completed,
            Err(e) => Ran::Panicked(Box::new(e.panic_message().unwrap_or_default().to_owned())),
        };
        // The output is already computed; a panic from the future's
        // destructor is dropped here rather than masking it.
        drop(Self::drop_stage_in_place(stage));
        *stage = Stage::Finished(output);
        Some(ran)
    }

    /// # Safety
    /// `ptr` is a live `RawTask<F, S>` on its owner thread and is not being polled.
    unsafe fn cancel(ptr: NonNull<Header>) {
        // SAFETY: forwarded from this function's contract.
        let stage = unsafe { Self::stage(ptr) };
        if let Stage::Running(_) = stage {
            let error = match Self::drop_stage_in_place(stage) {
                None => JoinError::cancelled(),
                Some(payload) => JoinError::panic(payload),
            };
            *stage = Stage::Finished(Err(error));
        }
    }

    /// # Safety
    /// `ptr` is a live `RawTask<F, S>` on its owner thread, not being polled,
    /// and `out` points to a valid `Option<Result<F::Output, JoinError>>`.
    unsafe fn take_output(ptr: NonNull<Header>, out: *mut ()) {
        // SAFETY: forwarded from this function's contract.
        let stage = unsafe { Self::stage(ptr) };
        if let Stage::Finished(result) = stage {
            // Move only the output out, not the whole stage (which is as big
            // as the future): `mem::replace` would copy all of it.
            // SAFETY: `result` is read exactly once and the stage is
            // overwritten at once without dropping it, so the output is
            // neither dropped twice nor observed after the move.
            let result = unsafe { ptr::read(result) };
            // SAFETY: as above: the old stage's only content was just moved out.
            unsafe { ptr::write(stage, Stage::Consumed) };
            // SAFETY: the caller passes a pointer to this exact type.
            unsafe { *out.cast::<Option<Result<F::Output, JoinError>>>() = Some(result) };
        }
    }

    /// # Safety
    /// `ptr` is a live `RawTask<F, S>` on its owner thread and is not being polled.
    unsafe fn drop_output(ptr: NonNull<Header>) {
        // SAFETY: forwarded from this function's contract.
        let stage = unsafe { Self::stage(ptr) };
        if let Stage::Finished(result) = stage {
            // Move the output out and mark the stage consumed first, then
            // drop: a panicking destructor leaves a consistent `Consumed`
            // stage behind. (Moving only the output: see `take_output`.)
            // SAFETY: read once, and the stage is overwritten without a drop.
            let result = unsafe { ptr::read(result) };
            // SAFETY: the stage's only content was just moved out.
            unsafe { ptr::write(stage, Stage::Consumed) };
            drop(result);
        }
    }

    /// # Safety
    /// `ptr` came from `allocate::<F, S>` and no reference to it remains.
    unsafe fn dealloc(ptr: NonNull<Header>) {
        // SAFETY: `ptr` is a fully initialised `RawTask<F, S>` made by `allocate`,
        // and the caller holds the last reference, so we drop it in place
        // once. The stage holds no future and no output of a
        // `JoinHandle`-less task by then (see `complete`), so nothing
        // thread-bound is dropped here.
        unsafe { ptr::drop_in_place(ptr.cast::<Self>().as_ptr()) };
        // SAFETY: the block came from `blocks::allocate` with this layout in
        // `allocate`, its contents were just dropped, and no reference is left.
        unsafe { blocks::release(ptr.cast(), Self::LAYOUT) };
    }
}

/// Completes a task whose stage now holds its output: sets `COMPLETED`,
/// drops the output if no `JoinHandle` wants it, wakes the handle's waiter,
/// and unlinks the task from the runtime's list (dropping the list's reference).
///
/// # Safety
/// Owner thread; the caller holds a reference that outlives this call; the
/// stage is `Finished`.
pub(crate) unsafe fn complete(ptr: NonNull<Header>) {
    // SAFETY: the caller holds a reference.
    let header = unsafe { header(ptr) };
    // Unlink first: then the list's reference is released by the same
    // compare-and-swap that sets `COMPLETED` (one atomic, not two). It is
    // never the last one: the caller's reference outlives this call.
    // SAFETY: owner thread; the list (if linked) outlives its links.
    let linked = unsafe { super::list::unlink(ptr) };
    let before = header.state.transition_to_complete(linked);
    if !before.has_join_handle() {
        // Nobody will ever read it: drop it now, here on the owner thread,
        // so the last reference (maybe a waker on another thread) never has to.
        // SAFETY: owner thread, not being polled, live (caller's reference).
        unsafe { (header.vtable.drop_output)(ptr) };
    } else {
        // SAFETY: owner thread only field; no other borrow is alive.
        let waker = unsafe { (*header.join_waker.get()).take() };
        if let Some(waker) = waker {
            waker.wake();
        }
    }
}

/// Cancels a task that is not being polled: drops its future now, stores a
/// cancellation error and completes it.
///
/// # Safety
/// Owner thread; the caller holds a reference that outlives this call; the
/// task is not running and `CLOSED` is set (`State::transition_to_closed`),
/// so a wake from the future's destructor queues nothing.
pub(crate) unsafe fn cancel_now(ptr: NonNull<Header>) {
    // SAFETY: the caller holds a reference.
    let header = unsafe { header(ptr) };
    // SAFETY: owner thread, not running, live.
    unsafe { (header.vtable.cancel)(ptr) };
    // SAFETY: forwarded; the stage is now `Finished`.
    unsafe { complete(ptr) };
}
