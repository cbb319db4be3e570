//! The one allocation behind every task: a header, then the future's stage.
//!
//! `RawTask<F>` is `#[repr(C)]` with the [`Header`] first, so a pointer to
//! the whole allocation is also a pointer to its header. Everything that
//! does not know `F` (wakers, the run queue, `JoinHandle<T>`) holds a
//! `NonNull<Header>` and reaches the typed code through the header's
//! [`Vtable`], one function per operation.
//!
//! The stage is an enum so the future and its output share storage: a task
//! costs `size_of::<Header>() + max(size_of::<F>(), size_of::<Output>())`.

use std::alloc::Layout;
use std::any::Any;
use std::cell::{Cell, UnsafeCell};
use std::future::Future;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::pin::Pin;
use std::ptr::{self, NonNull};
use std::sync::atomic::{fence, AtomicUsize, Ordering};
use std::sync::Arc;
use std::task::{Context, Poll, Waker};

use super::blocks;
use super::list::TaskList;
use super::state::{
    CLOSED, COMPLETED, HANDLE, MAX_REFERENCES, REFERENCE, REFERENCE_MASK, RUNNING, SCHEDULED,
};
use super::JoinError;
use crate::handle::Shared;

/// The untyped front of every task allocation.
///
/// Fields touched from any thread: `state`, `vtable`, `shared`. The other
/// fields are only touched on the runtime's own thread (by the executor, the
/// `JoinHandle`, which is `!Send`, and shutdown), which is why they can be
/// plain `Cell`s.
pub(crate) struct Header {
    /// Flags and reference count; see `state.rs`.
    pub(crate) state: AtomicUsize,
    /// The typed operations for this task's future.
    pub(crate) vtable: &'static Vtable,
    /// The runtime's thread-safe half, so a waker on any thread can find the
    /// queue to push to; also keeps that half alive while wakers exist.
    pub(crate) shared: Arc<Shared>,
    /// A number unique within the runtime, for `Debug` and stats.
    pub(crate) id: u64,
    /// Waker of whoever awaits the `JoinHandle`. Owner thread only.
    pub(crate) join_waker: UnsafeCell<Option<Waker>>,
    /// Intrusive links in the runtime's list of live tasks (owner thread only),
    /// so shutdown can find tasks that sit in no queue.
    pub(crate) prev: Cell<Option<NonNull<Header>>>,
    pub(crate) next: Cell<Option<NonNull<Header>>>,
    /// The list this task is linked into, `None` once unlinked.
    pub(crate) list: Cell<Option<NonNull<TaskList>>>,
}

/// What a poll did, as far as the executor needs to know.
// The panic message is boxed on purpose: a thin pointer keeps this enum at
// 16 bytes, returned in registers on the hot path; panics are rare.
#[allow(clippy::box_collection)]
pub(crate) enum PollOutcome {
    /// The future is still pending.
    Pending,
    /// The future finished; its output is stored.
    Ready,
    /// The future panicked; a `JoinError` carrying the panic is stored. The
    /// string is the panic message, for runtimes that abort on panic.
    Panicked(Box<String>),
}

/// Typed operations, one per slot. Each says what it does to the stage; none
/// changes the reference count.
///
/// # Safety
///
/// Calling a slot carries the contract of the `RawTask<F>` method it points
/// to (each has its own `# Safety` list): the caller holds a reference, is on
/// the runtime's thread, and, except for `dealloc`, the task is not being
/// polled. `dealloc` only by the last reference.
pub(crate) struct Vtable {
    /// Polls the future once; on completion or panic, drops the future and
    /// stores the output. Stage must be `Running`.
    pub(crate) poll: unsafe fn(NonNull<Header>, &mut Context<'_>) -> PollOutcome,
    /// Drops the future in place (if still there) and stores
    /// `Err(JoinError::cancelled())`, or the panic its destructor raised.
    pub(crate) cancel: unsafe fn(NonNull<Header>),
    /// Moves a stored output into `*out` (an `Option<Result<T, JoinError>>`).
    pub(crate) take_output: unsafe fn(NonNull<Header>, *mut ()),
    /// Drops a stored output, if any.
    pub(crate) drop_output: unsafe fn(NonNull<Header>),
    /// Frees the allocation. Called exactly once, by the last reference.
    pub(crate) dealloc: unsafe fn(NonNull<Header>),
}

/// The stage of a task: its future, then its output, then nothing.
enum Stage<F: Future> {
    Running(F),
    Finished(Result<F::Output, JoinError>),
    Consumed,
}

/// The full allocation for a future of type `F`.
#[repr(C)]
struct RawTask<F: Future> {
    header: Header,
    stage: UnsafeCell<Stage<F>>,
}

/// Allocates a task for `future` with the given initial state word.
///
/// The returned pointer owns `initial_state / REFERENCE` references.
#[inline(always)]
pub(crate) fn allocate<F>(future: F, shared: Arc<Shared>, id: u64, initial_state: usize) -> NonNull<Header>
where
    F: Future + 'static,
{
    // A recycled block when this thread has one (see `blocks.rs`). Then the
    // task is built in place, field by field: building a `RawTask` value
    // and moving it in copied the whole future, most of the cost of
    // spawning a large one (callgrind).
    let slot = blocks::allocate(RawTask::<F>::LAYOUT).cast::<RawTask<F>>().as_ptr();
    // SAFETY: `slot` points to uninitialised, writable memory with the size
    // and alignment of a `RawTask<F>` (the block layout rounds them up);
    // `&raw mut` takes field addresses without creating references to
    // uninitialised memory, and each field is written once.
    unsafe {
        (&raw mut (*slot).header).write(Header {
            state: AtomicUsize::new(initial_state),
            vtable: &RawTask::<F>::VTABLE,
            shared,
            id,
            join_waker: UnsafeCell::new(None),
            prev: Cell::new(None),
            next: Cell::new(None),
            list: Cell::new(None),
        });
        (&raw mut (*slot).stage).write(UnsafeCell::new(Stage::Running(future)));
    }
    // SAFETY: `slot` came from a successful allocation, so it is not null.
    unsafe { NonNull::new_unchecked(slot) }.cast()
}

impl<F: Future> RawTask<F> {
    /// The memory block a task of this type lives in.
    const LAYOUT: Layout = blocks::block_layout(Layout::new::<Self>());

    const VTABLE: Vtable = Vtable {
        poll: Self::poll,
        cancel: Self::cancel,
        take_output: Self::take_output,
        drop_output: Self::drop_output,
        dealloc: Self::dealloc,
    };

    /// # Safety
    /// - `ptr` points to a live `RawTask<F>` (the caller holds a reference).
    /// - The caller is on the runtime's thread and nothing else borrows the stage.
    unsafe fn stage<'a>(ptr: NonNull<Header>) -> &'a mut Stage<F> {
        // SAFETY: the header is the first field of the `#[repr(C)]` RawTask<F>
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

    /// # Safety
    /// `ptr` is a live `RawTask<F>` on its owner thread, its stage is
    /// `Running`, and the caller holds a reference for the duration.
    unsafe fn poll(ptr: NonNull<Header>, cx: &mut Context<'_>) -> PollOutcome {
        // SAFETY: forwarded from this function's contract.
        let stage = unsafe { Self::stage(ptr) };
        let Stage::Running(future) = stage else {
            unreachable!("corio bug: polled a task whose future is gone");
        };
        // SAFETY: the future lives inside a heap allocation that is never
        // moved and is dropped in place (drop_stage_in_place), so it is pinned.
        let future = unsafe { Pin::new_unchecked(future) };
        let output = match catch_unwind(AssertUnwindSafe(|| future.poll(cx))) {
            Ok(Poll::Pending) => return PollOutcome::Pending,
            Ok(Poll::Ready(value)) => Ok(value),
            Err(payload) => Err(JoinError::panic(payload)),
        };
        let outcome = match &output {
            Ok(_) => PollOutcome::Ready,
            Err(e) => PollOutcome::Panicked(Box::new(e.panic_message().unwrap_or_default().to_owned())),
        };
        // The output is already computed; a panic from the future's
        // destructor is dropped here rather than masking it.
        drop(Self::drop_stage_in_place(stage));
        *stage = Stage::Finished(output);
        outcome
    }

    /// # Safety
    /// `ptr` is a live `RawTask<F>` on its owner thread and is not being polled.
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
    /// `ptr` is a live `RawTask<F>` on its owner thread, not being polled,
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
    /// `ptr` is a live `RawTask<F>` on its owner thread and is not being polled.
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
    /// `ptr` came from `allocate::<F>` and no reference to it remains.
    unsafe fn dealloc(ptr: NonNull<Header>) {
        // SAFETY: `ptr` is a fully initialised `RawTask<F>` made by `allocate`,
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

/// Borrows the header behind a task pointer.
///
/// # Safety
/// The caller holds a reference to the task, so the allocation is live.
pub(crate) unsafe fn header<'a>(ptr: NonNull<Header>) -> &'a Header {
    // SAFETY: live for as long as the caller's reference, per the contract.
    unsafe { ptr.as_ref() }
}

/// Adds one reference.
///
/// # Safety
/// The caller holds a reference (so the count is at least one).
pub(crate) unsafe fn increment_ref(ptr: NonNull<Header>) {
    // SAFETY: the caller holds a reference.
    let header = unsafe { header(ptr) };
    // Relaxed is enough: a new reference can only be made from an existing
    // one, which already keeps the allocation alive (the Arc argument).
    let previous = header.state.fetch_add(REFERENCE, Ordering::Relaxed);
    if previous & REFERENCE_MASK > MAX_REFERENCES {
        std::process::abort();
    }
}

/// Drops one reference, freeing the task if it was the last.
///
/// # Safety
/// The caller owns the reference it drops and does not use `ptr` afterwards.
pub(crate) unsafe fn drop_ref(ptr: NonNull<Header>) {
    // SAFETY: the caller still holds the reference being dropped.
    let header = unsafe { header(ptr) };
    let previous = header.state.fetch_sub(REFERENCE, Ordering::Release);
    // SAFETY: that fetch_sub released our reference with Release ordering.
    unsafe { dealloc_if_last(ptr, previous) };
}

/// Frees the task if the atomic update that released the caller's reference
/// found it was the last one (`previous` is the state word before it). Lets
/// a state transition and a reference release share one atomic operation.
///
/// # Safety
/// `previous` was returned by the atomic operation (Release or stronger)
/// that released one reference the caller owned; the caller does not touch
/// `ptr` afterwards.
pub(crate) unsafe fn dealloc_if_last(ptr: NonNull<Header>, previous: usize) {
    if previous & REFERENCE_MASK == REFERENCE {
        // Pair with the Release of every other drop so all their writes are
        // visible before we free.
        fence(Ordering::Acquire);
        // SAFETY: that was the last reference, so nobody else can free or
        // touch the allocation; it is still live until `dealloc`.
        unsafe { (header(ptr).vtable.dealloc)(ptr) };
    }
}

/// What a wake decided.
pub(crate) enum WakeAction {
    /// Nothing to do: already scheduled, finished, or running (the executor
    /// re-queues after the poll because `SCHEDULED` is now set).
    None,
    /// The caller must push the task on a run queue, transferring one reference.
    Schedule,
}

/// Marks the task scheduled if it is idle. With `add_ref`, the reference
/// handed to the queue is a new one (wake by reference); otherwise it is the
/// caller's (wake by value) and the caller must drop it on `WakeAction::None`.
///
/// # Safety
/// The caller holds a reference.
pub(crate) unsafe fn transition_to_scheduled(ptr: NonNull<Header>, add_ref: bool) -> WakeAction {
    // SAFETY: the caller holds a reference.
    let state = unsafe { &header(ptr).state };
    let mut current = state.load(Ordering::Acquire);
    loop {
        if current & (COMPLETED | CLOSED | SCHEDULED) != 0 {
            return WakeAction::None;
        }
        let mut next = current | SCHEDULED;
        let idle = current & RUNNING == 0;
        if idle && add_ref {
            next += REFERENCE;
        }
        match state.compare_exchange_weak(current, next, Ordering::AcqRel, Ordering::Acquire) {
            Ok(_) if idle => return WakeAction::Schedule,
            Ok(_) => return WakeAction::None,
            Err(actual) => current = actual,
        }
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
    let release = if unsafe { super::list::unlink(ptr) } { REFERENCE } else { 0 };
    let mut current = header.state.load(Ordering::Acquire);
    loop {
        let next = ((current | COMPLETED) & !(RUNNING | SCHEDULED)) - release;
        match header.state.compare_exchange_weak(current, next, Ordering::AcqRel, Ordering::Acquire) {
            Ok(_) => break,
            Err(actual) => current = actual,
        }
    }
    if current & HANDLE == 0 {
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
/// task is not running.
pub(crate) unsafe fn cancel_now(ptr: NonNull<Header>) {
    // SAFETY: the caller holds a reference.
    let header = unsafe { header(ptr) };
    header.state.fetch_or(CLOSED, Ordering::AcqRel);
    // SAFETY: owner thread, not running, live.
    unsafe { (header.vtable.cancel)(ptr) };
    // SAFETY: forwarded; the stage is now `Finished`.
    unsafe { complete(ptr) };
}
