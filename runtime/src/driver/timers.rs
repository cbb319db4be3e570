//! The timer structure: a binary min-heap with lazy cancellation.
//!
//! Each armed timer is a [`Timer`] record in a [`Slab`] (its deadline and
//! its waker); the heap holds `(deadline, key)` entries ordered by deadline.
//! The slab's keys go stale when a record is removed, which is what makes
//! cancellation lazy. The operations and their costs:
//!
//! - **insert**: a slab record and a heap entry. O(log n); no allocation
//!   once the slab and heap have grown to their working size.
//! - **cancel** (dropping a `Sleep`): remove the record. O(1): the heap
//!   entry is left behind and recognised as stale (its key finds nothing)
//!   when it reaches the top.
//! - **reset** to a later deadline (the idle-timeout pattern, reset on every
//!   read): O(1), only the record's deadline changes; when the old heap
//!   entry surfaces it is pushed again at the new deadline. Reset to an
//!   earlier deadline moves the record to a new key and pushes a new entry
//!   (the old one goes stale). Neither allocates once warmed up.
//! - **next deadline / fire**: pop stale entries off the top, O(log n) each,
//!   each entry popped at most once: amortised O(1) per cancel.
//!
//! Invariant: an armed timer has exactly one heap entry under its key; a
//! fired or cancelled one has none that is not stale.
//!
//! Stale entries cannot pile up: when they outnumber live timers by more than
//! `COMPACT_SLACK`, the heap is rebuilt from the live ones in O(n), paid for
//! by the cancellations that made them. `docs/ARCHITECTURE.md` compares this
//! with a hierarchical timing wheel and gives the measurements.

use std::cmp::Reverse;
use std::collections::BinaryHeap;
use std::task::Waker;
use std::time::Instant;

use super::Origin;
use crate::slab::{Key, Slab};
use crate::waker::{self, Wakes};

/// Rebuild the heap when stale entries exceed live ones by this much.
const COMPACT_SLACK: usize = 1024;

/// Identifies one timer (held by its `Sleep`); stale once the timer is cancelled.
pub(crate) type TimerKey = Key;

/// One timer, from its first `Pending` poll until its `Sleep` is dropped.
#[derive(Debug)]
struct Timer {
    /// The current deadline (may be later than its heap entry's, see `reset`).
    deadline: Instant,
    waker: Option<Waker>,
    /// Its heap entry exists (not yet fired).
    armed: bool,
}

/// All timers of one runtime.
#[derive(Debug)]
pub(crate) struct Timers {
    heap: BinaryHeap<Reverse<(Instant, TimerKey)>>,
    timers: Slab<Timer>,
    /// Timers currently armed.
    live: usize,
}

impl Timers {
    pub(crate) fn new() -> Timers {
        Timers { heap: BinaryHeap::new(), timers: Slab::new(), live: 0 }
    }

    /// Arms a timer for `deadline` that wakes `waker`.
    pub(crate) fn insert(&mut self, deadline: Instant, waker: Waker) -> TimerKey {
        let key = self.timers.insert(Timer { deadline, waker: Some(waker), armed: true });
        self.live += 1;
        self.heap.push(Reverse((deadline, key)));
        key
    }

    /// Replaces the stored waker unless it already wakes the same task.
    pub(crate) fn update_waker(&mut self, key: TimerKey, waker: &Waker) {
        if let Some(timer) = self.timers.get_mut(key) {
            crate::waker::store(&mut timer.waker, waker);
        }
    }

    /// Moves a timer to a new deadline; returns its (possibly new) key.
    pub(crate) fn reset(&mut self, key: TimerKey, deadline: Instant) -> TimerKey {
        let Some(timer) = self.timers.get_mut(key) else {
            return key;
        };
        if timer.armed && deadline >= timer.deadline {
            // Later: the existing heap entry will surface early and be
            // re-pushed at the new deadline (see `next_deadline`).
            timer.deadline = deadline;
            return key;
        }
        timer.deadline = deadline;
        let key = if timer.armed {
            // Earlier: the heap entry is too late. A new key makes it stale.
            let timer = self.timers.remove(key).expect("looked up above");
            self.timers.insert(timer)
        } else {
            // Fired: its heap entry is gone, so the key can be armed again.
            timer.armed = true;
            self.live += 1;
            key
        };
        self.heap.push(Reverse((deadline, key)));
        self.maybe_compact();
        key
    }

    /// Frees a timer, armed or fired. O(1): its heap entry goes stale.
    pub(crate) fn cancel(&mut self, key: TimerKey) {
        let Some(timer) = self.timers.remove(key) else {
            return;
        };
        if timer.armed {
            self.live -= 1;
        }
        self.maybe_compact();
    }

    /// The earliest live deadline, discarding stale entries on the way.
    pub(crate) fn next_deadline(&mut self) -> Option<Instant> {
        while let Some(&Reverse((deadline, key))) = self.heap.peek() {
            let Some(timer) = self.timers.get(key).filter(|timer| timer.armed) else {
                self.heap.pop();
                continue;
            };
            if timer.deadline > deadline {
                // Postponed by `reset`: move the entry to its real place.
                let real = timer.deadline;
                self.heap.pop();
                self.heap.push(Reverse((real, key)));
                continue;
            }
            return Some(deadline);
        }
        None
    }

    /// Fires every timer due at `now`: pushes their wakers (and with
    /// `origins`, one [`Origin::Timer`] each), returns how many.
    pub(crate) fn fire_expired(
        &mut self,
        now: Instant,
        wakers: &mut Vec<Waker>,
        mut origins: Option<&mut Vec<Origin>>,
    ) -> usize {
        let mut fired = 0;
        while let Some(deadline) = self.next_deadline() {
            if deadline > now {
                break;
            }
            let Some(Reverse((_, key))) = self.heap.pop() else { break };
            let timer = self.timers.get_mut(key).expect("next_deadline checked the top entry");
            timer.armed = false;
            self.live -= 1;
            fired += 1;
            let waker = timer.waker.take();
            if let Some(origins) = origins.as_deref_mut() {
                origins.push(Origin::Timer { deadline: timer.deadline, wakers: u8::from(waker.is_some()) });
            }
            wakers.extend(waker);
        }
        fired
    }

    /// Every armed timer's deadline and whom it will wake, for dumps.
    pub(crate) fn waiters(&self) -> Vec<(Instant, Wakes)> {
        self.timers
            .values()
            .filter(|timer| timer.armed)
            .filter_map(|timer| Some((timer.deadline, waker::wakes(timer.waker.as_ref()?))))
            .collect()
    }

    /// Drops every waker (runtime shutdown).
    pub(crate) fn clear(&mut self) {
        self.heap.clear();
        for timer in self.timers.values_mut() {
            timer.waker = None;
            timer.armed = false;
        }
        self.live = 0;
    }

    /// Timers held: armed, or fired and not yet dropped by their `Sleep`.
    #[cfg(test)]
    pub(crate) fn len(&self) -> usize {
        self.timers.len()
    }

    /// Armed timers.
    #[cfg(test)]
    pub(crate) fn live(&self) -> usize {
        self.live
    }

    fn maybe_compact(&mut self) {
        if self.heap.len() > 2 * self.live + COMPACT_SLACK {
            let timers = &self.timers;
            self.heap.retain(|Reverse((_, key))| timers.get(*key).is_some_and(|timer| timer.armed));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::task::Waker;
    use std::time::Duration;

    fn noop() -> Waker {
        Waker::noop().clone()
    }

    #[test]
    fn fires_in_deadline_order() {
        let mut timers = Timers::new();
        let t0 = Instant::now();
        let c = timers.insert(t0 + Duration::from_millis(3), noop());
        let a = timers.insert(t0 + Duration::from_millis(1), noop());
        let _b = timers.insert(t0 + Duration::from_millis(2), noop());
        assert_eq!(timers.next_deadline(), Some(t0 + Duration::from_millis(1)));
        let mut wakers = Vec::new();
        assert_eq!(timers.fire_expired(t0 + Duration::from_millis(2), &mut wakers, None), 2);
        assert_eq!(timers.next_deadline(), Some(t0 + Duration::from_millis(3)));
        timers.cancel(a); // fired already: just frees the slot
        timers.cancel(c);
        assert_eq!(timers.next_deadline(), None);
        assert_eq!(timers.live(), 0);
    }

    #[test]
    fn reset_later_and_earlier() {
        let mut timers = Timers::new();
        let t0 = Instant::now();
        let key = timers.insert(t0 + Duration::from_millis(5), noop());
        let key = timers.reset(key, t0 + Duration::from_millis(10));
        let mut wakers = Vec::new();
        assert_eq!(timers.fire_expired(t0 + Duration::from_millis(6), &mut wakers, None), 0);
        assert_eq!(timers.next_deadline(), Some(t0 + Duration::from_millis(10)));
        let key = timers.reset(key, t0 + Duration::from_millis(7));
        assert_eq!(timers.next_deadline(), Some(t0 + Duration::from_millis(7)));
        assert_eq!(timers.fire_expired(t0 + Duration::from_millis(20), &mut wakers, None), 1);
        // Re-arm after firing.
        let key = timers.reset(key, t0 + Duration::from_millis(30));
        assert_eq!(timers.next_deadline(), Some(t0 + Duration::from_millis(30)));
        timers.cancel(key);
        assert_eq!(timers.next_deadline(), None);
    }

    #[test]
    fn cancellation_keeps_heap_bounded() {
        let mut timers = Timers::new();
        let t0 = Instant::now();
        let index = |key: TimerKey| key.to_u64() as u32;
        let first = timers.insert(t0, noop());
        timers.cancel(first);
        // Miri-sized under Miri: still a compaction.
        let cancels = if cfg!(miri) { 2 * COMPACT_SLACK as u64 } else { 100_000 };
        for i in 0..cancels {
            let key = timers.insert(t0 + Duration::from_secs(60 + i), noop());
            assert_eq!(index(key), index(first), "the slab entry is reused");
            timers.cancel(key);
        }
        assert!(timers.heap.len() <= COMPACT_SLACK + 1, "heap grew to {}", timers.heap.len());
        assert_eq!(timers.len(), 0, "every timer was freed");
    }

    #[test]
    fn stale_key_is_ignored() {
        let mut timers = Timers::new();
        let t0 = Instant::now();
        let old = timers.insert(t0, noop());
        timers.cancel(old);
        let new = timers.insert(t0 + Duration::from_secs(1), noop());
        timers.cancel(old); // must not cancel `new`, which reuses the slot
        assert_eq!(timers.next_deadline(), Some(t0 + Duration::from_secs(1)));
        timers.cancel(new);
    }
}
