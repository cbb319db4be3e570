//! `WaitList`: the FIFO queue of parked tasks behind mpsc, Notify and Semaphore.
//!
//! Every waiting future owns one *slot* in a slab (a `Vec` plus a free list),
//! found by its index, its key. A slot holds the future's latest `Waker`, a
//! small state value (what the waiter asked for, or what it was given), and
//! the links of a doubly linked FIFO list threaded through the slab by index.
//! No pointers, no `unsafe`: O(1) push, pop and removal from the middle.
//!
//! The rule that makes this simple: **only the future frees its slot**. The
//! waking side *unlinks* a slot (takes it out of the queue), writes the
//! outcome into its state and takes its waker; the slot stays allocated until
//! the future polls (and sees the outcome) or is dropped (and hands back what
//! it was given). So a key is never reused while its future still holds it.

use std::task::Waker;

/// "No slot": the end of the list, or an empty free list.
const NIL: usize = usize::MAX;

/// One waiter in the slab.
#[derive(Debug)]
struct Node<S> {
    /// What the waiter wants, or has been given; meaning is up to the user.
    state: S,
    /// The task to wake; `None` once taken by the waking side.
    waker: Option<Waker>,
    /// Whether the node is in the queue (it may have been unlinked and granted).
    linked: bool,
    prev: usize,
    next: usize,
}

#[derive(Debug)]
enum Slot<S> {
    Occupied(Node<S>),
    /// Free; `next_free` chains the free list.
    Vacant {
        next_free: usize,
    },
}

/// A FIFO of waiters with stable keys. See the module docs.
#[derive(Debug)]
pub(crate) struct WaitList<S> {
    slots: Vec<Slot<S>>,
    free: usize,
    head: usize,
    tail: usize,
    /// Number of linked (queued) slots.
    queued: usize,
}

impl<S> WaitList<S> {
    pub(crate) const fn new() -> WaitList<S> {
        WaitList { slots: Vec::new(), free: NIL, head: NIL, tail: NIL, queued: 0 }
    }

    /// Whether no waiter is queued (granted-but-unclaimed slots do not count).
    pub(crate) fn is_empty(&self) -> bool {
        self.queued == 0
    }

    /// Number of queued waiters.
    pub(crate) fn len(&self) -> usize {
        self.queued
    }

    fn node(&self, key: usize) -> &Node<S> {
        match &self.slots[key] {
            Slot::Occupied(node) => node,
            Slot::Vacant { .. } => unreachable!("wait-list key {key} used after it was freed"),
        }
    }

    fn node_mut(&mut self, key: usize) -> &mut Node<S> {
        match &mut self.slots[key] {
            Slot::Occupied(node) => node,
            Slot::Vacant { .. } => unreachable!("wait-list key {key} used after it was freed"),
        }
    }

    /// Queues a new waiter at the back; returns its key.
    pub(crate) fn push_back(&mut self, state: S, waker: Waker) -> usize {
        let node = Node { state, waker: Some(waker), linked: true, prev: self.tail, next: NIL };
        let key = if self.free == NIL {
            self.slots.push(Slot::Occupied(node));
            self.slots.len() - 1
        } else {
            let key = self.free;
            match std::mem::replace(&mut self.slots[key], Slot::Occupied(node)) {
                Slot::Vacant { next_free } => self.free = next_free,
                Slot::Occupied(_) => unreachable!("free list points at an occupied slot"),
            }
            key
        };
        match self.tail {
            NIL => self.head = key,
            tail => self.node_mut(tail).next = key,
        }
        self.tail = key;
        self.queued += 1;
        key
    }

    /// The key of the first queued waiter.
    pub(crate) fn front(&self) -> Option<usize> {
        (self.head != NIL).then_some(self.head)
    }

    pub(crate) fn state(&self, key: usize) -> &S {
        &self.node(key).state
    }

    pub(crate) fn state_mut(&mut self, key: usize) -> &mut S {
        &mut self.node_mut(key).state
    }

    /// Whether the waiter is still queued (not yet unlinked by a waking side).
    #[cfg(test)]
    pub(crate) fn is_linked(&self, key: usize) -> bool {
        self.node(key).linked
    }

    /// Stores `waker` unless the stored one already wakes the same task.
    pub(crate) fn register(&mut self, key: usize, waker: &Waker) {
        let slot = &mut self.node_mut(key).waker;
        match slot {
            Some(current) if current.will_wake(waker) => {}
            _ => *slot = Some(waker.clone()),
        }
    }

    /// Takes the waiter out of the queue (the slot stays allocated) and
    /// returns its waker, for the caller to wake once its borrows are released.
    pub(crate) fn unlink(&mut self, key: usize) -> Option<Waker> {
        let node = self.node_mut(key);
        if !node.linked {
            return node.waker.take();
        }
        node.linked = false;
        let (prev, next) = (node.prev, node.next);
        let waker = node.waker.take();
        match prev {
            NIL => self.head = next,
            prev => self.node_mut(prev).next = next,
        }
        match next {
            NIL => self.tail = prev,
            next => self.node_mut(next).prev = prev,
        }
        self.queued -= 1;
        waker
    }

    /// Frees the slot (unlinking it first if needed) and returns its state.
    /// Only the future that owns `key` calls this.
    pub(crate) fn remove(&mut self, key: usize) -> S {
        drop(self.unlink(key));
        match std::mem::replace(&mut self.slots[key], Slot::Vacant { next_free: self.free }) {
            Slot::Occupied(node) => {
                self.free = key;
                node.state
            }
            Slot::Vacant { .. } => unreachable!("wait-list key {key} freed twice"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    struct Noop;
    impl std::task::Wake for Noop {
        fn wake(self: std::sync::Arc<Self>) {}
    }

    fn waker() -> Waker {
        Waker::from(std::sync::Arc::new(Noop))
    }

    #[test]
    fn fifo_order_and_middle_removal() {
        let mut list = WaitList::new();
        let keys: Vec<usize> = (0..5).map(|i| list.push_back(i, waker())).collect();
        assert_eq!(list.len(), 5);
        assert_eq!(list.remove(keys[2]), 2);
        let mut seen = Vec::new();
        while let Some(front) = list.front() {
            assert!(list.unlink(front).is_some());
            assert!(!list.is_linked(front));
            seen.push(*list.state(front));
        }
        assert_eq!(seen, vec![0, 1, 3, 4]);
        assert!(list.is_empty());
        // Unlinked slots stay allocated until their owner removes them.
        for key in [keys[0], keys[1], keys[3], keys[4]] {
            list.remove(key);
        }
    }

    #[test]
    fn keys_are_reused_after_removal() {
        let mut list = WaitList::new();
        let a = list.push_back('a', waker());
        let b = list.push_back('b', waker());
        list.remove(a);
        let c = list.push_back('c', waker());
        assert_eq!(c, a, "the freed slot is reused");
        assert_eq!(list.front(), Some(b), "reuse does not change queue order");
        list.unlink(b);
        assert_eq!(list.front(), Some(c));
        *list.state_mut(c) = 'C';
        assert_eq!(list.remove(c), 'C');
        assert_eq!(list.remove(b), 'b');
        assert!(list.is_empty());
        assert_eq!(list.front(), None);
    }

    #[test]
    fn removing_head_and_tail_keeps_links_consistent() {
        let mut list = WaitList::new();
        let keys: Vec<usize> = (0..3).map(|i| list.push_back(i, waker())).collect();
        list.remove(keys[0]);
        list.remove(keys[2]);
        assert_eq!(list.front(), Some(keys[1]));
        let d = list.push_back(9, waker());
        list.remove(keys[1]);
        assert_eq!(list.front(), Some(d));
        assert_eq!(list.len(), 1);
    }
}
