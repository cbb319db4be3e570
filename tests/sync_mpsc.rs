//! `corio::sync::mpsc` through the public API.

use std::cell::{Cell, RefCell};
use std::future::Future;
use std::pin::pin;
use std::rc::Rc;
use std::task::{Context, Poll};
use std::time::Duration;

use corio::sync::mpsc::{self, SendError, TryRecvError, TrySendError};
use corio::task::yield_now;
use corio::time::{sleep, timeout};
use corio::{spawn, Runtime};

fn virtual_rt() -> Runtime {
    Runtime::builder().virtual_time(true).build().unwrap()
}

/// Counts destructor runs.
#[derive(Debug)]
struct Tracked(Rc<Cell<usize>>);

impl Drop for Tracked {
    fn drop(&mut self) {
        self.0.set(self.0.get() + 1);
    }
}

#[test]
fn recv_returns_none_after_every_sender_is_gone_and_buffer_drained() {
    let rt = virtual_rt();
    rt.block_on(async {
        let (tx, mut rx) = mpsc::channel(4);
        let tx2 = tx.clone();
        tx.send(1).await.unwrap();
        tx2.send(2).await.unwrap();
        drop(tx);
        assert_eq!(rx.recv().await, Some(1));
        drop(tx2);
        assert_eq!(rx.recv().await, Some(2));
        assert_eq!(rx.recv().await, None);
        assert_eq!(rx.try_recv(), Err(TryRecvError::Disconnected));
    });
}

#[test]
fn last_sender_drop_wakes_a_parked_receiver() {
    let rt = virtual_rt();
    rt.block_on(async {
        let (tx, mut rx) = mpsc::channel::<u8>(4);
        let receiver = spawn(async move { rx.recv().await });
        yield_now().await;
        assert!(!receiver.is_finished());
        drop(tx);
        assert_eq!(timeout(Duration::from_secs(1), receiver).await.unwrap().unwrap(), None);
    });
}

#[test]
fn try_send_and_try_recv_report_typed_errors() {
    let (tx, mut rx) = mpsc::channel(2);
    assert_eq!(rx.try_recv(), Err(TryRecvError::Empty));
    tx.try_send(1).unwrap();
    tx.try_send(2).unwrap();
    assert_eq!(tx.try_send(3), Err(TrySendError::Full(3)));
    assert_eq!(tx.capacity(), 0);
    assert_eq!(tx.max_capacity(), 2);
    assert_eq!(rx.len(), 2);
    assert_eq!(rx.try_recv(), Ok(1));
    drop(rx);
    assert!(tx.is_closed());
    assert_eq!(tx.try_send(4), Err(TrySendError::Closed(4)));
    assert_eq!(TrySendError::Full(5).into_inner(), 5);
}

#[test]
fn send_after_receiver_drop_returns_the_value() {
    let rt = virtual_rt();
    rt.block_on(async {
        let (tx, rx) = mpsc::channel::<String>(1);
        drop(rx);
        let SendError(back) = tx.send("kept".to_string()).await.unwrap_err();
        assert_eq!(back, "kept");

        let (utx, urx) = mpsc::unbounded_channel::<u8>();
        drop(urx);
        assert_eq!(utx.send(7).unwrap_err().into_inner(), 7);
    });
}

#[test]
fn full_channel_suspends_sender_until_room() {
    let rt = virtual_rt();
    rt.block_on(async {
        let (tx, mut rx) = mpsc::channel(1);
        tx.send(1).await.unwrap();
        let sent = Rc::new(Cell::new(false));
        let sender = {
            let sent = sent.clone();
            spawn(async move {
                tx.send(2).await.unwrap();
                sent.set(true);
            })
        };
        sleep(Duration::from_secs(5)).await;
        assert!(!sent.get(), "backpressure: the second send waits");
        assert_eq!(rx.recv().await, Some(1));
        sender.await.unwrap();
        assert!(sent.get());
        assert_eq!(rx.recv().await, Some(2));
    });
}

#[test]
fn blocked_senders_get_the_receiver_error_and_their_values_back() {
    let rt = virtual_rt();
    rt.block_on(async {
        let (tx, rx) = mpsc::channel(1);
        tx.send(0).await.unwrap();
        let mut blocked = Vec::new();
        for i in 1..=3 {
            let tx = tx.clone();
            blocked.push(spawn(async move { tx.send(i).await }));
        }
        yield_now().await;
        drop(rx);
        for (i, task) in (1..=3).zip(blocked) {
            assert_eq!(task.await.unwrap().unwrap_err().0, i);
        }
    });
}

#[test]
fn receiver_dropped_with_messages_buffered_drops_each_once() {
    let drops = Rc::new(Cell::new(0));
    let (tx, rx) = mpsc::channel(8);
    for _ in 0..5 {
        tx.try_send(Tracked(drops.clone())).unwrap();
    }
    drop(rx);
    assert_eq!(drops.get(), 5, "buffered messages dropped with the receiver");
    let refused = tx.try_send(Tracked(drops.clone())).unwrap_err();
    assert_eq!(drops.get(), 5);
    drop(refused);
    drop(tx);
    assert_eq!(drops.get(), 6);

    let (utx, urx) = mpsc::unbounded_channel();
    utx.send(Tracked(drops.clone())).unwrap();
    drop(utx);
    assert_eq!(drops.get(), 6, "a sender's drop does not touch buffered messages");
    drop(urx);
    assert_eq!(drops.get(), 7);
}

#[test]
fn message_destructor_may_drop_a_sender_of_the_same_channel() {
    struct HoldsSender(#[allow(dead_code)] mpsc::UnboundedSender<HoldsSender>);
    let (tx, rx) = mpsc::unbounded_channel();
    tx.send(HoldsSender(tx.clone())).unwrap();
    drop(tx);
    drop(rx); // drops the message, which drops the last sender: no double borrow
}

#[test]
fn dropped_pending_send_leaves_no_reserved_slot() {
    let rt = virtual_rt();
    rt.block_on(async {
        let drops = Rc::new(Cell::new(0));
        let (tx, mut rx) = mpsc::channel(1);
        tx.send(Tracked(drops.clone())).await.unwrap();
        // First blocked sender: will be granted the slot, then dropped unpolled.
        let granted = {
            let (tx, drops) = (tx.clone(), drops.clone());
            spawn(async move { tx.send(Tracked(drops)).await.is_ok() })
        };
        yield_now().await;
        // Second blocked sender, queued behind it.
        let next = {
            let (tx, drops) = (tx.clone(), drops.clone());
            spawn(async move { tx.send(Tracked(drops)).await.is_ok() })
        };
        yield_now().await;
        drop(rx.recv().await); // frees the slot: granted to `granted`
        assert_eq!(drops.get(), 1);
        granted.abort(); // dropped holding the turn
        assert_eq!(drops.get(), 2, "its unsent message was dropped once");
        // The turn passed on: `next` completes and its message arrives.
        assert!(timeout(Duration::from_secs(1), next).await.unwrap().unwrap());
        assert!(rx.recv().await.is_some());
        assert_eq!(drops.get(), 3);
        // And no phantom reservation: the whole capacity is usable.
        assert_eq!(tx.capacity(), 1);
        tx.try_send(Tracked(drops.clone())).unwrap();
        drop(rx);
        assert_eq!(drops.get(), 4);
    });
}

#[test]
fn dropped_waiting_send_gives_up_its_place() {
    let rt = virtual_rt();
    rt.block_on(async {
        let (tx, mut rx) = mpsc::channel(1);
        tx.send(0).await.unwrap();
        {
            // Poll a send once (it queues), then drop it.
            let mut send = pin!(tx.send(1));
            let waker = std::task::Waker::from(std::sync::Arc::new(NoopWake));
            assert!(send.as_mut().poll(&mut Context::from_waker(&waker)).is_pending());
        }
        assert_eq!(rx.recv().await, Some(0));
        // Nobody is queued: a fresh try_send takes the free slot.
        tx.try_send(2).unwrap();
        assert_eq!(rx.recv().await, Some(2));
        assert_eq!(rx.try_recv(), Err(TryRecvError::Empty));
    });
}

struct NoopWake;
impl std::task::Wake for NoopWake {
    fn wake(self: std::sync::Arc<Self>) {}
}

#[test]
fn blocked_senders_are_served_in_fifo_order() {
    let rt = virtual_rt();
    rt.block_on(async {
        let (tx, mut rx) = mpsc::channel(1);
        tx.send(0).await.unwrap();
        for i in 1..=5 {
            let tx = tx.clone();
            spawn(async move { tx.send(i).await.unwrap() });
            yield_now().await;
        }
        drop(tx);
        let mut got = Vec::new();
        while let Some(v) = rx.recv().await {
            got.push(v);
        }
        assert_eq!(got, [0, 1, 2, 3, 4, 5]);
    });
}

#[test]
fn close_keeps_buffered_messages_then_ends() {
    let rt = virtual_rt();
    rt.block_on(async {
        let (tx, mut rx) = mpsc::channel(4);
        tx.send(1).await.unwrap();
        rx.close();
        assert!(tx.send(2).await.is_err());
        assert_eq!(rx.recv().await, Some(1));
        assert_eq!(rx.recv().await, None);
    });
}

#[test]
fn slow_consumer_hundred_producers_bounded_sixteen() {
    // Miri-sized under Miri: still far more senders than slots.
    const PRODUCERS: usize = if cfg!(miri) { 20 } else { 100 };
    const PER_PRODUCER: usize = if cfg!(miri) { 5 } else { 200 };
    let rt = virtual_rt();
    rt.block_on(async {
        let (tx, mut rx) = mpsc::channel::<(usize, usize)>(16);
        for p in 0..PRODUCERS {
            let tx = tx.clone();
            spawn(async move {
                for seq in 0..PER_PRODUCER {
                    tx.send((p, seq)).await.unwrap();
                }
            });
        }
        drop(tx);
        let mut next = vec![0usize; PRODUCERS];
        let mut total = 0;
        let mut max_len = 0;
        loop {
            max_len = max_len.max(rx.len());
            let Some((p, seq)) = rx.recv().await else { break };
            assert_eq!(seq, next[p], "producer {p}'s messages arrive in order");
            next[p] += 1;
            total += 1;
            yield_now().await; // the consumer is the slow side
        }
        assert_eq!(total, PRODUCERS * PER_PRODUCER, "nothing lost or duplicated");
        assert!(next.iter().all(|&n| n == PER_PRODUCER));
        assert!(max_len <= 16, "buffer held {max_len} > capacity");
        assert_eq!(max_len, 16, "the producers did fill the buffer");
    });
}

#[test]
fn unbounded_channel_never_waits() {
    let rt = virtual_rt();
    rt.block_on(async {
        // Miri-sized under Miri.
        const MESSAGES: u64 = if cfg!(miri) { 500 } else { 10_000 };
        let (tx, mut rx) = mpsc::unbounded_channel();
        for i in 0..MESSAGES {
            tx.send(i).unwrap();
        }
        assert_eq!(rx.len(), MESSAGES as usize);
        let tx2 = tx.clone();
        assert!(tx.same_channel(&tx2));
        drop((tx, tx2));
        let mut sum = 0u64;
        while let Some(i) = rx.recv().await {
            sum += i;
        }
        assert_eq!(sum, (0..MESSAGES).sum());
    });
}

#[test]
fn poll_recv_registers_and_is_woken_by_send() {
    let rt = virtual_rt();
    rt.block_on(async {
        let (tx, mut rx) = mpsc::channel::<u8>(2);
        let polls = Rc::new(Cell::new(0));
        let receiver = {
            let polls = polls.clone();
            spawn(async move {
                std::future::poll_fn(|cx: &mut Context<'_>| {
                    polls.set(polls.get() + 1);
                    match rx.poll_recv(cx) {
                        Poll::Ready(v) => Poll::Ready(v),
                        Poll::Pending => Poll::Pending,
                    }
                })
                .await
            })
        };
        sleep(Duration::from_secs(1)).await;
        assert_eq!(polls.get(), 1, "parked, not busy-polled");
        tx.send(3).await.unwrap();
        assert_eq!(receiver.await.unwrap(), Some(3));
        assert_eq!(polls.get(), 2);
    });
}

#[test]
fn messages_in_flight_are_not_lost_when_some_senders_drop() {
    let rt = virtual_rt();
    rt.block_on(async {
        let got = Rc::new(RefCell::new(Vec::new()));
        let (tx, mut rx) = mpsc::channel(2);
        let consumer = {
            let got = got.clone();
            spawn(async move {
                while let Some(v) = rx.recv().await {
                    got.borrow_mut().push(v);
                    sleep(Duration::from_millis(1)).await;
                }
            })
        };
        for p in 0..4u32 {
            let tx = tx.clone();
            spawn(async move {
                for i in 0..10 {
                    tx.send(p * 100 + i).await.unwrap();
                }
                // `tx` dropped here, while others are still sending.
            });
        }
        drop(tx);
        consumer.await.unwrap();
        let mut got = got.borrow().clone();
        got.sort();
        let mut want: Vec<u32> = (0..4).flat_map(|p| (0..10).map(move |i| p * 100 + i)).collect();
        want.sort();
        assert_eq!(got, want);
    });
}
