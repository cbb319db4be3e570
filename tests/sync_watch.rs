//! `corio::sync::watch` through the public API, with tokio's watch
//! semantics as the spec, and a generated test against a reference model.

use std::cell::Cell;
use std::rc::Rc;
use std::time::Duration;

use corio::sync::watch::{self, RecvError};
use corio::task::yield_now;
use corio::time::timeout;
use corio::{spawn, Runtime};
use futures_lite::future::{block_on, poll_once};
use proptest::prelude::*;

fn virtual_rt() -> Runtime {
    Runtime::builder().virtual_time(true).build().unwrap()
}

#[test]
fn a_receiver_sees_the_latest_value_and_waits_for_the_next() {
    virtual_rt().block_on(async {
        let (tx, mut rx) = watch::channel(1);
        assert!(!rx.has_changed().unwrap(), "the initial value counts as seen");
        tx.send(2).unwrap();
        tx.send(3).unwrap(); // overwrites 2: a watch keeps only the latest
        assert!(rx.has_changed().unwrap());
        rx.changed().await.unwrap();
        assert_eq!(*rx.borrow(), 3);
        let waiting = timeout(Duration::from_secs(1), rx.changed()).await;
        assert!(waiting.is_err(), "no new value: changed() waits");
    });
}

#[test]
fn borrow_and_update_marks_seen_borrow_does_not() {
    let (tx, mut rx) = watch::channel("a");
    tx.send("b").unwrap();
    {
        let peek = rx.borrow();
        assert_eq!(*peek, "b");
        assert!(peek.has_changed());
    }
    assert!(rx.has_changed().unwrap());
    assert!(rx.borrow_and_update().has_changed());
    assert!(!rx.has_changed().unwrap());
    assert!(!rx.borrow_and_update().has_changed());
    rx.mark_changed();
    assert!(rx.has_changed().unwrap());
    rx.mark_unchanged();
    assert!(!rx.has_changed().unwrap());
    assert!(!tx.borrow().has_changed(), "the sender's view never counts as changed");
}

#[test]
fn one_send_wakes_every_waiting_receiver() {
    virtual_rt().block_on(async {
        let (tx, rx) = watch::channel(0u32);
        let woken = Rc::new(Cell::new(0));
        let tasks: Vec<_> = (0..100)
            .map(|_| {
                let (mut rx, woken) = (rx.clone(), woken.clone());
                spawn(async move {
                    rx.changed().await.unwrap();
                    woken.set(woken.get() + 1);
                    *rx.borrow()
                })
            })
            .collect();
        yield_now().await; // all park
        assert_eq!(woken.get(), 0);
        tx.send(7).unwrap();
        for task in tasks {
            assert_eq!(task.await.unwrap(), 7);
        }
        assert_eq!(woken.get(), 100);
    });
}

#[test]
fn send_fails_without_receivers_and_keeps_the_old_value() {
    let (tx, rx) = watch::channel(1);
    drop(rx);
    assert!(tx.is_closed());
    assert_eq!(tx.send(2), Err(watch::SendError(2)));
    assert_eq!(*tx.borrow(), 1, "a failed send stores nothing");
    assert_eq!(tx.send_replace(3), 1, "send_replace stores whatever happens");
    let rx = tx.subscribe();
    assert_eq!(*rx.borrow(), 3);
    assert!(!rx.has_changed().unwrap(), "a new subscriber has seen the current value");
    assert!(tx.send(4).is_ok());
}

#[test]
fn send_if_modified_wakes_only_when_told_to() {
    virtual_rt().block_on(async {
        let (tx, mut rx) = watch::channel(vec![1]);
        assert!(!tx.send_if_modified(|_| false));
        assert!(timeout(Duration::from_secs(1), rx.changed()).await.is_err());
        tx.send_modify(|v| v.push(2));
        rx.changed().await.unwrap();
        assert_eq!(*rx.borrow_and_update(), [1, 2]);
        assert!(tx.send_if_modified(|v| {
            v.clear();
            true
        }));
        rx.changed().await.unwrap();
        assert!(rx.borrow().is_empty());
    });
}

#[test]
fn dropping_the_last_sender_closes_after_the_last_unseen_value() {
    virtual_rt().block_on(async {
        let (tx, mut rx) = watch::channel(0);
        let tx2 = tx.clone();
        assert_eq!(tx.sender_count(), 2);
        tx.send(1).unwrap();
        drop(tx);
        assert!(!rx.is_closed(), "one sender is left");
        drop(tx2);
        assert!(rx.is_closed());
        assert_eq!(rx.has_changed(), Err(RecvError), "has_changed reports the close first (as tokio)");
        assert_eq!(rx.changed().await, Ok(()), "but changed() still delivers the unseen value");
        assert_eq!(*rx.borrow(), 1);
        assert_eq!(rx.changed().await, Err(RecvError));
    });
}

#[test]
fn a_parked_receiver_wakes_when_the_sender_drops() {
    virtual_rt().block_on(async {
        let (tx, mut rx) = watch::channel(());
        let waiter = spawn(async move { rx.changed().await });
        yield_now().await;
        drop(tx);
        assert_eq!(waiter.await.unwrap(), Err(RecvError));
    });
}

#[test]
fn sender_closed_completes_when_the_last_receiver_drops() {
    virtual_rt().block_on(async {
        let (tx, rx) = watch::channel(0);
        let rx2 = rx.clone();
        assert_eq!(tx.receiver_count(), 2);
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
        assert!(tx.is_closed());
    });
}

#[test]
fn wait_for_checks_the_current_value_then_each_change() {
    virtual_rt().block_on(async {
        let (tx, mut rx) = watch::channel(5);
        assert_eq!(*rx.wait_for(|n| *n > 1).await.unwrap(), 5, "already true: at once");
        let waiter = spawn(async move { rx.wait_for(|n| *n >= 10).await.map(|v| *v) });
        for n in 6..=12 {
            tx.send_replace(n); // `send` would fail once the waiter is done
            yield_now().await;
        }
        assert_eq!(waiter.await.unwrap(), Ok(10));
        let (tx, mut rx) = watch::channel(0);
        drop(tx);
        assert!(rx.wait_for(|n| *n == 1).await.is_err(), "closed and never true");
    });
}

#[test]
fn a_dropped_changed_future_marks_nothing_seen() {
    virtual_rt().block_on(async {
        let (tx, mut rx) = watch::channel(0);
        assert!(timeout(Duration::from_millis(10), rx.changed()).await.is_err());
        tx.send(1).unwrap();
        assert!(rx.has_changed().unwrap());
        // Ready at once, then dropped by `timeout` before being awaited again:
        assert_eq!(timeout(Duration::from_secs(1), rx.changed()).await, Ok(Ok(())));
        assert!(!rx.has_changed().unwrap(), "only the poll that returned marked it");
    });
}

#[test]
fn a_cloned_receiver_has_seen_what_the_original_saw() {
    let (tx, mut rx) = watch::channel(0);
    tx.send(1).unwrap();
    let unseen = rx.clone();
    rx.borrow_and_update();
    let seen = rx.clone();
    assert!(unseen.has_changed().unwrap());
    assert!(!seen.has_changed().unwrap());
    assert!(seen.same_channel(&unseen));
    let (other_tx, _) = watch::channel(0);
    assert!(!other_tx.same_channel(&tx));
}

#[test]
#[should_panic(expected = "a `Ref` to the value is still alive")]
fn sending_while_a_borrow_is_alive_panics_instead_of_deadlocking() {
    let (tx, rx) = watch::channel(0);
    let _held = rx.borrow();
    let _ = tx.send(1);
}

#[test]
fn sender_new_starts_without_receivers() {
    let tx = watch::Sender::new("x");
    assert_eq!(tx.receiver_count(), 0);
    assert!(tx.send("y").is_err());
    let rx = tx.subscribe();
    assert_eq!(*rx.borrow(), "x");
}

// ---- generated: random operation sequences against a reference model ----

#[derive(Debug, Clone)]
enum Op {
    Send(u8),
    SendReplace(u8),
    SendIfModified(u8, bool),
    Borrow(usize),
    BorrowAndUpdate(usize),
    HasChanged(usize),
    ChangedNow(usize),
    Subscribe,
    CloneReceiver(usize),
    DropReceiver(usize),
    CloneSender,
    DropSender,
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        any::<u8>().prop_map(Op::Send),
        any::<u8>().prop_map(Op::SendReplace),
        (any::<u8>(), any::<bool>()).prop_map(|(v, m)| Op::SendIfModified(v, m)),
        (0..4usize).prop_map(Op::Borrow),
        (0..4usize).prop_map(Op::BorrowAndUpdate),
        (0..4usize).prop_map(Op::HasChanged),
        (0..4usize).prop_map(Op::ChangedNow),
        Just(Op::Subscribe),
        (0..4usize).prop_map(Op::CloneReceiver),
        (0..4usize).prop_map(Op::DropReceiver),
        Just(Op::CloneSender),
        Just(Op::DropSender),
    ]
}

/// The model: one value, a version, and the version each receiver saw.
struct Model {
    value: u8,
    version: u64,
    senders: usize,
    seen: Vec<u64>,
}

proptest! {
    // 256 cases by default; PROPTEST_CASES scales it (.ci/valgrind uses fewer).
    #![proptest_config(ProptestConfig::default())]

    #[test]
    #[cfg_attr(miri, ignore = "proptest reads its regression files (isolated under Miri); too many cases")]
    fn watch_matches_the_model(ops in prop::collection::vec(op(), 1..60)) {
        let (tx, rx) = watch::channel(0u8);
        let mut senders = vec![tx];
        let mut receivers = vec![rx];
        let mut model = Model { value: 0, version: 0, senders: 1, seen: vec![0] };
        for op in ops {
            match op {
                Op::Send(v) => {
                    let Some(tx) = senders.first() else { continue };
                    let got = tx.send(v).map_err(|e| e.0);
                    let want = if model.seen.is_empty() { Err(v) } else {
                        model.value = v;
                        model.version += 1;
                        Ok(())
                    };
                    prop_assert_eq!(got, want);
                }
                Op::SendReplace(v) => {
                    let Some(tx) = senders.first() else { continue };
                    prop_assert_eq!(tx.send_replace(v), model.value);
                    model.value = v;
                    model.version += 1;
                }
                Op::SendIfModified(v, modified) => {
                    let Some(tx) = senders.first() else { continue };
                    let got = tx.send_if_modified(|value| {
                        if modified { *value = v; }
                        modified
                    });
                    prop_assert_eq!(got, modified);
                    if modified {
                        model.value = v;
                        model.version += 1;
                    }
                }
                Op::Borrow(i) => {
                    let Some(rx) = receivers.get(i) else { continue };
                    let seen = rx.borrow();
                    prop_assert_eq!((*seen, seen.has_changed()), (model.value, model.seen[i] != model.version));
                }
                Op::BorrowAndUpdate(i) => {
                    let Some(rx) = receivers.get_mut(i) else { continue };
                    let seen = rx.borrow_and_update();
                    prop_assert_eq!((*seen, seen.has_changed()), (model.value, model.seen[i] != model.version));
                    model.seen[i] = model.version;
                }
                Op::HasChanged(i) => {
                    let Some(rx) = receivers.get(i) else { continue };
                    let want = if model.senders == 0 { Err(RecvError) } else { Ok(model.seen[i] != model.version) };
                    prop_assert_eq!(rx.has_changed(), want);
                }
                Op::ChangedNow(i) => {
                    let Some(rx) = receivers.get_mut(i) else { continue };
                    let got = block_on(poll_once(rx.changed()));
                    let want = if model.seen[i] != model.version {
                        model.seen[i] = model.version;
                        Some(Ok(()))
                    } else if model.senders == 0 {
                        Some(Err(RecvError))
                    } else {
                        None
                    };
                    prop_assert_eq!(got, want);
                }
                Op::Subscribe => {
                    let Some(tx) = senders.first() else { continue };
                    receivers.push(tx.subscribe());
                    model.seen.push(model.version);
                }
                Op::CloneReceiver(i) => {
                    let Some(rx) = receivers.get(i) else { continue };
                    receivers.push(rx.clone());
                    model.seen.push(model.seen[i]);
                }
                Op::DropReceiver(i) => {
                    if i < receivers.len() {
                        receivers.remove(i);
                        model.seen.remove(i);
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
            for rx in &receivers {
                prop_assert_eq!(rx.is_closed(), model.senders == 0);
                prop_assert_eq!(*rx.borrow(), model.value);
            }
            for tx in &senders {
                prop_assert_eq!(tx.receiver_count(), model.seen.len());
                prop_assert_eq!(tx.sender_count(), model.senders);
            }
        }
    }
}
