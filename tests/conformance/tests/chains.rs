//! Plugin chains: several plugins on one route, in Envoy as several wasm filters in order,
//! in wasmgate as its plugin list. Requests pass them in order, responses in reverse; a
//! local reply passes the response phases of the plugins that saw the request.

use wasmgate_conformance::{edge_requests, Case, Endpoint, Lang, Plugin, Request};

/// abi-probe under another name, so one chain can hold it twice.
fn probe_named(name: &str) -> Plugin {
    Plugin {
        name: name.to_string(),
        ..Plugin::example(Lang::Rust, "abi-probe", "")
    }
}

#[test]
fn go_and_rust_plugins_add_headers_in_order() {
    Case::new(
        "chain go/hello + rust/minimal + sdk/sdk-hello",
        vec![
            Plugin::example(Lang::Go, "hello", r#"{"mockEnable": false}"#),
            Plugin::example(Lang::Rust, "minimal", ""),
            Plugin::example(Lang::Rust, "sdk-hello", r#"{"mockEnable": false}"#),
        ],
        edge_requests(&[]),
    )
    .check();
}

#[test]
fn a_local_reply_passes_the_plugins_before_it() {
    let block = r#"{"block_urls": ["/blocked"], "blocked_code": 403, "blocked_message": "blocked in a chain"}"#;
    let requests = vec![
        Request::get("/blocked").header("x-probe", "resp-headers"),
        Request::get("/open").header("x-probe", "resp-headers"),
    ];
    Case::new(
        "chain rust/abi-probe + sdk/request-block",
        vec![
            probe_named("abi-probe"),
            Plugin::example(Lang::Rust, "request-block", block),
        ],
        requests.clone(),
    )
    .check();
    Case::new(
        "chain sdk/request-block + rust/abi-probe",
        vec![
            Plugin::example(Lang::Rust, "request-block", block),
            probe_named("abi-probe"),
        ],
        requests,
    )
    .check();
}

#[test]
fn bodies_pass_two_plugins_each_way() {
    Case::new(
        "chain rust/abi-probe body twice",
        vec![probe_named("probe-a"), probe_named("probe-b")],
        edge_requests(&[("x-probe", "body")]),
    )
    .check();
}

#[test]
fn two_instances_of_one_plugin() {
    Case::new(
        "chain rust/abi-probe twice, resp-headers and shared",
        vec![probe_named("probe-a"), probe_named("probe-b")],
        vec![
            Request::get("/").header("x-probe", "resp-headers"),
            Request::get("/").header("x-probe", "shared"),
            Request::get("/").header("x-probe", "shared"),
        ],
    )
    .check();
}

/// A shared queue between two plugins: `on_queue_ready` goes to the root context that
/// registered the queue (`queue-owner`), for items either plugin enqueued, once per item.
#[test]
fn a_queue_owner_hears_of_every_enqueue() {
    let owner = Plugin {
        config: "queue-owner".to_string(),
        ..probe_named("probe-owner")
    };
    Case::new(
        "chain rust/abi-probe queue owner + producer",
        vec![owner, probe_named("probe-producer")],
        vec![
            Request::get("/").header("x-probe", "enqueue"),
            Request::get("/").header("x-probe", "work-seen"),
            Request::get("/").header("x-probe", "enqueue"),
            Request::get("/").header("x-probe", "work-seen"),
        ],
    )
    .check();
}

/// Higress's per-domain configuration (`_rules_` with `_match_domain_`), which the plugin's
/// SDK applies itself: the same in both hosts for wasm-go and wasmgate-sdk plugins.
#[test]
fn domain_rules_pick_the_configuration() {
    let config = r#"{"mockEnable": false, "_rules_": [{"_match_domain_": ["mock.test", "*.wild.test"], "mockEnable": true}]}"#;
    let requests = vec![
        Request::get("/"),
        Request::get("/").host("mock.test"),
        Request::get("/").host("a.wild.test"),
        Request::get("/").host("other.test"),
    ];
    for plugin in [
        Plugin::example(Lang::Go, "hello", config),
        Plugin::example(Lang::Rust, "sdk-hello", config),
    ] {
        Case::new(
            &format!("rules {} by domain", plugin.name),
            vec![plugin],
            requests.clone(),
        )
        .check();
    }
}

/// The route's upstream refuses connections: both hosts answer 503 themselves, and the
/// plugins' response phases see that answer (abi-probe adds `x-resp-probe`, reads nothing of
/// the upstream).
#[test]
fn a_dead_upstream_answers_through_the_response_phases() {
    Case::new(
        "rust/abi-probe resp-headers, upstream refused",
        vec![probe_named("abi-probe")],
        edge_requests(&[("x-probe", "resp-headers")]),
    )
    .upstream(Endpoint::Refused)
    .check();
}
