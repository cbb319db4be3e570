//! The reactor registration API (`corio::reactor::IoSource`) on raw mio sockets.

use std::future::poll_fn;
use std::io::{self, Read, Write};
use std::net::{Shutdown, TcpListener};

use corio::reactor::IoSource;
use corio::spawn;
use corio::task::yield_now;

/// A connected pair: (registered mio stream, plain std peer).
fn pair() -> (IoSource<mio::net::TcpStream>, std::net::TcpStream) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let std_stream = std::net::TcpStream::connect(listener.local_addr().unwrap()).unwrap();
    let (peer, _) = listener.accept().unwrap();
    std_stream.set_nonblocking(true).unwrap();
    let stream = IoSource::new(mio::net::TcpStream::from_std(std_stream)).unwrap();
    (stream, peer)
}

async fn read_some(source: &IoSource<mio::net::TcpStream>, buf: &mut [u8]) -> io::Result<usize> {
    poll_fn(|cx| source.poll_read_with(cx, |mut s| s.read(buf))).await
}

#[test]
fn a_reader_parks_until_data_arrives() {
    corio::block_on(async {
        let (stream, mut peer) = pair();
        let reader = spawn(async move {
            let mut buf = [0u8; 16];
            let n = read_some(&stream, &mut buf).await.unwrap();
            buf[..n].to_vec()
        });
        yield_now().await; // the reader parks: nothing to read yet
        assert!(!reader.is_finished());
        peer.write_all(b"hello").unwrap();
        assert_eq!(reader.await.unwrap(), b"hello");
    });
}

#[test]
fn reader_and_writer_wait_independently_on_one_source() {
    corio::block_on(async {
        let (stream, mut peer) = pair();
        let stream = std::rc::Rc::new(stream);
        let s = stream.clone();
        let reader = spawn(async move {
            let mut buf = [0u8; 4];
            read_some(&s, &mut buf).await.unwrap()
        });
        // Fill the send buffer until writing would block, then let a writer park.
        let chunk = vec![7u8; 64 * 1024];
        let mut queued = 0usize;
        loop {
            match stream.get_ref().write(&chunk) {
                Ok(n) => queued += n,
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => break,
                Err(e) => panic!("{e}"),
            }
        }
        stream.clear_write_ready();
        let s = stream.clone();
        let writer = spawn(async move { poll_fn(|cx| s.poll_write_with(cx, |mut s| s.write(b"x"))).await });
        yield_now().await;
        assert!(!reader.is_finished() && !writer.is_finished());

        // Data for the reader wakes only the reader.
        peer.write_all(b"ping").unwrap();
        assert_eq!(reader.await.unwrap(), 4);
        assert!(!writer.is_finished());

        // Draining the peer makes room: now the writer completes.
        let drain = std::thread::spawn(move || {
            let mut buf = vec![0u8; 64 * 1024];
            let mut got = 0;
            while got < queued + 1 {
                got += peer.read(&mut buf).unwrap();
            }
        });
        assert_eq!(writer.await.unwrap().unwrap(), 1);
        drain.join().unwrap();
    });
}

#[test]
fn a_hang_up_wakes_the_reader_with_end_of_stream() {
    corio::block_on(async {
        let (stream, peer) = pair();
        let reader = spawn(async move {
            let mut buf = [0u8; 8];
            read_some(&stream, &mut buf).await
        });
        yield_now().await;
        peer.shutdown(Shutdown::Both).unwrap();
        drop(peer);
        assert_eq!(reader.await.unwrap().unwrap(), 0);
    });
}

#[test]
fn sources_register_and_deregister_many_times() {
    corio::block_on(async {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap();
        for _ in 0..500 {
            let stream = IoSource::new(mio::net::TcpStream::connect(addr).unwrap()).unwrap();
            poll_fn(|cx| stream.poll_write_ready(cx)).await.unwrap();
            let (_peer, _) = listener.accept().unwrap();
            drop(stream); // deregisters; the slot is reused next round
        }
    });
}

#[test]
fn creating_io_outside_a_runtime_panics_clearly() {
    let std_stream = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
    let socket = mio::net::UdpSocket::from_std(std_stream);
    let result = std::panic::catch_unwind(move || IoSource::new(socket).map(drop));
    let payload = result.unwrap_err();
    let message = payload
        .downcast_ref::<&str>()
        .map(|s| s.to_string())
        .unwrap_or_else(|| payload.downcast_ref::<String>().cloned().unwrap_or_default());
    assert!(message.contains("inside a corio runtime"), "{message}");
}
