//! Graceful shutdown for the example servers (`echo_server`, `resp_server`,
//! `http_server`): accept until SIGINT or SIGTERM, then stop accepting, tell
//! every open connection, and wait for them to finish what they have begun.
//!
//! The connections and the accept loop share a `watch` channel of one
//! `bool`, "stop". Each connection task owns a [`ShutdownSignal`] (a receiver):
//! it checks it between requests and can await it while idle. The accept
//! loop keeps the sender; `Sender::closed()` completes when the last
//! receiver is dropped, that is when the last connection task has ended. So
//! the channel is both the announcement and the count of what is left.
//!
//! The grace period bounds the wait; a second signal cuts it short. Either
//! way `serve` returns and the program exits 0 (dropping the runtime closes
//! whatever is still open).

use std::io;
use std::time::Duration;

use corio::net::{TcpListener, TcpStream};
use corio::signal::{SignalKind, Signals};
use corio::sync::watch;
use corio::time::timeout;
use corio::{race, Either};

/// Installs the SIGINT and SIGTERM handlers. Call it before announcing the
/// server as ready, so a signal sent from then on is never missed (before
/// it, the default action would simply kill the process).
pub fn signals() -> io::Result<Signals> {
    Signals::new([SignalKind::interrupt(), SignalKind::terminate()])
}

/// A connection's view of the stop flag.
#[derive(Clone)]
pub struct ShutdownSignal(watch::Receiver<bool>);

impl ShutdownSignal {
    /// Whether the server is stopping: finish the request under way, then close.
    pub fn is_requested(&self) -> bool {
        *self.0.borrow()
    }

    /// Completes when the server starts stopping (at once if it has).
    pub async fn requested(&mut self) {
        // An error means the sender is gone: the server is stopping too.
        let _ = self.0.wait_for(|stop| *stop).await;
    }
}

/// Accepts connections and hands each to `start` (which spawns its task)
/// until a signal arrives; then shuts down as the module docs say.
///
/// # Errors
///
/// An error of the signal stream.
pub async fn serve(
    name: &str,
    listener: TcpListener,
    mut signals: Signals,
    grace: Duration,
    mut start: impl FnMut(TcpStream, ShutdownSignal),
) -> io::Result<()> {
    let (stop, connections) = watch::channel(false);
    let signal = loop {
        match race(signals.recv(), listener.accept()).await {
            Either::Left(signal) => break signal?,
            Either::Right(Ok((stream, _peer))) => start(stream, ShutdownSignal(connections.clone())),
            Either::Right(Err(error)) => eprintln!("{name}: accept failed: {error}"),
        }
    };
    drop(listener); // new connections are refused from here on
    drop(connections);
    eprintln!(
        "{name}: {signal:?} received: no longer accepting; finishing {} open connection(s)",
        stop.receiver_count()
    );
    stop.send_replace(true);
    match timeout(grace, race(stop.closed(), signals.recv())).await {
        Ok(Either::Left(())) => eprintln!("{name}: every connection finished"),
        Ok(Either::Right(again)) => {
            eprintln!("{name}: {:?} again: closing {} connection(s) now", again?, stop.receiver_count())
        }
        Err(_) => {
            eprintln!(
                "{name}: grace period of {grace:?} over: closing {} connection(s)",
                stop.receiver_count()
            )
        }
    }
    println!("{name}: stopped cleanly");
    Ok(())
}
