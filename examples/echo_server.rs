//! An echo server: one task per connection, all on one thread.
//!
//! Shows the basic server shape: bind a [`TcpListener`], `accept` in a loop,
//! `spawn` a task per connection. Each task reads up to 4 KiB and writes it
//! back until the client closes; while it waits for the socket it is
//! suspended, costing no thread and no CPU.
//!
//! Run it, then talk to it (or load it with the `echo_client` example):
//!
//! ```text
//! cargo run --release --example echo_server              # 127.0.0.1:7000
//! cargo run --release --example echo_server 127.0.0.1:9000
//! nc 127.0.0.1 7000
//! ```
//!
//! It runs until interrupted (Ctrl-C).

use std::net::SocketAddr;

use corio::io::{AsyncReadExt, AsyncWriteExt};
use corio::net::{TcpListener, TcpStream};

async fn serve(mut stream: TcpStream) -> std::io::Result<()> {
    stream.set_nodelay(true)?;
    let mut buf = [0u8; 4096];
    loop {
        let n = stream.read(&mut buf).await?;
        if n == 0 {
            return Ok(()); // the client closed its side
        }
        stream.write_all(&buf[..n]).await?;
    }
}

fn main() -> std::io::Result<()> {
    let addr: SocketAddr = std::env::args()
        .nth(1)
        .unwrap_or_else(|| "127.0.0.1:7000".into())
        .parse()
        .expect("usage: echo_server [ADDRESS:PORT]");
    corio::block_on(async {
        let listener = TcpListener::bind(addr).await?;
        println!("echo server listening on {}", listener.local_addr()?);
        loop {
            let (stream, peer) = listener.accept().await?;
            corio::spawn(async move {
                if let Err(error) = serve(stream).await {
                    eprintln!("{peer}: {error}");
                }
            });
        }
    })
}
