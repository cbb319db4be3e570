//! The HTTP/1.1 server of `http_server`, on tokio's `current_thread`
//! runtime: the comparison twin for `benches/real_servers.sh`.
//!
//! What it shows: the same program on another runtime. Parsing, routing
//! and responses are `examples/http/protocol.rs`, shared with the corio
//! version; only sockets, the connection loop (the same deadlines, with
//! `tokio::time::timeout_at`) and the `/stats` body (tokio's stable runtime
//! metrics) differ.
//!
//! ```sh
//! cargo run --release --example http_server_tokio -- --port 8081
//! wrk -t1 -c50 -d10s http://127.0.0.1:8081/
//! ```
//!
//! Flags, as for `http_server`: `--addr` (default 127.0.0.1), `--port`
//! (default 8080), `--header-timeout` (seconds, default 10),
//! `--idle-timeout` (seconds, default 60), `--max-header` (bytes, default 8192).

#[path = "../http/protocol.rs"]
mod protocol;

use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::time::{timeout_at, Instant};

use protocol::{response, Config, HttpConnection, Next};

fn main() {
    let config = protocol::parse_args("http_server_tokio");
    if config.track_tasks {
        eprintln!(
            "http_server_tokio: --track-tasks is corio's (`/tasks`); tokio's task dumps need unstable cfgs"
        );
    }
    let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().expect("runtime");
    runtime.block_on(async move {
        let listener = TcpListener::bind(config.addr).await.expect("bind");
        println!("http_server_tokio listening on http://{}", listener.local_addr().unwrap());
        loop {
            match listener.accept().await {
                Ok((stream, _)) => {
                    tokio::spawn(serve(stream, config));
                }
                Err(e) => eprintln!("http_server_tokio: accept failed: {e}"),
            }
        }
    });
}

async fn serve(mut stream: TcpStream, config: Config) {
    let _ = stream.set_nodelay(true);
    let mut conn = HttpConnection::new(&config);
    let mut chunk = vec![0u8; 16 * 1024];
    let mut request_deadline: Option<Instant> = None;
    loop {
        // Answer every complete request already buffered (pipelining).
        let (next, answered) = conn.answer(stats_json);
        if answered {
            request_deadline = None;
        }
        if !conn.output().is_empty() {
            if stream.write_all(conn.output()).await.is_err() {
                return;
            }
            conn.sent();
        }
        if next == Next::Close {
            lingering_close(stream).await;
            return;
        }
        // Idle connections get the idle timeout; a request that has begun
        // must arrive whole within the header timeout of its first byte,
        // however slowly the rest trickles in (slowloris).
        if !conn.in_request() {
            request_deadline = None;
        } else if request_deadline.is_none() {
            request_deadline = Some(Instant::now() + config.header_timeout);
        }
        let deadline = request_deadline.unwrap_or_else(|| Instant::now() + config.idle_timeout);
        match timeout_at(deadline, stream.read(&mut chunk)).await {
            Ok(Ok(0)) | Ok(Err(_)) => return,
            // A request head past the limit is answered (431) by the next
            // `answer`, before anything more is read.
            Ok(Ok(n)) => conn.received(&chunk[..n]),
            Err(_elapsed) => {
                if conn.in_request() {
                    let _ = stream.write_all(&response(408, "Request Timeout", b"request timeout\n")).await;
                    lingering_close(stream).await;
                }
                return;
            }
        }
    }
}

fn stats_json() -> String {
    let metrics = tokio::runtime::Handle::current().metrics();
    format!(
        "{{\"num_workers\":{},\"num_alive_tasks\":{}}}\n",
        metrics.num_workers(),
        metrics.num_alive_tasks()
    )
}

/// Closes politely, as `http_server` does: stop writing, then discard what
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
