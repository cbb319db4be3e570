//! Helpers the example-server tests share: starting a compiled example as a
//! child process, finding third-party programs (redis-server, the Python
//! venv with redis-py and h11), raw-socket exchanges, reading a process's
//! memory from /proc, and a child whose log lines a test waits for
//! ([`LoggedProcess`], for the tests that signal a server).
//!
//! Included by each test with `mod common;` (cargo compiles every test as
//! its own crate). A test that needs an external program fails with a clear
//! message when `CI` is set and the program is missing (`.ci/run` installs
//! them all), and skips with a printed notice otherwise.

#![allow(dead_code)] // each test uses a different subset

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdout, Command, Stdio};
use std::sync::mpsc::{self, Receiver};
use std::time::Duration;

use rustix::process::{kill_process, Pid, Signal};

/// A running child process (an example server or redis-server), killed on drop.
pub struct ServerProcess {
    pub child: Child,
    pub addr: SocketAddr,
}

impl ServerProcess {
    /// The server's process id, for /proc.
    pub fn pid(&self) -> u32 {
        self.child.id()
    }
}

impl Drop for ServerProcess {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A child process whose stderr lines arrive on a channel (and are echoed
/// to the test's output), so that a test waits for the program's own log
/// line instead of sleeping; signalled with `kill(2)`, killed on drop if the
/// test failed half-way.
pub struct LoggedProcess {
    child: Child,
    stdout: BufReader<ChildStdout>,
    stderr: Receiver<String>,
}

impl LoggedProcess {
    /// Starts `command` (its stdout and stderr piped here); returns it with
    /// the first line it printed on stdout. `label` prefixes its echoed
    /// stderr lines.
    pub fn start(label: &str, mut command: Command) -> (LoggedProcess, String) {
        let mut child = command.stdout(Stdio::piped()).stderr(Stdio::piped()).spawn().unwrap();
        let mut stdout = BufReader::new(child.stdout.take().unwrap());
        let mut first = String::new();
        stdout.read_line(&mut first).unwrap();
        let (lines, stderr) = mpsc::channel();
        let err = BufReader::new(child.stderr.take().unwrap());
        let label = label.to_owned();
        std::thread::spawn(move || {
            for line in err.lines().map_while(Result::ok) {
                eprintln!("  [{label}] {line}");
                if lines.send(line).is_err() {
                    break;
                }
            }
        });
        (LoggedProcess { child, stdout, stderr }, first)
    }

    pub fn signal(&self, signal: Signal) {
        kill_process(Pid::from_child(&self.child), signal).unwrap();
    }

    /// Waits (at most `patience`, then fails: a hang) for a stderr line
    /// containing `text`; returns it.
    pub fn wait_for_log(&self, text: &str, patience: Duration) -> String {
        loop {
            let line =
                self.stderr.recv_timeout(patience).unwrap_or_else(|_| panic!("no log line with {text:?}"));
            if line.contains(text) {
                return line;
            }
        }
    }

    /// Waits for the process to exit; returns whether it exited 0, and the
    /// rest of its stdout.
    pub fn finish(mut self) -> (bool, String) {
        let mut rest = String::new();
        self.stdout.read_to_string(&mut rest).unwrap();
        (self.child.wait().unwrap().success(), rest)
    }
}

impl Drop for LoggedProcess {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The compiled example `name` (cargo builds examples for `cargo test`).
pub fn example(name: &str) -> PathBuf {
    // target/<profile>/deps/<test>-<hash> -> target/<profile>/examples/<name>
    let exe = std::env::current_exe().unwrap();
    let dir = exe.parent().unwrap().parent().unwrap().join("examples");
    let path = dir.join(name);
    assert!(
        path.exists(),
        "{} is missing: `cargo test` builds examples; run it from the workspace root",
        path.display()
    );
    path
}

/// Starts example `name` on port 0 with `args`; returns once it has printed
/// the address it listens on.
pub fn start(name: &str, args: &[&str]) -> ServerProcess {
    let mut child =
        Command::new(example(name)).args(["--port", "0"]).args(args).stdout(Stdio::piped()).spawn().unwrap();
    let mut line = String::new();
    BufReader::new(child.stdout.take().unwrap()).read_line(&mut line).unwrap();
    // "... listening on 127.0.0.1:PORT" or "... on http://127.0.0.1:PORT"
    let addr = line.trim().rsplit(' ').next().unwrap().trim_start_matches("http://").parse().unwrap();
    ServerProcess { child, addr }
}

/// Under CI a missing program is a failure; elsewhere a notice and a skip.
fn missing(what: &str, install: &str) {
    if std::env::var_os("CI").is_some() {
        panic!("{what} is not installed; .ci/run installs it ({install})");
    }
    eprintln!("SKIPPED: {what} not installed ({install})");
}

/// The path of a command-line tool, or `None` (with a message) to skip.
pub fn tool(name: &str, package: &str) -> Option<&'static str> {
    let found =
        Command::new("sh").arg("-c").arg(format!("command -v {name}")).output().unwrap().status.success();
    if found {
        return Some(Box::leak(name.to_string().into_boxed_str()));
    }
    missing(name, &format!("apt-get install {package}"));
    None
}

/// The Python of the venv `.ci/run` makes (target/pyenv, with redis-py and
/// h11), or `None` (with a message) to skip.
pub fn python() -> Option<PathBuf> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let python = root.join("target/pyenv/bin/python");
    let ready = python.exists()
        && Command::new(&python)
            .args(["-c", "import redis, h11"])
            .stderr(Stdio::null())
            .status()
            .is_ok_and(|s| s.success());
    if ready {
        return Some(python);
    }
    missing(
        "the Python venv target/pyenv with redis and h11",
        "python3 -m venv target/pyenv && target/pyenv/bin/pip install redis h11",
    );
    None
}

/// A port on 127.0.0.1 that was free a moment ago (for redis-server, which
/// cannot be told to pick one and report it).
pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

/// Starts redis-server with persistence off on a free port, or `None` (with
/// a message) if it is not installed.
pub fn redis_server() -> Option<ServerProcess> {
    tool("redis-server", "redis-server")?;
    let port = free_port();
    let child = Command::new("redis-server")
        .args(["--save", "", "--appendonly", "no", "--bind", "127.0.0.1", "--port", &port.to_string()])
        .stdout(Stdio::null())
        .spawn()
        .unwrap();
    let addr: SocketAddr = ([127, 0, 0, 1], port).into();
    let server = ServerProcess { child, addr };
    // Ready once it answers PING (bounded: 10 s).
    for _ in 0..200 {
        if let Ok(mut stream) = TcpStream::connect(addr) {
            if exchange(&mut stream, b"PING\r\n", 7) == b"+PONG\r\n" {
                return Some(server);
            }
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    panic!("redis-server did not start on port {port}");
}

/// Reads everything until the server closes the connection (bounded).
pub fn read_to_close(stream: &mut TcpStream) -> Vec<u8> {
    stream.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    let mut out = Vec::new();
    stream.read_to_end(&mut out).expect("server should close the connection");
    out
}

/// Sends `bytes` on a new connection and reads until the server closes it.
pub fn raw(server: &ServerProcess, bytes: &[u8]) -> Vec<u8> {
    let mut stream = TcpStream::connect(server.addr).unwrap();
    stream.write_all(bytes).unwrap();
    read_to_close(&mut stream)
}

/// Sends `request` and reads exactly `len` bytes of reply (bounded).
pub fn exchange(stream: &mut TcpStream, request: &[u8], len: usize) -> Vec<u8> {
    stream.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    stream.write_all(request).unwrap();
    let mut reply = vec![0u8; len];
    stream.read_exact(&mut reply).unwrap();
    reply
}

/// A RESP command as a multibulk request.
pub fn resp_command(args: &[&[u8]]) -> Vec<u8> {
    let mut out = format!("*{}\r\n", args.len()).into_bytes();
    for arg in args {
        out.extend_from_slice(format!("${}\r\n", arg.len()).as_bytes());
        out.extend_from_slice(arg);
        out.extend_from_slice(b"\r\n");
    }
    out
}

/// The resident set size of process `pid`, in KiB (VmRSS in /proc/PID/status).
pub fn rss_kib(pid: u32) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    let line = status.lines().find(|l| l.starts_with("VmRSS:")).expect("VmRSS in /proc/PID/status");
    line.split_whitespace().nth(1).unwrap().parse().unwrap()
}

/// One HTTP response as h11 parsed it.
#[derive(Debug)]
pub struct HttpResponse {
    pub status: u16,
    /// Header names lower-cased (h11 normalises them), values as sent.
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

impl HttpResponse {
    /// The value of header `name` (lower case), if present.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.iter().find(|(n, _)| n == name).map(|(_, v)| v.as_str())
    }
}

/// Parses `bytes`, the responses a server sent to requests with `methods`
/// (in order; HEAD responses have no body), with Python's h11, a strict
/// third-party HTTP/1.1 implementation. Any framing or syntax error in a
/// response, or bytes after the last one, fails the test. `None` (with a
/// message) when the venv is missing outside CI.
pub fn h11_parse(bytes: &[u8], methods: &[&str]) -> Option<Vec<HttpResponse>> {
    let python = python()?;
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/common/h11_check.py");
    let mut child = Command::new(python)
        .arg(script)
        .args(methods)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    child.stdin.take().unwrap().write_all(bytes).unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(
        out.status.success(),
        "h11 rejected the server's responses: {}\nbytes: {:?}",
        String::from_utf8_lossy(&out.stderr),
        String::from_utf8_lossy(bytes)
    );
    let parsed: Vec<serde_json::Value> = serde_json::from_slice(&out.stdout).unwrap();
    Some(
        parsed
            .into_iter()
            .map(|r| HttpResponse {
                status: r["status"].as_u64().unwrap() as u16,
                headers: r["headers"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .map(|h| (h[0].as_str().unwrap().to_string(), h[1].as_str().unwrap().to_string()))
                    .collect(),
                body: r["body"].as_array().unwrap().iter().map(|b| b.as_u64().unwrap() as u8).collect(),
            })
            .collect(),
    )
}

/// `h11_parse` when h11 is there; otherwise a minimal parse by hand (status
/// line, headers, Content-Length bodies), so the tests still check statuses
/// and headers without the venv.
pub fn http_responses(bytes: &[u8], methods: &[&str]) -> Vec<HttpResponse> {
    if let Some(responses) = h11_parse(bytes, methods) {
        return responses;
    }
    let mut responses = Vec::new();
    let mut rest = bytes;
    for method in methods {
        let Some(end) = rest.windows(4).position(|w| w == b"\r\n\r\n") else { break };
        let head = String::from_utf8_lossy(&rest[..end]).into_owned();
        let mut lines = head.split("\r\n");
        let status = lines.next().unwrap()[9..12].parse().unwrap();
        let headers: Vec<(String, String)> = lines
            .map(|l| {
                let (n, v) = l.split_once(':').unwrap();
                (n.to_ascii_lowercase(), v.trim().to_string())
            })
            .collect();
        let len = headers.iter().find(|(n, _)| n == "content-length").map_or(0, |(_, v)| v.parse().unwrap());
        let len = if *method == "HEAD" { 0 } else { len };
        let body = rest[end + 4..end + 4 + len].to_vec();
        rest = &rest[end + 4 + len..];
        responses.push(HttpResponse { status, headers, body });
    }
    responses
}
