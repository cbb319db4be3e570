//! An echo server: one task per connection, all on one thread.
//!
//! Shows the basic server shape: bind a [`TcpListener`], `accept` in a loop
//! (`shutdown::serve`, which also ends it on a signal), `spawn` a task per
//! connection. Each task reads up to 4 KiB and writes it
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
//! It runs until SIGINT (Ctrl-C) or SIGTERM, then shuts down gracefully
//! (`examples/shutdown/mod.rs`): it stops accepting, lets each open
//! connection go on until its client closes it (for up to 10 s), and exits 0.

#[path = "shutdown/mod.rs"]
#[allow(dead_code)] // an echo only needs the connection count, not the stop flag
mod shutdown;

use std::time::Duration;

use corio::io::{AsyncReadExt, AsyncWriteExt};
use corio::net::{TcpListener, TcpStream};

/// How long open connections may go on once a stop signal arrived.
const GRACE: Duration = Duration::from_secs(10);

/// Echoes until the client closes. An echo has no requests to finish, so a
/// stopping server lets it run until the client is done (or the grace
/// period ends); `_shutdown` only marks the connection as still open.
async fn serve(mut stream: TcpStream, _shutdown: shutdown::ShutdownSignal) -> std::io::Result<()> {
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
    // A literal address or a host name (looked up off the runtime thread).
    let addr = std::env::args().nth(1).unwrap_or_else(|| "127.0.0.1:7000".into());
    corio::block_on(async {
        let listener = TcpListener::bind(addr.as_str()).await?;
        let signals = shutdown::signals()?;
        println!("echo server listening on {}", listener.local_addr()?);
        shutdown::serve("echo server", listener, signals, GRACE, |stream, shutdown| {
            let peer = stream.peer_addr().map_or_else(|_| "?".into(), |p| p.to_string());
            corio::spawn(async move {
                if let Err(error) = serve(stream, shutdown).await {
                    eprintln!("{peer}: {error}");
                }
            });
        })
        .await
    })
}
