//! `corio::sync::Notify` through the public API.

use std::cell::Cell;
use std::rc::Rc;
use std::time::Duration;

use corio::sync::Notify;
use corio::task::yield_now;
use corio::time::{sleep, timeout};
use corio::{spawn, Runtime};

fn virtual_rt() -> Runtime {
    Runtime::builder().virtual_time(true).build().unwrap()
}

#[test]
fn notify_one_before_wait_stores_a_single_permit() {
    let rt = virtual_rt();
    rt.block_on(async {
        let notify = Notify::new();
        notify.notify_one();
        notify.notify_one(); // still one permit
        notify.notified().await;
        let second = timeout(Duration::from_secs(1), notify.notified()).await;
        assert!(second.is_err(), "only one permit is stored");
    });
}

#[test]
fn notify_one_wakes_waiters_in_fifo_order() {
    let rt = virtual_rt();
    rt.block_on(async {
        let notify = Rc::new(Notify::new());
        let order = Rc::new(std::cell::RefCell::new(Vec::new()));
        let mut tasks = Vec::new();
        for i in 0..3 {
            let (notify, order) = (notify.clone(), order.clone());
            tasks.push(spawn(async move {
                notify.notified().await;
                order.borrow_mut().push(i);
            }));
            yield_now().await; // queue in spawn order
        }
        for _ in 0..3 {
            notify.notify_one();
            yield_now().await;
        }
        for task in tasks {
            task.await.unwrap();
        }
        assert_eq!(*order.borrow(), vec![0, 1, 2]);
    });
}

#[test]
fn notify_waiters_wakes_ten_thousand_waiters() {
    let rt = virtual_rt();
    rt.block_on(async {
        let notify = Rc::new(Notify::new());
        let woken = Rc::new(Cell::new(0usize));
        let parked = Rc::new(Cell::new(0usize));
        // Miri-sized under Miri: still more waiters than one tick's budget.
        const WAITERS: usize = if cfg!(miri) { 150 } else { 10_000 };
        let mut tasks = Vec::new();
        for _ in 0..WAITERS {
            let (notify, woken, parked) = (notify.clone(), woken.clone(), parked.clone());
            tasks.push(spawn(async move {
                let notified = notify.notified();
                parked.set(parked.get() + 1); // the first poll of `notified` follows at once
                notified.await;
                woken.set(woken.get() + 1);
            }));
        }
        // The executor polls 128 tasks per tick: wait until all have parked.
        while parked.get() < WAITERS {
            yield_now().await;
        }
        yield_now().await;
        assert_eq!(woken.get(), 0);
        notify.notify_waiters();
        for task in tasks {
            timeout(Duration::from_secs(1), task).await.expect("every waiter woken").unwrap();
        }
        assert_eq!(woken.get(), WAITERS);
        // No permit was left behind.
        assert!(timeout(Duration::from_secs(1), notify.notified()).await.is_err());
    });
}

#[test]
fn notify_waiters_reaches_a_future_created_but_not_yet_polled() {
    let rt = virtual_rt();
    rt.block_on(async {
        let notify = Notify::new();
        let notified = notify.notified();
        notify.notify_waiters(); // between "check" and ".await"
        timeout(Duration::from_secs(1), notified).await.expect("not lost");
        // A future created after the call waits for the next one.
        assert!(timeout(Duration::from_secs(1), notify.notified()).await.is_err());
    });
}

#[test]
fn dropped_chosen_waiter_passes_notify_one_on() {
    let rt = virtual_rt();
    rt.block_on(async {
        let notify = Rc::new(Notify::new());
        let first = {
            let notify = notify.clone();
            spawn(async move { notify.notified().await })
        };
        yield_now().await;
        let second = {
            let notify = notify.clone();
            spawn(async move { notify.notified().await })
        };
        yield_now().await;
        notify.notify_one(); // chooses `first`...
        first.abort(); // ...which is dropped before it runs
        timeout(Duration::from_secs(1), second).await.expect("notification passed on").unwrap();
    });
}

#[test]
fn dropped_chosen_waiter_with_nobody_behind_leaves_a_permit() {
    let rt = virtual_rt();
    rt.block_on(async {
        let notify = Rc::new(Notify::new());
        let waiter = {
            let notify = notify.clone();
            spawn(async move { notify.notified().await })
        };
        yield_now().await;
        notify.notify_one();
        waiter.abort();
        timeout(Duration::from_secs(1), notify.notified()).await.expect("the permit was kept");
    });
}

#[test]
fn check_then_wait_pattern_never_hangs() {
    let rt = virtual_rt();
    // Miri-sized under Miri.
    const ROUNDS: u32 = if cfg!(miri) { 30 } else { 100 };
    rt.block_on(async {
        let notify = Rc::new(Notify::new());
        let counter = Rc::new(Cell::new(0));
        let producer = {
            let (notify, counter) = (notify.clone(), counter.clone());
            spawn(async move {
                for _ in 0..ROUNDS {
                    counter.set(counter.get() + 1);
                    notify.notify_waiters();
                    sleep(Duration::from_millis(1)).await;
                }
            })
        };
        let mut seen = 0;
        while seen < ROUNDS {
            let notified = notify.notified();
            if counter.get() > seen {
                seen = counter.get();
                continue;
            }
            notified.await;
        }
        producer.await.unwrap();
    });
}
