//! `BufReader`: a read buffer in front of an [`AsyncRead`].
//!
//! Small reads from a socket cost a syscall each. `BufReader` reads a big
//! chunk once and serves small reads, `read_line` and `read_until` from
//! memory. [`fill_buf`](BufReader::fill_buf) / [`consume`](BufReader::consume)
//! expose the buffer itself, for parsers that want to look before they take.
//!
//! Writes pass straight through, so a `BufReader<TcpStream>` can still be
//! written to.

use std::fmt;
use std::future::Future;
use std::io::{self, IoSlice};
use std::pin::Pin;
use std::task::{ready, Context, Poll};

use super::{AsyncRead, AsyncWrite};

/// Default buffer size, as in `std::io::BufReader`.
const DEFAULT_CAPACITY: usize = 8 * 1024;

/// Adds buffering to a reader.
///
/// # Examples
///
/// ```
/// use corio_net::io::BufReader;
///
/// corio_runtime::block_on(async {
///     let mut reader = BufReader::new(&b"first line\nsecond"[..]);
///     let mut line = String::new();
///     reader.read_line(&mut line).await.unwrap();
///     assert_eq!(line, "first line\n");
///     line.clear();
///     reader.read_line(&mut line).await.unwrap();
///     assert_eq!(line, "second"); // end of stream ends the last line
/// });
/// ```
///
/// # Caveats
///
/// The inner reader must be `Unpin` (every I/O type of this crate is).
pub struct BufReader<R> {
    inner: R,
    buf: Box<[u8]>,
    /// Next unread byte in `buf`.
    pos: usize,
    /// End of the valid bytes in `buf`; `pos == filled` means empty.
    filled: usize,
}

impl<R: AsyncRead + Unpin> BufReader<R> {
    /// Wraps `inner` with an 8 KiB buffer.
    pub fn new(inner: R) -> BufReader<R> {
        BufReader::with_capacity(DEFAULT_CAPACITY, inner)
    }

    /// Wraps `inner` with a buffer of `capacity` bytes.
    pub fn with_capacity(capacity: usize, inner: R) -> BufReader<R> {
        BufReader { inner, buf: vec![0; capacity.max(1)].into_boxed_slice(), pos: 0, filled: 0 }
    }

    /// The buffered bytes, reading more from the inner reader first if the
    /// buffer is empty. An empty slice means end of stream.
    pub fn poll_fill_buf(&mut self, cx: &mut Context<'_>) -> Poll<io::Result<&[u8]>> {
        ready!(self.poll_fill(cx))?;
        Poll::Ready(Ok(self.buffer()))
    }

    /// The buffered bytes, waiting for more if the buffer is empty. An empty
    /// slice means end of stream. Call [`consume`](BufReader::consume) to
    /// mark bytes as used.
    pub fn fill_buf(&mut self) -> FillBuf<'_, R> {
        FillBuf { reader: Some(self) }
    }

    /// Marks `amount` buffered bytes as read.
    pub fn consume(&mut self, amount: usize) {
        self.pos = (self.pos + amount).min(self.filled);
    }

    /// Reads bytes up to and including `delimiter` (or end of stream),
    /// appending them to `buf`; returns the number of bytes appended.
    pub fn read_until<'a>(&'a mut self, delimiter: u8, buf: &'a mut Vec<u8>) -> ReadUntil<'a, R> {
        ReadUntil { reader: self, delimiter, buf, read: 0 }
    }

    /// Reads a line, up to and including `\n` (or end of stream), appending
    /// it to `line`; returns the number of bytes appended, 0 at end of stream.
    ///
    /// # Errors
    ///
    /// `InvalidData` if the line is not UTF-8 (then `line` is unchanged),
    /// or the reader's error.
    pub fn read_line<'a>(&'a mut self, line: &'a mut String) -> ReadLine<'a, R> {
        ReadLine { reader: self, line, bytes: Vec::new() }
    }

    /// Fills the buffer if it is empty.
    fn poll_fill(&mut self, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        if self.pos == self.filled {
            let n = ready!(Pin::new(&mut self.inner).poll_read(cx, &mut self.buf))?;
            self.pos = 0;
            self.filled = n;
        }
        Poll::Ready(Ok(()))
    }
}

impl<R> BufReader<R> {
    /// The bytes read from the inner reader but not yet consumed.
    pub fn buffer(&self) -> &[u8] {
        &self.buf[self.pos..self.filled]
    }

    /// The inner reader.
    pub fn get_ref(&self) -> &R {
        &self.inner
    }

    /// The inner reader, mutably. Reading from it directly skips the buffer.
    pub fn get_mut(&mut self) -> &mut R {
        &mut self.inner
    }

    /// The inner reader. Buffered, unconsumed bytes are lost.
    pub fn into_inner(self) -> R {
        self.inner
    }
}

impl<R: AsyncRead + Unpin> AsyncRead for BufReader<R> {
    fn poll_read(self: Pin<&mut Self>, cx: &mut Context<'_>, out: &mut [u8]) -> Poll<io::Result<usize>> {
        let this = self.get_mut();
        // A read at least as big as our buffer gains nothing from it.
        if this.pos == this.filled && out.len() >= this.buf.len() {
            return Pin::new(&mut this.inner).poll_read(cx, out);
        }
        let available = ready!(this.poll_fill_buf(cx))?;
        let n = available.len().min(out.len());
        out[..n].copy_from_slice(&available[..n]);
        this.consume(n);
        Poll::Ready(Ok(n))
    }
}

impl<R: AsyncWrite + Unpin> AsyncWrite for BufReader<R> {
    fn poll_write(self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &[u8]) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.get_mut().inner).poll_write(cx, buf)
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.get_mut().inner).poll_write_vectored(cx, bufs)
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().inner).poll_flush(cx)
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().inner).poll_shutdown(cx)
    }
}

impl<R: fmt::Debug> fmt::Debug for BufReader<R> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("BufReader")
            .field("inner", &self.inner)
            .field("buffered", &(self.filled - self.pos))
            .field("capacity", &self.buf.len())
            .finish()
    }
}

/// Future of [`BufReader::fill_buf`].
#[derive(Debug)]
#[must_use = "futures do nothing unless you `.await` or poll them"]
pub struct FillBuf<'a, R> {
    /// Taken when the future completes, to hand out a borrow for `'a`.
    reader: Option<&'a mut BufReader<R>>,
}

impl<'a, R: AsyncRead + Unpin> Future for FillBuf<'a, R> {
    type Output = io::Result<&'a [u8]>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = self.get_mut();
        let reader = this.reader.take().expect("FillBuf polled after completion");
        match reader.poll_fill(cx) {
            Poll::Pending => {
                this.reader = Some(reader);
                Poll::Pending
            }
            Poll::Ready(Err(error)) => Poll::Ready(Err(error)),
            Poll::Ready(Ok(())) => {
                let reader: &'a BufReader<R> = reader;
                Poll::Ready(Ok(reader.buffer()))
            }
        }
    }
}

/// Future of [`BufReader::read_until`].
#[derive(Debug)]
#[must_use = "futures do nothing unless you `.await` or poll them"]
pub struct ReadUntil<'a, R> {
    reader: &'a mut BufReader<R>,
    delimiter: u8,
    buf: &'a mut Vec<u8>,
    /// Bytes appended so far; survives `Pending`.
    read: usize,
}

impl<R: AsyncRead + Unpin> Future for ReadUntil<'_, R> {
    type Output = io::Result<usize>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = self.get_mut();
        poll_read_until(this.reader, cx, this.delimiter, this.buf, &mut this.read)
    }
}

/// Future of [`BufReader::read_line`].
#[derive(Debug)]
#[must_use = "futures do nothing unless you `.await` or poll them"]
pub struct ReadLine<'a, R> {
    reader: &'a mut BufReader<R>,
    line: &'a mut String,
    /// The raw bytes of the line, checked for UTF-8 once it is complete.
    bytes: Vec<u8>,
}

impl<R: AsyncRead + Unpin> Future for ReadLine<'_, R> {
    type Output = io::Result<usize>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = self.get_mut();
        let mut read = this.bytes.len();
        ready!(poll_read_until(this.reader, cx, b'\n', &mut this.bytes, &mut read))?;
        let bytes = std::mem::take(&mut this.bytes);
        match String::from_utf8(bytes) {
            Ok(text) => {
                this.line.push_str(&text);
                Poll::Ready(Ok(text.len()))
            }
            Err(_) => Poll::Ready(Err(io::Error::new(io::ErrorKind::InvalidData, "line is not valid UTF-8"))),
        }
    }
}

/// The loop shared by `read_until` and `read_line`: move buffered bytes to
/// `out` until the delimiter or end of stream.
fn poll_read_until<R: AsyncRead + Unpin>(
    reader: &mut BufReader<R>,
    cx: &mut Context<'_>,
    delimiter: u8,
    out: &mut Vec<u8>,
    read: &mut usize,
) -> Poll<io::Result<usize>> {
    loop {
        let available = ready!(reader.poll_fill_buf(cx))?;
        if available.is_empty() {
            return Poll::Ready(Ok(*read));
        }
        let (done, used) = match available.iter().position(|&b| b == delimiter) {
            Some(i) => (true, i + 1),
            None => (false, available.len()),
        };
        out.extend_from_slice(&available[..used]);
        reader.consume(used);
        *read += used;
        if done {
            return Poll::Ready(Ok(*read));
        }
    }
}
