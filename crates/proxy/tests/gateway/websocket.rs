//! WebSocket through the gateway with real peers: a `websockets` (Python) upstream and
//! client, the abi-probe plugin on the route. The handshake runs the plugins' request-header
//! phase (a plugin may change it or refuse it) and response-header phase (they see the
//! `101`); messages then flow both ways until either side closes. Routes opt out with
//! `upgrade_configs` (Envoy's `403`); an upstream that refuses the handshake, or is down,
//! answers as for any request; WebSocket over HTTP/2 (RFC 8441) when the edge allows it.

use std::io::{BufRead, BufReader};
use std::net::SocketAddr;
use std::process::{Command, Stdio};

use crate::common::websocket::{client, header, json, WsUpstream};
use crate::common::{self, dead_address, python, run_python, tempdir, Config, Running};
use wasmgate_testkit::examples::fixture;

const CLIENT: &str = include_str!("python/ws_client.py");
const H2_CLIENT: &str = include_str!("python/ws_h2.py");

/// A gateway to `upstream` with the abi-probe plugin on every route, `more` lines added.
fn gateway(tag: &str, upstream: SocketAddr, route: &[&str], settings: &[&str]) -> Running {
    let mut config = Config::new()
        .cluster("ws", upstream, &[])
        .route("chat", "ws", route)
        .plugin("probe", fixture("abi-probe"), &[]);
    for line in settings {
        config = config.setting(line);
    }
    common::start(&config, &tempdir(tag))
}

#[test]
fn messages_echo_both_ways_and_the_plugin_saw_the_handshake() {
    let upstream = WsUpstream::start();
    let gateway = gateway("ws-echo", upstream.address, &[], &[]);
    let report = client(&gateway, "/chat?room=1", "echo", &["x-probe=props"]);
    assert_eq!(report["status"], 101, "{report}");
    assert_eq!(header(&report["headers"], "x-upstream-ws"), Some("yes"));
    let messages = report["messages"].as_array().expect("messages");
    assert_eq!(messages.len(), 4, "{report}");
    let handshake = json(messages[0]["text"].as_str().expect("the upstream's report"));
    assert_eq!(handshake["path"], "/chat?room=1");
    let seen = &handshake["headers"];
    assert_eq!(header(seen, "upgrade"), Some("websocket"), "{handshake}");
    let connection = header(seen, "connection").unwrap_or_default();
    assert!(
        connection.to_ascii_lowercase().contains("upgrade"),
        "{handshake}"
    );
    assert!(header(seen, "sec-websocket-key").is_some(), "{handshake}");
    // The plugin's request-header phase ran on the handshake and changed it.
    assert_eq!(
        header(seen, "x-prop-request.path"),
        Some("/chat?room=1"),
        "{handshake}"
    );
    assert_eq!(
        header(seen, "x-prop-route_name"),
        Some("chat"),
        "{handshake}"
    );
    assert_eq!(messages[1], serde_json::json!({"text": "hello"}));
    assert_eq!(messages[2], serde_json::json!({"binary": "0001ff"}));
    assert_eq!(messages[3]["binary_len"], 1 << 20, "{report}");
    assert_eq!(
        messages[3]["same"], true,
        "the 1 MiB message came back whole"
    );
    assert_eq!(report["close_code"], 1000, "{report}");
}

#[test]
fn the_response_header_phase_sees_the_101() {
    let upstream = WsUpstream::start();
    let gateway = gateway("ws-101", upstream.address, &[], &[]);
    let report = client(&gateway, "/chat", "echo", &["x-probe=resp-headers"]);
    assert_eq!(report["status"], 101, "{report}");
    assert_eq!(
        header(&report["headers"], "x-resp-probe"),
        Some("1"),
        "{report}"
    );
    assert_eq!(report["messages"][1]["text"], "hello", "{report}");
}

#[test]
fn the_upstream_closing_reaches_the_client_with_its_code() {
    let upstream = WsUpstream::start();
    let gateway = gateway("ws-server-close", upstream.address, &[], &[]);
    let report = client(&gateway, "/chat", "server-close", &[]);
    assert_eq!(report["status"], 101, "{report}");
    assert_eq!(report["close_code"], 4000, "{report}");
    assert_eq!(report["close_reason"], "bye", "{report}");
}

#[test]
fn on_shutdown_an_open_websocket_is_closed() {
    let upstream = WsUpstream::start();
    let gateway = gateway(
        "ws-drain",
        upstream.address,
        &[],
        &["edge:\n  drain_timeout_ms: 200"],
    );
    let url = format!("ws://{}/chat", gateway.address);
    let mut held = Command::new(python())
        .args(["-c", CLIENT, &url, "hold"])
        .stdout(Stdio::piped())
        .spawn()
        .expect("python runs");
    let mut lines = BufReader::new(held.stdout.take().expect("stdout")).lines();
    let open = lines.next().and_then(|l| l.ok()).unwrap_or_default();
    assert_eq!(open, "open", "the WebSocket opened");
    drop(gateway); // shuts down: drains, then stops
    let report = json(&lines.next().and_then(|l| l.ok()).unwrap_or_default());
    let _ = held.wait();
    assert_eq!(report["messages"][0]["text"], "hello", "{report}");
    // Closed under it, without a close frame: 1006.
    assert_eq!(report["close_code"], 1006, "{report}");
}

#[test]
fn a_plugin_refusing_the_upgrade_answers_the_client_itself() {
    let upstream = WsUpstream::start();
    let gateway = gateway("ws-plugin-refuses", upstream.address, &[], &[]);
    let report = client(&gateway, "/chat", "echo", &["x-probe=local-reply"]);
    assert_eq!(report["status"], 418, "{report}");
    assert_eq!(
        header(&report["headers"], "x-local"),
        Some("yes"),
        "{report}"
    );
    assert_eq!(report["body"], "teapot", "{report}");
}

#[test]
fn an_upstream_refusing_the_handshake_passes_its_answer_on() {
    let upstream = WsUpstream::start();
    let gateway = gateway("ws-upstream-refuses", upstream.address, &[], &[]);
    let report = client(&gateway, "/refuse", "echo", &[]);
    assert_eq!(report["status"], 418, "{report}");
    assert_eq!(
        header(&report["headers"], "x-refused"),
        Some("yes"),
        "{report}"
    );
    assert_eq!(report["body"], "no tunnel here", "{report}");
}

#[test]
fn a_dead_upstream_answers_503() {
    let gateway = gateway("ws-dead", dead_address(), &[], &[]);
    let report = client(&gateway, "/chat", "echo", &[]);
    assert_eq!(report["status"], 503, "{report}");
}

#[test]
fn a_route_that_disables_websocket_answers_403_as_envoy() {
    let upstream = WsUpstream::start();
    let off = "upgrade_configs: [{upgrade_type: websocket, enabled: false}]";
    let gateway = gateway("ws-route-off", upstream.address, &[off], &[]);
    let report = client(&gateway, "/chat", "echo", &[]);
    assert_eq!(report["status"], 403, "{report}");
    assert_eq!(report["body"], "", "{report}");
    // As Envoy 1.40 answers it: `403`, `content-length: 0`, and the connection closes.
    assert_eq!(header(&report["headers"], "content-length"), Some("0"));
    assert_eq!(header(&report["headers"], "connection"), Some("close"));
}

#[test]
fn a_route_enables_what_the_gateway_disables() {
    let upstream = WsUpstream::start();
    let on = "upgrade_configs: [{upgrade_type: websocket}]";
    let off = "upgrade_configs: [{upgrade_type: websocket, enabled: false}]";
    let enabled = gateway("ws-gateway-off", upstream.address, &[on], &[off]);
    assert_eq!(client(&enabled, "/chat", "echo", &[])["status"], 101);
    let disabled = gateway("ws-gateway-off-2", upstream.address, &[], &[off]);
    assert_eq!(client(&disabled, "/chat", "echo", &[])["status"], 403);
}

#[test]
fn websocket_over_http2_needs_the_edge_to_allow_extended_connect() {
    let upstream = WsUpstream::start();
    let allowed = gateway(
        "ws-h2",
        upstream.address,
        &[],
        &["edge:\n  http2_allow_connect: true"],
    );
    let port = allowed.address.port().to_string();
    // As through Envoy, the HTTP/1.1 upstream wants the key RFC 8441 clients need not send:
    // the gateway makes none up.
    let report = json(&run_python(
        H2_CLIENT,
        &[
            "127.0.0.1",
            &port,
            "/chat",
            "x-probe=props",
            "sec-websocket-version=13",
            "sec-websocket-key=dGhlIHNhbXBsZSBub25jZQ==",
        ],
    ));
    assert_eq!(report["status"], "200", "{report}");
    assert_eq!(header(&report["headers"], "upgrade"), None, "{report}");
    let messages = report["messages"].as_array().expect("messages");
    assert_eq!(messages.len(), 3, "{report}");
    let handshake = json(messages[0]["text"].as_str().expect("the upstream's report"));
    assert_eq!(header(&handshake["headers"], "upgrade"), Some("websocket"));
    assert_eq!(
        header(&handshake["headers"], "x-prop-request.method"),
        Some("GET"),
        "plugins see the HTTP/1.1 upgrade: {handshake}"
    );
    assert_eq!(messages[1]["text"], "hello h2");
    assert_eq!(messages[2]["binary"], "0001ff");
    assert_eq!(report["close_code"], 1000, "{report}");

    let plain = gateway("ws-h2-off", upstream.address, &[], &[]);
    let port = plain.address.port().to_string();
    let report = json(&run_python(H2_CLIENT, &["127.0.0.1", &port, "/chat"]));
    assert_eq!(report["enable_connect_protocol"], false, "{report}");
}
