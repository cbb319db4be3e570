//! `corio::sync::broadcast` through the public API, with tokio's broadcast
//! semantics as the spec, and a generated test against a reference model.

use std::cell::Cell;
use std::collections::BTreeSet;
use std::rc::Rc;
use std::time::Duration;

use corio::sync::broadcast::{self, RecvError, SendError, TryRecvError};
use corio::task::yield_now;
use corio::time::timeout;
use corio::{spawn, Runtime};
use futures_lite::future::{block_on, poll_once};
use proptest::prelude::*;

fn virtual_rt() -> Runtime {
    Runtime::builder().virtual_time(true).build().unwrap()
}

#[test]
fn every_receiver_gets_every_message_in_order() {
    virtual_rt().block_on(async {
        let (tx, rx) = broadcast::channel(8);
        let receivers = [rx, tx.subscribe(), tx.subscribe()];
        let tasks: Vec<_> = receivers
            .into_iter()
            .map(|mut rx| {
                spawn(async move {
                    let mut got = Vec::new();
                    while let Ok(n) = rx.recv().await {
                        got.push(n);
                    }
                    got
                })
            })
            .collect();
        yield_now().await;
        for n in 0..5 {
            assert_eq!(tx.send(n), Ok(3), "send reports how many receivers it reached");
        }
        drop(tx);
        for task in tasks {
            assert_eq!(task.await.unwrap(), [0, 1, 2, 3, 4]);
        }
    });
}

#[test]
fn a_slow_receiver_lags_and_resumes_at_the_oldest_kept_message() {
    virtual_rt().block_on(async {
        let (tx, mut rx) = broadcast::channel(3);
        for n in 0..10 {
            tx.send(n).unwrap();
        }
        assert_eq!(rx.len(), 10);
        assert_eq!(rx.recv().await, Err(RecvError::Lagged(7)));
        assert_eq!(rx.recv().await, Ok(7));
        assert_eq!(rx.recv().await, Ok(8));
        assert_eq!(rx.recv().await, Ok(9));
        assert!(timeout(Duration::from_secs(1), rx.recv()).await.is_err(), "caught up: waits");
    });
}

#[test]
fn a_new_subscriber_sees_only_later_messages() {
    let (tx, mut first) = broadcast::channel(4);
    tx.send("before").unwrap();
    let mut late = tx.subscribe();
    let mut resubscribed = first.resubscribe();
    tx.send("after").unwrap();
    assert_eq!(first.try_recv(), Ok("before"));
    assert_eq!(first.try_recv(), Ok("after"));
    assert_eq!(late.try_recv(), Ok("after"));
    assert_eq!(resubscribed.try_recv(), Ok("after"));
    assert_eq!(late.try_recv(), Err(TryRecvError::Empty));
    assert!(late.same_channel(&first));
}

#[test]
fn send_without_receivers_fails_and_keeps_nothing() {
    let (tx, rx) = broadcast::channel(2);
    drop(rx);
    assert_eq!(tx.send(1), Err(SendError(1)));
    let mut rx = tx.subscribe();
    assert_eq!(rx.try_recv(), Err(TryRecvError::Empty), "the failed message was not kept");
    let lone = broadcast::Sender::<u8>::new(1);
    assert_eq!(lone.receiver_count(), 0);
}

#[test]
fn closed_after_the_last_sender_once_everything_is_read() {
    virtual_rt().block_on(async {
        let (tx, mut rx) = broadcast::channel(4);
        let tx2 = tx.clone();
        tx.send(1).unwrap();
        drop(tx);
        assert!(!rx.is_closed());
        tx2.send(2).unwrap();
        drop(tx2);
        assert!(rx.is_closed());
        assert_eq!(rx.recv().await, Ok(1));
        assert_eq!(rx.recv().await, Ok(2));
        assert_eq!(rx.recv().await, Err(RecvError::Closed));
        assert_eq!(rx.try_recv(), Err(TryRecvError::Closed));
    });
}

#[test]
fn a_parked_receiver_wakes_on_send_and_on_close() {
    virtual_rt().block_on(async {
        let (tx, mut rx) = broadcast::channel(1);
        let mut rx2 = tx.subscribe();
        let waiter = spawn(async move { (rx.recv().await, rx.recv().await) });
        let closer = spawn(async move { rx2.recv().await });
        yield_now().await;
        tx.send("one").unwrap();
        yield_now().await;
        drop(tx);
        assert_eq!(waiter.await.unwrap(), (Ok("one"), Err(RecvError::Closed)));
        assert_eq!(closer.await.unwrap(), Ok("one"));
    });
}

#[test]
fn sender_closed_completes_when_the_last_receiver_drops() {
    virtual_rt().block_on(async {
        let (tx, rx) = broadcast::channel::<u8>(1);
        let rx2 = tx.subscribe();
        let tx = Rc::new(tx);
        let closed = {
            let tx = tx.clone();
            spawn(async move { tx.closed().await })
        };
        yield_now().await;
        drop(rx);
        yield_now().await;
        assert!(!closed.is_finished());
        drop(rx2);
        closed.await.unwrap();
    });
}

#[test]
fn a_dropped_recv_future_consumes_nothing() {
    virtual_rt().block_on(async {
        let (tx, mut rx) = broadcast::channel(2);
        assert!(timeout(Duration::from_millis(5), rx.recv()).await.is_err());
        tx.send(1).unwrap();
        assert_eq!(rx.recv().await, Ok(1), "the cancelled recv took nothing");
    });
}

/// Counts live values: a clone adds one, a drop takes one away.
#[derive(Debug)]
struct Tracked {
    value: u8,
    live: Rc<Cell<i64>>,
}

impl Tracked {
    fn new(value: u8, live: &Rc<Cell<i64>>) -> Tracked {
        live.set(live.get() + 1);
        Tracked { value, live: live.clone() }
    }
}

impl Clone for Tracked {
    fn clone(&self) -> Tracked {
        Tracked::new(self.value, &self.live)
    }
}

impl Drop for Tracked {
    fn drop(&mut self) {
        self.live.set(self.live.get() - 1);
    }
}

#[test]
fn a_message_is_dropped_once_every_receiver_has_read_it() {
    let live = Rc::new(Cell::new(0));
    let (tx, mut a) = broadcast::channel(4);
    let mut b = tx.subscribe();
    tx.send(Tracked::new(1, &live)).unwrap();
    assert_eq!(live.get(), 1, "one stored copy");
    drop(a.try_recv().unwrap());
    assert_eq!((live.get(), tx.len()), (1, 1), "b has not read it yet");
    drop(b.try_recv().unwrap());
    assert_eq!((live.get(), tx.len()), (0, 0), "the last reader took the stored copy");
    tx.send(Tracked::new(2, &live)).unwrap();
    drop(b);
    assert_eq!(live.get(), 1, "a still wants it");
    drop(a);
    assert_eq!(live.get(), 0, "dropping the last unread receiver freed it");
}

// ---- generated: random operation sequences against a reference model ----

#[derive(Debug, Clone)]
enum Op {
    Send(u8),
    TryRecv(usize),
    RecvNow(usize),
    Subscribe,
    Resubscribe(usize),
    DropReceiver(usize),
    CloneSender,
    DropSender,
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        4 => any::<u8>().prop_map(Op::Send),
        3 => (0..4usize).prop_map(Op::TryRecv),
        2 => (0..4usize).prop_map(Op::RecvNow),
        1 => Just(Op::Subscribe),
        1 => (0..4usize).prop_map(Op::Resubscribe),
        1 => (0..4usize).prop_map(Op::DropReceiver),
        1 => Just(Op::CloneSender),
        1 => Just(Op::DropSender),
    ]
}

/// The model: every message ever sent, with the ids of the receivers that
/// have yet to read it, and each receiver's next position.
struct Model {
    capacity: usize,
    sent: Vec<(u8, BTreeSet<u32>)>,
    /// (receiver id, next position), in the order of the real receivers.
    receivers: Vec<(u32, usize)>,
    next_id: u32,
    senders: usize,
}

impl Model {
    fn oldest(&self) -> usize {
        self.sent.len().saturating_sub(self.capacity)
    }

    fn try_recv(&mut self, i: usize) -> Result<u8, TryRecvError> {
        let oldest = self.oldest();
        let (id, next) = &mut self.receivers[i];
        if *next < oldest {
            let missed = oldest - *next;
            *next = oldest;
            return Err(TryRecvError::Lagged(missed as u64));
        }
        if *next == self.sent.len() {
            return Err(if self.senders == 0 { TryRecvError::Closed } else { TryRecvError::Empty });
        }
        let (value, unread) = &mut self.sent[*next];
        unread.remove(id);
        *next += 1;
        Ok(*value)
    }

    fn subscribe(&mut self) {
        self.receivers.push((self.next_id, self.sent.len()));
        self.next_id += 1;
    }

    /// Messages still stored: kept by the ring and wanted by someone.
    fn stored(&self) -> usize {
        self.sent[self.oldest()..].iter().filter(|(_, unread)| !unread.is_empty()).count()
    }
}

proptest! {
    // 256 cases by default; PROPTEST_CASES scales it (.ci/valgrind uses fewer).
    #![proptest_config(ProptestConfig::default())]

    #[test]
    #[cfg_attr(miri, ignore = "proptest reads its regression files (isolated under Miri); too many cases")]
    fn broadcast_matches_the_model(capacity in 1..5usize, ops in prop::collection::vec(op(), 1..80)) {
        let live = Rc::new(Cell::new(0));
        let (tx, rx) = broadcast::channel::<Tracked>(capacity);
        let mut senders = vec![tx];
        let mut receivers = vec![rx];
        let mut model = Model { capacity, sent: Vec::new(), receivers: Vec::new(), next_id: 0, senders: 1 };
        model.subscribe();
        for op in ops {
            match op {
                Op::Send(v) => {
                    let Some(tx) = senders.first() else { continue };
                    let got = tx.send(Tracked::new(v, &live)).map_err(|e| e.0.value);
                    let want = if model.receivers.is_empty() { Err(v) } else {
                        let ids = model.receivers.iter().map(|(id, _)| *id).collect();
                        model.sent.push((v, ids));
                        Ok(model.receivers.len())
                    };
                    prop_assert_eq!(got, want);
                }
                Op::TryRecv(i) => {
                    let Some(rx) = receivers.get_mut(i) else { continue };
                    prop_assert_eq!(rx.try_recv().map(|t| t.value), model.try_recv(i));
                }
                Op::RecvNow(i) => {
                    let Some(rx) = receivers.get_mut(i) else { continue };
                    let got = block_on(poll_once(rx.recv())).map(|r| r.map(|t| t.value));
                    let want = match model.try_recv(i) {
                        Ok(v) => Some(Ok(v)),
                        Err(TryRecvError::Empty) => None,
                        Err(TryRecvError::Closed) => Some(Err(RecvError::Closed)),
                        Err(TryRecvError::Lagged(n)) => Some(Err(RecvError::Lagged(n))),
                    };
                    prop_assert_eq!(got, want);
                }
                Op::Subscribe => {
                    let Some(tx) = senders.first() else { continue };
                    receivers.push(tx.subscribe());
                    model.subscribe();
                }
                Op::Resubscribe(i) => {
                    let Some(rx) = receivers.get(i) else { continue };
                    receivers.push(rx.resubscribe());
                    model.subscribe();
                }
                Op::DropReceiver(i) => {
                    if i < receivers.len() {
                        receivers.remove(i);
                        let (id, _) = model.receivers.remove(i);
                        for (_, unread) in &mut model.sent {
                            unread.remove(&id);
                        }
                    }
                }
                Op::CloneSender => {
                    let Some(tx) = senders.first() else { continue };
                    senders.push(tx.clone());
                    model.senders += 1;
                }
                Op::DropSender => {
                    if senders.pop().is_some() {
                        model.senders -= 1;
                    }
                }
            }
            prop_assert_eq!(live.get(), model.stored() as i64, "stored values");
            for (rx, (_, next)) in receivers.iter().zip(&model.receivers) {
                prop_assert_eq!(rx.len(), model.sent.len() - next);
                prop_assert_eq!(rx.is_closed(), model.senders == 0);
            }
            for tx in &senders {
                prop_assert_eq!(tx.len(), model.stored());
                prop_assert_eq!(tx.receiver_count(), model.receivers.len());
            }
        }
        drop(receivers);
        prop_assert_eq!(live.get(), 0, "nothing outlives the receivers");
    }
}
