//! The HTTP/1.1 connections to upstreams: used again request after request, and a
//! connection the upstream closed is not a failed request.

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

use crate::common::{start, tempdir, Client, Config};

/// An upstream that answers `200 ok` to each request on a connection (closing it after each
/// answer when `close_each`); counts the connections it accepted.
fn counting_upstream(close_each: bool) -> (SocketAddr, Arc<AtomicUsize>) {
    let listener = TcpListener::bind("127.0.0.1:0").expect("a listener");
    let address = listener.local_addr().expect("its address");
    let accepted = Arc::new(AtomicUsize::new(0));
    let counter = accepted.clone();
    std::thread::spawn(move || {
        for mut stream in listener.incoming().flatten() {
            counter.fetch_add(1, Ordering::SeqCst);
            std::thread::spawn(move || {
                let mut pending = Vec::new();
                let mut buf = [0u8; 4096];
                loop {
                    while let Some(end) = pending.windows(4).position(|w| w == b"\r\n\r\n") {
                        pending.drain(..end + 4);
                        let answer: &[u8] = if close_each {
                            b"HTTP/1.1 200 OK\r\ncontent-length: 2\r\nconnection: close\r\n\r\nok"
                        } else {
                            b"HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\nok"
                        };
                        if stream.write_all(answer).is_err() || close_each {
                            return;
                        }
                    }
                    match stream.read(&mut buf) {
                        Ok(0) | Err(_) => return,
                        Ok(n) => pending.extend_from_slice(&buf[..n]),
                    }
                }
            });
        }
    });
    (address, accepted)
}

fn gateway_to(upstream: SocketAddr, name: &str) -> crate::common::Running {
    let config = Config::new()
        .setting("workers: 1")
        .cluster("up", upstream, &[])
        .route("r", "up", &[]);
    start(&config, &tempdir(name))
}

#[test]
fn requests_one_after_another_use_one_upstream_connection() {
    let (upstream, accepted) = counting_upstream(false);
    let gateway = gateway_to(upstream, "pool-reuse");
    for i in 0..20 {
        let answer = gateway.get(&format!("/r{i}"), &[]);
        assert_eq!((answer.status, answer.text().as_str()), (200, "ok"));
    }
    assert_eq!(accepted.load(Ordering::SeqCst), 1);
}

#[test]
fn an_upstream_that_closes_after_each_answer_fails_no_request() {
    let (upstream, accepted) = counting_upstream(true);
    let gateway = gateway_to(upstream, "pool-closing");
    for i in 0..20 {
        let answer = gateway.get(&format!("/c{i}"), &[]);
        assert_eq!(
            (answer.status, answer.text().as_str()),
            (200, "ok"),
            "request {i}"
        );
    }
    assert_eq!(accepted.load(Ordering::SeqCst), 20);
}

#[test]
fn concurrent_requests_open_connections_side_by_side_and_use_them_again() {
    let (upstream, accepted) = counting_upstream(false);
    let gateway = gateway_to(upstream, "pool-concurrent");
    let address = gateway.address;
    for round in 0..3 {
        let clients: Vec<_> = (0..4)
            .map(|i| {
                std::thread::spawn(move || {
                    crate::common::get(address, &format!("/{round}/{i}"), &[])
                })
            })
            .collect();
        for client in clients {
            assert_eq!(client.join().expect("a client").status, 200);
        }
    }
    // At most one connection per request in flight, and the rounds after the first reuse.
    let opened = accepted.load(Ordering::SeqCst);
    assert!(
        (1..=4).contains(&opened),
        "{opened} connections for 12 requests, 4 at a time"
    );
}
