//! `WaitList`: the FIFO queue of waiting tasks behind mpsc, Notify and Semaphore.
//!
//! Every waiting future owns one [`Waiter`] record in a [`Slab`], found by
//! its key. A record holds the future's latest `Waker`, a small state value
//! (what the waiter asked for, or what it was given), and the links of a
//! doubly linked FIFO list threaded through the slab by key. No pointers, no
//! `unsafe`: O(1) push, pop and removal from the middle.
//!
//! The rule that makes this simple: **only the future frees its record**.
//! The waking side *unlinks* a record (takes it out of the queue), writes
//! the outcome into its state and takes its waker; the record stays in the
//! slab until the future polls (and sees the outcome) or is dropped (and
//! hands back what it was given). So a key is never reused while its future
//! still holds it.

use std::task::Waker;

pub(crate) use crate::slab::Key;
use crate::slab::Slab;

/// One waiting future.
#[derive(Debug)]
struct Waiter<S> {
    /// What the waiter wants, or has been given; meaning is up to the user.
    state: S,
    /// The task to wake; `None` once taken by the waking side.
    waker: Option<Waker>,
    /// Whether the record is in the queue (it may have been unlinked and granted).
    linked: bool,
    prev: Option<Key>,
    next: Option<Key>,
}

/// A FIFO of waiters with stable keys. See the module docs.
#[derive(Debug)]
pub(crate) struct WaitList<S> {
    waiters: Slab<Waiter<S>>,
    head: Option<Key>,
    tail: Option<Key>,
    /// Number of linked (queued) waiters.
    queued: usize,
}

impl<S> WaitList<S> {
    pub(crate) const fn new() -> WaitList<S> {
        WaitList { waiters: Slab::new(), head: None, tail: None, queued: 0 }
    }

    /// Whether no waiter is queued (granted-but-unclaimed records do not count).
    pub(crate) fn is_empty(&self) -> bool {
        self.queued == 0
    }

    /// Number of queued waiters.
    pub(crate) fn len(&self) -> usize {
        self.queued
    }

    fn waiter(&self, key: Key) -> &Waiter<S> {
        self.waiters.get(key).unwrap_or_else(|| unreachable!("wait-list key {key:?} used after it was freed"))
    }

    fn waiter_mut(&mut self, key: Key) -> &mut Waiter<S> {
        self.waiters
            .get_mut(key)
            .unwrap_or_else(|| unreachable!("wait-list key {key:?} used after it was freed"))
    }

    /// Queues a new waiter at the back; returns its key.
    pub(crate) fn push_back(&mut self, state: S, waker: Waker) -> Key {
        let waiter = Waiter { state, waker: Some(waker), linked: true, prev: self.tail, next: None };
        let key = self.waiters.insert(waiter);
        match self.tail {
            None => self.head = Some(key),
            Some(tail) => self.waiter_mut(tail).next = Some(key),
        }
        self.tail = Some(key);
        self.queued += 1;
        key
    }

    /// The key of the first queued waiter.
    pub(crate) fn front(&self) -> Option<Key> {
        self.head
    }

    pub(crate) fn state(&self, key: Key) -> &S {
        &self.waiter(key).state
    }

    pub(crate) fn state_mut(&mut self, key: Key) -> &mut S {
        &mut self.waiter_mut(key).state
    }

    /// Whether the waiter is still queued (not yet unlinked by a waking side).
    #[cfg(test)]
    pub(crate) fn is_linked(&self, key: Key) -> bool {
        self.waiter(key).linked
    }

    /// Stores `waker` unless the stored one already wakes the same task.
    pub(crate) fn register(&mut self, key: Key, waker: &Waker) {
        crate::waker::store(&mut self.waiter_mut(key).waker, waker);
    }

    /// Takes the waiter out of the queue (its record stays) and returns its
    /// waker, for the caller to wake once its borrows are released.
    pub(crate) fn unlink(&mut self, key: Key) -> Option<Waker> {
        let waiter = self.waiter_mut(key);
        if !waiter.linked {
            return waiter.waker.take();
        }
        waiter.linked = false;
        let (prev, next) = (waiter.prev.take(), waiter.next.take());
        let waker = waiter.waker.take();
        match prev {
            None => self.head = next,
            Some(prev) => self.waiter_mut(prev).next = next,
        }
        match next {
            None => self.tail = prev,
            Some(next) => self.waiter_mut(next).prev = prev,
        }
        self.queued -= 1;
        waker
    }

    /// Frees the record (unlinking it first if needed) and returns its state.
    /// Only the future that owns `key` calls this.
    pub(crate) fn remove(&mut self, key: Key) -> S {
        drop(self.unlink(key));
        match self.waiters.remove(key) {
            Some(waiter) => waiter.state,
            None => unreachable!("wait-list key {key:?} freed twice"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn waker() -> Waker {
        Waker::noop().clone()
    }

    #[test]
    fn fifo_order_and_middle_removal() {
        let mut list = WaitList::new();
        let keys: Vec<Key> = (0..5).map(|i| list.push_back(i, waker())).collect();
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
        assert_eq!(c.to_u64() as u32, a.to_u64() as u32, "the freed record's index is reused");
        assert_ne!(c, a, "under a new generation");
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
        let keys: Vec<Key> = (0..3).map(|i| list.push_back(i, waker())).collect();
        list.remove(keys[0]);
        list.remove(keys[2]);
        assert_eq!(list.front(), Some(keys[1]));
        let d = list.push_back(9, waker());
        list.remove(keys[1]);
        assert_eq!(list.front(), Some(d));
        assert_eq!(list.len(), 1);
    }
}
