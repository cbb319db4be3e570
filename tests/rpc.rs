//! RPC behaviour through the public API: a live server and client on
//! loopback, in one runtime (virtual time where the test is about time).

use std::cell::Cell;
use std::future::poll_fn;
use std::net::SocketAddr;
use std::rc::Rc;
use std::task::{Poll, Waker};
use std::time::Duration;

use corio::net::TcpListener;
use corio::rpc::{Client, RpcError, Server};
use corio::time::{sleep, timeout};

/// Binds port 0, spawns `server` on the current runtime, returns the address.
async fn start(server: Server) -> SocketAddr {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    corio::spawn(server.serve(listener));
    addr
}

fn echo_server() -> Server {
    Server::new().route("echo", |request| async move { Ok(request.into_payload()) })
}

fn virtual_runtime() -> corio::Runtime {
    corio::Runtime::builder().virtual_time(true).build().unwrap()
}

/// Counts drops: a handler holding one shows whether it ran to the end or
/// was dropped (cancelled).
struct DropCounter(Rc<Cell<u32>>);

impl Drop for DropCounter {
    fn drop(&mut self) {
        self.0.set(self.0.get() + 1);
    }
}

/// Waits (on real or virtual time) until `done` holds, at most ~5 s.
async fn eventually(mut done: impl FnMut() -> bool) {
    for _ in 0..5000 {
        if done() {
            return;
        }
        sleep(Duration::from_millis(1)).await;
    }
    panic!("condition not reached in time");
}

#[test]
fn ten_thousand_concurrent_calls_on_one_connection() {
    corio::block_on(async {
        let addr = start(echo_server().max_in_flight(100_000)).await;
        let client = Client::connect(addr).await.unwrap();
        let calls: Vec<_> = (0..10_000u32)
            .map(|i| {
                let client = client.clone();
                corio::spawn(async move { (i, client.call("echo", &i.to_le_bytes()).await) })
            })
            .collect();
        for call in calls {
            let (i, answer) = call.await.unwrap();
            assert_eq!(answer.unwrap(), i.to_le_bytes());
        }
        assert_eq!(client.in_flight(), 0);
    });
}

#[test]
fn answers_arrive_out_of_order_and_match_their_calls() {
    virtual_runtime().block_on(async {
        let server = Server::new().route("sleep", |request| async move {
            let ms = u64::from(request.payload()[0]);
            sleep(Duration::from_millis(ms)).await;
            Ok(request.into_payload())
        });
        let client = Client::connect(start(server).await).await.unwrap();
        let finished = Rc::new(std::cell::RefCell::new(Vec::new()));
        let calls: Vec<_> = (1..=20u8)
            .map(|i| {
                let (client, finished) = (client.clone(), finished.clone());
                // The first call sleeps longest: answers come back reversed.
                corio::spawn(async move {
                    let delay = 100 - i;
                    let answer = client.call("sleep", &[delay, i]).await.unwrap();
                    assert_eq!(answer, [delay, i]);
                    finished.borrow_mut().push(i);
                })
            })
            .collect();
        for call in calls {
            call.await.unwrap();
        }
        let expected: Vec<u8> = (1..=20).rev().collect();
        assert_eq!(*finished.borrow(), expected);
    });
}

#[test]
fn client_deadline_expires_and_the_server_drops_the_handler() {
    virtual_runtime().block_on(async {
        let dropped = Rc::new(Cell::new(0));
        let counter = dropped.clone();
        let server = Server::new().route("slow", move |_| {
            let guard = DropCounter(counter.clone());
            async move {
                let _guard = guard;
                sleep(Duration::from_secs(3600)).await;
                Ok(Vec::new())
            }
        });
        let client = Client::connect(start(server).await).await.unwrap();
        let started = corio::time::Instant::now();
        let answer = client.call_with_deadline("slow", b"", Duration::from_secs(2)).await;
        assert!(matches!(answer, Err(RpcError::Timeout)), "{answer:?}");
        assert!(started.elapsed() >= Duration::from_secs(2));
        assert!(started.elapsed() < Duration::from_secs(3));
        eventually(|| dropped.get() == 1).await;
        assert_eq!(client.in_flight(), 0);
    });
}

#[test]
fn default_timeout_applies_to_every_call() {
    virtual_runtime().block_on(async {
        let server = Server::new().route("never", |_| std::future::pending());
        let client = Client::builder()
            .default_timeout(Duration::from_secs(5))
            .connect(start(server).await)
            .await
            .unwrap();
        let answer = client.call("never", b"").await;
        assert!(matches!(answer, Err(RpcError::Timeout)), "{answer:?}");
    });
}

#[test]
fn server_enforces_the_deadline_carried_in_the_request() {
    use corio::frame::{self, Decoder, Frame, ReadBuffer};
    use corio::io::{AsyncReadExt, AsyncWriteExt};

    virtual_runtime().block_on(async {
        let dropped = Rc::new(Cell::new(0));
        let counter = dropped.clone();
        let server = Server::new().route("slow", move |_| {
            let guard = DropCounter(counter.clone());
            async move {
                let _guard = guard;
                sleep(Duration::from_secs(3600)).await;
                Ok(Vec::new())
            }
        });
        // A raw client that sends a deadline but never cancels: only the
        // server's own timer can end the call.
        let mut stream = corio::net::TcpStream::connect(start(server).await).await.unwrap();
        let mut wire = Vec::new();
        frame::encode_request(&mut wire, 9, "slow", Some(Duration::from_secs(1)), b"").unwrap();
        stream.write_all(&wire).await.unwrap();
        let mut buffer = ReadBuffer::new();
        let answer = loop {
            if let Some(frame) = Decoder::new().decode(&mut buffer).unwrap() {
                break frame;
            }
            let n = stream.read(buffer.unfilled()).await.unwrap();
            assert!(n > 0, "server closed without answering");
            buffer.advance(n);
        };
        assert!(
            matches!(&answer, Frame::Error { id: 9, code: frame::code::DEADLINE_EXCEEDED, .. }),
            "{answer:?}"
        );
        assert_eq!(dropped.get(), 1);
    });
}

#[test]
fn dropping_a_call_cancels_the_handler_on_the_server() {
    virtual_runtime().block_on(async {
        let (started, dropped) = (Rc::new(Cell::new(0)), Rc::new(Cell::new(0)));
        let (s, d) = (started.clone(), dropped.clone());
        let server = Server::new().route("wait", move |_| {
            s.set(s.get() + 1);
            let guard = DropCounter(d.clone());
            async move {
                let _guard = guard;
                std::future::pending::<()>().await;
                Ok(Vec::new())
            }
        });
        let client = Client::connect(start(server).await).await.unwrap();
        // A call abandoned by its caller: `timeout` drops the call future.
        let abandoned = timeout(Duration::from_millis(50), client.call("wait", b"")).await;
        assert!(abandoned.is_err());
        assert_eq!(client.in_flight(), 0, "the id is freed at once");
        // The same for a task that is aborted while its call waits.
        let task = corio::spawn({
            let client = client.clone();
            async move { client.call("wait", b"").await }
        });
        eventually(|| started.get() == 2).await;
        task.abort();
        eventually(|| dropped.get() == 2).await;
        assert_eq!(started.get(), 2);
    });
}

#[test]
fn connection_loss_fails_every_pending_call_at_once() {
    use corio::io::AsyncReadExt;
    corio::block_on(async {
        // A "server" that reads some requests, then drops the connection.
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        corio::spawn(async move {
            let (mut stream, _) = listener.accept().await.unwrap();
            let mut buf = [0u8; 1024];
            let _ = stream.read(&mut buf).await;
            drop(stream);
        });
        let client = Client::connect(addr).await.unwrap();
        let calls: Vec<_> = (0..100)
            .map(|_| {
                let client = client.clone();
                corio::spawn(async move { client.call("anything", b"x").await })
            })
            .collect();
        let all = async {
            for call in calls {
                let answer = call.await.unwrap();
                assert!(matches!(answer, Err(RpcError::ConnectionClosed | RpcError::Io(_))), "{answer:?}");
            }
        };
        timeout(Duration::from_secs(5), all).await.expect("a pending call hung");
        let late = client.call("anything", b"").await;
        assert!(matches!(late, Err(RpcError::ConnectionClosed | RpcError::Io(_))), "{late:?}");
    });
}

#[test]
fn backpressure_bounds_the_handlers_in_flight() {
    corio::block_on(async {
        let (running, peak) = (Rc::new(Cell::new(0usize)), Rc::new(Cell::new(0usize)));
        let (r, p) = (running.clone(), peak.clone());
        let server = Server::new().max_in_flight(8).route("slow", move |request| {
            let (r, p) = (r.clone(), p.clone());
            async move {
                r.set(r.get() + 1);
                p.set(p.get().max(r.get()));
                sleep(Duration::from_millis(2)).await;
                r.set(r.get() - 1);
                Ok(request.into_payload())
            }
        });
        let client = Client::connect(start(server).await).await.unwrap();
        let calls: Vec<_> = (0..400u32)
            .map(|i| {
                let client = client.clone();
                corio::spawn(async move {
                    assert_eq!(client.call("slow", &i.to_be_bytes()).await.unwrap(), i.to_be_bytes())
                })
            })
            .collect();
        for call in calls {
            call.await.unwrap();
        }
        assert_eq!(peak.get(), 8, "the server ran at most max_in_flight handlers at once");
    });
}

#[test]
fn unknown_method_gets_an_error_and_the_connection_stays_open() {
    corio::block_on(async {
        let client = Client::connect(start(echo_server()).await).await.unwrap();
        let answer = client.call("nope", b"").await;
        assert!(matches!(&answer, Err(RpcError::UnknownMethod(m)) if m == "nope"), "{answer:?}");
        assert_eq!(client.call("echo", b"still here").await.unwrap(), b"still here");
    });
}

#[test]
fn handler_panic_is_an_internal_error_and_the_server_keeps_serving() {
    corio::block_on(async {
        let logs = Rc::new(std::cell::RefCell::new(Vec::<String>::new()));
        let sink = logs.clone();
        let server = echo_server()
            .route("boom", |_| async { panic!("handler exploded") })
            .on_log(move |line| sink.borrow_mut().push(line.to_owned()));
        let client = Client::connect(start(server).await).await.unwrap();
        let answer = client.call("boom", b"").await;
        assert!(
            matches!(&answer, Err(RpcError::Internal(m)) if m.contains("handler exploded")),
            "{answer:?}"
        );
        assert_eq!(client.call("echo", b"ok").await.unwrap(), b"ok");
        assert!(logs.borrow().iter().any(|line| line.contains("panicked")), "{:?}", logs.borrow());
    });
}

#[test]
fn application_errors_keep_their_code_and_message() {
    corio::block_on(async {
        let server = Server::new()
            .route("deny", |_| async { Err(RpcError::Remote { code: 1001, message: "not allowed".into() }) });
        let client = Client::connect(start(server).await).await.unwrap();
        let answer = client.call("deny", b"").await;
        assert!(matches!(&answer, Err(RpcError::Remote { code: 1001, message }) if message == "not allowed"));
    });
}

/// A one-shot signal: `fire` completes every `wait`.
#[derive(Clone, Default)]
struct Signal(Rc<(Cell<bool>, Cell<Option<Waker>>)>);

impl Signal {
    fn fire(&self) {
        self.0 .0.set(true);
        if let Some(waker) = self.0 .1.take() {
            waker.wake();
        }
    }

    async fn wait(self) {
        poll_fn(|cx| {
            if self.0 .0.get() {
                return Poll::Ready(());
            }
            self.0 .1.set(Some(cx.waker().clone()));
            Poll::Pending
        })
        .await;
    }
}

#[test]
fn graceful_shutdown_answers_every_accepted_call() {
    corio::block_on(async {
        let started = Rc::new(Cell::new(0));
        let s = started.clone();
        let server = Server::new().route("slow", move |request| {
            s.set(s.get() + 1);
            async move {
                sleep(Duration::from_millis(30)).await;
                Ok(request.into_payload())
            }
        });
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let signal = Signal::default();
        let serving = corio::spawn(server.serve_with_shutdown(listener, signal.clone().wait()));

        let client = Client::connect(addr).await.unwrap();
        let calls: Vec<_> = (0..50u32)
            .map(|i| {
                let client = client.clone();
                corio::spawn(async move { client.call("slow", &i.to_be_bytes()).await.map(|a| (i, a)) })
            })
            .collect();
        eventually(|| started.get() == 50).await;
        signal.fire();
        for call in calls {
            let (i, answer) = call.await.unwrap().expect("an accepted call was lost");
            assert_eq!(answer, i.to_be_bytes());
        }
        timeout(Duration::from_secs(5), serving).await.expect("serve returns").unwrap().unwrap();
        // Stopped: the connection is closed and no one accepts.
        let late = client.call("slow", b"").await;
        assert!(late.is_err(), "{late:?}");
        assert!(Client::connect(addr).await.is_err());
    });
}

#[test]
fn shutdown_grace_cancels_calls_that_run_too_long() {
    virtual_runtime().block_on(async {
        let server =
            Server::new().shutdown_grace(Duration::from_secs(1)).route("never", |_| std::future::pending());
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let signal = Signal::default();
        let serving = corio::spawn(server.serve_with_shutdown(listener, signal.clone().wait()));
        let client = Client::connect(addr).await.unwrap();
        let call = corio::spawn({
            let client = client.clone();
            async move { client.call("never", b"").await }
        });
        eventually(|| client.in_flight() == 1).await;
        sleep(Duration::from_millis(10)).await;
        signal.fire();
        let answer = call.await.unwrap();
        // Code 3: the handler ran and was cut short, so the call may have
        // been partly done (code 7 would promise it was not processed).
        assert!(matches!(&answer, Err(RpcError::Cancelled)), "{answer:?}");
        serving.await.unwrap().unwrap();
    });
}

#[test]
fn calls_made_in_one_tick_leave_in_one_write() {
    use std::io::Read;
    // A raw peer on its own thread: how many frames arrive in its first read?
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let (mut stream, _) = listener.accept().unwrap();
        let mut bytes = vec![0; 1 << 20];
        let n = stream.read(&mut bytes).unwrap();
        let mut buffer = corio::frame::ReadBuffer::new();
        buffer.extend_from_slice(&bytes[..n]);
        let decoder = corio::frame::Decoder::new();
        tx.send(std::iter::from_fn(|| decoder.decode(&mut buffer).unwrap()).count()).unwrap();
    });
    corio::block_on(async {
        let client = Client::connect(addr).await.unwrap();
        let calls: Vec<_> = (0..100)
            .map(|_| {
                let client = client.clone();
                corio::spawn(async move { client.call("echo", &[1; 16]).await })
            })
            .collect();
        // Let the calls and the writer run (blocking here would stall them).
        let mut first_read = None;
        eventually(|| {
            first_read = rx.try_recv().ok();
            first_read.is_some()
        })
        .await;
        let first_read = first_read.unwrap();
        assert_eq!(first_read, 100, "all 100 requests went out in the first write");
        for call in calls {
            call.abort();
        }
    });
}

#[test]
fn an_answer_over_the_client_limit_fails_the_calls_with_its_size() {
    corio::block_on(async {
        let addr = start(echo_server()).await;
        let client = Client::builder().max_frame_size(100).connect(addr).await.unwrap();
        assert_eq!(client.call("echo", &[1; 10]).await.unwrap(), [1; 10]);
        // The answer's frame is 13 + 200 bytes after its length prefix.
        let answer = client.call("echo", &[2; 200]).await;
        assert!(matches!(answer, Err(RpcError::FrameTooLarge { size: 213, limit: 100 })), "{answer:?}");
        // The stream is out of step now: the connection is failed for good.
        let late = client.call("echo", b"").await;
        assert!(matches!(late, Err(RpcError::FrameTooLarge { .. })), "{late:?}");
    });
}
