//! WebSocket through a plugin against Envoy (`upgrade_configs: websocket`): the same
//! `websockets` (Python) client and echo upstream through both hosts with abi-probe on the
//! route. The handshake as the upstream got it (the plugin's added headers, `upgrade`,
//! `connection`), the `101` as the client got it (the plugin's response header), the
//! messages and the close must agree; a plugin's refusal must reach the client the same.
//! Over HTTP/2 (RFC 8441 extended CONNECT, Envoy's `allow_connect`), with a raw h2 client.
//! A wasm-go plugin (`go/ws-guard`) tells the handshake apart with `IsWebsocket()`.

use std::io::{BufRead, BufReader};
use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};

use wasmgate_conformance::{envoy::Envoy, gateway_config, Plugin};
use wasmgate_proxy::Gateway;
use wasmgate_test_support::{python, repo_root};

/// The gateway tests' WebSocket peers.
fn script(name: &str) -> PathBuf {
    repo_root()
        .join("crates/proxy/tests/gateway/python")
        .join(name)
}

/// The echo upstream, stopped when dropped.
struct Upstream(Child, SocketAddr);

impl Upstream {
    fn start() -> Upstream {
        let mut child = Command::new(python())
            .arg(script("ws_echo.py"))
            .stdout(Stdio::piped())
            .spawn()
            .expect("python runs");
        let mut line = String::new();
        let stdout = child.stdout.take().expect("stdout");
        let _ = BufReader::new(stdout).read_line(&mut line);
        let port: u16 = line.trim().parse().unwrap_or_else(|_| {
            let _ = child.kill();
            panic!("the WebSocket upstream did not start: {line:?}")
        });
        Upstream(child, SocketAddr::from(([127, 0, 0, 1], port)))
    }
}

impl Drop for Upstream {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// The client's report of the `echo` scenario at `path` through `address`, with the
/// handshake `headers` (`name=value`).
fn exchange(address: SocketAddr, path: &str, headers: &[String]) -> serde_json::Value {
    let output = Command::new(python())
        .arg(script("ws_client.py"))
        .arg(format!("ws://{address}{path}"))
        .arg("echo")
        .args(headers)
        .output()
        .expect("python runs");
    assert!(
        output.status.success(),
        "the client failed: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    serde_json::from_slice(&output.stdout).expect("a JSON report")
}

/// The h2 client's report (`ws_h2.py`) of a WebSocket at `path` through `address`, with
/// the handshake `headers` (`name=value`).
fn exchange_h2(address: SocketAddr, path: &str, headers: &[&str]) -> serde_json::Value {
    let output = Command::new(python())
        .arg(script("ws_h2.py"))
        .arg(address.ip().to_string())
        .arg(address.port().to_string())
        .arg(path)
        .args(headers)
        .output()
        .expect("python runs");
    assert!(
        output.status.success(),
        "the h2 client failed: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    serde_json::from_slice(&output.stdout).expect("a JSON report")
}

/// Header pairs without those each host sets its own way (dates, ids, ports, Envoy's
/// `x-envoy-*` and `server`, the WebSocket key and its accept), names lower-cased, sorted.
/// abi-probe's `route_name` and `cluster_name` are the documented Higress-only difference
/// (docs/conformance.md, `props`): upstream Envoy gives its wasm filter neither.
fn comparable(pairs: &serde_json::Value) -> Vec<(String, String)> {
    let host_specific = [
        "date",
        "server",
        ":authority",
        "host",
        "x-request-id",
        "x-prop-x_request_id",
        "x-prop-request.host",
        "x-prop-source.address",
        "x-prop-route_name",
        "x-prop-cluster_name",
        "sec-websocket-key",
        "sec-websocket-accept",
        "x-envoy-expected-rq-timeout-ms",
        "x-envoy-upstream-service-time",
    ];
    let mut out: Vec<(String, String)> = pairs
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|pair| {
            let name = pair[0].as_str()?.to_ascii_lowercase();
            let value = pair[1].as_str()?.to_string();
            (!host_specific.contains(&name.as_str())).then_some((name, value))
        })
        .collect();
    out.sort();
    out
}

/// What must agree of a report: status, the client's headers, the messages (the first,
/// the upstream's view of the handshake, as comparable headers), the close code, a body.
fn view(report: &serde_json::Value) -> serde_json::Value {
    let mut messages = report["messages"].as_array().cloned().unwrap_or_default();
    if let Some(first) = messages.first_mut() {
        let handshake: serde_json::Value =
            serde_json::from_str(first["text"].as_str().unwrap_or("{}")).unwrap_or_default();
        *first = serde_json::json!({
            "path": handshake["path"],
            "headers": comparable(&handshake["headers"]),
        });
    }
    serde_json::json!({
        "status": report["status"],
        "headers": comparable(&report["headers"]),
        "messages": messages,
        "close_code": report["close_code"],
        "body": report["body"],
    })
}

#[test]
fn websocket_through_abi_probe_as_in_envoy() {
    let upstream = Upstream::start();
    let plugins = vec![Plugin::fixture("abi-probe", "")];
    let envoy = Envoy::start(
        "websocket abi-probe",
        &gateway_config(&plugins, upstream.1, &[]),
    )
    .unwrap_or_else(|e| panic!("{e}"));
    let gateway = Gateway::start(gateway_config(&plugins, upstream.1, &[]))
        .unwrap_or_else(|e| panic!("wasmgate does not start: {e}"));
    for (path, probe, status) in [
        ("/chat?room=1", "props", 101),
        ("/chat", "resp-headers", 101),
        ("/chat", "local-reply", 418),
        ("/refuse", "none", 418),
    ] {
        let headers = [format!("x-probe={probe}")];
        let on_envoy = view(&exchange(envoy.address(), path, &headers));
        let on_wasmgate = view(&exchange(gateway.local_addrs()[0], path, &headers));
        assert_eq!(on_envoy["status"], status, "envoy, {probe}: {on_envoy:#}");
        assert_eq!(
            on_envoy, on_wasmgate,
            "{path} with x-probe {probe}: envoy (left) and wasmgate (right) differ"
        );
    }
    gateway.shutdown();
    envoy.stop();
}

#[test]
fn websocket_over_http2_through_abi_probe_as_in_envoy() {
    let upstream = Upstream::start();
    let plugins = vec![Plugin::fixture("abi-probe", "")];
    let envoy = Envoy::start(
        "websocket h2 abi-probe",
        &gateway_config(&plugins, upstream.1, &[]),
    )
    .unwrap_or_else(|e| panic!("{e}"));
    let gateway = Gateway::start(gateway_config(&plugins, upstream.1, &[]))
        .unwrap_or_else(|e| panic!("wasmgate does not start: {e}"));
    let key = "sec-websocket-key=dGhlIHNhbXBsZSBub25jZQ==";
    for (headers, status) in [
        // Neither host makes up the key an HTTP/1.1 upstream wants: its 400 comes back.
        (vec!["x-probe=props"], "400"),
        (
            vec!["x-probe=props", "sec-websocket-version=13", key],
            "200",
        ),
        (
            vec!["x-probe=resp-headers", "sec-websocket-version=13", key],
            "200",
        ),
        (
            vec!["x-probe=local-reply", "sec-websocket-version=13", key],
            "418",
        ),
    ] {
        let on_envoy = view(&exchange_h2(envoy.address(), "/chat", &headers));
        let on_wasmgate = view(&exchange_h2(gateway.local_addrs()[0], "/chat", &headers));
        assert_eq!(
            on_envoy["status"], status,
            "envoy, {headers:?}: {on_envoy:#}"
        );
        assert_eq!(
            on_envoy, on_wasmgate,
            "{headers:?} over h2: envoy (left) and wasmgate (right) differ"
        );
    }
    gateway.shutdown();
    envoy.stop();
}

#[test]
fn a_wasm_go_plugin_sees_is_websocket_as_in_envoy() {
    let upstream = Upstream::start();
    let plugins = vec![Plugin::conformance_go("ws-guard", "{}")];
    let envoy = Envoy::start(
        "websocket go/ws-guard",
        &gateway_config(&plugins, upstream.1, &[]),
    )
    .unwrap_or_else(|e| panic!("{e}"));
    let gateway = Gateway::start(gateway_config(&plugins, upstream.1, &[]))
        .unwrap_or_else(|e| panic!("wasmgate does not start: {e}"));
    for (headers, status) in [(vec![], 101), (vec!["x-deny=1".to_string()], 403)] {
        let on_envoy = view(&exchange(envoy.address(), "/chat", &headers));
        let on_wasmgate = view(&exchange(gateway.local_addrs()[0], "/chat", &headers));
        assert_eq!(
            on_envoy["status"], status,
            "envoy, {headers:?}: {on_envoy:#}"
        );
        assert_eq!(
            on_envoy, on_wasmgate,
            "ws-guard {headers:?}: envoy (left) and wasmgate (right) differ"
        );
    }
    // What the plugin saw, beyond agreeing: IsWebsocket() held on the handshake, and the
    // response-header phase had the 101.
    let report = view(&exchange(gateway.local_addrs()[0], "/chat", &[]));
    let has = |pairs: &serde_json::Value, name: &str, value: &str| {
        pairs
            .as_array()
            .is_some_and(|p| p.contains(&serde_json::json!([name, value])))
    };
    assert!(
        has(&report["headers"], "x-ws-guard-status", "101"),
        "{report:#}"
    );
    assert!(
        has(&report["headers"], "x-ws-guard-websocket", "true"),
        "{report:#}"
    );
    let handshake = &report["messages"][0]["headers"];
    assert!(has(handshake, "x-ws-guard", "websocket"), "{report:#}");
    gateway.shutdown();
    envoy.stop();
}
