//! `corio::sync::Semaphore` through the public API.

use std::cell::{Cell, RefCell};
use std::rc::Rc;
use std::time::Duration;

use corio::sync::{AcquireError, Semaphore, TryAcquireError};
use corio::task::yield_now;
use corio::time::{sleep, timeout};
use corio::{spawn, Runtime};

fn virtual_rt() -> Runtime {
    Runtime::builder().virtual_time(true).build().unwrap()
}

#[test]
fn permits_limit_concurrency_and_return_on_drop() {
    let rt = virtual_rt();
    rt.block_on(async {
        let sem = Rc::new(Semaphore::new(3));
        let running = Rc::new(Cell::new(0));
        let peak = Rc::new(Cell::new(0));
        let mut tasks = Vec::new();
        for _ in 0..20 {
            let (sem, running, peak) = (sem.clone(), running.clone(), peak.clone());
            tasks.push(spawn(async move {
                let _permit = sem.acquire().await.unwrap();
                running.set(running.get() + 1);
                peak.set(peak.get().max(running.get()));
                sleep(Duration::from_millis(10)).await;
                running.set(running.get() - 1);
            }));
        }
        for task in tasks {
            task.await.unwrap();
        }
        assert_eq!(peak.get(), 3);
        assert_eq!(sem.available_permits(), 3);
    });
}

#[test]
fn large_acquire_queued_first_is_served_before_small_ones() {
    let rt = virtual_rt();
    rt.block_on(async {
        let sem = Rc::new(Semaphore::new(4));
        let order = Rc::new(RefCell::new(Vec::new()));
        let held = sem.acquire_many(4).await.unwrap();

        let big = {
            let (sem, order) = (sem.clone(), order.clone());
            spawn(async move {
                let _p = sem.acquire_many(3).await.unwrap();
                order.borrow_mut().push("big");
                sleep(Duration::from_millis(5)).await;
            })
        };
        yield_now().await; // `big` is queued first
        let mut smalls = Vec::new();
        for _ in 0..4 {
            let (sem, order) = (sem.clone(), order.clone());
            smalls.push(spawn(async move {
                let _p = sem.acquire().await.unwrap();
                order.borrow_mut().push("small");
            }));
        }
        yield_now().await;
        // One permit back: a small request would fit, but `big` is first.
        drop(held);
        big.await.unwrap();
        for s in smalls {
            s.await.unwrap();
        }
        assert_eq!(order.borrow()[0], "big");
        assert_eq!(order.borrow().len(), 5);
        assert_eq!(sem.available_permits(), 4);
    });
}

#[test]
fn try_acquire_does_not_barge_past_the_queue() {
    let rt = virtual_rt();
    rt.block_on(async {
        let sem = Rc::new(Semaphore::new(1));
        let held = sem.try_acquire().unwrap();
        assert_eq!(sem.try_acquire().unwrap_err(), TryAcquireError::NoPermits);
        let waiter = {
            let sem = sem.clone();
            spawn(async move { sem.acquire().await.map(|p| p.num_permits()) })
        };
        yield_now().await;
        sem.add_permits(1);
        // The added permit was handed to the queued waiter, not to us.
        assert_eq!(sem.try_acquire().unwrap_err(), TryAcquireError::NoPermits);
        assert_eq!(waiter.await.unwrap(), Ok(1));
        drop(held);
        assert_eq!(sem.available_permits(), 2);
    });
}

#[test]
fn dropping_a_pending_acquire_lets_the_next_waiter_proceed() {
    let rt = virtual_rt();
    rt.block_on(async {
        let sem = Rc::new(Semaphore::new(2));
        let held = sem.acquire().await.unwrap();
        // `big` wants 2 and blocks `small` (FIFO) while one permit is free.
        let big = {
            let sem = sem.clone();
            spawn(async move {
                let _p = sem.acquire_many(2).await.unwrap();
            })
        };
        yield_now().await;
        let small = {
            let sem = sem.clone();
            spawn(async move { sem.acquire().await.unwrap().num_permits() })
        };
        yield_now().await;
        assert!(!small.is_finished());
        big.abort(); // the front waiter goes away
        assert_eq!(timeout(Duration::from_secs(1), small).await.unwrap().unwrap(), 1);
        drop(held);
        assert_eq!(sem.available_permits(), 2);
    });
}

#[test]
fn dropping_a_granted_but_unpolled_acquire_returns_its_permits() {
    let rt = virtual_rt();
    rt.block_on(async {
        let sem = Rc::new(Semaphore::new(1));
        let held = sem.acquire().await.unwrap();
        let first = {
            let sem = sem.clone();
            spawn(async move {
                let _p = sem.acquire().await.unwrap();
            })
        };
        yield_now().await;
        let second = {
            let sem = sem.clone();
            spawn(async move { sem.acquire().await.unwrap().num_permits() })
        };
        yield_now().await;
        drop(held); // granted to `first`, which has not run yet
        first.abort(); // its unclaimed permit must reach `second`
        assert_eq!(timeout(Duration::from_secs(1), second).await.unwrap().unwrap(), 1);
        assert_eq!(sem.available_permits(), 1);
    });
}

#[test]
fn close_fails_waiters_and_new_acquires() {
    let rt = virtual_rt();
    rt.block_on(async {
        let sem = Rc::new(Semaphore::new(0));
        let waiter = {
            let sem = sem.clone();
            spawn(async move { sem.acquire().await.map(|_| ()) })
        };
        yield_now().await;
        sem.close();
        assert!(sem.is_closed());
        assert_eq!(waiter.await.unwrap(), Err(AcquireError));
        assert!(sem.acquire().await.is_err());
        assert_eq!(sem.try_acquire().unwrap_err(), TryAcquireError::Closed);
    });
}

#[test]
fn owned_permits_move_into_tasks_and_forget_keeps_them() {
    let rt = virtual_rt();
    rt.block_on(async {
        let sem = Rc::new(Semaphore::new(2));
        let permit = sem.clone().acquire_owned().await.unwrap();
        let task = spawn(async move {
            sleep(Duration::from_millis(1)).await;
            drop(permit);
        });
        assert_eq!(sem.available_permits(), 1);
        task.await.unwrap();
        assert_eq!(sem.available_permits(), 2);
        sem.try_acquire().unwrap().forget();
        assert_eq!(sem.available_permits(), 1);
        let owned = sem.clone().try_acquire_owned().unwrap();
        assert_eq!(owned.num_permits(), 1);
        assert_eq!(sem.available_permits(), 0);
    });
}
