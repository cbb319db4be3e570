//! Recycled task allocations: a small free list per thread.
//!
//! Tasks come and go in bursts: `benches/rpc.rs` keeps 128 calls in
//! flight, each made by a task of its own (and on the server a task per
//! handler that waits: the RPC server polls each handler inline first and
//! spawns only those), all freed a moment later. glibc's per-thread cache
//! keeps only 7 blocks per size, so most of a burst went through malloc's
//! slow paths; measured with callgrind on that workload when the server
//! still spawned a task per request, allocating and freeing the two tasks
//! of each call cost about 600 instructions. Here a freed task's block goes
//! on a free list of its size class and the next spawn of that class takes
//! it back: a `Vec` push and pop.
//!
//! Blocks are plain memory from the global allocator, so it does not matter
//! which runtime or which future used a block before: every task whose size
//! rounds up to the same multiple of [`GRAIN`] gets the same layout. The
//! lists are per thread (a `thread_local!`), not per runtime, because a task
//! can be freed by whichever thread drops its last waker; that thread keeps
//! the block. What they hold is bounded by [`MAX_CACHED_BYTES`]; beyond it,
//! and for tasks larger than [`MAX_BLOCK`] or aligned beyond [`GRAIN`],
//! blocks go straight back to the global allocator. The lists are freed when
//! their thread exits.

use std::alloc::{alloc, dealloc, handle_alloc_error, Layout};
use std::cell::RefCell;
use std::ptr::NonNull;

/// Size classes are this far apart, which is also every cached block's
/// alignment.
pub(crate) const GRAIN: usize = 16;

/// The bookkeeping word glibc's malloc puts before each chunk (chunks are
/// then rounded up to 16 bytes). Classes of `16k - 8` bytes fill their chunk
/// exactly, so a rounded-up task costs no more memory than plain `malloc`
/// gave it (a 104-byte task stays in a 112-byte chunk).
const CHUNK_HEADER: usize = 8;

/// Largest task kept on a free list.
pub(crate) const MAX_BLOCK: usize = 1024;

/// Most bytes one thread keeps on its free lists (about 5,000 small tasks).
pub(crate) const MAX_CACHED_BYTES: usize = 1024 * 1024;

/// The layout a task of type layout `task` is allocated with: its size
/// rounded up to a class when it can be cached, as is otherwise.
pub(crate) const fn block_layout(task: Layout) -> Layout {
    if task.align() > GRAIN || task.size() > MAX_BLOCK {
        return task;
    }
    let size = (task.size() + CHUNK_HEADER).div_ceil(GRAIN) * GRAIN - CHUNK_HEADER;
    match Layout::from_size_align(size, GRAIN) {
        Ok(layout) => layout,
        Err(_) => task,
    }
}

/// Whether blocks of `layout` (from [`block_layout`]) go on the free lists.
const fn cacheable(layout: Layout) -> bool {
    layout.align() == GRAIN
        && layout.size() <= MAX_BLOCK
        && (layout.size() + CHUNK_HEADER).is_multiple_of(GRAIN)
}

/// The free list for blocks of a cacheable `layout`.
const fn class_index(layout: Layout) -> usize {
    (layout.size() + CHUNK_HEADER) / GRAIN - 1
}

struct FreeLists {
    /// `lists[i]` holds blocks of `class_layout(i)`.
    lists: Vec<Vec<NonNull<u8>>>,
    /// Bytes held across all lists.
    bytes: usize,
}

impl Drop for FreeLists {
    fn drop(&mut self) {
        for (i, list) in self.lists.iter().enumerate() {
            let layout = class_layout(i);
            for block in list {
                // SAFETY: every block on list `i` was allocated by `allocate`
                // with exactly `class_layout(i)` and is owned by this list.
                unsafe { dealloc(block.as_ptr(), layout) };
            }
        }
    }
}

/// The inverse of [`class_index`].
fn class_layout(index: usize) -> Layout {
    // The size is at most MAX_BLOCK and GRAIN a power of two.
    Layout::from_size_align((index + 1) * GRAIN - CHUNK_HEADER, GRAIN)
        .expect("size classes are valid layouts")
}

thread_local! {
    static FREE: RefCell<FreeLists> = const { RefCell::new(FreeLists { lists: Vec::new(), bytes: 0 }) };
}

/// Memory for one task of `layout` (a [`block_layout`]): a recycled block
/// if this thread has one, else fresh from the global allocator.
pub(crate) fn allocate(layout: Layout) -> NonNull<u8> {
    if cacheable(layout) {
        let index = class_index(layout);
        let recycled = FREE
            .try_with(|free| {
                let mut free = free.try_borrow_mut().ok()?;
                let block = free.lists.get_mut(index)?.pop()?;
                free.bytes -= layout.size();
                Some(block)
            })
            .ok()
            .flatten();
        if let Some(block) = recycled {
            return block;
        }
    }
    // SAFETY: task layouts are never zero-sized (the header alone is not).
    let block = unsafe { alloc(layout) };
    NonNull::new(block).unwrap_or_else(|| handle_alloc_error(layout))
}

/// Returns a task's memory: onto this thread's free list if it has room,
/// else to the global allocator.
///
/// # Safety
///
/// `block` came from [`allocate`] with the same `layout`, whatever was in it
/// has been dropped, and nothing uses it any more.
pub(crate) unsafe fn release(block: NonNull<u8>, layout: Layout) {
    if cacheable(layout) {
        let index = class_index(layout);
        let kept = FREE
            .try_with(|free| {
                let Ok(mut free) = free.try_borrow_mut() else {
                    return false;
                };
                if free.bytes + layout.size() > MAX_CACHED_BYTES {
                    return false;
                }
                if free.lists.len() <= index {
                    free.lists.resize_with(index + 1, Vec::new);
                }
                free.lists[index].push(block);
                free.bytes += layout.size();
                true
            })
            // The thread is exiting and its lists are gone: free directly.
            .unwrap_or(false);
        if kept {
            return;
        }
    }
    // SAFETY: allocated by `allocate` with this layout, per the contract.
    unsafe { dealloc(block.as_ptr(), layout) };
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn layouts_round_up_to_a_class_and_large_ones_stay_exact() {
        let small = block_layout(Layout::from_size_align(100, 8).unwrap());
        assert_eq!((small.size(), small.align()), (104, GRAIN));
        assert!(cacheable(small));
        assert_eq!(class_layout(class_index(small)), small);
        let exact = block_layout(Layout::from_size_align(104, 8).unwrap());
        assert_eq!(exact.size(), 104, "a size that fills its malloc chunk is kept");
        let big = Layout::from_size_align(MAX_BLOCK + 8, 8).unwrap();
        assert_eq!(block_layout(big), big);
        assert!(!cacheable(block_layout(big)));
        let aligned = Layout::from_size_align(64, 64).unwrap();
        assert_eq!(block_layout(aligned), aligned);
        assert!(!cacheable(aligned));
    }

    #[test]
    fn a_released_block_is_reused_and_the_cache_is_bounded() {
        // Under Miri, larger blocks: the same byte limit in fewer of them.
        let size = if cfg!(miri) { 1000 } else { 200 };
        let layout = block_layout(Layout::from_size_align(size, 8).unwrap());
        let first = allocate(layout);
        // SAFETY: fresh from `allocate` with this layout, never used.
        unsafe { release(first, layout) };
        let second = allocate(layout);
        assert_eq!(first, second, "the freed block comes back first");
        // SAFETY: as above.
        unsafe { release(second, layout) };

        // Fill past the byte limit: the lists stop growing at it.
        let blocks: Vec<_> = (0..MAX_CACHED_BYTES / layout.size() + 100).map(|_| allocate(layout)).collect();
        for block in blocks {
            // SAFETY: as above.
            unsafe { release(block, layout) };
        }
        let held = FREE.with(|free| free.borrow().bytes);
        assert!(held <= MAX_CACHED_BYTES, "{held} bytes cached");
    }
}
