//! `AsyncReadExt`: `read`, `read_exact` and `read_to_end` as futures.
//!
//! Each method returns a small named future that borrows the reader and
//! the buffer and calls [`AsyncRead::poll_read`] until it has what it needs.
//! Nothing is allocated per call (except by `read_to_end`, which grows the
//! caller's `Vec`).

use std::future::Future;
use std::io;
use std::pin::Pin;
use std::task::{ready, Context, Poll};

use super::AsyncRead;

/// `async` read methods for every [`AsyncRead`].
///
/// # Examples
///
/// ```
/// use corio_net::io::AsyncReadExt;
///
/// corio_runtime::block_on(async {
///     let mut reader: &[u8] = b"hello world";
///     let mut word = [0u8; 5];
///     reader.read_exact(&mut word).await.unwrap();
///     let mut rest = Vec::new();
///     reader.read_to_end(&mut rest).await.unwrap();
///     assert_eq!((&word, &rest[..]), (b"hello", &b" world"[..]));
/// });
/// ```
pub trait AsyncReadExt: AsyncRead {
    /// Reads some bytes into `buf`, returning how many (0 at end of stream).
    fn read<'a>(&'a mut self, buf: &'a mut [u8]) -> Read<'a, Self>
    where
        Self: Unpin,
    {
        Read { reader: self, buf }
    }

    /// Reads exactly `buf.len()` bytes.
    ///
    /// # Errors
    ///
    /// `UnexpectedEof` if the stream ends first (the bytes read so far are
    /// in `buf` but their number is lost), or the reader's error.
    fn read_exact<'a>(&'a mut self, buf: &'a mut [u8]) -> ReadExact<'a, Self>
    where
        Self: Unpin,
    {
        ReadExact { reader: self, buf, filled: 0 }
    }

    /// Reads until end of stream, appending to `buf`; returns the number of
    /// bytes appended.
    ///
    /// # Errors
    ///
    /// The reader's error; the bytes read before it stay in `buf`.
    fn read_to_end<'a>(&'a mut self, buf: &'a mut Vec<u8>) -> ReadToEnd<'a, Self>
    where
        Self: Unpin,
    {
        let start = buf.len();
        ReadToEnd { reader: self, buf, start, window: 8 * 1024 }
    }
}

impl<R: AsyncRead + ?Sized> AsyncReadExt for R {}

/// Future of [`AsyncReadExt::read`].
#[derive(Debug)]
#[must_use = "futures do nothing unless you `.await` or poll them"]
pub struct Read<'a, R: ?Sized> {
    reader: &'a mut R,
    buf: &'a mut [u8],
}

impl<R: AsyncRead + Unpin + ?Sized> Future for Read<'_, R> {
    type Output = io::Result<usize>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = self.get_mut();
        Pin::new(&mut *this.reader).poll_read(cx, this.buf)
    }
}

/// Future of [`AsyncReadExt::read_exact`].
#[derive(Debug)]
#[must_use = "futures do nothing unless you `.await` or poll them"]
pub struct ReadExact<'a, R: ?Sized> {
    reader: &'a mut R,
    buf: &'a mut [u8],
    /// Bytes of `buf` already read; survives `Pending`.
    filled: usize,
}

impl<R: AsyncRead + Unpin + ?Sized> Future for ReadExact<'_, R> {
    type Output = io::Result<()>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = self.get_mut();
        while this.filled < this.buf.len() {
            let n = ready!(Pin::new(&mut *this.reader).poll_read(cx, &mut this.buf[this.filled..]))?;
            if n == 0 {
                return Poll::Ready(Err(io::ErrorKind::UnexpectedEof.into()));
            }
            this.filled += n;
        }
        Poll::Ready(Ok(()))
    }
}

/// Future of [`AsyncReadExt::read_to_end`].
#[derive(Debug)]
#[must_use = "futures do nothing unless you `.await` or poll them"]
pub struct ReadToEnd<'a, R: ?Sized> {
    reader: &'a mut R,
    buf: &'a mut Vec<u8>,
    /// Length of `buf` when the call started, to report bytes appended.
    start: usize,
    /// How much spare capacity to zero and offer to the next read; doubles
    /// while reads fill it, so a small read never pays for a big memset.
    window: usize,
}

impl<R: AsyncRead + Unpin + ?Sized> Future for ReadToEnd<'_, R> {
    type Output = io::Result<usize>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = self.get_mut();
        loop {
            if this.buf.capacity() - this.buf.len() < 32 {
                this.buf.reserve(this.buf.capacity().clamp(32, 1 << 20));
            }
            // `poll_read` wants initialised memory: zero a window of the
            // spare capacity, read into it, and cut back to what was read.
            let len = this.buf.len();
            let window = (this.buf.capacity() - len).min(this.window);
            this.buf.resize(len + window, 0);
            let result = Pin::new(&mut *this.reader).poll_read(cx, &mut this.buf[len..]);
            let read = match &result {
                Poll::Ready(Ok(n)) => *n,
                _ => 0,
            };
            this.buf.truncate(len + read);
            if read == window {
                this.window = (this.window * 2).min(1 << 20);
            }
            match result {
                Poll::Ready(Ok(0)) => return Poll::Ready(Ok(this.buf.len() - this.start)),
                Poll::Ready(Ok(_)) => {}
                Poll::Ready(Err(error)) => return Poll::Ready(Err(error)),
                Poll::Pending => return Poll::Pending,
            }
        }
    }
}
