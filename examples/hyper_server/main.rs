//! hyper's HTTP/1.1 and HTTP/2 server on corio, through the `hyper` feature.
//!
//! What it shows: the three pieces of `corio::hyper` in a real server.
//! [`HyperIo`] turns each accepted `TcpStream` into hyper IO;
//! [`HyperExecutor`] lets hyper spawn its HTTP/2 stream tasks as corio tasks
//! (no `Send` needed: the handlers below share an `Rc`); [`HyperTimer`]
//! gives hyper corio's timers for its header-read timeout. hyper-util's
//! `auto` builder picks the protocol per connection: HTTP/1.1 (keep-alive on),
//! or HTTP/2 when the client opens with the HTTP/2 preface (h2c with prior
//! knowledge; there is no TLS here, so no ALPN and no `Upgrade: h2c`).
//!
//! Routes: `GET /` says hello (the same bytes as `http_server`, so `wrk`
//! compares the two), `GET /sleep/MS` awaits a corio timer for MS
//! milliseconds (at most 10,000) before answering, `GET /count` counts the
//! requests this server answered (state in an `Rc<Cell>`, not `Send`).
//!
//! ```sh
//! cargo run --release --features hyper --example hyper_server -- --port 8080
//! curl http://127.0.0.1:8080/                          # HTTP/1.1
//! curl --http2-prior-knowledge http://127.0.0.1:8080/  # HTTP/2 (h2c)
//! curl http://127.0.0.1:8080/sleep/250                 # a timer inside a handler
//! wrk -t1 -c50 -d10s http://127.0.0.1:8080/
//! ```
//!
//! Flags: `--addr` (default 127.0.0.1), `--port` (default 8080),
//! `--header-timeout` (seconds to receive a request's headers, HTTP/1,
//! default 10); the others of `http_server` are accepted and ignored.
//!
//! Shortcuts, labelled: no TLS, no graceful shutdown (Ctrl-C kills it).

#[path = "../http/protocol.rs"]
#[allow(dead_code)] // only the flags are shared with http_server
mod protocol;

use std::cell::Cell;
use std::convert::Infallible;
use std::rc::Rc;
use std::time::Duration;

use corio::hyper::{HyperExecutor, HyperIo, HyperTimer};
use corio::net::TcpListener;
use http_body_util::Full;
use hyper::body::{Bytes, Incoming};
use hyper::{Method, Request, Response, StatusCode};
use hyper_util::server::conn::auto;

/// The longest `/sleep/MS` we honour.
const MAX_SLEEP_MS: u64 = 10_000;

fn main() {
    let config = protocol::parse_args("hyper_server");
    corio::block_on(async move {
        let listener = TcpListener::bind(config.addr).await.expect("bind");
        println!("hyper_server listening on http://{}", listener.local_addr().unwrap());

        let mut builder = auto::Builder::new(HyperExecutor::new());
        builder.http1().timer(HyperTimer::new()).header_read_timeout(config.header_timeout);
        builder.http2().timer(HyperTimer::new());
        let builder = Rc::new(builder);
        let answered = Rc::new(Cell::new(0u64));

        loop {
            let stream = match listener.accept().await {
                Ok((stream, _)) => stream,
                Err(e) => {
                    eprintln!("hyper_server: accept failed: {e}");
                    continue;
                }
            };
            let _ = stream.set_nodelay(true);
            let (builder, answered) = (builder.clone(), answered.clone());
            corio::spawn(async move {
                let service = hyper::service::service_fn(move |request| route(request, answered.clone()));
                // Errors here are the client's doing (a reset, a bad request
                // hyper already answered): nothing to do but drop the connection.
                let _ = builder.serve_connection(HyperIo::new(stream), service).await;
            });
        }
    });
}

async fn route(
    request: Request<Incoming>,
    answered: Rc<Cell<u64>>,
) -> Result<Response<Full<Bytes>>, Infallible> {
    answered.set(answered.get() + 1);
    if request.method() != Method::GET && request.method() != Method::HEAD {
        return Ok(text(StatusCode::METHOD_NOT_ALLOWED, "method not allowed\n".into()));
    }
    let path = request.uri().path();
    let response = if path == "/" {
        text(StatusCode::OK, Bytes::from_static(b"Hello, world!\n"))
    } else if path == "/count" {
        text(StatusCode::OK, format!("{}\n", answered.get()).into())
    } else if let Some(ms) = path.strip_prefix("/sleep/") {
        match ms.parse::<u64>() {
            Ok(ms) if ms <= MAX_SLEEP_MS => {
                // This task is suspended on a corio timer; the connection's
                // other streams (HTTP/2) and every other connection go on.
                corio::time::sleep(Duration::from_millis(ms)).await;
                text(StatusCode::OK, format!("slept {ms} ms\n").into())
            }
            _ => text(StatusCode::BAD_REQUEST, format!("/sleep/MS takes 0 to {MAX_SLEEP_MS}\n").into()),
        }
    } else {
        text(StatusCode::NOT_FOUND, "not found\n".into())
    };
    Ok(response)
}

fn text(status: StatusCode, body: Bytes) -> Response<Full<Bytes>> {
    let mut response = Response::new(Full::new(body));
    *response.status_mut() = status;
    response
        .headers_mut()
        .insert(hyper::header::CONTENT_TYPE, hyper::header::HeaderValue::from_static("text/plain"));
    response
}
