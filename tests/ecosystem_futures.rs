//! The futures ecosystem on corio, as it is (docs/ECOSYSTEM.md shows this
//! file): `TcpListener::incoming()` as a `Stream` under `StreamExt`
//! combinators; futures' `select!`, `join!` and `FuturesUnordered` over
//! corio's `JoinHandle`s; framing with asynchronous-codec; async-channel and
//! tokio's `sync` types between corio tasks; and, as the limits, the tokio
//! pieces that need a tokio runtime and panic on corio.

use std::time::Duration;

use corio::net::{TcpListener, TcpStream};

/// A runtime whose clock jumps to the next timer when idle: the timers in
/// these tests cost no real time and fire in a fixed order.
fn virtual_time() -> corio::Runtime {
    corio::Runtime::builder().virtual_time(true).build().unwrap()
}

/// `incoming()` is a `futures_core::Stream`: futures-lite's `take` ends the
/// endless stream after three connections.
#[test]
fn incoming_under_futures_lite_take() {
    use futures_lite::StreamExt;

    corio::block_on(async {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let clients = corio::spawn(async move {
            let mut streams = Vec::new();
            for _ in 0..3 {
                streams.push(TcpStream::connect(addr).await.unwrap());
            }
            streams
        });
        let accepted: Vec<TcpStream> = listener.incoming().take(3).map(Result::unwrap).collect().await;
        let clients = clients.await.unwrap();
        let mut ours: Vec<_> = clients.iter().map(|s| s.local_addr().unwrap()).collect();
        let mut theirs: Vec<_> = accepted.iter().map(|s| s.peer_addr().unwrap()).collect();
        ours.sort();
        theirs.sort();
        assert_eq!(ours, theirs, "the three accepted streams are the three clients");
    });
}

/// futures-util's `for_each_concurrent` serves connections concurrently
/// inside one task: all four handlers are in flight at once (each waits
/// until the fourth has arrived), with at most `limit` of them.
#[cfg(feature = "futures-io")]
#[test]
fn incoming_under_futures_util_for_each_concurrent() {
    use futures_util::{AsyncReadExt, AsyncWriteExt, StreamExt};
    use std::cell::Cell;

    const CLIENTS: usize = 4;
    corio::block_on(async {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let clients: Vec<_> = (0..CLIENTS)
            .map(|i| {
                corio::spawn(async move {
                    let mut stream = TcpStream::connect(addr).await.unwrap();
                    stream.write_all(&[i as u8]).await.unwrap();
                    let mut reply = [0u8; 1];
                    stream.read_exact(&mut reply).await.unwrap();
                    reply[0]
                })
            })
            .collect();
        let in_handler = Cell::new(0);
        let all_in = corio::sync::Notify::new();
        listener
            .incoming()
            .take(CLIENTS)
            .for_each_concurrent(CLIENTS, |stream| {
                let (in_handler, all_in) = (&in_handler, &all_in);
                async move {
                    let mut stream = stream.unwrap();
                    let mut byte = [0u8; 1];
                    stream.read_exact(&mut byte).await.unwrap();
                    in_handler.set(in_handler.get() + 1);
                    if in_handler.get() == CLIENTS {
                        all_in.notify_waiters();
                    } else {
                        all_in.notified().await;
                    }
                    stream.write_all(&[byte[0] * 10]).await.unwrap();
                }
            })
            .await;
        for (i, client) in clients.into_iter().enumerate() {
            assert_eq!(client.await.unwrap(), i as u8 * 10);
        }
    });
}

/// futures' `select!` and `join!` take corio's `JoinHandle`s (plain
/// futures); `FuturesUnordered` yields them in the order they finish.
#[test]
fn select_join_and_futures_unordered_over_join_handles() {
    use futures_util::future::FutureExt;
    use futures_util::stream::{FuturesUnordered, StreamExt};

    virtual_time().block_on(async {
        let slow = corio::spawn(async {
            corio::time::sleep(Duration::from_secs(3600)).await;
            "slow"
        });
        let fast = corio::spawn(async {
            corio::time::sleep(Duration::from_secs(1)).await;
            "fast"
        });
        let mut slow = slow.fuse();
        let mut fast = fast.fuse();
        let first = futures_util::select! {
            done = slow => done.unwrap(),
            done = fast => done.unwrap(),
        };
        assert_eq!(first, "fast");

        let (a, b) = futures_util::join!(corio::spawn(async { 1 }), slow);
        assert_eq!((a.unwrap(), b.unwrap()), (1, "slow"));

        let unordered: FuturesUnordered<_> = (1..=5u64)
            .map(|i| {
                corio::spawn(async move {
                    corio::time::sleep(Duration::from_secs(10 - i)).await; // the last spawned ends first
                    i
                })
            })
            .collect();
        let order: Vec<u64> = unordered.map(Result::unwrap).collect().await;
        assert_eq!(order, [5, 4, 3, 2, 1]);
    });
}

/// asynchronous-codec frames a corio `TcpStream` (through `futures_io`) into
/// a `Stream` + `Sink` of lines.
#[cfg(feature = "futures-io")]
#[test]
fn asynchronous_codec_lines_over_a_corio_tcp_stream() {
    use asynchronous_codec::{Framed, LinesCodec};
    use futures_util::{SinkExt, StreamExt};

    corio::block_on(async {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        corio::spawn(async move {
            let (stream, _) = listener.accept().await.unwrap();
            let mut lines = Framed::new(stream, LinesCodec);
            while let Some(line) = lines.next().await {
                let line = line.unwrap();
                lines.send(format!("{} chars\n", line.trim_end().len())).await.unwrap();
            }
        });
        let mut lines = Framed::new(TcpStream::connect(addr).await.unwrap(), LinesCodec);
        lines.send("hello\n".to_string()).await.unwrap();
        lines.send("corio runtime\n".to_string()).await.unwrap();
        assert_eq!(lines.next().await.unwrap().unwrap(), "5 chars\n");
        assert_eq!(lines.next().await.unwrap().unwrap(), "13 chars\n");
    });
}

/// async-channel's bounded channel between corio tasks: the producer is
/// suspended while the channel is full (backpressure), and the receiver sees
/// the end once every sender is gone.
#[test]
fn async_channel_between_corio_tasks() {
    corio::block_on(async {
        let (tx, rx) = async_channel::bounded::<u32>(2);
        let producer = corio::spawn(async move {
            for i in 0..100 {
                tx.send(i).await.unwrap();
            }
        });
        // Let the producer run as long as it can: it fills the channel and
        // is suspended in `send`, not finished.
        for _ in 0..10 {
            corio::task::yield_now().await;
        }
        assert_eq!(rx.len(), 2);
        assert!(!producer.is_finished());
        let mut sum = 0;
        while let Ok(i) = rx.recv().await {
            sum += i;
        }
        producer.await.unwrap();
        assert_eq!(sum, (0..100).sum());
    });
}

/// tokio's `sync` types need no tokio runtime: its mpsc, Mutex and oneshot
/// work between corio tasks as they are.
#[test]
fn tokio_sync_types_between_corio_tasks() {
    use std::rc::Rc;

    corio::block_on(async {
        let (tx, mut rx) = tokio::sync::mpsc::channel::<u32>(4);
        let total = Rc::new(tokio::sync::Mutex::new(0u32));
        let (done_tx, done_rx) = tokio::sync::oneshot::channel();
        let consumer = corio::spawn({
            let total = total.clone();
            async move {
                while let Some(n) = rx.recv().await {
                    let mut guard = total.lock().await;
                    corio::task::yield_now().await; // a lock held across an await
                    *guard += n;
                }
                done_tx.send(()).unwrap();
            }
        });
        for n in 1..=10 {
            tx.send(n).await.unwrap();
        }
        drop(tx);
        done_rx.await.unwrap();
        consumer.await.unwrap();
        assert_eq!(*total.lock().await, 55);
    });
}

/// What cannot run: tokio's timers and sockets look for a tokio runtime's
/// reactor and panic on a corio thread. Use `corio::time` and `corio::net`.
#[test]
#[should_panic(expected = "no reactor running")]
fn tokio_time_panics_on_corio() {
    corio::block_on(async {
        tokio::time::sleep(Duration::from_millis(1)).await;
    });
}

#[test]
#[should_panic(expected = "no reactor running")]
fn tokio_net_panics_on_corio() {
    corio::block_on(async {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let _ = tokio::net::TcpStream::connect(listener.local_addr().unwrap()).await;
    });
}
