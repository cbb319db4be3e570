//! `copy`: pump a reader into a writer until end of stream.

use std::io;

use super::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};

/// Size of the buffer `copy` reads into.
const COPY_BUFFER: usize = 16 * 1024;

/// Copies everything from `reader` to `writer`, then flushes `writer`;
/// returns the number of bytes copied.
///
/// An echo server is `copy(&mut read_half, &mut write_half)`.
///
/// # Examples
///
/// ```
/// corio_runtime::block_on(async {
///     let mut reader: &[u8] = b"some bytes";
///     let mut writer = Vec::new();
///     let n = corio_net::io::copy(&mut reader, &mut writer).await.unwrap();
///     assert_eq!((n, &writer[..]), (10, &b"some bytes"[..]));
/// });
/// ```
///
/// # Errors
///
/// The first error of either side; bytes copied before it are not reported.
pub async fn copy<R, W>(reader: &mut R, writer: &mut W) -> io::Result<u64>
where
    R: AsyncRead + Unpin + ?Sized,
    W: AsyncWrite + Unpin + ?Sized,
{
    let mut buf = vec![0u8; COPY_BUFFER];
    let mut total = 0u64;
    loop {
        let n = reader.read(&mut buf).await?;
        if n == 0 {
            writer.flush().await?;
            return Ok(total);
        }
        writer.write_all(&buf[..n]).await?;
        total += n as u64;
    }
}
