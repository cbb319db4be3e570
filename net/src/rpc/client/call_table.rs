//! [`CallTable`]: the calls of one connection, found by request id, each
//! a [`CallSlot`].

use std::task::Waker;

use crate::rpc::RpcError;

/// One call in flight, as the reader and the caller see it.
pub(super) enum CallSlot {
    /// No answer yet; the caller's waker once it has polled.
    Waiting(Option<Waker>),
    /// The answer (or the connection's failure), not yet taken by the caller.
    Done(Result<Vec<u8>, RpcError>),
}

/// The calls of one connection in a slab, found by request id without
/// hashing. An id holds a slot's index plus one in its low 32 bits (so it
/// is never 0) and the slot's use count in its high 32 bits, so a slot
/// used again gets a new id: the late answer to a cancelled call cannot
/// land on the call that reuses its slot. An id comes back only after 2^32
/// more calls through the same slot.
#[derive(Default)]
pub(super) struct CallTable {
    entries: Vec<CallEntry>,
    /// Indices of vacant entries.
    free: Vec<u32>,
    /// Entries in use.
    pub(super) len: usize,
}

#[derive(Default)]
struct CallEntry {
    /// How many calls this entry has held (the id's high half).
    uses: u32,
    slot: Option<CallSlot>,
}

impl CallTable {
    /// A new waiting slot; returns its request id.
    #[inline]
    pub(super) fn insert(&mut self) -> u64 {
        let index = self.free.pop().unwrap_or_else(|| {
            self.entries.push(CallEntry::default());
            u32::try_from(self.entries.len() - 1).expect("fewer than 2^32 calls in flight")
        });
        let entry = &mut self.entries[index as usize];
        entry.uses = entry.uses.wrapping_add(1);
        entry.slot = Some(CallSlot::Waiting(None));
        self.len += 1;
        (u64::from(entry.uses) << 32) | (u64::from(index) + 1)
    }

    /// The entry an id names, if the id is current.
    #[inline]
    fn entry(&mut self, id: u64) -> Option<&mut CallEntry> {
        let index = (id & 0xffff_ffff).checked_sub(1)? as usize;
        let entry = self.entries.get_mut(index)?;
        (u64::from(entry.uses) == id >> 32).then_some(entry)
    }

    #[inline]
    pub(super) fn get_mut(&mut self, id: u64) -> Option<&mut CallSlot> {
        self.entry(id)?.slot.as_mut()
    }

    #[inline]
    pub(super) fn remove(&mut self, id: u64) -> Option<CallSlot> {
        let slot = self.entry(id)?.slot.take()?;
        self.free.push((id & 0xffff_ffff) as u32 - 1);
        self.len -= 1;
        Some(slot)
    }

    pub(super) fn iter(&self) -> impl Iterator<Item = &CallSlot> {
        self.entries.iter().filter_map(|entry| entry.slot.as_ref())
    }

    pub(super) fn iter_mut(&mut self) -> impl Iterator<Item = &mut CallSlot> {
        self.entries.iter_mut().filter_map(|entry| entry.slot.as_mut())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn call_ids_are_never_zero_and_a_reused_slot_gets_a_new_id() {
        let mut table = CallTable::default();
        let (a, b) = (table.insert(), table.insert());
        assert!(a != 0 && b != 0 && a != b);
        assert!(table.get_mut(a).is_some());
        assert!(table.remove(a).is_some());
        assert!(table.remove(a).is_none(), "removed once");
        assert!(table.get_mut(a).is_none());
        let c = table.insert(); // reuses a's slot...
        assert_ne!(c, a, "...under a new id");
        assert_eq!(c & 0xffff_ffff, a & 0xffff_ffff);
        assert!(table.get_mut(a).is_none(), "a stale id finds nothing");
        assert!(table.get_mut(0).is_none() && table.get_mut(u64::MAX).is_none());
        assert_eq!(table.len, 2);
    }
}
