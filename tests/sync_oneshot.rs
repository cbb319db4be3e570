//! `corio::sync::oneshot` through the public API.

use std::cell::Cell;
use std::rc::Rc;
use std::time::Duration;

use corio::sync::oneshot::{self, RecvError, TryRecvError};
use corio::task::yield_now;
use corio::time::sleep;
use corio::{spawn, Runtime};

fn virtual_rt() -> Runtime {
    Runtime::builder().virtual_time(true).build().unwrap()
}

/// Counts destructor runs.
struct Tracked(Rc<Cell<usize>>);

impl Drop for Tracked {
    fn drop(&mut self) {
        self.0.set(self.0.get() + 1);
    }
}

#[test]
fn value_crosses_tasks() {
    let rt = virtual_rt();
    rt.block_on(async {
        let (tx, rx) = oneshot::channel();
        spawn(async move {
            sleep(Duration::from_secs(1)).await;
            tx.send(5u32).unwrap();
        });
        assert_eq!(rx.await, Ok(5));
    });
}

#[test]
fn sender_dropped_while_receiver_waits_wakes_it_with_an_error() {
    let rt = virtual_rt();
    rt.block_on(async {
        let (tx, rx) = oneshot::channel::<u32>();
        let waiter = spawn(rx);
        yield_now().await; // the receiver is parked now
        assert!(!waiter.is_finished());
        drop(tx);
        assert_eq!(waiter.await.unwrap(), Err(RecvError));
    });
}

#[test]
fn receiver_drop_closes_sender_and_returns_the_value() {
    let rt = virtual_rt();
    rt.block_on(async {
        let (mut tx, rx) = oneshot::channel::<String>();
        assert!(!tx.is_closed());
        let watcher = spawn(async move {
            tx.closed().await;
            assert!(tx.is_closed());
            tx.send("late".to_string())
        });
        yield_now().await;
        assert!(!watcher.is_finished());
        drop(rx);
        assert_eq!(watcher.await.unwrap(), Err("late".to_string()));
    });
}

#[test]
fn try_recv_states() {
    let (tx, mut rx) = oneshot::channel::<u8>();
    assert_eq!(rx.try_recv(), Err(TryRecvError::Empty));
    tx.send(1).unwrap();
    assert_eq!(rx.try_recv(), Ok(1));
    assert_eq!(rx.try_recv(), Err(TryRecvError::Closed));

    let (tx, mut rx) = oneshot::channel::<u8>();
    drop(tx);
    assert_eq!(rx.try_recv(), Err(TryRecvError::Closed));
}

#[test]
fn close_stops_the_sender_but_keeps_a_sent_value() {
    let (tx, mut rx) = oneshot::channel::<u8>();
    rx.close();
    assert!(tx.is_closed());
    assert_eq!(tx.send(3), Err(3));

    let rt = virtual_rt();
    rt.block_on(async {
        let (tx, mut rx) = oneshot::channel::<u8>();
        tx.send(4).unwrap();
        rx.close();
        assert_eq!(rx.await, Ok(4));
    });
}

#[test]
fn unreceived_value_is_dropped_exactly_once() {
    let drops = Rc::new(Cell::new(0));
    let (tx, rx) = oneshot::channel();
    tx.send(Tracked(drops.clone())).map_err(|_| ()).unwrap();
    assert_eq!(drops.get(), 0);
    drop(rx);
    assert_eq!(drops.get(), 1);

    // Refused value comes back to the caller, and is dropped once there.
    let (tx, rx) = oneshot::channel();
    drop(rx);
    let refused = tx.send(Tracked(drops.clone()));
    assert_eq!(drops.get(), 1);
    drop(refused);
    assert_eq!(drops.get(), 2);
}

#[test]
fn producer_cancels_work_when_the_receiver_goes() {
    // The RPC pattern: race the work against `closed()`.
    let rt = virtual_rt();
    rt.block_on(async {
        let (mut tx, rx) = oneshot::channel::<u32>();
        let worker = spawn(async move {
            let work = async {
                sleep(Duration::from_secs(60)).await;
                42
            };
            match corio::race(work, tx.closed()).await {
                corio::Either::Left(answer) => tx.send(answer).is_ok(),
                corio::Either::Right(()) => false,
            }
        });
        sleep(Duration::from_secs(1)).await;
        drop(rx);
        assert!(!worker.await.unwrap(), "work was abandoned, not finished");
        assert!(corio::time::Instant::now().elapsed() < Duration::from_secs(60));
    });
}

#[test]
fn waker_is_refreshed_when_the_receiver_moves_tasks() {
    let rt = virtual_rt();
    rt.block_on(async {
        let (tx, rx) = oneshot::channel::<u8>();
        let mut rx = Box::pin(rx);
        // Poll once from this task, then hand the receiver to another task.
        assert!(corio::time::timeout(Duration::from_millis(1), rx.as_mut()).await.is_err());
        let waiter = spawn(rx);
        yield_now().await;
        tx.send(9).unwrap();
        assert_eq!(waiter.await.unwrap(), Ok(9));
    });
}
