//! The showcase: the cluster example's workers and a retrying coordinator
//! under seeded chaos (`examples/sim_cluster.rs`, compiled in as a module),
//! and the RPC layer's failure modes reached through the world's faults.
//!
//! `CORIO_SEEDS=1000 cargo test --release --test sim_cluster` runs the
//! showcase over 1,000 seeds (CI runs the example over 1,000 in release
//! mode); the default count keeps this file fast in a debug build.

#[path = "../examples/sim_cluster.rs"]
#[allow(dead_code)]
mod sim_cluster;

use std::time::Duration;

use corio::rpc::{Client, RpcError, Server};
use corio::sim::net::{TcpListener, TcpStream};
use corio::sim::{Fault, Harness, World};
use corio::time::sleep;

use sim_cluster::{config, test, Bug, Scenario};

#[test]
fn the_cluster_loses_no_item_under_crashes_restarts_and_partitions() {
    let scenario = Scenario::default();
    let report = Harness::new().seeds(20).recheck_every(5).config(config).run(test(&scenario));
    assert_eq!(report.failure.map(|f| f.seed), None);
    assert!(report.rechecked >= 4);
}

#[test]
fn every_seed_meets_faults_and_the_coordinator_retries() {
    // The chaos is real: over a few seeds, crashes and partitions happen
    // and calls are retried; the answer is still right.
    let mut crashes = 0;
    let mut retries = 0;
    for seed in 0..10 {
        let mut world = World::with_config(config(seed));
        let summary = sim_cluster::scenario(&mut world, &Scenario::default());
        world.run().unwrap();
        let summary = summary.take().unwrap();
        summary.check().unwrap();
        crashes += world.faults().iter().filter(|f| matches!(f.fault, Fault::Crash(_))).count();
        retries += summary.retries;
    }
    assert!(crashes >= 3, "{crashes} crashes in 10 seeds");
    assert!(retries >= 50, "{retries} retries in 10 seeds");
}

/// The bug: a coordinator that takes a timed-out call as done. Found
/// within 30 seeds (seed 9 is the first, today), shrunk to the faults that
/// matter, and replayed with the same digest.
#[test]
fn the_broken_coordinator_is_found_shrunk_and_replayed() {
    let scenario = Scenario { bug: Some(Bug::ForgetsTimedOutCalls), ..Scenario::default() };
    let harness = || Harness::new().seeds(30).quiet().config(config);
    let report = harness().search(test(&scenario));
    let failure = report.failure.expect("30 seeds find the bug");
    println!("{failure}");
    assert!(failure.error.contains("items lost"), "{}", failure.error);
    assert!(failure.nondeterministic.is_none(), "the failure replays");
    assert!(failure.replay.contains(&format!("CORIO_SEED={}", failure.seed)), "{}", failure.replay);
    // What is left after shrinking still cuts the coordinator off a worker
    // long enough for a deadline to pass.
    let left: Vec<&Fault> = if failure.skip.is_empty() {
        failure.faults.iter().map(|a| &a.fault).collect()
    } else {
        failure.shrunk.iter().map(|a| &a.fault).collect()
    };
    assert!(
        left.iter().any(|f| matches!(f, Fault::Partition(..) | Fault::Clog { .. } | Fault::Slow { .. })),
        "{failure}"
    );
    // Replay: the seed alone reproduces the failure and its digest.
    let again = harness().first_seed(failure.seed).seeds(1).search(test(&scenario));
    let again = again.failure.expect("the seed fails again");
    assert_eq!((again.seed, again.digest, &again.error), (failure.seed, failure.digest, &failure.error));
    // The correct coordinator passes that very seed.
    let fixed = Harness::new()
        .first_seed(failure.seed)
        .seeds(1)
        .quiet()
        .config(config)
        .search(test(&Scenario::default()));
    assert!(fixed.failure.is_none(), "{:?}", fixed.failure);
}

/// A server node for the RPC failure modes: `slow` answers after 1 s;
/// `serve_with_shutdown` on the node's stop signal.
fn rpc_server(world: &mut World) {
    world.node("server", || async {
        let listener = TcpListener::bind("0.0.0.0:7000").await.unwrap();
        let server = Server::new()
            .on_log(|_| {})
            .route("echo", |request| async move { Ok(request.into_payload()) })
            .route("slow", |_| async {
                sleep(Duration::from_secs(1)).await;
                Ok(b"late".to_vec())
            });
        server.serve_with_shutdown(listener, corio::sim::stop_signal()).await.unwrap();
    });
}

async fn connect() -> Client {
    let stream = TcpStream::connect("server:7000").await.unwrap();
    let peer = stream.peer_addr().unwrap();
    Client::builder().with_stream(stream, peer)
}

#[test]
fn rpc_deadline_exceeded_through_a_partition() {
    let mut world = World::new(1);
    rpc_server(&mut world);
    world.schedule(Duration::from_millis(100), Fault::Partition("client".into(), "server".into()));
    world.schedule(Duration::from_secs(5), Fault::Heal("client".into(), "server".into()));
    let result = world.client("client", async {
        let client = connect().await;
        assert_eq!(client.call("echo", b"before").await.unwrap(), b"before");
        sleep(Duration::from_millis(200)).await;
        let cut = client.call_with_deadline("echo", b"cut off", Duration::from_millis(500)).await;
        sleep(Duration::from_secs(5)).await; // healed: the connection works again
        let after = client.call("echo", b"after").await;
        (cut, after)
    });
    world.run().unwrap();
    let (cut, after) = result.take().unwrap();
    assert!(matches!(cut, Err(RpcError::Timeout)), "{cut:?}");
    assert_eq!(after.unwrap(), b"after");
}

#[test]
fn rpc_connection_lost_through_a_crash_and_a_reset() {
    let mut world = World::new(2);
    rpc_server(&mut world);
    world.schedule(Duration::from_millis(100), Fault::Crash("server".into()));
    world.schedule(Duration::from_millis(300), Fault::Restart("server".into()));
    world.schedule(Duration::from_millis(500), Fault::Reset("client".into(), "server".into()));
    let result = world.client("client", async {
        let client = connect().await;
        let crashed = client.call("slow", b"").await; // the crash lands mid-call
        let refused = TcpStream::connect("server:7000").await.map(|_| ()); // still down
        sleep(Duration::from_millis(300)).await;
        let client = connect().await; // restarted
        let reset = client.call("slow", b"").await; // the reset lands mid-call
        let after_reset = client.call("echo", b"x").await; // the client knows it is closed
        (crashed, refused, reset, after_reset)
    });
    world.run().unwrap();
    let (crashed, refused, reset, after_reset) = result.take().unwrap();
    assert!(
        matches!(&crashed, Err(RpcError::Io(e)) if e.kind() == std::io::ErrorKind::ConnectionReset),
        "{crashed:?}"
    );
    assert_eq!(refused.unwrap_err().kind(), std::io::ErrorKind::ConnectionRefused);
    assert!(
        matches!(&reset, Err(RpcError::Io(e)) if e.kind() == std::io::ErrorKind::ConnectionReset),
        "{reset:?}"
    );
    assert!(matches!(after_reset, Err(RpcError::Io(_))), "{after_reset:?}");
}

#[test]
fn rpc_connection_closed_when_a_node_exits_and_shutting_down_on_stop() {
    // A node whose main returns (a process that exits) closes its
    // sockets in order: a call waiting on it gets `ConnectionClosed`.
    let mut world = World::new(3);
    world.node("server", || async {
        let listener = TcpListener::bind("0.0.0.0:7000").await.unwrap();
        let server = Server::new().on_log(|_| {}).route("slow", |_| async {
            sleep(Duration::from_secs(1)).await;
            Ok(Vec::new())
        });
        corio::race(server.serve(listener), corio::sim::stop_signal()).await;
    });
    world.schedule(Duration::from_millis(100), Fault::Stop("server".into()));
    let closed = world.client("client", async { connect().await.call("slow", b"").await });
    world.run().unwrap();
    assert!(matches!(closed.take().unwrap(), Err(RpcError::ConnectionClosed)));
    assert!(!world.is_up("server"));

    // A graceful stop: the server's shutdown notice; a new call is refused
    // with `ShuttingDown`, the call already running is answered.
    let mut world = World::new(4);
    rpc_server(&mut world);
    world.schedule(Duration::from_millis(100), Fault::Stop("server".into()));
    let result = world.client("client", async {
        let client = connect().await;
        let running = corio::spawn({
            let client = client.clone();
            async move { client.call("slow", b"").await }
        });
        sleep(Duration::from_millis(200)).await;
        let refused = client.call("echo", b"too late").await;
        (running.await.unwrap(), refused)
    });
    world.run().unwrap();
    let (running, refused) = result.take().unwrap();
    assert_eq!(running.unwrap(), b"late");
    assert!(matches!(refused, Err(RpcError::ShuttingDown)), "{refused:?}");
}
