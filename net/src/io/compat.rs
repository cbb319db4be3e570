//! The `futures-io` bridge (feature `futures-io`).
//!
//! The futures-rs ecosystem (`futures-util`, `futures-lite`, codecs, ...)
//! speaks its own `futures_io::AsyncRead` / `AsyncWrite` / `AsyncBufRead`.
//! Their `poll_*` methods have the same shape as ours (only `poll_shutdown`
//! is called `poll_close` there), so our stream types implement them too by
//! forwarding, and can be handed straight to that ecosystem's helpers.

use std::io::{self, IoSlice};
use std::pin::Pin;
use std::task::{Context, Poll};

use super::{AsyncRead, AsyncWrite, BufReader};
use crate::net::tcp::{OwnedReadHalf, OwnedWriteHalf, ReadHalf, WriteHalf};
use crate::net::TcpStream;

/// `futures_io::AsyncRead` for a type that implements our `AsyncRead`.
macro_rules! futures_read {
    ($($ty:ty),*) => {$(
        impl futures_io::AsyncRead for $ty {
            fn poll_read(self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &mut [u8]) -> Poll<io::Result<usize>> {
                AsyncRead::poll_read(self, cx, buf)
            }
        }
    )*};
}

/// `futures_io::AsyncWrite` for a type that implements our `AsyncWrite`.
macro_rules! futures_write {
    ($($ty:ty),*) => {$(
        impl futures_io::AsyncWrite for $ty {
            fn poll_write(self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &[u8]) -> Poll<io::Result<usize>> {
                AsyncWrite::poll_write(self, cx, buf)
            }

            fn poll_write_vectored(
                self: Pin<&mut Self>,
                cx: &mut Context<'_>,
                bufs: &[IoSlice<'_>],
            ) -> Poll<io::Result<usize>> {
                AsyncWrite::poll_write_vectored(self, cx, bufs)
            }

            fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
                AsyncWrite::poll_flush(self, cx)
            }

            fn poll_close(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
                AsyncWrite::poll_shutdown(self, cx)
            }
        }
    )*};
}

futures_read!(TcpStream, &TcpStream, ReadHalf<'_>, OwnedReadHalf);
futures_write!(TcpStream, &TcpStream, WriteHalf<'_>, OwnedWriteHalf);

#[cfg(unix)]
mod unix {
    use super::*;
    use crate::net::unix::{OwnedReadHalf, OwnedWriteHalf, ReadHalf, WriteHalf};
    use crate::net::UnixStream;

    futures_read!(UnixStream, &UnixStream, ReadHalf<'_>, OwnedReadHalf);
    futures_write!(UnixStream, &UnixStream, WriteHalf<'_>, OwnedWriteHalf);
}

impl<R: AsyncRead + Unpin> futures_io::AsyncRead for BufReader<R> {
    fn poll_read(self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &mut [u8]) -> Poll<io::Result<usize>> {
        AsyncRead::poll_read(self, cx, buf)
    }
}

impl<R: AsyncRead + Unpin> futures_io::AsyncBufRead for BufReader<R> {
    fn poll_fill_buf(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<&[u8]>> {
        self.get_mut().poll_fill_buf(cx)
    }

    fn consume(self: Pin<&mut Self>, amount: usize) {
        self.get_mut().consume(amount);
    }
}

impl<R: AsyncWrite + Unpin> futures_io::AsyncWrite for BufReader<R> {
    fn poll_write(self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &[u8]) -> Poll<io::Result<usize>> {
        AsyncWrite::poll_write(self, cx, buf)
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        AsyncWrite::poll_flush(self, cx)
    }

    fn poll_close(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        AsyncWrite::poll_shutdown(self, cx)
    }
}
