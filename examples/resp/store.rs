//! The key space of the RESP server: 16 numbered databases of byte-string
//! values (`SELECT 0` to `SELECT 15`, as in Redis), each key with an
//! optional expiry time.
//!
//! Expiry times are Unix milliseconds, as Redis keeps them, so `TTL`, `EXAT`
//! and `PXAT` behave the same way. A key is removed by a timer task when its
//! time comes (the runtime supplies the tasks through [`ExpiryTimers`]), and every
//! read also checks the time (lazy expiry, a second line of defence).

use std::cell::RefCell;
use std::collections::HashMap;
use std::rc::Rc;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

/// How many databases `SELECT` can choose from (Redis' default).
pub const DATABASES: usize = 16;

/// The current time in Unix milliseconds (what Redis calls `mstime()`).
pub fn unix_ms() -> i64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| d.as_millis() as i64)
}

/// How a runtime runs key expiry: one timer task per key with a TTL.
pub trait ExpiryTimers: Sized + 'static {
    /// A running expiry task.
    type ExpiryTask;
    /// Starts a task that sleeps until `deadline`, then calls
    /// [`Expiry::fire`].
    fn spawn_expiry(expiry: Expiry<Self>, deadline: Instant) -> Self::ExpiryTask;
    /// Stops a task that has not fired (the key was overwritten or deleted).
    fn cancel(task: Self::ExpiryTask);
}

/// What an expiry task removes when its deadline comes.
pub struct Expiry<T: ExpiryTimers> {
    db: Db<T>,
    index: usize,
    key: Vec<u8>,
}

impl<T: ExpiryTimers> Expiry<T> {
    /// Removes the key (called by the expiry task at its deadline).
    pub fn fire(self) {
        let removed = self.db.0.borrow_mut().maps[self.index].remove(&self.key);
        if let Some(mut entry) = removed {
            // The task calling us is finishing; don't cancel it on drop.
            entry.expiry_task = None;
        }
    }
}

/// One stored value, and the timer task that will expire it.
pub struct StoredValue<T: ExpiryTimers> {
    pub value: Vec<u8>,
    /// Unix milliseconds, or `None` for a key that never expires.
    pub expires_at: Option<i64>,
    expiry_task: Option<T::ExpiryTask>,
}

impl<T: ExpiryTimers> Drop for StoredValue<T> {
    fn drop(&mut self) {
        if let Some(task) = self.expiry_task.take() {
            T::cancel(task);
        }
    }
}

struct Store<T: ExpiryTimers> {
    maps: Vec<HashMap<Vec<u8>, StoredValue<T>>>,
    /// The id `CLIENT ID` and `HELLO` report for the next connection.
    next_client_id: u64,
}

/// The key space, shared by every connection on the thread.
pub struct Db<T: ExpiryTimers>(Rc<RefCell<Store<T>>>);

impl<T: ExpiryTimers> Clone for Db<T> {
    fn clone(&self) -> Self {
        Db(self.0.clone())
    }
}

impl<T: ExpiryTimers> Default for Db<T> {
    fn default() -> Self {
        let maps = (0..DATABASES).map(|_| HashMap::new()).collect();
        Db(Rc::new(RefCell::new(Store { maps, next_client_id: 1 })))
    }
}

impl<T: ExpiryTimers> Db<T> {
    /// A new connection's id (Redis numbers its clients from 1).
    pub fn next_client_id(&self) -> u64 {
        let mut store = self.0.borrow_mut();
        store.next_client_id += 1;
        store.next_client_id - 1
    }

    /// Runs `f` on the live entry for `key` in database `index` (an entry
    /// whose time has passed is removed first, and `f` sees `None`).
    pub fn with_live<R>(
        &self,
        index: usize,
        key: &[u8],
        f: impl FnOnce(Option<&mut StoredValue<T>>) -> R,
    ) -> R {
        let mut store = self.0.borrow_mut();
        let map = &mut store.maps[index];
        let expired = map.get(key).and_then(|e| e.expires_at).is_some_and(|at| at <= unix_ms());
        if expired {
            map.remove(key);
        }
        f(map.get_mut(key))
    }

    /// Whether `key` exists (and has not expired).
    pub fn exists(&self, index: usize, key: &[u8]) -> bool {
        self.with_live(index, key, |e| e.is_some())
    }

    /// Stores `value` under `key`. `expires_at` is `None` to clear any expiry,
    /// `Some(None)` to keep the current one (`KEEPTTL`), `Some(Some(ms))` to
    /// set one.
    pub fn set(&self, index: usize, key: &[u8], value: &[u8], expires_at: Option<Option<i64>>) {
        let mut store = self.0.borrow_mut();
        let map = &mut store.maps[index];
        let keep = expires_at == Some(None);
        match map.get_mut(key) {
            // Overwrite in place: no key allocation, and the value buffer is reused.
            Some(entry) => {
                entry.value.clear();
                entry.value.extend_from_slice(value);
                if !keep {
                    entry.expires_at = None;
                    if let Some(task) = entry.expiry_task.take() {
                        T::cancel(task);
                    }
                }
            }
            None => {
                let entry = StoredValue { value: value.to_vec(), expires_at: None, expiry_task: None };
                map.insert(key.to_vec(), entry);
            }
        }
        drop(store);
        if let Some(Some(at)) = expires_at {
            self.expire_at(index, key, at);
        }
    }

    /// Removes `key`; returns whether it was there (and live).
    pub fn remove(&self, index: usize, key: &[u8]) -> bool {
        let live = self.exists(index, key);
        self.0.borrow_mut().maps[index].remove(key);
        live
    }

    /// Sets the key's expiry to `at` (Unix ms), or removes the key if that
    /// time has passed. Returns whether the key existed.
    pub fn expire_at(&self, index: usize, key: &[u8], at: i64) -> bool {
        let now = unix_ms();
        if at <= now {
            return self.remove(index, key);
        }
        let mut store = self.0.borrow_mut();
        let Some(entry) = store.maps[index].get_mut(key) else { return false };
        if let Some(old) = entry.expiry_task.take() {
            T::cancel(old);
        }
        entry.expires_at = Some(at);
        // Expiry times thousands of years away cannot be an `Instant` on
        // every platform; such a key is left to lazy expiry.
        let deadline = Instant::now().checked_add(Duration::from_millis((at - now) as u64));
        drop(store);
        if let Some(deadline) = deadline {
            let expiry = Expiry { db: self.clone(), index, key: key.to_vec() };
            let task = T::spawn_expiry(expiry, deadline);
            // The map is borrowed again only now: spawning may run nothing
            // synchronously, but the borrow must not be held across it.
            if let Some(entry) = self.0.borrow_mut().maps[index].get_mut(key) {
                entry.expiry_task = Some(task);
            }
        }
        true
    }

    /// Keys in database `index` (including expired ones not yet removed, as
    /// Redis counts them).
    pub fn len(&self, index: usize) -> usize {
        self.0.borrow().maps[index].len()
    }

    /// Empties database `index`, or all of them.
    pub fn clear(&self, index: Option<usize>) {
        // Dropping entries cancels their timers; take the maps out first so
        // no borrow is held while they drop.
        let dropped: Vec<_> = {
            let mut store = self.0.borrow_mut();
            match index {
                Some(i) => vec![std::mem::take(&mut store.maps[i])],
                None => store.maps.iter_mut().map(std::mem::take).collect(),
            }
        };
        drop(dropped);
    }
}
