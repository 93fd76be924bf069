//! The Rust example plugins (`examples/rust`) and the stock-SDK fixture plugins
//! (`tests/plugins`: `abi-probe`, `faults`) through Envoy and through wasmgate.

use wasmgate_conformance::{
    continue_request, edge_requests, empty_body_request, stress_requests, Case, Endpoint, Lang,
    Plugin, Request,
};

fn rust(name: &str, config: &str) -> Vec<Plugin> {
    vec![Plugin::example(Lang::Rust, name, config)]
}

fn fixture(name: &str) -> Vec<Plugin> {
    vec![Plugin::fixture(name, "")]
}

#[test]
fn minimal() {
    Case::new("rust/minimal", rust("minimal", ""), edge_requests(&[])).check();
}

#[test]
fn minimal_stress() {
    Case::new(
        "rust/minimal stress",
        rust("minimal", ""),
        stress_requests(&[], true),
    )
    .check();
}

#[test]
fn minimal_empty_body() {
    Case::new(
        "rust/minimal empty body",
        rust("minimal", ""),
        empty_body_request(&[]),
    )
    .check();
}

#[test]
fn minimal_expect_continue() {
    Case::new(
        "rust/minimal expect: 100-continue",
        rust("minimal", ""),
        continue_request(&[]),
    )
    .check();
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

const PROPS_HIGRESS_ONLY: &str = "Higress-only: Higress (and wasmgate) give `route_name`, \
    `cluster_name` and `x_request_id` at request headers; upstream Envoy has no `x_request_id` \
    property and gives its wasm filter no route or cluster name";

fn probe(case: &str) -> Case {
    Case::new(
        &format!("rust/abi-probe {case}"),
        fixture("abi-probe"),
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
            PROPS_HIGRESS_ONLY,
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
fn abi_probe_metrics() {
    probe("metrics")
        .metrics(&["probe_requests_total", "probe_gauge", "probe_hist"])
        .check();
}

#[test]
fn abi_probe_body() {
    probe("body").check();
}

#[test]
fn abi_probe_body_stress() {
    Case::new(
        "rust/abi-probe body stress",
        fixture("abi-probe"),
        stress_requests(&[("x-probe", "body")], true),
    )
    .check();
}

#[test]
fn abi_probe_body_empty() {
    Case::new(
        "rust/abi-probe body, empty body",
        fixture("abi-probe"),
        empty_body_request(&[("x-probe", "body")]),
    )
    .check();
}

#[test]
fn abi_probe_body_expect_continue() {
    Case::new(
        "rust/abi-probe body, expect: 100-continue",
        fixture("abi-probe"),
        continue_request(&[("x-probe", "body")]),
    )
    .check();
}

#[test]
fn abi_probe_props_stress() {
    Case::new(
        "rust/abi-probe props stress",
        fixture("abi-probe"),
        stress_requests(&[("x-probe", "props")], false),
    )
    .requests_also(vec![
        Request::get("/ua").header_bytes("user-agent", b"agent/\xe9\xff")
    ])
    .expect_different_in(
        &[
            "x-prop-route_name",
            "x-prop-cluster_name",
            "x-prop-x_request_id",
        ],
        PROPS_HIGRESS_ONLY,
    )
    .check();
}

#[test]
fn abi_probe_log_level() {
    probe("log-level").check();
}

/// Header-map lifetimes: the request headers after they continued (read, pairs, `request.path`,
/// an add from the request body), and, through `pause-resume`, an add after the resume.
#[test]
fn abi_probe_map_scope() {
    probe("map-scope").check();
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

#[test]
fn abi_probe_pause_resume_refused() {
    Case::new(
        "rust/abi-probe pause-resume, callout refused",
        fixture("abi-probe"),
        edge_requests(&[("x-probe", "pause-resume")]),
    )
    .callout_to("callout", Endpoint::Refused)
    .check();
}

#[test]
fn abi_probe_pause_resume_timeout() {
    // abi-probe's callout timeout is 5 s: one request is enough.
    Case::new(
        "rust/abi-probe pause-resume, callout times out",
        fixture("abi-probe"),
        vec![Request::get("/").header("x-probe", "pause-resume")],
    )
    .callout_to("callout", Endpoint::Silent)
    .check();
}

#[test]
fn http_call_refused() {
    Case::new(
        "rust/http-call, callout refused",
        rust("http-call", ""),
        edge_requests(&[("x-token", "from-client")]),
    )
    .callout_to("outbound|8080||auth.dns", Endpoint::Refused)
    .check();
}

#[test]
fn http_call_timeout() {
    Case::new(
        "rust/http-call timeoutMs=300, callout times out",
        rust("http-call", r#"{"timeoutMs": 300}"#),
        vec![
            Request::get("/").header("x-token", "from-client"),
            Request::new("POST", "/submit").body("hello body"),
        ],
    )
    .callout_to("outbound|8080||auth.dns", Endpoint::Silent)
    .check();
}

#[test]
fn abi_probe_shared() {
    probe("shared").check();
}

#[test]
fn abi_probe_queue() {
    probe("queue").check();
}

#[test]
fn abi_probe_foreign() {
    probe("foreign")
        .expect_different_in(
            &["x-foreign-len", "x-foreign-error"],
            "Higress-only: Higress's Envoy provides the foreign function `get_log_level` \
             (wasm-go's logger calls it; wasmgate provides it too); upstream Envoy answers \
             NotFound",
        )
        .check();
}

#[test]
fn abi_probe_ticks() {
    // Three plain requests first (each waits 50 ms for log lines), so the 100 ms tick has
    // run in both hosts before the probe reads it.
    let warm_up = vec![Request::get("/"), Request::get("/"), Request::get("/")];
    let mut requests = warm_up;
    requests.extend(edge_requests(&[("x-probe", "ticks")]));
    Case::new("rust/abi-probe ticks", fixture("abi-probe"), requests).check();
}

/// A plugin that misbehaves: out-of-bounds pointers get INVALID_MEMORY_ACCESS, a panic
/// fails its request with 503 and no body. The crash comes last: after it Envoy fails every
/// request (its default `failure_policy`, FAIL_CLOSED) or reloads the VM after a backoff of at
/// least 1 s (FAIL_RELOAD), where wasmgate serves the next request from a rebuilt VM. `loop`
/// and `oom` are left out: Envoy's V8 has no time limit (the worker would spin forever).
#[test]
fn faults() {
    let requests = ["oob", "none", "trap"]
        .into_iter()
        .map(|fault| Request::get("/f").header("x-fault", fault))
        .collect();
    Case::new("rust/faults", fixture("faults"), requests).check();
}

/// More misbehaviour, measured against Envoy: `memory.grow` until refused (-1 to the guest),
/// two local replies from one callback, resuming a request that is not paused, WASI reads
/// of files, directories and the environment (none are given), and a stack overflow (a
/// trap: 503, last for the reason above).
#[test]
fn faults_hostile() {
    let requests = [
        "grow",
        "reply-twice",
        "resume-unpaused",
        "wasi",
        "none",
        "recurse",
    ]
    .into_iter()
    .map(|fault| Request::get("/f").header("x-fault", fault))
    .collect();
    Case::new("rust/faults hostile", fixture("faults"), requests).check();
}
