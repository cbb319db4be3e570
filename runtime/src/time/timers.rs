//! The timer structure: a binary min-heap with lazy cancellation.
//!
//! Each armed timer owns a slot in a slab (its deadline, its waker, a
//! generation); the heap holds `(deadline, slot, generation)` entries and is
//! ordered by deadline. The operations and their costs:
//!
//! - **insert**: take a free slot, push a heap entry. O(log n); no
//!   allocation once the slab and heap have grown to their working size.
//! - **cancel** (dropping a `Sleep`): free the slot and bump its generation.
//!   O(1): the heap entry is left behind and recognised as stale (generation
//!   mismatch) when it reaches the top.
//! - **reset** to a later deadline (the idle-timeout pattern, reset on every
//!   read): O(1), only the slot's deadline changes; when the old heap entry
//!   surfaces it is pushed again at the new deadline. Reset to an earlier
//!   deadline pushes a new entry under a new generation. Neither allocates
//!   once warmed up.
//! - **next deadline / fire**: pop stale entries off the top, O(log n) each,
//!   each entry popped at most once: amortised O(1) per cancel.
//!
//! Stale entries cannot pile up: when they outnumber live timers by more than
//! `COMPACT_SLACK`, the heap is rebuilt from live slots in O(n), paid for by
//! the cancellations that made them. `docs/ARCHITECTURE.md` compares this
//! with a hierarchical timing wheel and gives the measurements.

use std::cmp::Reverse;
use std::collections::BinaryHeap;
use std::task::Waker;
use std::time::Instant;

/// Rebuild the heap when stale entries exceed live ones by this much.
const COMPACT_SLACK: usize = 1024;

/// Identifies one armed timer: a slot and the generation it was armed under.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct TimerKey {
    slot: u32,
    generation: u32,
}

#[derive(Debug)]
struct Slot {
    /// The current deadline (may be later than the heap entry's, see reset).
    deadline: Instant,
    generation: u32,
    waker: Option<Waker>,
    /// In use by a `Sleep` (armed, or fired but not yet dropped).
    occupied: bool,
    /// A heap entry with this generation exists (not yet fired).
    armed: bool,
}

/// All timers of one runtime.
#[derive(Debug, Default)]
pub(crate) struct Timers {
    heap: BinaryHeap<Reverse<(Instant, u32, u32)>>,
    slots: Vec<Slot>,
    free: Vec<u32>,
    /// Slots currently armed.
    live: usize,
}

impl Timers {
    pub(crate) fn new() -> Timers {
        Timers::default()
    }

    /// Arms a timer for `deadline` that wakes `waker`.
    pub(crate) fn insert(&mut self, deadline: Instant, waker: Waker) -> TimerKey {
        let slot = match self.free.pop() {
            Some(slot) => slot,
            None => {
                self.slots.push(Slot { deadline, generation: 0, waker: None, occupied: false, armed: false });
                (self.slots.len() - 1) as u32
            }
        };
        let entry = &mut self.slots[slot as usize];
        entry.deadline = deadline;
        entry.waker = Some(waker);
        entry.occupied = true;
        entry.armed = true;
        self.live += 1;
        self.heap.push(Reverse((deadline, slot, entry.generation)));
        TimerKey { slot, generation: entry.generation }
    }

    fn slot_mut(&mut self, key: TimerKey) -> Option<&mut Slot> {
        self.slots.get_mut(key.slot as usize).filter(|s| s.occupied && s.generation == key.generation)
    }

    /// Replaces the stored waker unless it already wakes the same task.
    pub(crate) fn update_waker(&mut self, key: TimerKey, waker: &Waker) {
        if let Some(slot) = self.slot_mut(key) {
            match &slot.waker {
                Some(stored) if stored.will_wake(waker) => {}
                _ => slot.waker = Some(waker.clone()),
            }
        }
    }

    /// Moves a timer to a new deadline; returns its (possibly new) key.
    pub(crate) fn reset(&mut self, key: TimerKey, deadline: Instant) -> TimerKey {
        let Some(slot) = self.slot_mut(key) else {
            return key;
        };
        if slot.armed && deadline >= slot.deadline {
            // Later: the existing heap entry will surface early and be
            // re-pushed at the new deadline (see `pop_due`).
            slot.deadline = deadline;
            return key;
        }
        // Earlier, or already fired: a new generation invalidates any old entry.
        let was_armed = slot.armed;
        slot.generation = slot.generation.wrapping_add(1);
        slot.deadline = deadline;
        slot.armed = true;
        let generation = slot.generation;
        if !was_armed {
            self.live += 1;
        }
        self.heap.push(Reverse((deadline, key.slot, generation)));
        self.maybe_compact();
        TimerKey { slot: key.slot, generation }
    }

    /// Frees a timer, armed or fired. O(1): its heap entry goes stale.
    pub(crate) fn cancel(&mut self, key: TimerKey) {
        let Some(slot) = self.slot_mut(key) else {
            return;
        };
        let was_armed = slot.armed;
        slot.occupied = false;
        slot.armed = false;
        slot.waker = None;
        slot.generation = slot.generation.wrapping_add(1);
        if was_armed {
            self.live -= 1;
        }
        self.free.push(key.slot);
        self.maybe_compact();
    }

    /// The earliest live deadline, discarding stale entries on the way.
    pub(crate) fn next_deadline(&mut self) -> Option<Instant> {
        while let Some(&Reverse((deadline, slot, generation))) = self.heap.peek() {
            let entry = &self.slots[slot as usize];
            if !(entry.armed && entry.generation == generation) {
                self.heap.pop();
                continue;
            }
            if entry.deadline > deadline {
                // Postponed by `reset`: move the entry to its real place.
                let real = entry.deadline;
                self.heap.pop();
                self.heap.push(Reverse((real, slot, generation)));
                continue;
            }
            return Some(deadline);
        }
        None
    }

    /// Fires every timer due at `now`: pushes their wakers, returns how many.
    pub(crate) fn fire_expired(&mut self, now: Instant, wakers: &mut Vec<Waker>) -> usize {
        let mut fired = 0;
        while let Some(deadline) = self.next_deadline() {
            if deadline > now {
                break;
            }
            let Some(Reverse((_, slot, _))) = self.heap.pop() else { break };
            let entry = &mut self.slots[slot as usize];
            entry.armed = false;
            self.live -= 1;
            fired += 1;
            wakers.extend(entry.waker.take());
        }
        fired
    }

    /// Drops every waker (runtime shutdown).
    pub(crate) fn clear(&mut self) {
        self.heap.clear();
        for slot in &mut self.slots {
            slot.waker = None;
            slot.armed = false;
        }
        self.live = 0;
    }

    /// Armed timers.
    #[cfg(test)]
    pub(crate) fn live(&self) -> usize {
        self.live
    }

    fn maybe_compact(&mut self) {
        if self.heap.len() > 2 * self.live + COMPACT_SLACK {
            let slots = &self.slots;
            self.heap.retain(|Reverse((_, slot, generation))| {
                let entry = &slots[*slot as usize];
                entry.armed && entry.generation == *generation
            });
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
        assert_eq!(timers.fire_expired(t0 + Duration::from_millis(2), &mut wakers), 2);
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
        assert_eq!(timers.fire_expired(t0 + Duration::from_millis(6), &mut wakers), 0);
        assert_eq!(timers.next_deadline(), Some(t0 + Duration::from_millis(10)));
        let key = timers.reset(key, t0 + Duration::from_millis(7));
        assert_eq!(timers.next_deadline(), Some(t0 + Duration::from_millis(7)));
        assert_eq!(timers.fire_expired(t0 + Duration::from_millis(20), &mut wakers), 1);
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
        for i in 0..100_000u64 {
            let key = timers.insert(t0 + Duration::from_secs(60 + i), noop());
            timers.cancel(key);
        }
        assert!(timers.heap.len() <= COMPACT_SLACK + 1, "heap grew to {}", timers.heap.len());
        assert_eq!(timers.slots.len(), 1, "slots are reused");
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
