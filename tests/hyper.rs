//! hyper 1.x on corio (feature `hyper`): hyper's own HTTP/1 and HTTP/2
//! servers and clients, driven through `corio::hyper::{HyperIo,
//! HyperExecutor, HyperTimer}`.
//!
//! Run with `cargo test --features hyper --test hyper`
//! (`cargo test --workspace --all-features` includes it).

#![cfg(feature = "hyper")]

use std::cell::Cell;
use std::convert::Infallible;
use std::rc::Rc;
use std::time::Duration;

use corio::hyper::{HyperExecutor, HyperIo, HyperTimer};
use corio::io::{AsyncReadExt, AsyncWriteExt};
use corio::net::{TcpListener, TcpStream, UnixStream};
use corio::sync::Notify;
use http_body_util::{BodyExt, Full};
use hyper::body::{Bytes, Incoming};
use hyper::rt::{Executor, Timer};
use hyper::{Request, Response};

/// Answers `GET /n` with the number of requests this service answered so
/// far (state in an `Rc`: not `Send`), and `POST` with its body reversed.
fn counting_service(
    count: Rc<Cell<u32>>,
) -> impl hyper::service::Service<Request<Incoming>, Response = Response<Full<Bytes>>, Error = hyper::Error> {
    hyper::service::service_fn(move |request: Request<Incoming>| {
        let count = count.clone();
        async move {
            count.set(count.get() + 1);
            let body = if request.method() == hyper::Method::POST {
                let mut bytes = request.into_body().collect().await?.to_bytes().to_vec();
                bytes.reverse();
                Bytes::from(bytes)
            } else {
                Bytes::from(count.get().to_string())
            };
            Ok(Response::new(Full::new(body)))
        }
    })
}

fn get(path: &str) -> Request<Full<Bytes>> {
    Request::get(path).header("host", "localhost").body(Full::default()).unwrap()
}

fn post(path: &str, body: Vec<u8>) -> Request<Full<Bytes>> {
    Request::post(path).header("host", "localhost").body(Full::new(Bytes::from(body))).unwrap()
}

async fn body_of(response: Response<Incoming>) -> Bytes {
    response.into_body().collect().await.unwrap().to_bytes()
}

/// 3 MiB of a pattern that does not repeat at any power-of-two period.
fn big_body() -> Vec<u8> {
    (0..3 * 1024 * 1024).map(|i: u32| (i % 251) as u8).collect()
}

#[test]
fn http1_server_and_client_over_tcp_keep_alive_and_a_large_body() {
    corio::block_on(async {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let count = Rc::new(Cell::new(0));
        let server = corio::spawn({
            let count = count.clone();
            async move {
                let (stream, _) = listener.accept().await.unwrap();
                hyper::server::conn::http1::Builder::new()
                    .timer(HyperTimer::new())
                    .serve_connection(HyperIo::new(stream), counting_service(count))
                    .await
            }
        });

        let stream = TcpStream::connect(addr).await.unwrap();
        let (mut sender, connection) =
            hyper::client::conn::http1::handshake(HyperIo::new(stream)).await.unwrap();
        let connection = corio::spawn(connection);
        // Three requests, one connection: keep-alive.
        for n in 1..=3 {
            let response = sender.send_request(get("/n")).await.unwrap();
            assert_eq!(response.status(), 200);
            assert_eq!(body_of(response).await, n.to_string());
        }
        // A body much larger than one read (the scratch buffer holds 64 KiB,
        // a socket buffer less): many reads and writes on both sides, every
        // byte intact, in order.
        let big = big_body();
        let response = sender.send_request(post("/", big.clone())).await.unwrap();
        let reversed: Vec<u8> = big.into_iter().rev().collect();
        assert!(body_of(response).await == reversed, "the echoed body differs");
        assert_eq!(count.get(), 4);

        // Dropping the sender ends the client connection; the server's
        // serve_connection then returns Ok.
        drop(sender);
        connection.await.unwrap().unwrap();
        server.await.unwrap().unwrap();
    });
}

#[test]
fn http1_over_a_unix_stream_pair() {
    corio::block_on(async {
        let (client, server) = UnixStream::pair().unwrap();
        let count = Rc::new(Cell::new(0));
        let server = corio::spawn(
            hyper::server::conn::http1::Builder::new()
                .serve_connection(HyperIo::new(server), counting_service(count)),
        );
        let (mut sender, connection) =
            hyper::client::conn::http1::handshake(HyperIo::new(client)).await.unwrap();
        corio::spawn(connection);
        let response = sender.send_request(post("/", b"corio".to_vec())).await.unwrap();
        assert_eq!(body_of(response).await, "oiroc");
        drop(sender);
        server.await.unwrap().unwrap();
    });
}

/// HTTP/2: hyper spawns a task per stream through `HyperExecutor`, on both
/// sides. Ten requests on one connection are all in its handler at once
/// (the handler waits until the tenth arrives), which only multiplexing
/// can do; the handler holds an `Rc` (not `Send`).
#[test]
fn http2_server_and_client_multiplex_on_the_corio_executor() {
    const STREAMS: u32 = 10;
    corio::block_on(async {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let arrived = Rc::new(Cell::new(0u32));
        let all_arrived = Rc::new(Notify::new());
        let service = {
            let (arrived, all_arrived) = (arrived.clone(), all_arrived.clone());
            hyper::service::service_fn(move |request: Request<Incoming>| {
                let (arrived, all_arrived) = (arrived.clone(), all_arrived.clone());
                async move {
                    arrived.set(arrived.get() + 1);
                    if arrived.get() == STREAMS {
                        all_arrived.notify_waiters();
                    } else {
                        all_arrived.notified().await;
                    }
                    let path = request.uri().path().to_string();
                    Ok::<_, Infallible>(Response::new(Full::new(Bytes::from(path))))
                }
            })
        };
        let server = corio::spawn(async move {
            let (stream, _) = listener.accept().await.unwrap();
            hyper::server::conn::http2::Builder::new(HyperExecutor::new())
                .timer(HyperTimer::new())
                .serve_connection(HyperIo::new(stream), service)
                .await
        });

        let stream = TcpStream::connect(addr).await.unwrap();
        let (sender, connection) = hyper::client::conn::http2::Builder::new(HyperExecutor::new())
            .timer(HyperTimer::new())
            .handshake(HyperIo::new(stream))
            .await
            .unwrap();
        let connection = corio::spawn(connection);
        let requests: Vec<_> = (0..STREAMS)
            .map(|i| {
                let mut sender = sender.clone();
                corio::spawn(async move {
                    let response = sender.send_request(get(&format!("/{i}"))).await.unwrap();
                    assert_eq!(response.version(), hyper::Version::HTTP_2);
                    body_of(response).await
                })
            })
            .collect();
        for (i, request) in requests.into_iter().enumerate() {
            assert_eq!(request.await.unwrap(), format!("/{i}"));
        }
        assert_eq!(arrived.get(), STREAMS);

        drop(sender);
        connection.await.unwrap().unwrap();
        server.await.unwrap().unwrap();
    });
}

#[test]
fn http2_carries_a_large_body_both_ways() {
    corio::block_on(async {
        let (client, server) = UnixStream::pair().unwrap();
        let server = corio::spawn(
            hyper::server::conn::http2::Builder::new(HyperExecutor::new())
                .serve_connection(HyperIo::new(server), counting_service(Rc::default())),
        );
        let (mut sender, connection) =
            hyper::client::conn::http2::handshake(HyperExecutor::new(), HyperIo::new(client)).await.unwrap();
        corio::spawn(connection);
        let big = big_body();
        let response = sender.send_request(post("/", big.clone())).await.unwrap();
        let reversed: Vec<u8> = big.into_iter().rev().collect();
        assert!(body_of(response).await == reversed, "the echoed body differs");
        drop(sender);
        server.await.unwrap().unwrap();
    });
}

/// hyper-util's `auto` server (the one `examples/hyper_server` uses) tells
/// HTTP/1.1 from HTTP/2 by the connection's first bytes.
#[test]
fn hyper_util_auto_serves_http1_and_http2_on_one_listener() {
    corio::block_on(async {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        corio::spawn(async move {
            let builder = Rc::new(hyper_util::server::conn::auto::Builder::new(HyperExecutor::new()));
            loop {
                let (stream, _) = listener.accept().await.unwrap();
                let builder = builder.clone();
                corio::spawn(async move {
                    let service = hyper::service::service_fn(|request: Request<Incoming>| async move {
                        let version = format!("{:?}", request.version());
                        Ok::<_, Infallible>(Response::new(Full::new(Bytes::from(version))))
                    });
                    builder.serve_connection(HyperIo::new(stream), service).await.unwrap();
                });
            }
        });

        let stream = TcpStream::connect(addr).await.unwrap();
        let (mut h1, connection) = hyper::client::conn::http1::handshake(HyperIo::new(stream)).await.unwrap();
        corio::spawn(connection);
        assert_eq!(body_of(h1.send_request(get("/")).await.unwrap()).await, "HTTP/1.1");

        let stream = TcpStream::connect(addr).await.unwrap();
        let (mut h2, connection) =
            hyper::client::conn::http2::handshake(HyperExecutor::new(), HyperIo::new(stream)).await.unwrap();
        corio::spawn(connection);
        assert_eq!(body_of(h2.send_request(get("/")).await.unwrap()).await, "HTTP/2.0");
    });
}

/// `HyperTimer` drives hyper's own timeouts on corio's clock: under virtual
/// time, a client that sends half a request head and stalls is cut off after
/// exactly the header-read timeout, with no real waiting.
#[test]
fn header_read_timeout_fires_on_corio_virtual_time() {
    let rt = corio::Runtime::builder().virtual_time(true).build().unwrap();
    rt.block_on(async {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let server = corio::spawn(async move {
            let (stream, _) = listener.accept().await.unwrap();
            let started = corio::time::Instant::now();
            let result = hyper::server::conn::http1::Builder::new()
                .timer(HyperTimer::new())
                .header_read_timeout(Duration::from_secs(30))
                .serve_connection(HyperIo::new(stream), counting_service(Rc::default()))
                .await;
            (result, started.elapsed())
        });
        let mut client = TcpStream::connect(addr).await.unwrap();
        client.write_all(b"GET / HTTP/1.1\r\nHost: loc").await.unwrap();
        let mut rest = Vec::new();
        client.read_to_end(&mut rest).await.unwrap(); // the server closes
        let (result, waited) = server.await.unwrap();
        let error = result.unwrap_err();
        assert!(error.is_timeout(), "{error:?}");
        assert!(waited >= Duration::from_secs(30) && waited < Duration::from_secs(31), "{waited:?}");
    });
}

#[test]
fn the_timer_moves_the_deadline_of_its_own_sleeps_and_of_others() {
    let rt = corio::Runtime::builder().virtual_time(true).build().unwrap();
    rt.block_on(async {
        let timer = HyperTimer::new();
        let start = timer.now();
        let mut sleep = timer.sleep(Duration::from_secs(10));
        timer.reset(&mut sleep, start + Duration::from_secs(20));
        sleep.await;
        assert_eq!(timer.now() - start, Duration::from_secs(20));

        // A sleep some other timer made is replaced by one of ours.
        struct Other;
        impl std::future::Future for Other {
            type Output = ();
            fn poll(self: std::pin::Pin<&mut Self>, _: &mut std::task::Context<'_>) -> std::task::Poll<()> {
                std::task::Poll::Pending // never completes by itself
            }
        }
        impl hyper::rt::Sleep for Other {}
        let mut other: std::pin::Pin<Box<dyn hyper::rt::Sleep>> = Box::pin(Other);
        timer.reset(&mut other, timer.now() + Duration::from_secs(5));
        other.await;
        assert_eq!(timer.now() - start, Duration::from_secs(25));
    });
}

/// An error path a client meets: the server accepts and closes without
/// answering. hyper sees end of stream through `HyperIo` and fails the
/// request (it does not hang).
#[test]
fn a_server_that_closes_without_answering_fails_the_request() {
    corio::block_on(async {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        corio::spawn(async move {
            let (mut stream, _) = listener.accept().await.unwrap();
            // Read the whole request head (so closing sends FIN, not a
            // reset for unread bytes)...
            let mut head = Vec::new();
            while !head.ends_with(b"\r\n\r\n") {
                let mut byte = [0u8; 1];
                assert_eq!(stream.read(&mut byte).await.unwrap(), 1);
                head.push(byte[0]);
            }
            // ...and close without a word (stream dropped here).
        });
        let stream = TcpStream::connect(addr).await.unwrap();
        let (mut sender, connection) =
            hyper::client::conn::http1::handshake(HyperIo::new(stream)).await.unwrap();
        corio::spawn(connection);
        let error = sender.send_request(get("/")).await.unwrap_err();
        assert!(error.is_incomplete_message(), "{error:?}");
    });
}

#[test]
#[should_panic(expected = "outside a corio runtime")]
fn the_executor_panics_outside_a_runtime() {
    HyperExecutor::new().execute(async {});
}
