//! Asynchronous byte streams: the [`AsyncRead`] and [`AsyncWrite`] traits.
//!
//! A blocking `std::io::Read::read` parks the *thread* until bytes arrive.
//! On a single-threaded runtime that would stall every task, so instead an
//! I/O object offers `poll_read`: it either returns `Ready` with bytes (or
//! an error), or it stores the task's waker with the reactor and returns
//! `Pending`. The task then suspends at its `.await`, and the reactor wakes
//! it when the socket becomes readable.
//!
//! The traits carry only the `poll_*` methods, which is what an I/O object
//! implements. Tasks use the `async` methods of the extension traits
//! [`AsyncReadExt`] and [`AsyncWriteExt`] (`read`, `read_exact`,
//! `write_all`, ...), which are small futures looping over those `poll_*`
//! methods. [`BufReader`] adds a buffer (and `read_line`), and [`copy`]
//! pumps one stream into another.
//!
//! With the `futures-io` feature (on by default), the stream types of this
//! crate also implement the `futures_io` traits, so they work with
//! `futures-lite`, `futures-util` and the rest of that ecosystem.
//!
//! # Examples
//!
//! ```
//! use corio_net::io::{AsyncReadExt, AsyncWriteExt};
//!
//! corio_runtime::block_on(async {
//!     // `&[u8]` is a reader and `Vec<u8>` a writer: handy for tests.
//!     let mut reader: &[u8] = b"hello";
//!     let mut buf = [0u8; 5];
//!     reader.read_exact(&mut buf).await.unwrap();
//!
//!     let mut out = Vec::new();
//!     out.write_all(&buf).await.unwrap();
//!     assert_eq!(out, b"hello");
//! });
//! ```
//!
//! # Which extension traits
//!
//! With `futures-io`, a `TcpStream` has two families of traits, ours and
//! futures', and both families have an extension trait with `read`,
//! `read_exact`, `write_all`, `flush`... Import **one family per module**:
//!
//! * corio code: `use corio::io::{AsyncReadExt, AsyncWriteExt};`
//! * code that also drives futures-io types (a TLS stream, a codec, a
//!   WebSocket): futures' traits (`futures::{AsyncReadExt, AsyncWriteExt}`,
//!   or futures-lite's, or `futures::prelude::*`), for corio's streams too:
//!   they do the same on them (futures' `close` is our `shutdown`).
//! * corio code that needs one helper only futures has (`read_to_string`,
//!   say): call it by path, `futures::AsyncReadExt::read_to_string(&mut s,
//!   &mut out)`, so futures' trait never enters the scope.
//!
//! One method differs in meaning, not only in name: futures-util's
//! `AsyncReadExt::split(self)` (a lock around one stream) is picked over our
//! [`TcpStream::split`](crate::net::TcpStream::split) (`&mut self`, two
//! borrowed halves, no lock) when futures-util's trait is in scope, because
//! method lookup tries by-value receivers first. Corio code wants
//! `stream.split()` or `into_split()` with corio's traits only.
//!
//! `tests/ecosystem_imports.rs` compiles and runs all three. Both families
//! in one scope make the shared method names ambiguous (E0034), as with
//! tokio's and futures' traits; this is what must not be written:
#![cfg_attr(
    feature = "futures-io",
    doc = r#"
```compile_fail,E0034
use corio_net::io::AsyncReadExt;
use futures_lite::prelude::*; // futures-lite's AsyncReadExt, among others

async fn first_byte(stream: &mut corio_net::net::TcpStream) -> u8 {
    let mut byte = [0u8; 1];
    stream.read_exact(&mut byte).await.unwrap(); // E0034: two `read_exact`s apply
    byte[0]
}
```
"#
)]

use std::io;
use std::ops::DerefMut;
use std::pin::Pin;
use std::task::{Context, Poll};

mod buf_reader;
#[cfg(feature = "futures-io")]
mod compat;
mod copy;
mod read_ext;
mod write_ext;

pub use buf_reader::{BufReader, FillBuf, ReadLine, ReadUntil};
pub use copy::copy;
pub use read_ext::{AsyncReadExt, Read, ReadExact, ReadToEnd};
pub use write_ext::{AsyncWriteExt, Flush, Shutdown, Write, WriteAll, WriteVectored};

/// Reads bytes from a source asynchronously.
///
/// The non-blocking twin of [`std::io::Read`]. An implementation either
/// reads into `buf` and returns `Ready(Ok(n))`, or arranges for the task to
/// be woken (`cx.waker()`) and returns `Pending`.
///
/// `Ready(Ok(0))` means end of stream (or an empty `buf`).
pub trait AsyncRead {
    /// Attempts to read into `buf`.
    ///
    /// # Errors
    ///
    /// The error of the underlying read, OS error code preserved.
    fn poll_read(self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &mut [u8]) -> Poll<io::Result<usize>>;
}

/// Writes bytes to a sink asynchronously.
///
/// The non-blocking twin of [`std::io::Write`], plus `poll_shutdown`, which
/// ends the stream (for a TCP socket, it sends FIN).
pub trait AsyncWrite {
    /// Attempts to write `buf`, returning how many bytes were written.
    ///
    /// # Errors
    ///
    /// The error of the underlying write, OS error code preserved.
    fn poll_write(self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &[u8]) -> Poll<io::Result<usize>>;

    /// Attempts to write several buffers with one call (`writev`).
    ///
    /// The default writes the first non-empty buffer; sockets override it
    /// with a real vectored write.
    ///
    /// # Errors
    ///
    /// As [`poll_write`](AsyncWrite::poll_write).
    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        let buf = bufs.iter().find(|b| !b.is_empty()).map_or(&[][..], |b| &**b);
        self.poll_write(cx, buf)
    }

    /// Attempts to flush buffered data to the OS. Sockets buffer nothing, so
    /// for them this is a no-op.
    ///
    /// # Errors
    ///
    /// The error of the underlying flush.
    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>>;

    /// Attempts to end the stream: flushes, then shuts down the write side.
    ///
    /// # Errors
    ///
    /// The error of the underlying shutdown.
    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>>;
}

// Forwarding impls, so `&mut R`, `Box<R>` and `Pin<&mut R>` are readers and writers too.

impl<T: AsyncRead + Unpin + ?Sized> AsyncRead for &mut T {
    fn poll_read(mut self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &mut [u8]) -> Poll<io::Result<usize>> {
        Pin::new(&mut **self).poll_read(cx, buf)
    }
}

impl<T: AsyncRead + Unpin + ?Sized> AsyncRead for Box<T> {
    fn poll_read(mut self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &mut [u8]) -> Poll<io::Result<usize>> {
        Pin::new(&mut **self).poll_read(cx, buf)
    }
}

impl<P> AsyncRead for Pin<P>
where
    P: DerefMut + Unpin,
    P::Target: AsyncRead,
{
    fn poll_read(self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &mut [u8]) -> Poll<io::Result<usize>> {
        self.get_mut().as_mut().poll_read(cx, buf)
    }
}

/// A byte slice reads from its front, like `std::io::Read for &[u8]`.
impl AsyncRead for &[u8] {
    fn poll_read(mut self: Pin<&mut Self>, _cx: &mut Context<'_>, buf: &mut [u8]) -> Poll<io::Result<usize>> {
        Poll::Ready(io::Read::read(&mut *self, buf))
    }
}

macro_rules! forward_write {
    () => {
        fn poll_write(mut self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &[u8]) -> Poll<io::Result<usize>> {
            Pin::new(&mut **self).poll_write(cx, buf)
        }

        fn poll_write_vectored(
            mut self: Pin<&mut Self>,
            cx: &mut Context<'_>,
            bufs: &[io::IoSlice<'_>],
        ) -> Poll<io::Result<usize>> {
            Pin::new(&mut **self).poll_write_vectored(cx, bufs)
        }

        fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
            Pin::new(&mut **self).poll_flush(cx)
        }

        fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
            Pin::new(&mut **self).poll_shutdown(cx)
        }
    };
}

impl<T: AsyncWrite + Unpin + ?Sized> AsyncWrite for &mut T {
    forward_write!();
}

impl<T: AsyncWrite + Unpin + ?Sized> AsyncWrite for Box<T> {
    forward_write!();
}

impl<P> AsyncWrite for Pin<P>
where
    P: DerefMut + Unpin,
    P::Target: AsyncWrite,
{
    fn poll_write(self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &[u8]) -> Poll<io::Result<usize>> {
        self.get_mut().as_mut().poll_write(cx, buf)
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        self.get_mut().as_mut().poll_write_vectored(cx, bufs)
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        self.get_mut().as_mut().poll_flush(cx)
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        self.get_mut().as_mut().poll_shutdown(cx)
    }
}

/// A `Vec<u8>` appends everything written to it; it never blocks.
impl AsyncWrite for Vec<u8> {
    fn poll_write(self: Pin<&mut Self>, _cx: &mut Context<'_>, buf: &[u8]) -> Poll<io::Result<usize>> {
        self.get_mut().extend_from_slice(buf);
        Poll::Ready(Ok(buf.len()))
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        _cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        Poll::Ready(io::Write::write_vectored(self.get_mut(), bufs))
    }

    fn poll_flush(self: Pin<&mut Self>, _cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Poll::Ready(Ok(()))
    }

    fn poll_shutdown(self: Pin<&mut Self>, _cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Poll::Ready(Ok(()))
    }
}
