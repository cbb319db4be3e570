//! Signals through the reactor: `Signals`, `signal`, `ctrl_c`.
//!
//! Signals are per process and these tests share one, so each test uses a
//! signal of its own. The process signals itself with `kill(2)` (through
//! rustix); the example servers' tests signal child processes instead.
#![cfg(target_os = "linux")]

use std::cell::Cell;
use std::future::{poll_fn, Future};
use std::pin::pin;
use std::rc::Rc;

use corio::signal::{ctrl_c, signal, SignalKind, Signals};
use rustix::process::{getpid, kill_process, Signal};

fn raise(signal: Signal) {
    kill_process(getpid(), signal).unwrap();
}

#[test]
fn a_signal_sent_after_registration_is_received_even_before_recv() {
    corio::block_on(async {
        let mut usr1 = signal(SignalKind::user_defined1()).unwrap();
        raise(Signal::USR1); // nobody is awaiting yet: the pipe keeps it
        assert_eq!(usr1.recv().await.unwrap(), SignalKind::user_defined1());
    });
}

#[test]
fn a_parked_task_is_woken_by_the_signal_and_other_tasks_run_meanwhile() {
    corio::block_on(async {
        let mut usr2 = signal(SignalKind::user_defined2()).unwrap();
        let polls = Rc::new(Cell::new(0));
        let waiter = {
            let polls = polls.clone();
            corio::spawn(async move {
                let mut recv = pin!(usr2.recv());
                poll_fn(|cx| {
                    polls.set(polls.get() + 1);
                    recv.as_mut().poll(cx)
                })
                .await
                .unwrap()
            })
        };
        // Let the waiter park, show the runtime is free, then signal from
        // another thread.
        corio::task::yield_now().await;
        assert_eq!(polls.get(), 1, "the waiter parked after one poll");
        assert_eq!(corio::spawn(async { "still running" }).await.unwrap(), "still running");
        assert_eq!(polls.get(), 1, "a parked waiter is not polled (no busy loop)");
        std::thread::spawn(|| raise(Signal::USR2)).join().unwrap();
        assert_eq!(waiter.await.unwrap(), SignalKind::user_defined2());
    });
}

#[test]
fn every_stream_listening_for_a_signal_gets_it_on_any_runtime() {
    // Two streams on this runtime and one on another runtime's thread.
    let (ready_tx, ready) = std::sync::mpsc::channel();
    let other = std::thread::spawn(move || {
        corio::block_on(async move {
            let mut winch = signal(SignalKind::window_change()).unwrap();
            ready_tx.send(()).unwrap();
            winch.recv().await.unwrap()
        })
    });
    ready.recv().unwrap();
    corio::block_on(async {
        let mut first = signal(SignalKind::window_change()).unwrap();
        let mut second = Signals::new([SignalKind::window_change()]).unwrap();
        raise(Signal::WINCH);
        assert_eq!(first.recv().await.unwrap(), SignalKind::window_change());
        assert_eq!(second.recv().await.unwrap(), SignalKind::window_change());
    });
    assert_eq!(other.join().unwrap(), SignalKind::window_change());
}

#[test]
fn one_stream_for_several_signals_says_which_arrived() {
    corio::block_on(async {
        let mut signals = Signals::new([SignalKind::hangup(), SignalKind::quit()]).unwrap();
        raise(Signal::HUP);
        assert_eq!(signals.recv().await.unwrap(), SignalKind::hangup());
        raise(Signal::QUIT);
        assert_eq!(signals.recv().await.unwrap(), SignalKind::quit());
        // Both pending at once: both are reported, one per recv.
        raise(Signal::QUIT);
        raise(Signal::HUP);
        let mut got = [signals.recv().await.unwrap(), signals.recv().await.unwrap()];
        got.sort_by_key(|kind| kind.as_raw());
        assert_eq!(got, [SignalKind::hangup(), SignalKind::quit()]);
    });
}

#[test]
fn ctrl_c_completes_on_sigint() {
    corio::block_on(async {
        let registered = Rc::new(Cell::new(false));
        let waiter = {
            let registered = registered.clone();
            corio::spawn(async move {
                let mut ctrl_c = pin!(ctrl_c());
                poll_fn(|cx| {
                    let poll = ctrl_c.as_mut().poll(cx);
                    registered.set(true); // the first poll installed the handler
                    poll
                })
                .await
            })
        };
        while !registered.get() {
            corio::task::yield_now().await;
        }
        raise(Signal::INT);
        waiter.await.unwrap().unwrap();
    });
}

#[test]
fn signals_that_cannot_be_handled_are_refused() {
    corio::block_on(async {
        for forbidden in [9, 19, 11] {
            // SIGKILL, SIGSTOP, SIGSEGV
            let error = signal(SignalKind::from_raw(forbidden)).unwrap_err();
            assert_eq!(error.kind(), std::io::ErrorKind::InvalidInput, "signal {forbidden}");
        }
        for nonsense in [0, -1, 4000] {
            let error = signal(SignalKind::from_raw(nonsense)).unwrap_err();
            assert_eq!(error.kind(), std::io::ErrorKind::InvalidInput, "signal {nonsense}");
        }
        // In range, but not a signal the OS defines: sigaction says EINVAL.
        assert!(signal(SignalKind::from_raw(100)).is_err());
    });
}

#[test]
fn signal_kinds_print_their_names() {
    assert_eq!(format!("{:?}", SignalKind::terminate()), "SIGTERM");
    assert_eq!(format!("{:?}", SignalKind::from_raw(34)), "SignalKind(34)");
    assert_eq!(SignalKind::from_raw(SignalKind::hangup().as_raw()), SignalKind::hangup());
}
