//! The Redis-protocol key-value server of `resp_server`, on tokio's
//! `current_thread` runtime: the comparison twin for `benches/real_servers.sh`.
//!
//! What it shows: the same program on another runtime. The parser, the
//! command table and the store are `examples/resp/` (`protocol.rs`, which
//! includes `commands.rs` and `store.rs`), shared with the corio version;
//! only sockets, the connection loop (the same one, backpressure included)
//! and the expiry timers (a `spawn_local` task per key, aborted when the key
//! is overwritten) differ. Tasks hold `Rc`s, so they run in a `LocalSet`.
//!
//! ```sh
//! cargo run --release --example resp_server_tokio -- --port 6381
//! redis-benchmark -p 6381 -q -n 20000 -t set,get -P 16
//! ```
//!
//! Flags, as for `resp_server`: `--addr` (default 127.0.0.1), `--port`
//! (default 6380), `--max-bulk` (bytes, default 512 MiB), `--max-query`
//! (bytes, default 1 GiB).

#[path = "../resp/protocol.rs"]
mod protocol;

use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::task::JoinHandle;
use tokio::time::{sleep_until, timeout_at, Instant};

use protocol::{Db, Expiry, ExpiryTimers, Flow, RespConnection};

/// Key expiry on tokio: a local task per key that sleeps until the deadline.
struct TokioTimers;

impl ExpiryTimers for TokioTimers {
    type ExpiryTask = JoinHandle<()>;

    fn spawn_expiry(expiry: Expiry<Self>, deadline: std::time::Instant) -> JoinHandle<()> {
        tokio::task::spawn_local(async move {
            sleep_until(Instant::from_std(deadline)).await;
            expiry.fire();
        })
    }

    fn cancel(task: JoinHandle<()>) {
        task.abort();
    }
}

fn main() {
    let config = protocol::parse_args("resp_server_tokio");
    let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().expect("runtime");
    let local = tokio::task::LocalSet::new();
    local.block_on(&runtime, async move {
        let listener = TcpListener::bind(config.addr).await.expect("bind");
        println!("resp_server_tokio listening on {}", listener.local_addr().unwrap());
        let db = Db::<TokioTimers>::default();
        loop {
            match listener.accept().await {
                Ok((stream, _peer)) => {
                    tokio::task::spawn_local(serve(stream, RespConnection::new(&db, &config), db.clone()));
                }
                Err(e) => eprintln!("resp_server_tokio: accept failed: {e}"),
            }
        }
    });
}

/// One connection: read, execute every complete command, answer in one
/// write. While a write is pending nothing more is executed or read, so a
/// client that never reads holds at most about one reply's worth of memory.
async fn serve(mut stream: TcpStream, mut conn: RespConnection, db: Db<TokioTimers>) {
    let _ = stream.set_nodelay(true);
    let mut chunk = vec![0u8; 16 * 1024];
    loop {
        let flow = conn.answer(&db);
        if !conn.output().is_empty() {
            if stream.write_all(conn.output()).await.is_err() {
                return;
            }
            conn.sent();
        }
        match flow {
            Flow::Close => return lingering_close(stream).await,
            Flow::Write => continue,
            Flow::Read => {}
        }
        match stream.read(&mut chunk).await {
            Ok(0) | Err(_) => return,
            Ok(n) => conn.received(&chunk[..n]),
        }
    }
}

/// Closes politely, as `resp_server` does: stop writing, then discard what
/// the client still sends (at most a second, 64 KiB).
async fn lingering_close(mut stream: TcpStream) {
    let _ = stream.shutdown().await;
    let deadline = Instant::now() + Duration::from_secs(1);
    let mut sink = [0u8; 4096];
    let mut drained = 0;
    while drained < 64 * 1024 {
        match timeout_at(deadline, stream.read(&mut sink)).await {
            Ok(Ok(n)) if n > 0 => drained += n,
            _ => return,
        }
    }
}
