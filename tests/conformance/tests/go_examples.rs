//! The Go example plugins (`examples/go`, Higress wasm-go, `0_2_100` marker).

use wasmgate_conformance::{edge_requests, Case, Endpoint, Lang, Plugin, Request};

#[test]
fn hello_mock_false() {
    Case::new(
        "go/hello mockEnable=false",
        vec![Plugin::example(
            Lang::Go,
            "hello",
            r#"{"mockEnable": false}"#,
        )],
        edge_requests(&[]),
    )
    .check();
}

#[test]
fn hello_mock_true() {
    Case::new(
        "go/hello mockEnable=true",
        vec![Plugin::example(
            Lang::Go,
            "hello",
            r#"{"mockEnable": true}"#,
        )],
        edge_requests(&[]),
    )
    .check();
}

/// The Go http-call example calling `outbound|8080||auth.dns` (its `DnsCluster` name).
fn go_http_call(timeout_ms: u32) -> Vec<Plugin> {
    vec![Plugin::example(
        Lang::Go,
        "http-call",
        &format!(
            r#"{{"serviceSource": "dns", "serviceName": "auth", "servicePort": 8080, "domain": "auth.test", "path": "/token", "timeout": {timeout_ms}}}"#
        ),
    )]
}

const GO_AUTH_CLUSTER: &str = "outbound|8080||auth.dns";

#[test]
fn http_call() {
    Case::new(
        "go/http-call",
        go_http_call(5000),
        edge_requests(&[("x-token", "from-client")]),
    )
    .callouts(&[GO_AUTH_CLUSTER])
    .check();
}

#[test]
fn http_call_refused() {
    Case::new(
        "go/http-call, callout refused",
        go_http_call(5000),
        edge_requests(&[("x-token", "from-client")]),
    )
    .callout_to(GO_AUTH_CLUSTER, Endpoint::Refused)
    .check();
}

#[test]
fn http_call_timeout() {
    Case::new(
        "go/http-call timeout=300, callout times out",
        go_http_call(300),
        vec![
            Request::get("/").header("x-token", "from-client"),
            Request::new("POST", "/submit").body("hello body"),
        ],
    )
    .callout_to(GO_AUTH_CLUSTER, Endpoint::Silent)
    .check();
}
