//! gRPC against Envoy: a grpcio client and server through `trailer-probe` (a plugin on every
//! phase, trailers included) over h2c to an HTTP/2 upstream cluster, on both hosts. Compared:
//! the status, message, responses and the initial and trailing metadata the client got,
//! which carry what the plugin saw (`x-probe-phases`, `x-probe-grpc-status`), and the
//! trailers-only answers of a local reply, a changed status and a dead upstream. A stream's
//! phase log is compared without its timing (see [`phase_totals`]).

use std::net::SocketAddr;

use serde_json::Value;
use wasmgate_conformance::{envoy, fixture, gateway_config, one_at_a_time, Plugin};
use wasmgate_proxy::{Gateway, UpstreamProtocol};
use wasmgate_test_support::{run_python, PythonServer};

const SERVER: &str = include_str!("../../../crates/proxy/tests/gateway/python/grpc_server.py");
const CLIENT: &str = include_str!("../../../crates/proxy/tests/gateway/python/grpc_client.py");

/// Headers one host adds on its own: the date, and Envoy's upstream time.
const HOST_OWN: &[&str] = &["date", "server", "x-envoy-upstream-service-time"];

/// The calls: method and request metadata.
const CALLS: &[(&str, &[&str])] = &[
    ("Unary", &[]),
    ("Fail", &[]),
    ("Chat", &[]),
    ("Unary", &["x-reply=403"]),
    ("Unary", &["x-reply=503", "x-reply-grpc=16"]),
    ("Unary", &["x-set-grpc-status=5"]),
];

fn call(target: SocketAddr, method: &str, metadata: &[&str]) -> Value {
    let target = target.to_string();
    let mut args = vec![target.as_str(), method];
    args.extend_from_slice(metadata);
    let out = run_python(CLIENT, &args);
    let mut answer: Value =
        serde_json::from_str(out.trim()).unwrap_or_else(|e| panic!("{e}: {out}"));
    for side in ["initial", "trailing"] {
        if let Some(map) = answer[side].as_object_mut() {
            map.retain(|k, _| !HOST_OWN.contains(&k.as_str()));
            if method == "Chat" && side == "initial" {
                // Written at the response headers: how much of the stream had come is a race.
                map.remove("x-probe-phases");
            } else if method == "Chat" {
                if let Some(Value::String(log)) = map.get_mut("x-probe-phases") {
                    *log = phase_totals(log);
                }
            }
        }
    }
    answer
}

/// A phase log without the timing of a stream: how request and response body calls
/// interleave, and how the bytes fall into calls, depends on when frames arrive. Kept: the
/// header and trailer phases in order, and each direction's body bytes in total.
fn phase_totals(log: &str) -> String {
    let mut kept = Vec::new();
    let (mut request_bytes, mut response_bytes) = (0u64, 0u64);
    for entry in log.split(' ') {
        let bytes = entry
            .split_once("bytes=")
            .and_then(|(_, rest)| rest.split(',').next())
            .and_then(|n| n.parse::<u64>().ok());
        match (entry.get(..4), bytes) {
            (Some("reqb"), Some(n)) => request_bytes += n,
            (Some("resb"), Some(n)) => response_bytes += n,
            _ => kept.push(entry.to_string()),
        }
    }
    format!(
        "{} request-body={request_bytes} response-body={response_bytes}",
        kept.join(" ")
    )
}

/// Runs the calls through Envoy and wasmgate in front of `upstream`; panics on a difference.
fn compare(case: &str, upstream: SocketAddr, calls: &[(&str, &[&str])]) {
    let _one = one_at_a_time();
    let plugins = vec![Plugin::fixture("trailer-probe", "")];
    let mut config = gateway_config(&plugins, upstream, &[]);
    config.clusters[0].protocol = UpstreamProtocol::Http2;
    let envoy = envoy::Envoy::start(case, &config).unwrap_or_else(|e| panic!("{case}: {e}"));
    let gateway = Gateway::start(config).unwrap_or_else(|e| panic!("{case}: {e}"));
    let mut differences = Vec::new();
    for (method, metadata) in calls {
        let on_envoy = call(envoy.address(), method, metadata);
        let on_wasmgate = call(gateway.local_addrs()[0], method, metadata);
        if on_envoy != on_wasmgate {
            differences.push(format!(
                "{method} {metadata:?}:\n  envoy:    {on_envoy}\n  wasmgate: {on_wasmgate}"
            ));
        }
    }
    gateway.shutdown();
    envoy.stop();
    assert!(
        differences.is_empty(),
        "{case}:\n{}",
        differences.join("\n")
    );
}

#[test]
fn grpc_calls_through_a_plugin_on_every_phase() {
    let _ = fixture("trailer-probe");
    let server = PythonServer::start(SERVER, &[]);
    compare("rust/trailer-probe grpc", server.address, CALLS);
}

#[test]
fn grpc_to_a_dead_upstream() {
    let dead = std::net::TcpListener::bind("127.0.0.1:0").expect("bound");
    let address = dead.local_addr().expect("an address");
    drop(dead);
    // A unary call only: how much of a stream's body the plugin sees before the refused
    // connection ends it is a race on both hosts.
    compare(
        "rust/trailer-probe grpc dead upstream",
        address,
        &[("Unary", &[]), ("Unary", &["x-set-grpc-status=5"])],
    );
}
