//! `examples/service.rs` as a child process: it serves RPC from a config
//! file, reloads the file on SIGHUP (visible through an RPC), keeps its old
//! config when the new file is bad, and on SIGTERM lets a call in flight
//! finish before it exits 0.
//!
//! The gates are the service's own log lines on stderr and RPC answers,
//! never sleeps. The test's own runtime blocks its thread while it waits for
//! a log line; the call it keeps in flight meanwhile is answered into the
//! socket buffer and read afterwards.
#![cfg(target_os = "linux")]

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use common::{example, LoggedProcess};
use corio::rpc::{Client, RpcError};
use rustix::process::Signal;

mod common;

// The example compiled in as a module too, so its config parser's unit
// tests run here: `test = true` on the example would make cargo build the
// test harness in place of the program this file starts.
#[path = "../examples/service.rs"]
#[allow(dead_code)]
mod service_example;

const PATIENCE: Duration = Duration::from_secs(60);

/// A config file in the temp dir, removed on drop.
struct ConfigFile(PathBuf);

impl ConfigFile {
    fn new(name: &str) -> ConfigFile {
        ConfigFile(std::env::temp_dir().join(format!("corio-service-{}-{name}.conf", std::process::id())))
    }

    fn write(&self, greeting: &str) {
        self.write_raw(&format!(
            "# written by tests/service.rs\nlisten = 127.0.0.1:0\ngreeting = {greeting}\n"
        ));
    }

    fn write_raw(&self, text: &str) {
        std::fs::write(&self.0, text).unwrap();
    }
}

impl Drop for ConfigFile {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.0);
    }
}

struct Service {
    process: LoggedProcess,
    addr: String,
}

impl Service {
    fn start(config: &Path) -> Service {
        let mut command = Command::new(example("service"));
        command.arg(config);
        let (process, line) = LoggedProcess::start("service", command);
        assert!(line.starts_with("service listening on "), "{line:?}");
        let addr = line.trim().rsplit(' ').next().unwrap().to_string();
        Service { process, addr }
    }

    fn signal(&self, signal: Signal) {
        self.process.signal(signal);
    }

    fn wait_for_log(&self, text: &str) -> String {
        self.process.wait_for_log(text, PATIENCE)
    }
}

async fn call(client: &Client, method: &str, arg: &str) -> String {
    String::from_utf8(client.call(method, arg.as_bytes()).await.unwrap()).unwrap()
}

#[test]
fn reloads_on_sighup_and_finishes_a_call_in_flight_on_sigterm() {
    let config = ConfigFile::new("reload");
    config.write("hello");
    let service = Service::start(&config.0);
    let addr = service.addr.clone();
    corio::block_on(async {
        let client = Client::connect(addr.as_str()).await.unwrap();
        assert_eq!(call(&client, "greet", "ada").await, "hello, ada!");
        assert_eq!(call(&client, "config", "").await, "generation 1: greeting = hello");

        // SIGHUP: the new greeting is visible through the next call.
        config.write("bonjour");
        service.signal(Signal::HUP);
        assert_eq!(call(&client, "wait_reload", "1").await, "generation 2: greeting = bonjour");
        assert_eq!(call(&client, "greet", "ada").await, "bonjour, ada!");

        // A bad file is refused; the config in force stays.
        config.write_raw("greeting = no listen line\n");
        service.signal(Signal::HUP);
        service.wait_for_log("reload failed, keeping generation 2");
        assert_eq!(call(&client, "greet", "ada").await, "bonjour, ada!");

        // A call in flight: the server has it once the call sent after it
        // on the same connection is answered (frames are read in order).
        let in_flight = {
            let client = client.clone();
            corio::spawn(async move { call(&client, "wait_reload", "2").await })
        };
        assert_eq!(call(&client, "config", "").await, "generation 2: greeting = bonjour");
        service.signal(Signal::TERM);
        service.wait_for_log("shutting down");
        // Late requests are refused, unprocessed: by the server with code 7,
        // or by the client itself once the server's shutdown notice is in
        // (docs/PROTOCOL.md, "Shutdown"); the connection stays open while a
        // call is in flight, and that call is not touched.
        match client.call("greet", b"late").await {
            Err(RpcError::ShuttingDown) => {}
            other => panic!("a call after SIGTERM was not refused as unprocessed: {other:?}"),
        }
        // Still shutting down gracefully, the service reloads on SIGHUP,
        // which completes the waiting call with its full answer.
        config.write("hola");
        service.signal(Signal::HUP);
        assert_eq!(in_flight.await.unwrap(), "generation 3: greeting = hola");
    });
    let (success, rest) = service.process.finish();
    assert!(success, "the service did not exit 0: {rest}");
    assert!(rest.contains("service stopped cleanly"), "{rest}");
}

#[test]
fn a_missing_config_file_is_an_error_at_start() {
    let missing = std::env::temp_dir().join(format!("corio-service-{}-missing.conf", std::process::id()));
    let out = Command::new(example("service")).arg(&missing).output().unwrap();
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("cannot read") && stderr.contains("missing.conf"), "{stderr}");
}
