//! The `futures-io` bridge: corio streams driven by futures-lite's helpers.
//!
//! Run with `cargo test --features futures-io --test net_futures_io`
//! (`cargo test --workspace --all-features` includes it).

#![cfg(feature = "futures-io")]

use corio::net::{TcpListener, TcpStream, UnixStream};
use futures_lite::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};

#[test]
fn futures_lite_reads_and_writes_a_tcp_stream() {
    corio::block_on(async {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let server = corio::spawn(async move {
            let (stream, _) = listener.accept().await.unwrap();
            let (reader, mut writer) = stream.into_split();
            // futures-lite's BufReader over our read half.
            let mut lines = BufReader::new(reader).lines();
            let mut count = 0;
            while let Some(line) = futures_lite::StreamExt::next(&mut lines).await {
                let line = line.unwrap();
                writer.write_all(format!("{}\n", line.to_uppercase()).as_bytes()).await.unwrap();
                count += 1;
            }
            writer.close().await.unwrap();
            count
        });
        let mut client = TcpStream::connect(addr).await.unwrap();
        client.write_all(b"alpha\nbeta\n").await.unwrap();
        client.close().await.unwrap(); // futures-io's close = our shutdown: sends FIN
        let mut reply = String::new();
        client.read_to_string(&mut reply).await.unwrap();
        assert_eq!(reply, "ALPHA\nBETA\n");
        assert_eq!(server.await.unwrap(), 2);
    });
}

#[test]
fn futures_lite_copy_between_unix_streams_and_our_buf_reader_as_async_buf_read() {
    corio::block_on(async {
        let (a, b) = UnixStream::pair().unwrap();
        let writer = corio::spawn(async move {
            let mut a = a;
            futures_lite::io::copy(&b"line one\nline two\n"[..], &mut a).await.unwrap();
            a.close().await.unwrap();
        });
        // Our BufReader implements futures_io::AsyncBufRead.
        let mut reader = corio::io::BufReader::new(b);
        let mut first = String::new();
        AsyncBufReadExt::read_line(&mut reader, &mut first).await.unwrap();
        assert_eq!(first, "line one\n");
        let mut rest = Vec::new();
        AsyncReadExt::read_to_end(&mut reader, &mut rest).await.unwrap();
        assert_eq!(rest, b"line two\n");
        writer.await.unwrap();
    });
}
