//! `spawn_blocking` and the file helpers built on it, through the public API.

use std::cell::Cell;
use std::rc::Rc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{mpsc, Arc, Condvar, Mutex};
use std::time::Duration;

use corio::{spawn, spawn_blocking, Runtime};

/// A gate blocking threads until it is opened; remembers who opened it.
#[derive(Default)]
struct Gate {
    opened_by: Mutex<Option<&'static str>>,
    opened: Condvar,
}

impl Gate {
    fn open(&self, by: &'static str) {
        let mut opened_by = self.opened_by.lock().unwrap();
        opened_by.get_or_insert(by);
        self.opened.notify_all();
    }

    fn wait(&self) {
        let mut opened_by = self.opened_by.lock().unwrap();
        while opened_by.is_none() {
            opened_by = self.opened.wait(opened_by).unwrap();
        }
    }

    fn opened_by(&self) -> Option<&'static str> {
        *self.opened_by.lock().unwrap()
    }
}

#[test]
fn returns_the_closures_value() {
    let on_pool = corio::block_on(async {
        let caller = std::thread::current().id();
        spawn_blocking(move || std::thread::current().id() != caller).await.unwrap()
    });
    assert!(on_pool, "the closure ran on another thread");
}

#[test]
fn a_panic_reaches_the_handle_and_the_runtime_goes_on() {
    corio::block_on(async {
        let error = spawn_blocking(|| -> u8 { panic!("disk on fire") }).await.unwrap_err();
        assert!(error.is_panic());
        assert_eq!(error.panic_message(), Some("disk on fire"));
        // The pool thread survived its panic, and so did the runtime.
        assert_eq!(spawn_blocking(|| 5).await.unwrap(), 5);
        assert_eq!(spawn(async { 6 }).await.unwrap(), 6);
    });
}

/// 100 jobs block on a gate at the same time; a timer task on the runtime
/// thread must keep ticking while all of them are provably still running.
/// The gate is opened by the runtime after 5 such ticks, or (so that a
/// broken pool fails instead of hanging) by a watchdog thread after a minute.
#[test]
fn a_hundred_blocking_jobs_do_not_stall_a_timer_task() {
    const JOBS: usize = 100;
    const TICKS: usize = 5;
    let gate = Arc::new(Gate::default());
    let started = Arc::new(AtomicUsize::new(0));
    let watchdog = {
        let gate = gate.clone();
        std::thread::spawn(move || {
            let deadline = std::time::Instant::now() + Duration::from_secs(60);
            while gate.opened_by().is_none() && std::time::Instant::now() < deadline {
                std::thread::sleep(Duration::from_millis(10));
            }
            gate.open("watchdog");
        })
    };
    let ticks_while_running = corio::block_on(async {
        let jobs: Vec<_> = (0..JOBS)
            .map(|i| {
                let (gate, started) = (gate.clone(), started.clone());
                spawn_blocking(move || {
                    started.fetch_add(1, Ordering::SeqCst);
                    gate.wait();
                    i
                })
            })
            .collect();
        // The timer task: counts ticks seen while every job has started and
        // none can have finished (the gate is still shut), then opens it.
        let ticker = {
            let (gate, started) = (gate.clone(), started.clone());
            spawn(async move {
                let mut counted = 0;
                let mut interval = corio::time::interval(Duration::from_millis(1));
                while gate.opened_by().is_none() {
                    interval.tick().await;
                    if started.load(Ordering::SeqCst) == JOBS && gate.opened_by().is_none() {
                        counted += 1;
                        if counted == TICKS {
                            gate.open("runtime");
                        }
                    }
                }
                counted
            })
        };
        for (i, job) in jobs.into_iter().enumerate() {
            assert_eq!(job.await.unwrap(), i);
        }
        ticker.await.unwrap()
    });
    watchdog.join().unwrap();
    assert_eq!(gate.opened_by(), Some("runtime"), "the timer stalled, or fewer than {JOBS} jobs ran at once");
    assert_eq!(ticks_while_running, TICKS);
}

/// Sends on a channel when dropped: shows where (and that) a result died.
struct Tracked(mpsc::Sender<&'static str>);

impl Drop for Tracked {
    fn drop(&mut self) {
        let _ = self.0.send("dropped");
    }
}

#[test]
fn dropping_the_runtime_with_jobs_in_flight_neither_hangs_nor_leaks() {
    let gate = Arc::new(Gate::default());
    let (drops_tx, drops) = mpsc::channel();
    let (started_tx, started) = mpsc::channel();
    let rt = Runtime::new().unwrap();
    let awaited = Rc::new(Cell::new(false));
    {
        let (gate, awaited) = (gate.clone(), awaited.clone());
        rt.spawn(async move {
            let job = spawn_blocking(move || {
                started_tx.send(()).unwrap();
                gate.wait();
                Tracked(drops_tx)
            });
            let _result = job.await;
            awaited.set(true);
        });
    }
    rt.block_on(async { corio::task::yield_now().await });
    started.recv().unwrap();
    // The job is running and blocked; the runtime goes away under it.
    drop(rt);
    assert!(!awaited.get());
    gate.open("test");
    // Nobody awaits the result any more: the pool thread drops it.
    assert_eq!(drops.recv_timeout(Duration::from_secs(60)), Ok("dropped"));
}

#[test]
fn the_handle_can_be_awaited_from_another_runtime_and_thread() {
    let handle = spawn_blocking(|| "made outside any runtime");
    let other = std::thread::spawn(move || corio::block_on(handle).unwrap());
    assert_eq!(other.join().unwrap(), "made outside any runtime");
}

#[test]
fn dropping_the_handle_detaches_the_job() {
    let (done_tx, done) = mpsc::channel();
    corio::block_on(async move {
        let handle = spawn_blocking(move || done_tx.send(42).unwrap());
        drop(handle);
    });
    assert_eq!(done.recv().unwrap(), 42, "the job ran although nobody awaited it");
}

fn temp_path(name: &str) -> std::path::PathBuf {
    std::env::temp_dir().join(format!("corio-test-{}-{name}", std::process::id()))
}

#[test]
fn fs_write_then_read_round_trips() {
    let path = temp_path("round-trip");
    corio::block_on(async {
        corio::fs::write(&path, b"first").await.unwrap();
        corio::fs::write(&path, "second, longer").await.unwrap(); // truncates
        assert_eq!(corio::fs::read(&path).await.unwrap(), b"second, longer");
        assert_eq!(corio::fs::read_to_string(&path).await.unwrap(), "second, longer");
    });
    std::fs::remove_file(path).unwrap();
}

#[test]
fn fs_errors_are_std_errors() {
    let missing = temp_path("missing/file");
    let not_utf8 = temp_path("not-utf8");
    corio::block_on(async {
        let read = corio::fs::read(&missing).await.unwrap_err();
        assert_eq!(read.kind(), std::io::ErrorKind::NotFound);
        let write = corio::fs::write(&missing, b"x").await.unwrap_err();
        assert_eq!(write.kind(), std::io::ErrorKind::NotFound, "no such directory");
        corio::fs::write(&not_utf8, [0xff, 0xfe]).await.unwrap();
        let text = corio::fs::read_to_string(&not_utf8).await.unwrap_err();
        assert_eq!(text.kind(), std::io::ErrorKind::InvalidData);
    });
    std::fs::remove_file(not_utf8).unwrap();
}
