//! The limits client connections are held to: a client that trickles its headers is closed
//! at the request headers timeout while others are served; headers past the size or count
//! limit get 431; an idle connection is closed; past the per-worker connection limit a new
//! connection waits until one closes; HTTP/1.0 gets 426 unless the edge accepts it.

use std::io::{ErrorKind, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::time::{Duration, Instant};

use crate::common::{self, echo, tempdir, Client, Config};

fn gateway_with(edge: &str, more: &[&str]) -> (common::Running, wasmgate_proxy::EchoServer) {
    let upstream = echo();
    let mut config = Config::routed_to(upstream.local_addr()).setting(edge);
    for line in more {
        config = config.setting(line);
    }
    (common::start(&config, &tempdir("edge")), upstream)
}

/// A keep-alive GET on `stream`; the status of its answer (the body read by its length).
fn keep_alive_get(stream: &mut TcpStream) -> u16 {
    stream
        .write_all(b"GET /k HTTP/1.1\r\nhost: edge.test\r\n\r\n")
        .expect("request written");
    let mut raw = Vec::new();
    let mut buf = [0u8; 4096];
    loop {
        let n = stream.read(&mut buf).expect("an answer");
        assert!(n > 0, "closed before the answer");
        raw.extend_from_slice(&buf[..n]);
        let Some(end) = raw.windows(4).position(|w| w == b"\r\n\r\n") else {
            continue;
        };
        let head = String::from_utf8_lossy(&raw[..end]).to_ascii_lowercase();
        let length: usize = head
            .lines()
            .find_map(|l| l.strip_prefix("content-length:"))
            .and_then(|v| v.trim().parse().ok())
            .unwrap_or(0);
        if raw.len() >= end + 4 + length {
            return head[9..12].parse().expect("a status");
        }
    }
}

/// Whether the gateway closes `stream` within `within` (reads EOF or a reset).
fn closed_within(stream: &mut TcpStream, within: Duration) -> bool {
    stream.set_read_timeout(Some(within)).expect("timeout set");
    let mut buf = [0u8; 1024];
    loop {
        match stream.read(&mut buf) {
            Ok(0) => return true,
            Ok(_) => continue,
            Err(e) if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) => {
                return false
            }
            Err(_) => return true,
        }
    }
}

#[test]
fn a_client_trickling_its_headers_is_closed_at_the_timeout_while_others_are_served() {
    let (gateway, _upstream) = gateway_with("edge:\n  request_headers_timeout_ms: 1500", &[]);
    let address = gateway.address;
    let trickler = std::thread::spawn(move || {
        let mut stream = TcpStream::connect(address).expect("connect");
        let started = Instant::now();
        let head = b"GET /slow HTTP/1.1\r\nhost: edge.test\r\nx-slow: ";
        stream.write_all(head).expect("first bytes");
        // One byte every 250 ms, for at most 30 s: the headers never end.
        while started.elapsed() < Duration::from_secs(30) {
            std::thread::sleep(Duration::from_millis(250));
            if stream.write_all(b"a").is_err() {
                return (true, started.elapsed());
            }
            stream
                .set_read_timeout(Some(Duration::from_millis(1)))
                .expect("timeout set");
            let mut buf = [0u8; 512];
            match stream.read(&mut buf) {
                Ok(_) => return (true, started.elapsed()),
                Err(e) if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) => {}
                Err(_) => return (true, started.elapsed()),
            }
        }
        (false, started.elapsed())
    });
    std::thread::sleep(Duration::from_millis(300));
    assert_eq!(gateway.get("/fast", &[]).status, 200, "others are served");
    let (closed, after) = trickler.join().expect("the trickler ran");
    assert!(closed, "the trickling client was never closed ({after:?})");
    assert!(
        after >= Duration::from_millis(1500),
        "closed before the timeout: {after:?}"
    );
    assert_eq!(gateway.get("/after", &[]).status, 200);
}

#[test]
fn request_headers_past_the_size_or_count_limit_get_431() {
    let (gateway, _upstream) = gateway_with("edge:\n  max_request_headers_kb: 8", &[]);
    let big = "b".repeat(9 << 10);
    let answer = gateway.get("/big", &[("x-big", &big)]);
    assert_eq!(answer.status, 431, "{answer}");
    let fine = "b".repeat(4 << 10);
    assert_eq!(gateway.get("/fine", &[("x-fine", &fine)]).status, 200);

    let names: Vec<String> = (0..120).map(|i| format!("x-h{i}")).collect();
    let many: Vec<(&str, &str)> = names.iter().map(|n| (n.as_str(), "v")).collect();
    assert_eq!(
        gateway.get("/many", &many).status,
        431,
        "Envoy's 100 headers"
    );
    assert_eq!(gateway.get("/some", &many[..50]).status, 200);
}

#[test]
fn an_idle_connection_is_closed_and_a_busy_one_is_not() {
    let (gateway, _upstream) = gateway_with("edge:\n  idle_timeout_ms: 400", &[]);
    let mut stream = TcpStream::connect(gateway.address).expect("connect");
    assert_eq!(keep_alive_get(&mut stream), 200);
    assert!(
        closed_within(&mut stream, Duration::from_secs(10)),
        "the idle connection stays open"
    );
    // Requests every 200 ms keep a connection alive past the timeout.
    let mut busy = TcpStream::connect(gateway.address).expect("connect");
    for _ in 0..5 {
        assert_eq!(keep_alive_get(&mut busy), 200);
        std::thread::sleep(Duration::from_millis(200));
    }
}

#[test]
fn past_the_connection_limit_a_new_connection_waits_until_one_closes() {
    let (gateway, _upstream) =
        gateway_with("edge:\n  max_connections_per_worker: 1", &["workers: 1"]);
    let mut first = TcpStream::connect(gateway.address).expect("connect");
    assert_eq!(keep_alive_get(&mut first), 200);
    let waiting = waiting_request(gateway.address);
    assert!(
        !answered_within(&waiting, Duration::from_millis(700)),
        "the second connection was served while the first was open"
    );
    drop(first);
    assert!(
        answered_within(&waiting, Duration::from_secs(10)),
        "the second connection was not served after the first closed"
    );
}

/// A connection to `address` on which `request` is written.
fn sent(address: SocketAddr, request: &[u8]) -> TcpStream {
    let mut stream = TcpStream::connect(address).expect("connect: the backlog takes it");
    stream.write_all(request).expect("request written");
    stream
}

/// A connection whose request is written; it waits in the listen backlog.
fn waiting_request(address: SocketAddr) -> TcpStream {
    sent(
        address,
        b"GET /w HTTP/1.1\r\nhost: edge.test\r\nconnection: close\r\n\r\n",
    )
}

fn answered_within(stream: &TcpStream, within: Duration) -> bool {
    stream.set_read_timeout(Some(within)).expect("timeout set");
    let mut buf = [0u8; 16];
    match stream.peek(&mut buf) {
        Ok(n) => n > 0 && buf.starts_with(b"HTTP/1.1 200"),
        Err(_) => false,
    }
}

/// The status line of the answer to an HTTP/1.0 request.
fn http10_status(address: SocketAddr) -> String {
    let mut stream = sent(address, b"GET /old HTTP/1.0\r\nhost: edge.test\r\n\r\n");
    stream
        .set_read_timeout(Some(Duration::from_secs(10)))
        .expect("timeout set");
    let mut answer = Vec::new();
    let _ = stream.read_to_end(&mut answer);
    let text = String::from_utf8_lossy(&answer);
    text.lines().next().unwrap_or_default().to_string()
}

#[test]
fn http_1_0_gets_426_as_from_envoy_unless_the_edge_accepts_it() {
    let (refusing, _upstream) = gateway_with("workers: 1", &[]);
    assert_eq!(
        http10_status(refusing.address),
        "HTTP/1.1 426 Upgrade Required"
    );
    let (accepting, _upstream) = gateway_with("edge:\n  accept_http_10: true", &[]);
    assert_eq!(http10_status(accepting.address), "HTTP/1.0 200 OK");
}

#[test]
fn a_client_that_sends_nothing_is_closed_at_the_request_headers_timeout() {
    let (gateway, _upstream) = gateway_with("edge:\n  request_headers_timeout_ms: 1000", &[]);
    let mut silent = TcpStream::connect(gateway.address).expect("connect");
    let started = Instant::now();
    assert!(
        closed_within(&mut silent, Duration::from_secs(10)),
        "a connection that never spoke stays open"
    );
    assert!(
        started.elapsed() >= Duration::from_millis(900),
        "closed before the timeout: {:?}",
        started.elapsed()
    );
    assert_eq!(gateway.get("/after", &[]).status, 200);
}
