//! Clients that hold or break their connections: 2,000 idle connections, clients that drop
//! mid-body, a body that stops (408 at the stream idle timeout, as Envoy answers it), a
//! body that trickles in; and an upstream that answers what is not HTTP (502, as Envoy). The
//! gateway keeps serving others and the next request succeeds. (Smuggling, malformed and oversized heads, pipelining and hostile
//! upstreams are measured against Envoy in `tests/conformance/tests/hostile.rs`; slow
//! headers, the header limits and idle connections in `edge_limits.rs`.)

use std::io::{Read, Write};
use std::net::TcpStream;

use crate::common::{self, echo, tempdir, Body, Client, Config};

fn gateway() -> (common::Running, wasmgate_proxy::EchoServer) {
    let upstream = echo();
    let config =
        Config::routed_to(upstream.local_addr()).setting("edge:\n  stream_idle_timeout_ms: 500");
    (common::start(&config, &tempdir("hostile")), upstream)
}

#[test]
fn two_thousand_idle_connections_leave_room_for_a_normal_request() {
    let (gateway, _upstream) = gateway();
    let idle: Vec<TcpStream> = (0..2_000)
        .map(|i| {
            TcpStream::connect(gateway.address)
                .unwrap_or_else(|e| panic!("idle connection {i}: {e} (raise `ulimit -n`)"))
        })
        .collect();
    assert_eq!(gateway.get("/while-idle", &[]).status, 200);
    // Each of them can still send a request and get its answer.
    for mut stream in idle.into_iter().step_by(250) {
        stream
            .write_all(b"GET /late HTTP/1.1\r\nhost: test.local\r\nconnection: close\r\n\r\n")
            .expect("a late request written");
        let mut answer = Vec::new();
        stream.read_to_end(&mut answer).expect("an answer");
        assert!(answer.starts_with(b"HTTP/1.1 200"), "{answer:?}");
    }
    assert_eq!(gateway.get("/after", &[]).status, 200);
}

#[test]
fn clients_that_drop_mid_body_do_not_disturb_the_next_request() {
    let (gateway, _upstream) = gateway();
    for i in 0..20 {
        let mut stream = TcpStream::connect(gateway.address).expect("connect");
        let head = if i % 2 == 0 {
            "POST /drop HTTP/1.1\r\nhost: test.local\r\ncontent-length: 100000\r\n\r\n"
        } else {
            "POST /drop HTTP/1.1\r\nhost: test.local\r\ntransfer-encoding: chunked\r\n\r\n3e8\r\n"
        };
        stream.write_all(head.as_bytes()).expect("the head written");
        stream
            .write_all(&[b'x'; 500])
            .expect("part of the body written");
        // Dropped: the client is gone, mid-body.
    }
    let body = vec![b'y'; 64 * 1024];
    let answer = gateway.post("test.local", &[], Body::Whole(&body));
    assert_eq!(answer.status, 200, "{answer}");
    assert_eq!(
        answer.echoed()["body"].as_str().map(str::len),
        Some(body.len()),
        "the upstream got the whole body"
    );
}

#[test]
fn a_body_that_stops_gets_408_at_the_stream_idle_timeout_and_others_are_served() {
    let (gateway, _upstream) = gateway();
    let mut stream = TcpStream::connect(gateway.address).expect("connect");
    stream
        .write_all(
            b"POST /stall HTTP/1.1\r\nhost: test.local\r\ncontent-length: 100\r\n\r\nten bytes.",
        )
        .expect("part of the request written");
    assert_eq!(gateway.get("/meanwhile", &[]).status, 200);
    let mut answer = Vec::new();
    stream
        .read_to_end(&mut answer)
        .expect("an answer, then the close");
    let answer = common::parse_response(&answer);
    assert_eq!(answer.status, 408, "{answer}");
    assert_eq!(answer.text(), "stream timeout");
    assert_eq!(gateway.get("/after", &[]).status, 200);
}

#[test]
fn a_trickling_body_arrives_whole_while_others_are_served() {
    let (gateway, _upstream) = gateway();
    let chunks: Vec<Vec<u8>> = (0..10).map(|i| vec![b'a' + i as u8; 10]).collect();
    let sent = chunks.clone();
    let address = gateway.address;
    let slow = std::thread::spawn(move || {
        let pieces: Vec<&[u8]> = sent.iter().map(Vec::as_slice).collect();
        common::exchange(
            address,
            "test.local",
            "POST",
            "/slow",
            &[],
            Body::Chunked(&pieces),
        )
    });
    for _ in 0..5 {
        assert_eq!(gateway.get("/meanwhile", &[]).status, 200);
    }
    let answer = slow.join().expect("the slow client");
    assert_eq!(answer.status, 200, "{answer}");
    assert_eq!(
        answer.echoed()["body"].as_str(),
        Some(String::from_utf8(chunks.concat()).expect("text").as_str())
    );
}

#[test]
fn an_upstream_answering_garbage_is_a_502_protocol_error() {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("a listener");
    let garbage = listener.local_addr().expect("its address");
    std::thread::spawn(move || {
        for mut stream in listener.incoming().flatten() {
            let mut buf = [0u8; 4096];
            let _ = stream.read(&mut buf);
            let _ = stream.write_all(b"this is not http\r\n\r\n");
        }
    });
    let upstream = echo();
    let config = Config::new()
        .cluster("garbage", garbage, &[])
        .cluster("echo", upstream.local_addr(), &[])
        .route("garbage", "garbage", &["path_prefix: /garbage"])
        .route("default", "echo", &[]);
    let gateway = common::start(&config, &tempdir("hostile-upstream"));
    let answer = gateway.get("/garbage", &[]);
    assert_eq!(answer.status, 502, "{answer}");
    assert_eq!(
        answer.text(),
        "upstream connect error or disconnect/reset before headers. reset reason: protocol error"
    );
    assert_eq!(gateway.get("/after", &[]).status, 200);
}
