//! The example plugins on wasmgate-sdk (Higress's `0_2_100` marker; Envoy gets a copy with
//! the standard marker, written by the exporter: `wasmgate_proxy::export::for_upstream_envoy`).

use wasmgate_conformance::{edge_requests, Case, Endpoint, Lang, Plugin, Request};

fn sdk(name: &str, config: &str) -> Vec<Plugin> {
    vec![Plugin::example(Lang::Rust, name, config)]
}

#[test]
fn request_block() {
    Case::new(
        "sdk/request-block",
        sdk(
            "request-block",
            r#"{"block_urls": ["/blocked"], "block_headers": ["x-evil"], "blocked_code": 403, "blocked_message": "blocked by conformance"}"#,
        ),
        edge_requests(&[]),
    )
    .requests_also(vec![
        Request::get("/blocked/page"),
        Request::get("/BLOCKED?x=1"),
        Request::get("/").header("X-Evil", "1"),
    ])
    .check();
}

#[test]
fn key_auth() {
    Case::new(
        "sdk/key-auth",
        sdk(
            "key-auth",
            r#"{"consumers": [{"name": "alice", "credential": "k-alice"}, {"name": "bob", "credential": "k-bob"}], "keys": ["x-api-key", "apikey"], "in_header": true, "in_query": true, "global_auth": true}"#,
        ),
        edge_requests(&[("x-api-key", "k-alice")]),
    )
    .requests_also(vec![
        Request::get("/"),
        Request::get("/").header("x-api-key", "wrong"),
        Request::get("/").header("x-api-key", "k-alice").header("apikey", "k-bob"),
        Request::get("/?apikey=k-bob"),
    ])
    .check();
}

#[test]
fn custom_response_always() {
    Case::new(
        "sdk/custom-response (every request)",
        sdk(
            "custom-response",
            r#"{"status_code": 200, "headers": ["x-custom=1", "key2=value2"], "body": "{\"hello\":\"world\"}"}"#,
        ),
        edge_requests(&[]),
    )
    .check();
}

#[test]
fn custom_response_on_status() {
    Case::new(
        "sdk/custom-response (enable_on_status 200)",
        sdk(
            "custom-response",
            r#"{"rules": [{"status_code": 201, "headers": ["x-replaced=yes"], "body": "replaced", "enable_on_status": ["200"]}]}"#,
        ),
        edge_requests(&[]),
    )
    .check();
}

#[test]
fn cors() {
    let origin = "http://app.example";
    Case::new(
        "sdk/cors",
        sdk(
            "cors",
            r#"{"allow_origins": ["http://app.example"], "allow_methods": ["GET", "POST"], "allow_headers": ["x-h"], "expose_headers": ["x-e"], "allow_credentials": true, "max_age": 100}"#,
        ),
        edge_requests(&[]),
    )
    .requests_also(vec![
        Request::get("/").header("Origin", origin),
        Request::get("/").header("Origin", "http://evil.example"),
        Request::new("DELETE", "/").header("Origin", origin),
        Request::new("OPTIONS", "/")
            .header("Origin", origin)
            .header("Access-Control-Request-Method", "POST")
            .header("Access-Control-Request-Headers", "x-h"),
        Request::new("OPTIONS", "/")
            .header("Origin", origin)
            .header("Access-Control-Request-Method", "POST")
            .header("Access-Control-Request-Headers", "x-other"),
    ])
    .check();
}

#[test]
fn hello_mock_false() {
    Case::new(
        "sdk/sdk-hello mockEnable=false",
        sdk("sdk-hello", r#"{"mockEnable": false}"#),
        edge_requests(&[]),
    )
    .check();
}

#[test]
fn hello_mock_true() {
    Case::new(
        "sdk/sdk-hello mockEnable=true",
        sdk("sdk-hello", r#"{"mockEnable": true}"#),
        edge_requests(&[]),
    )
    .check();
}

/// sdk-http-call calling `outbound|8080||auth.dns` (its `DnsCluster` name), as the Go
/// http-call example does.
fn sdk_http_call() -> Vec<Plugin> {
    sdk(
        "sdk-http-call",
        r#"{"serviceSource": "dns", "serviceName": "auth", "servicePort": 8080, "domain": "auth.test", "requestPath": "/token", "tokenHeader": "x-token"}"#,
    )
}

const AUTH_CLUSTER: &str = "outbound|8080||auth.dns";

#[test]
fn http_call() {
    Case::new(
        "sdk/sdk-http-call",
        sdk_http_call(),
        edge_requests(&[("x-token", "from-client")]),
    )
    .callouts(&[AUTH_CLUSTER])
    .check();
}

#[test]
fn http_call_refused() {
    Case::new(
        "sdk/sdk-http-call, callout refused",
        sdk_http_call(),
        vec![
            Request::get("/").header("x-token", "from-client"),
            Request::new("POST", "/submit").body("hello body"),
        ],
    )
    .callout_to(AUTH_CLUSTER, Endpoint::Refused)
    .check();
}
