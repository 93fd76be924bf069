//! The Rust example plugins (`examples/rust`) through Envoy and through wasmgate.

use wasmgate_conformance::{edge_requests, Case, Lang, Plugin, Request};

fn rust(name: &str, config: &str) -> Vec<Plugin> {
    vec![Plugin::example(Lang::Rust, name, config)]
}

#[test]
fn minimal() {
    Case::new("rust/minimal", rust("minimal", ""), edge_requests(&[])).check();
}

#[test]
fn hello_mock_false() {
    Case::new(
        "rust/hello mockEnable=false",
        rust("hello", r#"{"mockEnable": false}"#),
        edge_requests(&[]),
    )
    .check();
}

#[test]
fn hello_mock_true() {
    Case::new(
        "rust/hello mockEnable=true",
        rust("hello", r#"{"mockEnable": true}"#),
        edge_requests(&[]),
    )
    .check();
}

fn probe(case: &str) -> Case {
    Case::new(
        &format!("rust/abi-probe {case}"),
        rust("abi-probe", ""),
        edge_requests(&[("x-probe", case)]),
    )
}

#[test]
fn abi_probe_props() {
    probe("props")
        .requests_also(vec![
            Request::get("/p").header("user-agent", "conformance/1")
        ])
        .expect_different_in(
            &[
                "x-prop-route_name",
                "x-prop-cluster_name",
                "x-prop-x_request_id",
            ],
            "Higress-only: Higress (and wasmgate) give `route_name`, `cluster_name` and \
             `x_request_id` at request headers; upstream Envoy has no `x_request_id` property \
             and sets the route and cluster names only when its router runs",
        )
        .check();
}

#[test]
fn abi_probe_local_reply() {
    probe("local-reply").check();
}

#[test]
fn abi_probe_resp_headers() {
    probe("resp-headers").check();
}

#[test]
fn abi_probe_body() {
    probe("body").check();
}

#[test]
fn abi_probe_log_level() {
    probe("log-level").check();
}

#[test]
fn abi_probe_pause_resume() {
    probe("pause-resume").callouts(&["callout"]).check();
}

#[test]
fn http_call() {
    Case::new(
        "rust/http-call",
        rust("http-call", ""),
        edge_requests(&[("x-token", "from-client")]),
    )
    .callouts(&["outbound|8080||auth.dns"])
    .check();
}
