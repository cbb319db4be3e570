//! hyper 1.x on corio (feature `hyper`): the three pieces hyper asks of a runtime.
//!
//! hyper is runtime-agnostic: it drives HTTP/1 and HTTP/2 over any IO that
//! implements its own `rt::Read` / `rt::Write`, spawns its background work
//! (HTTP/2 streams, client connections) through an `rt::Executor`, and
//! measures its timeouts through an `rt::Timer`. This module gives each of
//! them on top of corio:
//!
//! * [`HyperIo`] wraps any corio stream ([`AsyncRead`] + [`AsyncWrite`]:
//!   `TcpStream`, `UnixStream`, their halves, your own) as hyper IO.
//! * [`HyperExecutor`] spawns with `corio::spawn`. It needs no `Send`
//!   bound, for HTTP/1 and HTTP/2, server and client alike: every task stays
//!   on the runtime's thread, so handlers may hold `Rc`s and corio sockets.
//! * [`HyperTimer`] sleeps on corio's timers and reads corio's clock, so a
//!   runtime with virtual time drives hyper's timeouts too.
//!
//! hyper-util's `TokioIo`, `TokioExecutor` and `TokioTimer` are the same
//! three pieces for tokio (and need a tokio runtime, hence these).
//!
//! # Examples
//!
//! An HTTP/1 server and client on one thread (with `hyper`'s `server`,
//! `client` and `http1` features and `http-body-util` for the bodies):
//!
//! ```
//! use corio_net::hyper::{HyperIo, HyperTimer};
//! use corio_net::net::{TcpListener, TcpStream};
//! use http_body_util::{BodyExt, Empty, Full};
//! use hyper::body::Bytes;
//!
//! corio_runtime::block_on(async {
//!     let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
//!     let addr = listener.local_addr().unwrap();
//!     corio_runtime::spawn(async move {
//!         let (stream, _) = listener.accept().await.unwrap();
//!         let hello = hyper::service::service_fn(|_request| async {
//!             Ok::<_, std::convert::Infallible>(hyper::Response::new(Full::new(Bytes::from("hello"))))
//!         });
//!         hyper::server::conn::http1::Builder::new()
//!             .timer(HyperTimer::new())
//!             .serve_connection(HyperIo::new(stream), hello)
//!             .await
//!             .unwrap();
//!     });
//!
//!     let stream = TcpStream::connect(addr).await.unwrap();
//!     let (mut sender, connection) = hyper::client::conn::http1::handshake(HyperIo::new(stream)).await.unwrap();
//!     corio_runtime::spawn(connection); // drives the connection while we wait for the response
//!     let request = hyper::Request::get("/").header("host", "localhost").body(Empty::<Bytes>::new()).unwrap();
//!     let response = sender.send_request(request).await.unwrap();
//!     let body = response.into_body().collect().await.unwrap().to_bytes();
//!     assert_eq!(body, "hello");
//! });
//! ```
//!
//! `tests/hyper.rs` also runs HTTP/2 (server and client, with
//! [`HyperExecutor`]), Unix sockets and timeouts; `examples/hyper_server` is
//! a whole server.
//!
//! # Implementation: one copy per read
//!
//! hyper reads into a cursor over *uninitialised* memory (`ReadBufCursor`).
//! Handing that memory to our `poll_read`, which takes `&mut [u8]`, would need
//! `unsafe` (`as_mut` and `advance`), and this crate forbids it. So a read
//! goes into an initialised scratch buffer first and is copied into the
//! cursor with the safe `put_slice`. The scratch buffer is one per thread
//! (a runtime has one thread, and no read awaits between the read and the
//! copy), zeroed once when it grows and then reused: no per-connection
//! memory, and the cost per read is one `memcpy` of the bytes that arrived.
//! Measured with callgrind against a zero-copy variant (that `unsafe` read
//! straight into the cursor): see docs/ECOSYSTEM.md, "hyper".

use std::cell::Cell;
use std::future::Future;
use std::io;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;

use ::hyper::rt;
use corio_runtime::time::{Instant, Sleep};

use crate::io::{AsyncRead, AsyncWrite};

/// Largest read one `poll_read` makes through the scratch buffer. hyper
/// starts its HTTP/1 read buffer at 8 KiB and grows it while reads fill it;
/// 64 KiB keeps bulk transfers at few syscalls and the scratch buffer small.
const SCRATCH_MAX: usize = 64 * 1024;

thread_local! {
    /// The initialised buffer reads land in before `put_slice` copies them
    /// into hyper's cursor. Taken out of the cell for the read and put back
    /// after, so a re-entrant read (a `HyperIo` whose stream itself reads
    /// through a `HyperIo`) finds it empty and uses its own: never a panic.
    static SCRATCH: Cell<Vec<u8>> = const { Cell::new(Vec::new()) };
}

/// A corio stream as hyper IO: hyper's `rt::Read` and `rt::Write` over our
/// [`AsyncRead`] and [`AsyncWrite`].
///
/// Works for any `T: AsyncRead + AsyncWrite + Unpin`: `TcpStream`,
/// `UnixStream`, their owned halves (one direction each), `BufReader`, or a
/// type of your own.
///
/// # Examples
///
/// ```
/// use corio_net::hyper::HyperIo;
/// use corio_net::net::UnixStream;
///
/// corio_runtime::block_on(async {
///     let (a, _b) = UnixStream::pair().unwrap();
///     let io = HyperIo::new(a); // hand `io` to hyper's serve_connection or handshake
///     let _stream: UnixStream = io.into_inner();
/// });
/// ```
#[derive(Debug)]
pub struct HyperIo<T> {
    inner: T,
}

impl<T> HyperIo<T> {
    /// Wraps `inner`.
    pub fn new(inner: T) -> HyperIo<T> {
        HyperIo { inner }
    }

    /// The wrapped stream.
    pub fn inner(&self) -> &T {
        &self.inner
    }

    /// The wrapped stream, mutably (reading from it directly skips whatever
    /// hyper has buffered).
    pub fn inner_mut(&mut self) -> &mut T {
        &mut self.inner
    }

    /// Unwraps the stream.
    pub fn into_inner(self) -> T {
        self.inner
    }
}

impl<T: AsyncRead + Unpin> rt::Read for HyperIo<T> {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        mut buf: rt::ReadBufCursor<'_>,
    ) -> Poll<io::Result<()>> {
        let want = buf.remaining().min(SCRATCH_MAX);
        let mut scratch = SCRATCH.take();
        if scratch.len() < want {
            scratch.resize(want, 0);
        }
        let result = Pin::new(&mut self.get_mut().inner).poll_read(cx, &mut scratch[..want]);
        if let Poll::Ready(Ok(n)) = result {
            buf.put_slice(&scratch[..n]);
        }
        SCRATCH.set(scratch);
        result.map_ok(|_| ())
    }
}

impl<T: AsyncWrite + Unpin> rt::Write for HyperIo<T> {
    fn poll_write(self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &[u8]) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.get_mut().inner).poll_write(cx, buf)
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().inner).poll_flush(cx)
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().inner).poll_shutdown(cx)
    }

    /// `true`: corio's sockets write several buffers with one `writev`, so
    /// hyper sends a response's head and body without first copying them
    /// into one buffer. (A stream that keeps the trait's default writes the
    /// first buffer per call: still correct, with more calls.)
    fn is_write_vectored(&self) -> bool {
        true
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.get_mut().inner).poll_write_vectored(cx, bufs)
    }
}

/// hyper's executor: spawns each future as a corio task on this thread.
///
/// No `Send` bound, so it serves HTTP/2 connections (whose streams hyper
/// spawns) with handlers that are not `Send`, and drives client connections.
/// Pass it to `hyper::server::conn::http2::Builder::new`,
/// `hyper::client::conn::http2::Builder::new` or hyper-util's
/// `server::conn::auto::Builder::new`.
///
/// # Examples
///
/// ```
/// use corio_net::hyper::HyperExecutor;
/// use hyper::rt::Executor;
///
/// corio_runtime::block_on(async {
///     let (tx, rx) = corio_runtime::sync::oneshot::channel();
///     let not_send = std::rc::Rc::new(7);
///     HyperExecutor::new().execute(async move { tx.send(*not_send).unwrap() });
///     assert_eq!(rx.await.unwrap(), 7);
/// });
/// ```
///
/// # Panics
///
/// `execute` panics outside a corio runtime, as `corio::spawn` does.
#[derive(Debug, Clone, Copy, Default)]
pub struct HyperExecutor {
    _private: (),
}

impl HyperExecutor {
    /// An executor for the current runtime.
    pub fn new() -> HyperExecutor {
        HyperExecutor { _private: () }
    }
}

impl<F> rt::Executor<F> for HyperExecutor
where
    F: Future + 'static,
    F::Output: 'static,
{
    fn execute(&self, future: F) {
        // Detached: hyper watches its own tasks through channels.
        drop(corio_runtime::spawn(future));
    }
}

/// hyper's timer: corio's [`Sleep`] and corio's clock.
///
/// Needed for hyper's timeouts (`header_read_timeout`, HTTP/2 keep-alive
/// pings, ...); pass it to the builders' `.timer(...)`. Under a runtime with
/// virtual time, `now` reads the virtual clock, so those timeouts can be
/// tested without waiting.
///
/// # Examples
///
/// ```
/// use std::time::Duration;
/// use corio_net::hyper::HyperTimer;
/// use hyper::rt::Timer;
///
/// let rt = corio_runtime::Runtime::builder().virtual_time(true).build().unwrap();
/// rt.block_on(async {
///     let timer = HyperTimer::new();
///     let start = timer.now();
///     timer.sleep(Duration::from_secs(60)).await; // instant: virtual time
///     assert!(timer.now() - start >= Duration::from_secs(60));
/// });
/// ```
///
/// # Panics
///
/// Its sleeps panic when polled outside a corio runtime.
#[derive(Debug, Clone, Copy, Default)]
pub struct HyperTimer {
    _private: (),
}

impl HyperTimer {
    /// A timer on the current runtime's clock.
    pub fn new() -> HyperTimer {
        HyperTimer { _private: () }
    }
}

impl rt::Timer for HyperTimer {
    fn sleep(&self, duration: Duration) -> Pin<Box<dyn rt::Sleep>> {
        Box::pin(HyperSleep(corio_runtime::time::sleep(duration)))
    }

    fn sleep_until(&self, deadline: std::time::Instant) -> Pin<Box<dyn rt::Sleep>> {
        Box::pin(HyperSleep(corio_runtime::time::sleep_until(Instant::from_std(deadline))))
    }

    fn now(&self) -> std::time::Instant {
        Instant::now().into_std()
    }

    /// Moves the deadline of a sleep this timer made, keeping its timer
    /// entry (no allocation); any other sleep is replaced.
    fn reset(&self, sleep: &mut Pin<Box<dyn rt::Sleep>>, new_deadline: std::time::Instant) {
        match sleep.as_mut().downcast_mut_pin::<HyperSleep>() {
            Some(ours) => ours.get_mut().0.reset(Instant::from_std(new_deadline)),
            None => *sleep = self.sleep_until(new_deadline),
        }
    }
}

/// A corio [`Sleep`] as hyper's `rt::Sleep` (which must be `Send + Sync`:
/// corio's is, since it holds only a deadline and a timer key).
struct HyperSleep(Sleep);

impl Future for HyperSleep {
    type Output = ();

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        Pin::new(&mut self.get_mut().0).poll(cx)
    }
}

impl rt::Sleep for HyperSleep {}
