//! A Redis-protocol key-value server on corio, for `redis-cli`,
//! `redis-benchmark` and client libraries such as redis-py.
//!
//! What it shows: one task per connection on one thread; pipelining (every
//! complete command in the read buffer is executed and the replies leave in
//! one write); backpressure (while a connection's unsent replies are over
//! 64 KiB, its commands wait, so a client that never reads costs one reply's
//! memory, not all of them); key expiry with corio timers (each
//! `EX`/`PX`/`EXPIRE` spawns a task that sleeps until the deadline, and
//! overwriting the key aborts it); and defensive parsing (a malformed request
//! gets Redis' own error and the connection is closed; a bulk string over the
//! limit is refused when its header arrives, before any of it is buffered).
//!
//! Run it, then talk to it with the real tools:
//!
//! ```sh
//! cargo run --release --example resp_server -- --port 6380
//! redis-cli -p 6380 set greeting hello
//! redis-benchmark -p 6380 -q -n 20000 -t set,get,incr -P 16
//! ```
//!
//! Flags: `--addr` (default 127.0.0.1), `--port` (default 6380),
//! `--max-bulk` (bytes, default 512 MiB like Redis), `--max-query` (bytes
//! one unfinished command may use, default 1 GiB like Redis).
//!
//! SIGINT (Ctrl-C) or SIGTERM stops it gracefully (`examples/shutdown/mod.rs`):
//! no new connections; each open one answers the commands it has received
//! (finishing one that is half-received) and closes; then it exits 0.
//!
//! This file is the corio half: sockets, the connection loop and expiry
//! timers. The parser and connection state are in `examples/resp/protocol.rs`,
//! the commands in `examples/resp/commands.rs`, the store in
//! `examples/resp/store.rs`, all shared with `resp_server_tokio`, the same
//! server on tokio (`benches/real_servers.sh` races the two).
//!
//! Replies follow redis-server 7.0, error texts included (RESP2, and RESP3
//! after `HELLO 3`); `tests/resp_differential.rs` checks them against a real
//! redis-server. Shortcuts, labelled honestly: strings only (no lists,
//! hashes, sets...), no persistence, no pub/sub, no transactions, no AUTH
//! beyond HELLO's `default` user; only the commands in `commands.rs`, and
//! any other gets Redis' answer to an unknown command.

#[path = "../resp/protocol.rs"]
mod protocol;
#[path = "../shutdown/mod.rs"]
mod shutdown;

use std::time::Duration;

use corio::io::{AsyncReadExt, AsyncWriteExt};
use corio::net::{TcpListener, TcpStream};
use corio::time::{sleep_until, Instant};
use corio::{race, Either, JoinHandle};

use protocol::{Db, Expiry, ExpiryTimers, Flow, RespConnection};
use shutdown::ShutdownSignal;

/// How long open connections may finish their commands once a stop signal arrived.
const GRACE: Duration = Duration::from_secs(10);

/// Key expiry on corio: a task per key that sleeps until the deadline.
struct CorioTimers;

impl ExpiryTimers for CorioTimers {
    type ExpiryTask = JoinHandle<()>;

    fn spawn_expiry(expiry: Expiry<Self>, deadline: std::time::Instant) -> JoinHandle<()> {
        corio::spawn(async move {
            sleep_until(Instant::from_std(deadline)).await;
            expiry.fire();
        })
    }

    fn cancel(task: JoinHandle<()>) {
        task.abort();
    }
}

fn main() {
    let config = protocol::parse_args("resp_server");
    corio::block_on(async move {
        let listener = TcpListener::bind(config.addr).await.expect("bind");
        let signals = shutdown::signals().expect("signal handlers");
        println!("resp_server listening on {}", listener.local_addr().unwrap());
        let db = Db::<CorioTimers>::default();
        shutdown::serve("resp_server", listener, signals, GRACE, |stream, shutdown| {
            corio::spawn(serve(stream, RespConnection::new(&db, &config), db.clone(), shutdown));
        })
        .await
        .expect("signal stream");
    });
}

/// One connection: read, execute every complete command, answer in one
/// write. While a write is pending nothing more is executed or read, so a
/// client that never reads holds at most about one reply's worth of memory.
/// Once the server is stopping, a connection with no command half-received
/// closes (after answering everything it read).
async fn serve(
    mut stream: TcpStream,
    mut conn: RespConnection,
    db: Db<CorioTimers>,
    mut shutdown: ShutdownSignal,
) {
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
        let read = if conn.buffered() == 0 {
            if shutdown.is_requested() {
                lingering_close(stream).await;
                return;
            }
            // Idle between commands: a stop request ends the wait too.
            // (Reading first: a command that has arrived is still served.)
            match race(stream.read(&mut chunk), shutdown.requested()).await {
                Either::Left(read) => read,
                Either::Right(()) => continue,
            }
        } else {
            stream.read(&mut chunk).await
        };
        match read {
            Ok(0) | Err(_) => return,
            Ok(n) => conn.received(&chunk[..n]),
        }
    }
}

/// Closes politely: stop writing, then discard what the client still sends
/// (at most a second, 64 KiB), so the kernel does not answer unread input
/// with a reset that could destroy the error reply before it is read.
async fn lingering_close(mut stream: TcpStream) {
    let _ = stream.shutdown(std::net::Shutdown::Write);
    let deadline = Instant::now() + Duration::from_secs(1);
    let mut sink = [0u8; 4096];
    let mut drained = 0;
    while drained < 64 * 1024 {
        match corio::time::timeout_at(deadline, stream.read(&mut sink)).await {
            Ok(Ok(n)) if n > 0 => drained += n,
            _ => return,
        }
    }
}
