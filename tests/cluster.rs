//! The `cluster` example's retry path: a worker killed mid-run loses no
//! item. Runs the example's own `run` (the file is compiled in as a module),
//! with three worker threads on loopback.

#[path = "../examples/cluster.rs"]
#[allow(dead_code)]
mod cluster;

use std::time::Duration;

use cluster::{run, Config};

#[test]
fn killing_a_worker_mid_run_loses_no_item() {
    let config = Config { items: 300, kill_after: Some(100), ..Config::default() };
    let summary = run(&config);
    assert_eq!(summary.failures, 0, "{summary:?}");
    assert_eq!(summary.killed, Some(1), "{summary:?}");
    assert!(summary.retries > 0, "the kill caused no retry: {summary:?}");
    assert_eq!(summary.total, summary.expected, "{summary:?}");
    assert_eq!(summary.per_worker.iter().sum::<usize>(), 300, "{summary:?}");
    // The victim stopped serving; the survivors took over its share.
    let [first, victim, last] = summary.per_worker[..] else { panic!("{summary:?}") };
    assert!(victim < 100 && first > 100 && last > 100, "{summary:?}");
    assert!(summary.elapsed < Duration::from_secs(10), "{summary:?}");
}

#[test]
fn a_worker_dead_before_the_first_call_loses_no_item() {
    let config = Config { items: 90, kill_after: Some(0), victim: 2, ..Config::default() };
    let summary = run(&config);
    assert_eq!(summary.failures, 0, "{summary:?}");
    assert!(summary.retries > 0, "{summary:?}");
    assert_eq!(summary.total, summary.expected, "{summary:?}");
    assert_eq!(summary.per_worker.iter().sum::<usize>(), 90, "{summary:?}");
}

#[test]
fn without_a_kill_the_work_is_spread_evenly() {
    let summary = run(&Config { items: 60, ..Config::default() });
    assert_eq!((summary.retries, summary.failures, summary.killed), (0, 0, None), "{summary:?}");
    assert_eq!(summary.per_worker, [20, 20, 20]);
    assert_eq!(summary.total, summary.expected);
}
