//! Bodies and time through a gateway started from `wasmgate.yaml`: request bodies stream
//! unless a plugin buffers them (then the body limit applies), unrouted requests get a 404,
//! a response streams through the plugins as it arrives, a silent upstream is a 504, route
//! buffer limits apply, and a Higress plugin's `StopIteration` holds the headers until its
//! body phase lets them go.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::time::Duration;

use crate::common::{echo, start, tempdir, write, Body, Client, Config};
use wasmgate_testkit::examples::{conformance_go, example, fixture, Lang};

#[test]
fn bodies_stream_unless_a_plugin_buffers_past_the_limit_and_unrouted_requests_get_404() {
    let upstream = echo();
    let dir = tempdir("limits");
    let config = Config::new()
        .setting("body_limit_bytes: 100")
        .cluster("echo", upstream.local_addr(), &[])
        .route("only-a", "echo", &["domains: [a.com]"])
        .plugin("probe", fixture("abi-probe"), &[]);
    let gateway = start(&config, &dir);
    let big = vec![b'x'; 5000];
    // No plugin holds the body: it streams through, whatever its size.
    let response = gateway.post("a.com", &[], Body::Whole(&big));
    assert_eq!(response.status, 200, "{}", response.text());
    assert_eq!(response.echoed()["body"].as_str().unwrap().len(), 5000);
    // The probe buffers the body until its end: holding more than the limit is a 413.
    let response = gateway.post(
        "a.com",
        &[("x-probe", "body")],
        Body::Chunked(&[&big, &big]),
    );
    assert_eq!(response.status, 413, "{}", response.text());
    // Streamed in chunks without a plugin holding them, the body arrives whole.
    let response = gateway.post("a.com", &[], Body::Chunked(&[b"one-", b"two-", b"three"]));
    assert_eq!(response.echoed()["body"], "one-two-three");
    // Under the limit the buffered body is replaced.
    let response = gateway.post("a.com", &[("x-probe", "body")], Body::Whole(b"small"));
    assert_eq!(response.status, 200);
    assert!(response.text().ends_with("-tail"));
    assert_eq!(gateway.get_host("b.com", "/").status, 404);
}

#[test]
fn a_response_streams_through_the_plugins_as_it_arrives() {
    // An upstream that sends the first chunk, then waits for the test before the second.
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let upstream = listener.local_addr().unwrap();
    let (release, released) = std::sync::mpsc::channel::<()>();
    std::thread::spawn(move || {
        let (mut stream, _) = listener.accept().unwrap();
        let mut seen = Vec::new();
        let mut buf = [0u8; 4096];
        while !seen.windows(4).any(|w| w == b"\r\n\r\n") {
            let n = stream.read(&mut buf).unwrap();
            seen.extend_from_slice(&buf[..n]);
        }
        stream
            .write_all(b"HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\ncontent-type: text/event-stream\r\n\r\n6\r\nfirst\n\r\n")
            .unwrap();
        released.recv().unwrap();
        stream.write_all(b"7\r\nsecond\n\r\n0\r\n\r\n").unwrap();
    });
    let dir = tempdir("stream");
    let config = Config::new()
        .cluster("sse", upstream, &[])
        .route("r", "sse", &[])
        .plugin("minimal", example(Lang::Rust, "minimal"), &[]);
    let gateway = start(&config, &dir);
    let mut stream = TcpStream::connect(gateway.address).unwrap();
    stream
        .set_read_timeout(Some(Duration::from_secs(10)))
        .unwrap();
    stream
        .write_all(b"GET /events HTTP/1.1\r\nhost: a\r\nconnection: close\r\n\r\n")
        .unwrap();
    let mut reader = BufReader::new(stream);
    let mut head = String::new();
    loop {
        let mut line = String::new();
        reader
            .read_line(&mut line)
            .expect("the head arrives before the upstream finishes");
        if line == "\r\n" {
            break;
        }
        head.push_str(&line);
    }
    assert!(head.contains("x-minimal: 1"), "{head}");
    let mut size = String::new();
    reader.read_line(&mut size).unwrap();
    let mut first = String::new();
    reader
        .read_line(&mut first)
        .expect("the first chunk arrives before the upstream sends the second");
    assert_eq!(first, "first\n");
    release.send(()).unwrap();
    let mut rest = String::new();
    reader.read_to_string(&mut rest).unwrap();
    assert!(rest.contains("second\n"), "{rest}");
}

#[test]
fn a_slow_upstream_is_a_504_and_route_buffer_limits_apply() {
    // An upstream that accepts and never answers.
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let silent = listener.local_addr().unwrap();
    std::thread::spawn(move || {
        let mut held = Vec::new();
        for stream in listener.incoming().flatten() {
            held.push(stream);
        }
    });
    let upstream = echo();
    let dir = tempdir("timeouts");
    let config = Config::new()
        .cluster("silent", silent, &[])
        .cluster("echo", upstream.local_addr(), &[])
        .route("slow", "silent", &["path_prefix: /slow", "timeout_ms: 300"])
        .route("small", "echo", &["buffer_limit_bytes: 10"])
        .plugin("minimal", example(Lang::Rust, "minimal"), &[])
        .plugin("probe", fixture("abi-probe"), &[]);
    let gateway = start(&config, &dir);
    let response = gateway.get("/slow", &[]);
    assert_eq!(response.status, 504);
    assert_eq!(
        response.header("x-minimal"),
        Some("1"),
        "plugins see the local reply"
    );
    let response = gateway.post(
        "a.com",
        &[("x-probe", "body")],
        Body::Chunked(&[b"0123456789", b"abcdef"]),
    );
    assert_eq!(response.status, 413);
}

/// A Higress-ABI plugin that holds the request headers with `StopIteration` and lets them go
/// from its body phase once it saw the whole body.
const HEADERS_WAIT_FOR_BODY: &str = r#"
(module
  (import "env" "proxy_add_header_map_value" (func $add (param i32 i32 i32 i32 i32) (result i32)))
  (memory (export "memory") 1)
  (data (i32.const 16) "x-body-seen")
  (data (i32.const 32) "yes")
  (func (export "proxy_abi_version_0_2_100"))
  (func (export "proxy_on_memory_allocate") (param i32) (result i32) i32.const 1024)
  (func (export "proxy_on_context_create") (param i32 i32))
  (func (export "proxy_on_request_headers") (param i32 i32 i32) (result i32) i32.const 1)
  (func (export "proxy_on_request_body") (param $ctx i32) (param $size i32) (param $eos i32) (result i32)
    (if (i32.eqz (local.get $eos)) (then (return (i32.const 1))))
    (drop (call $add (i32.const 0) (i32.const 16) (i32.const 11) (i32.const 32) (i32.const 3)))
    i32.const 0))
"#;

#[test]
fn higress_stop_iteration_holds_headers_while_the_body_reaches_the_plugin() {
    let upstream = echo();
    let dir = tempdir("stopiteration");
    write(
        &dir,
        "hold.wasm",
        wat::parse_str(HEADERS_WAIT_FOR_BODY).unwrap(),
    );
    let config = Config::new()
        .cluster("echo", upstream.local_addr(), &[])
        .route("r", "echo", &[])
        .plugin("hold", "hold.wasm", &[])
        .plugin("minimal", example(Lang::Rust, "minimal"), &[]);
    let gateway = start(&config, &dir);
    let response = gateway.post("a.com", &[], Body::Chunked(&[b"part-1/", b"part-2"]));
    assert_eq!(response.status, 200, "{}", response.text());
    let echoed = response.echoed();
    assert_eq!(echoed["body"], "part-1/part-2");
    assert_eq!(
        echoed["headers"]["x-body-seen"], "yes",
        "the header added in the body phase went upstream"
    );
    assert_eq!(
        echoed["headers"]["x-minimal"], "1",
        "the next plugin saw the headers after the release"
    );
}

#[test]
fn higress_stop_iteration_on_response_headers_lets_the_body_reach_the_plugin() {
    // wasm-go's `held-response` holds the response headers with HeaderStopIteration and
    // replaces the whole body at its end (as RouteCall and the MCP server do); `minimal`,
    // before it in the chain, sees the response headers only once they are let go.
    let upstream = echo();
    let dir = tempdir("held-response");
    let config = Config::new()
        .cluster("echo", upstream.local_addr(), &[])
        .route("r", "echo", &[])
        .plugin("minimal", example(Lang::Rust, "minimal"), &[])
        .plugin("held", conformance_go("held-response"), &[]);
    let gateway = start(&config, &dir);
    let response = gateway.post("a.com", &[], Body::Whole(b"abc"));
    assert_eq!(response.status, 200, "{}", response.text());
    let text = response.text();
    let (head, rest) = text.split_once(": ").expect("the plugin's body");
    assert_eq!(head, format!("held {} bytes", rest.len()), "{text}");
    assert!(
        rest.contains("ABC"),
        "the upstream's answer, upper-cased: {text}"
    );
    assert_eq!(response.header("x-held"), Some("yes"));
    assert_eq!(
        response.header("x-minimal"),
        Some("1"),
        "the plugin before it saw the headers after the release"
    );
}

#[test]
fn data_a_plugin_injects_after_itself_reaches_the_client() {
    // wasm-go's `inject-probe`, arguments encoded as wasm-go's MCP server encodes them;
    // `minimal` before it in the chain sees the response after the injection.
    let upstream = echo();
    let dir = tempdir("inject");
    let config = Config::new()
        .cluster("echo", upstream.local_addr(), &[])
        .route("r", "echo", &[])
        .plugin("minimal", example(Lang::Rust, "minimal"), &[])
        .plugin("inject", conformance_go("inject-probe"), &[]);
    let gateway = start(&config, &dir);
    // From the response headers, ending the response: the injected body is all of it.
    let response = gateway.get("/mcp", &[("x-inject", "on-header")]);
    assert_eq!(response.status, 200, "{}", response.text());
    assert_eq!(response.header("x-inject-error"), None);
    assert_eq!(response.text(), r#"{"injected":"on-header"}"#);
    assert_eq!(response.header("content-type"), Some("application/json"));
    assert_eq!(response.header("x-minimal"), Some("1"));
    // From a body phase, not ending it: the injected data comes before the chunk.
    let response = gateway.get("/stream", &[("x-inject", "body")]);
    let text = response.text();
    let echoed = text
        .strip_prefix("[injected]")
        .unwrap_or_else(|| panic!("{text}"));
    assert!(
        echoed.contains("\"path\""),
        "then the upstream's body: {text}"
    );
    // From a body phase, ending it: the rest of the upstream's body is dropped.
    let response = gateway.get("/end", &[("x-inject", "body-end")]);
    assert_eq!(response.header("x-inject-error"), None);
    assert_eq!(response.text(), "[the end]");
    // Without injection the upstream's answer passes.
    let response = gateway.get("/plain", &[]);
    assert!(response.text().contains("\"path\""));
}
