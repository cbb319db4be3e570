//! Timers, virtual time, fairness and idleness.

use std::cell::{Cell, RefCell};
use std::rc::Rc;
use std::time::Duration;

use corio::task::yield_now;
use corio::time::{interval, sleep, sleep_until, timeout, Elapsed, Instant, MissedTickBehavior};
use corio::{spawn, Runtime};

fn virtual_rt() -> Runtime {
    Runtime::builder().virtual_time(true).build().unwrap()
}

#[test]
fn timers_fire_in_deadline_order() {
    let rt = virtual_rt();
    let order = Rc::new(RefCell::new(Vec::new()));
    rt.block_on(async {
        let handles: Vec<_> = [5u64, 1, 4, 2, 3]
            .into_iter()
            .map(|secs| {
                let order = order.clone();
                spawn(async move {
                    sleep(Duration::from_secs(secs)).await;
                    order.borrow_mut().push(secs);
                })
            })
            .collect();
        for h in handles {
            h.await.unwrap();
        }
    });
    assert_eq!(*order.borrow(), vec![1, 2, 3, 4, 5]);
}

#[test]
fn dropping_a_sleep_cancels_it() {
    let rt = virtual_rt();
    let fired = Rc::new(Cell::new(false));
    rt.block_on(async {
        let f = fired.clone();
        let h = spawn(async move {
            sleep(Duration::from_secs(10)).await;
            f.set(true);
        });
        yield_now().await; // registered
        h.abort();
        sleep(Duration::from_secs(20)).await;
    });
    assert!(!fired.get());
    assert_eq!(rt.stats().timers_fired, 1, "only the 20 s sleep fired");
}

#[test]
fn reset_moves_a_sleep_both_ways() {
    let rt = virtual_rt();
    rt.block_on(async {
        let start = Instant::now();
        let mut s = sleep(Duration::from_secs(10));
        // Register, then postpone, then bring forward.
        assert!(futures_lite::future::poll_once(&mut s).await.is_none());
        s.reset(start + Duration::from_secs(30));
        assert!(futures_lite::future::poll_once(&mut s).await.is_none());
        s.reset(start + Duration::from_secs(20));
        s.await;
        assert_eq!(start.elapsed(), Duration::from_secs(20));
    });
}

#[test]
fn virtual_time_runs_an_hour_of_timeouts_instantly() {
    let rt = virtual_rt();
    let wall = std::time::Instant::now();
    let fired = rt.block_on(async {
        let start = Instant::now();
        let mut handles = Vec::new();
        for minute in 1..=60u64 {
            handles.push(spawn(async move {
                let r = timeout(Duration::from_secs(minute * 60), std::future::pending::<()>()).await;
                assert_eq!(r, Err(Elapsed));
                Instant::now()
            }));
        }
        let mut last = start;
        for h in handles {
            let at = h.await.unwrap();
            assert!(at >= last);
            last = at;
        }
        last - start
    });
    assert_eq!(fired, Duration::from_secs(3600));
    // An interpreter is too slow for a wall-clock bound; the virtual hour
    // above is the point of the test.
    if !cfg!(miri) {
        assert!(wall.elapsed() < Duration::from_secs(5), "virtual hour took {:?}", wall.elapsed());
    }
}

#[test]
fn timeout_lets_a_ready_future_win() {
    let rt = virtual_rt();
    rt.block_on(async {
        assert_eq!(timeout(Duration::ZERO, async { 3 }).await, Ok(3));
        let slow = async {
            sleep(Duration::from_secs(2)).await;
            1
        };
        assert_eq!(timeout(Duration::from_secs(1), slow).await, Err(Elapsed));
    });
}

#[test]
fn interval_policies_on_a_virtual_clock() {
    let rt = virtual_rt();
    rt.block_on(async {
        let start = Instant::now();
        let period = Duration::from_secs(10);
        // Ticks at 0, then the task stalls 35 s, then takes 3 more ticks.
        // (scheduled instants, instants the tick completed), in seconds.
        for (behavior, scheduled, completed) in [
            (MissedTickBehavior::Burst, [10, 20, 30], [35, 35, 35]),
            (MissedTickBehavior::Delay, [10, 45, 55], [35, 45, 55]),
            (MissedTickBehavior::Skip, [10, 40, 50], [35, 40, 50]),
        ] {
            let base = Instant::now();
            let mut ticks = interval(period);
            ticks.set_missed_tick_behavior(behavior);
            assert_eq!(ticks.tick().await, base);
            sleep(Duration::from_secs(35)).await;
            let (mut seen_scheduled, mut seen_completed) = (Vec::new(), Vec::new());
            for _ in 0..3 {
                let at = ticks.tick().await;
                seen_scheduled.push((at - base).as_secs());
                seen_completed.push((Instant::now() - base).as_secs());
            }
            assert_eq!(seen_scheduled, scheduled, "{behavior:?}");
            assert_eq!(seen_completed, completed, "{behavior:?}");
        }
        assert!(start.elapsed() > Duration::ZERO);
    });
}

#[test]
fn a_yield_loop_does_not_starve_a_timer() {
    // Real time: a task that is always ready must not keep a 10 ms timer
    // from firing. The spinning task stops as soon as the timer fires.
    let rt = Runtime::new().unwrap();
    let fired = Rc::new(Cell::new(false));
    let spins = rt.block_on(async {
        let f = fired.clone();
        let spinner = spawn(async move {
            let mut spins = 0u64;
            while !f.get() {
                spins += 1;
                yield_now().await;
            }
            spins
        });
        sleep(Duration::from_millis(10)).await;
        fired.set(true);
        spinner.await.unwrap()
    });
    assert!(spins > 0);
}

#[test]
fn an_idle_runtime_on_the_real_clock_sleeps_until_the_deadline() {
    // Nothing else to do: the runtime waits in the kernel for the deadline
    // (a timerfd on Linux; under Miri, which has none, epoll's own timeout).
    // Only the lower bound is checked: a loaded machine may oversleep.
    let rt = Runtime::new().unwrap();
    let start = std::time::Instant::now();
    let (a, b) = rt.block_on(async {
        let a = spawn(async {
            sleep(Duration::from_millis(3)).await;
            std::time::Instant::now()
        });
        sleep(Duration::from_millis(5)).await;
        (a.await.unwrap(), std::time::Instant::now())
    });
    assert!(a - start >= Duration::from_millis(3));
    assert!(b - start >= Duration::from_millis(5));
    assert_eq!(rt.stats().timers_fired, 2);
}

#[test]
fn a_self_waking_task_does_not_starve_timers_with_virtual_time() {
    // Budget check without wall time: with virtual time, a constantly ready
    // task means the clock never advances... unless the sleeper's deadline is
    // already due. Here the deadline is "now", so only fairness matters.
    let rt = Runtime::builder().virtual_time(true).budget(4).build().unwrap();
    rt.block_on(async {
        let stop = Rc::new(Cell::new(false));
        let s = stop.clone();
        spawn(async move {
            while !s.get() {
                yield_now().await;
            }
        });
        sleep_until(Instant::now()).await;
        sleep(Duration::ZERO).await;
        stop.set(true);
    });
}

/// User + system CPU time of the calling thread, from /proc/thread-self/stat
/// (Linux). Per thread, so tests running in parallel do not count.
fn thread_cpu_time() -> Duration {
    let stat = std::fs::read_to_string("/proc/thread-self/stat").unwrap();
    // Fields after the command name (which is in parentheses).
    let after = &stat[stat.rfind(')').unwrap() + 2..];
    let fields: Vec<&str> = after.split_whitespace().collect();
    let ticks: u64 = fields[11].parse::<u64>().unwrap() + fields[12].parse::<u64>().unwrap();
    let hz = 100; // USER_HZ on Linux
    Duration::from_millis(ticks * 1000 / hz)
}

#[test]
#[cfg_attr(miri, ignore = "reads /proc (isolation) and measures real CPU time")]
fn an_idle_runtime_sleeps_in_the_kernel() {
    let rt = Runtime::new().unwrap();
    let cpu_before = thread_cpu_time();
    let wall = std::time::Instant::now();
    rt.block_on(sleep(Duration::from_secs(2)));
    let wall = wall.elapsed();
    let cpu = thread_cpu_time() - cpu_before;
    assert!(wall >= Duration::from_secs(2));
    // This thread's CPU time only (10 ms resolution): a busy-polling runtime
    // would burn the whole 2 s; a parked one uses well under 5% of it.
    assert!(cpu < wall / 20, "used {cpu:?} of CPU in {wall:?}");
    assert!(rt.stats().reactor_turns < 10, "{:?}", rt.stats());
}

/// A waker that only counts how many copies of it exist (`Arc::strong_count`):
/// a runtime that still holds a timer for a dropped `Sleep` holds a copy.
struct Witness;

impl std::task::Wake for Witness {
    fn wake(self: std::sync::Arc<Self>) {}
}

/// Polls `sleep` once with a waker that is a copy of `witness`.
fn register(sleep: &mut corio::time::Sleep, witness: &std::sync::Arc<Witness>) {
    let waker = std::task::Waker::from(witness.clone());
    let mut cx = std::task::Context::from_waker(&waker);
    assert!(std::pin::Pin::new(sleep).poll(&mut cx).is_pending());
}

use std::future::Future;

#[test]
#[allow(clippy::async_yields_async)] // on purpose: the armed sleep leaves `block_on`
fn a_sleep_dropped_after_block_on_returned_frees_its_timer() {
    let rt = virtual_rt();
    let witness = std::sync::Arc::new(Witness);
    let sleep = rt.block_on(async {
        let mut sleep = sleep(Duration::from_secs(3600));
        register(&mut sleep, &witness);
        sleep
    });
    assert_eq!(std::sync::Arc::strong_count(&witness), 2, "the armed timer holds the waker");
    drop(sleep); // no runtime is current here
    rt.block_on(async {});
    assert_eq!(std::sync::Arc::strong_count(&witness), 1, "the runtime freed the timer and its waker");
}

/// A flag another thread raises, which a task can await.
#[derive(Default)]
struct Flag {
    raised: std::sync::atomic::AtomicBool,
    waiter: std::sync::Mutex<Option<std::task::Waker>>,
}

impl Flag {
    fn raise(&self) {
        self.raised.store(true, std::sync::atomic::Ordering::SeqCst);
        if let Some(waker) = self.waiter.lock().unwrap().take() {
            waker.wake();
        }
    }

    async fn wait(&self) {
        std::future::poll_fn(|cx| {
            *self.waiter.lock().unwrap() = Some(cx.waker().clone());
            if self.raised.load(std::sync::atomic::Ordering::SeqCst) {
                return std::task::Poll::Ready(());
            }
            std::task::Poll::Pending
        })
        .await
    }
}

#[test]
fn a_sleep_dropped_on_another_thread_frees_its_timer() {
    // A real clock: a virtual one would jump to the hour-long deadline (and
    // fire the timer, freeing it) while the runtime waits for the thread.
    let rt = Runtime::new().unwrap();
    let witness = std::sync::Arc::new(Witness);
    rt.block_on(async {
        let mut timer = sleep(Duration::from_secs(3600));
        register(&mut timer, &witness);
        let flag = std::sync::Arc::new(Flag::default());
        let raise = flag.clone();
        let thread = std::thread::spawn(move || {
            drop(timer);
            raise.raise();
        });
        flag.wait().await;
        // The drop went to the runtime's injector; the next park frees it.
        // Any timer makes the runtime park before this task goes on.
        sleep(Duration::from_millis(1)).await;
        assert_eq!(std::sync::Arc::strong_count(&witness), 1, "the runtime freed the timer and its waker");
        thread.join().unwrap();
    });
}

#[test]
#[allow(clippy::async_yields_async)] // on purpose: the armed sleep leaves `block_on`
fn a_sleep_moved_to_another_runtime_frees_its_first_timer() {
    let first = virtual_rt();
    let second = virtual_rt();
    let witness = std::sync::Arc::new(Witness);
    let mut sleep = first.block_on(async {
        let mut sleep = sleep(Duration::from_secs(3600));
        register(&mut sleep, &witness);
        sleep
    });
    second.block_on(async {
        register(&mut sleep, &witness);
    });
    assert_eq!(
        std::sync::Arc::strong_count(&witness),
        3,
        "one timer in each runtime, until the first runtime runs"
    );
    first.block_on(async {});
    assert_eq!(std::sync::Arc::strong_count(&witness), 2, "the first runtime freed its timer");
    drop(sleep);
    second.block_on(async {});
    assert_eq!(std::sync::Arc::strong_count(&witness), 1);
}
