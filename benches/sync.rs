//! corio's sync primitives side by side with tokio and smol's crates.
//!
//! - `channel_1m`: one producer task sends 1M `u64`s through a bounded(1024)
//!   channel to one consumer task, which sums them.
//! - `oneshot_roundtrip`: 10k times: create a oneshot channel, spawn a task
//!   that sends on it, await the receiver. (async-executor has no oneshot,
//!   so its column uses `async_channel::bounded(1)`.)
//! - `watch_fanout`: 8 receiver tasks wait on `changed()`; one sender task
//!   sends 10k values, yielding after each so every receiver sees it: 80k
//!   change notifications (send + wake + `changed` + `borrow_and_update`).
//! - `broadcast_fanout`: 8 receiver tasks `recv` from a capacity-1024
//!   channel; one sender task sends 100k `u64`s, yielding after every 64
//!   so nobody lags (tokio's receivers stop after 128 messages per poll,
//!   its cooperative budget): 800k deliveries, each receiver checks its sum. (corio and tokio only: smol's crates
//!   have no watch or broadcast channel of this kind.)
//!
//! Every runtime is single-threaded and built once, outside the timed loop;
//! the work runs inside a spawned task so each executor's own run queue
//! (not its `block_on` wake path) carries the traffic.
//!
//! Run: `taskset -c 1 cargo bench --bench sync -- --noplot`

use std::hint::black_box;
use std::time::Duration;

use criterion::{criterion_group, criterion_main, BenchmarkGroup, Criterion, Throughput};

const MESSAGES: u64 = 1_000_000;
const CAPACITY: usize = 1024;
const ROUNDTRIPS: u64 = 10_000;
const RECEIVERS: u64 = 8;
const WATCH_SENDS: u64 = 10_000;
const BROADCAST_SENDS: u64 = 100_000;
const BROADCAST_BATCH: u64 = 64;
/// What each broadcast receiver adds up: every value, none lost to lag.
const BROADCAST_SUM: u64 = BROADCAST_SENDS * (BROADCAST_SENDS - 1) / 2;

fn configure(group: &mut BenchmarkGroup<'_, criterion::measurement::WallTime>) {
    group.sample_size(10);
    group.warm_up_time(Duration::from_millis(500));
    group.measurement_time(Duration::from_secs(3));
}

fn channel_1m(c: &mut Criterion) {
    let mut group = c.benchmark_group("channel_1m");
    configure(&mut group);
    group.throughput(Throughput::Elements(MESSAGES));

    let rt = corio::Runtime::new().unwrap();
    group.bench_function("corio", |b| {
        b.iter(|| {
            rt.block_on(async {
                let (tx, mut rx) = corio::sync::mpsc::channel::<u64>(CAPACITY);
                let producer = corio::spawn(async move {
                    for i in 0..MESSAGES {
                        tx.send(i).await.unwrap();
                    }
                });
                let consumer = corio::spawn(async move {
                    let mut sum = 0u64;
                    while let Some(v) = rx.recv().await {
                        sum += v;
                    }
                    sum
                });
                producer.await.unwrap();
                black_box(consumer.await.unwrap())
            })
        })
    });

    let rt = tokio::runtime::Builder::new_current_thread().build().unwrap();
    group.bench_function("tokio", |b| {
        b.iter(|| {
            rt.block_on(async {
                let (tx, mut rx) = tokio::sync::mpsc::channel::<u64>(CAPACITY);
                let producer = tokio::spawn(async move {
                    for i in 0..MESSAGES {
                        tx.send(i).await.unwrap();
                    }
                });
                let consumer = tokio::spawn(async move {
                    let mut sum = 0u64;
                    while let Some(v) = rx.recv().await {
                        sum += v;
                    }
                    sum
                });
                producer.await.unwrap();
                black_box(consumer.await.unwrap())
            })
        })
    });

    let ex = async_executor::LocalExecutor::new();
    group.bench_function("async-executor", |b| {
        b.iter(|| {
            futures_lite::future::block_on(ex.run(async {
                let (tx, rx) = async_channel::bounded::<u64>(CAPACITY);
                let producer = ex.spawn(async move {
                    for i in 0..MESSAGES {
                        tx.send(i).await.unwrap();
                    }
                });
                let consumer = ex.spawn(async move {
                    let mut sum = 0u64;
                    while let Ok(v) = rx.recv().await {
                        sum += v;
                    }
                    sum
                });
                producer.await;
                black_box(consumer.await)
            }))
        })
    });
    group.finish();
}

fn oneshot_roundtrip(c: &mut Criterion) {
    let mut group = c.benchmark_group("oneshot_roundtrip");
    configure(&mut group);
    group.throughput(Throughput::Elements(ROUNDTRIPS));

    let rt = corio::Runtime::new().unwrap();
    group.bench_function("corio", |b| {
        b.iter(|| {
            rt.block_on(rt.spawn(async {
                let mut sum = 0;
                for i in 0..ROUNDTRIPS {
                    let (tx, rx) = corio::sync::oneshot::channel::<u64>();
                    drop(corio::spawn(async move {
                        let _ = tx.send(i);
                    }));
                    sum += rx.await.unwrap();
                }
                black_box(sum)
            }))
            .unwrap()
        })
    });

    let rt = tokio::runtime::Builder::new_current_thread().build().unwrap();
    group.bench_function("tokio", |b| {
        b.iter(|| {
            rt.block_on(rt.spawn(async {
                let mut sum = 0;
                for i in 0..ROUNDTRIPS {
                    let (tx, rx) = tokio::sync::oneshot::channel::<u64>();
                    drop(tokio::spawn(async move {
                        let _ = tx.send(i);
                    }));
                    sum += rx.await.unwrap();
                }
                black_box(sum)
            }))
            .unwrap()
        })
    });

    // Leaked so the spawned task may borrow the executor to spawn more.
    let ex: &'static async_executor::LocalExecutor<'static> =
        Box::leak(Box::new(async_executor::LocalExecutor::new()));
    group.bench_function("async-executor", |b| {
        b.iter(|| {
            futures_lite::future::block_on(ex.run(ex.spawn(async {
                let mut sum = 0;
                for i in 0..ROUNDTRIPS {
                    let (tx, rx) = async_channel::bounded::<u64>(1);
                    ex.spawn(async move {
                        let _ = tx.send(i).await;
                    })
                    .detach();
                    sum += rx.recv().await.unwrap();
                }
                black_box(sum)
            })))
        })
    });
    group.finish();
}

fn watch_fanout(c: &mut Criterion) {
    let mut group = c.benchmark_group("watch_fanout");
    configure(&mut group);
    group.throughput(Throughput::Elements(WATCH_SENDS * RECEIVERS));

    let rt = corio::Runtime::new().unwrap();
    group.bench_function("corio", |b| {
        b.iter(|| {
            rt.block_on(async {
                let (tx, rx) = corio::sync::watch::channel(0u64);
                let receivers: Vec<_> = (0..RECEIVERS)
                    .map(|_| {
                        let mut rx = rx.clone();
                        corio::spawn(async move {
                            let mut seen = 0;
                            while *rx.borrow_and_update() != WATCH_SENDS {
                                rx.changed().await.unwrap();
                                seen += 1;
                            }
                            seen
                        })
                    })
                    .collect();
                drop(rx);
                corio::spawn(async move {
                    for i in 1..=WATCH_SENDS {
                        tx.send(i).unwrap();
                        corio::task::yield_now().await;
                    }
                })
                .await
                .unwrap();
                for receiver in receivers {
                    black_box(receiver.await.unwrap());
                }
            })
        })
    });

    let rt = tokio::runtime::Builder::new_current_thread().build().unwrap();
    group.bench_function("tokio", |b| {
        b.iter(|| {
            rt.block_on(async {
                let (tx, rx) = tokio::sync::watch::channel(0u64);
                let receivers: Vec<_> = (0..RECEIVERS)
                    .map(|_| {
                        let mut rx = rx.clone();
                        tokio::spawn(async move {
                            let mut seen = 0;
                            while *rx.borrow_and_update() != WATCH_SENDS {
                                rx.changed().await.unwrap();
                                seen += 1;
                            }
                            seen
                        })
                    })
                    .collect();
                drop(rx);
                tokio::spawn(async move {
                    for i in 1..=WATCH_SENDS {
                        tx.send(i).unwrap();
                        tokio::task::yield_now().await;
                    }
                })
                .await
                .unwrap();
                for receiver in receivers {
                    black_box(receiver.await.unwrap());
                }
            })
        })
    });
    group.finish();
}

fn broadcast_fanout(c: &mut Criterion) {
    let mut group = c.benchmark_group("broadcast_fanout");
    configure(&mut group);
    group.throughput(Throughput::Elements(BROADCAST_SENDS * RECEIVERS));

    let rt = corio::Runtime::new().unwrap();
    group.bench_function("corio", |b| {
        b.iter(|| {
            rt.block_on(async {
                let (tx, rx) = corio::sync::broadcast::channel::<u64>(CAPACITY);
                let receivers: Vec<_> = (0..RECEIVERS)
                    .map(|_| {
                        let mut rx = rx.resubscribe();
                        corio::spawn(async move {
                            let mut sum = 0u64;
                            while let Ok(v) = rx.recv().await {
                                sum += v;
                            }
                            sum
                        })
                    })
                    .collect();
                drop(rx);
                corio::spawn(async move {
                    for i in 0..BROADCAST_SENDS {
                        tx.send(i).unwrap();
                        if i % BROADCAST_BATCH == BROADCAST_BATCH - 1 {
                            corio::task::yield_now().await;
                        }
                    }
                })
                .await
                .unwrap();
                for receiver in receivers {
                    assert_eq!(receiver.await.unwrap(), BROADCAST_SUM);
                }
            })
        })
    });

    let rt = tokio::runtime::Builder::new_current_thread().build().unwrap();
    group.bench_function("tokio", |b| {
        b.iter(|| {
            rt.block_on(async {
                let (tx, rx) = tokio::sync::broadcast::channel::<u64>(CAPACITY);
                let receivers: Vec<_> = (0..RECEIVERS)
                    .map(|_| {
                        let mut rx = rx.resubscribe();
                        tokio::spawn(async move {
                            let mut sum = 0u64;
                            while let Ok(v) = rx.recv().await {
                                sum += v;
                            }
                            sum
                        })
                    })
                    .collect();
                drop(rx);
                tokio::spawn(async move {
                    for i in 0..BROADCAST_SENDS {
                        tx.send(i).unwrap();
                        if i % BROADCAST_BATCH == BROADCAST_BATCH - 1 {
                            tokio::task::yield_now().await;
                        }
                    }
                })
                .await
                .unwrap();
                for receiver in receivers {
                    assert_eq!(receiver.await.unwrap(), BROADCAST_SUM);
                }
            })
        })
    });
    group.finish();
}

criterion_group!(benches, channel_1m, oneshot_roundtrip, watch_fanout, broadcast_fanout);
criterion_main!(benches);
