//! `Slab`: values in a `Vec`, found again by a key that goes stale when its
//! value is removed.
//!
//! Several parts of the runtime keep a table of small records that come and
//! go: the reactor (one per registered I/O source, found by the mio token
//! of each event), the timers (one per armed `Sleep`, found by the heap
//! entries), the wait lists of the sync primitives (one per waiting
//! future), and `JoinSet` (one per member task). They share this one
//! structure.
//!
//! A removed entry's index goes on a free list and is reused by the next
//! insert, so the table stops growing at its working size and inserting
//! does not allocate. Every entry also counts how often it was reused: a
//! [`Key`] is the index plus that *generation*, so a key kept after its
//! value was removed (a late mio event for a closed socket, a heap entry of
//! a cancelled timer) no longer finds anything, even when the index holds
//! a new value. Plain `std`; no `unsafe`.
//!
//! Next stop: `run_queue.rs`.

/// The end of the free list.
const NIL: u32 = u32::MAX;

/// Where a value lives in a [`Slab`]: an index and the generation it was
/// inserted under. Copy it freely; a stale key finds nothing.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub(crate) struct Key {
    index: u32,
    generation: u32,
}

impl Key {
    /// The key as one number (the reactor uses it as the mio token).
    pub(crate) fn to_u64(self) -> u64 {
        (u64::from(self.generation) << 32) | u64::from(self.index)
    }

    /// The inverse of [`to_u64`](Key::to_u64).
    pub(crate) fn from_u64(raw: u64) -> Key {
        Key { index: raw as u32, generation: (raw >> 32) as u32 }
    }
}

/// One entry: a value, or a link in the free list.
#[derive(Debug)]
enum Entry<T> {
    Occupied { generation: u32, value: T },
    Vacant { generation: u32, next_free: u32 },
}

/// A table of values with stable, generation-checked keys. See the module docs.
#[derive(Debug)]
pub(crate) struct Slab<T> {
    entries: Vec<Entry<T>>,
    /// Index of the first vacant entry, or `NIL`.
    free: u32,
    /// Occupied entries.
    len: usize,
}

impl<T> Slab<T> {
    pub(crate) const fn new() -> Slab<T> {
        Slab { entries: Vec::new(), free: NIL, len: 0 }
    }

    /// Number of values held.
    #[inline]
    pub(crate) fn len(&self) -> usize {
        self.len
    }

    /// Stores `value`, reusing a vacant entry when there is one.
    #[inline]
    pub(crate) fn insert(&mut self, value: T) -> Key {
        if self.free == NIL {
            return self.push(value);
        }
        self.len += 1;
        let index = self.free;
        let entry = &mut self.entries[index as usize];
        let Entry::Vacant { generation, next_free } = *entry else {
            unreachable!("corio bug: the slab's free list points at an occupied entry");
        };
        self.free = next_free;
        *entry = Entry::Occupied { generation, value };
        Key { index, generation }
    }

    /// `insert` when no entry is vacant: a new one at the end.
    #[cold]
    #[inline(never)]
    fn push(&mut self, value: T) -> Key {
        let index = u32::try_from(self.entries.len()).ok().filter(|&index| index != NIL);
        let index = index.expect("corio: more than 2^32 - 1 slab entries");
        self.entries.push(Entry::Occupied { generation: 0, value });
        self.len += 1;
        Key { index, generation: 0 }
    }

    /// The value under `key`, unless it was removed since.
    #[inline]
    pub(crate) fn get(&self, key: Key) -> Option<&T> {
        match self.entries.get(key.index as usize) {
            Some(Entry::Occupied { generation, value }) if *generation == key.generation => Some(value),
            _ => None,
        }
    }

    /// The value under `key`, mutably, unless it was removed since.
    #[inline]
    pub(crate) fn get_mut(&mut self, key: Key) -> Option<&mut T> {
        match self.entries.get_mut(key.index as usize) {
            Some(Entry::Occupied { generation, value }) if *generation == key.generation => Some(value),
            _ => None,
        }
    }

    /// Takes the value out; its key (and every copy of it) goes stale.
    /// `None` if the key was already stale.
    #[inline]
    pub(crate) fn remove(&mut self, key: Key) -> Option<T> {
        let entry = self.entries.get_mut(key.index as usize)?;
        match entry {
            Entry::Occupied { generation, .. } if *generation == key.generation => {}
            _ => return None,
        }
        let vacant = Entry::Vacant { generation: key.generation.wrapping_add(1), next_free: self.free };
        let Entry::Occupied { value, .. } = std::mem::replace(entry, vacant) else {
            unreachable!("checked above");
        };
        self.free = key.index;
        self.len -= 1;
        Some(value)
    }

    /// Every value held, in index order.
    pub(crate) fn values(&self) -> impl Iterator<Item = &T> {
        self.entries.iter().filter_map(|entry| match entry {
            Entry::Occupied { value, .. } => Some(value),
            Entry::Vacant { .. } => None,
        })
    }

    /// Every value held with its key, in index order.
    pub(crate) fn iter(&self) -> impl Iterator<Item = (Key, &T)> {
        self.entries.iter().enumerate().filter_map(|(index, entry)| match entry {
            Entry::Occupied { generation, value } => {
                Some((Key { index: index as u32, generation: *generation }, value))
            }
            Entry::Vacant { .. } => None,
        })
    }

    /// Every value held, mutably, in index order.
    pub(crate) fn values_mut(&mut self) -> impl Iterator<Item = &mut T> {
        self.entries.iter_mut().filter_map(|entry| match entry {
            Entry::Occupied { value, .. } => Some(value),
            Entry::Vacant { .. } => None,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn insert_get_remove() {
        let mut slab = Slab::new();
        let a = slab.insert('a');
        let b = slab.insert('b');
        assert_eq!((slab.get(a), slab.get(b), slab.len()), (Some(&'a'), Some(&'b'), 2));
        *slab.get_mut(b).unwrap() = 'B';
        assert_eq!(slab.remove(b), Some('B'));
        assert_eq!(slab.remove(b), None, "a key is good for one removal");
        assert_eq!(slab.get(b), None);
        assert_eq!(slab.len(), 1);
    }

    #[test]
    fn a_reused_index_does_not_answer_to_its_old_key() {
        let mut slab = Slab::new();
        let old = slab.insert(1);
        slab.remove(old);
        let new = slab.insert(2);
        assert_ne!(old, new);
        assert_eq!(slab.entries.len(), 1, "the vacant entry was reused");
        assert_eq!(slab.get(old), None);
        assert_eq!(slab.get_mut(old), None);
        assert_eq!(slab.remove(old), None, "a stale key removes nothing");
        assert_eq!(slab.get(new), Some(&2));
    }

    #[test]
    fn free_entries_are_reused_last_in_first_out() {
        let mut slab = Slab::new();
        let keys: Vec<Key> = (0..4).map(|i| slab.insert(i)).collect();
        slab.remove(keys[1]);
        slab.remove(keys[3]);
        assert_eq!(slab.insert(30).index, 3);
        assert_eq!(slab.insert(10).index, 1);
        assert_eq!(slab.insert(4).index, 4, "no vacant entry left: the table grows");
        let mut values: Vec<i32> = slab.values_mut().map(|v| *v).collect();
        values.sort();
        assert_eq!(values, [0, 2, 4, 10, 30]);
    }

    #[test]
    fn keys_round_trip_through_u64() {
        let key = Key { index: 7, generation: 3 };
        assert_eq!(Key::from_u64(key.to_u64()), key);
        assert_eq!(key.to_u64(), (3 << 32) | 7);
    }
}
