//! A key-value store over RPC: one server process, any number of clients.
//!
//! Shows routes sharing state without locks (every handler runs on the
//! server's one thread, so an `Rc<RefCell<HashMap>>` is enough), application
//! error codes, deadlines, and graceful shutdown triggered by a call or by
//! SIGINT (Ctrl-C) / SIGTERM: the server stops accepting, answers requests
//! that still arrive with a `shutting down` error (code 7), lets calls in
//! flight finish, and exits 0.
//!
//! Two terminals:
//!
//! ```text
//! cargo run --example rpc_kv -- server 127.0.0.1:7878
//! cargo run --example rpc_kv -- client 127.0.0.1:7878 set greeting hello
//! cargo run --example rpc_kv -- client 127.0.0.1:7878 get greeting
//! cargo run --example rpc_kv -- client 127.0.0.1:7878 del greeting
//! cargo run --example rpc_kv -- client 127.0.0.1:7878 keys
//! cargo run --example rpc_kv -- client 127.0.0.1:7878 shutdown
//! ```
//!
//! Payloads are plain bytes: `set` sends `key`, a zero byte, then the value;
//! the other methods send the key. The server also routes `echo`, which the
//! Python client in `docs/PROTOCOL.md` calls.

use std::cell::{Cell, RefCell};
use std::collections::BTreeMap;
use std::future::poll_fn;
use std::process::ExitCode;
use std::rc::Rc;
use std::task::{Poll, Waker};
use std::time::Duration;

use corio::net::TcpListener;
use corio::rpc::{Client, RpcError, Server};
use corio::signal::{SignalKind, Signals};
use corio::{race, Either};

/// Application error code: no such key.
const NOT_FOUND: u16 = corio::frame::code::APPLICATION;

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    // An address literal or a host name (looked up off the runtime thread).
    let addr = args.get(1).cloned();
    match (args.first().map(String::as_str), addr) {
        (Some("server"), Some(addr)) => server(addr),
        (Some("client"), Some(addr)) if args.len() >= 3 => client(addr, &args[2..]),
        _ => {
            eprintln!(
                "usage: rpc_kv server ADDR | rpc_kv client ADDR (get K | set K V | del K | keys | shutdown)"
            );
            ExitCode::FAILURE
        }
    }
}

type Store = Rc<RefCell<BTreeMap<String, Vec<u8>>>>;

fn server(addr: String) -> ExitCode {
    corio::block_on(async move {
        let listener = match TcpListener::bind(addr.as_str()).await {
            Ok(listener) => listener,
            Err(error) => {
                eprintln!("cannot listen on {addr}: {error}");
                return ExitCode::FAILURE;
            }
        };
        // Installed before we announce ourselves: from then on SIGINT and
        // SIGTERM mean "shut down gracefully", never "die on the spot".
        let mut signals = match Signals::new([SignalKind::interrupt(), SignalKind::terminate()]) {
            Ok(signals) => signals,
            Err(error) => {
                eprintln!("cannot install signal handlers: {error}");
                return ExitCode::FAILURE;
            }
        };
        match listener.local_addr() {
            Ok(local) => println!("rpc_kv listening on {local}"),
            Err(_) => println!("rpc_kv listening on {addr}"),
        }
        let store = Store::default();
        let stop = Stop::default();
        let (get, set, del, keys) = (store.clone(), store.clone(), store.clone(), store);
        let trigger = stop.clone();
        let server = Server::new()
            .shutdown_grace(Duration::from_secs(5))
            .route("echo", |request| async move { Ok(request.into_payload()) })
            .route("get", move |request| {
                let value = get.borrow().get(&key_of(request.payload())).cloned();
                async move { value.ok_or_else(|| not_found(request.payload())) }
            })
            .route("set", move |request| {
                let payload = request.payload();
                let split = payload.iter().position(|&b| b == 0).unwrap_or(payload.len());
                let value = payload.get(split + 1..).unwrap_or_default().to_vec();
                set.borrow_mut().insert(key_of(&payload[..split]), value);
                async { Ok(b"OK".to_vec()) }
            })
            .route("del", move |request| {
                let removed = del.borrow_mut().remove(&key_of(request.payload()));
                async move { removed.map(|_| b"OK".to_vec()).ok_or_else(|| not_found(request.payload())) }
            })
            .route("keys", move |_| {
                let names: Vec<String> = keys.borrow().keys().cloned().collect();
                async move { Ok(names.join("\n").into_bytes()) }
            })
            .route("shutdown", move |request| {
                println!("shutdown requested by {}", request.peer_addr());
                trigger.fire();
                async { Ok(b"bye".to_vec()) }
            });
        let shutdown = async move {
            match race(stop.wait(), signals.recv()).await {
                Either::Left(()) => eprintln!("rpc_kv: shutting down (requested by a call)"),
                Either::Right(signal) => eprintln!("rpc_kv: shutting down ({:?})", signal.ok()),
            }
        };
        match server.serve_with_shutdown(listener, shutdown).await {
            Ok(()) => {
                println!("rpc_kv stopped cleanly");
                ExitCode::SUCCESS
            }
            Err(error) => {
                eprintln!("server failed: {error}");
                ExitCode::FAILURE
            }
        }
    })
}

fn client(addr: String, command: &[String]) -> ExitCode {
    let (method, payload) = match command {
        [m, key] if m == "get" || m == "del" => (m.as_str(), key.as_bytes().to_vec()),
        [m, key, value] if m == "set" => (m.as_str(), [key.as_bytes(), b"\0", value.as_bytes()].concat()),
        [m] if m == "keys" || m == "shutdown" => (m.as_str(), Vec::new()),
        _ => {
            eprintln!("unknown command {command:?}");
            return ExitCode::FAILURE;
        }
    };
    corio::block_on(async move {
        let client =
            match Client::builder().default_timeout(Duration::from_secs(5)).connect(addr.as_str()).await {
                Ok(client) => client,
                Err(error) => {
                    eprintln!("cannot connect to {addr}: {error}");
                    return ExitCode::FAILURE;
                }
            };
        match client.call(method, &payload).await {
            Ok(answer) => {
                println!("{}", String::from_utf8_lossy(&answer));
                ExitCode::SUCCESS
            }
            Err(error) => {
                eprintln!("{method} failed: {error}");
                ExitCode::FAILURE
            }
        }
    })
}

fn key_of(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

fn not_found(key: &[u8]) -> RpcError {
    RpcError::Remote { code: NOT_FOUND, message: format!("no key `{}`", String::from_utf8_lossy(key)) }
}

/// A one-shot stop signal: `fire` completes `wait`.
#[derive(Clone, Default)]
struct Stop(Rc<(Cell<bool>, Cell<Option<Waker>>)>);

impl Stop {
    fn fire(&self) {
        self.0 .0.set(true);
        if let Some(waker) = self.0 .1.take() {
            waker.wake();
        }
    }

    async fn wait(self) {
        poll_fn(|cx| {
            if self.0 .0.get() {
                return Poll::Ready(());
            }
            self.0 .1.set(Some(cx.waker().clone()));
            Poll::Pending
        })
        .await;
    }
}
