//! Hostile clients and upstreams, measured against Envoy: request smuggling (Content-Length
//! with Transfer-Encoding, two Content-Lengths, obs-fold), malformed request lines, huge
//! heads, pipelining, and upstreams that refuse, reset, stall or answer garbage. The same
//! raw bytes go to both hosts; each must answer with the same status (or close without one
//! where Envoy does), and both must serve a normal request afterwards. The results: docs/reliability.md.

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::time::Duration;

use wasmgate_conformance::hosts::Hosts;
use wasmgate_conformance::transport::{send_raw_tls, Certificates};
use wasmgate_conformance::{gateway_config, listener_tls, one_at_a_time, Tls, HOST};

/// The statuses of the answers on one connection that gets `bytes` (several for pipelined
/// requests; none when the host closes without answering). Every request of the cases asks
/// to close the connection, so the read ends when the host closes or after a pause.
fn statuses(address: SocketAddr, bytes: &[u8]) -> Vec<u16> {
    let mut stream = TcpStream::connect(address).expect("the host accepts");
    stream
        .set_read_timeout(Some(Duration::from_secs(3)))
        .expect("a read timeout");
    // A host may answer and close before it has read everything.
    let _ = stream.write_all(bytes);
    let mut raw = Vec::new();
    let mut buf = [0u8; 16384];
    while let Ok(n) = stream.read(&mut buf) {
        if n == 0 {
            break;
        }
        raw.extend_from_slice(&buf[..n]);
    }
    statuses_in(&raw)
}

/// The statuses of the HTTP/1.1 answers in `raw`, one after the other (each body skipped
/// by its `content-length`).
fn statuses_in(mut raw: &[u8]) -> Vec<u16> {
    let mut out = Vec::new();
    loop {
        let mut headers = [httparse::EMPTY_HEADER; 64];
        let mut response = httparse::Response::new(&mut headers);
        let Ok(httparse::Status::Complete(head)) = response.parse(raw) else {
            return out;
        };
        out.push(response.code.unwrap_or(0));
        let length: usize = response
            .headers
            .iter()
            .find(|h| h.name.eq_ignore_ascii_case("content-length"))
            .and_then(|h| std::str::from_utf8(h.value).ok()?.trim().parse().ok())
            .unwrap_or(0);
        raw = raw.get(head + length..).unwrap_or_default();
    }
}

fn normal_request() -> Vec<u8> {
    format!("GET /after HTTP/1.1\r\nHost: {HOST}\r\nConnection: close\r\n\r\n").into_bytes()
}

/// Sends `bytes` to both hosts; the statuses each gave, after checking both still serve.
fn both(hosts: &Hosts, bytes: &[u8]) -> (Vec<u16>, Vec<u16>) {
    let on_envoy = statuses(hosts.envoy().address(), bytes);
    let on_wasmgate = statuses(hosts.wasmgate_address(), bytes);
    for (host, address) in [
        ("envoy", hosts.envoy().address()),
        ("wasmgate", hosts.wasmgate_address()),
    ] {
        assert_eq!(
            statuses(address, &normal_request()),
            [200],
            "{host} does not serve a normal request after the case"
        );
    }
    (on_envoy, on_wasmgate)
}

/// An echo upstream, and a configuration routing to it.
fn echo_config() -> (wasmgate_proxy::EchoServer, wasmgate_proxy::GatewayConfig) {
    let echo = wasmgate_proxy::EchoServer::start(SocketAddr::from(([127, 0, 0, 1], 0)))
        .expect("echo upstream starts");
    let config = gateway_config(&[], echo.local_addr(), &[]);
    (echo, config)
}

/// A head with `Host` and `Connection: close`, `lines` after them, and `body`.
fn request(first: &str, lines: &[&str], body: &str) -> Vec<u8> {
    let mut text = format!("{first}\r\nHost: {HOST}\r\nConnection: close\r\n");
    for line in lines {
        text += line;
        text += "\r\n";
    }
    text += "\r\n";
    text += body;
    text.into_bytes()
}

/// The request-side cases: (name, bytes).
fn client_cases() -> Vec<(&'static str, Vec<u8>)> {
    let many: Vec<String> = (0..10_000).map(|i| format!("x-h{i}: v")).collect();
    let many: Vec<&str> = many.iter().map(String::as_str).collect();
    let megabyte = format!("x-big: {}", "a".repeat(1 << 20));
    let long_path = format!("GET /{} HTTP/1.1", "p".repeat(100 * 1024));
    vec![
        (
            "content-length and chunked",
            request(
                "POST /smuggle HTTP/1.1",
                &["Content-Length: 5", "Transfer-Encoding: chunked"],
                "0\r\n\r\n",
            ),
        ),
        (
            "two different content-lengths",
            request(
                "POST /smuggle HTTP/1.1",
                &["Content-Length: 5", "Content-Length: 6"],
                "hello!",
            ),
        ),
        (
            "two equal content-lengths",
            request(
                "POST /smuggle HTTP/1.1",
                &["Content-Length: 5", "Content-Length: 5"],
                "hello",
            ),
        ),
        (
            "a content-length list",
            request("POST /smuggle HTTP/1.1", &["Content-Length: 5, 5"], "hello"),
        ),
        (
            "a transfer-encoding that is not chunked",
            request(
                "POST /smuggle HTTP/1.1",
                &["Transfer-Encoding: gzip"],
                "hello",
            ),
        ),
        (
            "a transfer-encoding list that ends in chunked",
            request(
                "POST /smuggle HTTP/1.1",
                &["Transfer-Encoding: gzip, chunked"],
                "0\r\n\r\n",
            ),
        ),
        (
            "two transfer-encodings",
            request(
                "POST /smuggle HTTP/1.1",
                &["Transfer-Encoding: chunked", "Transfer-Encoding: chunked"],
                "0\r\n\r\n",
            ),
        ),
        (
            "an invalid chunk size",
            request(
                "POST /smuggle HTTP/1.1",
                &["Transfer-Encoding: chunked"],
                "zz\r\nhello\r\n0\r\n\r\n",
            ),
        ),
        (
            "obs-fold",
            request("GET /fold HTTP/1.1", &["X-Folded: a", " b"], ""),
        ),
        (
            "a space before the colon",
            request("GET /space HTTP/1.1", &["X-Space : a"], ""),
        ),
        (
            "a request line with an extra word",
            request("GET / HTTP/1.1 extra", &[], ""),
        ),
        ("a request line of one word", request("GARBAGE", &[], "")),
        (
            "a method with a bad character",
            request("G@T / HTTP/1.1", &[], ""),
        ),
        (
            "an unknown HTTP version",
            request("GET / HTTP/9.9", &[], ""),
        ),
        ("HTTP/1.2", request("GET / HTTP/1.2", &[], "")),
        ("HTTP/1.0", request("GET / HTTP/1.0", &[], "")),
        (
            "a control character in the path",
            request("GET /a\u{1}b HTTP/1.1", &[], ""),
        ),
        (
            "a NUL in a header value",
            request("GET / HTTP/1.1", &["X-Nul: a\0b"], ""),
        ),
        ("a 100 KiB path", request(&long_path, &[], "")),
        (
            "1 MiB of headers",
            request("GET /big HTTP/1.1", &[&megabyte], ""),
        ),
        ("10,000 headers", request("GET /many HTTP/1.1", &many, "")),
        (
            "a body that stops before its length",
            request(
                "POST /stall HTTP/1.1",
                &["Content-Length: 100"],
                "0123456789",
            ),
        ),
        (
            "a chunked request, then a smuggling one, pipelined",
            [
                format!("POST /one HTTP/1.1\r\nHost: {HOST}\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\n\r\n")
                    .into_bytes(),
                request(
                    "POST /two HTTP/1.1",
                    &["Content-Length: 5", "Transfer-Encoding: chunked"],
                    "0\r\n\r\n",
                ),
            ]
            .concat(),
        ),
        (
            "obs-fold in the second of two pipelined requests",
            [
                format!("GET /one HTTP/1.1\r\nHost: {HOST}\r\n\r\n").into_bytes(),
                request("GET /fold HTTP/1.1", &["X-Folded: a", "\tb"], ""),
            ]
            .concat(),
        ),
        (
            "two pipelined requests",
            [
                format!("GET /one HTTP/1.1\r\nHost: {HOST}\r\n\r\n").into_bytes(),
                normal_request(),
            ]
            .concat(),
        ),
    ]
}

#[test]
fn hostile_clients_get_the_status_envoy_gives_and_both_keep_serving() {
    let _one = one_at_a_time();
    let (_echo, mut config) = echo_config();
    // A body that stops is answered at the stream idle timeout (Envoy's default: 5 min).
    config.edge.stream_idle_timeout = Some(Duration::from_secs(1));
    let hosts = Hosts::start("hostile clients", config);
    let mut differences = Vec::new();
    for (name, bytes) in client_cases() {
        let (on_envoy, on_wasmgate) = both(&hosts, &bytes);
        eprintln!("{name}: envoy {on_envoy:?}, wasmgate {on_wasmgate:?}");
        if on_envoy != on_wasmgate {
            differences.push(format!(
                "{name}: envoy {on_envoy:?}, wasmgate {on_wasmgate:?}"
            ));
        }
    }
    hosts.stop();
    assert!(differences.is_empty(), "{differences:#?}");
}

/// What a hostile upstream does with each connection it accepts.
#[derive(Clone, Copy, Debug)]
enum Upstream {
    /// Answers bytes that are not HTTP, then closes.
    Garbage,
    /// Closes with a reset before answering (it leaves the request unread).
    ResetBeforeHead,
    /// Sends a head promising 100 bytes, 10 of them, then resets.
    ResetMidBody,
    /// Closes cleanly before answering.
    CloseBeforeHead,
}

/// A listener that treats every connection as `kind` says, each in a thread of its own.
fn hostile_upstream(kind: Upstream) -> SocketAddr {
    let listener = TcpListener::bind("127.0.0.1:0").expect("a listener");
    let address = listener.local_addr().expect("its address");
    std::thread::spawn(move || {
        for stream in listener.incoming() {
            let Ok(mut stream) = stream else { continue };
            std::thread::spawn(move || {
                let mut first = [0u8; 1];
                if stream.read_exact(&mut first).is_err() {
                    return;
                }
                match kind {
                    Upstream::Garbage => {
                        let mut head = Vec::new();
                        let mut buf = [0u8; 4096];
                        while !head.windows(4).any(|w| w == b"\r\n\r\n") {
                            match stream.read(&mut buf) {
                                Ok(0) | Err(_) => return,
                                Ok(n) => head.extend_from_slice(&buf[..n]),
                            }
                        }
                        let _ = stream.write_all(b"this is not http\r\n\r\n");
                    }
                    Upstream::ResetBeforeHead => {}
                    Upstream::ResetMidBody => {
                        let _ = stream
                            .write_all(b"HTTP/1.1 200 OK\r\ncontent-length: 100\r\n\r\n0123456789");
                        std::thread::sleep(Duration::from_millis(200));
                    }
                    Upstream::CloseBeforeHead => {
                        let mut rest = [0u8; 65536];
                        let _ = stream.read(&mut rest);
                        let _ = stream.shutdown(std::net::Shutdown::Both);
                    }
                }
                // Dropped with the request's bytes unread: a reset.
            });
        }
    });
    address
}

#[test]
fn hostile_upstreams_get_the_status_envoy_gives() {
    let _one = one_at_a_time();
    let refused = SocketAddr::from(([127, 0, 0, 1], wasmgate_conformance::envoy::free_port()));
    let silent = TcpListener::bind("127.0.0.1:0").expect("a silent listener");
    let kinds = [
        Upstream::Garbage,
        Upstream::ResetBeforeHead,
        Upstream::ResetMidBody,
        Upstream::CloseBeforeHead,
    ];
    let mut cases: Vec<(String, SocketAddr)> = kinds
        .iter()
        .map(|kind| (format!("{kind:?}"), hostile_upstream(*kind)))
        .collect();
    cases.push(("refused".into(), refused));
    cases.push(("stalled".into(), silent.local_addr().expect("its address")));
    let mut differences = Vec::new();
    for (name, upstream) in cases {
        let mut config = gateway_config(&[], upstream, &[]);
        config.routes[0].timeout = Duration::from_secs(1);
        let hosts = Hosts::start(&format!("upstream {name}"), config);
        let bytes = request("GET /hostile HTTP/1.1", &[], "");
        let on_envoy = statuses(hosts.envoy().address(), &bytes);
        let on_wasmgate = statuses(hosts.wasmgate_address(), &bytes);
        eprintln!("upstream {name}: envoy {on_envoy:?}, wasmgate {on_wasmgate:?}");
        if on_envoy != on_wasmgate {
            differences.push(format!(
                "upstream {name}: envoy {on_envoy:?}, wasmgate {on_wasmgate:?}"
            ));
        }
        // The same fault again: a host that survived the first answers it the same way.
        assert_eq!(statuses(hosts.wasmgate_address(), &bytes), on_wasmgate);
        hosts.stop();
    }
    assert!(differences.is_empty(), "{differences:#?}");
}

#[test]
fn an_h2_preface_on_an_http1_tls_connection_is_refused_by_both() {
    let _one = one_at_a_time();
    let (_echo, mut config) = echo_config();
    let tls = Tls::http1();
    let certificates = Certificates::make(
        &wasmgate_test_support::tempdir("conformance-hostile-pki"),
        &tls,
    );

    config.listeners[0].tls = Some(listener_tls(&certificates));
    let hosts = Hosts::start("h2 preface over http/1.1", config);
    let preface = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n\x00\x00\x00\x04\x00\x00\x00\x00\x00";
    let normal = format!("GET / HTTP/1.1\r\nHost: {HOST}\r\nConnection: close\r\n\r\n");
    let mut seen = Vec::new();
    for (host, address) in [
        ("envoy", hosts.envoy().address()),
        ("wasmgate", hosts.wasmgate_address()),
    ] {
        let answer = send_raw_tls(address, &tls, &certificates, preface).expect("a TLS exchange");
        seen.push(statuses_in(&answer));
        let after =
            send_raw_tls(address, &tls, &certificates, normal.as_bytes()).expect("a TLS exchange");
        assert_eq!(
            statuses_in(&after),
            [200],
            "{host} serves a normal request after"
        );
    }
    eprintln!(
        "h2 preface over http/1.1: envoy {:?}, wasmgate {:?}",
        seen[0], seen[1]
    );
    hosts.stop();
    // Neither serves the connection on.
    assert_eq!(seen[0], [400], "envoy");
    assert_eq!(seen[1], [400], "wasmgate");
}

#[test]
fn http_1_0_is_served_by_both_when_the_edge_accepts_it() {
    let _one = one_at_a_time();
    let (_echo, mut config) = echo_config();
    config.edge.accept_http_10 = true;
    let hosts = Hosts::start("http/1.0 accepted", config);
    let (on_envoy, on_wasmgate) = both(&hosts, &request("GET / HTTP/1.0", &[], ""));
    hosts.stop();
    assert_eq!((on_envoy, on_wasmgate), (vec![200], vec![200]));
}
