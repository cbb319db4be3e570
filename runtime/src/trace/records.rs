//! [`Record`] and [`Records`]: what the tracer knows of each live task, found by task id.
//!
//! Looked up on every spawn, poll and completion of a traced runtime, so it
//! is built for how task ids come: one after another, each spawn the next.
//! New tasks go at the back of a window indexed by `id - base`; finished
//! ones leave a hole, and holes at the front are dropped. A task that stays
//! alive while many newer ones come and go (an accept loop, a connection)
//! would hold the window open, so once holes are more than half of it, its
//! front records move to a hash map until they are not. A `HashMap` for
//! everything cost a traced spawn and completion about 250 instructions
//! (callgrind, `spawn_complete`); this, a few dozen.

use std::collections::{HashMap, VecDeque};
use std::hash::{BuildHasherDefault, Hasher};
use std::time::Instant;

use super::event::{Name, MAIN};

/// What the runtime knows about one live task (or the `block_on` future,
/// lane 0) beyond its header.
#[derive(Debug, Clone)]
pub(crate) struct Record {
    pub(crate) name: Name,
    pub(crate) polls: u64,
    /// When its last poll began.
    pub(crate) last_poll: Option<Instant>,
    /// What a `corio::sync` primitive said it waits on during the last poll.
    pub(crate) waits: Option<&'static str>,
}

/// Holes a window may hold beyond as many as its records, before its
/// front records move to the map.
const SLACK: usize = 64;

/// Records of live tasks by id, and the `block_on` future's under [`MAIN`].
#[derive(Debug)]
pub(crate) struct Records {
    main: Record,
    /// Slot `i` holds task `base + i`, `None` once it finished.
    window: VecDeque<Option<Record>>,
    base: u64,
    /// Records moved out of the window's front, and any spawned out of order.
    old: HashMap<u64, Record, BuildHasherDefault<IdHasher>>,
    /// Records held (the `block_on` future's not counted).
    len: usize,
    /// Of those, records in the window.
    in_window: usize,
}

impl Records {
    pub(crate) fn new(main: Record) -> Records {
        Records { main, window: VecDeque::new(), base: 1, old: HashMap::default(), len: 0, in_window: 0 }
    }

    /// Records held, the `block_on` future's not counted.
    pub(crate) fn len(&self) -> usize {
        self.len
    }

    /// Adds the record of a new task (normally the next id).
    pub(crate) fn insert(&mut self, id: u64, record: Record) {
        self.len += 1;
        if self.window.is_empty() {
            self.base = id;
        }
        if id != self.base + self.window.len() as u64 {
            self.old.insert(id, record);
            return;
        }
        self.window.push_back(Some(record));
        self.in_window += 1;
        // Holes at the front are dropped here rather than at each removal:
        // one check per spawn, not one per completion.
        while let Some(None) = self.window.front() {
            self.window.pop_front();
            self.base += 1;
        }
        while self.window.len() > 2 * self.in_window + SLACK {
            if let Some(record) = self.window.pop_front().flatten() {
                self.old.insert(self.base, record);
                self.in_window -= 1;
            }
            self.base += 1;
        }
    }

    fn slot(&self, id: u64) -> Option<usize> {
        let index = id.checked_sub(self.base)? as usize;
        (index < self.window.len()).then_some(index)
    }

    pub(crate) fn get(&self, id: u64) -> Option<&Record> {
        if id == MAIN {
            return Some(&self.main);
        }
        match self.slot(id) {
            Some(index) => self.window[index].as_ref(),
            None => self.old.get(&id),
        }
    }

    pub(crate) fn get_mut(&mut self, id: u64) -> Option<&mut Record> {
        if id == MAIN {
            return Some(&mut self.main);
        }
        match self.slot(id) {
            Some(index) => self.window[index].as_mut(),
            None => self.old.get_mut(&id),
        }
    }

    /// Forgets a task's record (not the `block_on` future's); its name.
    pub(crate) fn remove(&mut self, id: u64) -> Option<Name> {
        let record = match self.slot(id) {
            Some(index) => {
                let record = self.window[index].take();
                self.in_window -= usize::from(record.is_some());
                record
            }
            None if id == MAIN => None,
            None => self.old.remove(&id),
        };
        self.len -= usize::from(record.is_some());
        record.map(|record| record.name)
    }

    /// Every record with its id, the `block_on` future's first.
    pub(crate) fn iter(&self) -> impl Iterator<Item = (u64, &Record)> {
        let window = self
            .window
            .iter()
            .enumerate()
            .filter_map(|(i, record)| Some((self.base + i as u64, record.as_ref()?)));
        std::iter::once((MAIN, &self.main))
            .chain(window)
            .chain(self.old.iter().map(|(id, record)| (*id, record)))
    }

    /// The ids of every task record.
    pub(crate) fn ids(&self) -> Vec<u64> {
        self.iter().map(|(id, _)| id).filter(|id| *id != MAIN).collect()
    }
}

/// A hasher for task ids, which are sequential: a multiply spreads them over
/// the table's buckets (the identity would put every small id's control
/// byte at zero), without SipHash's cost.
#[derive(Debug, Default)]
pub(crate) struct IdHasher(u64);

impl Hasher for IdHasher {
    fn finish(&self) -> u64 {
        self.0
    }

    fn write(&mut self, bytes: &[u8]) {
        for &byte in bytes {
            self.0 = (self.0.rotate_left(8) ^ u64::from(byte)).wrapping_mul(0x9E37_79B9_7F4A_7C15);
        }
    }

    fn write_u64(&mut self, id: u64) {
        self.0 = id.wrapping_mul(0x9E37_79B9_7F4A_7C15);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::rc::Rc;

    fn record(name: &str) -> Record {
        Record { name: Name::Given(Rc::from(name)), polls: 0, last_poll: None, waits: None }
    }

    fn name(records: &Records, id: u64) -> Option<String> {
        records.get(id).map(|r| r.name.to_string())
    }

    #[test]
    fn finds_records_in_the_window_and_after_it_moved_on() {
        let mut records = Records::new(record("main"));
        records.insert(1, record("long-lived"));
        for id in 2..300 {
            records.insert(id, record(&format!("t{id}")));
            assert_eq!(records.remove(id).map(|name| name.to_string()), Some(format!("t{id}")));
        }
        assert_eq!(records.len(), 1);
        assert_eq!(name(&records, 1).as_deref(), Some("long-lived"));
        assert_eq!(name(&records, MAIN).as_deref(), Some("main"));
        records.insert(300, record("new"));
        for id in 301..500 {
            records.insert(id, record("filler"));
        }
        // The window moved past both: they are in the map now, still found.
        assert_eq!(name(&records, 300).as_deref(), Some("new"));
        assert!(records.remove(1).is_some());
        assert!(records.get(1).is_none());
        assert_eq!(records.ids().len(), records.len());
        assert_eq!(records.iter().count(), records.len() + 1);
    }

    #[test]
    fn an_id_out_of_order_is_kept_too() {
        let mut records = Records::new(record("main"));
        records.insert(5, record("five"));
        records.insert(9, record("nine"));
        records.insert(6, record("six"));
        for id in [5, 9, 6] {
            assert!(records.get(id).is_some(), "{id}");
        }
        assert!(records.remove(MAIN).is_none(), "the block_on future's record stays");
        assert_eq!(records.len(), 3);
    }
}
