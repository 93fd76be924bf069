//! The access log: one JSON line per request (`access_log: json`), with the route, the
//! status, the upstream and the attributes plugins set with `custom_log`; a WebSocket's line
//! when it closed, with the bytes it moved.
//!
//! The gateway writes it with `tracing` (target `access`); this test binary installs a
//! subscriber that keeps the lines, as the `wasmgate` binary prints them.

#[path = "gateway/common/mod.rs"]
mod common;

use common::log::captured as log;
use common::websocket::{client, WsUpstream};
use common::{echo, start, tempdir, wait_for_line, Client, Config};
use wasmgate_testkit::examples::fixture;

/// The JSON object of an access log line.
fn entry(line: &str) -> serde_json::Value {
    let json = &line[line.find('{').unwrap()..];
    serde_json::from_str(json).unwrap()
}

#[test]
fn the_access_log_carries_custom_log_attributes() {
    let log = log();
    let upstream = echo();
    let dir = tempdir("accesslog");
    let config = Config::new()
        .setting("access_log: json")
        .cluster("echo", upstream.local_addr(), &[])
        .route("r1", "echo", &[])
        .plugin("probe", fixture("abi-probe"), &[]);
    let gateway = start(&config, &dir);
    assert_eq!(
        gateway
            .get(
                "/logged",
                &[("x-probe", "props"), ("x-request-id", "rid-42")]
            )
            .status,
        200
    );
    let line = wait_for_line(log, "access log line", |l| {
        l.contains("rid-42") && l.contains("\"path\":\"/logged\"")
    });
    let entry = entry(&line);
    assert_eq!(entry["k"], "v", "{line}");
    assert_eq!(entry["route"], "r1");
    assert_eq!(entry["status"], 200);
    assert_eq!(entry["protocol"], "HTTP/1.1");
    assert_eq!(entry["upstream"], upstream.local_addr().to_string());
}

#[test]
fn a_websocket_has_one_line_when_it_closed_with_its_status_and_bytes() {
    let log = log();
    let upstream = WsUpstream::start();
    let config = Config::new()
        .setting("access_log: json")
        .cluster("ws", upstream.address, &[])
        .route("chat", "ws", &[])
        .plugin("probe", fixture("abi-probe"), &[]);
    let gateway = start(&config, &tempdir("accesslog-ws"));
    let report = client(&gateway, "/ws-logged", "echo", &["x-request-id=rid-ws"]);
    assert_eq!(report["status"], 101, "{report}");
    let line = wait_for_line(log, "the WebSocket's access log line", |l| {
        l.contains("rid-ws")
    });
    let entry = entry(&line);
    assert_eq!(entry["status"], 101, "{line}");
    assert_eq!(entry["path"], "/ws-logged", "{line}");
    assert_eq!(entry["route"], "chat", "{line}");
    // Both ways carried the 1 MiB message, framed.
    let received = entry["bytes_received"].as_u64().expect("bytes_received");
    let sent = entry["bytes_sent"].as_u64().expect("bytes_sent");
    assert!(received > 1 << 20, "{line}");
    assert!(sent > 1 << 20, "{line}");
    let lines = log
        .lock()
        .unwrap()
        .lines()
        .filter(|l| l.contains("rid-ws"))
        .count();
    assert_eq!(lines, 1, "one line for the WebSocket");
}
