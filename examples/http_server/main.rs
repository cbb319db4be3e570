//! A small HTTP/1.1 server on corio, for `curl` and `wrk`.
//!
//! What it shows: keep-alive and pipelining (every complete request in the
//! buffer is answered, the responses leave in one write); parsing request
//! heads with the `httparse` crate rather than by hand; RFC 9112's message
//! framing, where request smuggling lives (one `Content-Length` of digits,
//! `Transfer-Encoding` ending in chunked, never both; chunked bodies decoded);
//! and the limits a server facing the internet needs: 400 for a malformed
//! request, 431 when the headers outgrow a limit (empty lines before the
//! request line count), 408 when a request takes too long to arrive (a
//! slowloris client trickling one byte a second is cut off at the deadline,
//! and its buffer never exceeds the header limit), 413 for a body over the
//! limit. Every response has a `Date`; a 405 says what is `Allow`ed.
//!
//! Routes: `GET /` says hello; `GET /stats` returns the runtime's counters
//! (`corio::stats()`) as JSON; `GET /tasks` a dump of every task
//! (`corio::dump()`): its state and what it waits on (the listener, a
//! connection's socket, a timer); with `--track-tasks`, also each task's
//! spawn site, polls and time since its last poll, and the sockets'
//! addresses. A way to see what a running server is doing, no signal needed.
//!
//! ```sh
//! cargo run --release --example http_server -- --port 8080
//! curl -v http://127.0.0.1:8080/stats
//! curl http://127.0.0.1:8080/tasks
//! wrk -t1 -c50 -d10s http://127.0.0.1:8080/
//! ```
//!
//! Flags: `--addr` (default 127.0.0.1), `--port` (default 8080),
//! `--header-timeout` (seconds to receive a request's headers, default 10),
//! `--idle-timeout` (seconds a keep-alive connection may sit idle, default 60),
//! `--max-header` (bytes, default 8192), `--track-tasks` (no value: keep
//! task details for `/tasks`, at the cost of a table update per poll).
//!
//! SIGINT (Ctrl-C) or SIGTERM stops it gracefully (`examples/shutdown/mod.rs`):
//! no new connections; idle keep-alive connections close at once; one with a
//! request under way receives the rest of it (within the header timeout),
//! answers it, and closes; then it exits 0.
//!
//! This file is the corio half: sockets, the connection loop with its
//! deadlines, and the `/stats` and `/tasks` bodies. Parsing, routing and responses are in
//! `examples/http/protocol.rs`, shared with `http_server_tokio`, the same
//! server on tokio (`benches/real_servers.sh` races the two).
//!
//! Shortcuts, labelled honestly: request bodies are read and discarded
//! (every route is GET/HEAD); no transfer coding but chunked (501); no TLS;
//! no `Expect: 100-continue` (a client waiting for it sends the body after
//! its own timeout).

#[path = "../http/protocol.rs"]
mod protocol;
#[path = "../shutdown/mod.rs"]
mod shutdown;

use std::time::Duration;

use corio::io::{AsyncReadExt, AsyncWriteExt};
use corio::net::{TcpListener, TcpStream};
use corio::time::{timeout_at, Instant};
use corio::{race, Either};

use protocol::{response, Config, HttpConnection, Next};
use shutdown::ShutdownSignal;

/// How long open connections may finish their requests once a stop signal arrived.
const GRACE: Duration = Duration::from_secs(10);

fn main() {
    let mut config = protocol::parse_args("http_server");
    config.tasks = Some(tasks_text);
    let runtime = corio::Runtime::builder().track_tasks(config.track_tasks).build().expect("runtime");
    runtime.block_on(async move {
        let listener = TcpListener::bind(config.addr).await.expect("bind");
        let signals = shutdown::signals().expect("signal handlers");
        println!("http_server listening on http://{}", listener.local_addr().unwrap());
        shutdown::serve("http_server", listener, signals, GRACE, |stream, shutdown| {
            corio::spawn(serve(stream, config, shutdown));
        })
        .await
        .expect("signal stream");
    });
}

async fn serve(mut stream: TcpStream, config: Config, mut shutdown: ShutdownSignal) {
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
        // Stopping: done once no request is under way (the answers are out).
        if next == Next::Close || (!conn.in_request() && shutdown.is_requested()) {
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
        let read = timeout_at(deadline, stream.read(&mut chunk));
        let read = if !conn.in_request() {
            // Idle keep-alive: a stop request ends the wait too. (Reading
            // first: a request that has arrived is still served.)
            match race(read, shutdown.requested()).await {
                Either::Left(read) => read,
                Either::Right(()) => continue,
            }
        } else {
            read.await
        };
        match read {
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

/// The `/tasks` page: `corio::dump()`, one line per task.
fn tasks_text() -> String {
    corio::dump().to_string()
}

fn stats_json() -> String {
    let s = corio::stats();
    format!(
        "{{\"tasks_spawned\":{},\"tasks_alive\":{},\"tasks_completed\":{},\"tasks_panicked\":{},\"polls\":{},\
         \"wakes_local\":{},\"wakes_remote\":{},\"reactor_turns\":{},\"io_events\":{},\"timers_fired\":{}}}\n",
        s.tasks_spawned,
        s.tasks_alive,
        s.tasks_completed,
        s.tasks_panicked,
        s.polls,
        s.wakes_local,
        s.wakes_remote,
        s.reactor_turns,
        s.io_events,
        s.timers_fired
    )
}

/// Closes politely: stop writing, then read and discard what the client is
/// still sending (for at most a second, 64 KiB). Closing with unread input
/// makes the kernel send a reset, which can destroy the response we just
/// wrote before the client reads it.
async fn lingering_close(mut stream: TcpStream) {
    let _ = stream.shutdown(std::net::Shutdown::Write);
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
