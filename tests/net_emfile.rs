//! The accept loop survives running out of file descriptors.
//!
//! The test re-runs this test binary as a child process (marked by an
//! environment variable), because it lowers `RLIMIT_NOFILE`, which would
//! starve every other test of the process. In the child:
//!
//! 1. 60 blocking clients connect; the kernel completes their handshakes
//!    and queues them in the listener's backlog.
//! 2. The descriptor limit is lowered so only 20 more descriptors fit.
//! 3. The server accepts 20, then `accept(2)` fails with `EMFILE`. For half
//!    a second we measure the process's CPU time: a spinning loop would burn
//!    ~100% of it; the back-off must keep it under 30%.
//! 4. Dropping 10 accepted streams lets exactly 10 more in; dropping them
//!    all, repeatedly, lets in everyone else. No accept error ever reaches
//!    the loop.

#![cfg(target_os = "linux")]

use std::cell::RefCell;
use std::future::poll_fn;
use std::rc::Rc;
use std::task::{Poll, Waker};
use std::time::{Duration, Instant};

use corio::net::{TcpListener, TcpStream};

const CHILD_ENV: &str = "CORIO_NET_EMFILE_CHILD";
const TEST_NAME: &str = "accept_backs_off_when_descriptors_run_out";
const CLIENTS: usize = 60;
const ROOM: usize = 20;

#[test]
fn accept_backs_off_when_descriptors_run_out() {
    if std::env::var_os(CHILD_ENV).is_some() {
        return child();
    }
    let exe = std::env::current_exe().unwrap();
    let mut child = std::process::Command::new(exe)
        .args([TEST_NAME, "--exact", "--nocapture", "--test-threads=1"])
        .env(CHILD_ENV, "1")
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("run the child test process");
    // A watchdog, not synchronisation: an accept loop that spins on EMFILE
    // never lets the child's timers run, so it would hang forever.
    let deadline = Instant::now() + Duration::from_secs(60);
    let mut hung = false;
    while child.try_wait().unwrap().is_none() {
        if Instant::now() > deadline {
            hung = true;
            child.kill().unwrap();
            break;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    let output = child.wait_with_output().unwrap();
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    eprintln!("--- child stdout ---\n{stdout}\n--- child stderr ---\n{stderr}");
    assert!(!hung, "the child hung: the accept loop starved the runtime");
    assert!(output.status.success(), "child failed: {:?}", output.status);
    assert!(stdout.contains("1 passed"), "the child ran the test");
}

/// What the accept loop has done so far.
#[derive(Default)]
struct AcceptLog {
    accepted: Vec<TcpStream>,
    total: usize,
    errors: Vec<std::io::Error>,
    /// The test task waiting for `total` to reach a target.
    waiter: Option<Waker>,
}

fn child() {
    let rt = corio::Runtime::new().unwrap();
    rt.block_on(async {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();

        // 1. Clients, queued in the backlog (never accepted yet).
        let clients: Vec<_> = (0..CLIENTS).map(|_| std::net::TcpStream::connect(addr).unwrap()).collect();

        let mut cpu_clock = CpuClock::new();

        // 2. Leave exactly ROOM free descriptor numbers below the limit.
        // Descriptors already open above the limit stay valid; new ones
        // get the lowest free numbers, which must be below the limit.
        let open = open_descriptors();
        let limit = limit_leaving_room(&open, ROOM);
        let room = ROOM;
        let old = rustix::process::getrlimit(rustix::process::Resource::Nofile);
        let new = rustix::process::Rlimit { current: Some(limit as u64), maximum: old.maximum };
        rustix::process::setrlimit(rustix::process::Resource::Nofile, new).unwrap();
        println!("{} open descriptors, limit {limit}: room for {room} accepted connections", open.len());
        assert!(room < CLIENTS / 2, "the limit must bite");

        let server = Rc::new(RefCell::new(AcceptLog::default()));
        let state = server.clone();
        corio::spawn(async move {
            loop {
                let result = listener.accept().await;
                let mut state = state.borrow_mut();
                match result {
                    Ok((stream, _)) => {
                        state.accepted.push(stream);
                        state.total += 1;
                    }
                    Err(error) => state.errors.push(error),
                }
                let waiter = state.waiter.take();
                drop(state);
                if let Some(waiter) = waiter {
                    waiter.wake();
                }
            }
        });

        // 3. Fill the room, then measure CPU while the limit holds.
        wait_for_total(&server, room).await;
        let cpu_before = cpu_clock.now();
        let started = Instant::now();
        corio::time::sleep(Duration::from_millis(500)).await; // the measuring window
        let cpu = cpu_clock.now() - cpu_before;
        let wall = started.elapsed();
        println!("exhausted phase: {cpu:?} CPU over {wall:?} wall");
        assert_eq!(server.borrow().total, room, "nothing more fits under the limit");
        assert!(cpu.as_secs_f64() < 0.3 * wall.as_secs_f64(), "accept spun: {cpu:?} CPU in {wall:?}");
        assert!(server.borrow().errors.is_empty(), "exhaustion must not reach the accept loop");

        // 4. Free descriptors; accepting resumes.
        let freed = room / 2;
        let resumed = Instant::now();
        server.borrow_mut().accepted.truncate(room - freed);
        wait_for_total(&server, room + freed).await;
        println!("freed {freed} descriptors: accepting resumed after {:?}", resumed.elapsed());
        // Close every accepted stream, again and again, until all are in.
        while server.borrow().total < CLIENTS {
            let target = (server.borrow().total + room).min(CLIENTS);
            server.borrow_mut().accepted.clear();
            wait_for_total(&server, target).await;
        }
        assert!(server.borrow().errors.is_empty(), "{:?}", server.borrow().errors);
        drop(clients);
    });
}

/// Waits (at most 10 s) until the server has accepted `target` connections.
async fn wait_for_total(server: &Rc<RefCell<AcceptLog>>, target: usize) {
    let wait = poll_fn(|cx| {
        let mut state = server.borrow_mut();
        assert!(state.total <= target, "accepted {} > {target}", state.total);
        if state.total == target {
            return Poll::Ready(());
        }
        state.waiter = Some(cx.waker().clone());
        Poll::Pending
    });
    if corio::time::timeout(Duration::from_secs(10), wait).await.is_err() {
        let state = server.borrow();
        panic!("stuck at {} accepted (wanted {target}); errors: {:?}", state.total, state.errors);
    }
}

/// The descriptors open now.
fn open_descriptors() -> Vec<usize> {
    let fds: Vec<usize> = std::fs::read_dir("/proc/self/fd")
        .unwrap()
        .map(|entry| entry.unwrap().file_name().to_string_lossy().parse().unwrap())
        .collect();
    // The listing includes the descriptor of the directory being read,
    // closed again by now.
    fds.into_iter().filter(|fd| std::path::Path::new(&format!("/proc/self/fd/{fd}")).exists()).collect()
}

/// The smallest limit below which exactly `room` descriptor numbers are free.
fn limit_leaving_room(open: &[usize], room: usize) -> usize {
    let mut free = 0;
    let mut limit = 0;
    while free < room {
        if !open.contains(&limit) {
            free += 1;
        }
        limit += 1;
    }
    limit
}

/// User + system CPU time of the whole process, from `/proc/self/stat`
/// (fields 14 and 15, in clock ticks of 1/100 s). The file is opened once,
/// up front: under the lowered limit there is no descriptor to open it with.
struct CpuClock(std::fs::File);

impl CpuClock {
    fn new() -> CpuClock {
        CpuClock(std::fs::File::open("/proc/self/stat").unwrap())
    }

    fn now(&mut self) -> Duration {
        use std::io::{Read, Seek};
        let mut stat = String::new();
        self.0.rewind().unwrap();
        self.0.read_to_string(&mut stat).unwrap();
        // Fields after the command name, which is in parentheses and may hold spaces.
        let fields: Vec<&str> = stat[stat.rfind(')').unwrap() + 2..].split(' ').collect();
        let ticks: u64 = fields[11].parse::<u64>().unwrap() + fields[12].parse::<u64>().unwrap();
        Duration::from_millis(ticks * 10)
    }
}
