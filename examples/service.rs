//! A small service with what a real program needs besides sockets: it reads
//! a config file, serves RPC, reloads the config on SIGHUP, and stops
//! gracefully on SIGTERM or SIGINT.
//!
//! What it shows, piece by piece:
//!
//! - **Files without stalling the runtime**: the config is read with
//!   `corio::fs::read_to_string`, which runs `std::fs` on the blocking pool.
//! - **Signals as a stream**: one `Signals` for SIGHUP, SIGTERM and SIGINT,
//!   awaited by a task like any socket (no thread per signal).
//! - **A `watch` channel for configuration**: the reload task `send`s each
//!   new config; request handlers `borrow` the latest; a long-poll route
//!   awaits the next change with `wait_for`.
//! - **Graceful shutdown**: SIGTERM makes `Server::serve_with_shutdown` stop
//!   accepting, answer late requests with `shutting down` (code 7), and let
//!   calls in flight finish (up to 30 s), then the process exits 0. SIGHUP
//!   still reloads meanwhile, which is what lets a waiting call complete.
//! - **Names**: `listen` may be a host name; it is looked up off the
//!   runtime thread.
//!
//! The config file is `key = value` lines (`#` starts a comment):
//!
//! ```text
//! listen = 127.0.0.1:7070
//! greeting = hello
//! ```
//!
//! Run it, call it, reload it, stop it:
//!
//! ```text
//! printf 'listen = 127.0.0.1:7070\ngreeting = hello\n' > /tmp/service.conf
//! cargo run --example service -- /tmp/service.conf &
//! cargo run --example service -- call 127.0.0.1:7070 greet ada      # hello, ada!
//! sed -i 's/hello/bonjour/' /tmp/service.conf && kill -HUP %1
//! cargo run --example service -- call 127.0.0.1:7070 greet ada      # bonjour, ada!
//! kill -TERM %1                                                      # exits 0
//! ```
//!
//! Routes: `greet NAME`; `config` (the generation and greeting in force);
//! `wait_reload N` (waits until the config generation is past N, then
//! answers like `config`). Changing `listen` takes a restart.
//! `tests/service.rs` drives all of it as a child process.

use std::process::ExitCode;
use std::rc::Rc;
use std::time::Duration;

use corio::net::TcpListener;
use corio::rpc::{Client, RpcError, Server};
use corio::signal::{SignalKind, Signals};
use corio::sync::{watch, Notify};

/// How long calls in flight may run once a stop signal arrived.
const GRACE: Duration = Duration::from_secs(30);

/// The settings in force.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Config {
    /// Counts loads: 1 for the config read at start, +1 per reload.
    generation: u64,
    listen: String,
    greeting: String,
}

impl Config {
    fn parse(text: &str, generation: u64) -> Result<Config, String> {
        let (mut listen, mut greeting) = (None, None);
        for (number, line) in text.lines().enumerate() {
            let line = line.split('#').next().unwrap_or_default().trim();
            if line.is_empty() {
                continue;
            }
            let Some((key, value)) = line.split_once('=') else {
                return Err(format!("line {}: expected `key = value`", number + 1));
            };
            let value = value.trim().to_string();
            match key.trim() {
                "listen" => listen = Some(value),
                "greeting" => greeting = Some(value),
                other => return Err(format!("line {}: unknown key `{other}`", number + 1)),
            }
        }
        Ok(Config {
            generation,
            listen: listen.ok_or("no `listen` address")?,
            greeting: greeting.ok_or("no `greeting`")?,
        })
    }

    fn describe(&self) -> String {
        format!("generation {}: greeting = {}", self.generation, self.greeting)
    }
}

/// Reads and parses the config file on the blocking pool.
async fn load(path: &str, generation: u64) -> Result<Config, String> {
    let text = corio::fs::read_to_string(path).await.map_err(|e| format!("cannot read {path}: {e}"))?;
    Config::parse(&text, generation).map_err(|e| format!("{path}: {e}"))
}

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    match args.as_slice() {
        [path] => corio::block_on(serve(path.clone())),
        [call, addr, method, rest @ ..] if call == "call" => corio::block_on(call_once(addr, method, rest)),
        _ => {
            eprintln!("usage: service CONFIG_FILE | service call ADDR METHOD [ARG]");
            ExitCode::FAILURE
        }
    }
}

async fn serve(path: String) -> ExitCode {
    let config = match load(&path, 1).await {
        Ok(config) => config,
        Err(error) => {
            eprintln!("service: {error}");
            return ExitCode::FAILURE;
        }
    };
    // Handlers first, then the announcement: a signal sent once we said
    // "listening" is never lost (and never kills us with its default action).
    let signals = match Signals::new([SignalKind::hangup(), SignalKind::terminate(), SignalKind::interrupt()])
    {
        Ok(signals) => signals,
        Err(error) => {
            eprintln!("service: cannot install signal handlers: {error}");
            return ExitCode::FAILURE;
        }
    };
    let listener = match TcpListener::bind(config.listen.as_str()).await {
        Ok(listener) => listener,
        Err(error) => {
            eprintln!("service: cannot listen on {}: {error}", config.listen);
            return ExitCode::FAILURE;
        }
    };
    println!(
        "service listening on {}",
        listener.local_addr().map_or(config.listen.clone(), |a| a.to_string())
    );

    let (config_tx, config_rx) = watch::channel(config);
    let stop = Rc::new(Notify::new());
    corio::spawn(handle_signals(signals, path, config_tx, stop.clone()));

    let (greet, show, wait) = (config_rx.clone(), config_rx.clone(), config_rx);
    let server = Server::new()
        .shutdown_grace(GRACE)
        .route("greet", move |request| {
            // `borrow` gives the config in force right now; a reload
            // between two calls is seen by the second.
            let answer =
                format!("{}, {}!", greet.borrow().greeting, String::from_utf8_lossy(request.payload()));
            async move { Ok(answer.into_bytes()) }
        })
        .route("config", move |_| {
            let answer = show.borrow().describe();
            async move { Ok(answer.into_bytes()) }
        })
        .route("wait_reload", move |request| {
            let mut config = wait.clone();
            async move {
                let seen: u64 = std::str::from_utf8(request.payload())
                    .ok()
                    .and_then(|n| n.trim().parse().ok())
                    .ok_or_else(|| RpcError::Remote {
                        code: corio::frame::code::APPLICATION,
                        message: "expected a generation number".into(),
                    })?;
                let newer = config.wait_for(|c| c.generation > seen).await.map_err(|_| RpcError::Remote {
                    code: corio::frame::code::APPLICATION,
                    message: "the service is stopping".into(),
                })?;
                Ok(newer.describe().into_bytes())
            }
        });
    match server.serve_with_shutdown(listener, async move { stop.notified().await }).await {
        Ok(()) => {
            println!("service stopped cleanly");
            ExitCode::SUCCESS
        }
        Err(error) => {
            eprintln!("service: server failed: {error}");
            ExitCode::FAILURE
        }
    }
}

/// SIGHUP: reload the config (a bad file keeps the old one). SIGTERM or
/// SIGINT: start the graceful shutdown; keep reloading until it ends.
async fn handle_signals(mut signals: Signals, path: String, config: watch::Sender<Config>, stop: Rc<Notify>) {
    let mut stopping = false;
    loop {
        let signal = match signals.recv().await {
            Ok(signal) => signal,
            Err(error) => {
                eprintln!("service: signal stream failed: {error}");
                return;
            }
        };
        if signal == SignalKind::hangup() {
            let (generation, listen) = {
                let current = config.borrow();
                (current.generation, current.listen.clone())
            };
            match load(&path, generation + 1).await {
                Ok(new) => {
                    if new.listen != listen {
                        eprintln!("service: `listen` changed to {}; it takes effect on restart", new.listen);
                    }
                    eprintln!("service: reloaded {path}: {}", new.describe());
                    config.send_replace(new);
                }
                Err(error) => eprintln!("service: reload failed, keeping generation {generation}: {error}"),
            }
        } else if !stopping {
            stopping = true;
            eprintln!("service: {signal:?}: shutting down (calls in flight may finish)");
            stop.notify_one();
        } else {
            eprintln!("service: {signal:?}: already shutting down");
        }
    }
}

/// `service call ADDR METHOD [ARG]`: one call, the answer on stdout.
async fn call_once(addr: &str, method: &str, arg: &[String]) -> ExitCode {
    let client = match Client::builder().default_timeout(Duration::from_secs(60)).connect(addr).await {
        Ok(client) => client,
        Err(error) => {
            eprintln!("cannot connect to {addr}: {error}");
            return ExitCode::FAILURE;
        }
    };
    match client.call(method, arg.join(" ").as_bytes()).await {
        Ok(answer) => {
            println!("{}", String::from_utf8_lossy(&answer));
            ExitCode::SUCCESS
        }
        Err(error) => {
            eprintln!("{method} failed: {error}");
            ExitCode::FAILURE
        }
    }
}

#[cfg(test)]
mod tests {
    use super::Config;

    #[test]
    fn parses_keys_comments_and_blank_lines() {
        let config =
            Config::parse("# a service\nlisten = localhost:0\n\n greeting =  hi there  # inline\n", 4);
        let want = Config { generation: 4, listen: "localhost:0".into(), greeting: "hi there".into() };
        assert_eq!(config, Ok(want));
    }

    #[test]
    fn rejects_what_it_does_not_understand() {
        assert_eq!(Config::parse("listen 1", 1), Err("line 1: expected `key = value`".into()));
        assert_eq!(Config::parse("colour = red", 1), Err("line 1: unknown key `colour`".into()));
        assert_eq!(Config::parse("greeting = hi", 1), Err("no `listen` address".into()));
        assert_eq!(Config::parse("listen = x:1", 1), Err("no `greeting`".into()));
    }
}
