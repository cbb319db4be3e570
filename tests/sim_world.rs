//! The simulated world through its public API: the network's TCP shape,
//! faults (crash, restart, partition, clog, reset, stop), replay by seed
//! and the determinism check, failures the world reports, the harness.

use std::cell::{Cell, RefCell};
use std::collections::{BTreeSet, HashMap};
use std::io::ErrorKind;
use std::rc::Rc;
use std::time::Duration;

use corio::io::{AsyncReadExt, AsyncWriteExt};
use corio::sim::net::{TcpListener, TcpStream};
use corio::sim::{Chaos, Config, Fault, Harness, SimError, World};
use corio::time::{sleep, Instant};

/// A node that echoes every connection, byte for byte.
fn echo_server(world: &mut World, name: &str, port: u16) {
    world.node(name, move || async move {
        let listener = TcpListener::bind(("0.0.0.0", port)).await.unwrap();
        loop {
            let (stream, _) = listener.accept().await.unwrap();
            corio::spawn(async move {
                let (mut reader, mut writer) = stream.into_split();
                let _ = corio::io::copy(&mut reader, &mut writer).await;
            });
        }
    });
}

#[test]
fn a_round_trip_takes_two_latencies_of_virtual_time() {
    let mut world = World::new(1);
    echo_server(&mut world, "server", 7000);
    let rtt = world.client("client", async {
        let mut stream = TcpStream::connect("server:7000").await.unwrap();
        assert_eq!(stream.peer_addr().unwrap().port(), 7000);
        let start = Instant::now();
        stream.write_all(b"ping").await.unwrap();
        let mut buf = [0u8; 4];
        stream.read_exact(&mut buf).await.unwrap();
        assert_eq!(&buf, b"ping");
        start.elapsed()
    });
    world.run().unwrap();
    let rtt = rtt.take().unwrap();
    // Default latency: 200 µs to 2 ms each way (spikes aside).
    assert!(rtt >= Duration::from_micros(400), "{rtt:?}");
    assert!(world.elapsed() < Duration::from_secs(1));
}

#[test]
fn addresses_names_and_bind_errors() {
    let mut world = World::new(2);
    let results = world.client("client", async move {
        let a = TcpListener::bind("0.0.0.0:80").await.unwrap();
        let ip = a.local_addr().unwrap().ip();
        let in_use = TcpListener::bind("127.0.0.1:80").await.unwrap_err().kind();
        let ephemeral = TcpListener::bind("127.0.0.1:0").await.unwrap().local_addr().unwrap().port();
        let unknown = TcpStream::connect("nowhere:80").await.unwrap_err().kind();
        let refused = TcpStream::connect("client:81").await.unwrap_err().kind();
        let bad = TcpStream::connect("no port").await.unwrap_err().kind();
        let loopback = TcpStream::connect("localhost:80").await.is_ok();
        (ip, in_use, ephemeral, unknown, refused, bad, loopback)
    });
    world.run().unwrap();
    let (ip, in_use, ephemeral, unknown, refused, bad, loopback) = results.take().unwrap();
    assert_eq!(ip, world.ip("client"), "0.0.0.0 binds the node's own address");
    assert!(ip.to_string().starts_with("127.77."), "{ip}");
    assert_eq!(in_use, ErrorKind::AddrInUse);
    assert!(ephemeral >= 49152);
    assert_eq!(unknown, ErrorKind::NotFound);
    assert_eq!(refused, ErrorKind::ConnectionRefused);
    assert_eq!(bad, ErrorKind::InvalidInput);
    assert!(loopback);
}

#[test]
fn halves_read_and_write_from_two_tasks_and_a_dropped_writer_ends_the_stream() {
    let mut world = World::new(3);
    echo_server(&mut world, "server", 7000);
    let echoed = world.client("client", async {
        let stream = TcpStream::connect("server:7000").await.unwrap();
        let (mut reader, mut writer) = stream.into_split();
        let writing = corio::spawn(async move {
            for chunk in 0..100u8 {
                writer.write_all(&[chunk; 1000]).await.unwrap();
            }
            // Dropping the write half sends end of stream; the echo
            // server's copy ends and closes its side.
        });
        let mut all = Vec::new();
        reader.read_to_end(&mut all).await.unwrap();
        writing.await.unwrap();
        all
    });
    world.run().unwrap();
    let echoed = echoed.take().unwrap();
    assert_eq!(echoed.len(), 100_000);
    assert!(echoed.chunks(1000).enumerate().all(|(i, chunk)| chunk.iter().all(|&b| b == i as u8)));
}

#[test]
fn a_writer_waits_for_a_reader_past_the_window() {
    let mut world = World::new(4);
    let read_started = Rc::new(Cell::new(false));
    let flag = read_started.clone();
    world.node("slow-reader", move || {
        let flag = flag.clone();
        async move {
            let listener = TcpListener::bind("0.0.0.0:1").await.unwrap();
            let (mut stream, _) = listener.accept().await.unwrap();
            sleep(Duration::from_secs(10)).await;
            flag.set(true);
            let mut sink = Vec::new();
            stream.read_to_end(&mut sink).await.unwrap();
            assert_eq!(sink.len(), 1 << 20);
        }
    });
    let flag = read_started.clone();
    let finished_after_read = world.client("writer", async move {
        let mut stream = TcpStream::connect("slow-reader:1").await.unwrap();
        stream.write_all(&vec![7u8; 1 << 20]).await.unwrap();
        flag.get()
    });
    world.run().unwrap();
    assert!(
        finished_after_read.take().unwrap(),
        "1 MiB cannot fit the 64 KiB window before the reader reads"
    );
}

/// One run: a client pings a server every 10 ms; a scripted crash and
/// restart in the middle. Returns what the client saw.
fn crash_and_restart(seed: u64) -> (Vec<String>, World) {
    let mut world = World::new(seed);
    let lives = Rc::new(Cell::new(0));
    let counter = lives.clone();
    world.node("server", move || {
        counter.set(counter.get() + 1);
        async move {
            let listener = TcpListener::bind("0.0.0.0:7000").await.unwrap();
            // State kept in the node's tasks starts again with each life.
            let served = Rc::new(Cell::new(0u8));
            loop {
                let (mut stream, _) = listener.accept().await.unwrap();
                let served = served.clone();
                corio::spawn(async move {
                    let mut byte = [0u8; 1];
                    while stream.read_exact(&mut byte).await.is_ok() {
                        served.set(served.get() + 1);
                        if stream.write_all(&[served.get()]).await.is_err() {
                            break;
                        }
                    }
                });
            }
        }
    });
    world.schedule(Duration::from_millis(55), Fault::Crash("server".into()));
    world.schedule(Duration::from_millis(200), Fault::Restart("server".into()));
    let seen = world.client("client", async {
        let mut seen = Vec::new();
        let mut stream = None;
        while seen.len() < 40 {
            if stream.is_none() {
                match TcpStream::connect("server:7000").await {
                    Ok(s) => {
                        seen.push("connected".to_string());
                        stream = Some(s);
                    }
                    Err(error) => {
                        seen.push(format!("connect: {:?}", error.kind()));
                        sleep(Duration::from_millis(30)).await;
                        continue;
                    }
                }
            }
            let s = stream.as_mut().unwrap();
            let mut reply = [0u8; 1];
            match async {
                s.write_all(b"?").await?;
                s.read_exact(&mut reply).await
            }
            .await
            {
                Ok(()) => seen.push(format!("reply {}", reply[0])),
                Err(error) => {
                    seen.push(format!("error: {:?}", error.kind()));
                    stream = None;
                }
            }
            sleep(Duration::from_millis(10)).await;
        }
        seen
    });
    world.run().unwrap();
    assert_eq!(lives.get(), 2);
    (seen.take().unwrap(), world)
}

#[test]
fn a_crash_resets_connections_refuses_connects_and_a_restart_starts_fresh() {
    let (seen, world) = crash_and_restart(5);
    let first_error = seen.iter().position(|s| s.starts_with("error")).expect("the crash is seen");
    assert_eq!(seen[first_error], "error: ConnectionReset");
    assert!(seen[..first_error].iter().filter(|s| s.starts_with("reply")).count() >= 3);
    let after: Vec<&String> = seen[first_error + 1..].iter().collect();
    assert_eq!(after[0], "connect: ConnectionRefused", "{seen:?}");
    // After the restart the server's state is new: replies count from 1 again.
    let reconnected = after.iter().position(|s| *s == "connected").expect("reconnects after the restart");
    assert_eq!(after[reconnected + 1], "reply 1", "{seen:?}");
    assert!(world.faults().len() == 2);
}

#[test]
fn the_same_seed_replays_the_same_run_and_digest() {
    let (seen_a, world_a) = crash_and_restart(11);
    let (seen_b, world_b) = crash_and_restart(11);
    assert_eq!(seen_a, seen_b);
    assert_eq!(world_a.digest(), world_b.digest());
    assert_eq!(world_a.events(), world_b.events());
    assert_eq!(world_a.elapsed(), world_b.elapsed());
    let digests: BTreeSet<_> = (20..26).map(|seed| crash_and_restart(seed).1.digest()).collect();
    assert_eq!(digests.len(), 6, "other seeds, other runs");
}

#[test]
fn seeds_explore_the_order_of_ready_tasks_inside_a_node() {
    let order = |seed| {
        let mut world = World::new(seed);
        let out = world.client("solo", async {
            let seen = Rc::new(RefCell::new(Vec::new()));
            let tasks: Vec<_> = (0..4)
                .map(|i| {
                    let seen = seen.clone();
                    corio::spawn(async move {
                        for _ in 0..2 {
                            seen.borrow_mut().push(i);
                            corio::task::yield_now().await;
                        }
                    })
                })
                .collect();
            for task in tasks {
                task.await.unwrap();
            }
            seen.take()
        });
        world.run().unwrap();
        out.take().unwrap()
    };
    let orders: BTreeSet<Vec<i32>> = (0..10).map(order).collect();
    assert!(orders.len() > 3, "{orders:?}");
    assert_eq!(order(3), order(3));
    let fifo = Config { explore_order: false, ..Config::new(3) };
    let mut world = World::with_config(fifo);
    let out = world.client("solo", async {
        let seen = Rc::new(RefCell::new(Vec::new()));
        let tasks: Vec<_> = (0..4)
            .map(|i| {
                let seen = seen.clone();
                corio::spawn(async move { seen.borrow_mut().push(i) })
            })
            .collect();
        for task in tasks {
            task.await.unwrap();
        }
        seen.take()
    });
    world.run().unwrap();
    assert_eq!(out.take().unwrap(), vec![0, 1, 2, 3]);
}

#[test]
fn a_partition_holds_data_until_the_heal_and_times_out_connects() {
    let mut world = World::new(6);
    echo_server(&mut world, "server", 7000);
    world.node("other", || async {
        sleep(Duration::from_secs(3600)).await;
    });
    world.schedule(Duration::from_millis(100), Fault::Partition("client".into(), "server".into()));
    world.schedule(Duration::from_millis(5100), Fault::Heal("client".into(), "server".into()));
    let result = world.client("client", async {
        let mut stream = TcpStream::connect("server:7000").await.unwrap();
        sleep(Duration::from_millis(200)).await; // now partitioned
        let sent = Instant::now();
        stream.write_all(b"held").await.unwrap();
        // A second connection cannot be made while cut off.
        let connect = TcpStream::connect("server:7000").await.unwrap_err().kind();
        let mut buf = [0u8; 4];
        stream.read_exact(&mut buf).await.unwrap();
        (connect, sent.elapsed(), buf)
    });
    world.run().unwrap();
    let (connect, waited, buf) = result.take().unwrap();
    assert_eq!(connect, ErrorKind::TimedOut);
    assert_eq!(&buf, b"held", "nothing lost, nothing reordered");
    assert!(waited >= Duration::from_millis(4500), "held until the heal: {waited:?}");
}

#[test]
fn a_clogged_link_delivers_late_in_one_direction_only() {
    let mut world = World::new(7);
    echo_server(&mut world, "server", 7000);
    let times = world.client("client", async {
        let mut stream = TcpStream::connect("server:7000").await.unwrap();
        async fn round_trip(stream: &mut TcpStream) -> Duration {
            let start = Instant::now();
            stream.write_all(b"x").await.unwrap();
            let mut buf = [0u8; 1];
            stream.read_exact(&mut buf).await.unwrap();
            start.elapsed()
        }
        let normal = round_trip(&mut stream).await;
        sleep(Duration::from_millis(100)).await;
        let clogged = round_trip(&mut stream).await;
        (normal, clogged)
    });
    world.schedule(
        Duration::from_millis(50),
        Fault::Clog { from: "server".into(), to: "client".into(), duration: Duration::from_secs(2) },
    );
    world.run().unwrap();
    let (normal, clogged) = times.take().unwrap();
    assert!(normal < Duration::from_millis(100), "{normal:?}");
    assert!(clogged >= Duration::from_millis(1800), "the answer waited for the clog to end: {clogged:?}");
}

#[test]
fn a_reset_fault_fails_both_ends_and_a_slow_link_adds_latency() {
    let mut world = World::new(8);
    world.node("server", || async {
        let listener = TcpListener::bind("0.0.0.0:7000").await.unwrap();
        let (mut stream, _) = listener.accept().await.unwrap();
        let mut buf = [0u8; 1];
        let error = stream.read_exact(&mut buf).await.unwrap_err();
        assert_eq!(error.kind(), ErrorKind::ConnectionReset);
        sleep(Duration::from_secs(3600)).await;
    });
    world.schedule(Duration::from_millis(500), Fault::Reset("server".into(), "client".into()));
    let result = world.client("client", async {
        let start = Instant::now();
        let mut stream = TcpStream::connect("server:7000").await.unwrap();
        let connect_time = start.elapsed();
        let mut buf = [0u8; 1];
        (connect_time, stream.read_exact(&mut buf).await.unwrap_err().kind())
    });
    // Before the first step: the SYN too takes the slow link.
    world.slow("client", "server", Duration::from_millis(100));
    world.run().unwrap();
    let (connect_time, kind) = result.take().unwrap();
    assert!(
        connect_time >= Duration::from_millis(200),
        "SYN and SYN-ACK each took the slow link: {connect_time:?}"
    );
    assert_eq!(kind, ErrorKind::ConnectionReset);
}

#[test]
fn a_stop_request_lets_a_node_finish_and_go_down() {
    let mut world = World::new(9);
    let cleaned = Rc::new(Cell::new(false));
    let flag = cleaned.clone();
    world.node("server", move || {
        let flag = flag.clone();
        async move {
            corio::sim::stop_signal().await;
            assert_eq!(corio::sim::current_node().as_deref(), Some("server"));
            flag.set(true);
        }
    });
    world.schedule(Duration::from_secs(1), Fault::Stop("server".into()));
    world.run_for(Duration::from_millis(500)).unwrap();
    assert!(world.is_up("server"));
    world.run_for(Duration::from_secs(1)).unwrap();
    assert!(cleaned.get());
    assert!(!world.is_up("server"), "its main returned: the node exited");
}

#[test]
fn the_world_reports_deadlocks_panics_and_broken_invariants() {
    let mut world = World::new(10);
    world.node("idle", || async {
        let _listener = TcpListener::bind("0.0.0.0:1").await.unwrap();
        std::future::pending::<()>().await;
    });
    let _never = world.client("waiter", async {
        let listener = TcpListener::bind("0.0.0.0:2").await.unwrap();
        listener.accept().await.unwrap(); // nobody will connect
    });
    match world.run() {
        Err(SimError::Deadlock { waiting, .. }) => assert_eq!(waiting, vec!["waiter".to_string()]),
        other => panic!("{other:?}"),
    }

    let mut world = World::new(10);
    world.node("buggy", || async {
        sleep(Duration::from_millis(5)).await;
        corio::spawn(async { panic!("assertion in a node's task") });
        sleep(Duration::from_secs(1)).await;
    });
    let _client = world.client("client", sleep(Duration::from_secs(2)));
    match world.run() {
        Err(SimError::Panicked { node, message, at }) => {
            assert_eq!(node, "buggy");
            assert!(message.contains("assertion in a node's task"), "{message}");
            assert_eq!(at, Duration::from_millis(5));
        }
        other => panic!("{other:?}"),
    }

    let mut world = World::new(10);
    let ticks = Rc::new(Cell::new(0));
    let counter = ticks.clone();
    let _client = world.client("client", async move {
        loop {
            sleep(Duration::from_millis(10)).await;
            counter.set(counter.get() + 1);
        }
    });
    world.invariant("fewer than 5 ticks", move |_| {
        if ticks.get() < 5 {
            Ok(())
        } else {
            Err(format!("{} ticks", ticks.get()))
        }
    });
    match world.run() {
        Err(SimError::Invariant { name, message, at }) => {
            assert_eq!(name, "fewer than 5 ticks");
            assert_eq!(message, "5 ticks");
            assert_eq!(at, Duration::from_millis(50));
        }
        other => panic!("{other:?}"),
    }

    let mut world = World::with_config(Config::new(10).time_limit(Duration::from_secs(5)));
    let _client = world.client("client", sleep(Duration::from_secs(6)));
    assert!(matches!(world.run(), Err(SimError::TimeLimit { .. })));
}

#[test]
fn the_harness_catches_a_test_that_iterates_a_std_hashmap() {
    // The classic leak: std's HashMap is seeded per map from the OS, so
    // the order in which this client sends its keys differs between two
    // runs of the same seed. The bytes on the wire go into the digest.
    let report = Harness::new().seeds(5).recheck_every(1).shrink(false).quiet().search(|world| {
        echo_server(world, "server", 7000);
        let _done = world.client("client", async {
            let mut stream = TcpStream::connect("server:7000").await.unwrap();
            let table: HashMap<u32, u32> = (0..32).map(|k| (k, k * k)).collect();
            for (key, value) in &table {
                stream.write_all(&[*key as u8, *value as u8]).await.unwrap();
            }
        });
        world.run()?;
        Ok(())
    });
    let failure = report.failure.expect("two runs of one seed differ");
    assert_eq!(failure.seed, 0, "caught at the first seed");
    assert!(failure.nondeterministic.is_some());
    let message = failure.to_string();
    assert!(message.contains("NOT REPRODUCIBLE"), "{message}");
    assert!(message.contains("HashMap"), "{message}");

    // The same test with a BTreeMap is reproducible.
    let report = Harness::new().seeds(5).recheck_every(1).quiet().search(|world| {
        echo_server(world, "server", 7000);
        let _done = world.client("client", async {
            let mut stream = TcpStream::connect("server:7000").await.unwrap();
            let table: std::collections::BTreeMap<u32, u32> = (0..32).map(|k| (k, k * k)).collect();
            for (key, value) in &table {
                stream.write_all(&[*key as u8, *value as u8]).await.unwrap();
            }
        });
        world.run()?;
        Ok(())
    });
    assert!(report.failure.is_none(), "{:?}", report.failure);
    assert_eq!((report.seeds_run, report.rechecked), (5, 5));
}

/// A node that counts pings; the client demands it never forgets one. A
/// crash makes it forget, so under chaos some seed fails: the harness must
/// find it, give a replay command, and shrink the faults to the crash.
#[test]
fn the_harness_finds_a_failing_seed_shrinks_its_faults_and_replays_it() {
    let chaos = Chaos {
        interval: Duration::from_millis(20)..Duration::from_millis(200),
        until: Duration::from_secs(1),
        duration: Duration::from_millis(10)..Duration::from_millis(100),
        ..Chaos::default()
    };
    let test = |world: &mut World| -> corio::sim::TestResult {
        world.node("counter", || async {
            let listener = TcpListener::bind("0.0.0.0:7000").await.unwrap();
            let count = Rc::new(Cell::new(0u32));
            loop {
                let Ok((mut stream, _)) = listener.accept().await else { continue };
                let count = count.clone();
                corio::spawn(async move {
                    let mut byte = [0u8; 1];
                    while stream.read_exact(&mut byte).await.is_ok() {
                        count.set(count.get() + 1);
                        let _ = stream.write_all(&count.get().to_be_bytes()).await;
                    }
                });
            }
        });
        let result = world.client("client", async {
            let mut sent = 0u32;
            while sent < 50 {
                let Ok(mut stream) = TcpStream::connect("counter:7000").await else {
                    sleep(Duration::from_millis(20)).await;
                    continue;
                };
                loop {
                    let mut reply = [0u8; 4];
                    let ok =
                        stream.write_all(b"+").await.is_ok() && stream.read_exact(&mut reply).await.is_ok();
                    if !ok {
                        break;
                    }
                    sent += 1;
                    let count = u32::from_be_bytes(reply);
                    if count != sent {
                        return Err(format!("the counter says {count} after {sent} pings"));
                    }
                    sleep(Duration::from_millis(10)).await;
                    if sent == 50 {
                        break;
                    }
                }
            }
            Ok(())
        });
        world.run()?;
        result.take().unwrap()?;
        Ok(())
    };
    let harness = || {
        let chaos = chaos.clone();
        Harness::new().seeds(50).quiet().config(move |seed| Config::new(seed).chaos(chaos.clone()))
    };
    let report = harness().search(test);
    let failure = report.failure.expect("some seed crashes the counter mid-run");
    assert!(failure.error.contains("the counter says"), "{}", failure.error);
    assert!(failure.nondeterministic.is_none());
    assert!(failure.replay.contains(&format!("CORIO_SEED={}", failure.seed)), "{}", failure.replay);
    assert!(failure.replay.contains("--test sim_world"), "{}", failure.replay);
    // Shrunk: what is left includes a crash, and fewer faults than before.
    assert!(failure.shrunk.iter().any(|applied| matches!(applied.fault, Fault::Crash(_))), "{failure}");
    assert!(failure.shrunk.len() <= failure.faults.len());
    // Replaying the seed fails the same way, with the same digest.
    let replay = harness().first_seed(failure.seed).seeds(1).search(test);
    let again = replay.failure.expect("the seed replays its failure");
    assert_eq!((again.seed, again.digest, &again.error), (failure.seed, failure.digest, &failure.error));
}
