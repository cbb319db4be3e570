//! The run queue: tasks ready to be polled, in the order they will be.
//!
//! FIFO, so a task that is woken goes behind every task already waiting,
//! which is what makes the executor fair. The executor pops from the front
//! in its tick; wakes on the runtime's thread and new spawns push at the
//! back (wakes from other threads arrive through the injector first).
//!
//! This is also where the order of ready tasks is decided, and so where a
//! deterministic simulator chooses, from a seed, which of them runs next
//! (`Builder::seeded_order`): `pop_drawn` takes a task drawn from the queue
//! by a small seeded generator instead of the front one. The executor
//! picks `pop` or `pop_drawn` once per tick (`Runtime::tick`), so a queue
//! built without a seed pays nothing per task for this: one predictable
//! branch per tick of up to `budget` tasks (callgrind: the runtime bench
//! bodies within 0.1 % of their counts before).
//!
//! The queue is a ring buffer whose capacity is a power of two, so an index
//! wraps with a mask; it doubles when full and never shrinks (a burst of
//! spawns leaves it at its working size, after which pushing does not
//! allocate). A first reading can take it for a `VecDeque`: it measured a
//! few instructions cheaper per push and pop on the wake path (callgrind).
//!
//! Next stop: `stats.rs`, then `driver/`.

use std::cell::RefCell;

use crate::task::Task;

/// Tasks ready to be polled, FIFO. See the module docs.
#[derive(Debug)]
pub(crate) struct RunQueue {
    ring: RefCell<Ring>,
}

#[derive(Debug)]
struct Ring {
    /// `slots.len()` is a power of two; the queued tasks are the `len`
    /// slots from `head` on, wrapping around.
    slots: Box<[Option<Task>]>,
    head: usize,
    len: usize,
    /// `Some` when the runtime explores scheduling orders from a seed:
    /// `pop` takes a task drawn by this generator instead of the front one.
    seeded: Option<SplitMix64>,
}

/// SplitMix64 (Steele, Lea, Flood 2014): a 64-bit state and three
/// multiply-xorshift steps per number. Good enough to pick among queued
/// tasks, and small enough to read here rather than pull in a crate.
#[derive(Debug, Clone)]
struct SplitMix64(u64);

impl SplitMix64 {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// A number in `0..n` (`n > 0`), by Lemire's multiply-shift: the bias
    /// is at most `n / 2^64`, nothing a run queue can notice.
    fn below(&mut self, n: usize) -> usize {
        ((u128::from(self.next()) * n as u128) >> 64) as usize
    }
}

impl RunQueue {
    /// An empty queue with room for `capacity` tasks (rounded up to a power
    /// of two) before it first grows. With a `seed`, `pop` takes a task
    /// drawn from the queue by a generator started from it (the same seed
    /// gives the same choices), else the front one.
    pub(crate) fn with_capacity(capacity: usize, seed: Option<u64>) -> RunQueue {
        let slots = (0..capacity.max(1).next_power_of_two()).map(|_| None).collect();
        RunQueue { ring: RefCell::new(Ring { slots, head: 0, len: 0, seeded: seed.map(SplitMix64) }) }
    }

    /// Queues `task` at the back.
    #[inline(always)]
    pub(crate) fn push(&self, task: Task) {
        let mut ring = self.ring.borrow_mut();
        if ring.len == ring.slots.len() {
            ring.grow();
        }
        let mask = ring.slots.len() - 1;
        let index = (ring.head + ring.len) & mask;
        // The slot is empty (it is outside the queued range): nothing to drop.
        let empty = ring.slots[index].replace(task);
        debug_assert!(empty.is_none(), "corio bug: run queue slot {index} was occupied");
        std::mem::forget(empty);
        ring.len += 1;
    }

    /// Whether it was built with a seed: then the executor takes tasks
    /// with [`pop_drawn`](RunQueue::pop_drawn).
    #[inline]
    pub(crate) fn is_seeded(&self) -> bool {
        self.ring.borrow().seeded.is_some()
    }

    /// Takes a task drawn by the seeded generator (the front one in a queue
    /// built without a seed).
    pub(crate) fn pop_drawn(&self) -> Option<Task> {
        {
            let mut ring = self.ring.borrow_mut();
            if ring.len == 0 {
                return None;
            }
            ring.draw_to_front();
        }
        self.pop()
    }

    /// Takes the task at the front.
    #[inline(always)]
    pub(crate) fn pop(&self) -> Option<Task> {
        let mut ring = self.ring.borrow_mut();
        if ring.len == 0 {
            return None;
        }
        let mask = ring.slots.len() - 1;
        let head = ring.head;
        ring.head = (head + 1) & mask;
        ring.len -= 1;
        ring.slots[head].take()
    }

    /// Whether no task is queued.
    #[inline]
    pub(crate) fn is_empty(&self) -> bool {
        self.ring.borrow().len == 0
    }

    /// How many tasks are queued.
    pub(crate) fn len(&self) -> usize {
        self.ring.borrow().len
    }

    /// Calls `f` with each queued task from position `start` (0: the front)
    /// to the back: a tracer's look at what was pushed since the queue held
    /// `start` tasks (nothing is popped meanwhile).
    pub(crate) fn for_each_from(&self, start: usize, mut f: impl FnMut(&Task)) {
        let ring = self.ring.borrow();
        let mask = ring.slots.len() - 1;
        for i in start..ring.len {
            if let Some(task) = &ring.slots[(ring.head + i) & mask] {
                f(task);
            }
        }
    }

    /// Empties the queue (shutdown), returning the tasks for the caller to
    /// drop once the borrow is over.
    pub(crate) fn take_all(&self) -> Vec<Task> {
        let mut tasks = Vec::new();
        while let Some(task) = self.pop() {
            tasks.push(task);
        }
        tasks
    }
}

impl Ring {
    /// Swaps a task drawn by the seeded generator into the front slot, so
    /// `pop` takes it. O(1); the order of the others changes too, which is
    /// fine: every order is one a seed may pick.
    fn draw_to_front(&mut self) {
        let len = self.len;
        let Some(generator) = &mut self.seeded else { return };
        let pick = generator.below(len);
        if pick != 0 {
            let mask = self.slots.len() - 1;
            let (front, drawn) = (self.head, (self.head + pick) & mask);
            self.slots.swap(front, drawn);
        }
    }

    /// Doubles the capacity, moving the queued tasks to the front in order.
    #[cold]
    #[inline(never)]
    fn grow(&mut self) {
        let capacity = self.slots.len() * 2;
        let mut slots: Vec<Option<Task>> = Vec::with_capacity(capacity);
        let mask = self.slots.len() - 1;
        for i in 0..self.len {
            slots.push(self.slots[(self.head + i) & mask].take());
        }
        slots.resize_with(capacity, || None);
        self.slots = slots.into_boxed_slice();
        self.head = 0;
    }
}
