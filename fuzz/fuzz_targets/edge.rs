//! The gateway's edge: the input is what a client writes on a fresh HTTP/1.1 (or h2c)
//! connection to a running gateway (one worker, a plugin that reads every request header
//! and writes them all back, an echo upstream). Whatever the bytes, the gateway answers or
//! closes, never panics (a panic anywhere aborts the fuzzer), and serves the next client.
#![no_main]

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::sync::OnceLock;
use std::time::Duration;

use libfuzzer_sys::fuzz_target;
use wasmgate_fuzz::scratch;
use wasmgate_proxy::{EchoServer, Gateway};

/// Reads the request's headers and sets them back: the head goes to the plugin's map and
/// back to HTTP, as a header-rewriting plugin makes it go.
const ROUND_TRIP_PLUGIN: &str = r#"
(module
  (import "env" "proxy_get_header_map_pairs" (func $get (param i32 i32 i32) (result i32)))
  (import "env" "proxy_set_header_map_pairs" (func $set (param i32 i32 i32) (result i32)))
  (memory (export "memory") 2 64)
  (global $next (mut i32) (i32.const 1024))
  (func (export "proxy_abi_version_0_2_1"))
  (func (export "proxy_on_memory_allocate") (param $size i32) (result i32)
    (local $at i32)
    (local.set $at (global.get $next))
    (global.set $next (i32.add (global.get $next) (local.get $size)))
    (if (i32.gt_u (global.get $next) (i32.mul (memory.size) (i32.const 65536)))
      (then (if (i32.lt_s (memory.grow (i32.add (i32.shr_u (local.get $size) (i32.const 16)) (i32.const 1))) (i32.const 0))
        (then (global.set $next (local.get $at)) (return (i32.const 0))))))
    (local.get $at))
  (func (export "proxy_on_context_create") (param i32 i32))
  (func (export "proxy_on_configure") (param i32 i32) (result i32) i32.const 1)
  (func (export "proxy_on_request_headers") (param i32 i32 i32) (result i32)
    (global.set $next (i32.const 1024))
    (if (i32.eqz (call $get (i32.const 0) (i32.const 0) (i32.const 4)))
      (then (drop (call $set (i32.const 0) (i32.load (i32.const 0)) (i32.load (i32.const 4))))))
    i32.const 0))
"#;

struct Edge {
    address: SocketAddr,
    _gateway: Gateway,
    _upstream: EchoServer,
}

fn edge() -> &'static Edge {
    static EDGE: OnceLock<Edge> = OnceLock::new();
    EDGE.get_or_init(|| {
        let upstream = EchoServer::start("127.0.0.1:0".parse().expect("an address"))
            .expect("the echo upstream");
        let dir = scratch();
        let wasm = wat::parse_str(ROUND_TRIP_PLUGIN).expect("the plugin's text");
        std::fs::write(dir.join("round-trip.wasm"), wasm).expect("the plugin written");
        let text = format!(
            "listen: 127.0.0.1:0\nworkers: 1\naccess_log: off\nlog_level: critical\n\
             edge:\n  request_headers_timeout_ms: 1000\n  idle_timeout_ms: 1000\n\
             clusters:\n  - name: echo\n    endpoints: [{}]\n\
             routes:\n  - name: default\n    cluster: echo\n    timeout_ms: 2000\n\
             plugins:\n  - name: round-trip\n    wasm: round-trip.wasm\n",
            upstream.local_addr()
        );
        let config = wasmgate_proxy::parse_config(&dir.join("wasmgate.yaml"), &text)
            .expect("the edge's configuration");
        let gateway = Gateway::start(config).expect("the gateway starts");
        Edge {
            address: gateway.local_addr(),
            _gateway: gateway,
            _upstream: upstream,
        }
    })
}

/// Writes `bytes` and reads what comes back until the gateway closes or pauses for
/// `pause`. (The writing side stays open: hyper ends a connection whose client half-closes.)
fn exchange(address: SocketAddr, bytes: &[u8], pause: Duration) -> Vec<u8> {
    let mut stream = TcpStream::connect(address).expect("the gateway accepts");
    stream
        .set_read_timeout(Some(pause))
        .expect("a read timeout");
    // The gateway may answer and close before it has read everything: a failed write is
    // the client's problem, not the gateway's.
    let _ = stream.write_all(bytes);
    let mut answer = Vec::new();
    let _ = stream.read_to_end(&mut answer);
    answer
}

fuzz_target!(|bytes: &[u8]| {
    let edge = edge();
    exchange(edge.address, bytes, Duration::from_millis(50));
    let answer = exchange(
        edge.address,
        b"GET /alive HTTP/1.1\r\nhost: fuzz.test\r\nconnection: close\r\n\r\n",
        Duration::from_secs(10),
    );
    assert!(
        answer.starts_with(b"HTTP/1.1 200"),
        "the gateway stopped serving: {:?}",
        String::from_utf8_lossy(&answer)
    );
});
